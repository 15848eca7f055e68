//! The `imsight` binary as an operator meets it: help, validate, exit codes, the model smoke
//! command, and one-line errors without panics or backtraces.

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

const CONFIG: i32 = 78;

mod common;
use common::{corpus_file, imsight, repo, run};

fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

#[test]
fn help_lists_every_command_of_the_design() {
    let (code, stdout, _) = run(&mut imsight(&["--help"]));
    assert_eq!(code, 0);
    for command in [
        "run", "inspect", "demo", "simulate", "replay", "features", "refs", "model", "samples",
        "validate", "bench",
    ] {
        assert!(
            stdout.lines().any(|line| line.trim_start().starts_with(&format!("{command} "))),
            "`{command}` missing from:\n{stdout}"
        );
    }
}

#[test]
fn validate_accepts_every_shipped_profile() {
    for profile in ["default", "demo", "lab", "production"] {
        let (code, stdout, stderr) = run(&mut imsight(&["validate", "--profile", profile]));
        assert_eq!(code, 0, "{profile}: {stderr}");
        assert!(stdout.starts_with(&format!("configuration valid: profile {profile}")), "{stdout}");
    }
}

#[test]
fn validate_names_both_keys_of_a_config_with_two_mistakes() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(b"[mqtt]\nprot = 1883\n\n[pipeline]\nwindow_minutes = \"sixty\"\n").unwrap();
    let path = file.path().to_str().unwrap();
    let (code, stdout, stderr) = run(&mut imsight(&["validate", "--config", path]));
    assert_eq!(code, CONFIG, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("invalid configuration (2 problems)"), "{stderr}");
    assert!(stderr.contains("  - mqtt.prot: unknown key"), "{stderr}");
    assert!(stderr.contains("  - pipeline.window_minutes: expected a whole number"), "{stderr}");
    assert_no_panic(&stderr);
}

