//! From an embedding to a verdict: the k-nearest-reference rule of docs/matching.md, exactly
//! as `training/imsight_training/matching.py` applies it when a model is measured.
//!
//! Pure logic: references in, verdicts out. Where references come from (the shipped pack, the
//! store, enrolment) is the caller's business; [`pack`] reads the shipped file format.

pub mod pack;

use std::collections::BTreeMap;

/// The verdict for a window far from every known condition.
pub const UNKNOWN_ANOMALY: &str = "unknown_anomaly";
/// The class of normal traffic.
pub const NORMAL: &str = "normal";

/// The rule's parameters (docs/matching.md); a reference pack records the ones it was
/// calibrated with.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MatchParams {
    /// Neighbours that vote.
    pub k: usize,
    /// Quantile of the leave-one-out distances a class threshold starts from.
    pub quantile: f64,
    /// Factor on that quantile.
    pub scale: f64,
    /// Added to distances before they become weights (an exact match would weigh infinitely).
    pub epsilon: f64,
}

impl Default for MatchParams {
    fn default() -> Self {
        Self { k: 5, quantile: 0.95, scale: 1.5, epsilon: 1e-6 }
    }
}

/// One labelled embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// `normal` or a fault kind.
    pub class: String,
    /// The model's embedding of the reference window.
    pub embedding: Vec<f32>,
}

/// One of the nearest references of a verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Neighbour {
    /// The reference's class.
    pub class: String,
    /// Its distance to the query.
    pub distance: f64,
}

/// The judgement of one window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// The voted class, or [`UNKNOWN_ANOMALY`].
    pub class: String,
    /// Distance to the nearest reference.
    pub distance: f64,
    /// 0 to 1: the class's share of the neighbours' weight, or for an unknown anomaly how far
    /// beyond the threshold the window lies (`1 − τ / d`).
    pub confidence: f64,
    /// The voting neighbours, nearest first.
    pub neighbours: Vec<Neighbour>,
}

impl Verdict {
    /// Whether the verdict is something other than normal traffic.
    pub fn is_abnormal(&self) -> bool {
        self.class != NORMAL
    }
}

/// Why a set of references cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    /// Embeddings of different lengths.
    #[error("reference {index} ({class}) has {found} values, the others {expected}")]
    Dimension { index: usize, class: String, expected: usize, found: usize },
    /// A value that is not a finite number.
    #[error("reference {index} ({class}) holds a value that is not finite")]
    NotFinite { index: usize, class: String },
    /// Parameters outside their range.
    #[error("matching parameters: {0}")]
    Params(String),
}

/// References with their calibrated class thresholds: what a node is judged against.
#[derive(Debug, Clone)]
pub struct ReferenceSet {
    params: MatchParams,
    references: Vec<Reference>,
    thresholds: BTreeMap<String, f64>,
    dimension: usize,
}

