//! The simulator: deterministic for a seed, its summary agrees with an independent read of
//! its own capture, its labels are the scenario's timeline, and every fault leaves the
//! signature docs/simulator.md describes.

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use imsight::inspect::inspect_file;
use imsight::sim::output::{PcapWriter, XdrWriter};
use imsight::sim::summary::MinuteSeries;
use imsight::sim::{Outputs, Scenario, Summary};

/// Every fault for five minutes on a small node, each followed by ten normal minutes.
const ALL_FAULTS: &str = r#"
name = "all-faults-small"
start = "2026-11-23T09:00:00Z"
duration_minutes = 115
seed = 3
nodes = [{ name = "pcscf-a", subscribers = 1500 }, { name = "pcscf-b", profile = "enterprise_trunk", subscribers = 300 }]
faults = [
  { node = "pcscf-a", kind = "hss_link_down", onset_minute = 10, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-a", kind = "capacity_limit", onset_minute = 25, duration_minutes = 5, severity = 0.8 },
  { node = "pcscf-a", kind = "traffic_blocked", onset_minute = 40, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-a", kind = "scscf_down", onset_minute = 55, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-a", kind = "pcrf_rx_failure", onset_minute = 70, duration_minutes = 5, severity = 1.0 },
  { node = "pcscf-a", kind = "registration_storm", onset_minute = 85, duration_minutes = 5, severity = 0.8 },
  { node = "pcscf-a", kind = "invite_flood", onset_minute = 100, duration_minutes = 5, severity = 0.9 },
]
"#;

struct Run {
    summary: Summary,
    pcap: Vec<u8>,
    xdr: Vec<u8>,
    _dir: tempfile::TempDir,
    pcap_path: PathBuf,
    xdr_path: PathBuf,
}

fn simulate(text: &str, seed: u64) -> Run {
    let scenario = Scenario::parse(text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (pcap_path, xdr_path) = (dir.path().join("t.pcap"), dir.path().join("t.csv"));
    let start = scenario.start_micros().unwrap();
    let nodes = scenario.resolve();
    let names = nodes.iter().map(|n| n.name.clone()).collect();
    let mut outputs = Outputs::new(
        Summary::new(&scenario.name, seed, start, scenario.duration_minutes, &nodes),
        start,
    );
    outputs.pcap = Some(PcapWriter::create(&pcap_path).unwrap());
    outputs.xdr = Some(XdrWriter::create(&xdr_path, names).unwrap());
    imsight::sim::run(&scenario, seed, &mut outputs);
    outputs.finish().unwrap();
    Run {
        summary: outputs.summary,
        pcap: std::fs::read(&pcap_path).unwrap(),
        xdr: std::fs::read(&xdr_path).unwrap(),
        _dir: dir,
        pcap_path,
        xdr_path,
    }
}

#[test]
fn the_same_seed_gives_byte_identical_outputs() {
    let short = r#"
        name = "determinism"
        start = "2026-11-21T09:00:00Z"
        duration_minutes = 30
        nodes = [{ name = "pcscf-a", subscribers = 1500 }, { name = "pcscf-b", profile = "volte_heavy", subscribers = 800 }]
        faults = [
          { node = "pcscf-a", kind = "hss_link_down", onset_minute = 10, duration_minutes = 5, severity = 1.0 },
          { node = "pcscf-a", kind = "dns_failure", onset_minute = 12, duration_minutes = 5, severity = 0.5, share = 0.5 },
          { node = "pcscf-b", kind = "capacity_limit", onset_minute = 12, ramp_minutes = 3, duration_minutes = 10, severity = 0.9 },
          { node = "pcscf-b", kind = "ipsec_sa_failure", onset_minute = 5, duration_minutes = 10, severity = 1.0, flap_on_minutes = 1, flap_off_minutes = 2 },
        ]
        events = [
          { node = "pcscf-a", kind = "planned_restart", onset_minute = 20, duration_minutes = 5 },
          { node = "pcscf-b", kind = "probe_gap", onset_minute = 25, duration_minutes = 2 },
        ]
    "#;
    let (a, b) = (simulate(short, 11), simulate(short, 11));
    assert!(a.pcap.len() > 1_000_000, "a real amount of traffic: {} bytes", a.pcap.len());
    assert!(a.pcap == b.pcap, "pcap differs");
    assert!(a.xdr == b.xdr, "probe records differ");
    assert_eq!(a.summary.labels_jsonl(), b.summary.labels_jsonl());
    assert_eq!(
        serde_json::to_string(&a.summary).unwrap(),
        serde_json::to_string(&b.summary).unwrap()
    );
    let other = simulate(short, 12);
    assert!(other.pcap != a.pcap, "another seed gives other traffic");
}

/// The summary of a run, without writing any traffic.
fn summarise(text: &str, seed: u64) -> Summary {
    summarise_scenario(&Scenario::parse(text).unwrap(), seed)
}

fn summarise_scenario(scenario: &Scenario, seed: u64) -> Summary {
    assert!(scenario.problems().is_empty(), "{:?}", scenario.problems());
    let start = scenario.start_micros().unwrap();
    let nodes = scenario.resolve();
    let summary = Summary::new(&scenario.name, seed, start, scenario.duration_minutes, &nodes);
    let mut outputs = Outputs::new(summary, start);
    imsight::sim::run(scenario, seed, &mut outputs);
    outputs.summary
}

fn mean_of(
    minutes: &[MinuteSeries],
    range: std::ops::Range<usize>,
    f: fn(&MinuteSeries) -> u64,
) -> f64 {
    let n = range.len() as f64;
    minutes[range].iter().map(|m| f(m) as f64).sum::<f64>() / n
}

/// A storm re-registers UEs: each keeps one refresh timer, so once the storm's backlog has
/// cleared, REGISTERs come back to their rate before it (over whole refresh cycles, ~47 min).
#[test]
fn an_hour_after_a_storm_the_register_rate_is_back_to_its_baseline() {
    let text = r#"
        name = "storm"
        start = "2026-11-23T06:00:00Z"
        duration_minutes = 290
        nodes = [{ name = "pcscf-a", subscribers = 2000 }]
        faults = [{ node = "pcscf-a", kind = "registration_storm", onset_minute = 100, duration_minutes = 10, severity = 0.8 }]
    "#;
    let summary = summarise(text, 21);
    let minutes = &summary.nodes[0].minutes;
    let before = mean_of(minutes, 0..100, |m| m.registers);
    let during = mean_of(minutes, 100..110, |m| m.registers);
    let after = mean_of(minutes, 170..270, |m| m.registers);
    assert!(during > 3.0 * before, "a storm: {during} vs {before}");
    assert!((after / before - 1.0).abs() < 0.1, "an hour after: {after} vs {before} before");
}

/// UEs power on (and off): initial registrations, with their reg-event subscriptions, happen
/// on a normal day, as many as `attach_rate` says.
#[test]
fn ues_power_on_and_off_and_subscribe_on_a_normal_day() {
    let run = |rate: f64| {
        let mut profile = imsight::sim::NetworkProfile::named("small_operator").unwrap();
        profile.name = "custom".into();
        profile.attach_rate = rate;
        // Nothing else that makes UEs register from scratch: no de-registrations by the
        // network, no failures that UEs retry.
        profile.background.network_deregistration_rate = 0.0;
        profile.background.hiccups_per_day = 0.0;
        profile.background.server_error_share = 0.0;
        profile.background.core_timeout_share = 0.0;
        profile.background.unreachable_share = 0.0;
        profile.variety.jitter = 0.0;
        let scenario = Scenario {
            name: "attach".into(),
            start: "2026-11-23T10:00:00Z".into(),
            duration_minutes: 30,
            seed: 4,
            profile: "custom".into(),
            profiles: vec![profile],
            nodes: vec![imsight::sim::scenario::ScenarioNode {
                name: "pcscf-a".into(),
                profile: None,
                subscribers: Some(3000),
            }],
            faults: Vec::new(),
            events: Vec::new(),
            holidays: Vec::new(),
        };
        summarise_scenario(&scenario, 4)
    };
    let subscribes =
        |summary: &Summary| summary.nodes[0].counts.requests.get("SUBSCRIBE").copied().unwrap_or(0);
    let (none, some) = (run(0.0), run(0.2));
    // 3000 × 0.2 per hour × half an hour = 300 power-ons (with two SUBSCRIBEs each).
    assert!(subscribes(&some) > 200, "{}", subscribes(&some));
    assert!(subscribes(&none) < subscribes(&some) / 10, "{}", subscribes(&none));
}

#[test]
fn the_summary_matches_an_independent_read_of_the_capture() {
    let run = simulate(ALL_FAULTS, 3);
    let read = inspect_file(&run.pcap_path).unwrap();
    assert_eq!(read.sip, run.summary.overall, "inspect and the simulator disagree");
    assert_eq!(read.frames, run.summary.messages);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    assert!(read.anomalies.is_empty(), "{:?}", read.anomalies);
    let mut per_node = imsight::inspect::SipCounts::default();
    for node in &run.summary.nodes {
        per_node.merge(&node.counts);
    }
    assert_eq!(per_node, run.summary.overall);

    let records = inspect_file(&run.xdr_path).unwrap();
    assert!(records.errors.is_empty(), "{:?}", records.error_samples);
    let transactions: u64 = run.summary.nodes.iter().map(|n| n.transactions).sum();
    assert_eq!(records.records, transactions);
}

#[test]
fn labels_follow_the_scenario_timeline() {
    let run = simulate(ALL_FAULTS, 3);
    let labels: Vec<serde_json::Value> =
        run.summary.labels_jsonl().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(labels.len(), 2 * 115);
    let at = |node: &str, minute: usize| {
        labels.iter().filter(|l| l["node"] == node).nth(minute).unwrap().clone()
    };
    assert_eq!(at("pcscf-a", 9)["class"], "normal");
    assert_eq!(at("pcscf-a", 10)["class"], "hss_link_down");
    assert_eq!(at("pcscf-a", 14)["severity"], 1.0);
    // After the fault, the minutes until the traffic is back in its normal band are its
    // recovery; then normal again.
    let after: Vec<serde_json::Value> = (15..20).map(|m| at("pcscf-a", m)).collect();
    assert!(after.iter().all(|l| l["class"] == "normal" || l["phase"] == "recovery"), "{after:?}");
    assert!((15..25).any(|m| at("pcscf-a", m)["class"] == "normal"), "the tail ends");
    assert_eq!(at("pcscf-a", 12)["phase"], "steady");
    assert_eq!(at("pcscf-a", 102)["class"], "invite_flood");
    assert!(labels.iter().filter(|l| l["node"] == "pcscf-b").all(|l| l["class"] == "normal"));
    assert_eq!(at("pcscf-a", 0)["minute"], "2026-11-23T09:00:00.000000Z");
}

/// Mean of `f` over the node's minutes labelled `label` (skipping its first minute, the ramp).
fn mean(minutes: &[MinuteSeries], label: &str, f: impl Fn(&MinuteSeries) -> f64) -> f64 {
    let chosen: Vec<f64> = minutes
        .iter()
        .enumerate()
        .filter(|(i, m)| m.label == label && (label == "normal" || minutes[i - 1].label == label))
        .filter(|(_, m)| m.phase != Some("recovery"))
        .map(|(_, m)| f(m))
        .collect();
    chosen.iter().sum::<f64>() / chosen.len().max(1) as f64
}

fn code(m: &MinuteSeries, code: &str) -> f64 {
    m.counts.responses_by_code.get(code).copied().unwrap_or(0) as f64
}

fn requests(m: &MinuteSeries, method: &str) -> f64 {
    m.counts.requests.get(method).copied().unwrap_or(0) as f64
}

#[test]
fn every_fault_leaves_its_signature() {
    let run = simulate(ALL_FAULTS, 3);
    let minutes = &run.summary.nodes[0].minutes;
    let normal = |f: &dyn Fn(&MinuteSeries) -> f64| mean(minutes, "normal", f);
    let during = |label: &str, f: &dyn Fn(&MinuteSeries) -> f64| mean(minutes, label, f);

    // HSS unreachable: REGISTERs answered 480 after Diameter timeouts, and retransmitted.
    assert!(
        during("hss_link_down", &|m| code(m, "480")) > 20.0 * normal(&|m| code(m, "480")).max(1.0)
    );
    assert!(during("hss_link_down", &|m| m.register_ms.unwrap_or(0.0)) > 2000.0);
    assert!(normal(&|m| m.register_ms.unwrap_or(50.0)) < 200.0);
    // Saturation: 503 from the node itself (how many depends on the load of the hour),
    // slower answers.
    assert!(
        during("capacity_limit", &|m| code(m, "503")) > 3.0 * normal(&|m| code(m, "503")).max(1.0)
    );
    assert!(
        during("capacity_limit", &|m| m.register_ms.unwrap_or(0.0))
            > 3.0 * normal(&|m| m.register_ms.unwrap_or(0.0))
    );
    // Black hole: core timeouts and 408, nothing answered.
    assert!(during("traffic_blocked", &|m| m.core_timeouts as f64) > 10.0);
    assert!(during("traffic_blocked", &|m| code(m, "408")) > 10.0);
    assert!(during("traffic_blocked", &|m| code(m, "200")) < 0.1 * normal(&|m| code(m, "200")));
    // S-CSCF down: 504 for registrations, its requests time out (408), calls disappear.
    assert!(during("scscf_down", &|m| code(m, "504")) > 10.0);
    assert!(during("scscf_down", &|m| code(m, "408")) > 5.0 * normal(&|m| code(m, "408")).max(1.0));
    assert!(during("scscf_down", &|m| code(m, "200")) < 0.6 * normal(&|m| code(m, "200")));
    // Rx failure: 580 on calls while registrations stay healthy.
    assert!(during("pcrf_rx_failure", &|m| code(m, "580")) > 5.0);
    // (a callee's UE that cannot reserve its bearer answers 580 now and then too)
    assert!(during("pcrf_rx_failure", &|m| code(m, "580")) > 20.0 * normal(&|m| code(m, "580")));
    assert!(during("pcrf_rx_failure", &|m| m.register_ms.unwrap_or(50.0)) < 200.0);
    // Storm: many more REGISTERs.
    assert!(
        during("registration_storm", &|m| requests(m, "REGISTER"))
            > 5.0 * normal(&|m| requests(m, "REGISTER"))
    );
    // Flood: many more INVITEs, mostly to unknown numbers.
    assert!(
        during("invite_flood", &|m| requests(m, "INVITE"))
            > 5.0 * normal(&|m| requests(m, "INVITE"))
    );
    assert!(
        during("invite_flood", &|m| code(m, "404")) > 10.0 * normal(&|m| code(m, "404")).max(1.0)
    );
}

#[test]
fn every_shipped_scenario_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 4);
}

