//! What the HTTP API shows about nodes: each node's current verdict, the last window of
//! verdicts and the alarm in force. A sans-IO board that the announcer updates with every
//! judged minute and that the HTTP handlers (`runtime/http.rs`) read.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::decide::{Alarm, Decision, Status};
use crate::judge::{Judgement, MinuteVerdict};
use crate::monitor::{ALL_NODES, DriftScore};

/// The nodes' recent verdicts.
#[derive(Debug)]
pub struct NodeBoard {
    nodes: BTreeMap<String, NodeHistory>,
    /// Minutes of verdicts kept per node.
    history: usize,
    /// The last drift score of each scope (nodes and [`ALL_NODES`]).
    drift: BTreeMap<String, DriftScore>,
}

/// Model monitoring of one node or of all (`/api/v1/monitor`): over the recent minutes the
/// board keeps, the verdict mix, the unknown rate and the nearest-reference distance; and the
/// input drift against the model's training statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitoring {
    /// A node, or `*` for all.
    pub scope: String,
    /// Judged minutes looked at.
    pub judged_minutes: usize,
    /// Judged minutes per verdict class.
    pub verdict_mix: BTreeMap<String, usize>,
    /// Share of judged minutes that were `unknown_anomaly`.
    pub unknown_rate: f64,
    /// Quantiles of the distance to the nearest reference.
    pub nearest_distance: DistanceQuantiles,
    /// Input drift (absent until enough minutes were seen, or without training statistics).
    pub drift: Option<DriftScore>,
}

/// p50, p90, p99 and the largest distance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct DistanceQuantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

fn monitoring<'a>(
    scope: &str,
    minutes: impl Iterator<Item = &'a MinuteVerdict>,
    drift: Option<&DriftScore>,
) -> Monitoring {
    let mut verdict_mix: BTreeMap<String, usize> = BTreeMap::new();
    let mut distances = Vec::new();
    for m in minutes {
        let Some(v) = &m.verdict else { continue };
        *verdict_mix.entry(v.class.clone()).or_default() += 1;
        distances.push(v.distance);
    }
    distances.sort_by(f64::total_cmp);
    let judged = distances.len();
    let at = |q: f64| {
        if judged == 0 { 0.0 } else { distances[((judged - 1) as f64 * q).round() as usize] }
    };
    let unknown = verdict_mix.get(crate::matcher::UNKNOWN_ANOMALY).copied().unwrap_or(0);
    Monitoring {
        scope: scope.to_owned(),
        judged_minutes: judged,
        unknown_rate: if judged == 0 { 0.0 } else { unknown as f64 / judged as f64 },
        verdict_mix,
        nearest_distance: DistanceQuantiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        },
        drift: drift.cloned(),
    }
}

#[derive(Debug, Default)]
struct NodeHistory {
    minutes: VecDeque<MinuteVerdict>,
    alarm: Option<Alarm>,
}

/// One line of `/api/v1/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSummary {
    /// The node.
    pub node: String,
    /// Its state after the last judged minute.
    pub status: Status,
    /// The last verdict's class (absent while warming up or without data).
    pub class: Option<String>,
    /// The last judged minute, RFC 3339.
    pub minute: String,
    /// The class of the alarm in force.
    pub alarm: Option<String>,
}

/// `/api/v1/nodes/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDetail {
    /// The node.
    pub node: String,
    /// The last judged minute.
    pub current: MinuteView,
    /// The alarm in force, with its identities.
    pub alarm: Option<Alarm>,
    /// The last minutes, oldest first.
    pub history: Vec<MinuteView>,
}

/// A judged minute with its time written out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteView {
    /// Minute start, RFC 3339.
    pub time: String,
    /// The judgement (status, verdict with distance and confidence, explanation).
    #[serde(flatten)]
    pub verdict: MinuteVerdict,
}

impl NodeBoard {
    /// A board keeping `history` minutes per node (the window: 60).
    pub fn new(history: usize) -> Self {
        Self { nodes: BTreeMap::new(), history: history.max(1), drift: BTreeMap::new() }
    }

    /// Takes the alarms in force at start (restored from the store).
    pub fn restore(&mut self, alarms: &[Alarm]) {
        for alarm in alarms {
            self.nodes.entry(alarm.node.clone()).or_default().alarm = Some(alarm.clone());
        }
    }

    /// Records one minute's judgements.
    pub fn record(&mut self, judgements: &[Judgement]) {
        for judgement in judgements {
            match judgement {
                Judgement::Minute(minute) => {
                    let node = self.nodes.entry(minute.node.clone()).or_default();
                    if node.minutes.len() == self.history {
                        node.minutes.pop_front();
                    }
                    node.minutes.push_back(minute.clone());
                }
                Judgement::Alarm(Decision::Raise { alarm }) => {
                    self.nodes.entry(alarm.node.clone()).or_default().alarm = Some(alarm.clone());
                }
                Judgement::Alarm(Decision::Clear { alarm, .. }) => {
                    if let Some(node) = self.nodes.get_mut(&alarm.node)
                        && node.alarm.as_ref().is_some_and(|a| a.request_id == alarm.request_id)
                    {
                        node.alarm = None;
                    }
                }
                Judgement::Drift(report) => {
                    for score in &report.scores {
                        self.drift.insert(score.scope.clone(), score.clone());
                    }
                }
                Judgement::Sample(_) | Judgement::Shadow(_) => {}
            }
        }
    }

