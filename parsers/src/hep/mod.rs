//! HEP (Homer Encapsulation Protocol): HEPv3 with every generic chunk, plus the older
//! HEPv1/v2 headers. Spec: sipcapture/HEP, HEP3 Network Protocol Specification rev. 37.
//!
//! Length rules follow heplify-server: the packet's total length must match the bytes given,
//! every chunk declares at least its own 6-byte header and fits in the packet, fixed-size
//! chunks have their exact size. Chunks may come in any order; vendor chunks and unknown
//! generic chunks are skipped by their length and counted.

mod legacy;
mod types;

pub use types::{ChunkType, ProtoType, family};

use std::borrow::Cow;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::be_u16;

use crate::error::{IResult, ParseError};

/// Largest HEP packet (the length field is 16 bits).
pub const MAX_HEP_LEN: usize = 65_535;
/// Largest payload a compressed chunk may inflate to; more is refused, not truncated.
pub const MAX_DECOMPRESSED_LEN: usize = 256 * 1024;

/// One decoded HEP packet, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HepPacket<'a> {
    /// 1, 2 or 3.
    pub version: u8,
    /// Chunk 0x0001 (2 = IPv4, 10 = IPv6).
    pub ip_family: Option<u8>,
    /// Chunk 0x0002 (17 UDP, 6 TCP, 132 SCTP).
    pub ip_protocol: Option<u8>,
    /// Chunks 0x0003 or 0x0005.
    pub src_ip: Option<IpAddr>,
    /// Chunks 0x0004 or 0x0006.
    pub dst_ip: Option<IpAddr>,
    /// Chunk 0x0007.
    pub src_port: Option<u16>,
    /// Chunk 0x0008.
    pub dst_port: Option<u16>,
    /// Chunk 0x0009: seconds since the epoch.
    pub timestamp_sec: Option<u32>,
    /// Chunk 0x000a: microseconds within the second.
    pub timestamp_usec: Option<u32>,
    /// Chunk 0x000b: what the payload is (1 = SIP).
    pub proto_type: Option<ProtoType>,
    /// Chunk 0x000c: numeric capture agent id.
    pub capture_id: Option<u32>,
    /// Chunk 0x000d.
    pub keep_alive: Option<u16>,
    /// Chunk 0x000e: the plain-text authentication key.
    pub auth_key: Option<&'a [u8]>,
    /// Chunk 0x000f or 0x0010.
    pub payload: HepPayload<'a>,
    /// Chunk 0x0011.
    pub correlation_id: Option<&'a [u8]>,
    /// Chunk 0x0012.
    pub vlan_id: Option<u16>,
    /// Chunk 0x0013: capture agent or node name.
    pub node_name: Option<&'a [u8]>,
    /// Vendor chunks and generic chunks of types this decoder does not read, skipped.
    pub skipped_chunks: u16,
}

/// The captured message, as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HepPayload<'a> {
    /// No payload chunk (only a legal state while decoding).
    #[default]
    Missing,
    /// Chunk 0x000f.
    Plain(&'a [u8]),
    /// Chunk 0x0010: zlib (RFC 1950) or gzip (RFC 1952) compressed.
    Compressed(&'a [u8]),
}

impl<'a> HepPacket<'a> {
    /// Capture time in microseconds since the epoch, when both timestamp chunks are present.
    pub fn timestamp_micros(&self) -> Option<u64> {
        let seconds = u64::from(self.timestamp_sec?);
        let micros = u64::from(self.timestamp_usec.unwrap_or(0));
        Some(seconds * 1_000_000 + micros.min(999_999))
    }

    /// Whether the payload is SIP (protocol type 1; HEPv1/v2 carry only SIP).
    pub fn is_sip(&self) -> bool {
        self.proto_type == Some(ProtoType::SIP)
    }

    /// The payload bytes, inflated if compressed (at most [`MAX_DECOMPRESSED_LEN`]).
    pub fn payload_bytes(&self) -> Result<Cow<'a, [u8]>, ParseError> {
        match self.payload {
            HepPayload::Missing => Err(ParseError::HepMissingPayload),
            HepPayload::Plain(bytes) => Ok(Cow::Borrowed(bytes)),
            HepPayload::Compressed(bytes) => inflate(bytes).map(Cow::Owned),
        }
    }
}

