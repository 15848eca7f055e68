//! Scale-out: instances `shard.index` 0 and 1 of `shard.count` 2 given the same traffic judge
//! disjoint sets of nodes that together cover every node, each node where the stable hash of
//! its name puts it, and each exactly as a single instance judges it.

mod common;

use std::collections::BTreeSet;

use common::{imsight, run};
use imsight::config::ShardConfig;

const SCENARIO: &str = r#"
name = "shards"
start = "2026-11-24T09:00:00Z"
duration_minutes = 4
seed = 3
profile = "small_operator"
"#;

/// `imsight replay` of the capture as shard `index` of `count` (none: a single instance): the
/// verdict lines.
fn replay(dir: &std::path::Path, shard: Option<(u32, u32)>) -> Vec<String> {
    let out = dir.join(format!("verdicts-{shard:?}.jsonl"));
    let (config, capture) = (dir.join("nodes.toml"), dir.join("traffic.pcap"));
    let mut command = imsight(&[
        "--config",
        config.to_str().expect("utf-8"),
        "replay",
        capture.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    if let Some((index, count)) = shard {
        command
            .env("IMSIGHT__SHARD__INDEX", index.to_string())
            .env("IMSIGHT__SHARD__COUNT", count.to_string());
    }
    let (code, _, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    std::fs::read_to_string(out).expect("verdicts").lines().map(str::to_owned).collect()
}

fn nodes(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["node"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn two_shards_judge_disjoint_nodes_that_cover_all() {
    let dir = tempfile::tempdir().expect("dir");
    let names: Vec<String> = (1..=8).map(|n| format!("pcscf-{n:02}")).collect();
    let mut scenario = SCENARIO.to_owned();
    for name in &names {
        scenario.push_str(&format!("\n[[nodes]]\nname = \"{name}\"\nsubscribers = 100\n"));
    }
    std::fs::write(dir.path().join("s.toml"), scenario).expect("scenario");
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (code, _, stderr) = run(&mut imsight(&[
        "simulate",
        "--scenario",
        &p("s.toml"),
        "--nodes",
        &p("nodes.toml"),
        "--pcap",
        &p("traffic.pcap"),
    ]));
    assert_eq!(code, 0, "{stderr}");

    let single = replay(dir.path(), None);
    let first = replay(dir.path(), Some((0, 2)));
    let second = replay(dir.path(), Some((1, 2)));
    let (all, a, b) = (nodes(&single), nodes(&first), nodes(&second));
    assert_eq!(all, names.iter().cloned().collect::<BTreeSet<_>>());
    assert!(a.is_disjoint(&b), "{a:?} and {b:?} overlap");
    assert_eq!(a.union(&b).cloned().collect::<BTreeSet<_>>(), all);
    assert!(!a.is_empty() && !b.is_empty(), "eight nodes fall on both shards: {a:?} {b:?}");
    for node in &a {
        assert_eq!(ShardConfig::shard_of(node, 2), 0, "{node}");
    }
    // Each node is judged by its shard exactly as by a single instance.
    let mut together: Vec<String> = first.into_iter().chain(second).collect();
    let mut alone = single;
    together.sort();
    alone.sort();
    assert_eq!(together, alone);
}

#[test]
fn a_shard_index_beyond_the_count_is_a_configuration_error() {
    let (code, _, stderr) = run(imsight(&["validate"])
        .env("IMSIGHT__SHARD__INDEX", "2")
        .env("IMSIGHT__SHARD__COUNT", "2"));
    assert_ne!(code, 0);
    assert!(stderr.contains("shard.index"), "{stderr}");
}

/// A node of this shard that falls silent while the probe keeps sending the other shard's
/// traffic is a silent node, not a silent source (judged on its own empty minutes, not as
/// `no_data`).
#[test]
fn a_silent_node_is_not_a_silent_probe_when_the_probe_feeds_other_shards() {
    use imsight::config::NodeConfig;
    use imsight::pipeline::{FeaturePipeline, PipelineSettings};
    use imsight::sources::{CaptureEvent, CapturedSip};
    let candidates: Vec<String> = (1..=20).map(|n| format!("pcscf-{n:02}")).collect();
    let ours = candidates.iter().find(|n| ShardConfig::shard_of(n, 2) == 0).expect("one");
    let theirs = candidates.iter().find(|n| ShardConfig::shard_of(n, 2) == 1).expect("one");
    let node = |name: &str, last: u8| NodeConfig {
        name: name.to_owned(),
        access: vec![format!("172.20.0.{last}").parse().expect("address")],
        ..NodeConfig::default()
    };
    let settings = PipelineSettings {
        nodes: vec![node(ours, 1), node(theirs, 2)],
        max_nodes: 8,
        lateness_us: 5_000_000,
        timeout_us: 32_000_000,
        shard: ShardConfig { index: 0, count: 2 },
        ..PipelineSettings::default()
    };
    let mut pipeline = FeaturePipeline::new(&settings);
    let ue: std::net::SocketAddr = "10.1.0.1:5060".parse().expect("address");
    let t0 = 1_795_338_000_000_000;
    let mut out = Vec::new();
    let send = |pipeline: &mut FeaturePipeline, to: u8, n: u64, out: &mut Vec<_>| {
        let bytes = format!(
            "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.1;branch=z9hG4bK{n}\r\nCall-ID: o{n}\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        let ts = t0 + n * 10_000_000;
        let dst = std::net::SocketAddr::new(format!("172.20.0.{to}").parse().expect("ip"), 5060);
        let sip = CapturedSip {
            ts: Some(ts),
            src: Some(ue),
            dst: Some(dst),
            hep: None,
            bytes: bytes.as_bytes(),
        };
        pipeline.capture_event(CaptureEvent::Sip(sip), out);
        pipeline.capture_event(CaptureEvent::FrameDone { ts }, out);
    };
    // Ours speaks in minute 0 only; theirs all along, through minute 3.
    send(&mut pipeline, 1, 1, &mut out);
    for n in 0..24 {
        send(&mut pipeline, 2, n, &mut out);
    }
    let silent: Vec<(u64, bool)> =
        out.iter().map(|r| ((r.minute - t0) / 60_000_000, r.source_silent)).collect();
    assert_eq!(silent, [(0, false), (1, false), (2, false)], "{silent:?}");
    assert!(out.iter().all(|r| pipeline.node_names()[r.node] == *ours));
    assert_eq!(pipeline.judged_nodes(), 1);
}
