//! Input drift end to end: `imsight simulate` streams a capture into `imsight replay`, which
//! judges it with the shipped model and compares every node's minutes with the training
//! statistics of its model card. A day of a training profile raises no drift alert; a
//! network unlike any the model was trained on (another vendor's behaviour: short
//! registrations, no PRACK, slow answers) raises one for its node and for the appliance.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{imsight, run};

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

/// Another vendor's core: registrations every 10 minutes, no reliable provisional
/// responses, UPDATE on nine calls in ten, three pages an hour per subscriber, slow answers.
const OTHER_VENDOR: &str = r#"
name = "drift-other-vendor"
start = "2026-11-30T06:00:00Z"
duration_minutes = 300
seed = 4243
profile = "vendor_b"

[[profiles]]
name = "vendor_b"
subscribers = 1200
registration_expires_s = 600
attach_rate = 0.02
calls_per_sub_hour = 0.8
originating_share = 0.5
prack_share = 0.0
update_share = 0.9
busy_share = 0.04
unavailable_share = 0.06
not_found_share = 0.01
cancel_share = 0.05
holding_time_s = 95.0
ringing_s = 6.0
messages_per_sub_hour = 3.0
core_response_ms = 120.0
register_response_ms = 300.0
access_delay_ms = 25.0
delay_sigma = 0.35
access_loss = 0.002
diurnal = [0.18, 0.12, 0.09, 0.08, 0.09, 0.15, 0.3, 0.55, 0.8, 0.95, 1.0, 0.98, 0.92, 0.9, 0.93, 0.95, 0.97, 0.98, 0.95, 0.85, 0.7, 0.55, 0.4, 0.26]
options_interval_s = 30

[[nodes]]
name = "pcscf-1"
subscribers = 1200
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
fn another_vendors_network_raises_a_drift_alert_for_its_node_and_the_appliance() {
    let dir = tempfile::tempdir().expect("dir");
    // Five hours: judged after two, over a two-hour horizon.
    let env =
        [("IMSIGHT__MONITOR__MIN_MINUTES", "120"), ("IMSIGHT__MONITOR__HORIZON_MINUTES", "120")];
    let (drift, stderr) = drift_of(dir.path(), OTHER_VENDOR, &env);
    let raised: Vec<&str> = drift
        .iter()
        .flat_map(|d| d["events"].as_array().into_iter().flatten())
        .filter(|e| e["raised"] == true)
        .filter_map(|e| e["scope"].as_str())
        .collect();
    assert_eq!(raised, ["pcscf-1", "*"], "{stderr}");
    let first = &drift[0]["events"][0];
    assert!(
        first["score"]
            .as_f64()
            .is_some_and(|s| s > first["threshold"].as_f64().unwrap_or(f64::MAX))
    );
    assert_eq!(first["top"].as_array().map(Vec::len), Some(5));
    assert!(stderr.contains("RAISE input drift"), "{stderr}");
}
