//! The actor graph computes exactly what the synchronous replay computes: the same rows, node
//! names and counters for the same capture (replay is the runtime's test oracle).

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::BufReader;

use imsight::config::NodeConfig;
use imsight::pipeline::PipelineSettings;
use imsight::replay::{FeatureReplay, ReplaySettings};

fn settings() -> ReplaySettings {
    ReplaySettings {
        pipeline: PipelineSettings {
            nodes: vec![NodeConfig {
                name: "kamailio".into(),
                access: vec!["127.0.0.1:5060".parse().unwrap()],
                ..NodeConfig::default()
            }],
            auto_discover: true,
            max_nodes: 16,
            // Whatever no configured address matches is one node: every capture gives rows.
            single_node: Some("node".into()),
            lateness_us: 5_000_000,
            timeout_us: 32_000_000,
            not_after_us: None,
            shard: Default::default(),
        },
        decoder: Default::default(),
    }
}

/// Twenty minutes of a small P-CSCF with a fault, written by the simulator.
fn simulated_capture(dir: &std::path::Path) -> std::path::PathBuf {
    use imsight::sim::output::PcapWriter;
    use imsight::sim::{Outputs, Scenario, Summary};
    let scenario = Scenario::parse(
        "name = \"actors\"\nstart = \"2026-11-21T09:00:00Z\"\nduration_minutes = 20\nseed = 3\n\
         nodes = [{ name = \"pcscf-a\", subscribers = 300 }]\n\
         faults = [{ node = \"pcscf-a\", kind = \"scscf_down\", onset_minute = 8, duration_minutes = 4, severity = 1.0 }]\n",
    )
    .unwrap();
    let path = dir.join("simulated.pcap");
    let start = scenario.start_micros().unwrap();
    let nodes = scenario.resolve();
    let mut outputs =
        Outputs::new(Summary::new("actors", 3, start, scenario.duration_minutes, &nodes), start);
    outputs.pcap = Some(PcapWriter::create(&path).unwrap());
    imsight::sim::run(&scenario, 3, &mut outputs);
    outputs.finish().unwrap();
    path
}

#[actix_rt::test]
async fn the_actors_give_the_rows_of_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    // A capture cut off in the middle of a frame: both keep what came before the damage.
    let whole =
        std::fs::read(common::corpus_file("generated-kamailio-sipp__faults.pcapng")).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let mut compared = 0;
    // Captures with HEP (plain and compressed), TCP, several minutes, and the damaged one.
    let corpus = [
        "generated-kamailio-sipp__normal.pcapng",
        "generated-kamailio-sipp__faults.pcapng",
        "generated-kamailio-sipp__pike.pcapng",
        "hep-wireshark__hep3_compressed.pcapng",
        "suricata-verify__sip-tcp-method__sip-tcp.pcap",
        "zeek__sip-long-request-response-paths.pcap",
    ];
    let mut paths: Vec<std::path::PathBuf> =
        corpus.iter().map(|n| common::corpus_file(n)).collect();
    paths.push(cut);
    paths.push(simulated_capture(dir.path()));
    let mut damaged = 0;
    for path in paths {
        let settings = settings();
        let mut replay = FeatureReplay::new(&settings);
        let replayed = replay.feed_capture(BufReader::new(File::open(&path).unwrap()));
        let expected = replay.finish();

        let source = BufReader::new(File::open(&path).unwrap());
        let run =
            imsight::runtime::run_capture(source, &settings.pipeline, settings.decoder.clone())
                .await
                .unwrap();
        let name = path.display();
        assert_eq!(run.capture, replayed, "{name}");
        assert!(!run.rows.is_empty(), "{name}: rows to compare");
        assert_eq!(run.rows, expected.rows, "{name}");
        assert_eq!(run.nodes, expected.nodes, "{name}");
        assert_eq!(run.stats, expected.stats.pipeline, "{name}");
        compared += run.rows.len();
        damaged += usize::from(run.capture.is_err());
    }
    assert_eq!(damaged, 1, "the cut capture is reported damaged");
    assert!(compared >= 20, "rows compared: {compared}");
}

/// The shipped model and its reference pack, as `replay` loads them.
fn shipped_judge() -> imsight::judge::Judge<imsight::infer::WindowEmbedder> {
    use imsight::config::InferenceConfig;
    use imsight::infer::{ModelSession, OnnxRuntime, WindowEmbedder};
    use imsight::judge::{Judge, JudgeSettings};
    let config = InferenceConfig::default();
    let runtime = OnnxRuntime::load(&config.onnxruntime_lib)
        .expect("ONNX Runtime (packaging/fetch-onnxruntime)");
    let folder = common::repo("models/siamese-lstm-small");
    let session =
        ModelSession::load(&runtime, &folder.join("siamese-lstm-small.onnx"), &config).unwrap();
    let embedder = WindowEmbedder::new(session, 60).unwrap();
    let pack = std::fs::read_to_string(folder.join("references.json")).unwrap();
    let references =
        imsight::matcher::pack::ReferencePack::from_json(&pack).unwrap().reference_set().unwrap();
    Judge::new(
        JudgeSettings { appliance: "lab".into(), ..JudgeSettings::default() },
        embedder,
        references,
    )
}

