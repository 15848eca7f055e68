//! When is a model better than the one before? (DESIGN §1: shadow evaluation, compare,
//! promote.) Sans-IO: pairs of verdicts on the same windows come in (the active model's and
//! a candidate's, from the shadow verdicts of a live appliance or a replay, or from both
//! models run over the sample database), with the truth where someone knows it; a report
//! comes out.
//!
//! The rule (docs/operations.md, "Model life cycle"): a candidate is **better** when, on the
//! labelled windows, it is right significantly more often where the two disagree (McNemar's
//! exact test, two-sided, p < 0.05) *and* it does not flag more truly normal windows than the
//! active model (by more than one percentage point: false alarms are what operators pay
//! for). It is **worse** when the test favours the active model. Otherwise there is **no
//! difference** shown and the active model stays: a new model has to earn its place. With
//! fewer than `min_labelled` labelled windows there is **not enough evidence**; agreement
//! alone never promotes a model (two models can agree on being wrong).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::matcher::NORMAL;

/// One window judged by both models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The active model's class.
    pub active: String,
    /// The candidate's class.
    pub candidate: String,
    /// What the traffic really was, when known.
    pub truth: Option<String>,
}

/// How one model did on the labelled windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelScore {
    /// Share of labelled windows it got right.
    pub accuracy: f64,
    /// Macro-F1 over the true classes present.
    pub macro_f1: f64,
    /// Share of truly normal windows it judged something else.
    pub normal_flagged: f64,
    /// Share of truly abnormal windows it judged something other than normal.
    pub abnormal_flagged: f64,
}

/// What the rule concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// Promote the candidate.
    Better,
    /// Keep the active model; the candidate is worse.
    Worse,
    /// Keep the active model; no difference shown.
    NoDifference,
    /// Too few labelled windows to say.
    NotEnoughEvidence,
}

/// The comparison of two models on the same windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Windows judged by both.
    pub windows: usize,
    /// Share of them with the same class.
    pub agreement: f64,
    /// The most frequent disagreements: "active → candidate" and how many.
    pub disagreements: Vec<(String, usize)>,
    /// Windows with a known truth.
    pub labelled: usize,
    /// The active model on them.
    pub active: Option<ModelScore>,
    /// The candidate on them.
    pub candidate: Option<ModelScore>,
    /// Labelled windows only the candidate got right.
    pub candidate_only_right: usize,
    /// Labelled windows only the active model got right.
    pub active_only_right: usize,
    /// McNemar's exact two-sided p-value on those two counts.
    pub p_value: f64,
    /// What the rule says.
    pub conclusion: Conclusion,
    /// Why, in a sentence.
    pub reason: String,
}

/// The rule's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Labelled windows needed before concluding.
    pub min_labelled: usize,
    /// Significance level of McNemar's test.
    pub alpha: f64,
    /// How much more of the normal windows the candidate may flag (a share).
    pub normal_flag_tolerance: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Self { min_labelled: 30, alpha: 0.05, normal_flag_tolerance: 0.01 }
    }
}

/// Compares the pairs by `rule`.
pub fn compare(pairs: &[Pair], rule: &Rule) -> Report {
    let windows = pairs.len();
    let agree = pairs.iter().filter(|p| p.active == p.candidate).count();
    let mut disagreements: BTreeMap<String, usize> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.active != p.candidate) {
        *disagreements.entry(format!("{} → {}", p.active, p.candidate)).or_default() += 1;
    }
    let mut disagreements: Vec<(String, usize)> = disagreements.into_iter().collect();
    disagreements.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    disagreements.truncate(8);

    let labelled: Vec<(&Pair, &str)> =
        pairs.iter().filter_map(|p| Some((p, p.truth.as_deref()?))).collect();
    let score = |pick: fn(&Pair) -> &str| score(labelled.iter().map(|(p, t)| (pick(p), *t)));
    let (active, candidate) = if labelled.is_empty() {
        (None, None)
    } else {
        (Some(score(|p| &p.active)), Some(score(|p| &p.candidate)))
    };
    let candidate_only_right =
        labelled.iter().filter(|(p, t)| p.candidate == *t && p.active != *t).count();
    let active_only_right =
        labelled.iter().filter(|(p, t)| p.active == *t && p.candidate != *t).count();
    let p_value = mcnemar_exact(candidate_only_right, active_only_right);
    let (conclusion, reason) = match (&active, &candidate) {
        _ if labelled.len() < rule.min_labelled => (
            Conclusion::NotEnoughEvidence,
            format!(
                "{} labelled windows, {} needed (label samples, or compare against the simulator's labels)",
                labelled.len(),
                rule.min_labelled
            ),
        ),
        (Some(a), Some(c)) if p_value < rule.alpha && candidate_only_right > active_only_right => {
            if c.normal_flagged > a.normal_flagged + rule.normal_flag_tolerance {
                (
                    Conclusion::NoDifference,
                    format!(
                        "the candidate is right more often (p = {p_value:.3}) but flags {:.1} % of normal windows against {:.1} %",
                        100.0 * c.normal_flagged,
                        100.0 * a.normal_flagged
                    ),
                )
            } else {
                (
                    Conclusion::Better,
                    format!(
                        "the candidate alone is right on {candidate_only_right} windows, the active model alone on {active_only_right} (p = {p_value:.3}), without flagging more normal windows"
                    ),
                )
            }
        }
        _ if p_value < rule.alpha && active_only_right > candidate_only_right => (
            Conclusion::Worse,
            format!(
                "the active model alone is right on {active_only_right} windows, the candidate alone on {candidate_only_right} (p = {p_value:.3})"
            ),
        ),
        _ => (
            Conclusion::NoDifference,
            format!(
                "the candidate alone is right on {candidate_only_right} windows, the active model alone on {active_only_right} (p = {p_value:.3}): no significant difference"
            ),
        ),
    };
    Report {
        windows,
        agreement: if windows == 0 { 0.0 } else { agree as f64 / windows as f64 },
        disagreements,
        labelled: labelled.len(),
        active,
        candidate,
        candidate_only_right,
        active_only_right,
        p_value,
        conclusion,
        reason,
    }
}

