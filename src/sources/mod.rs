//! Data connectors (an edge: they own all reading of files and, later, sockets): captures as
//! SIP payloads, probe-record files as records, and what kind of input a file is. Everything
//! downstream gets typed inputs and never touches I/O.

pub mod capture;
pub mod lines;
pub mod probe_records;

pub use capture::{
    CaptureEvent, CaptureSummary, CapturedSip, HepAgent, HepAuth, OwnedCaptureEvent, read_capture,
    read_hep_datagram, read_hep_datagram_with_key,
};
pub use probe_records::{LineError, OwnedRecord, RecordFormat, read_records};

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

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

/// What an operator is told when probe records are judged. Every shipped model learnt from
/// features of SIP messages (captures, HEP), and records cannot carry what only messages do
/// (docs/features.md, "Paths"): their windows lie away from every reference, and most faults
/// are missed or called unknown (measured in docs/verdicts.md).
pub const RECORDS_JUDGED_WARNING: &str = "probe records are judged by a model trained on \
    features of SIP messages: what records cannot carry (provisional responses, \
    retransmissions, message sizes, registered AoRs) is 0 and some response times differ, so \
    verdicts on probe records are unreliable; judge captures or HEP where you can \
    (docs/verdicts.md, \"Inputs\")";

/// Whether the file at `path` is probe records (false when it cannot be read or recognised:
/// opening it for real says why).
pub fn is_records(path: &Path) -> bool {
    matches!(open_input(path, |f| f), Ok(OpenedInput { kind: InputKind::Records(_), .. }))
}

/// Why an input file cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// Neither a capture (pcap, pcapng) nor a probe-record file.
    #[error("{path}: not a pcap, pcapng or probe-record file")]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// The capture container is damaged (what came before was read).
    #[error("cannot read {path}: {error}")]
    Capture {
        /// The file.
        path: String,
        /// Why.
        error: imsight_parsers::ParseError,
    },
}

/// An opened input file, its kind recognised, positioned at its start.
#[derive(Debug)]
pub struct OpenedInput<R> {
    /// The file as given.
    pub path: String,
    /// What it is.
    pub kind: InputKind,
    /// Its bytes.
    pub reader: BufReader<R>,
}

/// Opens `path` through `wrap` (e.g. a progress counter) and recognises its kind.
pub fn open_input<R: Read>(
    path: &Path,
    wrap: impl FnOnce(File) -> R,
) -> Result<OpenedInput<R>, InputError> {
    let shown = path.display().to_string();
    let io = |error| InputError::Io { path: shown.clone(), error };
    let mut reader = BufReader::new(wrap(File::open(path).map_err(io)?));
    let head = reader.fill_buf().map_err(io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match detect(&name, head) {
        Some(kind) => Ok(OpenedInput { path: shown, kind, reader }),
        None => Err(InputError::UnknownFormat { path: shown }),
    }
}
