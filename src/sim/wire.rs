//! Simulated messages and their rendering to SIP text.
//!
//! A message is a small `Copy` struct (who, which transaction, which code); its bytes are made
//! only when an output writes it. Everything in the text derives from the struct, so a
//! retransmission (the same struct at a later time) is byte-identical, as on the wire.

use std::net::Ipv4Addr;

use imsight_parsers::sip::Method;

/// The home domain of the simulated network.
pub const DOMAIN: &str = "ims.mnc001.mcc001.3gppnetwork.org";

/// Which side of the P-CSCF a message is on: access (Gm, toward the UEs) or core (Mw).
pub use crate::schema::Leg;

/// Who started the dialog or transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// The UE (mobile originated): access request inbound, core request outbound.
    Uplink,
    /// The core, toward the UE (mobile terminated): core request inbound, access outbound.
    Downlink,
    /// The P-CSCF itself, toward the core (keep-alives).
    FromPcscf,
}

/// The core element on the far side of the core leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorePeer {
    /// Interrogating CSCF (REGISTER).
    Icscf,
    /// Serving CSCF (everything else).
    Scscf,
}

/// Flags on a message.
pub mod flag {
    /// Carries SDP.
    pub const SDP: u16 = 1;
    /// REGISTER with credentials.
    pub const AUTH: u16 = 2;
    /// A request sent by the party that did not start the dialog (From/To swapped).
    pub const REVERSE: u16 = 4;
    /// In-dialog request or a response with a To tag.
    pub const TO_TAG: u16 = 8;
    /// A retransmission (same bytes as an earlier copy).
    pub const RETRANSMISSION: u16 = 16;
    /// 100rel: Require/RSeq on a 183, RAck on PRACK.
    pub const RELIABLE: u16 = 32;
    /// The ACK of a 2xx (new branch, end to end).
    pub const ACK_2XX: u16 = 64;
    /// A flood INVITE (to a number that usually does not exist).
    pub const FLOOD: u16 = 128;
    /// A reg-event NOTIFY that ends the registration (network-initiated de-registration).
    pub const TERMINATED: u16 = 256;
    /// A de-registration: REGISTER with Expires: 0.
    pub const DEREGISTER: u16 = 512;
    /// An SMS delivery report (RP-ACK) rather than the message itself (RP-DATA).
    pub const SMS_REPORT: u16 = 1024;
    /// With TERMINATED: the UE de-registered itself (event `unregistered`), rather than the
    /// network (event `deactivated`).
    pub const UNREGISTERED: u16 = 2048;
}

/// One simulated SIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimMessage {
    /// Capture time at the P-CSCF, µs since the epoch.
    pub ts: u64,
    /// Node index.
    pub node: u16,
    /// Access or core leg.
    pub leg: Leg,
    /// Who started it.
    pub dir: Dir,
    /// Core element of the core leg.
    pub peer: CorePeer,
    /// The UE's subscriber index.
    pub sub: u32,
    /// The other party's number (calls, messages).
    pub other: u32,
    /// Dialog seed (Call-ID, tags).
    pub dialog: u64,
    /// Transaction seed (branch).
    pub txn: u64,
    /// CSeq number.
    pub cseq: u32,
    /// The request method, or the method the response answers.
    pub method: Method<'static>,
    /// 0 for a request, else the status code.
    pub status: u16,
    /// See [`flag`].
    pub flags: u16,
    /// Lifetime carried, seconds: the registration granted (REGISTER), Session-Expires
    /// (INVITE); 0 when none.
    pub expires: u32,
}

impl SimMessage {
    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        self.status == 0
    }

    /// Whether the P-CSCF receives it (true) or sends it (false).
    pub fn inbound(&self) -> bool {
        let request_inbound = match (self.dir, self.leg) {
            (Dir::Uplink, Leg::Access) | (Dir::Downlink, Leg::Core) => true,
            (Dir::Uplink | Dir::FromPcscf, Leg::Core)
            | (Dir::Downlink | Dir::FromPcscf, Leg::Access) => false,
        };
        let request_inbound = request_inbound ^ (self.flags & flag::REVERSE != 0);
        if self.is_request() { request_inbound } else { !request_inbound }
    }

    /// (source, destination) addresses and ports.
    pub fn endpoints(&self) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
        let pcscf = match self.leg {
            Leg::Access => (pcscf_access(self.node), 5060),
            Leg::Core => (pcscf_core(self.node), 5060),
        };
        let far = match self.leg {
            Leg::Access => (ue_addr(self.node, self.sub), ue_port(self.sub)),
            Leg::Core => (core_addr(self.peer), 5060),
        };
        if self.inbound() { (far, pcscf) } else { (pcscf, far) }
    }
}

