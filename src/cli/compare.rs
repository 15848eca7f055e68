//! `imsight model compare`: the active model against a candidate (the shadow model by
//! default) on the same windows, by the rule of `lifecycle/`.

use std::collections::HashMap;

use super::model::CompareArgs;
use super::{CommandError, GlobalArgs};
use crate::infer::OnnxRuntime;
use crate::lifecycle::{Pair, Report, Rule, compare as judge_pairs};
use crate::store::{SampleFilter, Store};

/// Runs `model compare`.
pub fn compare(global: &GlobalArgs, args: &CompareArgs) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let state_dir = args.state.state_dir.as_deref();
    let active_path = super::lifecycle::model_in_use(&config, None, state_dir)?;
    let active_id = crate::store::model_id(&active_path).map_err(CommandError::failed)?;
    let store = Store::open(state_dir.unwrap_or(&config.appliance.state_dir))
        .map_err(super::lifecycle::store_error)?;
    let (candidate_path, candidate_id) = match &args.candidate {
        Some(path) => {
            let path = crate::infer::resolve_model(path).map_err(CommandError::failed)?;
            let id = crate::store::model_id(&path).map_err(CommandError::failed)?;
            (path, id)
        }
        None => {
            let shadow = store.shadow_model().map_err(CommandError::failed)?.ok_or_else(|| {
                CommandError::failed(
                    "no shadow model (`imsight model shadow FILE`), and no --candidate",
                )
            })?;
            (shadow.path, shadow.id)
        }
    };
    // The truth: the simulator's labels (recovery tails are neither fault nor normal), then
    // what operators said of samples.
    let mut truth: HashMap<(String, u64), String> = HashMap::new();
    if let Some(path) = &args.labels {
        let labels = crate::dataset::read_labels(path).map_err(anyhow::Error::from)?;
        for (key, label) in labels {
            if label.phase != "recovery" {
                truth.insert(key, label.class);
            }
        }
    }
    let samples = store.samples(&SampleFilter::default()).map_err(CommandError::failed)?;
    for s in &samples {
        if let Some(class) = s.truth() {
            truth.insert((s.node.clone(), s.minute), class.to_owned());
        }
    }
    let known = |node: &str, minute: u64| truth.get(&(node.to_owned(), minute)).cloned();
    let (pairs, source, skipped) = if args.samples {
        let runtime =
            OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
        let mut active =
            super::replay::load_model(&config, &runtime, &active_path, Some(&store), None)?;
        let mut candidate =
            super::replay::load_model(&config, &runtime, &candidate_path, Some(&store), None)?;
        let mut pairs = Vec::new();
        let mut skipped = 0;
        for s in &samples {
            let Some(window) = store.sample_window(s.id).map_err(CommandError::failed)? else {
                skipped += 1;
                continue;
            };
            let a = active.judge_window(&s.node, &window).map_err(CommandError::failed)?;
            let c = candidate.judge_window(&s.node, &window).map_err(CommandError::failed)?;
            match (a, c) {
                (Some(a), Some(c)) => pairs.push(Pair {
                    active: a.class,
                    candidate: c.class,
                    truth: known(&s.node, s.minute),
                }),
                _ => skipped += 1,
            }
        }
        (pairs, format!("{} samples judged by both models now", samples.len()), skipped)
    } else {
        let stored = store.shadow_verdicts(&candidate_id).map_err(CommandError::failed)?;
        let total = stored.len();
        let pairs: Vec<Pair> = stored
            .into_iter()
            .filter(|v| v.active_model == active_id)
            .map(|v| Pair {
                truth: known(&v.node, v.minute),
                active: v.active_class,
                candidate: v.class,
            })
            .collect();
        let skipped = total - pairs.len();
        (pairs, "shadow verdicts stored by `run` or `replay --shadow`".to_owned(), skipped)
    };
    if pairs.is_empty() {
        return Err(CommandError::failed(format!(
            "no window judged by both models ({source}); run the appliance or `imsight replay --shadow` with the shadow set, or use --samples"
        )));
    }
    let report = judge_pairs(&pairs, &Rule::default());
    if args.json {
        let value = serde_json::json!({
            "active": active_id, "candidate": candidate_id, "source": source,
            "skipped": skipped, "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&value).map_err(CommandError::failed)?);
        return Ok(());
    }
    print_report(&active_id, &candidate_id, &source, skipped, &report);
    Ok(())
}

fn print_report(active: &str, candidate: &str, source: &str, skipped: usize, r: &Report) {
    println!("active     {active}");
    println!("candidate  {candidate}");
    println!(
        "windows    {} ({source}{})",
        r.windows,
        if skipped > 0 { format!("; {skipped} left out") } else { String::new() }
    );
    println!("agreement  {:.1} %", 100.0 * r.agreement);
    for (pair, n) in &r.disagreements {
        println!("           {n:>6}  {pair}");
    }
    println!("labelled   {}", r.labelled);
    if let (Some(a), Some(c)) = (&r.active, &r.candidate) {
        println!("                     accuracy  macro-F1  normal flagged  faults flagged");
        for (name, s) in [("active", a), ("candidate", c)] {
            println!(
                "  {name:<17} {:>8.1} % {:>8.3} {:>13.1} % {:>13.1} %",
                100.0 * s.accuracy,
                s.macro_f1,
                100.0 * s.normal_flagged,
                100.0 * s.abnormal_flagged
            );
        }
        println!(
            "  only the candidate right: {}, only the active model right: {} (McNemar p = {:.4})",
            r.candidate_only_right, r.active_only_right, r.p_value
        );
    }
    let verdict = serde_json::to_value(r.conclusion)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    println!("conclusion {}: {}", verdict.replace('_', " ").to_uppercase(), r.reason);
}
