//! Captures (pcap, pcapng) as a stream of SIP payloads: frames are decoded (link, IP, UDP/TCP),
//! HEP packets are unwrapped, and every SIP payload, on the wire or inside HEP, comes out with
//! its time, addresses and, for HEP, the reporting agent. One loop for every consumer (`inspect`,
//! the feature pipeline, replay), so they read the same capture the same way.

use std::io::Read;
use std::net::SocketAddr;
use std::ops::ControlFlow;

use imsight_parsers::ParseError;
use imsight_parsers::capture::{
    CaptureDecoder, CaptureReader, DecodeStats, DecoderConfig, Payload, PayloadKind,
};
use imsight_parsers::hep::{HepPacket, parse_hep_datagram};

/// The HEP agent that reported a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HepAgent<'a> {
    /// Capture agent id (chunk 0x000c).
    pub capture_id: Option<u32>,
    /// Agent or node name (chunk 0x0013), when UTF-8.
    pub name: Option<&'a str>,
}

/// A SIP payload found in a capture: one datagram or one framed stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapturedSip<'a> {
    /// Event time, µs since the epoch: the frame's, or the HEP agent's own timestamp; `None`
    /// when a HEP packet carries none.
    pub ts: Option<u64>,
    /// Sender, when known.
    pub src: Option<SocketAddr>,
    /// Receiver, when known.
    pub dst: Option<SocketAddr>,
    /// `Some` when the payload came inside HEP.
    pub hep: Option<HepAgent<'a>>,
    /// The SIP bytes.
    pub bytes: &'a [u8],
}

impl<'a> CapturedSip<'a> {
    /// SIP seen directly on the wire (not inside HEP).
    fn direct(payload: &Payload<'a>) -> Self {
        Self {
            ts: Some(payload.ts_micros),
            src: Some(payload.src),
            dst: Some(payload.dst),
            hep: None,
            bytes: payload.bytes,
        }
    }
}

/// What reading a capture finds, in capture order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureEvent<'a> {
    /// A SIP payload.
    Sip(CapturedSip<'a>),
    /// A HEP packet that carries another protocol.
    HepNotSip,
    /// A datagram on a HEP port that is not a valid HEP packet.
    HepRejected(ParseError),
    /// A valid HEP packet whose SIP payload could not be extracted (missing, does not inflate).
    HepPayloadRejected {
        /// What the packet said of itself: time, addresses and agent (`bytes` empty).
        packet: CapturedSip<'a>,
        /// Why.
        error: ParseError,
    },
    /// Every payload of a frame has been reported.
    FrameDone {
        /// The frame's capture time, µs since the epoch.
        ts: u64,
    },
}

/// A [`CaptureEvent`] that owns its bytes, to cross a thread or actor boundary (converted
/// exactly once, where it leaves the reading thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedCaptureEvent {
    /// A SIP payload.
    Sip {
        /// See [`CapturedSip::ts`].
        ts: Option<u64>,
        /// Sender, when known.
        src: Option<SocketAddr>,
        /// Receiver, when known.
        dst: Option<SocketAddr>,
        /// HEP agent: capture id and name, when the payload came inside HEP.
        hep: Option<(Option<u32>, Option<String>)>,
        /// The SIP bytes.
        bytes: Vec<u8>,
    },
    /// See [`CaptureEvent::HepNotSip`].
    HepNotSip,
    /// See [`CaptureEvent::HepRejected`].
    HepRejected(ParseError),
    /// See [`CaptureEvent::HepPayloadRejected`]; `packet` is an [`OwnedCaptureEvent::Sip`]
    /// without bytes.
    HepPayloadRejected {
        /// What the packet said of itself.
        packet: Box<OwnedCaptureEvent>,
        /// Why.
        error: ParseError,
    },
    /// See [`CaptureEvent::FrameDone`].
    FrameDone {
        /// The frame's capture time.
        ts: u64,
    },
}

impl From<CaptureEvent<'_>> for OwnedCaptureEvent {
    fn from(event: CaptureEvent<'_>) -> Self {
        match event {
            CaptureEvent::Sip(sip) => Self::Sip {
                ts: sip.ts,
                src: sip.src,
                dst: sip.dst,
                hep: sip.hep.map(|a| (a.capture_id, a.name.map(str::to_owned))),
                bytes: sip.bytes.to_vec(),
            },
            CaptureEvent::HepNotSip => Self::HepNotSip,
            CaptureEvent::HepRejected(error) => Self::HepRejected(error),
            CaptureEvent::HepPayloadRejected { packet, error } => Self::HepPayloadRejected {
                packet: Box::new(CaptureEvent::Sip(packet).into()),
                error,
            },
            CaptureEvent::FrameDone { ts } => Self::FrameDone { ts },
        }
    }
}

