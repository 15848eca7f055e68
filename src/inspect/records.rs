//! `inspect` for probe-record (xDR) files: CSV or JSON lines.

use std::io::BufRead;
use std::ops::ControlFlow;

use imsight_parsers::xdr::XdrResult;

use super::FileReport;
use crate::sources::{RecordFormat, read_records};

/// How many rejected lines are quoted in the report.
const ERROR_SAMPLES: usize = 10;

/// Counts the records of `reader` into `report`.
pub fn count_records(reader: impl BufRead, format: RecordFormat, report: &mut FileReport) {
    report.format = match format {
        RecordFormat::Csv => "xdr-csv",
        RecordFormat::JsonLines => "xdr-jsonl",
    };
    read_records(reader, format, |number, line| {
        match line {
            Ok(record) => {
                report.records += 1;
                report.sip.add_request(record.procedure.as_str());
                match record.result {
                    XdrResult::Status(code) => report.sip.add_response(code.0),
                    XdrResult::Timeout => report.timeouts += 1,
                }
            }
            Err(error) => report.reject(number, &error.to_string(), error.reason()),
        }
        ControlFlow::Continue(())
    });
}

impl FileReport {
    fn reject(&mut self, line: u64, what: &str, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
        if self.error_samples.len() < ERROR_SAMPLES {
            self.error_samples.push(format!("line {line}: {what}"));
        }
    }
}