/// Parses one HEP packet (v3, or v1/v2) from the start of `input`; the bytes after its
/// declared length are returned. A UDP datagram holds exactly one packet: see
/// [`parse_hep_datagram`].
pub fn parse_hep(input: &[u8]) -> IResult<&[u8], HepPacket<'_>> {
    match input.first() {
        Some(1 | 2) => legacy::parse_legacy(input),
        _ => parse_hep3(input),
    }
}

/// Parses a UDP datagram that must be exactly one HEP packet.
pub fn parse_hep_datagram(datagram: &[u8]) -> Result<HepPacket<'_>, ParseError> {
    match parse_hep(datagram) {
        Ok(([], packet)) => Ok(packet),
        Ok(_) => Err(ParseError::HepLengthMismatch),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(ParseError::HepLengthMismatch),
    }
}

fn parse_hep3(input: &[u8]) -> IResult<&[u8], HepPacket<'_>> {
    let (after_magic, magic) =
        take(4usize).parse(input).map_err(|_: nom::Err<ParseError>| ParseError::NotHep)?;
    if magic != b"HEP3" && magic != b"EEP3" {
        return Err(ParseError::NotHep.into());
    }
    let (_, total) =
        be_u16(after_magic).map_err(|_: nom::Err<ParseError>| ParseError::HepLengthMismatch)?;
    let total = usize::from(total);
    if total < 6 || total > input.len() {
        return Err(ParseError::HepLengthMismatch.into());
    }
    let (packet_bytes, rest) = input.split_at(total);
    let mut packet = HepPacket { version: 3, ..HepPacket::default() };
    let mut chunks = &packet_bytes[6..];
    while !chunks.is_empty() {
        if chunks.len() < 6 {
            return Err(ParseError::HepChunkLength.into());
        }
        let vendor = u16::from_be_bytes([chunks[0], chunks[1]]);
        let kind = ChunkType(u16::from_be_bytes([chunks[2], chunks[3]]));
        let len = usize::from(u16::from_be_bytes([chunks[4], chunks[5]]));
        if len < 6 || len > chunks.len() {
            return Err(ParseError::HepChunkLength.into());
        }
        let value = &chunks[6..len];
        chunks = &chunks[len..];
        if vendor != 0 {
            packet.skipped_chunks = packet.skipped_chunks.saturating_add(1);
            continue;
        }
        read_chunk(&mut packet, kind, value)?;
    }
    if packet.payload == HepPayload::Missing {
        return Err(ParseError::HepMissingPayload.into());
    }
    Ok((rest, packet))
}

fn read_chunk<'a>(
    packet: &mut HepPacket<'a>,
    kind: ChunkType,
    value: &'a [u8],
) -> Result<(), ParseError> {
    match kind {
        ChunkType::IP_FAMILY => packet.ip_family = Some(u8_of(value)?),
        ChunkType::IP_PROTOCOL => packet.ip_protocol = Some(u8_of(value)?),
        ChunkType::IPV4_SRC => packet.src_ip = Some(IpAddr::V4(ipv4_of(value)?)),
        ChunkType::IPV4_DST => packet.dst_ip = Some(IpAddr::V4(ipv4_of(value)?)),
        ChunkType::IPV6_SRC => packet.src_ip = Some(IpAddr::V6(ipv6_of(value)?)),
        ChunkType::IPV6_DST => packet.dst_ip = Some(IpAddr::V6(ipv6_of(value)?)),
        ChunkType::SRC_PORT => packet.src_port = Some(u16_of(value)?),
        ChunkType::DST_PORT => packet.dst_port = Some(u16_of(value)?),
        ChunkType::TIMESTAMP_SEC => packet.timestamp_sec = Some(u32_of(value)?),
        ChunkType::TIMESTAMP_USEC => packet.timestamp_usec = Some(u32_of(value)?),
        ChunkType::PROTO_TYPE => packet.proto_type = Some(ProtoType(u8_of(value)?)),
        ChunkType::CAPTURE_ID => packet.capture_id = Some(u32_of(value)?),
        ChunkType::KEEP_ALIVE => packet.keep_alive = Some(u16_of(value)?),
        ChunkType::AUTH_KEY => packet.auth_key = Some(value),
        ChunkType::PAYLOAD => packet.payload = HepPayload::Plain(value),
        ChunkType::COMPRESSED_PAYLOAD => packet.payload = HepPayload::Compressed(value),
        ChunkType::CORRELATION_ID => packet.correlation_id = Some(value),
        ChunkType::VLAN_ID => packet.vlan_id = Some(u16_of(value)?),
        ChunkType::NODE_NAME => packet.node_name = Some(value),
        _ => packet.skipped_chunks = packet.skipped_chunks.saturating_add(1),
    }
    Ok(())
}

