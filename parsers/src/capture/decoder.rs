//! From captured frames to SIP and HEP payloads: link layer, IP (with IP-in-IP tunnels and
//! fragment reassembly), UDP, and TCP streams cut into SIP messages.

use std::net::{IpAddr, SocketAddr};

use etherparse::defrag::IpDefragPool;
use etherparse::{IpNumber, NetSlice, SlicedPacket, TcpSlice, TransportSlice, UdpSlice};

use super::link::{LinkPayload, strip_link};
use super::reader::Frame;
use super::tcp::{FlowKey, Segment, TcpReassembler, TcpStats};
use crate::error::ParseError;

/// UDP port of HEP collectors (heplify-server, Homer).
pub const DEFAULT_HEP_PORT: u16 = 9060;
/// Fragments older than this (capture time) are dropped from the reassembly pool.
const FRAGMENT_TIMEOUT_MICROS: u64 = 30 * 1_000_000;
/// How often (in frames) stale fragments are swept.
const FRAGMENT_SWEEP_EVERY: u64 = 4096;
/// Most IP-in-IP levels unwrapped.
const MAX_TUNNEL_DEPTH: u8 = 2;

/// Decoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    /// UDP ports whose payload is HEP (either side). A UDP payload that starts with `HEP3`
    /// is taken as HEP on any port.
    pub hep_ports: Vec<u16>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { hep_ports: vec![DEFAULT_HEP_PORT] }
    }
}

/// Transport a payload arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One UDP datagram.
    Udp,
    /// One SIP message cut from a reassembled TCP stream.
    Tcp,
}

/// What the payload bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// Candidate SIP: a UDP datagram (to be parsed; it may turn out not to be SIP) or a
    /// framed SIP message from a TCP stream.
    Sip,
    /// A HEP datagram.
    Hep,
}

/// A payload found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload<'a> {
    /// Capture time, microseconds since the epoch.
    pub ts_micros: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// SIP or HEP.
    pub kind: PayloadKind,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// What decoding did, for `imsight inspect` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames given to the decoder.
    pub frames: u64,
    /// Frames that are not IP (ARP, LLDP, ...).
    pub not_ip: u64,
    /// Frames of a link type the decoder does not handle.
    pub unsupported_link: u64,
    /// Frames whose headers do not decode.
    pub malformed: u64,
    /// IP packets that were fragments.
    pub ip_fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub ip_reassembled: u64,
    /// IP-in-IP packets unwrapped.
    pub tunnelled: u64,
    /// IP packets carrying neither UDP nor TCP.
    pub other_transport: u64,
    /// UDP datagrams.
    pub udp: u64,
    /// TCP reassembly.
    pub tcp: TcpStats,
}

/// Stateful decoder: one per capture or per live source.
pub struct CaptureDecoder {
    config: DecoderConfig,
    defrag: IpDefragPool<u64, ()>,
    tcp: TcpReassembler,
    stats: DecodeStats,
}

