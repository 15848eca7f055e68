//! Probe-record lines: CSV (with a fuzzed header row) and JSON.
#![no_main]

use imsight_parsers::xdr::{CsvHeader, parse_csv_record, parse_json_record, time::parse_timestamp};
use libfuzzer_sys::fuzz_target;

const HEADER: &str =
    "start_time,end_time,latency_ms,node,procedure,result,subscriber,call_id,leg,direction,cause";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let _ = parse_timestamp(first);
    let _ = parse_json_record(first);
    let fixed = CsvHeader::parse(HEADER).expect("the documented header parses");
    let _ = parse_csv_record(&fixed, first);
    if let Ok(header) = CsvHeader::parse(first) {
        for line in lines {
            let _ = parse_csv_record(&header, line);
            let _ = parse_json_record(line);
        }
    }
});
