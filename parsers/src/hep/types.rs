//! HEP code points as open newtypes: unknown values still decode and can be counted.

/// A generic chunk type (vendor 0x0000), HEP3 specification rev. 37.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkType(pub u16);

#[allow(missing_docs)]
impl ChunkType {
    pub const IP_FAMILY: Self = Self(0x0001);
    pub const IP_PROTOCOL: Self = Self(0x0002);
    pub const IPV4_SRC: Self = Self(0x0003);
    pub const IPV4_DST: Self = Self(0x0004);
    pub const IPV6_SRC: Self = Self(0x0005);
    pub const IPV6_DST: Self = Self(0x0006);
    pub const SRC_PORT: Self = Self(0x0007);
    pub const DST_PORT: Self = Self(0x0008);
    pub const TIMESTAMP_SEC: Self = Self(0x0009);
    pub const TIMESTAMP_USEC: Self = Self(0x000a);
    pub const PROTO_TYPE: Self = Self(0x000b);
    pub const CAPTURE_ID: Self = Self(0x000c);
    pub const KEEP_ALIVE: Self = Self(0x000d);
    pub const AUTH_KEY: Self = Self(0x000e);
    pub const PAYLOAD: Self = Self(0x000f);
    pub const COMPRESSED_PAYLOAD: Self = Self(0x0010);
    pub const CORRELATION_ID: Self = Self(0x0011);
    pub const VLAN_ID: Self = Self(0x0012);
    pub const NODE_NAME: Self = Self(0x0013);
}

/// What the payload carries (chunk 0x000b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtoType(pub u8);

#[allow(missing_docs)]
impl ProtoType {
    pub const SIP: Self = Self(0x01);
    pub const XMPP: Self = Self(0x02);
    pub const SDP: Self = Self(0x03);
    pub const RTP: Self = Self(0x04);
    pub const RTCP_JSON: Self = Self(0x05);
    pub const MGCP: Self = Self(0x06);
    pub const MEGACO: Self = Self(0x07);
    pub const M2UA: Self = Self(0x08);
    pub const M3UA: Self = Self(0x09);
    pub const IAX: Self = Self(0x0a);
    pub const SIP_JSON: Self = Self(0x32);
    pub const DNS_JSON: Self = Self(0x35);
    pub const DIAMETER_JSON: Self = Self(0x38);
    pub const LOG: Self = Self(0x64);
}

/// IP family values of chunk 0x0001.
pub mod family {
    /// IPv4.
    pub const IPV4: u8 = 0x02;
    /// IPv6.
    pub const IPV6: u8 = 0x0a;
}
