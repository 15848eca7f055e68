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
/// A datagram whose latest fragment is more than this many fragments old is given up, oldest
/// first: the pool holds at most about this many datagrams (1.5 × with the sweep interval),
/// whatever the capture's clock does. A datagram's fragments arrive back to back; a window of
/// 4,096 fragments outlasts any real reassembly.
pub const MAX_FRAGMENT_WINDOW: u64 = 4096;
/// How often (in fragments) the pool is swept.
const FRAGMENT_SWEEP_EVERY: u64 = MAX_FRAGMENT_WINDOW / 2;
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
    /// Datagrams given up before all their fragments came (window or timeout).
    pub ip_fragments_given_up: u64,
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
    /// Keyed by (fragment sequence number, capture time) of each datagram's latest fragment.
    defrag: IpDefragPool<(u64, u64), ()>,
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
        match strip_link(frame.link_type, frame.data) {
            Ok(LinkPayload::Ip(ip)) => self.decode_ip(ip, frame.ts_micros, 0, emit),
            Ok(LinkPayload::NotIp) => self.stats.not_ip += 1,
            Err(ParseError::UnsupportedLinkType) => self.stats.unsupported_link += 1,
            Err(_) => self.stats.malformed += 1,
        }
    }

    /// The end of the input: TCP holes are given up and the messages after them come out.
    pub fn finish(&mut self, emit: &mut impl FnMut(Payload<'_>)) {
        self.tcp.finish(&mut |key, ts, message| emit(tcp_message(ts, key, message)));
    }

    /// Gives up datagrams whose latest fragment left the window or timed out (capture time
    /// going backwards only keeps them until the window passes), counting them.
    fn sweep_fragments(&mut self, sequence: u64, now: u64) {
        let oldest = sequence.saturating_sub(MAX_FRAGMENT_WINDOW);
        // `retain` asks once per entry while filtering, after one question that finds the first
        // entry to drop: every "no" but that first one is a datagram given up.
        let refused = std::cell::Cell::new(0u64);
        self.defrag.retain(|&(seen, at)| {
            let keep = seen > oldest && now.saturating_sub(at) < FRAGMENT_TIMEOUT_MICROS;
            if !keep {
                refused.set(refused.get() + 1);
            }
            keep
        });
        self.stats.ip_fragments_given_up += refused.get().saturating_sub(1);
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
            let sequence = self.stats.ip_fragments;
            if sequence.is_multiple_of(FRAGMENT_SWEEP_EVERY) {
                self.sweep_fragments(sequence, ts);
            }
            match self.defrag.process_sliced_packet(&packet, (sequence, ts), ()) {
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
        let key = FlowKey { src, dst };
        self.tcp.add(key, segment, &mut |message| emit(tcp_message(ts, key, message)));
    }
}

/// A SIP message cut from a TCP stream, as a payload.
fn tcp_message(ts_micros: u64, key: FlowKey, bytes: &[u8]) -> Payload<'_> {
    Payload {
        ts_micros,
        src: key.src,
        dst: key.dst,
        transport: Transport::Tcp,
        kind: PayloadKind::Sip,
        bytes,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;

    /// An IPv4 UDP fragment: the first of a datagram (more fragments follow), 24 bytes of data.
    fn first_fragment(identification: u16, more: bool, offset_units: u16) -> Vec<u8> {
        let payload = [0x5au8; 24];
        let total = 20 + payload.len() as u16;
        let flags = if more { 0x2000 } else { 0 } | offset_units;
        let mut packet = vec![0x45, 0];
        packet.extend_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(&identification.to_be_bytes());
        packet.extend_from_slice(&flags.to_be_bytes());
        packet.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        packet.extend_from_slice(&payload);
        packet
    }

    fn decode(decoder: &mut CaptureDecoder, data: &[u8], ts_micros: u64) {
        let frame =
            Frame { ts_micros, link_type: LinkType::RAW, data, wire_len: data.len() as u32 };
        decoder.decode(&frame, &mut |_| {});
    }

    #[test]
    fn fragments_that_never_complete_are_given_up_oldest_first() {
        let mut decoder = CaptureDecoder::new(DecoderConfig::default());
        // 100,000 first fragments of datagrams that never complete, and time going backwards.
        let n = 100_000u64;
        for i in 0..n {
            let ts = 1_000_000_000_000 - i;
            decode(&mut decoder, &first_fragment(i as u16 ^ (i >> 16) as u16, true, 0), ts);
        }
        let stats = decoder.stats();
        assert_eq!(stats.ip_fragments, n);
        // Everything but the last window and a half is given up, whatever the clock did.
        let kept_at_most = MAX_FRAGMENT_WINDOW + FRAGMENT_SWEEP_EVERY;
        assert!(
            stats.ip_fragments_given_up >= n - kept_at_most,
            "given up {} of {n}",
            stats.ip_fragments_given_up
        );
        // (A datagram id repeats every 65,536 fragments, so a few of them find an older half.)
        assert!(stats.ip_fragments_given_up <= n);
    }

    /// An IPv4 TCP segment from 10.0.0.1:5060 to 10.0.0.2:5060 (raw IP link).
    fn tcp_segment(seq: u32, payload: &[u8]) -> Vec<u8> {
        let total = (40 + payload.len()) as u16;
        let mut packet = vec![0x45, 0];
        packet.extend_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        packet.extend_from_slice(&5060u16.to_be_bytes());
        packet.extend_from_slice(&5060u16.to_be_bytes());
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn tcp_framing_errors_are_counted_by_reason() {
        let mut decoder = CaptureDecoder::new(DecoderConfig::default());
        let broken = b"MESSAGE sip:a SIP/2.0\r\nCall-ID: 1\r\n\r\nhello\r\n";
        let good = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: 2\r\nContent-Length: 0\r\n\r\n";
        let mut messages = 0;
        let mut seq = 1000u32;
        for bytes in [&broken[..], &good[..]] {
            let frame = tcp_segment(seq, bytes);
            let frame = Frame { ts_micros: 1, link_type: LinkType::RAW, data: &frame, wire_len: 0 };
            decoder.decode(&frame, &mut |_| messages += 1);
            seq += bytes.len() as u32;
        }
        let tcp = decoder.stats().tcp;
        assert_eq!(tcp.missing_content_length, 1, "{tcp:?}");
        assert_eq!(messages, 1, "the flow goes on after the error");
    }

    #[test]
    fn a_datagram_within_the_window_is_still_rebuilt() {
        let mut decoder = CaptureDecoder::new(DecoderConfig::default());
        for i in 0..MAX_FRAGMENT_WINDOW / 2 {
            decode(&mut decoder, &first_fragment(40_000 + i as u16, true, 0), 1_000_000 + i);
        }
        // The first datagram's second half: 24 bytes at offset 3 × 8.
        decode(&mut decoder, &first_fragment(40_000, false, 3), 2_000_000);
        assert_eq!(decoder.stats().ip_reassembled, 1);
    }
}
