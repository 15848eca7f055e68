//! Probe records: the CSV and JSON-lines forms of the same transactions read the same, and
//! rejected lines are named by line and column.

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use imsight::inspect::inspect_file;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xdr").join(name)
}

#[test]
fn csv_and_json_lines_of_the_same_transactions_agree() {
    let csv = inspect_file(&data("pcscf-sample.csv")).unwrap();
    let json = inspect_file(&data("pcscf-sample.jsonl")).unwrap();
    assert_eq!((csv.format, json.format), ("xdr-csv", "xdr-jsonl"));
    assert_eq!(csv.records, 7);
    assert_eq!(csv.timeouts, 1);
    assert_eq!(csv.sip, json.sip);
    assert_eq!(csv.timeouts, json.timeouts);
    assert_eq!(csv.errors, json.errors);
    assert_eq!(csv.sip.requests["INVITE"], 3);
    assert_eq!(csv.sip.responses_by_code["486"], 1);
}

#[test]
fn rejected_lines_name_line_and_column() {
    let csv = inspect_file(&data("pcscf-sample.csv")).unwrap();
    assert_eq!(
        csv.error_samples,
        vec![
            "line 10: column 6 (`result`): invalid field value".to_owned(),
            "line 11: column 4 (`node`): missing required field".to_owned(),
        ]
    );
    let json = inspect_file(&data("pcscf-sample.jsonl")).unwrap();
    assert_eq!(
        json.error_samples,
        vec![
            "line 8: field `result`: invalid field value".to_owned(),
            "line 9: field `node`: missing required field".to_owned(),
        ]
    );
}

#[test]
fn a_csv_without_a_usable_header_stops_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.csv");
    std::fs::write(&path, "when,where\n1,2\n").unwrap();
    let report = inspect_file(&path).unwrap();
    assert_eq!(report.records, 0);
    assert_eq!(report.errors.get("invalid_header_row"), Some(&1));
    assert_eq!(
        report.error_samples,
        vec!["line 1: field `start_time`: invalid CSV header row".to_owned()]
    );
}

/// A line beyond the documented 16 KiB is skipped without being held, counted, and the lines
/// after it are read.
#[test]
fn an_oversized_line_is_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.csv");
    let mut text = String::from("start_time,end_time,latency_ms,node,procedure,result\n");
    text.push_str("2026-11-21T20:00:00Z,,40,pcscf-1,REGISTER,200\n");
    text.push_str(&format!(
        "2026-11-21T20:00:01Z,,40,pcscf-1,REGISTER,200,{}\n",
        "x".repeat(1 << 20)
    ));
    text.push_str("2026-11-21T20:00:02Z,,40,pcscf-1,INVITE,486\n");
    std::fs::write(&path, text).unwrap();
    let report = inspect_file(&path).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(report.errors.get("line_too_long"), Some(&1), "{:?}", report.errors);
    assert!(
        report.error_samples.iter().any(|s| s.starts_with("line 3:")),
        "{:?}",
        report.error_samples
    );
}

/// A record copied to cross threads reads back as the record it was, extension methods and
/// all (the live directory source sends records to the pipeline this way).
#[test]
fn an_owned_record_reads_back_as_the_original() {
    use imsight::sources::{OwnedRecord, RecordFormat, read_records};
    let text = std::fs::read_to_string(data("pcscf-sample.csv")).unwrap()
        + "2026-11-21T20:00:09.000000Z,2026-11-21T20:00:09.010000Z,10,pcscf-1,FOO,200,,call-x,access,in,\n";
    let mut originals = Vec::new();
    let mut copies = Vec::new();
    read_records(std::io::Cursor::new(text), RecordFormat::Csv, |_, line| {
        if let Ok(record) = line {
            originals.push(format!("{record:?}"));
            copies.push(OwnedRecord::new(record));
        }
        std::ops::ControlFlow::Continue(())
    });
    let read_back: Vec<String> = copies.iter().map(|c| format!("{:?}", c.as_record())).collect();
    assert_eq!(read_back, originals);
    assert!(read_back.iter().any(|r| r.contains("Extension(\"FOO\")")), "{read_back:?}");
}
