//! `inspect` for probe-record (xDR) files: CSV or JSON lines.

use std::io::BufRead;

use imsight_parsers::xdr::{CsvHeader, XdrError, XdrResult, parse_csv_record, parse_json_record};

use super::FileReport;

/// How many rejected lines are quoted in the report.
const ERROR_SAMPLES: usize = 10;

/// Which form of probe records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl RecordFormat {
    /// Guesses the form from the file name, then from the first meaningful line.
    pub fn detect(file_name: &str, first_line: &str) -> Option<Self> {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            return Some(Self::Csv);
        }
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
            return Some(Self::JsonLines);
        }
        let line = first_line.trim_start();
        if line.starts_with('{') {
            Some(Self::JsonLines)
        } else if line.to_ascii_lowercase().contains("start_time") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// Counts the records of `reader` into `report`.
pub fn count_records(reader: impl BufRead, format: RecordFormat, report: &mut FileReport) {
    report.format = match format {
        RecordFormat::Csv => "xdr-csv",
        RecordFormat::JsonLines => "xdr-jsonl",
    };
    let mut header: Option<CsvHeader> = None;
    for (index, line) in reader.split(b'\n').enumerate() {
        let number = index as u64 + 1;
        let Ok(line) = line else {
            report.reject(number, "read error", "io");
            break;
        };
        let Ok(line) = std::str::from_utf8(&line) else {
            report.reject(number, "not UTF-8", "not_utf8");
            continue;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = match (format, &header) {
            (RecordFormat::Csv, None) => match CsvHeader::parse(line) {
                Ok(parsed) => {
                    header = Some(parsed);
                    continue;
                }
                Err(error) => {
                    // Without a header row no line can be read.
                    report.reject(number, &error.to_string(), error.reason.reason());
                    return;
                }
            },
            (RecordFormat::Csv, Some(header)) => parse_csv_record(header, line),
            (RecordFormat::JsonLines, _) => parse_json_record(line),
        };
        match parsed {
            Ok(record) => {
                report.records += 1;
                report.sip.add_request(record.procedure.as_str());
                match record.result {
                    XdrResult::Status(code) => report.sip.add_response(code.0),
                    XdrResult::Timeout => report.timeouts += 1,
                }
            }
            Err(error) => reject_record(report, number, &error),
        }
    }
}

fn reject_record(report: &mut FileReport, line: u64, error: &XdrError) {
    report.reject(line, &error.to_string(), error.reason.reason());
}

impl FileReport {
    fn reject(&mut self, line: u64, what: &str, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(format!("line {line}: {what}"));
        }
    }
}