#[test]
fn hep_output_arrives_as_decodable_hepv3() {
    use std::net::UdpSocket;
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Datagrams come every few milliseconds; a second of silence means the sender is done.
    receiver.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    let address = receiver.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("hep.toml");
    std::fs::write(
        &scenario,
        "name = \"hep\"\nstart = \"2026-11-21T09:00:00Z\"\nduration_minutes = 2\nnodes = [{ name = \"pcscf-7\", subscribers = 200 }]\n",
    )
    .unwrap();
    let summary_path = dir.path().join("summary.json");
    let receiving = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65_535];
        let mut packets = Vec::new();
        while let Ok(len) = receiver.recv(&mut buffer) {
            packets.push(buffer[..len].to_vec());
        }
        packets
    });
    // Two simulated minutes in about half a second, paced, so loopback does not overflow.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_imsight"))
        .args([
            "simulate",
            "--scenario",
            scenario.to_str().unwrap(),
            "--hep",
            &address,
            "--speed",
            "240",
        ])
        .args(["--summary", summary_path.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let packets = receiving.join().unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert!(packets.len() > 100, "{} datagrams", packets.len());
    assert_eq!(packets.len() as u64, summary["messages"].as_u64().unwrap());
    for packet in &packets {
        let hep = imsight_parsers::hep::parse_hep_datagram(packet).unwrap();
        assert!(hep.is_sip());
        assert_eq!(hep.node_name, Some(&b"pcscf-7"[..]));
        assert_eq!(hep.capture_id, Some(2001));
        let payload = hep.payload_bytes().unwrap();
        assert!(imsight_parsers::sip::parse_sip_message(&payload).is_ok());
    }
}