/// The P-CSCF's address toward the UEs.
pub fn pcscf_access(node: u16) -> Ipv4Addr {
    Ipv4Addr::new(172, 20, node as u8, 10)
}

/// The P-CSCF's address toward the core.
pub fn pcscf_core(node: u16) -> Ipv4Addr {
    Ipv4Addr::new(172, 21, node as u8, 10)
}

/// Address of a core element.
pub fn core_addr(peer: CorePeer) -> Ipv4Addr {
    match peer {
        CorePeer::Icscf => Ipv4Addr::new(172, 30, 0, 20),
        CorePeer::Scscf => Ipv4Addr::new(172, 30, 0, 30),
    }
}

/// A UE's address: 10.x.y.z, one /12 per node (a million UEs each).
pub fn ue_addr(node: u16, sub: u32) -> Ipv4Addr {
    let n = u32::from(node % 16) << 20 | (sub & 0xf_ffff);
    Ipv4Addr::from(0x0a00_0000 | n)
}

/// A UE's SIP port (protected client port, varying per UE).
pub fn ue_port(sub: u32) -> u16 {
    49_152 + (sub.wrapping_mul(7919) % 16_000) as u16
}

/// The subscriber's public identity number.
fn msisdn(sub: u32) -> u64 {
    4_915_100_000_000 + u64::from(sub)
}

fn hash(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A byte buffer with the few fast writes rendering needs.
struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    fn s(&mut self, text: &str) -> &mut Self {
        self.0.extend_from_slice(text.as_bytes());
        self
    }
    fn n(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }
    fn hex(&mut self, value: u64) -> &mut Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for shift in (0..16).rev() {
            self.0.push(DIGITS[((value >> (shift * 4)) & 0xf) as usize]);
        }
        self
    }
    fn ip(&mut self, addr: Ipv4Addr) -> &mut Self {
        let [a, b, c, d] = addr.octets();
        self.n(a.into()).s(".").n(b.into()).s(".").n(c.into()).s(".").n(d.into())
    }
}

const REASONS: &[(u16, &str)] = &[
    (100, "Trying"),
    (180, "Ringing"),
    (183, "Session Progress"),
    (200, "OK"),
    (202, "Accepted"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (408, "Request Timeout"),
    (480, "Temporarily Unavailable"),
    (481, "Call/Transaction Does Not Exist"),
    (486, "Busy Here"),
    (487, "Request Terminated"),
    (488, "Not Acceptable Here"),
    (500, "Server Internal Error"),
    (503, "Service Unavailable"),
    (504, "Server Time-out"),
    (580, "Precondition Failure"),
    (603, "Decline"),
];

fn reason(code: u16) -> &'static str {
    REASONS.iter().find(|(c, _)| *c == code).map_or("Unknown", |(_, r)| r)
}

/// The Retry-After (seconds) of a 503 in transaction `txn`: 30 to 119 s, spread so that
/// rejected UEs do not come back together (RFC 6357 §5).
pub fn retry_after_s(txn: u64) -> u64 {
    30 + txn % 90
}

/// The Call-ID of a dialog.
pub fn call_id(node: u16, sub: u32, dialog: u64, dir: Dir) -> String {
    let mut bytes = Vec::with_capacity(64);
    call_id_into(&mut Out(&mut bytes), node, sub, dialog, dir);
    String::from_utf8(bytes).unwrap_or_default()
}

fn call_id_into(o: &mut Out<'_>, node: u16, sub: u32, dialog: u64, dir: Dir) {
    o.hex(hash(dialog, 3)).s("@");
    match dir {
        Dir::Downlink => o.s("scscf.").s(DOMAIN),
        Dir::FromPcscf => o.s("pcscf").n(node.into()).s(".").s(DOMAIN),
        Dir::Uplink => o.ip(ue_addr(node, sub)),
    };
}