fn score<'a>(verdicts: impl Iterator<Item = (&'a str, &'a str)>) -> ModelScore {
    let mut right = 0usize;
    let mut all = 0usize;
    let (mut normal, mut normal_flagged, mut abnormal, mut abnormal_flagged) = (0, 0, 0, 0);
    // class → (true positives, predicted, actual)
    let mut per_class: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (verdict, truth) in verdicts {
        all += 1;
        right += usize::from(verdict == truth);
        per_class.entry(truth).or_default().2 += 1;
        per_class.entry(verdict).or_default().1 += 1;
        if verdict == truth {
            per_class.entry(truth).or_default().0 += 1;
        }
        if truth == NORMAL {
            normal += 1;
            normal_flagged += usize::from(verdict != NORMAL);
        } else {
            abnormal += 1;
            abnormal_flagged += usize::from(verdict != NORMAL);
        }
    }
    let f1s: Vec<f64> = per_class
        .values()
        .filter(|(_, _, actual)| *actual > 0)
        .map(|&(tp, predicted, actual)| 2.0 * tp as f64 / (predicted + actual) as f64)
        .collect();
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    ModelScore {
        accuracy: share(right, all),
        macro_f1: if f1s.is_empty() { 0.0 } else { f1s.iter().sum::<f64>() / f1s.len() as f64 },
        normal_flagged: share(normal_flagged, normal),
        abnormal_flagged: share(abnormal_flagged, abnormal),
    }
}

/// McNemar's exact test: the two-sided binomial p-value of `b` against `c` discordant pairs
/// under p = 1/2.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X <= k) for X ~ Binomial(n, 1/2), summed in logs (n may be thousands).
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(active: &str, candidate: &str, truth: Option<&str>) -> Pair {
        Pair { active: active.into(), candidate: candidate.into(), truth: truth.map(Into::into) }
    }

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // 10 against 0: 2 × 0.5^10.
        assert!((mcnemar_exact(10, 0) - 2.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_exact(0, 10) - 2.0 / 1024.0).abs() < 1e-12);
        // 5 against 5: not significant at all.
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        // 3 against 7: 2 × P(X ≤ 3), n = 10 → 2 × 176/1024.
        assert!((mcnemar_exact(3, 7) - 352.0 / 1024.0).abs() < 1e-12);
        assert!(mcnemar_exact(2000, 2100) > 0.1 && mcnemar_exact(2000, 2300) < 0.01);
    }

    #[test]
    fn a_candidate_right_where_the_active_one_is_wrong_is_better() {
        let mut pairs = vec![pair("normal", "normal", Some("normal")); 40];
        pairs.extend(vec![pair("normal", "hss_link_down", Some("hss_link_down")); 12]);
        pairs.extend(vec![pair("capacity_limit", "capacity_limit", None); 5]);
        let report = compare(&pairs, &Rule::default());
        assert_eq!(report.conclusion, Conclusion::Better, "{}", report.reason);
        assert_eq!((report.candidate_only_right, report.active_only_right), (12, 0));
        assert_eq!(report.windows, 57);
        assert_eq!(report.labelled, 52);
        assert_eq!(report.disagreements, [("normal → hss_link_down".to_string(), 12)]);
        let (a, c) = (report.active.expect("scored"), report.candidate.expect("scored"));
        assert!(c.accuracy > a.accuracy && c.macro_f1 > a.macro_f1);
        assert_eq!(a.abnormal_flagged, 0.0);
        assert_eq!(c.abnormal_flagged, 1.0);
        // Swapped: worse.
        let swapped: Vec<Pair> =
            pairs.iter().map(|p| pair(&p.candidate, &p.active, p.truth.as_deref())).collect();
        assert_eq!(compare(&swapped, &Rule::default()).conclusion, Conclusion::Worse);
    }

    #[test]
    fn more_false_alarms_agreement_alone_or_too_few_labels_promote_nothing() {
        // Right on twelve faults, but flags five more normal windows of fifty.
        let mut pairs = vec![pair("normal", "normal", Some("normal")); 45];
        pairs.extend(vec![pair("normal", "invite_flood", Some("normal")); 5]);
        pairs.extend(vec![pair("normal", "hss_link_down", Some("hss_link_down")); 20]);
        let report = compare(&pairs, &Rule::default());
        assert_eq!(report.conclusion, Conclusion::NoDifference, "{}", report.reason);
        assert!(report.reason.contains("flags"));
        // Full agreement, no labels.
        let unlabelled = vec![pair("normal", "normal", None); 500];
        let report = compare(&unlabelled, &Rule::default());
        assert_eq!(report.conclusion, Conclusion::NotEnoughEvidence);
        assert_eq!(report.agreement, 1.0);
        // A small difference on many windows is no difference.
        let mut close = vec![pair("normal", "normal", Some("normal")); 100];
        close.extend(vec![pair("normal", "hss_link_down", Some("hss_link_down")); 3]);
        close.extend(vec![pair("hss_link_down", "normal", Some("hss_link_down")); 2]);
        assert_eq!(compare(&close, &Rule::default()).conclusion, Conclusion::NoDifference);
    }
}