#[test]
fn validate_reads_the_environment_and_shows_the_effective_config_with_secrets_masked() {
    let (code, stdout, stderr) = run(imsight(&["validate", "--show"])
        .env("IMSIGHT__MQTT__USERNAME", "imsight")
        .env("IMSIGHT__MQTT__PASSWORD", "s3cret"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("environment IMSIGHT__MQTT__PASSWORD, IMSIGHT__MQTT__USERNAME"));
    assert!(stdout.contains("username = \"imsight\""), "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn a_missing_onnxruntime_library_is_a_one_line_error_naming_the_path() {
    let model = repo("tests/data/tiny-model/tiny-siamese.onnx");
    let (code, stdout, stderr) = run(imsight(&["model", "verify", model.to_str().unwrap()])
        .env("IMSIGHT__INFERENCE__ONNXRUNTIME_LIB", "/opt/missing/libonnxruntime.so.1.31.1"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("imsight: ONNX Runtime library not found at /opt/missing/libonnxruntime.so.1.31.1 (inference.onnxruntime_lib)"),
        "{stderr}"
    );
    assert_no_panic(&stderr);
}

#[test]
fn a_file_that_is_not_a_library_is_a_one_line_error() {
    let not_a_library = repo("profiles/default.toml");
    let model = repo("tests/data/tiny-model/tiny-siamese.onnx");
    let (code, _, stderr) = run(imsight(&["model", "verify", model.to_str().unwrap()])
        .env("IMSIGHT__INFERENCE__ONNXRUNTIME_LIB", &not_a_library));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot load ONNX Runtime library"), "{stderr}");
    assert!(stderr.contains(not_a_library.to_str().unwrap()), "{stderr}");
    assert_no_panic(&stderr);
}

/// Needs the ONNX Runtime library: `packaging/fetch-onnxruntime` puts it where a development
/// build finds it (the README's test command runs it first).
fn library_present() {
    assert!(
        repo(".onnxruntime/lib/libonnxruntime.so.1.31.1").is_file()
            || Path::new(imsight::config::PACKAGED_ONNXRUNTIME_LIB).is_file(),
        "ONNX Runtime is not installed: run packaging/fetch-onnxruntime"
    );
}

#[test]
fn model_verify_matches_python_onnxruntime_on_the_golden_input() {
    library_present();
    let model = repo("tests/data/tiny-model/tiny-siamese.onnx");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/data/tiny-model/golden.json")).unwrap(),
    )
    .unwrap();
    let batch = golden["batch"].as_u64().unwrap().to_string();
    let (code, stdout, stderr) = run(&mut imsight(&[
        "model",
        "verify",
        model.to_str().unwrap(),
        "--batch",
        &batch,
        "--json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["contract"], "ok");
    assert_eq!(report["description"]["execution_provider"], "cpu");
    assert_eq!(report["description"]["inputs"][0]["shape"], "[?, 60, 130]");
    assert_eq!(report["description"]["metadata"]["model_name"], "tiny-test-fixture");
    assert_eq!(report["embedding_dim"], 8);

    let expected = golden["embedding"].as_array().unwrap();
    let actual = report["embedding"].as_array().unwrap();
    assert_eq!(actual.len(), expected.len());
    for (row, (a, e)) in actual.iter().zip(expected).enumerate() {
        for (col, (a, e)) in a.as_array().unwrap().iter().zip(e.as_array().unwrap()).enumerate() {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            assert!((a - e).abs() <= 1e-6, "embedding[{row}][{col}] = {a}, Python says {e}");
        }
    }
}

#[test]
fn model_verify_text_output_describes_the_model() {
    library_present();
    let model = repo("tests/data/tiny-model/tiny-siamese.onnx");
    let (code, stdout, stderr) = run(&mut imsight(&["model", "verify", model.to_str().unwrap()]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("input      features: f32 [?, 60, 130]"), "{stdout}");
    assert!(stdout.contains("output     embedding: f32 [?, 8]"), "{stdout}");
    assert!(stdout.contains("contract   ok for a 60-minute window"), "{stdout}");
    assert!(stdout.contains("embedding  [0.583489, -0.347846,"), "{stdout}");
}

#[test]
fn a_model_for_another_window_breaks_the_contract() {
    library_present();
    let model = repo("tests/data/tiny-model/tiny-siamese.onnx");
    let (code, stdout, stderr) = run(imsight(&["model", "verify", model.to_str().unwrap()])
        .env("IMSIGHT__PIPELINE__WINDOW_MINUTES", "30"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("breaks the model contract: input `features` has shape [?, 60, 130], expected [batch, 30, 130]"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_or_missing_model_is_a_one_line_error() {
    library_present();
    let mut garbage = tempfile::Builder::new().suffix(".onnx").tempfile().unwrap();
    garbage.write_all(b"\x08\x09this is not a protobuf \xff\xfe model").unwrap();
    for model in [garbage.path().to_str().unwrap(), "/nonexistent/model.onnx"] {
        let (code, _, stderr) = run(&mut imsight(&["model", "verify", model]));
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(model), "{stderr}");
        assert_no_panic(&stderr);
    }
}

#[test]
fn inspect_json_has_the_shape_of_the_ground_truth() {
    let capture = corpus_file("generated-kamailio-sipp__normal.pcapng");
    let (code, stdout, stderr) =
        run(&mut imsight(&["inspect", "--json", capture.to_str().unwrap()]));
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["requests"]["REGISTER"], 52);
    assert_eq!(report["requests_total"], 112);
    assert_eq!(report["responses_by_class"]["2xx"], 66);
    assert_eq!(report["responses_by_code"]["401"], 26);
    assert_eq!(report["responses_total"], 122);
    assert_eq!(report["hep"]["hep_packets"], 234);
    assert_eq!(report["hep"]["requests"]["INVITE"], 20);
    assert!(report["errors"].as_object().unwrap().is_empty());
}

#[test]
fn inspect_reports_every_file_and_fails_on_unreadable_ones() {
    let capture = corpus_file("suricata-verify__sip-sdp__sdp.pcap");
    let not_a_capture = repo("profiles/default.toml");
    let (code, stdout, stderr) = run(&mut imsight(&[
        "inspect",
        not_a_capture.to_str().unwrap(),
        capture.to_str().unwrap(),
        "/nonexistent.pcap",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("1 requests (INVITE 1), 1 responses"), "{stdout}");
    assert!(stderr.contains("default.toml: not a pcap, pcapng or probe-record file"), "{stderr}");
    assert!(stderr.contains("cannot read /nonexistent.pcap"), "{stderr}");
    assert_no_panic(&stderr);
}

#[test]
fn features_writes_npy_with_a_row_index_and_joined_labels() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"f\"\nstart = \"2026-11-21T09:00:00Z\"\nduration_minutes = 6\nnodes = [{ name = \"p1\", subscribers = 300 }]\n\
         faults = [{ node = \"p1\", kind = \"hss_link_down\", onset_minute = 3, duration_minutes = 2, severity = 1.0 }]\n",
    )
    .unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (code, _, stderr) = run(&mut imsight(&[
        "simulate",
        "--scenario",
        &path("s.toml"),
        "--pcap",
        &path("t.pcap"),
        "--labels",
        &path("t.labels"),
    ]));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&mut imsight(&[
        "features",
        &path("t.pcap"),
        "--out",
        &path("f.npy"),
        "--labels",
        &path("t.labels"),
        "--node",
        "p1=172.20.0.10/172.21.0.10",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("wrote 6 rows"), "{stderr}");

    let npy = std::fs::read(path("f.npy")).unwrap();
    assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0, "data is 64-byte aligned");
    let header = std::str::from_utf8(&npy[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (6, 130)"), "{header}");
    assert_eq!(npy.len() - 10 - header_len, 6 * 130 * 4);

    let index = std::fs::read_to_string(path("f.rows.csv")).unwrap();
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines[0], "node,minute,source_silent,label,severity,phase,event");
    assert_eq!(lines[1], "p1,2026-11-21T09:00:00.000000Z,0,normal,0,,");
    assert_eq!(lines[4], "p1,2026-11-21T09:03:00.000000Z,0,hss_link_down,1,steady,");

    let (code, stdout, _) = run(&mut imsight(&["features", "--schema", "--json"]));
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(schema["id"], "imsight.features/2");
    assert_eq!(schema["features"].as_array().unwrap().len(), 130);
    assert_eq!(schema["features"][0]["name"], "req_register");
}

/// A capture cut off in the middle of a frame still gives the features of the frames before
/// the damage, as `inspect` counts them; the damage is reported, not fatal.
#[test]
fn features_of_a_truncated_capture_keep_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(corpus_file("generated-kamailio-sipp__normal.pcapng")).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let out = dir.path().join("f.csv");
    let (code, _, stderr) = run(&mut imsight(&[
        "features",
        cut.to_str().unwrap(),
        "--single-node",
        "kamailio",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning:") && stderr.contains("cut.pcapng"), "{stderr}");
    assert_no_panic(&stderr);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.lines().count() >= 2, "rows of the frames before the damage: {csv}");
}

/// An output that cannot be written is found before any input is read.
#[test]
fn an_unwritable_features_output_fails_first() {
    let (code, _, stderr) = run(&mut imsight(&[
        "features",
        "/nonexistent/input.pcap",
        "--out",
        "/nonexistent-folder/f.csv",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot write /nonexistent-folder/f.csv"), "{stderr}");
}

/// A replay speed no wait can honour is refused with its key and the data-error status.
#[test]
fn an_absurd_replay_speed_is_refused_with_its_key() {
    let scenario = repo("profiles/scenarios/three-networks.toml");
    let (code, _, stderr) = run(&mut imsight(&[
        "simulate",
        "--scenario",
        scenario.to_str().unwrap(),
        "--hep",
        "127.0.0.1:9",
        "--speed",
        "5e-324",
    ]));
    assert_eq!(code, 65, "{stderr}");
    assert!(stderr.contains("--speed: must be 0 or"), "{stderr}");
    assert_no_panic(&stderr);
}

/// The training side reads the simulator's profiles and kinds from the binary: one definition.
#[test]
fn simulate_lists_its_profiles_and_kinds_as_json() {
    let (code, stdout, stderr) = run(&mut imsight(&["simulate", "--list-profiles"]));
    assert_eq!(code, 0, "{stderr}");
    let profiles: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> =
        profiles.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["small_operator", "large_operator", "enterprise_trunk", "volte_heavy"]);
    assert!(profiles[0]["background"]["hiccups_per_day"].is_number());

    let (code, stdout, _) = run(&mut imsight(&["simulate", "--list-faults"]));
    assert_eq!(code, 0);
    let kinds: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let faults = kinds["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 11);
    assert!(kinds["novel"].as_array().unwrap().iter().all(|k| faults.contains(k)));
    assert_eq!(kinds["benign"].as_array().unwrap().len(), 5);
}

#[test]
fn cuda_requested_without_a_cuda_runtime_falls_back_to_the_cpu_and_says_so() {
    library_present();
    let model = repo("tests/data/tiny-model/tiny-siamese.onnx");
    let (code, stdout, stderr) =
        run(imsight(&["model", "verify", model.to_str().unwrap(), "--json"])
            .env("IMSIGHT__INFERENCE__EXECUTION_PROVIDER", "cuda")
            .env("IMSIGHT__INFERENCE__CUDA_MEMORY_LIMIT_MB", "512"));
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // The library fetched by packaging/fetch-onnxruntime is the CPU build.
    assert_eq!(report["description"]["execution_provider"], "cpu");
    assert!(stderr.contains("cuda unavailable, running on the cpu"), "{stderr}");
    assert!(stderr.contains("provider=\"cpu\""), "{stderr}");
}

#[test]
fn the_demo_runs_the_appliance_end_to_end_and_exits_zero() {
    library_present();
    // Half the default speed: a debug build keeps up with it.
    let (code, stdout, stderr) = run(&mut imsight(&["demo", "--speed", "200"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("appliance online"), "{stdout}");
    for node in ["pcscf-1", "pcscf-2", "pcscf-3"] {
        assert!(stdout.contains(&format!("{node}  state WARMING_UP")), "{stdout}");
    }
    assert!(stdout.contains("appliance offline"), "the last will or the clean stop: {stdout}");
    let summary = stdout.lines().find(|l| l.starts_with("summary: ")).expect("a summary");
    let states: u64 = summary["summary: ".len()..].split(' ').next().unwrap().parse().unwrap();
    // One per node and minute, fewer when the outbox coalesced states waiting for the broker.
    assert!((3..=300).contains(&states), "{summary}");
    assert!(summary.contains("(0 refused)"), "{summary}");
}
