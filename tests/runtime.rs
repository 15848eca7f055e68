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
            single_node: None,
            lateness_us: 5_000_000,
            timeout_us: 32_000_000,
        },
        decoder: Default::default(),
    }
}

#[actix_rt::test]
async fn the_actors_give_the_rows_of_the_replay() {
    let mut compared = 0;
    // Captures with HEP, several minutes, TCP and a damaged trailer among them.
    for name in [
        "generated-kamailio-sipp__normal.pcapng",
        "generated-kamailio-sipp__faults.pcapng",
        "generated-kamailio-sipp__pike.pcapng",
        "hep-wireshark__hep3_compressed.pcapng",
        "suricata-verify__sip-tcp-method__sip-tcp.pcap",
        "zeek__sip-long-request-response-paths.pcap",
    ] {
        let path = common::corpus_file(name);
        let settings = settings();
        let mut replay = FeatureReplay::new(&settings);
        let replayed = replay.feed_capture(BufReader::new(File::open(&path).unwrap()));
        let expected = replay.finish();

        let source = BufReader::new(File::open(&path).unwrap());
        let outcome =
            imsight::runtime::run_capture(source, &settings.pipeline, settings.decoder.clone())
                .await;
        match (replayed, outcome) {
            (Ok(()), Ok((rows, nodes, stats))) => {
                assert_eq!(rows, expected.rows, "{name}");
                assert_eq!(nodes, expected.nodes, "{name}");
                assert_eq!(stats, expected.stats.pipeline, "{name}");
                compared += rows.len();
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string().replace("cannot read the capture: ", ""));
            }
            (a, b) => panic!("{name}: replay {a:?}, actors {:?}", b.map(|(r, _, _)| r.len())),
        }
    }
    assert!(compared >= 6, "rows compared: {compared}");
}
