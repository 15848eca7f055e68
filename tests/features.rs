//! Features: the SIP path (a capture) and the probe-record path (the simulator's records of
//! the same traffic) agree on every feature both can compute.

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;

use imsight::aggregate::FeatureRow;
use imsight::config::NodeConfig;
use imsight::pipeline::PipelineSettings;
use imsight::replay::{FeatureReplay, FeatureRun, ReplaySettings};
use imsight::schema::{Paths, catalogue, index_of};
use imsight::sim::output::{PcapWriter, XdrWriter};
use imsight::sim::wire::{pcscf_access, pcscf_core};
use imsight::sim::{Outputs, Scenario, Summary};
use imsight::sources::RecordFormat;

const SCENARIO: &str = r#"
name = "two-paths"
start = "2026-11-21T09:00:00Z"
duration_minutes = 40
seed = 9
nodes = [{ name = "pcscf-a", subscribers = 800 }, { name = "pcscf-b", profile = "volte_heavy", subscribers = 500 }]
faults = [
  { node = "pcscf-a", kind = "hss_link_down", onset_minute = 5, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-a", kind = "traffic_blocked", onset_minute = 15, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-a", kind = "pcrf_rx_failure", onset_minute = 25, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-b", kind = "capacity_limit", onset_minute = 8, ramp_minutes = 3, duration_minutes = 10, severity = 0.9 },
  { node = "pcscf-b", kind = "scscf_down", onset_minute = 25, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-b", kind = "ipsec_sa_failure", onset_minute = 32, duration_minutes = 5, severity = 1.0, share = 0.5 },
]
"#;

fn config(nodes: &[String]) -> ReplaySettings {
    ReplaySettings {
        pipeline: PipelineSettings {
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, name)| NodeConfig {
                    name: name.clone(),
                    access: vec![pcscf_access(i as u16).to_string().parse().unwrap()],
                    core: vec![pcscf_core(i as u16).to_string().parse().unwrap()],
                    ..NodeConfig::default()
                })
                .collect(),
            auto_discover: false,
            max_nodes: 16,
            single_node: None,
            lateness_us: 5_000_000,
            timeout_us: 32_000_000,
            not_after_us: None,
            shard: Default::default(),
        },
        decoder: Default::default(),
    }
}

fn with_nodes(nodes: Vec<NodeConfig>) -> ReplaySettings {
    let mut settings = config(&[]);
    settings.pipeline.nodes = nodes;
    settings
}

fn single_node(name: &str) -> ReplaySettings {
    let mut settings = config(&[]);
    settings.pipeline.single_node = Some(name.into());
    settings
}

fn by_key(rows: Vec<FeatureRow>, names: &[String]) -> BTreeMap<(String, u64), FeatureRow> {
    rows.into_iter().map(|r| ((names[r.node].clone(), r.minute), r)).collect()
}

