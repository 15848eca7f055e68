//! Which judged windows are kept as samples, and which samples retention removes (DESIGN §1:
//! data sampling and a sample database with retention). Sans-IO: the store writes and reads
//! what these rules decide.
//!
//! The population is the windows of a node (one per judged minute), never single messages,
//! and never "the first N": each window is kept by a Bernoulli draw whose probability depends
//! on its verdict class (stratified): `normal` windows at `normal_rate`, every other class at
//! `abnormal_rate` (all of them by default). The draw is a hash of the seed, the node and the
//! minute, uniform over [0, 1): independent from window to window, and a replay of the same
//! traffic keeps the same windows.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `[samples]`: what is kept, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleSettings {
    /// Share of windows judged `normal` that are kept (0 keeps none).
    pub normal_rate: f64,
    /// Share of windows judged anything else (a fault, `unknown_anomaly`) that are kept.
    pub abnormal_rate: f64,
    /// Seed of the draws; change it to keep other windows of the same traffic.
    pub seed: u64,
    /// Days a sample is kept at most (labelled ones too).
    pub max_age_days: u32,
    /// Most MiB the samples may take in the state database; beyond it the oldest unlabelled
    /// normal samples go first, then unlabelled others; labelled samples last.
    pub max_size_mb: u32,
}

impl Default for SampleSettings {
    fn default() -> Self {
        Self { normal_rate: 0.01, abnormal_rate: 1.0, seed: 0, max_age_days: 30, max_size_mb: 512 }
    }
}

impl SampleSettings {
    /// Every problem, with its key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (key, rate) in [
            ("samples.normal_rate", self.normal_rate),
            ("samples.abnormal_rate", self.abnormal_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                problems.push((key, format!("{rate} is not a share between 0 and 1")));
            }
        }
        if self.max_age_days == 0 {
            problems.push(("samples.max_age_days", "must be at least 1".to_owned()));
        }
        if self.max_size_mb == 0 {
            problems.push(("samples.max_size_mb", "must be at least 1".to_owned()));
        }
        problems
    }

    /// Whether anything is ever kept.
    pub fn enabled(&self) -> bool {
        self.normal_rate > 0.0 || self.abnormal_rate > 0.0
    }

    /// The retention rule these settings make.
    pub fn retention(&self) -> Retention {
        Retention {
            max_age_us: u64::from(self.max_age_days) * 86_400_000_000,
            max_bytes: u64::from(self.max_size_mb) * 1024 * 1024,
        }
    }
}

/// Decides which judged windows become samples.
#[derive(Debug, Clone)]
pub struct Sampler {
    settings: SampleSettings,
}

impl Sampler {
    /// A sampler with `settings`.
    pub fn new(settings: SampleSettings) -> Self {
        Self { settings }
    }

    /// The rate of a verdict class's stratum.
    pub fn rate(&self, class: &str) -> f64 {
        if class == "normal" { self.settings.normal_rate } else { self.settings.abnormal_rate }
    }

    /// Whether the window of `node` ending at `minute` (µs), judged `class`, is kept.
    pub fn keeps(&self, node: &str, minute: u64, class: &str) -> bool {
        let rate = self.rate(class);
        rate >= 1.0 || (rate > 0.0 && draw(self.settings.seed, node, minute) < rate)
    }
}

/// A uniform draw in [0, 1) from the seed, the node and the minute.
fn draw(seed: u64, node: &str, minute: u64) -> f64 {
    let mut hash = Sha256::new();
    hash.update(seed.to_le_bytes());
    hash.update(node.as_bytes());
    hash.update([0]);
    hash.update(minute.to_le_bytes());
    let digest = hash.finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    // 53 bits: every value exactly representable, uniform on [0, 1).
    (u64::from_le_bytes(head) >> 11) as f64 / (1u64 << 53) as f64
}

/// How long and how much the sample database keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Samples of minutes older than this (µs before now) go.
    pub max_age_us: u64,
    /// The samples' bytes stay at or below this.
    pub max_bytes: u64,
}

