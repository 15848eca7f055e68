//! Why a window is abnormal: occlusion by feature group (a perturbation explainer in the
//! spirit of LIME). Each group of the feature catalogue in turn is replaced, in every minute of
//! the window, by the node's normal baseline; the window is embedded again, and the distance
//! the embedding moved is that group's weight. The groups that moved it most, with their share
//! of the total, and inside each the features farthest from the baseline, make the
//! explanation ("final responses 62 %: resp_register_5xx, ...").

use crate::schema::{FEATURE_COUNT, catalogue};

/// How many groups an explanation names.
pub const TOP_GROUPS: usize = 3;
/// How many features it names inside each group.
pub const TOP_FEATURES: usize = 3;
/// Minutes at the end of the window compared with the baseline to rank features.
const RECENT_MINUTES: usize = 5;
/// The baseline follows normal minutes with this weight once it has seen as many.
const BASELINE_MINUTES: f64 = 60.0;

/// One feature group's part in an explanation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupShare {
    /// The catalogue group (docs/features.md).
    pub group: String,
    /// Its share of the embedding's movement over all groups (0 to 1).
    pub share: f64,
    /// Its features farthest from the node's normal baseline in the last minutes.
    pub features: Vec<String>,
}

/// The feature groups of the catalogue, each with its feature indexes.
#[derive(Debug, Clone)]
pub struct Groups {
    names: Vec<&'static str>,
    members: Vec<Vec<usize>>,
}

impl Groups {
    /// The catalogue's groups in catalogue order.
    pub fn from_catalogue() -> Self {
        let mut names: Vec<&'static str> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (index, feature) in catalogue().iter().enumerate() {
            match names.iter().position(|&n| n == feature.group) {
                Some(g) => members[g].push(index),
                None => {
                    names.push(feature.group);
                    members.push(vec![index]);
                }
            }
        }
        Self { names, members }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// A copy of `window` (`minutes × 130`) with group `group` replaced by `baseline` in every
    /// minute.
    pub fn occlude(
        &self,
        window: &[f32],
        minutes: usize,
        group: usize,
        baseline: &[f32],
    ) -> Vec<f32> {
        let mut copy = window.to_vec();
        for minute in 0..minutes {
            let row = &mut copy[minute * FEATURE_COUNT..(minute + 1) * FEATURE_COUNT];
            for &f in &self.members[group] {
                row[f] = baseline[f];
            }
        }
        copy
    }

    /// The explanation from each group's movement `(group, distance)`.
    pub fn explain(
        &self,
        moves: &[(usize, f64)],
        window: &[f32],
        minutes: usize,
        baseline: &[f32],
    ) -> Vec<GroupShare> {
        let total: f64 = moves.iter().map(|&(_, d)| d).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        let mut ranked = moves.to_vec();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let recent = recent_mean(window, minutes);
        ranked
            .into_iter()
            .filter(|&(_, d)| d > 0.0)
            .take(TOP_GROUPS)
            .map(|(g, d)| {
                // Features ranked by how far their recent level is from the baseline, on the
                // log scale the model sees.
                let mut features: Vec<(usize, f64)> = self.members[g]
                    .iter()
                    .map(|&f| (f, (log1p(recent[f]) - log1p(f64::from(baseline[f]))).abs()))
                    .filter(|&(_, gap)| gap > 0.0)
                    .collect();
                features.sort_by(|a, b| b.1.total_cmp(&a.1));
                GroupShare {
                    group: self.names[g].to_string(),
                    share: d / total,
                    features: features
                        .iter()
                        .take(TOP_FEATURES)
                        .map(|&(f, _)| catalogue()[f].name.to_string())
                        .collect(),
                }
            })
            .collect()
    }
}

fn log1p(v: f64) -> f64 {
    v.max(0.0).ln_1p()
}

/// Mean of each feature over the window's last minutes.
fn recent_mean(window: &[f32], minutes: usize) -> Vec<f64> {
    let take = RECENT_MINUTES.min(minutes).max(1);
    let mut mean = vec![0.0; FEATURE_COUNT];
    for minute in minutes - take..minutes {
        for (f, v) in
            window[minute * FEATURE_COUNT..(minute + 1) * FEATURE_COUNT].iter().enumerate()
        {
            mean[f] += f64::from(*v) / take as f64;
        }
    }
    mean
}

