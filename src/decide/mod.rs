//! From minute verdicts to alarms: one state machine per node (DESIGN §7, docs/verdicts.md).
//!
//! Raise after `raise_after` consecutive abnormal minutes of one class, clear after
//! `clear_after` normal minutes, never before `min_hold_minutes` after the raise; a node that
//! raised `flap_raises` times within `flap_window_minutes` is flapping and then needs
//! `flap_clear_after` normal minutes to clear. A change of class is a clear plus a raise.
//! Minutes without data (`no_data`) or before the first judgeable window (`warming_up`)
//! neither raise nor clear: an alarm stays up through a probe outage, because nothing says the
//! fault has ended.
//!
//! Pure logic driven by event time (the minute being judged); the state serialises so that it
//! survives restarts. Alarm identities are derived from (appliance, node, class, raise
//! minute), so a replay of the same traffic gives the same identities.

use std::collections::VecDeque;

use uuid::Uuid;

use crate::matcher::{NORMAL, UNKNOWN_ANOMALY};

/// Default of `decisions.raise_unknown_after` (docs/verdicts.md says how it was chosen).
const RAISE_UNKNOWN_AFTER: u32 = 4;

/// The decision rule's settings (`[decisions]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionSettings {
    /// Consecutive abnormal minutes of one class that raise an alarm.
    pub raise_after: u32,
    /// Consecutive `unknown_anomaly` minutes that raise an alarm of that class: the least
    /// specific verdict asks for more evidence.
    pub raise_unknown_after: u32,
    /// Consecutive normal minutes that clear it.
    pub clear_after: u32,
    /// Minutes an alarm stays raised at least.
    pub min_hold_minutes: u32,
    /// The span over which raises are counted for the flap guard.
    pub flap_window_minutes: u32,
    /// Raises within that span that make a node flapping.
    pub flap_raises: u32,
    /// Normal minutes a flapping node needs to clear.
    pub flap_clear_after: u32,
}

impl Default for DecisionSettings {
    fn default() -> Self {
        Self {
            raise_after: 2,
            raise_unknown_after: RAISE_UNKNOWN_AFTER,
            clear_after: 3,
            min_hold_minutes: 3,
            flap_window_minutes: 60,
            flap_raises: 3,
            flap_clear_after: 15,
        }
    }
}

impl DecisionSettings {
    /// Every problem: the key and what is wrong with it.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            ("decisions.raise_after", self.raise_after),
            ("decisions.raise_unknown_after", self.raise_unknown_after),
            ("decisions.clear_after", self.clear_after),
            ("decisions.flap_raises", self.flap_raises),
            ("decisions.flap_clear_after", self.flap_clear_after),
        ] {
            if value == 0 {
                out.push((key, "must be at least 1".to_owned()));
            }
        }
        if self.flap_clear_after < self.clear_after {
            out.push((
                "decisions.flap_clear_after",
                "must not be below decisions.clear_after".to_owned(),
            ));
        }
        out
    }
}

/// What one minute of a node brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation<'a> {
    /// The verdict's class (`normal`, a fault kind or `unknown_anomaly`).
    Verdict(&'a str),
    /// The node's source was silent this minute.
    NoData,
    /// The node has no judgeable window yet.
    WarmingUp,
}

/// A node's state as published each minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No judgeable window yet.
    WarmingUp,
    /// The source is silent.
    NoData,
    /// Normal and no alarm.
    Normal,
    /// Abnormal minutes, not (yet) an alarm.
    Suspect,
    /// An alarm is raised.
    Alarm,
}

/// A raised alarm, with the identity its raise and its clear share.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alarm {
    /// The node.
    pub node: String,
    /// The class the alarm is about.
    pub class: String,
    /// The minute (µs since the epoch) of the verdict that raised it.
    pub raised_at: u64,
    /// ONAP `requestID` (ONSET and ABATED).
    pub request_id: Uuid,
    /// VES `eventId` (raise and clear).
    pub ves_event_id: String,
    /// The raise's confidence as published (two decimals): the ABATED repeats the ONSET, even
    /// after a restart.
    #[serde(default)]
    pub confidence: String,
}

/// Why an alarm was cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearReason {
    /// Enough normal minutes.
    Recovered,
    /// Another class took over (a raise of it follows).
    ClassChanged,
}

/// An alarm event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Decision {
    /// A new alarm.
    Raise {
        /// The alarm.
        alarm: Alarm,
    },
    /// The end of one.
    Clear {
        /// The alarm, identity unchanged.
        alarm: Alarm,
        /// The minute of the verdict that cleared it.
        cleared_at: u64,
        /// Why.
        reason: ClearReason,
    },
}

