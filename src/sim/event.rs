//! Benign events: things that change a node's traffic without being a fault. Their minutes
//! keep the class `normal` and carry the event's name in the label file, so that false
//! alarms on them can be counted. Holidays and weekends change the load of whole days.

use serde::{Deserialize, Serialize};

/// What happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenignKind {
    /// A planned restart of the P-CSCF: its bindings are gone, every registered UE registers
    /// again, spread over the event's minutes.
    PlannedRestart,
    /// A flash crowd (New Year's Eve, a televote): calls and messages × `magnitude` (default
    /// 6), with the congestion that follows.
    FlashCrowd,
    /// A maintenance drain: the network moves `magnitude` (default 0.8) of the registered UEs
    /// away (network-initiated de-registration) in the first half; they come back after.
    MaintenanceDrain,
    /// The probe sends nothing: the node's traffic goes on unseen (the appliance marks the
    /// minutes `source_silent`).
    ProbeGap,
    /// Subscriber growth: `magnitude` (default 0.1) more subscribers power on for the first
    /// time during the event, and stay.
    SubscriberGrowth,
}

impl BenignKind {
    /// The name in label files.
    pub fn label(self) -> &'static str {
        match self {
            Self::PlannedRestart => "planned_restart",
            Self::FlashCrowd => "flash_crowd",
            Self::MaintenanceDrain => "maintenance_drain",
            Self::ProbeGap => "probe_gap",
            Self::SubscriberGrowth => "subscriber_growth",
        }
    }

    fn default_magnitude(self) -> f64 {
        match self {
            Self::FlashCrowd => 6.0,
            Self::MaintenanceDrain => 0.8,
            Self::SubscriberGrowth => 0.1,
            Self::PlannedRestart | Self::ProbeGap => 1.0,
        }
    }
}

/// One benign event on one node, in scenario minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// The node it happens on.
    pub node: String,
    /// What happens.
    pub kind: BenignKind,
    /// First minute, counted from the scenario start.
    pub onset_minute: u32,
    /// Minutes it lasts.
    pub duration_minutes: u32,
    /// Kind-specific size (see [`BenignKind`]).
    #[serde(default)]
    pub magnitude: Option<f64>,
}

impl EventSpec {
    /// The size of the event (its default when not given).
    pub fn magnitude(&self) -> f64 {
        self.magnitude.unwrap_or_else(|| self.kind.default_magnitude())
    }

    /// Minutes `[onset, end)`.
    pub fn minutes(&self) -> std::ops::Range<u32> {
        self.onset_minute..self.onset_minute.saturating_add(self.duration_minutes)
    }

    /// Every problem of this event, prefixed with `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.duration_minutes == 0 {
            problems.push(format!("{key}.duration_minutes: must be at least 1"));
        }
        let m = self.magnitude();
        let range = match self.kind {
            BenignKind::FlashCrowd => 1.0..=20.0,
            BenignKind::MaintenanceDrain => 0.0..=1.0,
            BenignKind::SubscriberGrowth => 0.0..=1.0,
            BenignKind::PlannedRestart | BenignKind::ProbeGap => 0.0..=1.0,
        };
        if !m.is_finite() || !range.contains(&m) {
            problems.push(format!(
                "{key}.magnitude: must be {} to {} for {}",
                range.start(),
                range.end(),
                self.kind.label()
            ));
        }
        problems
    }
}

/// Days since the epoch of a time in µs.
pub fn day_of(micros: u64) -> u64 {
    micros / 86_400_000_000
}

/// Whether a day (since the epoch) is a Saturday or Sunday (1970-01-01 was a Thursday).
pub fn is_weekend(day: u64) -> bool {
    (day + 3) % 7 >= 5
}

/// A holiday `YYYY-MM-DD` as days since the epoch.
pub fn parse_day(text: &str) -> Option<u64> {
    let micros = imsight_parsers::xdr::time::parse_timestamp(&format!("{text}T00:00:00Z"))?;
    Some(day_of(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekends_and_holidays_are_found_by_date() {
        let saturday = parse_day("2026-11-21").expect("a date");
        assert!(is_weekend(saturday) && is_weekend(saturday + 1));
        assert!(!is_weekend(saturday + 2) && !is_weekend(saturday - 1));
        assert_eq!(parse_day("2026-13-01"), None);
    }
}
