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
    /// Phase of the fault: onset, steady, recovery.
    pub phase: Option<&'static str>,
    /// Benign event in progress.
    pub event: Option<&'static str>,
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
    /// New (not retransmitted) REGISTER requests.
    pub registers: u64,
    /// Failure responses (403, 408, 480, 488, 5xx, 580, 603), not retransmitted.
    pub failures: u64,
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

/// Responses that count as failures for the recovery rule.
const FAILURES: [u16; 9] = [403, 408, 480, 488, 500, 503, 504, 580, 603];

/// Longest recovery tail labelled, minutes.
const MAX_RECOVERY_MINUTES: usize = 60;

/// The minutes after a fault keep its class, phase `recovery`, and the minutes after a benign
/// event keep its name, until the node's traffic is back in its normal band (see
/// [`out_of_band_after`]).
fn label_recovery(minutes: &mut [MinuteSeries]) {
    let mut i = 1;
    while i < minutes.len() {
        let (before, now) = (&minutes[i - 1], &minutes[i]);
        let mut tail = 0;
        if now.label == "normal" && before.label != "normal" {
            let class = before.label;
            let onset = (0..i).rev().take_while(|&j| minutes[j].label != "normal").last();
            tail = out_of_band_after(minutes, i, onset.unwrap_or(0));
            for m in &mut minutes[i..i + tail] {
                (m.label, m.phase, m.severity) = (class, Some("recovery"), 0.0);
            }
        }
        i += tail + 1;
    }
    let mut i = 1;
    while i < minutes.len() {
        let (before, now) = (&minutes[i - 1], &minutes[i]);
        let mut tail = 0;
        if now.event.is_none() && before.event.is_some() && before.event != Some("holiday") {
            let event = before.event;
            let onset = (0..i).rev().take_while(|&j| minutes[j].event == event).last();
            tail = out_of_band_after(minutes, i, onset.unwrap_or(0));
            for m in &mut minutes[i..i + tail] {
                m.event = event;
            }
        }
        i += tail + 1;
    }
}

/// How many minutes from `from` on are out of the node's normal band: new REGISTERs differ
/// from their mean over the normal, event-free minutes (up to 30) before `onset` by more than
/// 3 √mean + 10 % + 1 (Poisson spread and a margin), or failure responses exceed theirs by as
/// much. Stops at the first minute in band, at a minute that is not plainly normal, or after
/// an hour; 0 when fewer than 5 such minutes came before.
fn out_of_band_after(minutes: &[MinuteSeries], from: usize, onset: usize) -> usize {
    let calm: Vec<&MinuteSeries> = minutes[onset.saturating_sub(30)..onset]
        .iter()
        .filter(|m| m.label == "normal" && m.event.is_none())
        .collect();
    if calm.len() < 5 {
        return 0;
    }
    let mean = |f: fn(&MinuteSeries) -> u64| {
        calm.iter().map(|m| f(m) as f64).sum::<f64>() / calm.len() as f64
    };
    let band = |mean: f64| 3.0 * mean.sqrt() + 0.1 * mean + 1.0;
    let (registers, failures) = (mean(|m| m.registers), mean(|m| m.failures));
    minutes[from..]
        .iter()
        .take(MAX_RECOVERY_MINUTES)
        .take_while(|m| m.label == "normal" && m.event.is_none())
        .take_while(|m| {
            (m.registers as f64 - registers).abs() > band(registers)
                || m.failures as f64 > failures + band(failures)
        })
        .count()
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
                        let truth = node.truth(m, start);
                        MinuteSeries {
                            minute: format_timestamp(start + u64::from(m) * crate::time::MINUTE_US),
                            label: truth.class,
                            severity: truth.severity,
                            phase: truth.phase,
                            event: truth.event,
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
            if !retransmission {
                minute.registers += u64::from(m.is_request() && m.method == Method::Register);
                minute.failures += u64::from(FAILURES.contains(&m.status));
            }
        }
    }

    /// Labels the minutes of `node` that overlap `[from, to)` with `event`, where no other
    /// event is named.
    pub fn benign(&mut self, node: u16, from: u64, to: u64, event: &'static str) {
        let last = to.saturating_sub(1).max(from);
        for at in (from..=last).step_by(crate::time::MINUTE_US as usize).chain([last]) {
            if let Some(minute) = self.minute(node, at) {
                minute.event.get_or_insert(event);
            }
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

    /// Computes the means and the recovery tails; call once at the end.
    pub fn finish(&mut self) {
        for minute in self.nodes.iter_mut().flat_map(|n| n.minutes.iter_mut()) {
            minute.register_ms =
                (minute.register_n > 0).then(|| minute.register_sum / minute.register_n as f64);
            minute.core_ms = (minute.core_n > 0).then(|| minute.core_sum / minute.core_n as f64);
        }
        for node in &mut self.nodes {
            label_recovery(&mut node.minutes);
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
                    "phase": minute.phase,
                    "event": minute.event,
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
