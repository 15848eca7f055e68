//! From one minute's judgements to the messages the appliance publishes: for each node, the
//! events of its alarm decisions first (ONSET, VES raise, alert; or ABATED, VES clear, alert
//! resolved), then its retained state; and every minute an alert of each alarm still active,
//! so that Alertmanager keeps it firing.

use std::collections::HashMap;

use super::payloads::{ClStatus, Outbound, Payloads};
use crate::decide::{Alarm, Decision};
use crate::judge::{GroupShare, Judgement, MinuteVerdict};
use crate::monitor::DriftEvent;

/// One node's published condition.
#[derive(Debug, Clone)]
struct NodeAnnounced {
    state: String,
    since: u64,
    /// The alarm in force, the confidence of its raise and the explanation at the raise.
    active: Option<(Alarm, f64, String)>,
}

/// Turns judgements into outbound messages; keeps what consecutive minutes share.
#[derive(Debug)]
pub struct Announcer {
    payloads: Payloads,
    nodes: HashMap<String, NodeAnnounced>,
    /// Drift alerts in force, by scope (their alert is re-sent every minute).
    drift: std::collections::BTreeMap<String, DriftEvent>,
}

/// `final responses 62 %: resp_register_5xx, resp_register_4xx; ratios 21 %: ...`.
pub fn explanation_text(groups: &[GroupShare]) -> String {
    groups
        .iter()
        .map(|g| format!("{} {:.0} %: {}", g.group, 100.0 * g.share, g.features.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Announcer {
    /// An announcer with nothing published yet.
    pub fn new(payloads: Payloads) -> Self {
        Self { payloads, nodes: HashMap::new(), drift: Default::default() }
    }

    /// Alarms raised before a restart (from the saved decision states): their state messages
    /// name them again, their alerts are refreshed, and their clear repeats their raise.
    pub fn restore(&mut self, alarms: impl IntoIterator<Item = Alarm>) {
        for alarm in alarms {
            let confidence = alarm.confidence.parse().unwrap_or(0.0);
            let node = self.node(&alarm.node, alarm.raised_at);
            node.state.clone_from(&alarm.class);
            node.since = alarm.raised_at;
            node.active = Some((alarm, confidence, String::new()));
        }
    }

    /// The payload builder.
    pub fn payloads(&self) -> &Payloads {
        &self.payloads
    }

    /// The messages of one minute's judgements (all nodes), in the order to publish them.
    pub fn minute(&mut self, judgements: &[Judgement], out: &mut Vec<Outbound>) {
        let mut verdicts: HashMap<&str, &MinuteVerdict> = HashMap::new();
        for j in judgements {
            if let Judgement::Minute(m) = j {
                verdicts.insert(m.node.as_str(), m);
            }
        }
        // Alarm events first: a raise takes the confidence and explanation of its minute.
        let mut raised_now = Vec::new();
        for j in judgements {
            let Judgement::Alarm(decision) = j else { continue };
            match decision {
                Decision::Raise { alarm } => {
                    let verdict = verdicts.get(alarm.node.as_str());
                    let confidence = alarm.confidence.parse().unwrap_or_else(|_| {
                        verdict.and_then(|m| m.verdict.as_ref()).map_or(0.0, |v| v.confidence)
                    });
                    let explanation =
                        verdict.map(|m| explanation_text(&m.explanation)).unwrap_or_default();
                    out.extend(self.payloads.control_loop(
                        alarm,
                        ClStatus::Onset,
                        confidence,
                        None,
                    ));
                    out.push(self.payloads.ves_fault(alarm, None, confidence));
                    out.push(self.payloads.alert(
                        alarm,
                        alarm.raised_at,
                        None,
                        confidence,
                        &explanation,
                    ));
                    raised_now.push(alarm.node.clone());
                    self.node(&alarm.node, alarm.raised_at).active =
                        Some((alarm.clone(), confidence, explanation));
                }
                Decision::Clear { alarm, cleared_at, .. } => {
                    // ABATED repeats the ONSET, so it takes the raise's confidence.
                    let (confidence, explanation) =
                        match &self.node(&alarm.node, *cleared_at).active {
                            Some((active, c, e)) if active.request_id == alarm.request_id => {
                                (*c, e.clone())
                            }
                            _ => (alarm.confidence.parse().unwrap_or(0.0), String::new()),
                        };
                    out.extend(self.payloads.control_loop(
                        alarm,
                        ClStatus::Abated,
                        confidence,
                        Some(*cleared_at),
                    ));
                    out.push(self.payloads.ves_fault(alarm, Some(*cleared_at), confidence));
                    out.push(self.payloads.alert(
                        alarm,
                        *cleared_at,
                        Some(*cleared_at),
                        confidence,
                        &explanation,
                    ));
                    let node = self.node(&alarm.node, *cleared_at);
                    if node
                        .active
                        .as_ref()
                        .is_some_and(|(a, _, _)| a.request_id == alarm.request_id)
                    {
                        node.active = None;
                    }
                }
            }
        }
        // Then each node's state, and the alerts of alarms still active (re-sent each minute).
        let mut names: Vec<&str> = verdicts.keys().copied().collect();
        names.sort_unstable();
        for name in names {
            let m = verdicts[name];
            let state = m.alarm.clone().unwrap_or_else(|| status_name(m));
            let node = self.node(name, m.minute);
            if node.state != state {
                node.state.clone_from(&state);
                node.since = m.minute;
            }
            let (since, active) = (node.since, node.active.clone());
            let confidence = m.verdict.as_ref().map(|v| v.confidence);
            let alarm = active.as_ref().map(|(a, _, _)| a);
            out.push(self.payloads.state(name, m.minute, &state, since, confidence, alarm));
            if let Some((alarm, confidence, explanation)) = &active
                && !raised_now.iter().any(|n| n == name)
            {
                let mut refresh =
                    self.payloads.alert(alarm, m.minute, None, *confidence, explanation);
                refresh.kind = super::OutboundKind::AlertRefresh;
                out.push(refresh);
            }
        }
        self.drift_minute(judgements, out);
    }

    /// Drift alerts raised or cleared this minute (VES fault and alert), then a refresh of
    /// each drift alert still in force.
    fn drift_minute(&mut self, judgements: &[Judgement], out: &mut Vec<Outbound>) {
        let mut now = None;
        for j in judgements {
            let Judgement::Drift(report) = j else { continue };
            now = Some(report.minute);
            for event in &report.events {
                out.push(self.payloads.drift_ves(event));
                out.push(self.payloads.drift_alert(event, report.minute));
                if event.raised {
                    self.drift.insert(event.scope.clone(), event.clone());
                } else {
                    self.drift.remove(&event.scope);
                }
            }
        }
        let Some(now) = now else { return };
        for event in self.drift.values().filter(|e| e.minute < now) {
            let mut refresh = self.payloads.drift_alert(event, now);
            refresh.kind = super::OutboundKind::AlertRefresh;
            out.push(refresh);
        }
    }

    fn node(&mut self, name: &str, minute: u64) -> &mut NodeAnnounced {
        self.nodes.entry(name.to_owned()).or_insert_with(|| NodeAnnounced {
            state: String::new(),
            since: minute,
            active: None,
        })
    }
}

fn status_name(m: &MinuteVerdict) -> String {
    serde_json::to_value(m.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{ClearReason, Status};
    use crate::matcher::Verdict;
    use crate::publish::{OutboundKind, PublishSettings};

    const T0: u64 = 1_764_460_800_000_000;
    const M: u64 = 60_000_000;

    fn alarm() -> Alarm {
        Alarm {
            node: "n1".into(),
            class: "hss_link_down".into(),
            raised_at: T0 + M,
            request_id: uuid::Uuid::nil(),
            ves_event_id: "imsight-n1-HssLinkDown-1".into(),
            confidence: String::new(),
        }
    }

    fn minute(at: u64, class: &str, status: Status, alarm: Option<&str>) -> Judgement {
        Judgement::Minute(MinuteVerdict {
            node: "n1".into(),
            minute: at,
            status,
            verdict: Some(Verdict {
                class: class.into(),
                distance: 0.5,
                confidence: 0.8,
                neighbours: Vec::new(),
            }),
            alarm: alarm.map(str::to_owned),
            explanation: vec![GroupShare {
                group: "final responses".into(),
                share: 0.6,
                features: vec!["resp_register_5xx".into()],
            }],
        })
    }

    fn kinds(out: &[Outbound]) -> Vec<OutboundKind> {
        out.iter().map(|o| o.kind).collect()
    }

    #[test]
    fn raise_re_send_and_clear_in_order() {
        let mut a = Announcer::new(Payloads::new(PublishSettings::default()));
        let mut out = Vec::new();
        a.minute(&[minute(T0, "normal", Status::Normal, None)], &mut out);
        assert_eq!(kinds(&out), [OutboundKind::State]);

        out.clear();
        a.minute(
            &[
                minute(T0 + M, "hss_link_down", Status::Alarm, Some("hss_link_down")),
                Judgement::Alarm(Decision::Raise { alarm: alarm() }),
            ],
            &mut out,
        );
        use OutboundKind::*;
        assert_eq!(kinds(&out), [ControlLoop, VesFault, Alert, State]);
        let onset: serde_json::Value = serde_json::from_slice(&out[0].payload).expect("json");
        assert_eq!(onset["additionalEventParams"]["imsight.onsetConfidence"], "0.80");
        let alert: serde_json::Value = serde_json::from_slice(&out[2].payload).expect("json");
        assert_eq!(alert["annotations"]["description"], "final responses 60 %: resp_register_5xx");
        let state: serde_json::Value = serde_json::from_slice(&out[3].payload).expect("json");
        assert_eq!(state["state"], "HSS_LINK_DOWN");
        assert_eq!(state["alarm"]["vesEventId"], "imsight-n1-HssLinkDown-1");

        out.clear();
        a.minute(&[minute(T0 + 2 * M, "normal", Status::Alarm, Some("hss_link_down"))], &mut out);
        assert_eq!(kinds(&out), [State, AlertRefresh], "the active alert is re-sent");

        out.clear();
        let clear = Decision::Clear {
            alarm: alarm(),
            cleared_at: T0 + 5 * M,
            reason: ClearReason::Recovered,
        };
        a.minute(
            &[minute(T0 + 5 * M, "normal", Status::Normal, None), Judgement::Alarm(clear)],
            &mut out,
        );
        assert_eq!(kinds(&out), [ControlLoop, VesFault, Alert, State]);
        let abated: serde_json::Value = serde_json::from_slice(&out[0].payload).expect("json");
        assert_eq!(abated["closedLoopEventStatus"], "ABATED");
        assert_eq!(abated["additionalEventParams"], onset["additionalEventParams"]);
        let state: serde_json::Value = serde_json::from_slice(&out[3].payload).expect("json");
        assert_eq!(state["state"], "NORMAL");
        assert_eq!(state["since"], "2025-11-30T00:05:00Z");
    }

    #[test]
    fn a_restored_alarm_is_refreshed_and_cleared_with_its_raise_confidence() {
        let mut a = Announcer::new(Payloads::new(PublishSettings::default()));
        a.restore([Alarm { confidence: "0.91".into(), ..alarm() }]);
        let mut out = Vec::new();
        a.minute(
            &[minute(T0 + 3 * M, "hss_link_down", Status::Alarm, Some("hss_link_down"))],
            &mut out,
        );
        use OutboundKind::*;
        assert_eq!(kinds(&out), [State, AlertRefresh]);
        let state: serde_json::Value = serde_json::from_slice(&out[0].payload).expect("json");
        assert_eq!(state["alarm"]["active"], true);
        out.clear();
        let clear = Decision::Clear {
            alarm: Alarm { confidence: "0.91".into(), ..alarm() },
            cleared_at: T0 + 6 * M,
            reason: ClearReason::Recovered,
        };
        a.minute(
            &[minute(T0 + 6 * M, "normal", Status::Normal, None), Judgement::Alarm(clear)],
            &mut out,
        );
        let abated: serde_json::Value = serde_json::from_slice(&out[0].payload).expect("json");
        assert_eq!(abated["additionalEventParams"]["imsight.onsetConfidence"], "0.91");
    }
}