#[test]
fn the_sip_path_and_the_record_path_agree() {
    let scenario = Scenario::parse(SCENARIO).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (pcap, xdr) = (dir.path().join("t.pcap"), dir.path().join("t.csv"));
    let start = scenario.start_micros().unwrap();
    let nodes = scenario.resolve();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut outputs =
        Outputs::new(Summary::new("t", 9, start, scenario.duration_minutes, &nodes), start);
    outputs.pcap = Some(PcapWriter::create(&pcap).unwrap());
    outputs.xdr = Some(XdrWriter::create(&xdr, names.clone()).unwrap());
    imsight::sim::run(&scenario, 9, &mut outputs);
    outputs.finish().unwrap();

    let mut sip = FeatureReplay::new(&config(&names));
    sip.feed_capture(BufReader::new(File::open(&pcap).unwrap())).unwrap();
    let FeatureRun { rows: sip_rows, nodes: sip_names, stats: sip_stats } = sip.finish();
    let mut records = FeatureReplay::new(&config(&names));
    records.feed_records(BufReader::new(File::open(&xdr).unwrap()), RecordFormat::Csv);
    let FeatureRun { rows: record_rows, nodes: record_names, stats: record_stats } =
        records.finish();
    assert_eq!(sip_stats.parse_errors(), 0);
    assert_eq!(sip_stats.pipeline.unmapped, 0, "{sip_stats:?}");
    assert_eq!(record_stats.record_errors, 0);

    let sip = by_key(sip_rows, &sip_names);
    let rec = by_key(record_rows, &record_names);
    assert_eq!(sip.len(), 2 * 40, "one row per node and minute");
    assert_eq!(sip.keys().collect::<Vec<_>>(), rec.keys().collect::<Vec<_>>());

    // The comparison is only worth something if the compared features carry traffic.
    let compared: Vec<usize> =
        (0..catalogue().len()).filter(|&i| catalogue()[i].paths == Paths::Both).collect();
    let lively: Vec<&str> = compared
        .iter()
        .filter(|&&i| sip.values().any(|r| r.values[i] != 0.0))
        .map(|&i| catalogue()[i].name)
        .collect();
    for name in [
        "req_register",
        "req_invite",
        "timeout_register",
        "code_480",
        "code_580",
        "code_503",
        "code_408",
        "rt_register_mean_ms",
        "core_rt_invite_mean_ms",
        "invite_failure_rt_mean_ms",
        "core_timeout_ratio",
        "access_timeout_ratio",
        "distinct_dialogs",
        "invite_answer_ratio",
        "core_timeouts",
    ] {
        assert!(lively.contains(&name), "{name} is zero everywhere");
    }
    assert!(lively.len() >= 50, "only {} compared features are ever non-zero", lively.len());

    let mut mismatches = Vec::new();
    for (key, a) in &sip {
        let b = &rec[key];
        for (i, feature) in catalogue().iter().enumerate() {
            if feature.paths != Paths::Both {
                continue;
            }
            let (x, y) = (a.values[i], b.values[i]);
            let tolerance = 1e-3 * x.abs().max(1.0);
            if (x - y).abs() > tolerance {
                mismatches
                    .push(format!("{} {} {}: sip {x} records {y}", key.0, key.1, feature.name));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first:\n{}",
        mismatches.len(),
        mismatches.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// A captured message: capture time, source, destination, bytes.
type Captured = (u64, std::net::SocketAddr, std::net::SocketAddr, Vec<u8>);

/// Every message of a small simulated run.
fn simulated_messages(seed: u64) -> (Vec<Captured>, Vec<String>) {
    use imsight::sim::engine::{Output, TxnRecord};
    use imsight::sim::wire::{SimMessage, render};
    struct Collect(Vec<Captured>);
    impl Output for Collect {
        fn message(&mut self, m: &SimMessage) {
            let ((src, sport), (dst, dport)) = m.endpoints();
            let mut bytes = Vec::new();
            render(m, &mut bytes);
            self.0.push((m.ts, (src, sport).into(), (dst, dport).into(), bytes));
        }
        fn transaction(&mut self, _: &TxnRecord) {}
    }
    let scenario = Scenario::parse(
        "name = \"shuffle\"\nstart = \"2026-11-21T09:00:00Z\"\nduration_minutes = 6\n\
         nodes = [{ name = \"p\", subscribers = 2000 }]\n\
         faults = [{ node = \"p\", kind = \"capacity_limit\", onset_minute = 2, duration_minutes = 3, severity = 0.9 }]\n",
    )
    .unwrap();
    let nodes = scenario.resolve();
    let names = nodes.iter().map(|n| n.name.clone()).collect();
    let mut engine = imsight::sim::Engine::new(nodes, scenario.start_micros().unwrap(), 6, seed);
    let mut collect = Collect(Vec::new());
    engine.run(&mut collect);
    (collect.0, names)
}

fn replay_in_order(
    messages: &[(u64, std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)],
    order: &[usize],
    names: &[String],
) -> Vec<FeatureRow> {
    let mut replay = FeatureReplay::new(&config(names));
    for &i in order {
        let (ts, src, dst, bytes) = &messages[i];
        replay.feed_sip(*ts, *src, *dst, bytes);
    }
    let FeatureRun { rows, stats, .. } = replay.finish();
    assert_eq!(stats.pipeline.late, 0, "nothing arrives later than the allowed lateness");
    rows
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, ..Default::default() })]

    /// Arrivals shuffled by up to the allowed lateness give identical vectors.
    #[test]
    fn shuffling_within_the_lateness_changes_nothing(seed in 0u64..1000, shuffle_seed in proptest::prelude::any::<u64>()) {
        let (messages, names) = simulated_messages(seed);
        proptest::prop_assert!(messages.len() > 1000);
        let in_order: Vec<usize> = (0..messages.len()).collect();
        let expected = replay_in_order(&messages, &in_order, &names);
        // Each message arrives up to 5 s (the allowed lateness) after its capture time.
        let mut rng = imsight::sim::rng::Rng::new(shuffle_seed);
        let mut keyed: Vec<(u64, usize)> = messages.iter().enumerate().map(|(i, m)| (m.0 + rng.below(5_000_000), i)).collect();
        keyed.sort_unstable();
        let shuffled: Vec<usize> = keyed.iter().map(|&(_, i)| i).collect();
        proptest::prop_assert_ne!(&shuffled, &in_order);
        let actual = replay_in_order(&messages, &shuffled, &names);
        proptest::prop_assert_eq!(expected.len(), 6);
        for (a, b) in expected.iter().zip(&actual) {
            proptest::prop_assert_eq!((a.node, a.minute), (b.node, b.minute));
            for (x, y) in a.values.iter().zip(&b.values) {
                proptest::prop_assert_eq!(x.to_bits(), y.to_bits());
            }
        }
    }
}

/// A real capture, expectations derived by hand from its ground truth
/// (`tests/data/corpus/SOURCES.md`): SIPp (5070) registers through Kamailio (5060)
/// to a registrar (5090); Kamailio's pike module answers 34 REGISTERs with 503 itself and
/// relays 13 to the registrar (7 answered 401, 6 answered 200), and Kamailio sends a HEPv3 copy
/// of all 120 messages to 9060.
#[test]
fn golden_kamailio_pike_capture() {
    let path = common::corpus_file("generated-kamailio-sipp__pike.pcapng");
    let kamailio = NodeConfig {
        name: "kamailio".into(),
        access: vec!["127.0.0.1:5060".parse().unwrap()],
        ..NodeConfig::default()
    };
    let mut replay = FeatureReplay::new(&with_nodes(vec![kamailio]));
    replay.feed_capture(BufReader::new(File::open(&path).unwrap())).unwrap();
    let FeatureRun { rows, nodes: names, stats } = replay.finish();
    assert_eq!(names, vec!["kamailio".to_owned()]);
    assert_eq!(
        (stats.pipeline.messages, stats.pipeline.unmapped, stats.parse_errors()),
        (240, 0, 0)
    );
    assert_eq!(rows.len(), 1, "the capture lasts 2 s within one minute");
    let value = |name: &str| rows[0].values[index_of(name).unwrap()];
    // 47 transactions toward SIPp plus 13 toward the registrar.
    assert_eq!(value("req_register"), 60.0);
    assert_eq!(value("transactions"), 60.0);
    // 34 x 503 (pike), and the registrar's 7 x 401 and 6 x 200 counted on both sides.
    assert_eq!(value("resp_register_5xx"), 34.0);
    assert_eq!(value("code_503"), 34.0);
    assert_eq!(value("resp_register_4xx"), 14.0);
    assert_eq!(value("code_401"), 14.0);
    assert_eq!(value("resp_register_2xx"), 12.0);
    assert_eq!(value("register_success_ratio"), 0.2);
    assert_eq!(value("register_challenge_ratio"), 14.0 / 60.0);
    // Every message also arrives as a HEP copy within milliseconds: a duplicate, not a
    // retransmission, and not counted twice anywhere else.
    assert_eq!(value("messages"), 240.0);
    assert_eq!(value("duplicates"), 120.0);
    assert_eq!((value("retx_register"), value("retx_responses")), (0.0, 0.0));
    assert_eq!((value("timeout_register"), value("unmatched_responses")), (0.0, 0.0));
    // 40 registration flows, one Call-ID each.
    assert_eq!(value("distinct_dialogs"), 40.0);
    assert_eq!(value("no_records"), 0.0);
}

/// Corpus files with a time the feature path does not believe: (file, messages dropped, why).
const IMPLAUSIBLE_TIMES: &[(&str, u64, &str)] = &[(
    "pcapplusplus__sip_reqs.pcap",
    1,
    "four frames dated 2005, 2011, 2011 and 2016: the last, alone five years after the rest, is a jump of event time no later input confirms",
)];

/// Every file of the capture corpus, taken as one node: the feature path sees every
/// SIP message the ground truth counts (plain and inside HEP), and no message is lost.
#[test]
fn corpus_totals_survive_the_feature_path() {
    let dir = common::corpus();
    let expected: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected-counts.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for (file, want) in &expected {
        let total = |v: &serde_json::Value| {
            v["requests"]
                .as_object()
                .map_or(0, |m| m.values().map(|x| x.as_u64().unwrap()).sum::<u64>())
                + v["responses_by_class"]
                    .as_object()
                    .map_or(0, |m| m.values().map(|x| x.as_u64().unwrap()).sum::<u64>())
        };
        let dropped = IMPLAUSIBLE_TIMES.iter().find(|(name, ..)| name == file).map_or(0, |d| d.1);
        let messages = total(want) + want.get("hep").map_or(0, total) - dropped;
        let mut replay = FeatureReplay::new(&single_node("node"));
        replay.feed_capture(BufReader::new(File::open(dir.join(file)).unwrap())).unwrap();
        let FeatureRun { rows, stats, .. } = replay.finish();
        let seen: f32 = rows.iter().map(|r| r.values[index_of("messages").unwrap()]).sum();
        assert_eq!(stats.pipeline.messages, messages, "{file}");
        assert_eq!(seen as u64, messages, "{file}: the messages feature");
        assert_eq!(stats.pipeline.implausible_time, dropped, "{file}: dropped, and counted");
        checked += 1;
    }
    assert!(checked >= 30);
}

/// Rows leave the replay as their minutes close, not at the end: memory does not grow with the
/// input's length (256 nodes, one record every 61 minutes made 1.5 M rows held until the end).
#[test]
fn rows_stream_out_as_minutes_close() {
    #[derive(Default)]
    struct Counting {
        rows: u64,
        last_minute: u64,
    }
    impl imsight::dataset::RowSink for Counting {
        fn row(&mut self, row: FeatureRow, _: &[String]) {
            self.rows += 1;
            self.last_minute = self.last_minute.max(row.minute);
        }
    }
    let mut csv = String::from("start_time,end_time,latency_ms,node,procedure,result\n");
    for hour in 0..48 {
        csv.push_str(&format!(
            "2026-11-21T{:02}:{:02}:00Z,,40,pcscf-1,REGISTER,200\n",
            hour / 2 % 24,
            hour % 2 * 30
        ));
    }
    let mut settings = config(&[]);
    settings.pipeline.auto_discover = true;
    let mut replay = FeatureReplay::with_sink(&settings, Counting::default());
    replay.feed_records(csv.as_bytes(), RecordFormat::Csv);
    // Everything but the last minutes (within the lateness) has already been handed out.
    let before_finish = replay.sink().rows;
    // (Each half-hour step is a jump of event time that the next record confirms.)
    assert!(before_finish >= 22 * 60, "rows handed out before the end: {before_finish}");
    let run = replay.finish();
    assert_eq!(run.rows.rows, 23 * 60 + 30 + 1, "one row per minute from the first to the last");
}

/// One absurd timestamp must not make everything after it late: a record dated in the year
/// 33658 among 200 ordinary ones is dropped and counted, and the rest are all used.
#[test]
fn one_absurd_record_time_is_dropped_not_followed() {
    let mut csv = String::from("start_time,end_time,latency_ms,node,procedure,result\n");
    for i in 0..200u64 {
        let start = if i == 11 { 999_999_999_999 } else { 1_795_291_200 + i };
        csv.push_str(&format!("{start},,40,pcscf-1,OPTIONS,200\n"));
    }
    let mut settings = config(&[]);
    settings.pipeline.auto_discover = true;
    let mut replay = FeatureReplay::new(&settings);
    replay.feed_records(csv.as_bytes(), RecordFormat::Csv);
    let FeatureRun { rows, stats, .. } = replay.finish();
    assert_eq!((stats.pipeline.late, stats.pipeline.implausible_time), (0, 1), "{stats:?}");
    let transactions: f32 = rows.iter().map(|r| r.values[index_of("transactions").unwrap()]).sum();
    assert_eq!(transactions, 199.0);
    assert!(rows.len() <= 5, "no rows up to the year 33658: {}", rows.len());
}

/// The same for a capture: one frame with a garbage timestamp (year 2106) in the middle of a
/// simulated busy quarter hour.
#[test]
fn one_absurd_frame_time_is_dropped_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    let scenario = Scenario::parse(
        "name = \"garbage-time\"\nstart = \"2026-11-21T09:00:00Z\"\nduration_minutes = 15\nseed = 4\n\
         nodes = [{ name = \"pcscf-a\", subscribers = 400 }]\n",
    )
    .unwrap();
    let start = scenario.start_micros().unwrap();
    let nodes = scenario.resolve();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut outputs = Outputs::new(Summary::new("t", 4, start, 15, &nodes), start);
    outputs.pcap = Some(PcapWriter::create(&pcap).unwrap());
    imsight::sim::run(&scenario, 4, &mut outputs);
    outputs.finish().unwrap();
    let run = |bytes: &[u8]| {
        let mut replay = FeatureReplay::new(&config(&names));
        replay.feed_capture(bytes).unwrap();
        replay.finish()
    };
    let clean = std::fs::read(&pcap).unwrap();
    let mut garbage = clean.clone();
    // The 100th frame's seconds field: 24-byte file header, then 16-byte record headers.
    let mut offset = 24;
    for _ in 0..99 {
        let length = u32::from_le_bytes(garbage[offset + 8..offset + 12].try_into().unwrap());
        offset += 16 + length as usize;
    }
    garbage[offset..offset + 4].copy_from_slice(&0xFFFF_0000u32.to_le_bytes());
    let (clean, garbage) = (run(&clean), run(&garbage));
    assert_eq!(garbage.stats.pipeline.implausible_time, 1, "{:?}", garbage.stats);
    assert_eq!(garbage.stats.pipeline.late, 0);
    assert_eq!(garbage.stats.pipeline.messages, clean.stats.pipeline.messages - 1);
    assert_eq!(garbage.rows.len(), clean.rows.len(), "the same minutes, none in 2106");
}