const MINUTE_US: u64 = 60_000_000;

/// One node's decision state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeDecider {
    appliance: String,
    node: String,
    settings: DecisionSettings,
    active: Option<Alarm>,
    /// The abnormal class of the current run of minutes and its length.
    streak: Option<(String, u32)>,
    /// Consecutive normal minutes.
    calm: u32,
    /// Minutes of the recent raises (flap guard).
    raises: VecDeque<u64>,
    /// The last minute observed: runs need consecutive minutes.
    #[serde(default)]
    last_minute: Option<u64>,
}

impl NodeDecider {
    /// A node with no history.
    pub fn new(appliance: &str, node: &str, settings: DecisionSettings) -> Self {
        Self {
            appliance: appliance.into(),
            node: node.into(),
            settings,
            active: None,
            streak: None,
            calm: 0,
            raises: VecDeque::new(),
            last_minute: None,
        }
    }

    /// Records the confidence of the verdict that raised the alarm in force.
    pub fn note_raise_confidence(&mut self, confidence: &str) {
        if let Some(alarm) = self.active.as_mut() {
            confidence.clone_into(&mut alarm.confidence);
        }
    }

    /// Takes today's settings and appliance name (a state saved under other ones).
    pub fn reconfigure(&mut self, appliance: &str, settings: DecisionSettings) {
        appliance.clone_into(&mut self.appliance);
        self.settings = settings;
    }

    /// The node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The alarm in force.
    pub fn active(&self) -> Option<&Alarm> {
        self.active.as_ref()
    }

    /// Whether the flap guard is on at `minute`.
    pub fn flapping(&self, minute: u64) -> bool {
        let span = u64::from(self.settings.flap_window_minutes) * MINUTE_US;
        self.raises.iter().filter(|&&at| minute.saturating_sub(at) < span).count()
            >= self.settings.flap_raises as usize
    }

    /// Takes one minute's observation; returns the node's status and appends alarm events.
    pub fn observe(
        &mut self,
        minute: u64,
        observation: Observation<'_>,
        out: &mut Vec<Decision>,
    ) -> Status {
        // Minutes not observed (the appliance was down, or the node absent) break runs.
        if self.last_minute.is_some_and(|last| minute > last + MINUTE_US) {
            self.streak = None;
            self.calm = 0;
        }
        self.last_minute = Some(minute);
        match observation {
            Observation::NoData | Observation::WarmingUp => {
                // A gap breaks runs of minutes: raising and clearing need consecutive ones.
                self.streak = None;
                self.calm = 0;
                if observation == Observation::NoData { Status::NoData } else { Status::WarmingUp }
            }
            Observation::Verdict(class) if class == NORMAL => {
                self.streak = None;
                self.calm += 1;
                let needed = if self.flapping(minute) {
                    self.settings.flap_clear_after
                } else {
                    self.settings.clear_after
                };
                if self.calm >= needed
                    && self.may_clear(minute)
                    && let Some(alarm) = self.active.take()
                {
                    out.push(Decision::Clear {
                        alarm,
                        cleared_at: minute,
                        reason: ClearReason::Recovered,
                    });
                }
                if self.active.is_some() { Status::Alarm } else { Status::Normal }
            }
            Observation::Verdict(class) => {
                self.calm = 0;
                let run = match &self.streak {
                    Some((c, n)) if c == class => n + 1,
                    _ => 1,
                };
                self.streak = Some((class.to_string(), run));
                let same = self.active.as_ref().is_some_and(|a| a.class == class);
                let needed = if class == UNKNOWN_ANOMALY {
                    self.settings.raise_unknown_after
                } else {
                    self.settings.raise_after
                };
                if run >= needed && !same {
                    if self.may_clear(minute)
                        && let Some(alarm) = self.active.take()
                    {
                        out.push(Decision::Clear {
                            alarm,
                            cleared_at: minute,
                            reason: ClearReason::ClassChanged,
                        });
                    }
                    if self.active.is_none() {
                        let alarm = self.identity(class, minute);
                        self.raises.push_back(minute);
                        while self.raises.len() > self.settings.flap_raises as usize {
                            self.raises.pop_front();
                        }
                        self.active = Some(alarm.clone());
                        out.push(Decision::Raise { alarm });
                    }
                }
                if self.active.is_some() { Status::Alarm } else { Status::Suspect }
            }
        }
    }

    /// Whether the alarm in force (if any) has been held its minimum time at `minute`.
    fn may_clear(&self, minute: u64) -> bool {
        self.active.as_ref().is_some_and(|a| {
            minute.saturating_sub(a.raised_at)
                >= u64::from(self.settings.min_hold_minutes) * MINUTE_US
        })
    }

