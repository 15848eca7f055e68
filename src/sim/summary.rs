//! What a run produced: counts shaped like the capture corpus's ground truth (per node and
//! overall), and per-minute series for plots and sanity checks.

use std::collections::BTreeMap;

use imsight_parsers::sip::Method;
use imsight_parsers::xdr::time::format_timestamp;
use serde::Serialize;

use super::engine::TxnRecord;
use super::scenario::ResolvedNode;
use super::wire::{Leg, SimMessage, flag};
use crate::inspect::SipCounts;

/// Counters of one node in one minute.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MinuteSeries {
    /// Minute start, RFC 3339.
    pub minute: String,
    /// Ground-truth class of the minute.
    pub label: &'static str,
    /// Its severity.
    pub severity: f64,
    /// Messages by method and code.
    #[serde(flatten)]
    pub counts: SipCounts,
    /// Retransmitted copies.
    pub retransmissions: u64,
    /// Core-leg transactions that got no answer.
    pub core_timeouts: u64,
    /// Mean REGISTER response time on the access leg (request to final), ms.
    pub register_ms: Option<f64>,
    /// Mean response time of core-leg non-INVITE transactions, ms.
    pub core_ms: Option<f64>,
    #[serde(skip)]
    register_sum: f64,
    #[serde(skip)]
    register_n: u64,
    #[serde(skip)]
    core_sum: f64,
    #[serde(skip)]
    core_n: u64,
}

/// One node's totals and series.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeSummary {
    /// Node name.
    pub node: String,
    /// Messages by method and code.
    #[serde(flatten)]
    pub counts: SipCounts,
    /// Retransmitted copies.
    pub retransmissions: u64,
    /// Transactions (per leg) exported as probe records.
    pub transactions: u64,
    /// Per-minute series.
    pub minutes: Vec<MinuteSeries>,
}

/// The summary of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed used.
    pub seed: u64,
    /// Scenario start.
    pub start: String,
    /// Simulated minutes.
    pub duration_minutes: u32,
    /// Messages written.
    pub messages: u64,
    /// All nodes together.
    pub overall: SipCounts,
    /// Per node.
    pub nodes: Vec<NodeSummary>,
    #[serde(skip)]
    start_micros: u64,
}

impl Summary {
    /// An empty summary for `nodes`, with the ground truth of every minute filled in.
    pub fn new(
        scenario: &str,
        seed: u64,
        start: u64,
        minutes: u32,
        nodes: &[ResolvedNode],
    ) -> Self {
        let nodes = nodes
            .iter()
            .map(|node| NodeSummary {
                node: node.name.clone(),
                minutes: (0..minutes)
                    .map(|m| {
                        let active = node.active(m);
                        MinuteSeries {
                            minute: format_timestamp(start + u64::from(m) * crate::time::MINUTE_US),
                            label: active.kind.map_or("normal", |k| k.label()),
                            severity: active.severity,
                            ..MinuteSeries::default()
                        }
                    })
                    .collect(),
                ..NodeSummary::default()
            })
            .collect();
        Self {
            scenario: scenario.to_owned(),
            seed,
            start: format_timestamp(start),
            duration_minutes: minutes,
            nodes,
            start_micros: start,
            ..Self::default()
        }
    }

    fn minute(&mut self, node: u16, at: u64) -> Option<&mut MinuteSeries> {
        let index = (at.saturating_sub(self.start_micros) / crate::time::MINUTE_US) as usize;
        self.nodes.get_mut(node as usize)?.minutes.get_mut(index)
    }

    /// Counts a message.
    pub fn message(&mut self, m: &SimMessage) {
        self.messages += 1;
        let retransmission = m.flags & flag::RETRANSMISSION != 0;
        let add = |counts: &mut SipCounts| {
            if m.is_request() {
                counts.add_request(m.method.as_str());
            } else {
                counts.add_response(m.status);
            }
        };
        add(&mut self.overall);
        if let Some(node) = self.nodes.get_mut(m.node as usize) {
            add(&mut node.counts);
            node.retransmissions += u64::from(retransmission);
        }
        if let Some(minute) = self.minute(m.node, m.ts) {
            add(&mut minute.counts);
            minute.retransmissions += u64::from(retransmission);
        }
    }

    /// Counts a finished transaction.
    pub fn transaction(&mut self, r: &TxnRecord) {
        if let Some(node) = self.nodes.get_mut(r.node as usize) {
            node.transactions += 1;
        }
        let Some(minute) = self.minute(r.node, r.end) else { return };
        let millis = (r.end - r.start) as f64 / 1000.0;
        match (r.leg, r.method, r.result) {
            (Leg::Core, _, None) => minute.core_timeouts += 1,
            (Leg::Access, Method::Register, Some(_)) => {
                minute.register_sum += millis;
                minute.register_n += 1;
            }
            (Leg::Core, method, Some(_)) if method != Method::Invite => {
                minute.core_sum += millis;
                minute.core_n += 1;
            }
            _ => {}
        }
    }

    /// Computes the means; call once at the end.
    pub fn finish(&mut self) {
        for minute in self.nodes.iter_mut().flat_map(|n| n.minutes.iter_mut()) {
            minute.register_ms =
                (minute.register_n > 0).then(|| minute.register_sum / minute.register_n as f64);
            minute.core_ms = (minute.core_n > 0).then(|| minute.core_sum / minute.core_n as f64);
        }
    }

    /// The ground truth as JSON lines: node, minute, class, severity.
    pub fn labels_jsonl(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            for minute in &node.minutes {
                let line = serde_json::json!({
                    "node": node.node,
                    "minute": minute.minute,
                    "class": minute.label,
                    "severity": (minute.severity * 1000.0).round() / 1000.0,
                });
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
        out
    }

    /// Totals per class of a node, for reports.
    pub fn label_minutes(&self) -> BTreeMap<&'static str, u64> {
        let mut totals = BTreeMap::new();
        for minute in self.nodes.iter().flat_map(|n| &n.minutes) {
            *totals.entry(minute.label).or_default() += 1;
        }
        totals
    }
}
