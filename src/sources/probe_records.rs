//! Reading probe-record files (docs/formats/xdr.md) line by line: UTF-8, comments, the CSV
//! header row, CSV or JSON dispatch. One reader for every consumer, so they skip and reject
//! exactly the same lines.

use std::io::BufRead;
use std::ops::ControlFlow;

use imsight_parsers::xdr::{
    CsvHeader, MAX_LINE_LEN, XdrError, XdrRecord, parse_csv_record, parse_json_record,
};

use super::lines::BoundedLines;

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

/// Why a line gave no record.
#[derive(Debug)]
pub enum LineError {
    /// The file could not be read further (reading stops).
    Io,
    /// The line is not UTF-8.
    NotUtf8,
    /// The line is longer than the format allows (16 KiB); skipped without being held.
    TooLong,
    /// The CSV header row is unusable (reading stops: no line can be read without it).
    Header(XdrError),
    /// The record is invalid.
    Record(XdrError),
}

impl LineError {
    /// A stable label for counting.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::NotUtf8 => "not_utf8",
            Self::TooLong => "line_too_long",
            Self::Header(e) | Self::Record(e) => e.reason.reason(),
        }
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io => f.write_str("read error"),
            Self::NotUtf8 => f.write_str("not UTF-8"),
            Self::TooLong => write!(f, "longer than {MAX_LINE_LEN} bytes"),
            Self::Header(e) | Self::Record(e) => write!(f, "{e}"),
        }
    }
}

/// Calls `on_line` with the 1-based line number and the record (or why there is none) for
/// every line that is not empty or a `#` comment, until the end, a fatal error, or `Break`.
pub fn read_records(
    reader: impl BufRead,
    format: RecordFormat,
    mut on_line: impl FnMut(u64, Result<&XdrRecord<'_>, LineError>) -> ControlFlow<()>,
) {
    let mut header: Option<CsvHeader> = None;
    // One more byte than a record may have: the CR of a CRLF line.
    let mut lines = BoundedLines::new(reader, MAX_LINE_LEN + 1);
    let mut last = 0;
    while let Some(next) = lines.next_line() {
        let Ok((number, line)) = next else {
            let _ = on_line(last + 1, Err(LineError::Io));
            return;
        };
        last = number;
        let Ok(line) = line else {
            // Without its header row a CSV file cannot be read at all.
            let fatal = format == RecordFormat::Csv && header.is_none();
            if on_line(number, Err(LineError::TooLong)).is_break() || fatal {
                return;
            }
            continue;
        };
        let Ok(line) = std::str::from_utf8(line) else {
            if on_line(number, Err(LineError::NotUtf8)).is_break() {
                return;
            }
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
                    let _ = on_line(number, Err(LineError::Header(error)));
                    return;
                }
            },
            (RecordFormat::Csv, Some(header)) => parse_csv_record(header, line),
            (RecordFormat::JsonLines, _) => parse_json_record(line),
        };
        let flow = match &parsed {
            Ok(record) => on_line(number, Ok(record)),
            Err(error) => on_line(number, Err(LineError::Record(*error))),
        };
        if flow.is_break() {
            return;
        }
    }
}

/// A probe record that owns its text, to cross threads in a batch (the reader's records
/// borrow from its line).
#[derive(Debug, Clone)]
pub struct OwnedRecord {
    record: imsight_parsers::xdr::XdrRecord<'static>,
    /// The method token when it is an extension (the record's `procedure` cannot own it).
    extension: Option<String>,
}

impl OwnedRecord {
    /// An owned copy of `record`.
    pub fn new(record: &imsight_parsers::xdr::XdrRecord<'_>) -> Self {
        use imsight_parsers::sip::Method;
        let owned = |s: &std::borrow::Cow<'_, str>| std::borrow::Cow::Owned(s.to_string());
        let (procedure, extension) = match record.procedure {
            Method::Extension(token) => (Method::Options, Some(token.to_owned())),
            known => (Method::known(known.as_str().as_bytes()).unwrap_or(Method::Options), None),
        };
        Self {
            record: imsight_parsers::xdr::XdrRecord {
                start_micros: record.start_micros,
                end_micros: record.end_micros,
                latency_micros: record.latency_micros,
                node: owned(&record.node),
                procedure,
                result: record.result,
                subscriber: record.subscriber.as_ref().map(owned),
                call_id: record.call_id.as_ref().map(owned),
                leg: record.leg,
                direction: record.direction,
                cause: record.cause.as_ref().map(owned),
            },
            extension,
        }
    }

    /// The record, borrowing from this copy.
    pub fn as_record(&self) -> imsight_parsers::xdr::XdrRecord<'_> {
        use imsight_parsers::sip::Method;
        let procedure = match &self.extension {
            Some(token) => Method::Extension(token),
            None => self.record.procedure,
        };
        let r = &self.record;
        fn borrowed(s: &str) -> std::borrow::Cow<'_, str> {
            std::borrow::Cow::Borrowed(s)
        }
        imsight_parsers::xdr::XdrRecord {
            start_micros: r.start_micros,
            end_micros: r.end_micros,
            latency_micros: r.latency_micros,
            node: borrowed(&r.node),
            procedure,
            result: r.result,
            subscriber: r.subscriber.as_deref().map(borrowed),
            call_id: r.call_id.as_deref().map(borrowed),
            leg: r.leg,
            direction: r.direction,
            cause: r.cause.as_deref().map(borrowed),
        }
    }
}
