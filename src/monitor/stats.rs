//! The training statistics of a model's inputs (`feature_stats` in its model card, written by
//! `training/imsight_training/stats.py`): per feature, bin edges and the share of training
//! minutes in each bin. A value x falls in bin i when edges[i-1] < x <= edges[i]; bin 0 takes
//! everything at or below the first edge, the last bin everything above the last.

use std::ops::Range;

use crate::schema::{FEATURE_COUNT, catalogue};

/// Why a model card's statistics cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The statistics do not fit this binary's feature catalogue (every problem).
    #[error("feature_stats of the model card: {}", .0.join("; "))]
    Mismatch(Vec<String>),
}

/// Bin edges and expected shares of every feature, in catalogue order.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingStats {
    names: Vec<String>,
    edges: Vec<Vec<f32>>,
    /// Expected shares of all features laid end to end; `offsets[f]..offsets[f + 1]`.
    expected: Vec<f64>,
    offsets: Vec<usize>,
}

#[derive(serde::Deserialize)]
struct FeatureEntry {
    name: String,
    edges: Vec<f32>,
    expected: Vec<f64>,
}

impl TrainingStats {
    /// The statistics of a parsed model card; `None` without `feature_stats`. Every
    /// mismatch with the catalogue is named.
    pub fn from_card(card: &serde_json::Value) -> Result<Option<Self>, StatsError> {
        let Some(features) = card.get("feature_stats").and_then(|s| s.get("features")) else {
            return Ok(None);
        };
        let entries: Vec<FeatureEntry> = serde_json::from_value(features.clone())
            .map_err(|e| StatsError::Mismatch(vec![format!("features: {e}")]))?;
        let mut problems = Vec::new();
        if entries.len() != FEATURE_COUNT {
            problems.push(format!("{} features, the catalogue has {FEATURE_COUNT}", entries.len()));
        }
        for (i, (entry, feature)) in entries.iter().zip(catalogue()).enumerate() {
            if entry.name != feature.name {
                problems.push(format!(
                    "feature {i} is `{}`, the catalogue says `{}`",
                    entry.name, feature.name
                ));
            }
            if entry.expected.len() != entry.edges.len() + 1 {
                problems.push(format!(
                    "`{}`: {} shares for {} edges (one more expected)",
                    entry.name,
                    entry.expected.len(),
                    entry.edges.len()
                ));
            }
            if entry.edges.windows(2).any(|w| w[0] >= w[1] || !w[0].is_finite()) {
                problems.push(format!("`{}`: edges not increasing", entry.name));
            }
        }
        if !problems.is_empty() {
            return Err(StatsError::Mismatch(problems));
        }
        let mut offsets = vec![0];
        let mut expected = Vec::new();
        for entry in &entries {
            expected.extend(&entry.expected);
            offsets.push(expected.len());
        }
        Ok(Some(Self {
            names: entries.iter().map(|e| e.name.clone()).collect(),
            edges: entries.into_iter().map(|e| e.edges).collect(),
            expected,
            offsets,
        }))
    }

    /// Features described.
    pub fn features(&self) -> usize {
        self.names.len()
    }

    /// Bins of all features together.
    pub fn bins(&self) -> usize {
        self.expected.len()
    }

    /// A feature's name.
    pub fn name(&self, feature: usize) -> &str {
        &self.names[feature]
    }

    /// A feature's bins in the flat layout.
    pub fn range(&self, feature: usize) -> Range<usize> {
        self.offsets[feature]..self.offsets[feature + 1]
    }

    /// A feature's expected shares.
    pub fn expected(&self, feature: usize) -> &[f64] {
        &self.expected[self.range(feature)]
    }

    /// The flat bin of `value` of `feature` (`None` for a feature not described or a NaN).
    pub fn bin_of(&self, feature: usize, value: f32) -> Option<usize> {
        let edges = self.edges.get(feature)?;
        if value.is_nan() {
            return None;
        }
        Some(self.offsets[feature] + edges.partition_point(|&e| e < value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(edit: impl Fn(usize, &mut serde_json::Value)) -> serde_json::Value {
        let features: Vec<_> = catalogue()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut v = serde_json::json!({"name": f.name, "edges": [0.0, 2.0], "expected": [0.5, 0.3, 0.2]});
                edit(i, &mut v);
                v
            })
            .collect();
        serde_json::json!({"feature_stats": {"features": features}})
    }

    #[test]
    fn bins_follow_the_training_side_rule() {
        let stats = TrainingStats::from_card(&card(|_, _| {})).expect("ok").expect("present");
        assert_eq!(stats.bins(), 3 * FEATURE_COUNT);
        // edges[i-1] < x <= edges[i], as numpy.searchsorted(edges, x, side="left").
        assert_eq!(stats.bin_of(0, -1.0), Some(0));
        assert_eq!(stats.bin_of(0, 0.0), Some(0));
        assert_eq!(stats.bin_of(0, 1.0), Some(1));
        assert_eq!(stats.bin_of(0, 2.0), Some(1));
        assert_eq!(stats.bin_of(0, 2.5), Some(2));
        assert_eq!(stats.bin_of(1, 2.5), Some(5));
        assert_eq!(stats.bin_of(1, f32::NAN), None);
        assert_eq!(stats.expected(1), [0.5, 0.3, 0.2]);
    }

    #[test]
    fn every_mismatch_is_named() {
        let bad = card(|i, v| match i {
            3 => v["name"] = "renamed".into(),
            7 => v["expected"] = serde_json::json!([1.0]),
            9 => v["edges"] = serde_json::json!([2.0, 1.0]),
            _ => {}
        });
        let Err(StatsError::Mismatch(problems)) = TrainingStats::from_card(&bad) else {
            panic!("accepted")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`renamed`"));
        assert_eq!(TrainingStats::from_card(&serde_json::json!({})).expect("ok"), None);
    }
}
