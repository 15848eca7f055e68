//! The model life cycle end to end with the CLI and the two shipped models: sample judged
//! windows while replaying, label one (and enrol it), export the samples as a training
//! dataset, shadow the other model, compare the two against the simulator's labels, promote,
//! roll back, and prune by the retention policy.

mod common;

use std::path::Path;

use common::{imsight, repo, run};

const SCENARIO: &str = r#"
name = "lifecycle-test"
start = "2026-11-24T09:00:00Z"
duration_minutes = 140
seed = 11
profile = "small_operator"

[[nodes]]
name = "pcscf-a"
subscribers = 1500

[[nodes]]
name = "pcscf-b"
subscribers = 1500

[[faults]]
node = "pcscf-b"
kind = "hss_link_down"
onset_minute = 95
ramp_minutes = 1
duration_minutes = 20
severity = 1.0
"#;

/// The model judging first, and the candidate.
const ACTIVE: &str = "models/siamese-lstm-small/siamese-lstm-small.onnx";
const CANDIDATE: &str = "models/siamese-lstm-medium/siamese-lstm-medium.onnx";

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8").to_owned()
}

/// `imsight ARGS` with the state directory and the sampling settings of these tests.
fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--state-dir".to_owned(), path(dir, "state")]);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run(imsight(&refs)
        .env("IMSIGHT__INFERENCE__MODEL", repo(ACTIVE))
        .env("IMSIGHT__SAMPLES__NORMAL_RATE", "0.2")
        .env("IMSIGHT__SAMPLES__SEED", "3"))
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