/// A stable, non-reversible subscriber reference for probe records.
pub fn subscriber_hash(node: u16, sub: u32) -> String {
    format!("{:016x}", hash(u64::from(node) << 32 | u64::from(sub), 0x5b))
}

/// Appends the SIP text of `m` to `out`.
pub fn render(m: &SimMessage, out: &mut Vec<u8>) {
    let mut o = Out(out);
    let ue = ue_addr(m.node, m.sub);
    let uport = u64::from(ue_port(m.sub));
    let number = msisdn(m.sub);
    let other = msisdn(m.other);
    let dialog_started_by_ue = m.dir == Dir::Uplink;
    let method = m.method.as_str();

    // Start line.
    if m.is_request() {
        o.s(method).s(" ");
        match (m.method, m.leg, m.dir) {
            (Method::Register, ..) => {
                o.s("sip:").s(DOMAIN);
            }
            (Method::Options, ..) => {
                o.s("sip:scscf.").s(DOMAIN);
            }
            // The S-CSCF notifies the P-CSCF's own subscription.
            (Method::Notify, Leg::Core, Dir::FromPcscf) => {
                o.s("sip:pcscf").n(m.node.into()).s(".").s(DOMAIN);
            }
            // Toward the UE: its registered contact.
            (_, Leg::Access, Dir::Downlink) => {
                o.s("sip:+").n(number).s("@").ip(ue).s(":").n(uport);
            }
            (_, _, _) if m.flags & flag::REVERSE != 0 => {
                o.s("sip:+").n(number).s("@").ip(ue).s(":").n(uport);
            }
            (Method::Subscribe, ..) => {
                o.s("sip:+").n(number).s("@").s(DOMAIN);
            }
            _ => {
                o.s("sip:+").n(other).s("@").s(DOMAIN).s(";user=phone");
            }
        }
        o.s(" SIP/2.0\r\n");
    } else {
        o.s("SIP/2.0 ").n(m.status.into()).s(" ").s(reason(m.status)).s("\r\n");
    }

    // Via: the request's Vias on this leg, top first.
    let branch_txn = if m.flags & flag::ACK_2XX != 0 { hash(m.txn, 0xac) } else { m.txn };
    let request_inbound = if m.is_request() { m.inbound() } else { !m.inbound() };
    let via = |o: &mut Out<'_>, host: Ipv4Addr, port: u64, suffix: &str| {
        o.s("Via: SIP/2.0/UDP ")
            .ip(host)
            .s(":")
            .n(port)
            .s(";branch=z9hG4bK")
            .hex(branch_txn)
            .s(suffix);
    };
    match (m.leg, request_inbound) {
        (Leg::Access, true) => {
            via(&mut o, ue, uport, "u;rport");
            if !m.is_request() {
                o.s("=").n(uport).s(";received=").ip(ue);
            }
            o.s("\r\n");
        }
        (Leg::Access, false) => {
            via(&mut o, pcscf_access(m.node), 5060, "p\r\n");
            via(&mut o, core_addr(CorePeer::Scscf), 5060, "s\r\n");
        }
        (Leg::Core, false) => {
            via(&mut o, pcscf_core(m.node), 5060, "c\r\n");
            if m.dir != Dir::FromPcscf {
                // The UE's Via as the P-CSCF received it (received and rport filled in).
                o.s("Via: SIP/2.0/UDP ").ip(ue).s(":").n(uport).s(";received=").ip(ue);
                o.s(";rport=").n(uport).s(";branch=z9hG4bK").hex(branch_txn).s("u\r\n");
            }
        }
        (Leg::Core, true) => via(&mut o, core_addr(m.peer), 5060, "s\r\n"),
    }
    if m.is_request() {
        o.s("Max-Forwards: ")
            .n(if m.leg == Leg::Core && m.dir == Dir::Uplink { 69 } else { 70 })
            .s("\r\n");
    }

    // From / To: the dialog starter is From in its own requests and all responses to them.
    let from_tag = hash(m.dialog, 1);
    let to_tag = hash(m.dialog, 2);
    let (caller_is_ue, self_uri_number) = (dialog_started_by_ue, number);
    let swap = m.flags & flag::REVERSE != 0;
    let party = |o: &mut Out<'_>, party: Party| match party {
        Party::Pcscf => {
            o.s("<sip:pcscf").n(m.node.into()).s(".").s(DOMAIN).s(">");
        }
        Party::Ue => {
            o.s("<sip:+").n(self_uri_number).s("@").s(DOMAIN).s(">");
        }
        Party::Other => {
            o.s("<sip:+").n(other).s("@").s(DOMAIN).s(";user=phone>");
        }
    };
    let (from, to) = match (m.method, m.dir) {
        (Method::Options, _) => (Party::Pcscf, Party::Pcscf),
        // The P-CSCF's own reg-event subscription (3GPP TS 24.229 §5.2.3).
        (Method::Subscribe | Method::Notify, Dir::FromPcscf) => (Party::Pcscf, Party::Ue),
        (Method::Register | Method::Subscribe | Method::Notify, _) => (Party::Ue, Party::Ue),
        _ if caller_is_ue => (Party::Ue, Party::Other),
        _ => (Party::Other, Party::Ue),
    };
    let (from, to, from_tag, to_tag) =
        if swap { (to, from, to_tag, from_tag) } else { (from, to, from_tag, to_tag) };
    o.s("From: ");
    party(&mut o, from);
    o.s(";tag=").hex(from_tag).s("\r\nTo: ");
    party(&mut o, to);
    let has_to_tag = m.flags & flag::TO_TAG != 0 || (!m.is_request() && m.status != 100) || swap;
    if has_to_tag {
        o.s(";tag=").hex(to_tag);
    }
    o.s("\r\nCall-ID: ");
    call_id_into(&mut o, m.node, m.sub, m.dialog, m.dir);
    o.s("\r\nCSeq: ").n(m.cseq.into()).s(" ").s(method).s("\r\n");

    // Method- and code-specific headers.
    let ue_contact = |o: &mut Out<'_>| {
        o.s("Contact: <sip:+").n(number).s("@").ip(ue).s(":").n(uport).s(">");
    };
    if m.is_request() {
        match m.method {
            Method::Register => {
                ue_contact(&mut o);
                o.s(";+sip.instance=\"<urn:gsma:imei:35")
                    .n(u64::from(m.sub) % 1_000_000_000_000)
                    .s(">\"\r\nExpires: ");
                let asked = if m.flags & flag::DEREGISTER != 0 { 0 } else { REQUESTED_EXPIRES_S };
                o.n(asked.into()).s("\r\nSupported: path,gruu\r\n");
                o.s("Authorization: Digest username=\"00101")
                    .n(u64::from(m.sub) + 1_000_000_000)
                    .s("@")
                    .s(DOMAIN)
                    .s("\",realm=\"")
                    .s(DOMAIN)
                    .s("\",uri=\"sip:")
                    .s(DOMAIN);
                if m.flags & flag::AUTH != 0 {
                    o.s("\",nonce=\"")
                        .hex(hash(m.dialog, 9))
                        .s("\",response=\"")
                        .hex(hash(m.txn, 10))
                        .hex(hash(m.txn, 11))
                        .s("\",algorithm=AKAv1-MD5,qop=auth,nc=00000001,cnonce=\"")
                        .hex(hash(m.txn, 12))
                        .s("\"\r\n");
                } else {
                    // IMS AKA: the first REGISTER carries empty credentials (3GPP TS 24.229).
                    o.s("\",nonce=\"\",response=\"\"\r\n");
                }
            }
            Method::Invite | Method::Message | Method::Subscribe if !swap => {
                if m.dir == Dir::FromPcscf {
                    o.s("Contact: <sip:pcscf").n(m.node.into()).s(".").s(DOMAIN).s(">\r\n");
                } else if m.dir == Dir::Uplink {
                    ue_contact(&mut o);
                    o.s("\r\n");
                    if m.leg == Leg::Access {
                        o.s("P-Preferred-Identity: <sip:+").n(number).s("@").s(DOMAIN).s(">\r\n");
                    } else {
                        o.s("P-Asserted-Identity: <sip:+").n(number).s("@").s(DOMAIN).s(">\r\n");
                    }
                } else {
                    o.s("Contact: <sip:+")
                        .n(other)
                        .s("@mgcf.")
                        .s(DOMAIN)
                        .s(">\r\nP-Asserted-Identity: <sip:+")
                        .n(other)
                        .s("@")
                        .s(DOMAIN)
                        .s(";user=phone>\r\n");
                }
                if m.method == Method::Invite {
                    o.s("Supported: 100rel,precondition,timer\r\nAllow: INVITE,ACK,CANCEL,BYE,PRACK,UPDATE,MESSAGE,OPTIONS\r\n");
                    session_expires(&mut o, m.expires);
                } else if m.method == Method::Subscribe {
                    o.s("Event: reg\r\nExpires: 600000\r\nAccept: application/reginfo+xml\r\n");
                }
            }
            Method::Notify => {
                o.s("Contact: <sip:scscf.").s(DOMAIN).s(">\r\nEvent: reg\r\n");
                if m.flags & flag::TERMINATED != 0 {
                    o.s("Subscription-State: terminated;reason=deactivated\r\n");
                } else {
                    o.s("Subscription-State: active;expires=600000\r\n");
                }
            }
            Method::Prack => {
                o.s("RAck: 1 ").n(u64::from(m.cseq.saturating_sub(1))).s(" INVITE\r\n");
            }
            Method::Update => session_expires(&mut o, m.expires),
            Method::Bye => {
                o.s("Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n");
            }
            Method::Options => {
                o.s("Accept: application/sdp\r\n");
            }
            _ => {}
        }
        if m.leg == Leg::Access && m.dir == Dir::Uplink && !swap {
            o.s("P-Access-Network-Info: 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=001010")
                .hex(u64::from(m.sub) & 0xfff_ffff)
                .s("\r\n");
        }
    } else {
        match (m.status, m.method) {
            (401, _) => {
                o.s("WWW-Authenticate: Digest realm=\"")
                    .s(DOMAIN)
                    .s("\",nonce=\"")
                    .hex(hash(m.dialog, 9))
                    .s("\",algorithm=AKAv1-MD5,qop=\"auth\"\r\n");
            }
            (200, Method::Register) => {
                ue_contact(&mut o);
                o.s(";expires=")
                    .n(m.expires.into())
                    .s("\r\nP-Associated-URI: <sip:+")
                    .n(number)
                    .s("@")
                    .s(DOMAIN)
                    .s(">, <tel:+")
                    .n(number)
                    .s(">\r\nService-Route: <sip:orig@scscf.")
                    .s(DOMAIN)
                    .s(";lr>\r\n");
            }
            (200, Method::Subscribe) => {
                o.s("Expires: 600000\r\nContact: <sip:scscf.").s(DOMAIN).s(">\r\n");
            }
            (180 | 183 | 200, Method::Invite) => {
                if m.dir == Dir::Uplink {
                    o.s("Contact: <sip:+").n(other).s("@mgcf.").s(DOMAIN).s(">\r\n");
                } else {
                    ue_contact(&mut o);
                    o.s("\r\n");
                }
                if m.flags & flag::RELIABLE != 0 {
                    o.s("Require: 100rel\r\nRSeq: 1\r\n");
                }
                if m.status == 200 && m.expires > 0 {
                    session_expires(&mut o, m.expires);
                    o.s("Require: timer\r\n");
                }
            }
            (200, Method::Update) if m.expires > 0 => {
                session_expires(&mut o, m.expires);
                o.s("Require: timer\r\n");
            }
            (503, _) => {
                o.s("Retry-After: ").n(retry_after_s(m.txn)).s("\r\n");
            }
            (580, _) => {
                o.s("Reason: SIP;cause=580;text=\"Resource reservation failed (Rx)\"\r\n");
            }
            _ => {}
        }
        if m.leg == Leg::Core || m.dir == Dir::Downlink {
            o.s("Server: ")
                .s(if m.leg == Leg::Core && !request_inbound {
                    "IMS-CSCF/3.2"
                } else {
                    "IMS-UE/5.2"
                })
                .s("\r\n");
        } else {
            o.s("Server: IMS-PCSCF/3.2\r\n");
        }
    }

    // Body.
    if m.flags & flag::SDP != 0 {
        let media_host = if (m.dir == Dir::Uplink) == (m.is_request() ^ swap) {
            ue
        } else {
            Ipv4Addr::new(172, 31, (m.other >> 8) as u8, m.other as u8)
        };
        let media_port = 10_000 + 2 * (hash(m.dialog, 5) % 25_000);
        let mut body = Vec::with_capacity(400);
        {
            let mut b = Out(&mut body);
            b.s("v=0\r\no=- ").n(hash(m.dialog, 6) % 1_000_000_000).s(" ").n(u64::from(m.cseq)).s(" IN IP4 ").ip(media_host)
                .s("\r\ns=-\r\nc=IN IP4 ").ip(media_host).s("\r\nt=0 0\r\nm=audio ").n(media_port)
                .s(" RTP/AVP 116 118 100\r\nb=AS:49\r\na=rtpmap:116 AMR-WB/16000/1\r\na=fmtp:116 mode-change-capability=2;max-red=220\r\na=rtpmap:118 AMR/8000/1\r\na=rtpmap:100 telephone-event/16000\r\na=ptime:20\r\na=maxptime:240\r\na=curr:qos local none\r\na=curr:qos remote none\r\na=des:qos mandatory local sendrecv\r\na=des:qos optional remote sendrecv\r\na=sendrecv\r\n");
        }
        o.s("Content-Type: application/sdp\r\nContent-Length: ").n(body.len() as u64).s("\r\n\r\n");
        o.0.extend_from_slice(&body);
    } else if m.is_request() && m.method == Method::Message {
        let mut body = Vec::with_capacity(96);
        sms_body(m, &mut body);
        o.s("Content-Type: application/vnd.3gpp.sms\r\nContent-Length: ")
            .n(body.len() as u64)
            .s("\r\n\r\n");
        o.0.extend_from_slice(&body);
    } else if m.is_request() && m.method == Method::Notify {
        let mut body = Vec::with_capacity(400);
        {
            let mut b = Out(&mut body);
            b.s("<?xml version=\"1.0\"?>\n<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"").n(u64::from(m.cseq)).s("\" state=\"full\">\n<registration aor=\"sip:+").n(number).s("@").s(DOMAIN).s("\" id=\"a").hex(hash(m.dialog, 7) & 0xffff_ffff);
            if m.flags & flag::TERMINATED != 0 {
                let event =
                    if m.flags & flag::UNREGISTERED != 0 { "unregistered" } else { "deactivated" };
                b.s("\" state=\"terminated\">\n<contact id=\"c1\" state=\"terminated\" event=\"")
                    .s(event)
                    .s("\"><uri>sip:+");
            } else {
                b.s("\" state=\"active\">\n<contact id=\"c1\" state=\"active\" event=\"registered\"><uri>sip:+");
            }
            b.n(number)
                .s("@")
                .ip(ue)
                .s(":")
                .n(uport)
                .s("</uri></contact>\n</registration>\n</reginfo>\n");
        }
        o.s("Content-Type: application/reginfo+xml\r\nContent-Length: ")
            .n(body.len() as u64)
            .s("\r\n\r\n");
        o.0.extend_from_slice(&body);
    } else {
        o.s("Content-Length: 0\r\n\r\n");
    }
}

