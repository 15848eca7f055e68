//! Model monitoring: is the traffic still the kind the model was trained on? (DESIGN §1.)
//!
//! Input drift per node and for the whole appliance: each feature's recent distribution
//! (a histogram over the bins of the model card's `feature_stats`, with exponentially
//! decaying counts, so it covers about the last `horizon_minutes`) is compared with the share
//! of training minutes in each bin by the population stability index (PSI). A node's drift
//! score is the median PSI over the features; a drift alert is raised when the score passes
//! `threshold` and cleared below `clear_ratio × threshold` (hysteresis). The median, not the
//! sum or the maximum: one feature out of its training range (a vendor's odd header, a
//! retransmission timer) must not page anyone, a network whose whole traffic moved must.
//!
//! Sans-IO: rows and minutes come in, events and scores come out; the judge owns it.

pub mod stats;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::FEATURE_COUNT;
pub use stats::{StatsError, TrainingStats};

/// `[monitor]`: input-drift monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftSettings {
    /// Whether inputs are compared with the model's training statistics (when its model card
    /// has them).
    pub enabled: bool,
    /// Minutes the recent distribution covers (the time constant of its decay).
    pub horizon_minutes: u32,
    /// Minutes a node must have been seen before its drift is judged.
    pub min_minutes: u32,
    /// Drift score (median PSI over the features) that raises a drift alert.
    pub threshold: f64,
    /// The alert clears when the score falls below `clear_ratio × threshold`.
    pub clear_ratio: f64,
}

impl Default for DriftSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            horizon_minutes: 1440,
            min_minutes: 720,
            threshold: 1.0,
            clear_ratio: 0.7,
        }
    }
}

impl DriftSettings {
    /// Every problem, with its key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.horizon_minutes < 60 {
            problems.push(("monitor.horizon_minutes", "must be at least 60".to_owned()));
        }
        if self.min_minutes > self.horizon_minutes.saturating_mul(10) {
            problems.push((
                "monitor.min_minutes",
                format!(
                    "{} is more than ten horizons; drift would never be judged",
                    self.min_minutes
                ),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            problems.push((
                "monitor.threshold",
                format!("{} must be a positive number", self.threshold),
            ));
        }
        if !(self.clear_ratio > 0.0 && self.clear_ratio <= 1.0) {
            problems
                .push(("monitor.clear_ratio", format!("{} is not in (0, 1]", self.clear_ratio)));
        }
        problems
    }
}

/// The scope of the whole appliance in drift reports (node names never contain it: `*` is
/// refused in an MQTT topic level).
pub const ALL_NODES: &str = "*";

/// One feature's part in a drift score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    /// The feature.
    pub feature: String,
    /// Its PSI.
    pub psi: f64,
}

/// A scope's drift now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftScore {
    /// A node, or [`ALL_NODES`].
    pub scope: String,
    /// Median PSI over the features.
    pub score: f64,
    /// The features that moved most.
    pub top: Vec<FeatureDrift>,
    /// Minutes seen (for [`ALL_NODES`]: nodes judged).
    pub minutes: u64,
    /// Whether a drift alert is in force.
    pub alerting: bool,
}

/// A drift alert raised or cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftEvent {
    /// A node, or [`ALL_NODES`].
    pub scope: String,
    /// Raised (true) or cleared.
    pub raised: bool,
    /// When it was raised (µs; a clear repeats it: the alert's identity).
    pub raised_at: u64,
    /// The minute of this event.
    pub minute: u64,
    /// The score then, and the threshold.
    pub score: f64,
    /// The threshold in force.
    pub threshold: f64,
    /// The features that moved most.
    pub top: Vec<FeatureDrift>,
}

/// One minute's drift: every scope's score, and the alerts raised or cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// The minute (µs).
    pub minute: u64,
    /// Scores of the nodes judged so far and of [`ALL_NODES`].
    pub scores: Vec<DriftScore>,
    /// Alerts raised or cleared this minute.
    pub events: Vec<DriftEvent>,
}

/// Decaying per-bin counts of one scope's recent minutes.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<f64>,
    mass: f64,
    minutes: u64,
}

impl Histogram {
    fn new(bins: usize) -> Self {
        Self { counts: vec![0.0; bins], mass: 0.0, minutes: 0 }
    }
}

/// Input drift of every node against a model's training statistics.
#[derive(Debug, Clone)]
pub struct DriftMonitor {
    settings: DriftSettings,
    stats: TrainingStats,
    nodes: BTreeMap<String, Histogram>,
    /// Raise time of each scope's alert in force.
    alerts: BTreeMap<String, u64>,
    decay: f64,
}