impl ReferenceSet {
    /// Checks the references and calibrates the thresholds (docs/matching.md, Thresholds).
    pub fn new(params: MatchParams, references: Vec<Reference>) -> Result<Self, ReferenceError> {
        if params.k == 0 {
            return Err(ReferenceError::Params("k must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&params.quantile) {
            return Err(ReferenceError::Params(format!(
                "quantile {} is not in [0, 1]",
                params.quantile
            )));
        }
        if !(params.scale.is_finite() && params.scale > 0.0 && params.epsilon >= 0.0) {
            return Err(ReferenceError::Params(
                "scale must be positive and epsilon not negative".into(),
            ));
        }
        let dimension = references.first().map_or(0, |r| r.embedding.len());
        for (index, r) in references.iter().enumerate() {
            if r.embedding.len() != dimension {
                return Err(ReferenceError::Dimension {
                    index,
                    class: r.class.clone(),
                    expected: dimension,
                    found: r.embedding.len(),
                });
            }
            if r.embedding.iter().any(|v| !v.is_finite()) {
                return Err(ReferenceError::NotFinite { index, class: r.class.clone() });
            }
        }
        let thresholds = calibrate(&params, &references);
        Ok(Self { params, references, thresholds, dimension })
    }

    /// This set plus `enrolled` references (a node's own), recalibrated together.
    pub fn with(&self, enrolled: &[Reference]) -> Result<Self, ReferenceError> {
        if enrolled.is_empty() {
            return Ok(self.clone());
        }
        let mut all = self.references.clone();
        all.extend_from_slice(enrolled);
        Self::new(self.params, all)
    }

    /// The parameters.
    pub fn params(&self) -> MatchParams {
        self.params
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.references.len()
    }

    /// Whether there is no reference (then there is no verdict).
    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }

    /// Embedding length (0 without references).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The class thresholds τ_c.
    pub fn thresholds(&self) -> &BTreeMap<String, f64> {
        &self.thresholds
    }

    /// The references.
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// The verdict for one embedding; `None` without references or when the query's length
    /// differs from the references'.
    pub fn judge(&self, query: &[f32]) -> Option<Verdict> {
        if self.references.is_empty() || query.len() != self.dimension {
            return None;
        }
        // The k smallest distances, ties kept in reference order (a stable selection).
        let k = self.params.k.min(self.references.len());
        let mut nearest: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        for (index, r) in self.references.iter().enumerate() {
            let d = distance(query, &r.embedding);
            if nearest.len() == k && d >= nearest[k - 1].0 {
                continue;
            }
            let at = nearest.partition_point(|&(other, _)| other <= d);
            nearest.insert(at, (d, index));
            nearest.truncate(k);
        }
        let weights: Vec<f64> =
            nearest.iter().map(|&(d, _)| 1.0 / (d + self.params.epsilon)).collect();
        let mut scores: Vec<(&str, f64)> = Vec::new();
        for (&(_, index), &w) in nearest.iter().zip(&weights) {
            let class = self.references[index].class.as_str();
            match scores.iter_mut().find(|(c, _)| *c == class) {
                Some((_, score)) => *score += w,
                None => scores.push((class, w)),
            }
        }
        let best = scores.iter().map(|&(_, s)| s).fold(f64::NEG_INFINITY, f64::max);
        // On a tie, the class of the nearest neighbour among the tied classes: scores are in
        // order of first appearance among the neighbours, nearest first.
        let (winner, score) = scores.iter().copied().find(|&(_, s)| s == best)?;
        let (nearest_distance, nearest_index) = nearest[0];
        let tau = self
            .thresholds
            .get(&self.references[nearest_index].class)
            .copied()
            .unwrap_or(f64::INFINITY);
        let total: f64 = weights.iter().sum();
        let (class, confidence) = if nearest_distance > tau {
            (UNKNOWN_ANOMALY.to_string(), 1.0 - tau / nearest_distance)
        } else {
            (winner.to_string(), score / total)
        };
        let neighbours = nearest
            .iter()
            .map(|&(distance, index)| Neighbour {
                class: self.references[index].class.clone(),
                distance,
            })
            .collect();
        Some(Verdict { class, distance: nearest_distance, confidence, neighbours })
    }
}

/// Euclidean distance, accumulated in f64.
pub fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>().sqrt()
}

/// τ_c = scale × the quantile (linear interpolation) of each reference's distance to its
/// nearest other reference of the same class; a class with one reference takes the largest
/// other threshold (infinite when no class has two).
fn calibrate(params: &MatchParams, references: &[Reference]) -> BTreeMap<String, f64> {
    let mut by_class: BTreeMap<&str, Vec<&[f32]>> = BTreeMap::new();
    for r in references {
        by_class.entry(r.class.as_str()).or_default().push(&r.embedding);
    }
    let mut thresholds = BTreeMap::new();
    for (class, members) in &by_class {
        if members.len() < 2 {
            continue;
        }
        let mut nearest_other: Vec<f64> = members
            .iter()
            .enumerate()
            .map(|(i, a)| {
                members
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, b)| distance(a, b))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        nearest_other.sort_by(f64::total_cmp);
        thresholds
            .insert((*class).to_string(), params.scale * quantile(&nearest_other, params.quantile));
    }
    let largest = thresholds
        .values()
        .copied()
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    for class in by_class.keys() {
        thresholds.entry((*class).to_string()).or_insert(largest.unwrap_or(f64::INFINITY));
    }
    thresholds
}