/// Who a From or To header names.
#[derive(Clone, Copy)]
enum Party {
    /// The subscriber of the message.
    Ue,
    /// The other party of a call or message.
    Other,
    /// The P-CSCF itself.
    Pcscf,
}

/// The lifetime a UE asks for in REGISTER: 600 000 s (3GPP TS 24.229 §5.1.1.2.1); the
/// registrar grants less, and the 200 says how much.
pub const REQUESTED_EXPIRES_S: u32 = 600_000;

/// The number of the SMS service centre.
const SMSC: u64 = 491_710_760_000;

/// `Session-Expires` (RFC 4028), when the call has one.
fn session_expires(o: &mut Out<'_>, seconds: u32) {
    if seconds > 0 {
        o.s("Session-Expires: ").n(seconds.into()).s(";refresher=uac\r\n");
    }
}

/// An SMS over IP body (3GPP TS 24.341): RP-DATA carrying SMS-SUBMIT (from the UE) or
/// SMS-DELIVER (to the UE), or the RP-ACK that reports its delivery (3GPP TS 24.011 §7.3,
/// TS 23.040 §9.2).
fn sms_body(m: &SimMessage, out: &mut Vec<u8>) {
    // The UE sends in its own dialogs; the network in the others.
    let from_ue = (m.dir == Dir::Uplink) != (m.flags & flag::REVERSE != 0);
    // The report carries the reference of the message it acknowledges (same parties).
    let reference = (hash(u64::from(m.sub) << 32 | u64::from(m.other), 13) & 0xff) as u8;
    if m.flags & flag::SMS_REPORT != 0 {
        out.extend_from_slice(&[if from_ue { 0x02 } else { 0x03 }, reference]);
        return;
    }
    let text = b"Your verification code is 4711. It expires in 10 minutes.";
    let mut tpdu = Vec::with_capacity(96);
    if from_ue {
        // SMS-SUBMIT: TP-MTI 01, message reference, destination, PID, DCS 8-bit data.
        tpdu.extend_from_slice(&[0x01, reference]);
        tp_address(&mut tpdu, msisdn(m.other));
        tpdu.extend_from_slice(&[0x00, 0x04]);
    } else {
        // SMS-DELIVER: TP-MTI 00 with more-messages-to-send off, originator, PID, DCS,
        // service-centre time stamp (semi-octets, 2026-11-21 10:00:00 UTC).
        tpdu.push(0x04);
        tp_address(&mut tpdu, msisdn(m.other));
        tpdu.extend_from_slice(&[0x00, 0x04, 0x62, 0x11, 0x12, 0x01, 0x00, 0x00, 0x00]);
    }
    tpdu.push(text.len() as u8);
    tpdu.extend_from_slice(text);
    if from_ue {
        // RP-DATA (MS to network): no originator, the service centre as destination.
        out.extend_from_slice(&[0x00, reference, 0x00]);
        rp_address(out, SMSC);
    } else {
        // RP-DATA (network to MS): the service centre as originator, no destination.
        out.extend_from_slice(&[0x01, reference]);
        rp_address(out, SMSC);
        out.push(0x00);
    }
    out.push(tpdu.len() as u8);
    out.extend_from_slice(&tpdu);
}