impl DriftMonitor {
    /// A monitor of `stats`.
    pub fn new(settings: DriftSettings, stats: TrainingStats) -> Self {
        let decay = 1.0 - 1.0 / f64::from(settings.horizon_minutes.max(1));
        Self { settings, stats, nodes: BTreeMap::new(), alerts: BTreeMap::new(), decay }
    }

    /// Takes a new rule (a reloaded configuration); alerts in force stay.
    pub fn set_settings(&mut self, settings: DriftSettings) {
        self.decay = 1.0 - 1.0 / f64::from(settings.horizon_minutes.max(1));
        self.settings = settings;
    }

    /// Takes one node-minute's features. Minutes without traffic (a silent source, or none
    /// for the node) say nothing about the traffic's kind: the caller leaves them out.
    pub fn observe(&mut self, node: &str, values: &[f32; FEATURE_COUNT]) {
        let bins = self.stats.bins();
        let h = self.nodes.entry(node.to_owned()).or_insert_with(|| Histogram::new(bins));
        for c in &mut h.counts {
            *c *= self.decay;
        }
        h.mass = h.mass * self.decay + 1.0;
        h.minutes += 1;
        for (feature, &value) in values.iter().enumerate() {
            if let Some(bin) = self.stats.bin_of(feature, value) {
                h.counts[bin] += 1.0;
            }
        }
    }

    /// The scores after `minute`, and the alerts that change with them.
    pub fn close_minute(&mut self, minute: u64) -> DriftReport {
        let min = u64::from(self.settings.min_minutes);
        let mut scores = Vec::new();
        let mut pooled = vec![0.0; self.stats.bins()];
        let mut pooled_nodes = 0u64;
        for (node, h) in &self.nodes {
            if h.minutes < min || h.mass <= 0.0 {
                continue;
            }
            for (p, c) in pooled.iter_mut().zip(&h.counts) {
                *p += c / h.mass;
            }
            pooled_nodes += 1;
            scores.push(self.score(node, &h.counts, h.mass, h.minutes));
        }
        if pooled_nodes > 0 {
            scores.push(self.score(ALL_NODES, &pooled, pooled_nodes as f64, pooled_nodes));
        }
        let mut events = Vec::new();
        for s in &mut scores {
            let raised = self.alerts.get(&s.scope).copied();
            let event = match raised {
                None if s.score > self.settings.threshold => {
                    self.alerts.insert(s.scope.clone(), minute);
                    Some((true, minute))
                }
                Some(at) if s.score < self.settings.threshold * self.settings.clear_ratio => {
                    self.alerts.remove(&s.scope);
                    Some((false, at))
                }
                _ => None,
            };
            s.alerting = self.alerts.contains_key(&s.scope);
            if let Some((raised, raised_at)) = event {
                events.push(DriftEvent {
                    scope: s.scope.clone(),
                    raised,
                    raised_at,
                    minute,
                    score: s.score,
                    threshold: self.settings.threshold,
                    top: s.top.clone(),
                });
            }
        }
        DriftReport { minute, scores, events }
    }

    /// Drift alerts in force (scope → raised at), to carry over a model change.
    pub fn alerts(&self) -> &BTreeMap<String, u64> {
        &self.alerts
    }

    /// Alerts raised before (they clear when the drift ends, with their identity).
    pub fn restore_alerts(&mut self, alerts: impl IntoIterator<Item = (String, u64)>) {
        self.alerts.extend(alerts);
    }

    fn score(&self, scope: &str, counts: &[f64], mass: f64, minutes: u64) -> DriftScore {
        let mut per_feature: Vec<FeatureDrift> = (0..self.stats.features())
            .map(|f| {
                let range = self.stats.range(f);
                let actual = counts[range].iter().map(|c| c / mass);
                FeatureDrift {
                    feature: self.stats.name(f).to_owned(),
                    psi: psi(self.stats.expected(f), actual),
                }
            })
            .collect();
        let mut values: Vec<f64> = per_feature.iter().map(|d| d.psi).collect();
        values.sort_by(f64::total_cmp);
        let score = median(&values);
        per_feature.sort_by(|a, b| b.psi.total_cmp(&a.psi));
        per_feature.truncate(5);
        DriftScore { scope: scope.to_owned(), score, top: per_feature, minutes, alerting: false }
    }
}

/// Shares below this count as this (an empty bin would make the PSI infinite).
const SHARE_FLOOR: f64 = 1e-4;