    /// Every node with a judged minute, by name.
    pub fn nodes(&self) -> Vec<NodeSummary> {
        self.nodes
            .iter()
            .filter_map(|(name, history)| {
                let last = history.minutes.back()?;
                Some(NodeSummary {
                    node: name.clone(),
                    status: last.status,
                    class: last.verdict.as_ref().map(|v| v.class.clone()),
                    minute: rfc3339(last.minute),
                    alarm: history.alarm.as_ref().map(|a| a.class.clone()),
                })
            })
            .collect()
    }

    /// One node, when it has a judged minute.
    pub fn node(&self, name: &str) -> Option<NodeDetail> {
        let history = self.nodes.get(name)?;
        let view = |m: &MinuteVerdict| MinuteView { time: rfc3339(m.minute), verdict: m.clone() };
        Some(NodeDetail {
            node: name.to_owned(),
            current: view(history.minutes.back()?),
            alarm: history.alarm.clone(),
            history: history.minutes.iter().map(view).collect(),
        })
    }

    /// Monitoring of one node (`None` when it was never judged).
    pub fn node_monitoring(&self, name: &str) -> Option<Monitoring> {
        let history = self.nodes.get(name)?;
        Some(monitoring(name, history.minutes.iter(), self.drift.get(name)))
    }

    /// Monitoring of all nodes together, then of each node.
    pub fn monitoring(&self) -> (Monitoring, Vec<Monitoring>) {
        let all = self.nodes.values().flat_map(|h| h.minutes.iter());
        let global = monitoring(ALL_NODES, all, self.drift.get(ALL_NODES));
        let nodes = self
            .nodes
            .iter()
            .map(|(name, h)| monitoring(name, h.minutes.iter(), self.drift.get(name)))
            .collect();
        (global, nodes)
    }

    /// Scopes with a drift alert in force.
    pub fn drift_alerts_active(&self) -> usize {
        self.drift.values().filter(|d| d.alerting).count()
    }

    /// Alarms in force.
    pub fn alarms_active(&self) -> usize {
        self.nodes.values().filter(|n| n.alarm.is_some()).count()
    }
}

fn rfc3339(micros: u64) -> String {
    imsight_parsers::xdr::time::format_timestamp(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::ClearReason;
    use crate::matcher::Verdict;

    const MINUTE: u64 = 60_000_000;
    const T0: u64 = 1_741_944_420_000_000;

    fn minute(node: &str, at: u64, class: &str, status: Status) -> Judgement {
        Judgement::Minute(MinuteVerdict {
            node: node.to_owned(),
            minute: at,
            status,
            verdict: Some(Verdict {
                class: class.to_owned(),
                distance: 0.1,
                confidence: 0.9,
                neighbours: Vec::new(),
            }),
            alarm: None,
            explanation: Vec::new(),
        })
    }

    fn alarm(node: &str) -> Alarm {
        Alarm {
            node: node.to_owned(),
            class: "hss_link_down".to_owned(),
            raised_at: T0,
            request_id: uuid::Uuid::nil(),
            ves_event_id: "fault-1".to_owned(),
            confidence: "0.90".to_owned(),
        }
    }

    #[test]
    fn keeps_the_last_minutes_and_the_alarm_in_force() {
        let mut board = NodeBoard::new(3);
        for i in 0..5 {
            board.record(&[minute("pcscf01", T0 + i * MINUTE, "normal", Status::Normal)]);
        }
        board.record(&[
            minute("pcscf01", T0 + 5 * MINUTE, "hss_link_down", Status::Alarm),
            Judgement::Alarm(Decision::Raise { alarm: alarm("pcscf01") }),
        ]);
        let detail = board.node("pcscf01").expect("judged");
        assert_eq!(detail.history.len(), 3, "the history is bounded");
        assert_eq!(detail.current.verdict.minute, T0 + 5 * MINUTE);
        assert_eq!(board.alarms_active(), 1);
        let summary = &board.nodes()[0];
        assert_eq!(summary.alarm.as_deref(), Some("hss_link_down"));
        assert_eq!(summary.status, Status::Alarm);
        let json = serde_json::to_value(&detail).expect("serialises");
        assert_eq!(json["current"]["status"], "alarm");
        assert!(json["current"]["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");

        board.record(&[Judgement::Alarm(Decision::Clear {
            alarm: alarm("pcscf01"),
            cleared_at: T0 + 9 * MINUTE,
            reason: ClearReason::Recovered,
        })]);
        assert_eq!(board.alarms_active(), 0);
        assert!(board.node("nobody").is_none());
    }
}