/// The digits of `number`, two per octet, low nibble first, padded with F.
fn semi_octets(number: u64) -> (usize, Vec<u8>) {
    let digits: Vec<u8> = number.to_string().bytes().map(|d| d - b'0').collect();
    let octets =
        digits.chunks(2).map(|pair| pair[0] | (pair.get(1).copied().unwrap_or(0xf) << 4)).collect();
    (digits.len(), octets)
}

/// An RP address: length in octets, international ISDN numbering, semi-octets.
fn rp_address(out: &mut Vec<u8>, number: u64) {
    let (_, octets) = semi_octets(number);
    out.push(octets.len() as u8 + 1);
    out.push(0x91);
    out.extend_from_slice(&octets);
}

/// A TP address: length in digits, international ISDN numbering, semi-octets.
fn tp_address(out: &mut Vec<u8>, number: u64) {
    let (digits, octets) = semi_octets(number);
    out.push(digits as u8);
    out.push(0x91);
    out.extend_from_slice(&octets);
}

#[cfg(test)]
mod tests {
    use imsight_parsers::sip::{StatusCode, parse_sip_message};

    use super::*;

    fn message(method: Method<'static>, status: u16, leg: Leg, dir: Dir, flags: u16) -> SimMessage {
        SimMessage {
            ts: 0,
            node: 1,
            leg,
            dir,
            peer: CorePeer::Scscf,
            sub: 1234,
            other: 99,
            dialog: 42,
            txn: 7,
            cseq: 1,
            method,
            status,
            flags,
            expires: 1800,
        }
    }

