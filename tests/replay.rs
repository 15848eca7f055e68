//! `imsight replay` end to end with the shipped model: a simulated two-node scenario as probe
//! records, its nodes from `simulate --nodes`, verdicts as JSON lines, alarms, and the score
//! against the simulator's labels.

mod common;

use std::path::Path;

use common::{imsight, run};

const SCENARIO: &str = r#"
name = "replay-test"
start = "2026-11-24T09:00:00Z"
duration_minutes = 80
seed = 7
profile = "small_operator"

[[nodes]]
name = "pcscf-a"
subscribers = 400

[[nodes]]
name = "pcscf-b"
subscribers = 400

[[faults]]
node = "pcscf-b"
kind = "traffic_blocked"
onset_minute = 66
ramp_minutes = 1
duration_minutes = 10
severity = 1.0
"#;

fn simulate(dir: &Path) {
    let scenario = dir.join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).expect("write");
    let d = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    let (code, _, stderr) = run(&mut imsight(&[
        "simulate",
        "--scenario",
        &d("scenario.toml"),
        "--xdr",
        &d("records.csv"),
        "--labels",
        &d("labels.jsonl"),
        "--nodes",
        &d("nodes.toml"),
    ]));
    assert_eq!(code, 0, "{stderr}");
}

fn replay(dir: &Path, out: &str, env: &[(&str, &str)]) -> (i32, String) {
    let d = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    let mut command = imsight(&[
        "replay",
        &d("records.csv"),
        "--config",
        &d("nodes.toml"),
        "--out",
        &d(out),
        "--labels",
        &d("labels.jsonl"),
        "--summary-json",
        &d("summary.json"),
        "--state-dir",
        &d("no-state"),
    ]);
    command.env("IMSIGHT__APPLIANCE__NAME", "lab").envs(env.iter().copied());
    let (code, _, stderr) = run(&mut command);
    (code, stderr)
}

#[test]
fn replay_judges_every_node_minute_and_scores_itself() {
    let dir = tempfile::tempdir().expect("dir");
    simulate(dir.path());
    let (code, stderr) = replay(dir.path(), "verdicts.jsonl", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("score: 1 fault episodes"), "{stderr}");
    assert!(stderr.contains("verdicts on probe records are unreliable"), "{stderr}");

    let text = std::fs::read_to_string(dir.path().join("verdicts.jsonl")).expect("verdicts");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let minutes: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "minute").collect();
    assert_eq!(minutes.len(), 2 * 80, "one line per node and minute");
    for node in ["pcscf-a", "pcscf-b"] {
        let mine: Vec<_> = minutes.iter().filter(|m| m["node"] == node).collect();
        // The first 59 minutes cannot fill a 60-minute window.
        assert!(mine[..59].iter().all(|m| m["status"] == "warming_up" && m["class"].is_null()));
        for m in &mine[59..] {
            assert!(m["class"].is_string(), "{m}");
            assert!(m["distance"].as_f64().is_some_and(|d| d >= 0.0), "{m}");
            assert!(m["confidence"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)), "{m}");
            assert_eq!(m["neighbours"].as_array().map(Vec::len), Some(5), "{m}");
            let abnormal = m["class"] != "normal";
            assert_eq!(m["explanation"].as_array().is_some_and(|e| !e.is_empty()), abnormal, "{m}");
        }
    }
    // Every clear follows a raise of the same identity.
    for clear in lines.iter().filter(|l| l["type"] == "clear") {
        let raise =
            lines.iter().find(|l| l["type"] == "raise" && l["request_id"] == clear["request_id"]);
        let raise = raise.expect("the raise of a clear");
        assert_eq!(raise["ves_event_id"], clear["ves_event_id"]);
        assert_eq!(raise["minute"], clear["raised"]);
    }

    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    let episode = &summary["episodes"][0];
    assert_eq!(episode["node"], "pcscf-b");
    assert_eq!(episode["class"], "traffic_blocked");
    assert_eq!(episode["onset"], "2026-11-24T10:06:00.000000Z");
    for key in ["first_alarm", "alarm_class", "delay_minutes", "detected", "class_correct"] {
        assert!(episode.get(key).is_some(), "{key} missing: {episode}");
    }
    assert!(summary["false_alarms"].is_u64());
    assert!(summary["false_alarm_list"].is_array());
    // Judged minutes with a label: 21 per node, recovery tails left out.
    assert!(summary["minutes"].as_u64().is_some_and(|m| (30..=42).contains(&m)), "{summary}");
    assert!(summary["confusion"]["normal"].is_object());

    // The same input gives the same verdicts and alarm identities.
    let (code, stderr) = replay(dir.path(), "again.jsonl", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("again.jsonl")).expect("again"), text);

    // And so do three sessions on threads of their own, a minute's windows split across them.
    let pooled = [("IMSIGHT__INFERENCE__SESSIONS", "3"), ("IMSIGHT__INFERENCE__MAX_BATCH", "1")];
    let (code, stderr) = replay(dir.path(), "pooled.jsonl", &pooled);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("sessions=3"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("pooled.jsonl")).expect("pooled"), text);
}

