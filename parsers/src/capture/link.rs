//! Link layers down to the IP packet: Ethernet with 802.1Q/802.1ad VLAN tags and PPPoE, Linux
//! cooked captures (SLL and SLL2), BSD loopback (NULL and LOOP), and raw IP.

use crate::error::ParseError;

/// A pcap link type (LINKTYPE_* of tcpdump.org), open: unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

#[allow(missing_docs)]
impl LinkType {
    pub const NULL: Self = Self(0);
    pub const ETHERNET: Self = Self(1);
    pub const RAW: Self = Self(101);
    pub const LOOP: Self = Self(108);
    pub const LINUX_SLL: Self = Self(113);
    pub const IPV4: Self = Self(228);
    pub const IPV6: Self = Self(229);
    pub const LINUX_SLL2: Self = Self(276);
    /// DLT_RAW on some BSDs, written as link type 12 or 14 by old tools.
    pub const RAW_BSD: Self = Self(12);
    pub const RAW_OPENBSD: Self = Self(14);
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
/// At most this many VLAN tags are stripped.
const MAX_VLAN_TAGS: usize = 3;

/// What a frame holds after its link layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPayload<'a> {
    /// An IPv4 or IPv6 packet.
    Ip(&'a [u8]),
    /// Something else (ARP, LLDP, ...): not ours, not an error.
    NotIp,
}

/// Strips the link layer of `frame`.
pub fn strip_link(link_type: LinkType, frame: &[u8]) -> Result<LinkPayload<'_>, ParseError> {
    match link_type {
        LinkType::ETHERNET => ethernet(frame),
        LinkType::RAW
        | LinkType::IPV4
        | LinkType::IPV6
        | LinkType::RAW_BSD
        | LinkType::RAW_OPENBSD => Ok(LinkPayload::Ip(frame)),
        LinkType::NULL | LinkType::LOOP => loopback(link_type, frame),
        LinkType::LINUX_SLL => {
            // 16 bytes; the protocol (an EtherType) is the last two.
            let header = frame.get(..16).ok_or(ParseError::MalformedPacket)?;
            by_ether_type(u16::from_be_bytes([header[14], header[15]]), &frame[16..])
        }
        LinkType::LINUX_SLL2 => {
            // 20 bytes; the protocol is the first two.
            let header = frame.get(..20).ok_or(ParseError::MalformedPacket)?;
            by_ether_type(u16::from_be_bytes([header[0], header[1]]), &frame[20..])
        }
        _ => Err(ParseError::UnsupportedLinkType),
    }
}

fn ethernet(frame: &[u8]) -> Result<LinkPayload<'_>, ParseError> {
    let header = frame.get(..14).ok_or(ParseError::MalformedPacket)?;
    let mut ether_type = u16::from_be_bytes([header[12], header[13]]);
    let mut rest = &frame[14..];
    for _ in 0..MAX_VLAN_TAGS {
        if !matches!(ether_type, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
            break;
        }
        let tag = rest.get(..4).ok_or(ParseError::MalformedPacket)?;
        ether_type = u16::from_be_bytes([tag[2], tag[3]]);
        rest = &rest[4..];
    }
    by_ether_type(ether_type, rest)
}

fn by_ether_type(ether_type: u16, payload: &[u8]) -> Result<LinkPayload<'_>, ParseError> {
    match ether_type {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(LinkPayload::Ip(payload)),
        ETHERTYPE_PPPOE_SESSION => {
            // PPPoE header (6 bytes), then the 2-byte PPP protocol.
            let header = payload.get(..8).ok_or(ParseError::MalformedPacket)?;
            match u16::from_be_bytes([header[6], header[7]]) {
                PPP_IPV4 | PPP_IPV6 => Ok(LinkPayload::Ip(&payload[8..])),
                _ => Ok(LinkPayload::NotIp),
            }
        }
        _ => Ok(LinkPayload::NotIp),
    }
}

fn loopback(link_type: LinkType, frame: &[u8]) -> Result<LinkPayload<'_>, ParseError> {
    let header = frame.get(..4).ok_or(ParseError::MalformedPacket)?;
    let bytes = [header[0], header[1], header[2], header[3]];
    // NULL stores the address family in the capturing host's byte order, LOOP in network
    // order; accept either order for NULL.
    let family = if link_type == LinkType::LOOP {
        u32::from_be_bytes(bytes)
    } else {
        let little = u32::from_le_bytes(bytes);
        if little <= 0xffff { little } else { u32::from_be_bytes(bytes) }
    };
    match family {
        // AF_INET; AF_INET6 as BSDs, macOS and Linux number it.
        2 | 24 | 28 | 30 | 10 => Ok(LinkPayload::Ip(&frame[4..])),
        _ => Ok(LinkPayload::NotIp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &[u8] = &[0x45, 0, 0, 20];

    #[test]
    fn ethernet_with_vlan_tags_and_pppoe() {
        let mut frame = vec![0; 12];
        frame.extend_from_slice(&[0x81, 0x00, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        frame.extend_from_slice(IP);
        assert_eq!(strip_link(LinkType::ETHERNET, &frame), Ok(LinkPayload::Ip(IP)));

        let mut pppoe = vec![0; 12];
        pppoe.extend_from_slice(&[0x88, 0x64, 0x11, 0, 0, 1, 0, 6, 0x00, 0x21]);
        pppoe.extend_from_slice(IP);
        assert_eq!(strip_link(LinkType::ETHERNET, &pppoe), Ok(LinkPayload::Ip(IP)));

        let mut arp = vec![0; 12];
        arp.extend_from_slice(&[0x08, 0x06, 1, 2]);
        assert_eq!(strip_link(LinkType::ETHERNET, &arp), Ok(LinkPayload::NotIp));
    }

    #[test]
    fn cooked_loopback_and_raw() {
        let mut sll = vec![0; 14];
        sll.extend_from_slice(&[0x86, 0xdd]);
        sll.extend_from_slice(IP);
        assert_eq!(strip_link(LinkType::LINUX_SLL, &sll), Ok(LinkPayload::Ip(IP)));
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(IP);
        assert_eq!(strip_link(LinkType::LINUX_SLL2, &sll2), Ok(LinkPayload::Ip(IP)));
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(IP);
        assert_eq!(strip_link(LinkType::NULL, &null), Ok(LinkPayload::Ip(IP)));
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(IP);
        assert_eq!(strip_link(LinkType::NULL, &null_be), Ok(LinkPayload::Ip(IP)));
        assert_eq!(strip_link(LinkType::RAW, IP), Ok(LinkPayload::Ip(IP)));
    }

    #[test]
    fn short_frames_and_unknown_link_types_are_errors() {
        assert_eq!(strip_link(LinkType::ETHERNET, &[0; 13]), Err(ParseError::MalformedPacket));
        assert_eq!(strip_link(LinkType::LINUX_SLL, &[0; 15]), Err(ParseError::MalformedPacket));
        assert_eq!(strip_link(LinkType(147), &[0; 40]), Err(ParseError::UnsupportedLinkType));
    }
}