    #[test]
    fn every_rendered_message_parses_back() {
        let mut cases = Vec::new();
        for leg in [Leg::Access, Leg::Core] {
            for dir in [Dir::Uplink, Dir::Downlink] {
                for (method, status, flags) in [
                    (Method::Register, 0, 0),
                    (Method::Register, 401, 0),
                    (Method::Register, 0, flag::AUTH),
                    (Method::Register, 200, 0),
                    (Method::Invite, 0, flag::SDP),
                    (Method::Invite, 100, 0),
                    (Method::Invite, 183, flag::SDP | flag::RELIABLE),
                    (Method::Prack, 0, flag::TO_TAG),
                    (Method::Invite, 200, flag::SDP),
                    (Method::Ack, 0, flag::TO_TAG | flag::ACK_2XX),
                    (Method::Bye, 0, flag::TO_TAG | flag::REVERSE),
                    (Method::Invite, 503, 0),
                    (Method::Message, 0, 0),
                    (Method::Notify, 0, flag::TO_TAG),
                    (Method::Subscribe, 200, 0),
                ] {
                    cases.push(message(method, status, leg, dir, flags));
                }
            }
        }
        cases.push(message(Method::Options, 0, Leg::Core, Dir::FromPcscf, 0));
        for case in cases {
            let mut bytes = Vec::new();
            render(&case, &mut bytes);
            let (rest, parsed) = parse_sip_message(&bytes)
                .unwrap_or_else(|e| panic!("{e:?}\n{}", String::from_utf8_lossy(&bytes)));
            assert!(rest.is_empty());
            assert_eq!(parsed.anomalies.0, 0, "{}", String::from_utf8_lossy(&bytes));
            if case.is_request() {
                assert_eq!(parsed.method(), Some(case.method));
            } else {
                assert_eq!(parsed.status(), Some(StatusCode(case.status)));
            }
            assert_eq!(parsed.cseq().map(|c| c.method), Some(case.method));
            assert!(
                parsed.top_via().and_then(|v| v.branch).is_some_and(|b| b.starts_with("z9hG4bK"))
            );
            assert!(parsed.call_id().is_some() && parsed.from().and_then(|f| f.tag).is_some());
        }
    }