impl std::fmt::Debug for CaptureDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureDecoder").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl CaptureDecoder {
    /// A decoder with `config`.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            defrag: IpDefragPool::new(),
            tcp: TcpReassembler::default(),
            stats: DecodeStats::default(),
        }
    }

    /// What decoding did so far.
    pub fn stats(&self) -> DecodeStats {
        DecodeStats { tcp: self.tcp.stats, ..self.stats }
    }

    /// Decodes one frame; every payload it yields goes to `emit`.
    pub fn decode(&mut self, frame: &Frame<'_>, emit: &mut impl FnMut(Payload<'_>)) {
        self.stats.frames += 1;
        if self.stats.frames.is_multiple_of(FRAGMENT_SWEEP_EVERY) {
            let now = frame.ts_micros;
            self.defrag.retain(|&seen| now.saturating_sub(seen) < FRAGMENT_TIMEOUT_MICROS);
        }
        match strip_link(frame.link_type, frame.data) {
            Ok(LinkPayload::Ip(ip)) => self.decode_ip(ip, frame.ts_micros, 0, emit),
            Ok(LinkPayload::NotIp) => self.stats.not_ip += 1,
            Err(ParseError::UnsupportedLinkType) => self.stats.unsupported_link += 1,
            Err(_) => self.stats.malformed += 1,
        }
    }

    fn decode_ip(&mut self, ip: &[u8], ts: u64, depth: u8, emit: &mut impl FnMut(Payload<'_>)) {
        let Ok(packet) = SlicedPacket::from_ip(ip) else {
            self.stats.malformed += 1;
            return;
        };
        let Some((src_ip, dst_ip, payload)) = addresses_and_payload(&packet) else {
            self.stats.malformed += 1;
            return;
        };
        if payload.fragmented {
            self.stats.ip_fragments += 1;
            match self.defrag.process_sliced_packet(&packet, ts, ()) {
                Ok(Some(whole)) => {
                    self.stats.ip_reassembled += 1;
                    self.decode_transport(
                        whole.ip_number,
                        &whole.payload,
                        src_ip,
                        dst_ip,
                        ts,
                        depth,
                        emit,
                    );
                    self.defrag.return_buf(whole);
                }
                Ok(None) => {}
                Err(_) => self.stats.malformed += 1,
            }
            return;
        }
        match &packet.transport {
            Some(TransportSlice::Udp(udp)) => self.on_udp(udp, src_ip, dst_ip, ts, emit),
            Some(TransportSlice::Tcp(tcp)) => self.on_tcp(tcp, src_ip, dst_ip, ts, emit),
            _ => self.decode_transport(
                payload.ip_number,
                payload.payload,
                src_ip,
                dst_ip,
                ts,
                depth,
                emit,
            ),
        }
    }

    /// A transport payload that etherparse did not slice itself: a reassembled datagram, a
    /// tunnel, or something that is neither UDP nor TCP.
    #[allow(clippy::too_many_arguments)]
    fn decode_transport(
        &mut self,
        protocol: IpNumber,
        bytes: &[u8],
        src_ip: IpAddr,
        dst_ip: IpAddr,
        ts: u64,
        depth: u8,
        emit: &mut impl FnMut(Payload<'_>),
    ) {
        match protocol {
            IpNumber::UDP => match UdpSlice::from_slice(bytes) {
                Ok(udp) => self.on_udp(&udp, src_ip, dst_ip, ts, emit),
                Err(_) => self.stats.malformed += 1,
            },
            IpNumber::TCP => match TcpSlice::from_slice(bytes) {
                Ok(tcp) => self.on_tcp(&tcp, src_ip, dst_ip, ts, emit),
                Err(_) => self.stats.malformed += 1,
            },
            IpNumber::IPV4 | IpNumber::IPV6 if depth < MAX_TUNNEL_DEPTH => {
                self.stats.tunnelled += 1;
                self.decode_ip(bytes, ts, depth + 1, emit);
            }
            _ => self.stats.other_transport += 1,
        }
    }

    fn on_udp(
        &mut self,
        udp: &UdpSlice<'_>,
        src_ip: IpAddr,
        dst_ip: IpAddr,
        ts: u64,
        emit: &mut impl FnMut(Payload<'_>),
    ) {
        self.stats.udp += 1;
        let (sport, dport) = (udp.source_port(), udp.destination_port());
        let bytes = udp.payload();
        let hep = self.config.hep_ports.iter().any(|&p| p == sport || p == dport)
            || bytes.starts_with(b"HEP3");
        emit(Payload {
            ts_micros: ts,
            src: SocketAddr::new(src_ip, sport),
            dst: SocketAddr::new(dst_ip, dport),
            transport: Transport::Udp,
            kind: if hep { PayloadKind::Hep } else { PayloadKind::Sip },
            bytes,
        });
    }

    fn on_tcp(
        &mut self,
        tcp: &TcpSlice<'_>,
        src_ip: IpAddr,
        dst_ip: IpAddr,
        ts: u64,
        emit: &mut impl FnMut(Payload<'_>),
    ) {
        let src = SocketAddr::new(src_ip, tcp.source_port());
        let dst = SocketAddr::new(dst_ip, tcp.destination_port());
        let segment = Segment {
            ts_micros: ts,
            seq: tcp.sequence_number(),
            syn: tcp.syn(),
            closes: tcp.fin() || tcp.rst(),
            payload: tcp.payload(),
        };
        self.tcp.add(FlowKey { src, dst }, segment, &mut |message| {
            emit(Payload {
                ts_micros: ts,
                src,
                dst,
                transport: Transport::Tcp,
                kind: PayloadKind::Sip,
                bytes: message,
            });
        });
    }
}

fn addresses_and_payload<'p>(
    packet: &'p SlicedPacket<'_>,
) -> Option<(IpAddr, IpAddr, &'p etherparse::IpPayloadSlice<'p>)> {
    match &packet.net {
        Some(NetSlice::Ipv4(v4)) => Some((
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.payload(),
        )),
        Some(NetSlice::Ipv6(v6)) => Some((
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.payload(),
        )),
        _ => None,
    }
}
