//! Input drift end to end: `imsight simulate` streams a capture into `imsight replay`, which
//! judges it with the shipped `siamese-lstm-medium` and compares every node's minutes with the training
//! statistics of its model card. A day of a training profile raises no drift alert; the same
//! network grown four times past the largest one trained on raises one for its node and for
//! the appliance. (A vendor's behaviour inside the training range does not move the median
//! PSI enough: docs/operations.md, "Model monitoring", says what the score catches.)

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{imsight, run};

/// The model judging, with `feature_stats` in its card.
const MODEL: &str = "models/siamese-lstm-medium/siamese-lstm-medium.onnx";

/// A network of a training profile at a subscriber count inside the training range.
const TRAINING_PROFILE_DAY: &str = r#"
name = "drift-normal-day"
start = "2026-11-30T00:00:00Z"
duration_minutes = 1440
seed = 4242
profile = "small_operator"

[[nodes]]
name = "pcscf-1"
subscribers = 2500
"#;

/// The same network grown to 20 000 subscribers, four times the largest network the model
/// was trained on (1 000 to 5 000), over twelve and a half hours of the day.
const GROWN: &str = r#"
name = "drift-grown"
start = "2026-11-30T06:00:00Z"
duration_minutes = 750
seed = 4245
profile = "small_operator"

[[nodes]]
name = "pcscf-1"
subscribers = 20000
"#;

/// Simulates `scenario` as pcap into `imsight replay -` and returns the drift lines of the
/// verdicts, with the replay's standard error.
fn drift_of(dir: &Path, scenario: &str, env: &[(&str, &str)]) -> (Vec<serde_json::Value>, String) {
    let d = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    std::fs::write(dir.join("scenario.toml"), scenario).expect("write");
    // The nodes first (the scenario checked, nothing simulated).
    let (code, _, stderr) = run(&mut imsight(&[
        "simulate",
        "--scenario",
        &d("scenario.toml"),
        "--check",
        "--nodes",
        &d("nodes.toml"),
    ]));
    assert_eq!(code, 0, "{stderr}");
    let mut simulate =
        imsight(&["simulate", "--scenario", &d("scenario.toml"), "--pcap", "/dev/stdout"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("simulate");
    let capture = simulate.stdout.take().expect("stdout");
    let mut replay = imsight(&[
        "replay",
        "-",
        "--config",
        &d("nodes.toml"),
        "--out",
        &d("verdicts.jsonl"),
        "--no-explain",
        "--state-dir",
        &d("state"),
    ]);
    // The model whose card carries its training statistics (siamese-lstm-small, the
    // default, was trained before model cards had them).
    replay.env("IMSIGHT__INFERENCE__MODEL", common::repo(MODEL));
    for (key, value) in env {
        replay.env(key, value);
    }
    let out = replay.stdin(capture).output().expect("replay");
    assert!(simulate.wait().expect("simulate").success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(dir.join("verdicts.jsonl")).expect("verdicts");
    let drift = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|v| v["type"] == "drift")
        .collect();
    (drift, stderr)
}

#[test]
fn a_day_of_a_training_profile_raises_no_drift_alert() {
    let dir = tempfile::tempdir().expect("dir");
    let (drift, stderr) = drift_of(dir.path(), TRAINING_PROFILE_DAY, &[]);
    assert!(stderr.contains("judged 1440 node-minutes"), "{stderr}");
    assert!(drift.is_empty(), "{drift:?}\n{stderr}");
}

#[test]
fn a_network_grown_past_the_training_range_raises_a_drift_alert_for_its_node_and_the_appliance() {
    let dir = tempfile::tempdir().expect("dir");
    let (drift, stderr) = drift_of(dir.path(), GROWN, &[]);
    let events: Vec<&serde_json::Value> =
        drift.iter().flat_map(|d| d["events"].as_array().into_iter().flatten()).collect();
    let raised: Vec<&str> =
        events.iter().filter(|e| e["raised"] == true).filter_map(|e| e["scope"].as_str()).collect();
    assert_eq!(raised, ["pcscf-1", "*"], "{stderr}");
    let first = events[0];
    let (score, threshold) = (first["score"].as_f64(), first["threshold"].as_f64());
    assert!(score.zip(threshold).is_some_and(|(s, t)| s > t), "{first}");
    // Judged from the 720th minute on, as configured.
    assert!(first["minute"].as_str().is_some_and(|m| m >= "2026-11-30T17:59"), "{first}");
    assert_eq!(first["top"].as_array().map(Vec::len), Some(5));
    assert!(stderr.contains("RAISE input drift"), "{stderr}");
}
