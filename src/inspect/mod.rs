//! `imsight inspect`: what a capture or probe-record file holds, counted the way
//! `tests/data/corpus/expected-counts.json` counts it.
//!
//! SIP seen directly on the wire and SIP carried inside HEP are counted apart (`hep`), so a
//! capture that holds both the traffic and its HEP copies shows each once.

mod counts;
mod records;

pub use counts::{HepCounts, SipCounts};

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use imsight_parsers::ParseError;
use imsight_parsers::capture::{CaptureFormat, DecodeStats, DecoderConfig};
use imsight_parsers::sip::datagram_messages;
use serde::Serialize;

use crate::sources::{CaptureEvent, InputError, InputKind, open_input, read_capture};

/// Everything `inspect` learned about one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The file as given.
    pub file: String,
    /// `pcap`, `pcapng`, `xdr-csv` or `xdr-jsonl`.
    pub format: &'static str,
    /// Frames in the capture.
    pub frames: u64,
    /// Probe records read (xDR files; each is one request and its result).
    #[serde(skip_serializing_if = "is_zero")]
    pub records: u64,
    /// Probe records that ended in a timeout instead of a response.
    #[serde(skip_serializing_if = "is_zero")]
    pub timeouts: u64,
    /// Frames that carried at least one SIP message directly.
    pub sip_frames: u64,
    /// SIP seen directly (UDP datagrams and TCP streams).
    #[serde(flatten)]
    pub sip: SipCounts,
    /// SIP inside HEP.
    pub hep: HepCounts,
    /// Tolerated deviations in SIP messages (direct and in HEP), by label.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// Rejected SIP messages, HEP packets and record lines, by reason.
    pub errors: BTreeMap<&'static str, u64>,
    /// The first rejected record lines, with line, column and reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_samples: Vec<String>,
    /// What the capture decoder did (link, IP, TCP).
    pub decode: DecodeSummary,
}

/// The capture decoder's counters, flattened for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DecodeSummary {
    /// Frames that are not IP.
    pub not_ip: u64,
    /// Frames of an unsupported link type.
    pub unsupported_link: u64,
    /// Frames whose headers do not decode.
    pub malformed_frames: u64,
    /// IP fragments seen, and datagrams rebuilt from them.
    pub ip_fragments: u64,
    /// Datagrams given up before all their fragments came (bounded reassembly pool).
    pub ip_fragments_given_up: u64,
    /// Datagrams rebuilt from fragments.
    pub ip_reassembled: u64,
    /// IP-in-IP packets unwrapped.
    pub tunnelled: u64,
    /// UDP datagrams.
    pub udp_datagrams: u64,
    /// UDP payloads that are not SIP (media, DNS, ...).
    pub udp_not_sip: u64,
    /// TCP segments with payload.
    pub tcp_segments: u64,
    /// TCP segments already delivered (retransmissions).
    pub tcp_retransmitted: u64,
    /// TCP segments that arrived out of order.
    pub tcp_out_of_order: u64,
    /// TCP gaps given up.
    pub tcp_gaps: u64,
    /// TCP streams that were not SIP.
    pub tcp_not_sip_streams: u64,
    /// TCP stream bytes skipped while searching for the next SIP start line.
    pub tcp_resync_skipped_bytes: u64,
    /// TCP flows that gave up their bytes to keep all flows within the memory bound.
    pub tcp_memory_given_up: u64,
}

impl DecodeSummary {
    fn from_stats(stats: &DecodeStats, udp_not_sip: u64) -> Self {
        Self {
            not_ip: stats.not_ip,
            unsupported_link: stats.unsupported_link,
            malformed_frames: stats.malformed,
            ip_fragments: stats.ip_fragments,
            ip_fragments_given_up: stats.ip_fragments_given_up,
            ip_reassembled: stats.ip_reassembled,
            tunnelled: stats.tunnelled,
            udp_datagrams: stats.udp,
            udp_not_sip,
            tcp_segments: stats.tcp.segments,
            tcp_retransmitted: stats.tcp.retransmitted,
            tcp_out_of_order: stats.tcp.out_of_order,
            tcp_gaps: stats.tcp.gaps,
            tcp_not_sip_streams: stats.tcp.non_sip_flows,
            tcp_resync_skipped_bytes: stats.tcp.resync_skipped_bytes,
            tcp_memory_given_up: stats.tcp.memory_given_up,
        }
    }
}