impl OwnedCaptureEvent {
    /// The borrowed form, as the pipeline takes it.
    pub fn as_event(&self) -> CaptureEvent<'_> {
        match self {
            Self::Sip { ts, src, dst, hep, bytes } => CaptureEvent::Sip(CapturedSip {
                ts: *ts,
                src: *src,
                dst: *dst,
                hep: hep.as_ref().map(|(capture_id, name)| HepAgent {
                    capture_id: *capture_id,
                    name: name.as_deref(),
                }),
                bytes,
            }),
            Self::HepNotSip => CaptureEvent::HepNotSip,
            Self::HepRejected(error) => CaptureEvent::HepRejected(*error),
            Self::HepPayloadRejected { packet, error } => match packet.as_event() {
                CaptureEvent::Sip(packet) => {
                    CaptureEvent::HepPayloadRejected { packet, error: *error }
                }
                // Built from a `Sip` event only; anything else says nothing of a packet.
                other => other,
            },
            Self::FrameDone { ts } => CaptureEvent::FrameDone { ts: *ts },
        }
    }
}

/// What reading a whole capture did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    /// Frames read.
    pub frames: u64,
    /// The decoder's counters (link, IP, TCP).
    pub decode: DecodeStats,
}

/// Reads a capture to its end, calling `on_event` for everything found, until it answers
/// `Break` (reading then stops after the current frame). A damaged container stops reading:
/// the error comes back with what was read until then.
pub fn read_capture(
    source: impl Read + Send,
    config: &DecoderConfig,
    mut on_event: impl FnMut(CaptureEvent<'_>) -> ControlFlow<()>,
) -> (CaptureSummary, Result<(), ParseError>) {
    let mut reader = match CaptureReader::new(source) {
        Ok(reader) => reader,
        Err(error) => return (CaptureSummary::default(), Err(error)),
    };
    let mut decoder = CaptureDecoder::new(config.clone());
    let mut flow = ControlFlow::Continue(());
    let result = reader.for_each_frame(|frame| {
        let mut emit = |event: CaptureEvent<'_>| {
            if flow.is_continue() {
                flow = on_event(event);
            }
        };
        decoder.decode(&frame, &mut |payload| match payload.kind {
            PayloadKind::Sip => emit(CaptureEvent::Sip(CapturedSip::direct(&payload))),
            PayloadKind::Hep => read_hep_datagram(payload.bytes, &mut emit),
        });
        emit(CaptureEvent::FrameDone { ts: frame.ts_micros });
        flow
    });
    // Messages held behind a TCP hole come out at the end (the hole is given up).
    if flow.is_continue() {
        decoder.finish(&mut |payload| {
            if flow.is_continue() && payload.kind == PayloadKind::Sip {
                flow = on_event(CaptureEvent::Sip(CapturedSip::direct(&payload)));
            }
        });
    }
    (CaptureSummary { frames: reader.frames(), decode: decoder.stats() }, result)
}

/// One HEP datagram (received live over UDP, or found in a capture) as capture events: the
/// SIP it carries, or why it carries none.
pub fn read_hep_datagram(datagram: &[u8], on_event: &mut impl FnMut(CaptureEvent<'_>)) {
    read_hep_datagram_with_key(datagram, None, on_event);
}

/// Like [`read_hep_datagram`], for a listener that requires the HEP authentication key
/// (chunk 0x000e) `auth_key` when it is `Some`: a valid packet without it or with another
/// key gives no event, and the answer is [`HepAuth::Refused`].
pub fn read_hep_datagram_with_key(
    datagram: &[u8],
    auth_key: Option<&[u8]>,
    on_event: &mut impl FnMut(CaptureEvent<'_>),
) -> HepAuth {
    let packet = match parse_hep_datagram(datagram) {
        Ok(packet) => packet,
        Err(error) => {
            on_event(CaptureEvent::HepRejected(error));
            return HepAuth::Accepted;
        }
    };
    if let Some(expected) = auth_key
        && packet.auth_key != Some(expected)
    {
        return HepAuth::Refused;
    }
    read_hep_packet(&packet, on_event);
    HepAuth::Accepted
}

/// Whether a HEP datagram passed the authentication-key check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HepAuth {
    /// Read (no key required, the right key, or not HEP at all: rejected as such).
    Accepted,
    /// A HEP packet without the required key, or with another one: ignored.
    Refused,
}

fn read_hep_packet(packet: &HepPacket<'_>, on_event: &mut impl FnMut(CaptureEvent<'_>)) {
    if !packet.is_sip() {
        return on_event(CaptureEvent::HepNotSip);
    }
    let described = CapturedSip {
        ts: packet.timestamp_micros(),
        src: packet.src_ip.zip(packet.src_port).map(|(ip, port)| SocketAddr::new(ip, port)),
        dst: packet.dst_ip.zip(packet.dst_port).map(|(ip, port)| SocketAddr::new(ip, port)),
        hep: Some(HepAgent {
            capture_id: packet.capture_id,
            name: packet.node_name.and_then(|n| std::str::from_utf8(n).ok()),
        }),
        bytes: &[],
    };
    match packet.payload_bytes() {
        Ok(payload) => on_event(CaptureEvent::Sip(CapturedSip { bytes: &payload, ..described })),
        Err(error) => on_event(CaptureEvent::HepPayloadRejected { packet: described, error }),
    }
}