fn u8_of(value: &[u8]) -> Result<u8, ParseError> {
    match value {
        [b] => Ok(*b),
        _ => Err(ParseError::HepChunkSize),
    }
}

fn u16_of(value: &[u8]) -> Result<u16, ParseError> {
    <[u8; 2]>::try_from(value).map(u16::from_be_bytes).map_err(|_| ParseError::HepChunkSize)
}

fn u32_of(value: &[u8]) -> Result<u32, ParseError> {
    <[u8; 4]>::try_from(value).map(u32::from_be_bytes).map_err(|_| ParseError::HepChunkSize)
}

fn ipv4_of(value: &[u8]) -> Result<Ipv4Addr, ParseError> {
    <[u8; 4]>::try_from(value).map(Ipv4Addr::from).map_err(|_| ParseError::HepChunkSize)
}

fn ipv6_of(value: &[u8]) -> Result<Ipv6Addr, ParseError> {
    <[u8; 16]>::try_from(value).map(Ipv6Addr::from).map_err(|_| ParseError::HepChunkSize)
}

fn inflate(compressed: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut out = Vec::with_capacity(compressed.len() * 4);
    let limit = MAX_DECOMPRESSED_LEN as u64 + 1;
    let read = if compressed.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(compressed).take(limit).read_to_end(&mut out)
    } else {
        flate2::read::ZlibDecoder::new(compressed).take(limit).read_to_end(&mut out)
    };
    match read {
        Ok(len) if len <= MAX_DECOMPRESSED_LEN => Ok(out),
        _ => Err(ParseError::HepDecompress),
    }
}

