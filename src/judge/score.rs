//! A replay scored against the simulator's ground truth (`imsight simulate --labels`).
//!
//! - An **episode** is a run of minutes of one node labelled with one fault class (its
//!   recovery tail included). It is detected when an alarm of its class is raised between its
//!   onset and its end; the delay is counted from the onset to that raise, in minutes.
//! - A **false alarm** is an alarm raised while the node's label is `normal` and no episode of
//!   that node ended within the last 10 minutes.
//! - The **confusion** counts judged minutes, truth against verdict; recovery tails are left
//!   out (the traffic is neither the fault nor normal yet).

use std::collections::{BTreeMap, HashMap};

use imsight_parsers::xdr::time::format_timestamp;

use super::Judgement;
use crate::dataset::Labels;
use crate::decide::Decision;
use crate::matcher::NORMAL;
use crate::time::MINUTE_US;

/// Minutes after an episode's end during which an alarm is not counted as false.
pub const GRACE_MINUTES: u64 = 10;

/// One fault episode and how the judge did on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Episode {
    /// The node.
    pub node: String,
    /// The labelled class.
    pub class: String,
    /// First minute (RFC 3339).
    pub onset: String,
    /// Last minute labelled with the class.
    pub end: String,
    /// The first alarm raised during the episode, of any class.
    pub first_alarm: Option<String>,
    /// Its class.
    pub alarm_class: Option<String>,
    /// Minutes from the onset to the first alarm of the right class.
    pub delay_minutes: Option<u64>,
    /// An alarm of its class was raised between onset and end.
    pub detected: bool,
    /// The first alarm was of its class.
    pub class_correct: bool,
    /// Minutes from the episode's end to the clear of the alarm of its class (negative
    /// values are not possible: a clear before the end counts from the end as 0).
    pub cleared_after_minutes: Option<u64>,
}

/// An alarm raised on normal traffic.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FalseAlarm {
    /// The node.
    pub node: String,
    /// The raise minute.
    pub minute: String,
    /// The alarm's class.
    pub class: String,
    /// The benign event in progress, if any.
    pub event: Option<String>,
}

/// The summary of `imsight replay --labels` (`--summary-json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Every episode.
    pub episodes: Vec<Episode>,
    /// Alarms raised on normal traffic.
    pub false_alarms: usize,
    /// Those alarms.
    pub false_alarm_list: Vec<FalseAlarm>,
    /// Judged minutes: truth → verdict → count.
    pub confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Judged node-minutes with a label.
    pub minutes: u64,
    /// Node-minutes labelled normal (outside recovery tails), in node-days.
    pub normal_node_days: f64,
}

impl Summary {
    /// Episodes detected, of all.
    pub fn detected(&self) -> usize {
        self.episodes.iter().filter(|e| e.detected).count()
    }

    /// Episodes detected within `minutes` of onset.
    pub fn detected_within(&self, minutes: u64) -> usize {
        self.episodes.iter().filter(|e| e.delay_minutes.is_some_and(|d| d <= minutes)).count()
    }
}

/// Collects a replay's judgements and scores them at the end.
#[derive(Debug, Default)]
pub struct Scorer {
    /// (node, minute, class) of every raise.
    raises: Vec<(String, u64, String)>,
    /// (node, minute, class) of every clear.
    clears: Vec<(String, u64, String)>,
    confusion: BTreeMap<String, BTreeMap<String, u64>>,
    minutes: u64,
}

impl Scorer {
    /// A scorer with nothing seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one judgement.
    pub fn observe(&mut self, judgement: &Judgement, labels: &Labels) {
        match judgement {
            Judgement::Minute(m) => {
                let (Some(verdict), Some(label)) =
                    (&m.verdict, labels.get(&(m.node.clone(), m.minute)))
                else {
                    return;
                };
                if label.phase == "recovery" {
                    return;
                }
                self.minutes += 1;
                *self
                    .confusion
                    .entry(label.class.clone())
                    .or_default()
                    .entry(verdict.class.clone())
                    .or_default() += 1;
            }
            Judgement::Alarm(Decision::Raise { alarm }) => {
                self.raises.push((alarm.node.clone(), alarm.raised_at, alarm.class.clone()));
            }
            Judgement::Alarm(Decision::Clear { alarm, cleared_at, .. }) => {
                self.clears.push((alarm.node.clone(), *cleared_at, alarm.class.clone()));
            }
            Judgement::Sample(_) | Judgement::Shadow(_) | Judgement::Drift(_) => {}
        }
    }