    #[test]
    fn a_retransmission_is_byte_identical() {
        let original = message(Method::Register, 0, Leg::Access, Dir::Uplink, 0);
        let later = SimMessage { ts: 500_000, flags: flag::RETRANSMISSION, ..original };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        render(&original, &mut a);
        render(&later, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn registrations_carry_what_is_asked_and_what_is_granted() {
        let text = |m: &SimMessage| {
            let mut bytes = Vec::new();
            render(m, &mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let register = message(Method::Register, 0, Leg::Access, Dir::Uplink, flag::AUTH);
        assert!(text(&register).contains("\r\nExpires: 600000\r\n"));
        let granted = SimMessage { status: 200, ..register };
        assert!(text(&granted).contains(";expires=1800\r\n"), "{}", text(&granted));
        let off = SimMessage { flags: flag::AUTH | flag::DEREGISTER, expires: 0, ..register };
        assert!(text(&off).contains("\r\nExpires: 0\r\n"));
        assert!(text(&SimMessage { status: 200, ..off }).contains(";expires=0\r\n"));
    }

    #[test]
    fn an_sms_is_an_rp_data_and_its_report_an_rp_ack() {
        let sms = message(Method::Message, 0, Leg::Access, Dir::Uplink, 0);
        let mut body = Vec::new();
        sms_body(&sms, &mut body);
        // RP-DATA from the MS, no originator, the service centre, then an SMS-SUBMIT.
        assert_eq!((body[0], body[2], body[3], body[4]), (0x00, 0x00, 7, 0x91));
        assert_eq!(body[11] as usize, body.len() - 12, "RP-User-Data length");
        assert_eq!(body[12] & 0x03, 0x01, "TP-MTI SMS-SUBMIT");
        let delivered = SimMessage { dir: Dir::Downlink, ..sms };
        body.clear();
        sms_body(&delivered, &mut body);
        assert_eq!((body[0], body[12] & 0x03), (0x01, 0x00), "RP-DATA carrying SMS-DELIVER");
        body.clear();
        sms_body(&SimMessage { flags: flag::SMS_REPORT, ..delivered }, &mut body);
        assert_eq!(body[0], 0x03, "RP-ACK from the network");
    }
}
