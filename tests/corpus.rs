//! Every capture of the SIP corpus, inspected, against the tshark ground truth in
//! `tests/data/corpus/expected-counts.json` (plain SIP counts, and the HEP counts
//! from an independent HEPv3 decoder for files that carry HEP).
//!
//! Where imsight deliberately differs, `EXPECTED_DIFFERENCES` says so and why; today there
//! is no such file.

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use imsight::inspect::{FileReport, SipCounts, inspect_file};
use serde_json::Value;

mod common;
use common::corpus;

/// (file, what differs, why). Empty: every count matches tshark.
const EXPECTED_DIFFERENCES: &[(&str, &str, &str)] = &[];

fn as_counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .map(|map| map.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect())
        .unwrap_or_default()
}

fn compare(
    file: &str,
    scope: &str,
    expected: &Value,
    actual: &SipCounts,
    mismatches: &mut Vec<String>,
) {
    let mut check = |what: &str, want: BTreeMap<String, u64>, got: &BTreeMap<String, u64>| {
        if &want != got {
            mismatches.push(format!("{file} {scope} {what}: expected {want:?}, got {got:?}"));
        }
    };
    check("requests", as_counts(&expected["requests"]), &actual.requests);
    check(
        "responses_by_class",
        as_counts(&expected["responses_by_class"]),
        &actual.responses_by_class,
    );
    check(
        "responses_by_code",
        as_counts(&expected["responses_by_code"]),
        &actual.responses_by_code,
    );
    for (key, got) in
        [("requests_total", actual.requests_total()), ("responses_total", actual.responses_total())]
    {
        if let Some(want) = expected[key].as_u64()
            && want != got
        {
            mismatches.push(format!("{file} {scope} {key}: expected {want}, got {got}"));
        }
    }
}

#[test]
fn every_corpus_file_matches_the_ground_truth() {
    let dir = corpus();
    let expected: BTreeMap<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected-counts.json"))
            .unwrap_or_else(|e| panic!("the capture corpus must be at {}: {e}", dir.display())),
    )
    .unwrap();
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pcap") || name.ends_with(".pcapng"))
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        expected.keys().cloned().collect::<Vec<_>>(),
        "corpus and expectations differ"
    );
    assert!(on_disk.len() >= 30, "the corpus has {} files", on_disk.len());

    let mut mismatches = Vec::new();
    for (file, want) in &expected {
        if EXPECTED_DIFFERENCES.iter().any(|(f, _, _)| f == file) {
            continue;
        }
        let report: FileReport = inspect_file(&dir.join(file)).unwrap();
        if want["frames"].as_u64() != Some(report.frames) {
            mismatches
                .push(format!("{file} frames: expected {}, got {}", want["frames"], report.frames));
        }
        compare(file, "sip", want, &report.sip, &mut mismatches);
        match want.get("hep") {
            Some(hep) => {
                compare(file, "hep", hep, &report.hep.sip, &mut mismatches);
                for (key, got) in [
                    ("hep_packets", report.hep.hep_packets),
                    ("hep_non_sip_packets", report.hep.hep_non_sip_packets),
                ] {
                    if hep[key].as_u64() != Some(got) {
                        mismatches.push(format!("{file} {key}: expected {}, got {got}", hep[key]));
                    }
                }
            }
            None if report.hep.hep_packets > 0 => {
                mismatches
                    .push(format!("{file}: {} unexpected HEP packets", report.hep.hep_packets));
            }
            None => {}
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn negative_samples_yield_no_sip_and_no_errors() {
    for file in ["ndpi__http_on_sip_port.pcap", "suricata-verify__sip-ssdp-pm__ssdp.pcap"] {
        let report = inspect_file(&corpus().join(file)).unwrap();
        assert_eq!(report.sip.requests_total() + report.sip.responses_total(), 0, "{file}");
        assert!(report.errors.is_empty(), "{file}: {:?}", report.errors);
    }
    let http = inspect_file(&corpus().join("ndpi__http_on_sip_port.pcap")).unwrap();
    assert_eq!(http.decode.tcp_not_sip_streams, 2, "HTTP on port 5060 is recognised as not SIP");
}

#[test]
fn transport_work_is_visible_in_the_report() {
    let frag = inspect_file(&corpus().join("sngrep__ipv6frag.pcap")).unwrap();
    assert_eq!((frag.decode.ip_fragments, frag.decode.ip_reassembled), (4, 2));
    let ipip = inspect_file(&corpus().join("sngrep__ipip.pcap")).unwrap();
    assert_eq!(ipip.decode.tunnelled, 2);
    let large =
        inspect_file(&corpus().join("suricata-verify__sip-body-large__sip-body-large.pcap"))
            .unwrap();
    assert_eq!(large.sip.requests_total(), 1, "a 64 KiB INVITE over 5 TCP segments");
    let bad_length = inspect_file(&corpus().join("zeek__invalid-content-length.pcap")).unwrap();
    assert_eq!(bad_length.anomalies.get("invalid_content_length"), Some(&2));
}