/// Population stability index of `actual` bin shares against `expected` ones:
/// Σ (a − e) · ln(a / e), each share floored at 10⁻⁴.
pub fn psi(expected: &[f64], actual: impl Iterator<Item = f64>) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, a)| {
            let (e, a) = (e.max(SHARE_FLOOR), a.max(SHARE_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::catalogue;

    /// Every feature: edges 1, 2, 3; training minutes spread evenly over the four bins.
    fn stats() -> TrainingStats {
        let features: Vec<_> = catalogue()
            .iter()
            .map(|f| serde_json::json!({"name": f.name, "edges": [1.0, 2.0, 3.0], "expected": [0.25, 0.25, 0.25, 0.25]}))
            .collect();
        TrainingStats::from_card(&serde_json::json!({"feature_stats": {"features": features}}))
            .expect("stats")
            .expect("present")
    }

    fn row(_minute: u64, value: impl Fn(usize) -> f32) -> [f32; FEATURE_COUNT] {
        let mut values = [0.0; FEATURE_COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            *v = value(i);
        }
        values
    }

    fn settings() -> DriftSettings {
        DriftSettings {
            horizon_minutes: 200,
            min_minutes: 100,
            threshold: 0.5,
            clear_ratio: 0.5,
            ..Default::default()
        }
    }

    #[test]
    fn psi_is_zero_for_the_same_shares_and_grows_with_the_shift() {
        let e = [0.25, 0.25, 0.25, 0.25];
        assert!(psi(&e, e.iter().copied()).abs() < 1e-12);
        let slight = psi(&e, [0.3, 0.2, 0.25, 0.25].into_iter());
        let strong = psi(&e, [0.0, 0.0, 0.0, 1.0].into_iter());
        assert!(slight > 0.0 && slight < 0.1 && strong > 2.0, "{slight} {strong}");
    }

    #[test]
    fn in_distribution_traffic_stays_quiet_a_shift_raises_and_its_end_clears() {
        let mut m = DriftMonitor::new(settings(), stats());
        // Values cycling through the four bins, like the training minutes.
        let mut events = Vec::new();
        for minute in 0..400u64 {
            m.observe("p1", &row(minute, |i| ((minute as usize + i) % 4) as f32 + 0.5));
            events.extend(m.close_minute(minute).events);
        }
        assert!(events.is_empty(), "{events:?}");
        let report = m.close_minute(400);
        let p1 = report.scores.iter().find(|s| s.scope == "p1").expect("p1 scored");
        assert!(p1.score < 0.05, "{}", p1.score);
        assert!(report.scores.iter().any(|s| s.scope == ALL_NODES));
        // Everything above the training range (ten times the traffic).
        for minute in 400..800u64 {
            m.observe("p1", &row(minute, |_| 40.0));
            events.extend(m.close_minute(minute).events);
        }
        let raised: Vec<_> = events.iter().filter(|e| e.raised).map(|e| e.scope.as_str()).collect();
        assert_eq!(raised, ["p1", ALL_NODES]);
        // Back to normal: cleared, with the raise's identity.
        for minute in 800..1600u64 {
            m.observe("p1", &row(minute, |i| ((minute as usize + i) % 4) as f32 + 0.5));
            events.extend(m.close_minute(minute).events);
        }
        let cleared: Vec<_> = events.iter().filter(|e| !e.raised).collect();
        assert_eq!(cleared.len(), 2);
        let first_raise = events.iter().find(|e| e.raised && e.scope == "p1").expect("raise");
        let its_clear = cleared.iter().find(|e| e.scope == "p1").expect("clear");
        assert_eq!(first_raise.raised_at, its_clear.raised_at);
        assert!(its_clear.minute > its_clear.raised_at);
    }

    #[test]
    fn a_node_is_judged_only_after_its_minimum_minutes() {
        let mut m = DriftMonitor::new(settings(), stats());
        for minute in 0..99u64 {
            m.observe("p1", &row(minute, |_| 40.0));
            assert!(m.close_minute(minute).scores.is_empty());
        }
        m.observe("p1", &row(99, |_| 40.0));
        let report = m.close_minute(99);
        assert_eq!(report.events.len(), 2, "the node and the whole appliance");
        assert_eq!(report.scores[0].top.len(), 5);
    }

    #[test]
    fn settings_problems_name_their_keys() {
        let bad = DriftSettings {
            horizon_minutes: 10,
            threshold: f64::NAN,
            clear_ratio: 0.0,
            ..Default::default()
        };
        let keys: Vec<_> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "monitor.horizon_minutes",
                "monitor.min_minutes",
                "monitor.threshold",
                "monitor.clear_ratio"
            ]
        );
        assert!(DriftSettings::default().problems().is_empty());
    }
}