/// Inspects one file (capture or probe records) with the default decoder settings.
pub fn inspect_file(path: &Path) -> Result<FileReport, InputError> {
    inspect_path(path, &DecoderConfig::default())
}

/// Inspects one file: a pcap/pcapng capture, or CSV / JSON-lines probe records.
pub fn inspect_path(path: &Path, config: &DecoderConfig) -> Result<FileReport, InputError> {
    let input = open_input(path, |file| file)?;
    match input.kind {
        InputKind::Capture(format) => Ok(inspect_capture(input.reader, format, input.path, config)),
        InputKind::Records(format) => {
            let mut report = FileReport { file: input.path, ..FileReport::default() };
            records::count_records(input.reader, format, &mut report);
            Ok(report)
        }
    }
}

/// Inspects a capture stream whose format is already known.
fn inspect_capture(
    file: impl Read + Send,
    format: CaptureFormat,
    shown: String,
    config: &DecoderConfig,
) -> FileReport {
    let mut report = FileReport {
        file: shown,
        format: match format {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        },
        ..FileReport::default()
    };
    let mut udp_not_sip = 0;
    // SIP messages seen directly in the current frame.
    let mut direct_messages = 0;
    let (summary, result) = read_capture(file, config, |event| {
        match event {
            CaptureEvent::Sip(sip) if sip.hep.is_none() => {
                let (messages, not_sip) = count_messages(
                    sip.bytes,
                    &mut report.sip,
                    &mut report.anomalies,
                    &mut report.errors,
                );
                if not_sip {
                    udp_not_sip += 1;
                }
                direct_messages += messages;
            }
            CaptureEvent::Sip(sip) => {
                report.hep.hep_packets += 1;
                let (_, not_sip) = count_messages(
                    sip.bytes,
                    &mut report.hep.sip,
                    &mut report.anomalies,
                    &mut report.errors,
                );
                if not_sip {
                    count(&mut report.errors, "hep_payload_not_sip");
                }
            }
            CaptureEvent::HepNotSip => {
                report.hep.hep_packets += 1;
                report.hep.hep_non_sip_packets += 1;
            }
            CaptureEvent::HepRejected(error) => count(&mut report.errors, error.reason()),
            CaptureEvent::HepPayloadRejected { error, .. } => {
                report.hep.hep_packets += 1;
                count(&mut report.errors, error.reason());
            }
            CaptureEvent::FrameDone { .. } => {
                if direct_messages > 0 {
                    report.sip_frames += 1;
                }
                direct_messages = 0;
            }
        }
        ControlFlow::Continue(())
    });
    if let Err(error) = result {
        count(&mut report.errors, error.reason());
    }
    report.frames = summary.frames;
    report.decode = DecodeSummary::from_stats(&summary.decode, udp_not_sip);
    // SIP framing errors on TCP streams count with the other rejected messages.
    for (reason, count) in summary.decode.tcp.framing_errors_by_reason() {
        if count > 0 {
            *report.errors.entry(reason).or_default() += count;
        }
    }
    report
}

/// Counts the SIP messages of one datagram or framed message. Returns the number counted and
/// whether the bytes were not SIP at all.
fn count_messages(
    bytes: &[u8],
    counts: &mut SipCounts,
    anomalies: &mut BTreeMap<&'static str, u64>,
    errors: &mut BTreeMap<&'static str, u64>,
) -> (u64, bool) {
    let mut messages = 0;
    for message in datagram_messages(bytes) {
        match message {
            Ok(message) => {
                counts.add(&message);
                for label in message.anomalies.labels() {
                    count(anomalies, label);
                }
                messages += 1;
            }
            Err(ParseError::NotSip) => return (messages, messages == 0),
            Err(error) => count(errors, error.reason()),
        }
    }
    (messages, false)
}

fn count(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
    *map.entry(key).or_default() += 1;
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}