/// A node's normal level of each feature: a running mean of the minutes judged normal, that
/// after an hour of them follows the last hour or so.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    values: Option<Vec<f64>>,
    seen: f64,
}

impl Baseline {
    /// Learns the last minute of a window judged normal.
    pub fn learn_normal(&mut self, window: &[f32], minutes: usize) {
        let Some(last) = window.get((minutes - 1) * FEATURE_COUNT..minutes * FEATURE_COUNT) else {
            return;
        };
        self.seen += 1.0;
        let weight = 1.0 / self.seen.min(BASELINE_MINUTES);
        let values =
            self.values.get_or_insert_with(|| last.iter().map(|&v| f64::from(v)).collect());
        for (b, &v) in values.iter_mut().zip(last) {
            *b += weight * (f64::from(v) - *b);
        }
    }

    /// The baseline; before any normal minute, the mean of the window's first half (the
    /// node's own recent past).
    pub fn values_or_window_start(&self, window: &[f32], minutes: usize) -> Vec<f32> {
        if let Some(values) = &self.values {
            return values.iter().map(|&v| v as f32).collect();
        }
        let half = (minutes / 2).max(1);
        let mut mean = vec![0.0f64; FEATURE_COUNT];
        for minute in 0..half {
            for (f, v) in
                window[minute * FEATURE_COUNT..(minute + 1) * FEATURE_COUNT].iter().enumerate()
            {
                mean[f] += f64::from(*v) / half as f64;
            }
        }
        mean.into_iter().map(|v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::index_of;

    #[test]
    fn groups_cover_the_catalogue_once() {
        let groups = Groups::from_catalogue();
        let mut all: Vec<usize> = groups.members.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..FEATURE_COUNT).collect::<Vec<_>>());
        assert!(groups.len() > 5);
    }

    #[test]
    fn occlusion_replaces_one_group_in_every_minute() {
        let groups = Groups::from_catalogue();
        let window = vec![7.0f32; 3 * FEATURE_COUNT];
        let baseline = vec![1.0f32; FEATURE_COUNT];
        let copy = groups.occlude(&window, 3, 0, &baseline);
        let changed = copy.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(changed, 3 * groups.members[0].len());
    }

    #[test]
    fn explanation_ranks_groups_and_names_the_features_that_moved() {
        let groups = Groups::from_catalogue();
        let f = index_of("resp_register_5xx").expect("feature");
        let g = groups.members.iter().position(|m| m.contains(&f)).expect("group");
        let mut window = vec![0.0f32; 10 * FEATURE_COUNT];
        for minute in 5..10 {
            window[minute * FEATURE_COUNT + f] = 50.0;
        }
        let baseline = vec![0.0f32; FEATURE_COUNT];
        let moves: Vec<(usize, f64)> =
            (0..groups.len()).map(|i| (i, if i == g { 3.0 } else { 0.5 })).collect();
        let shares = groups.explain(&moves, &window, 10, &baseline);
        assert_eq!(shares.len(), TOP_GROUPS);
        assert_eq!(shares[0].group, groups.names[g]);
        assert_eq!(shares[0].features, ["resp_register_5xx"]);
        assert!(shares[0].share > shares[1].share);
        assert!(groups.explain(&[(0, 0.0)], &window, 10, &baseline).is_empty());
    }

    #[test]
    fn the_baseline_follows_normal_minutes() {
        let mut b = Baseline::default();
        let window = |v: f32| vec![v; 2 * FEATURE_COUNT];
        assert_eq!(b.values_or_window_start(&window(4.0), 2)[0], 4.0);
        b.learn_normal(&window(10.0), 2);
        assert_eq!(b.values_or_window_start(&window(0.0), 2)[0], 10.0);
        b.learn_normal(&window(20.0), 2);
        assert_eq!(b.values_or_window_start(&window(0.0), 2)[0], 15.0);
    }
}