/// What retention needs to know of a stored sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The sample's id (increasing with insertion).
    pub id: u64,
    /// The window's last minute, µs since the epoch.
    pub minute: u64,
    /// Bytes it takes (window and record).
    pub bytes: u64,
    /// Which goes first when the size bound is passed: 0 for unlabelled windows judged
    /// `normal` (the cheapest to lose), 1 for other unlabelled ones, 2 for labelled ones (an
    /// operator's time went into them).
    pub tier: u8,
}

impl Retention {
    /// The ids to remove at `now` (µs): every sample past the age, then, while the rest is
    /// over the size bound, the oldest of the lowest tier first.
    pub fn plan(&self, samples: &[Kept], now: u64) -> Vec<u64> {
        let oldest_allowed = now.saturating_sub(self.max_age_us);
        let mut remove: Vec<u64> = Vec::new();
        let mut left: Vec<&Kept> = Vec::new();
        for s in samples {
            if s.minute < oldest_allowed { remove.push(s.id) } else { left.push(s) }
        }
        let mut bytes: u64 = left.iter().map(|s| s.bytes).sum();
        if bytes > self.max_bytes {
            // Oldest first within each tier; the id breaks ties of one minute.
            left.sort_by_key(|s| (s.tier, s.minute, s.id));
            for s in left {
                if bytes <= self.max_bytes {
                    break;
                }
                bytes -= s.bytes;
                remove.push(s.id);
            }
        }
        remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_windows_at_their_rate_every_abnormal_one_and_the_same_on_a_replay() {
        let sampler = Sampler::new(SampleSettings { normal_rate: 0.05, ..Default::default() });
        let minutes = 20_000;
        let kept: Vec<u64> =
            (0..minutes).filter(|&m| sampler.keeps("p1", m * 60_000_000, "normal")).collect();
        // Binomial(20 000, 0.05): mean 1 000, sd 31; six sd either side.
        assert!((814..=1186).contains(&kept.len()), "kept {}", kept.len());
        // Not the first N: spread over the whole stretch.
        assert!(kept.iter().any(|&m| m < 2_000) && kept.iter().any(|&m| m > 18_000));
        let again: Vec<u64> =
            (0..minutes).filter(|&m| sampler.keeps("p1", m * 60_000_000, "normal")).collect();
        assert_eq!(kept, again, "a replay keeps the same windows");
        let other: Vec<u64> =
            (0..minutes).filter(|&m| sampler.keeps("p2", m * 60_000_000, "normal")).collect();
        assert_ne!(kept, other, "each node draws on its own");
        assert!((0..1000).all(|m| sampler.keeps("p1", m, "hss_link_down")));
        assert!((0..1000).all(|m| sampler.keeps("p1", m, "unknown_anomaly")));
        let none = Sampler::new(SampleSettings { normal_rate: 0.0, ..Default::default() });
        assert!((0..1000).all(|m| !none.keeps("p1", m, "normal")));
    }

    #[test]
    fn retention_drops_the_old_then_plain_normal_then_abnormal_then_labelled() {
        let policy = Retention { max_age_us: 100, max_bytes: 30 };
        let kept = |id, minute, tier| Kept { id, minute, bytes: 10, tier };
        let samples = [
            kept(1, 50, 1), // too old
            kept(2, 900, 2),
            kept(3, 910, 0),
            kept(4, 920, 1),
            kept(5, 930, 0),
            kept(6, 940, 1),
        ];
        let mut plan = policy.plan(&samples, 1000);
        plan.sort_unstable();
        // 5 left of 10 bytes each over a bound of 30: both plain normal ones go.
        assert_eq!(plan, [1, 3, 5]);
        let tight = Retention { max_age_us: 10_000, max_bytes: 15 };
        let mut plan = tight.plan(&samples, 1000);
        plan.sort_unstable();
        assert_eq!(plan, [1, 3, 4, 5, 6], "then unlabelled abnormal ones; labelled ones last");
        assert!(policy.plan(&samples[1..4], 1000).is_empty());
    }

    #[test]
    fn settings_problems_name_their_keys() {
        let bad = SampleSettings {
            normal_rate: 1.5,
            abnormal_rate: -0.1,
            max_age_days: 0,
            ..Default::default()
        };
        let keys: Vec<_> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["samples.normal_rate", "samples.abnormal_rate", "samples.max_age_days"]);
        assert!(SampleSettings::default().problems().is_empty());
    }
}