/// One lateness rule, the documented one: an input is late only when its minute has closed.
/// OPTIONS completing at 10 s, 20 s, then 12 s of one open minute count 3; a probe record
/// dated before the newest minus the lateness, in a minute still open, is not lost.
#[test]
fn inputs_are_late_only_when_their_minute_has_closed() {
    let csv = "start_time,end_time,latency_ms,node,procedure,result\n\
               2026-11-21T09:00:09Z,2026-11-21T09:00:10Z,,p,OPTIONS,200\n\
               2026-11-21T09:00:19Z,2026-11-21T09:00:20Z,,p,OPTIONS,200\n\
               2026-11-21T09:00:11Z,2026-11-21T09:00:12Z,,p,OPTIONS,200\n\
               2026-11-21T09:01:30Z,2026-11-21T09:01:31Z,,p,OPTIONS,200\n\
               2026-11-21T09:00:40Z,2026-11-21T09:00:41Z,,p,OPTIONS,200\n";
    let mut settings = config(&[]);
    settings.pipeline.auto_discover = true;
    let mut replay = FeatureReplay::new(&settings);
    replay.feed_records(csv.as_bytes(), RecordFormat::Csv);
    let FeatureRun { rows, stats, .. } = replay.finish();
    let options = |row: &FeatureRow| row.values[index_of("req_options").unwrap()];
    assert_eq!(options(&rows[0]), 3.0, "minute 09:00 was open for the 12 s record");
    // 09:00:41 comes after 09:01:31, beyond the lateness, when minute 09:00 has closed.
    assert_eq!(stats.pipeline.late, 1);
    assert_eq!(rows[1].values[index_of("late_records").unwrap()], 1.0);

    // The documented sample: every valid record counts.
    let sample = common::repo("tests/data/xdr/pcscf-sample.csv");
    let mut replay = FeatureReplay::new(&settings);
    replay.feed_records(BufReader::new(File::open(sample).unwrap()), RecordFormat::Csv);
    let FeatureRun { rows, stats, .. } = replay.finish();
    let transactions: f32 = rows.iter().map(|r| r.values[index_of("transactions").unwrap()]).sum();
    assert_eq!((transactions, stats.pipeline.late), (7.0, 0), "{stats:?}");
}