#[test]
fn replay_of_traffic_that_matches_no_node_says_how_to_name_one() {
    let capture = common::corpus_file("ndpi__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap");
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("v.jsonl");
    let (code, _, stderr) = run(imsight(&[
        "replay",
        capture.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--state-dir",
        dir.path().to_str().expect("utf-8"),
    ])
    .env("IMSIGHT__PIPELINE__AUTO_DISCOVER_NODES", "false"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("matched no configured node"), "{stderr}");
    assert!(stderr.contains("--single-node"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn enrolled_references_are_stored_listed_exported_imported_and_removed() {
    let dir = tempfile::tempdir().expect("dir");
    simulate(dir.path());
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let state = d("state");
    let refs = |args: &[&str]| {
        let mut all = vec!["refs"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--state-dir", &state]);
        run(&mut imsight(&all))
    };
    let (code, _, stderr) = refs(&[
        "enroll",
        "--config",
        &d("nodes.toml"),
        "--label",
        "normal",
        "--node",
        "pcscf-a",
        "--input",
        &d("records.csv"),
        "--to",
        "2026-11-24T10:05:00Z",
        "--windows",
        "3",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("imported the shipped reference pack"), "{stderr}");
    // Windows end from minute 59 (09:59) to 10:05: 7 candidates, 3 taken.
    assert!(
        stderr.contains("enrolled 3 window(s) of pcscf-a as `normal` (of 7 in range)"),
        "{stderr}"
    );

    let (code, stdout, stderr) = refs(&["list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let listed: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let mine: Vec<_> = listed.iter().filter(|r| r["node"] == "pcscf-a").collect();
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|r| r["scope"] == "node"
        && r["class"] == "normal"
        && r["provenance"]["window_end"].is_string()));
    assert!(listed.iter().filter(|r| r["scope"] == "global").count() > 1000);

    // Replay picks them up for that node.
    let (code, _, stderr) = run(imsight(&[
        "replay",
        &d("records.csv"),
        "--config",
        &d("nodes.toml"),
        "--out",
        &d("v.jsonl"),
        "--state-dir",
        &state,
    ])
    .env("IMSIGHT_LOG", "info"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("enrolled references") && stderr.contains("pcscf-a"), "{stderr}");

    let (code, _, stderr) = refs(&["export", "--out", &d("export.json"), "--of-node", "pcscf-a"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = refs(&["import", &d("export.json")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("imported 3 reference(s)"), "{stderr}");
    let ids: Vec<String> = mine.iter().map(|r| r["id"].to_string()).collect();
    let mut remove = vec!["remove"];
    remove.extend(ids.iter().map(String::as_str));
    let (code, _, stderr) = refs(&remove);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("removed 3 of 3"), "{stderr}");
    let (_, stdout, _) = refs(&["list", "--json"]);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("\"pcscf-a\"")).count(),
        3,
        "the imported copies remain"
    );

    let (code, _, stderr) = refs(&[
        "enroll",
        "--label",
        "normal",
        "--node",
        "nowhere",
        "--input",
        &d("records.csv"),
        "--config",
        &d("nodes.toml"),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("node `nowhere` is not in the input"), "{stderr}");
}

#[test]
fn activating_a_model_embeds_enrolled_references_again_and_rollback_returns() {
    let dir = tempfile::tempdir().expect("dir");
    simulate(dir.path());
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let state = d("state");
    let with_state = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--state-dir", &state]);
        run(&mut imsight(&all))
    };
    let (code, _, stderr) = with_state(&[
        "refs",
        "enroll",
        "--config",
        &d("nodes.toml"),
        "--label",
        "normal",
        "--node",
        "pcscf-b",
        "--input",
        &d("records.csv"),
        "--windows",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let tiny = common::repo("tests/data/tiny-model/tiny-siamese.onnx");
    let (code, _, stderr) = with_state(&["model", "activate", tiny.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 enrolled reference(s) embedded again"), "{stderr}");
    assert!(stderr.contains("no reference pack"), "{stderr}");

    let (code, stdout, stderr) = with_state(&["model", "list"]);
    assert_eq!(code, 0, "{stderr}");
    let active = stdout.lines().find(|l| l.starts_with("active")).expect("an active model");
    assert!(active.contains("tiny-test-fixture"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("previous") && l.contains("siamese-lstm-v2")),
        "{stdout}"
    );

    let (_, stdout, _) = with_state(&["refs", "list", "--json"]);
    let moved: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .filter(|r: &serde_json::Value| r["provenance"]["embedded_again_from"].is_u64())
        .collect();
    assert_eq!(moved.len(), 2);
    assert!(
        moved.iter().all(|r| r["embedding"].as_array().map(Vec::len) == Some(8)),
        "the tiny model's dimension"
    );

    let (code, _, stderr) = with_state(&["model", "rollback"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 reference(s) embedded again"), "the originals are there: {stderr}");
    let (_, stdout, _) = with_state(&["model", "list"]);
    assert!(
        stdout.lines().any(|l| l.starts_with("active") && l.contains("siamese-lstm-v2")),
        "{stdout}"
    );
    // Back and forth again: nothing is embedded twice.
    let (code, _, stderr) = with_state(&["model", "activate", tiny.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 enrolled reference(s) embedded again"), "{stderr}");
    let (code, _, stderr) = with_state(&["model", "rollback"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = with_state(&["model", "inspect"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["contract"], "ok");
    assert_eq!(report["model_card"]["model_name"], "siamese-lstm-v2");
}
