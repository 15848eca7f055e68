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