/// A probe record whose result is provisional saw no final response: a timeout, not a 180.
#[test]
fn a_provisional_record_result_is_a_timeout() {
    let csv = "start_time,end_time,latency_ms,node,procedure,result\n\
               2026-11-21T09:00:01Z,2026-11-21T09:00:31Z,,p,INVITE,180\n";
    let mut settings = config(&[]);
    settings.pipeline.auto_discover = true;
    let mut replay = FeatureReplay::new(&settings);
    replay.feed_records(csv.as_bytes(), RecordFormat::Csv);
    let FeatureRun { rows, .. } = replay.finish();
    let at = |name: &str| rows[0].values[index_of(name).unwrap()];
    // A timeout is a response time of its own length, not a 180 and not none.
    assert_eq!((at("timeout_invite"), at("code_180")), (1.0, 0.0));
    assert_eq!(at("invite_first_response_mean_ms"), 32_000.0, "timed out at start + 32 s");
}

/// A dead probe is not a blackout: when the source stops, the transactions it left open time
/// out inside the silence, and a minute of such timeouts alone is flagged `source_silent`.
#[test]
fn timeouts_alone_do_not_make_a_silent_source_look_alive() {
    let names = vec!["p".to_owned()];
    let mut replay = FeatureReplay::new(&config(&names));
    let ue: std::net::SocketAddr = "10.1.0.1:5060".parse().unwrap();
    let pcscf = std::net::SocketAddr::new(pcscf_access(0).into(), 5060);
    let invite = |call: u32| {
        format!(
            "INVITE sip:b@ims SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.1;branch=z9hG4bK{call}\r\nFrom: <sip:a@ims>;tag=1\r\nTo: <sip:b@ims>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let t0 = 1_795_338_000_000_000; // 2026-11-22T09:00:00Z
    replay.feed_sip(t0 + 50_000_000, ue, pcscf, invite(1).as_bytes());
    // The probe is silent until 09:03:10.
    replay.feed_sip(t0 + 190_000_000, ue, pcscf, invite(2).as_bytes());
    let FeatureRun { rows, stats, .. } = replay.finish();
    // The last INVITE was still waiting when the input ended: reported, in no minute.
    assert_eq!(stats.pipeline.open_transactions, 1);
    let minute = |m: u64| rows.iter().find(|r| r.minute == t0 + m * 60_000_000).unwrap();
    assert!(!minute(0).source_silent);
    let gap = minute(1);
    assert_eq!(
        gap.values[index_of("timeout_invite").unwrap()],
        1.0,
        "the open INVITE timed out at 09:01:22"
    );
    assert!(gap.source_silent, "no message was captured in 09:01");
    assert!(minute(2).source_silent);
}

/// A live source that goes wholly silent: wall-clock ticks close its minutes (flagged
/// `source_silent`), while ticks during traffic, or for old traffic, change nothing.
#[test]
fn a_silent_live_source_closes_its_minutes_by_the_wall_clock() {
    use imsight::pipeline::FeaturePipeline;
    use imsight::sources::{CaptureEvent, CapturedSip};
    let names = vec!["p".to_owned()];
    let mut pipeline = FeaturePipeline::new(&config(&names).pipeline);
    let ue: std::net::SocketAddr = "10.1.0.1:5060".parse().unwrap();
    let pcscf = std::net::SocketAddr::new(pcscf_access(0).into(), 5060);
    let options = |n: u32| {
        format!(
            "OPTIONS sip:p@ims SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.1;branch=z9hG4bK{n}\r\nFrom: <sip:a@ims>;tag=1\r\nTo: <sip:p@ims>\r\nCall-ID: o{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let t0 = 1_795_338_000_000_000; // 2026-11-22T09:00:00Z
    let mut out = Vec::new();
    for n in 0..5 {
        let (bytes, ts) = (options(n), t0 + u64::from(n) * 10_000_000);
        let sip = CapturedSip {
            ts: Some(ts),
            src: Some(ue),
            dst: Some(pcscf),
            hep: None,
            bytes: bytes.as_bytes(),
        };
        pipeline.capture_event(CaptureEvent::Sip(sip), &mut out);
        pipeline.capture_event(CaptureEvent::FrameDone { ts }, &mut out);
    }
    // Traffic came since the last tick: the traffic's time stays.
    pipeline.wall_clock(t0 + 50_000_000, &mut out);
    assert!(out.is_empty());
    // Old traffic (a replay): the wall clock is a day ahead, nothing moves.
    let mut replayed = FeaturePipeline::new(&config(&names).pipeline);
    let bytes = options(9);
    let sip = CapturedSip {
        ts: Some(t0),
        src: Some(ue),
        dst: Some(pcscf),
        hep: None,
        bytes: bytes.as_bytes(),
    };
    replayed.capture_event(CaptureEvent::Sip(sip), &mut out);
    replayed.capture_event(CaptureEvent::FrameDone { ts: t0 }, &mut out);
    replayed.wall_clock(t0 + 86_400_000_000, &mut out);
    replayed.wall_clock(t0 + 86_410_000_000, &mut out);
    assert!(out.is_empty(), "a replay of old traffic is not moved by the wall clock");
    // Silence: the next ticks move event time along the wall clock; minutes close.
    pipeline.wall_clock(t0 + 120_000_000, &mut out);
    pipeline.wall_clock(t0 + 250_000_000, &mut out);
    let minutes: Vec<(u64, bool)> =
        out.iter().map(|r| ((r.minute - t0) / 60_000_000, r.source_silent)).collect();
    assert_eq!(minutes, [(0, false), (1, true), (2, true), (3, true)], "{minutes:?}");
}
