//! HEPv1 and HEPv2 (Kamailio's `hep_version` 1 and 2): a fixed header, then the SIP message.
//!
//! ```text
//! u8 version | u8 header length | u8 family (2 or 10) | u8 protocol | u16 src port | u16 dst port
//! src address (4 or 16) | dst address (4 or 16)
//! v2 only: u32 seconds | u32 microseconds | u16 capture id | u16 padding   (host order, i.e. LE)
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{HepPacket, HepPayload, ProtoType};
use crate::error::{IResult, ParseError};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

pub(super) fn parse_legacy(input: &[u8]) -> IResult<&[u8], HepPacket<'_>> {
    let [version, header_len, family, protocol, ..] = *input else {
        return Err(ParseError::HepLegacyHeader.into());
    };
    let address_len = match family {
        AF_INET => 4,
        AF_INET6 => 16,
        _ => return Err(ParseError::HepLegacyHeader.into()),
    };
    let time_len = if version == 2 { 12 } else { 0 };
    let expected = 8 + 2 * address_len + time_len;
    if usize::from(header_len) != expected || input.len() < expected {
        return Err(ParseError::HepLegacyHeader.into());
    }
    let address = |at: usize| -> IpAddr {
        let bytes = &input[at..at + address_len];
        match <[u8; 4]>::try_from(bytes) {
            Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            Err(_) => {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(bytes);
                IpAddr::V6(Ipv6Addr::from(v6))
            }
        }
    };
    let mut packet = HepPacket {
        version,
        ip_family: Some(if family == AF_INET { 2 } else { 10 }),
        ip_protocol: Some(protocol),
        src_port: Some(u16::from_be_bytes([input[4], input[5]])),
        dst_port: Some(u16::from_be_bytes([input[6], input[7]])),
        src_ip: Some(address(8)),
        dst_ip: Some(address(8 + address_len)),
        proto_type: Some(ProtoType::SIP),
        ..HepPacket::default()
    };
    if version == 2 {
        let at = 8 + 2 * address_len;
        let le32 =
            |i: usize| u32::from_le_bytes([input[i], input[i + 1], input[i + 2], input[i + 3]]);
        packet.timestamp_sec = Some(le32(at));
        packet.timestamp_usec = Some(le32(at + 4));
        packet.capture_id = Some(u32::from(u16::from_le_bytes([input[at + 8], input[at + 9]])));
    }
    packet.payload = HepPayload::Plain(&input[expected..]);
    // A legacy packet has no length field: it runs to the end of the datagram.
    Ok((&input[input.len()..], packet))
}

#[cfg(test)]
mod tests {
    use super::super::parse_hep_datagram;
    use super::*;

    #[test]
    fn hep2_ipv4() {
        let mut bytes = vec![2, 28, AF_INET, 17, 0x13, 0xc4, 0x13, 0xce, 10, 0, 0, 1, 10, 0, 0, 2];
        bytes.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        bytes.extend_from_slice(&5u32.to_le_bytes());
        bytes.extend_from_slice(&[0xd1, 0x07, 0, 0]);
        bytes.extend_from_slice(b"SIP/2.0 200 OK\r\n\r\n");
        let packet = parse_hep_datagram(&bytes).unwrap();
        assert_eq!(packet.version, 2);
        assert_eq!(packet.src_port, Some(5060));
        assert_eq!(packet.dst_port, Some(5070));
        assert_eq!(packet.capture_id, Some(2001));
        assert_eq!(packet.timestamp_micros(), Some(1_700_000_000_000_005));
        assert_eq!(packet.payload, HepPayload::Plain(b"SIP/2.0 200 OK\r\n\r\n"));
    }

    #[test]
    fn hep1_ipv6_and_bad_headers() {
        let mut bytes = vec![1, 40, AF_INET6, 6, 0, 1, 0, 2];
        bytes.extend_from_slice(&[0; 32]);
        bytes.extend_from_slice(b"x");
        let packet = parse_hep_datagram(&bytes).unwrap();
        assert_eq!(packet.src_ip, Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(packet.payload, HepPayload::Plain(b"x"));
        assert_eq!(parse_hep_datagram(&[1, 16, 7, 17]), Err(ParseError::HepLegacyHeader));
        assert_eq!(
            parse_hep_datagram(&[1, 15, AF_INET, 17, 0, 0, 0, 0]),
            Err(ParseError::HepLegacyHeader)
        );
        assert_eq!(parse_hep_datagram(&[2, 28, AF_INET, 17]), Err(ParseError::HepLegacyHeader));
    }
}