/// Encodes a HEPv3 packet from (vendor, type, value) chunks, in the given order (tests, the
/// fuzzers' structured target and traffic generators use it). Oversized chunks saturate the
/// length fields, giving a packet that decoders reject.
pub fn build_hep3(chunks: &[(u16, u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (vendor, kind, value) in chunks {
        body.extend_from_slice(&vendor.to_be_bytes());
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&saturating_u16(value.len() + 6).to_be_bytes());
        body.extend_from_slice(value);
    }
    let mut packet = b"HEP3".to_vec();
    packet.extend_from_slice(&saturating_u16(body.len() + 6).to_be_bytes());
    packet.extend_from_slice(&body);
    packet
}

fn saturating_u16(value: usize) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const SIP: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n";

    fn kamailio_like(payload_type: u16, payload: &[u8]) -> Vec<u8> {
        build_hep3(&[
            (0, 0x01, &[2]),
            (0, 0x02, &[17]),
            (0, 0x03, &[10, 0, 0, 1]),
            (0, 0x04, &[10, 0, 0, 2]),
            (0, 0x07, &5060u16.to_be_bytes()),
            (0, 0x08, &5070u16.to_be_bytes()),
            (0, 0x09, &1_700_000_000u32.to_be_bytes()),
            (0, 0x0a, &123_456u32.to_be_bytes()),
            (0, 0x0b, &[1]),
            (0, 0x0c, &2001u32.to_be_bytes()),
            (0, 0x0e, b"myHep"),
            (0, payload_type, payload),
        ])
    }

    #[test]
    fn a_kamailio_packet_decodes_completely() {
        let bytes = kamailio_like(0x0f, SIP);
        let packet = parse_hep_datagram(&bytes).unwrap();
        assert_eq!(
            packet,
            HepPacket {
                version: 3,
                ip_family: Some(2),
                ip_protocol: Some(17),
                src_ip: Some("10.0.0.1".parse().unwrap()),
                dst_ip: Some("10.0.0.2".parse().unwrap()),
                src_port: Some(5060),
                dst_port: Some(5070),
                timestamp_sec: Some(1_700_000_000),
                timestamp_usec: Some(123_456),
                proto_type: Some(ProtoType::SIP),
                capture_id: Some(2001),
                keep_alive: None,
                auth_key: Some(b"myHep"),
                payload: HepPayload::Plain(SIP),
                correlation_id: None,
                vlan_id: None,
                node_name: None,
                skipped_chunks: 0,
            }
        );
        assert_eq!(packet.timestamp_micros(), Some(1_700_000_000_123_456));
        assert_eq!(packet.payload_bytes().unwrap(), SIP);
    }

    #[test]
    fn chunk_order_is_free_and_unknown_chunks_are_skipped() {
        let bytes = build_hep3(&[
            (0, 0x0f, SIP),
            (0x0002, 0x0020, b"kamailio vendor chunk"),
            (0, 0x0099, b"future"),
            (0, 0x13, b"pcscf-1"),
            (0, 0x05, &[0; 16]),
            (0, 0x0b, &[1]),
            (0, 0x11, b"call-1"),
            (0, 0x12, &100u16.to_be_bytes()),
        ]);
        let packet = parse_hep_datagram(&bytes).unwrap();
        assert_eq!(packet.skipped_chunks, 2);
        assert_eq!(packet.node_name, Some(&b"pcscf-1"[..]));
        assert_eq!(packet.src_ip, Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(packet.correlation_id, Some(&b"call-1"[..]));
        assert_eq!(packet.vlan_id, Some(100));
        assert!(packet.is_sip());
    }

    #[test]
    fn a_zlib_payload_inflates() {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(SIP).unwrap();
        let bytes = kamailio_like(0x10, &encoder.finish().unwrap());
        let packet = parse_hep_datagram(&bytes).unwrap();
        assert!(matches!(packet.payload, HepPayload::Compressed(_)));
        assert_eq!(packet.payload_bytes().unwrap(), SIP);
        let broken = kamailio_like(0x10, b"not zlib at all");
        assert_eq!(
            parse_hep_datagram(&broken).unwrap().payload_bytes(),
            Err(ParseError::HepDecompress)
        );
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b'A'; MAX_DECOMPRESSED_LEN + 10]).unwrap();
        let bytes = kamailio_like(0x10, &encoder.finish().unwrap());
        assert!(bytes.len() < 2000);
        assert_eq!(
            parse_hep_datagram(&bytes).unwrap().payload_bytes(),
            Err(ParseError::HepDecompress)
        );
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let good = kamailio_like(0x0f, SIP);
        // Total length larger, smaller, or below the header.
        let mut longer = good.clone();
        longer[5] += 1;
        assert_eq!(parse_hep_datagram(&longer), Err(ParseError::HepLengthMismatch));
        let mut shorter = good.clone();
        shorter[5] -= 1;
        assert_eq!(parse_hep_datagram(&shorter), Err(ParseError::HepChunkLength));
        assert_eq!(parse_hep_datagram(b"HEP3\x00\x03"), Err(ParseError::HepLengthMismatch));
        // A chunk that declares less than its header, or more than the packet.
        let mut tiny_chunk = good.clone();
        tiny_chunk[11] = 5;
        assert_eq!(parse_hep_datagram(&tiny_chunk), Err(ParseError::HepChunkLength));
        // A port chunk of 3 bytes.
        let odd = build_hep3(&[(0, 0x07, &[1, 2, 3]), (0, 0x0f, SIP)]);
        assert_eq!(parse_hep_datagram(&odd), Err(ParseError::HepChunkSize));
        // No payload.
        let empty = build_hep3(&[(0, 0x0b, &[1])]);
        assert_eq!(parse_hep_datagram(&empty), Err(ParseError::HepMissingPayload));
        // Trailing bytes after the declared length.
        let mut trailing = good;
        trailing.push(0);
        assert_eq!(parse_hep_datagram(&trailing), Err(ParseError::HepLengthMismatch));
        assert_eq!(parse_hep_datagram(b"HEX3\x00\x06"), Err(ParseError::NotHep));
        assert_eq!(parse_hep_datagram(b"HE"), Err(ParseError::NotHep));
    }

    #[test]
    fn packets_back_to_back_on_a_stream() {
        let mut stream = kamailio_like(0x0f, SIP);
        stream.extend_from_slice(&kamailio_like(0x0f, SIP));
        let (rest, _) = parse_hep(&stream).unwrap();
        let (rest, _) = parse_hep(rest).unwrap();
        assert!(rest.is_empty());
    }
}