    fn identity(&self, class: &str, minute: u64) -> Alarm {
        let name = format!("{}/{}/{}/{}", self.appliance, self.node, class, minute);
        Alarm {
            node: self.node.clone(),
            class: class.into(),
            raised_at: minute,
            request_id: Uuid::new_v5(&ALARM_NAMESPACE, name.as_bytes()),
            ves_event_id: ves_event_id(&self.node, class, minute),
            confidence: String::new(),
        }
    }
}

/// The namespace of alarm identities (a fixed random UUID of this product).
const ALARM_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c52_9a0e_4d8b_b7c4_2f51_e0a9_d318);

/// VES `eventId`: `imsight-{node}-{ClassInCamelCase}-{raise epoch seconds}`, no whitespace
/// (docs/onap-integration: the eventId of the raise is reused by its clear).
pub fn ves_event_id(node: &str, class: &str, minute: u64) -> String {
    let node: String = node
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect();
    format!("imsight-{node}-{}-{}", camel_case(class), minute / 1_000_000)
}

/// `hss_link_down` → `HssLinkDown`.
pub fn camel_case(class: &str) -> String {
    class
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|f| f.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = MINUTE_US;
    const T0: u64 = 1_764_460_800_000_000;

    fn run(settings: DecisionSettings, minutes: &[&str]) -> (Vec<Status>, Vec<Decision>) {
        let mut node = NodeDecider::new("lab", "pcscf-1", settings);
        let mut out = Vec::new();
        let statuses = minutes
            .iter()
            .enumerate()
            .map(|(i, &m)| {
                let o = match m {
                    "-" => Observation::NoData,
                    "w" => Observation::WarmingUp,
                    c => Observation::Verdict(c),
                };
                node.observe(T0 + i as u64 * M, o, &mut out)
            })
            .collect();
        (statuses, out)
    }

    fn events(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .map(|d| match d {
                Decision::Raise { alarm } => {
                    format!("raise {} @{}", alarm.class, (alarm.raised_at - T0) / M)
                }
                Decision::Clear { alarm, cleared_at, reason } => {
                    format!("clear {} @{} {:?}", alarm.class, (cleared_at - T0) / M, reason)
                }
            })
            .collect()
    }

    #[test]
    fn raises_after_two_and_clears_after_three_with_one_identity() {
        let (statuses, out) = run(
            DecisionSettings::default(),
            &["normal", "hss", "hss", "hss", "hss", "normal", "normal", "normal"],
        );
        assert_eq!(events(&out), ["raise hss @2", "clear hss @7 Recovered"]);
        assert_eq!(statuses[1], Status::Suspect);
        assert_eq!(statuses[2], Status::Alarm);
        assert_eq!(statuses[6], Status::Alarm);
        assert_eq!(statuses[7], Status::Normal);
        let (Decision::Raise { alarm: raised }, Decision::Clear { alarm: cleared, .. }) =
            (&out[0], &out[1])
        else {
            panic!("raise then clear")
        };
        assert_eq!(raised, cleared);
        assert_eq!(
            raised.ves_event_id,
            format!("imsight-pcscf-1-Hss-{}", (T0 + 2 * M) / 1_000_000)
        );
    }

    #[test]
    fn an_unknown_anomaly_needs_its_own_number_of_minutes() {
        let settings = DecisionSettings { raise_unknown_after: 4, ..DecisionSettings::default() };
        let u = "unknown_anomaly";
        let (_, out) = run(settings, &["normal", u, u, u, "normal", "hss", "hss"]);
        assert_eq!(events(&out), ["raise hss @6"], "three unknown minutes are not enough");
        let (_, out) = run(settings, &["normal", u, u, u, u, u]);
        assert_eq!(events(&out), ["raise unknown_anomaly @4"]);
        // While a known fault's alarm is up, the unknown minutes that follow need as many.
        let (_, out) = run(settings, &["hss", "hss", u, u, u, u]);
        assert_eq!(
            events(&out),
            ["raise hss @1", "clear hss @5 ClassChanged", "raise unknown_anomaly @5"]
        );
        let bad = DecisionSettings { raise_unknown_after: 0, ..DecisionSettings::default() };
        assert!(bad.problems().iter().any(|(key, _)| *key == "decisions.raise_unknown_after"));
    }

    #[test]
    fn single_abnormal_minutes_and_mixed_classes_do_not_raise() {
        let (_, out) =
            run(DecisionSettings::default(), &["hss", "normal", "storm", "hss", "storm", "normal"]);
        assert!(out.is_empty());
    }

    #[test]
    fn the_minimum_hold_keeps_a_short_alarm_up() {
        let settings =
            DecisionSettings { clear_after: 1, min_hold_minutes: 4, ..DecisionSettings::default() };
        let (_, out) =
            run(settings, &["hss", "hss", "normal", "normal", "normal", "normal", "normal"]);
        assert_eq!(events(&out), ["raise hss @1", "clear hss @5 Recovered"]);
    }

    #[test]
    fn a_class_change_is_a_clear_plus_a_raise() {
        let (_, out) = run(
            DecisionSettings::default(),
            &["hss", "hss", "hss", "hss", "storm", "storm", "storm"],
        );
        assert_eq!(events(&out), ["raise hss @1", "clear hss @5 ClassChanged", "raise storm @5"]);
        let (Decision::Raise { alarm: a }, Decision::Raise { alarm: b }) = (&out[0], &out[2])
        else {
            panic!()
        };
        assert_ne!(a.request_id, b.request_id);
        assert_ne!(a.ves_event_id, b.ves_event_id);
    }

    #[test]
    fn no_data_neither_raises_nor_clears_and_breaks_runs() {
        let (statuses, out) = run(
            DecisionSettings::default(),
            &["hss", "-", "hss", "hss", "normal", "-", "normal", "normal", "-", "-"],
        );
        assert_eq!(events(&out), ["raise hss @3"]);
        assert_eq!(statuses[1], Status::NoData);
        assert_eq!(statuses[8], Status::NoData);
        let (statuses, out) = run(DecisionSettings::default(), &["w", "w", "normal"]);
        assert!(out.is_empty());
        assert_eq!(statuses[..2], [Status::WarmingUp, Status::WarmingUp]);
    }

    #[test]
    fn a_flapping_node_needs_longer_to_clear() {
        let settings = DecisionSettings { min_hold_minutes: 0, ..DecisionSettings::default() };
        let pattern = ["hss", "hss", "normal", "normal", "normal"];
        let minutes: Vec<&str> =
            pattern.iter().cycle().take(15).copied().chain(["normal"; 15]).collect();
        let (_, out) = run(settings, &minutes);
        // Raises at 1, 6, 11; the third makes the node flapping: its clear waits 15 normal minutes (12 to 26).
        assert_eq!(
            events(&out),
            [
                "raise hss @1",
                "clear hss @4 Recovered",
                "raise hss @6",
                "clear hss @9 Recovered",
                "raise hss @11",
                "clear hss @26 Recovered"
            ]
        );
    }

    #[test]
    fn identities_are_reproducible_and_state_round_trips() {
        let a = run(DecisionSettings::default(), &["hss", "hss"]).1;
        let b = run(DecisionSettings::default(), &["hss", "hss"]).1;
        assert_eq!(a, b);
        let mut node = NodeDecider::new("lab", "n", DecisionSettings::default());
        let mut out = Vec::new();
        node.observe(T0, Observation::Verdict("hss"), &mut out);
        node.observe(T0 + M, Observation::Verdict("hss"), &mut out);
        let saved = serde_json::to_string(&node).expect("serialise");
        let restored: NodeDecider = serde_json::from_str(&saved).expect("deserialise");
        assert_eq!(restored, node);
        assert_eq!(restored.active().map(|a| a.class.as_str()), Some("hss"));
    }

    #[test]
    fn settings_problems_name_their_keys() {
        let bad = DecisionSettings {
            raise_after: 0,
            flap_clear_after: 1,
            clear_after: 3,
            ..DecisionSettings::default()
        };
        let problems = bad.problems();
        assert!(problems.iter().any(|(key, _)| *key == "decisions.raise_after"));
        assert!(problems.iter().any(|(key, _)| *key == "decisions.flap_clear_after"));
        assert!(DecisionSettings::default().problems().is_empty());
        assert_eq!(camel_case("unknown_anomaly"), "UnknownAnomaly");
        assert_eq!(
            ves_event_id("p cscf/1", "hss_link_down", 60_000_000),
            "imsight-p_cscf_1-HssLinkDown-60"
        );
    }

    #[test]
    fn minutes_not_observed_break_runs() {
        let mut node = NodeDecider::new("lab", "n", DecisionSettings::default());
        let mut out = Vec::new();
        node.observe(T0, Observation::Verdict("hss"), &mut out);
        // Fifty minutes unseen: the next abnormal minute starts a new run.
        node.observe(T0 + 50 * M, Observation::Verdict("hss"), &mut out);
        assert!(out.is_empty());
        node.observe(T0 + 51 * M, Observation::Verdict("hss"), &mut out);
        assert_eq!(out.len(), 1);
    }
}
