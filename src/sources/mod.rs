//! Data connectors: where records come from. Today the probe-record reader shared by
//! `inspect` and feature extraction; the HEP and pcap sources of the live pipeline come next.

pub mod probe_records;

pub use probe_records::{LineError, RecordFormat, read_records};

use imsight_parsers::capture::CaptureFormat;

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A pcap or pcapng capture.
    Capture(CaptureFormat),
    /// Probe records.
    Records(RecordFormat),
}

/// Recognises an input by its first bytes (captures by magic number) and name (records).
pub fn detect(file_name: &str, head: &[u8]) -> Option<InputKind> {
    if let Some(format) = CaptureFormat::sniff(head) {
        return Some(InputKind::Capture(format));
    }
    let first_line =
        String::from_utf8_lossy(head.split(|&b| b == b'\n').next().unwrap_or_default());
    RecordFormat::detect(file_name, &first_line).map(InputKind::Records)
}