    /// The summary over every labelled node-minute.
    pub fn finish(self, labels: &Labels) -> Summary {
        let mut by_node: BTreeMap<&str, Vec<(u64, &crate::dataset::Label)>> = BTreeMap::new();
        for ((node, minute), label) in labels {
            by_node.entry(node.as_str()).or_default().push((*minute, label));
        }
        let mut raises: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
        for (node, minute, class) in &self.raises {
            raises.entry(node.as_str()).or_default().push((*minute, class.as_str()));
        }
        let mut clears: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
        for (node, minute, class) in &self.clears {
            clears.entry(node.as_str()).or_default().push((*minute, class.as_str()));
        }
        let mut episodes = Vec::new();
        let mut false_alarm_list = Vec::new();
        let mut normal_minutes = 0u64;
        for (node, mut minutes) in by_node {
            minutes.sort_by_key(|&(m, _)| m);
            let node_raises = raises.get(node).map_or(&[][..], Vec::as_slice);
            let node_clears = clears.get(node).map_or(&[][..], Vec::as_slice);
            normal_minutes +=
                minutes.iter().filter(|(_, l)| l.class == NORMAL && l.phase != "recovery").count()
                    as u64;
            // Episodes: runs of one fault class on consecutive minutes.
            let mut ends: Vec<u64> = Vec::new();
            let mut i = 0;
            while i < minutes.len() {
                let class = &minutes[i].1.class;
                if class == NORMAL {
                    i += 1;
                    continue;
                }
                let onset = minutes[i].0;
                let mut end = onset;
                while i < minutes.len()
                    && &minutes[i].1.class == class
                    && minutes[i].0 <= end + MINUTE_US
                {
                    end = minutes[i].0;
                    i += 1;
                }
                ends.push(end);
                episodes.push(episode(node, class, onset, end, node_raises, node_clears));
            }
            // False alarms: raises on a normal minute, not within the grace after an episode.
            let label_at: HashMap<u64, &crate::dataset::Label> = minutes.iter().copied().collect();
            for &(minute, class) in node_raises {
                let Some(label) = label_at.get(&minute) else { continue };
                let after_episode = ends
                    .iter()
                    .any(|&end| minute > end && minute - end <= GRACE_MINUTES * MINUTE_US);
                if label.class == NORMAL && !after_episode {
                    false_alarm_list.push(FalseAlarm {
                        node: node.to_string(),
                        minute: format_timestamp(minute),
                        class: class.to_string(),
                        event: (!label.event.is_empty()).then(|| label.event.clone()),
                    });
                }
            }
        }
        Summary {
            false_alarms: false_alarm_list.len(),
            false_alarm_list,
            episodes,
            confusion: self.confusion,
            minutes: self.minutes,
            normal_node_days: normal_minutes as f64 / 1440.0,
        }
    }
}

fn episode(
    node: &str,
    class: &str,
    onset: u64,
    end: u64,
    raises: &[(u64, &str)],
    clears: &[(u64, &str)],
) -> Episode {
    let during: Vec<&(u64, &str)> =
        raises.iter().filter(|&&(m, _)| m >= onset && m <= end).collect();
    let first = during.first();
    let right = during.iter().find(|&&&(_, c)| c == class);
    let cleared =
        right.and_then(|&&(raised, _)| clears.iter().find(|&&(m, c)| c == class && m > raised));
    Episode {
        node: node.to_string(),
        class: class.to_string(),
        onset: format_timestamp(onset),
        end: format_timestamp(end),
        first_alarm: first.map(|&&(m, _)| format_timestamp(m)),
        alarm_class: first.map(|&&(_, c)| c.to_string()),
        delay_minutes: right.map(|&&(m, _)| (m - onset) / MINUTE_US),
        detected: right.is_some(),
        class_correct: first.is_some_and(|&&(_, c)| c == class),
        cleared_after_minutes: cleared.map(|&(m, _)| m.saturating_sub(end) / MINUTE_US),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;
    use crate::decide::{Alarm, ClearReason};

    const T0: u64 = 1_764_460_800_000_000;

    fn label(class: &str, phase: &str) -> Label {
        Label { class: class.into(), severity: 1.0, phase: phase.into(), event: String::new() }
    }

    fn alarm(class: &str, minute: u64) -> Alarm {
        Alarm {
            node: "n".into(),
            class: class.into(),
            raised_at: T0 + minute * MINUTE_US,
            request_id: uuid::Uuid::nil(),
            ves_event_id: String::new(),
            confidence: String::new(),
        }
    }

    #[test]
    fn episodes_delays_false_alarms_and_grace() {
        let mut labels = Labels::new();
        for m in 0..60u64 {
            let l = match m {
                10..=19 => label("hss", "steady"),
                20..=21 => label("hss", "recovery"),
                _ => label("normal", ""),
            };
            labels.insert(("n".into(), T0 + m * MINUTE_US), l);
        }
        let mut s = Scorer::new();
        for (class, minute) in [("hss", 12), ("storm", 28), ("storm", 45)] {
            s.observe(&Judgement::Alarm(Decision::Raise { alarm: alarm(class, minute) }), &labels);
        }
        s.observe(
            &Judgement::Alarm(Decision::Clear {
                alarm: alarm("hss", 12),
                cleared_at: T0 + 25 * MINUTE_US,
                reason: ClearReason::Recovered,
            }),
            &labels,
        );
        let summary = s.finish(&labels);
        assert_eq!(summary.episodes.len(), 1);
        let e = &summary.episodes[0];
        assert!(e.detected && e.class_correct);
        assert_eq!(e.delay_minutes, Some(2));
        assert_eq!(e.cleared_after_minutes, Some(4));
        // The raise 7 minutes after the end is within the grace; the one at 45 is false.
        assert_eq!(summary.false_alarms, 1);
        assert_eq!(summary.false_alarm_list[0].class, "storm");
        assert_eq!(summary.detected_within(5), 1);
    }

    #[test]
    fn a_wrong_class_is_not_a_detection() {
        let mut labels = Labels::new();
        for m in 0..10u64 {
            labels.insert(
                ("n".into(), T0 + m * MINUTE_US),
                label(if m >= 3 { "hss" } else { "normal" }, "steady"),
            );
        }
        let mut s = Scorer::new();
        s.observe(&Judgement::Alarm(Decision::Raise { alarm: alarm("storm", 4) }), &labels);
        let summary = s.finish(&labels);
        assert!(!summary.episodes[0].detected);
        assert_eq!(summary.episodes[0].alarm_class.as_deref(), Some("storm"));
        assert_eq!(summary.false_alarms, 0);
    }
}