/// numpy's default quantile of sorted values: linear between the values around position
/// `q × (n − 1)`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = (low + 1).min(sorted.len() - 1);
    let fraction = position - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(class: &str, embedding: &[f32]) -> Reference {
        Reference { class: class.into(), embedding: embedding.to_vec() }
    }

    fn set(refs: Vec<Reference>) -> ReferenceSet {
        ReferenceSet::new(MatchParams { k: 3, ..MatchParams::default() }, refs).expect("valid")
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.95) - 3.85).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
    }

    #[test]
    fn votes_by_inverse_distance_and_reports_neighbours() {
        let s = set(vec![
            r("normal", &[0.0, 0.0]),
            r("normal", &[0.0, 0.1]),
            r("hss", &[1.0, 0.0]),
            r("hss", &[1.0, 0.1]),
        ]);
        let v = s.judge(&[0.05, 0.05]).expect("verdict");
        assert_eq!(v.class, "normal");
        assert_eq!(v.neighbours.len(), 3);
        assert!(v.neighbours.windows(2).all(|w| w[0].distance <= w[1].distance));
        assert!(v.confidence > 0.5 && v.confidence < 1.0);
    }

    #[test]
    fn far_from_everything_is_unknown() {
        let s = set(vec![
            r("normal", &[0.0, 0.0]),
            r("normal", &[0.0, 0.1]),
            r("hss", &[1.0, 0.0]),
            r("hss", &[1.0, 0.1]),
        ]);
        // τ = 1.5 × 0.1 for both classes.
        assert!((s.thresholds()["normal"] - 0.15).abs() < 1e-6);
        let v = s.judge(&[5.0, 5.0]).expect("verdict");
        assert_eq!(v.class, UNKNOWN_ANOMALY);
        assert!(v.confidence > 0.9);
        assert!(v.is_abnormal());
    }

    #[test]
    fn a_single_reference_class_borrows_the_largest_threshold() {
        let s = set(vec![
            r("normal", &[0.0]),
            r("normal", &[0.2]),
            r("a", &[5.0]),
            r("a", &[5.1]),
            r("b", &[9.0]),
        ]);
        let t = s.thresholds();
        assert!((t["b"] - t["normal"].max(t["a"])).abs() < 1e-12);
        let lone = set(vec![r("normal", &[0.0])]);
        assert_eq!(lone.thresholds()["normal"], f64::INFINITY);
        assert_eq!(lone.judge(&[100.0]).expect("verdict").class, "normal");
    }

    #[test]
    fn ties_go_to_the_nearest_neighbours_class_and_reference_order() {
        // Two references at the same distance: the first listed is the nearest.
        let s = set(vec![r("b", &[1.0]), r("a", &[-1.0])]);
        let v = s.judge(&[0.0]).expect("verdict");
        assert_eq!(v.neighbours[0].class, "b");
        assert_eq!(v.class, "b");
    }

    #[test]
    fn enrolled_references_recalibrate_thresholds() {
        let global =
            set(vec![r("normal", &[0.0]), r("normal", &[0.1]), r("a", &[5.0]), r("a", &[5.1])]);
        assert_eq!(global.judge(&[2.0]).expect("verdict").class, UNKNOWN_ANOMALY);
        let node = global.with(&[r("normal", &[2.0]), r("normal", &[1.0])]).expect("valid");
        assert_eq!(node.judge(&[2.0]).expect("verdict").class, "normal");
        assert_eq!(node.len(), 6);
        assert_eq!(global.len(), 4);
    }

    #[test]
    fn rejects_bad_references_and_queries() {
        let params = MatchParams::default();
        assert!(matches!(
            ReferenceSet::new(params, vec![r("a", &[0.0]), r("a", &[0.0, 1.0])]),
            Err(ReferenceError::Dimension { index: 1, .. })
        ));
        assert!(matches!(
            ReferenceSet::new(params, vec![r("a", &[f32::NAN])]),
            Err(ReferenceError::NotFinite { .. })
        ));
        assert!(ReferenceSet::new(MatchParams { k: 0, ..params }, vec![]).is_err());
        let s = set(vec![r("a", &[0.0])]);
        assert!(s.judge(&[0.0, 1.0]).is_none());
        assert!(set(vec![]).judge(&[0.0]).is_none());
    }
}