#[test]
fn sample_label_export_shadow_compare_promote_roll_back_and_prune() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    std::fs::write(d.join("scenario.toml"), SCENARIO).expect("write");
    let (code, _, stderr) = run(&mut imsight(&[
        "simulate",
        "--scenario",
        &path(d, "scenario.toml"),
        "--xdr",
        &path(d, "records.csv"),
        "--labels",
        &path(d, "labels.jsonl"),
        "--nodes",
        &path(d, "nodes.toml"),
    ]));
    assert_eq!(code, 0, "{stderr}");

    // Sampling while replaying: every abnormal window, a fifth of the normal ones.
    let replay = |out: &str, extra: &[&str]| {
        let mut args: Vec<String> = ["replay", "--config"].map(String::from).to_vec();
        args.extend([path(d, "nodes.toml"), "--out".into(), path(d, out)]);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args.push(path(d, "records.csv"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(d, &refs)
    };
    let (code, _, stderr) = replay("verdicts.jsonl", &["--sample"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("samples: "), "{stderr}");
    let verdicts = json_lines(&std::fs::read_to_string(d.join("verdicts.jsonl")).expect("read"));
    let judged: Vec<&serde_json::Value> =
        verdicts.iter().filter(|v| v["type"] == "minute" && v["class"].is_string()).collect();
    let abnormal = judged.iter().filter(|v| v["class"] != "normal").count();
    let normal = judged.len() - abnormal;
    let (code, stdout, stderr) = cli(d, &["samples", "list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let samples = json_lines(&stdout);
    let kept_abnormal = samples.iter().filter(|s| s["class"] != "normal").count();
    let kept_normal = samples.len() - kept_abnormal;
    assert_eq!(kept_abnormal, abnormal, "every abnormal window is kept");
    // Binomial(normal, 0.2), within five standard deviations.
    let (mean, sd) = (normal as f64 * 0.2, (normal as f64 * 0.2 * 0.8).sqrt());
    assert!(
        (kept_normal as f64 - mean).abs() < 5.0 * sd,
        "{kept_normal} of {normal} normal windows"
    );
    let first = &samples[0];
    assert_eq!(first["provenance"]["source"], "replay");
    assert!(first["model"].as_str().is_some_and(|m| m.len() == 16));
    assert!(first["verdict"]["distance"].is_f64());

    // Label feedback: a correction that also becomes a reference of its node.
    let number = first["id"].as_u64().expect("id");
    let id = number.to_string();
    let node = first["node"].as_str().expect("node").to_owned();
    let (code, _, stderr) =
        cli(d, &["samples", "label", &id, "--class", "normal", "--note", "test", "--reference"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("of node {node} enrolled")), "{stderr}");
    let (_, stdout, _) = cli(d, &["samples", "list", "--labelled", "--json"]);
    let labelled = json_lines(&stdout);
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0]["label"]["class"], "normal");
    let (_, stdout, _) = cli(d, &["refs", "list", "--json"]);
    assert!(
        json_lines(&stdout).iter().any(|r| r["provenance"]["sample"].as_u64() == Some(number)),
        "the labelled window is a reference"
    );
    let (code, _, stderr) = cli(d, &["samples", "label", "999999", "--class", "normal"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no sample 999999"), "{stderr}");

    // Export in the training dataset format.
    let (code, _, stderr) = cli(d, &["samples", "export", "--out", &path(d, "dataset")]);
    assert_eq!(code, 0, "{stderr}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("dataset/manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["samples"].as_array().map(Vec::len), Some(samples.len()));
    assert_eq!(manifest["label_source"][0], "operator");
    let npy = std::fs::metadata(d.join("dataset/minutes.npy")).expect("npy").len();
    assert_eq!(npy, 128 + (samples.len() * 60 * 130 * 4) as u64);

    // Shadow the candidate, replay again with it beside the active model, compare.
    let (code, _, stderr) = cli(d, &["model", "shadow", &repo(CANDIDATE).to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("shadows the active model"), "{stderr}");
    let (code, _, stderr) = replay("verdicts-2.jsonl", &["--shadow"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("shadow: {} verdicts stored", judged.len())), "{stderr}");
    // The shadow changes nothing the active model says.
    let again = std::fs::read_to_string(d.join("verdicts-2.jsonl")).expect("read");
    let classes = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter().filter(|v| v["type"] == "minute").map(|v| v["class"].to_string()).collect()
    };
    assert_eq!(classes(&json_lines(&again)), classes(&verdicts));
    let (code, stdout, stderr) =
        cli(d, &["model", "compare", "--labels", &path(d, "labels.jsonl"), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["report"]["windows"].as_u64(), Some(judged.len() as u64));
    assert!(report["report"]["labelled"].as_u64().is_some_and(|n| n > 100), "{report}");
    assert!(report["report"]["conclusion"].is_string());
    let (code, stdout, stderr) = cli(d, &["model", "compare", "--samples"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("windows    {}", samples.len())), "{stdout}");
    assert!(stdout.contains("conclusion "), "{stdout}");

    // Promote, then roll back.
    let (code, _, stderr) = cli(d, &["model", "promote"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = cli(d, &["model", "list"]);
    let line = |mark: &str| stdout.lines().find(|l| l.starts_with(mark)).unwrap_or("").to_owned();
    assert!(line("active").contains("siamese-lstm-medium"), "{stdout}");
    assert!(line("previous").contains("siamese-lstm-small"), "{stdout}");
    // The enrolled reference followed the promotion.
    let (_, stdout, _) = cli(d, &["refs", "list", "--json"]);
    let enrolled = json_lines(&stdout)
        .into_iter()
        .filter(|r| r["scope"] == "node" && r["provenance"]["sample"].as_u64() == Some(number))
        .count();
    assert_eq!(enrolled, 2, "one per model");
    let (code, _, stderr) = cli(d, &["model", "rollback"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = cli(d, &["model", "list"]);
    assert!(stdout.lines().any(|l| l.starts_with("active") && l.contains("siamese-lstm-small")));

    // Retention: a bound of one MiB.
    let (code, _, stderr) = run(imsight(&["samples", "prune", "--state-dir", &path(d, "state")])
        .env("IMSIGHT__SAMPLES__MAX_SIZE_MB", "1"));
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, stderr) = cli(d, &["samples", "list", "--json"]);
    let left: u64 = json_lines(&stdout).iter().map(|s| s["bytes"].as_u64().unwrap_or(0)).sum();
    assert!(left <= 1024 * 1024, "{left} bytes left: {stderr}");
    // The labelled sample outlives unlabelled normal ones.
    assert!(json_lines(&stdout).iter().any(|s| s["id"].as_u64() == Some(number)), "{stdout}");
}