/// Ninety minutes of two P-CSCFs, one blocked for a while.
fn judged_capture(dir: &std::path::Path) -> std::path::PathBuf {
    use imsight::sim::output::PcapWriter;
    use imsight::sim::{Outputs, Scenario, Summary};
    let scenario = Scenario::parse(
        "name = \"judged\"\nstart = \"2026-11-24T09:00:00Z\"\nduration_minutes = 90\nseed = 5\n\
         nodes = [{ name = \"pcscf-a\", subscribers = 300 }, { name = \"pcscf-b\", subscribers = 300 }]\n\
         faults = [{ node = \"pcscf-b\", kind = \"traffic_blocked\", onset_minute = 66, duration_minutes = 12, severity = 1.0 }]\n",
    )
    .unwrap();
    let path = dir.join("judged.pcap");
    let start = scenario.start_micros().unwrap();
    let nodes = scenario.resolve();
    let mut outputs =
        Outputs::new(Summary::new("judged", 5, start, scenario.duration_minutes, &nodes), start);
    outputs.pcap = Some(PcapWriter::create(&path).unwrap());
    imsight::sim::run(&scenario, 5, &mut outputs);
    outputs.finish().unwrap();
    path
}

#[actix_rt::test]
async fn the_actors_judge_and_announce_what_the_replay_judges() {
    use imsight::decide::Decision;
    use imsight::judge::Judgement;
    use imsight::publish::{Announcer, OutboundKind, Payloads, PublishSettings};
    use imsight::runtime::announce::AnnounceActor;

    let dir = tempfile::tempdir().unwrap();
    let path = judged_capture(dir.path());
    let mut settings = settings();
    settings.pipeline.single_node = None;
    settings.pipeline.nodes = ["pcscf-a", "pcscf-b"]
        .iter()
        .enumerate()
        .map(|(i, name)| NodeConfig {
            name: (*name).into(),
            access: vec![format!("172.20.{i}.10").parse().unwrap()],
            core: vec![format!("172.21.{i}.10").parse().unwrap()],
            ..NodeConfig::default()
        })
        .collect();

    // The oracle: the synchronous replay, judged minute by minute.
    let mut replay = FeatureReplay::new(&settings);
    replay.feed_capture(BufReader::new(File::open(&path).unwrap())).unwrap();
    let run = replay.finish();
    let mut judge = shipped_judge();
    let mut expected = Vec::new();
    for row in &run.rows {
        judge.push(row, &run.nodes, &mut expected).unwrap();
    }
    judge.finish(&mut expected).unwrap();

    let announcer = Announcer::new(Payloads::new(PublishSettings {
        appliance: "lab".into(),
        ..PublishSettings::default()
    }));
    let announce = AnnounceActor::new(announcer, None, None, 10_000, true);
    let source = BufReader::new(File::open(&path).unwrap());
    let judged = imsight::runtime::run_judged_capture(
        source,
        &settings.pipeline,
        settings.decoder.clone(),
        shipped_judge(),
        announce,
    )
    .await
    .unwrap();
    assert_eq!(
        judged.announced.judgements, expected,
        "the actors judge exactly as the replay does"
    );
    assert_eq!(judged.announced.minutes, 90);
    assert!(
        expected
            .iter()
            .filter(|j| matches!(j, Judgement::Minute(m) if m.verdict.is_some()))
            .count()
            >= 60
    );

    // Every alarm's events: an ONSET and an ABATED share their requestID; VES raise and clear
    // share their eventId; one state message per node and minute.
    let clears =
        expected.iter().filter(|j| matches!(j, Judgement::Alarm(Decision::Clear { .. }))).count();
    assert!(clears >= 1, "the blocked node raised and cleared an alarm");
    let messages = &judged.announced.messages;
    let states = messages.iter().filter(|m| m.kind == OutboundKind::State).count();
    assert_eq!(states, 2 * 90);
    for j in &expected {
        let Judgement::Alarm(Decision::Clear { alarm, .. }) = j else { continue };
        let id = alarm.request_id.to_string();
        let control: Vec<serde_json::Value> = messages
            .iter()
            .filter(|m| m.kind == OutboundKind::ControlLoop)
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .filter(|v: &serde_json::Value| v["requestID"] == id.as_str())
            .collect();
        if alarm.class != "unknown_anomaly" {
            let statuses: Vec<&str> =
                control.iter().map(|v| v["closedLoopEventStatus"].as_str().unwrap()).collect();
            assert_eq!(statuses, ["ONSET", "ABATED"], "{alarm:?}");
        }
        let ves: Vec<serde_json::Value> = messages
            .iter()
            .filter(|m| m.kind == OutboundKind::VesFault)
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .filter(|v: &serde_json::Value| {
                v["event"]["commonEventHeader"]["eventId"] == alarm.ves_event_id.as_str()
            })
            .collect();
        let severities: Vec<&str> = ves
            .iter()
            .map(|v| v["event"]["faultFields"]["eventSeverity"].as_str().unwrap())
            .collect();
        assert_eq!(severities.len(), 2, "{alarm:?}");
        assert_eq!(severities[1], "NORMAL");
    }
}
