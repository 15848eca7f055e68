//! A realistic mix of P-CSCF SIP traffic for benchmarks: registrations with their 401
//! challenge, calls with SDP and 100rel, MESSAGE, reg-event NOTIFY. Messages are 400 to 1000
//! bytes (most 500 to 900) with the headers an IMS core really carries; identifiers vary per
//! dialog so nothing is artificially repetitive.

#![allow(dead_code)]

use std::fmt::Write;

/// The messages of `dialogs` dialogs, in wire order.
pub fn ims_mix(dialogs: usize) -> Vec<Vec<u8>> {
    let mut messages = Vec::with_capacity(dialogs * 6);
    for d in 0..dialogs {
        let ctx = Ctx::new(d);
        match d % 4 {
            0 => registration(&ctx, &mut messages),
            1 | 2 => call(&ctx, &mut messages),
            _ => message(&ctx, &mut messages),
        }
    }
    messages
}

struct Ctx {
    ue: String,
    impu: String,
    call_id: String,
    branch: String,
    tag: String,
    port: u16,
    media_port: u16,
}

impl Ctx {
    fn new(d: usize) -> Self {
        let n = d as u64;
        let hash = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            ue: format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
            impu: format!("+4917{:08}", n % 100_000_000),
            call_id: format!("{hash:016x}-{}@ims.mnc001.mcc262.3gppnetwork.org", n % 977),
            branch: format!("z9hG4bK{:012x}", hash >> 16),
            tag: format!("{:08x}", hash & 0xffff_ffff),
            port: 5060 + (n % 1000) as u16,
            media_port: 10_000 + 2 * (n % 25_000) as u16,
        }
    }
}

const DOMAIN: &str = "ims.mnc001.mcc262.3gppnetwork.org";

fn request(ctx: &Ctx, method: &str, cseq: u32, extra: &str, body: &str) -> Vec<u8> {
    let mut m = String::with_capacity(1024);
    let _ = write!(
        m,
        "{method} sip:{DOMAIN} SIP/2.0\r\n\
Via: SIP/2.0/UDP {ue}:{port};branch={branch}{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{impu}@{DOMAIN}>;tag={tag}\r\n\
To: <sip:{impu}@{DOMAIN}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:{impu}@{ue}:{port}>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"\r\n\
P-Access-Network-Info: 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=2620100011a2b3c01\r\n\
User-Agent: IMS-UE/5.2\r\n\
{extra}Content-Length: {len}\r\n\r\n{body}",
        ue = ctx.ue,
        port = ctx.port,
        branch = ctx.branch,
        impu = ctx.impu,
        tag = ctx.tag,
        call_id = ctx.call_id,
        len = body.len(),
    );
    m.into_bytes()
}

fn response(ctx: &Ctx, code: &str, method: &str, cseq: u32, extra: &str, body: &str) -> Vec<u8> {
    let mut m = String::with_capacity(1024);
    let _ = write!(
        m,
        "SIP/2.0 {code}\r\n\
Via: SIP/2.0/UDP {ue}:{port};branch={branch}{cseq};rport={port};received={ue}\r\n\
From: <sip:{impu}@{DOMAIN}>;tag={tag}\r\n\
To: <sip:{impu}@{DOMAIN}>;tag=pcscf{tag}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Server: P-CSCF\r\n\
{extra}Content-Length: {len}\r\n\r\n{body}",
        ue = ctx.ue,
        port = ctx.port,
        branch = ctx.branch,
        impu = ctx.impu,
        tag = ctx.tag,
        call_id = ctx.call_id,
        len = body.len(),
    );
    m.into_bytes()
}

fn registration(ctx: &Ctx, out: &mut Vec<Vec<u8>>) {
    let security = "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=5064\r\n\
Require: sec-agree\r\nProxy-Require: sec-agree\r\nSupported: path,gruu\r\nExpires: 600000\r\n";
    out.push(request(ctx, "REGISTER", 1, security, ""));
    out.push(response(
        ctx,
        "401 Unauthorized",
        "REGISTER",
        1,
        "WWW-Authenticate: Digest realm=\"ims.mnc001.mcc262.3gppnetwork.org\",nonce=\"y8aM3A2xT1bF9ZkXw2pQ0d4h5j6k7l8m\",algorithm=AKAv1-MD5,qop=\"auth\"\r\n",
        "",
    ));
    let auth = "Authorization: Digest username=\"262011234567890@ims.mnc001.mcc262.3gppnetwork.org\",realm=\"ims.mnc001.mcc262.3gppnetwork.org\",nonce=\"y8aM3A2xT1bF9ZkXw2pQ0d4h5j6k7l8m\",uri=\"sip:ims.mnc001.mcc262.3gppnetwork.org\",response=\"6629fae49393a05397450978507c4ef1\",algorithm=AKAv1-MD5,qop=auth,nc=00000001,cnonce=\"0a4f113b\"\r\nExpires: 600000\r\n";
    out.push(request(ctx, "REGISTER", 2, auth, ""));
    out.push(response(
        ctx,
        "200 OK",
        "REGISTER",
        2,
        "P-Associated-URI: <sip:+4917000000@ims.mnc001.mcc262.3gppnetwork.org>, <tel:+4917000000>\r\nService-Route: <sip:orig@scscf.ims.mnc001.mcc262.3gppnetwork.org;lr>\r\nExpires: 600000\r\n",
        "",
    ));
}

/// An AMR-WB offer/answer from the UE's own address and a per-call media port, as real
/// calls have (identical media addresses would make analysers track one endless stream).
fn sdp(ctx: &Ctx) -> String {
    format!(
        "v=0\r\no=- {session} {session} IN IP4 {ue}\r\ns=-\r\nc=IN IP4 {ue}\r\nt=0 0\r\n\
m=audio {media} RTP/AVP 116 118 0\r\nb=AS:49\r\na=rtpmap:116 AMR-WB/16000/1\r\na=fmtp:116 mode-change-capability=2\r\n\
a=rtpmap:118 AMR/8000/1\r\na=ptime:20\r\na=maxptime:240\r\na=sendrecv\r\n",
        session = 3_954_412 + u32::from(ctx.port),
        ue = ctx.ue,
        media = ctx.media_port,
    )
}

fn call(ctx: &Ctx, out: &mut Vec<Vec<u8>>) {
    let invite_extra = "P-Preferred-Identity: <sip:+4917000000@ims.mnc001.mcc262.3gppnetwork.org>\r\n\
Supported: 100rel,timer\r\nContent-Type: application/sdp\r\n";
    let sdp = sdp(ctx);
    out.push(request(ctx, "INVITE", 1, invite_extra, &sdp));
    out.push(response(ctx, "100 Trying", "INVITE", 1, "", ""));
    out.push(response(ctx, "180 Ringing", "INVITE", 1, "Require: 100rel\r\nRSeq: 1\r\n", ""));
    out.push(response(ctx, "200 OK", "INVITE", 1, "Content-Type: application/sdp\r\n", &sdp));
    out.push(request(ctx, "ACK", 1, "", ""));
    out.push(request(
        ctx,
        "BYE",
        2,
        "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n",
        "",
    ));
    out.push(response(ctx, "200 OK", "BYE", 2, "", ""));
}

fn message(ctx: &Ctx, out: &mut Vec<Vec<u8>>) {
    let pager = "Content-Type: text/plain;charset=UTF-8\r\nRequest-Disposition: no-fork\r\nAccept-Contact: *;+g.oma.sip-im\r\n";
    out.push(request(
        ctx,
        "MESSAGE",
        1,
        pager,
        "Hello from the benchmark: a pager-mode text message.",
    ));
    out.push(response(ctx, "202 Accepted", "MESSAGE", 1, "", ""));
}

/// Wraps each message in Ethernet/IPv4/UDP and writes a microsecond pcap into `out`.
pub fn write_pcap(messages: &[Vec<u8>], hep: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, message) in messages.iter().enumerate() {
        let payload = if hep { hep_wrap(message, i) } else { message.clone() };
        let port = if hep { 9060 } else { 5060 };
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, (i >> 8) as u8, i as u8], [10, 255, 0, 1], 64)
            .udp(5060, port);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, &payload).expect("a frame fits in memory");
        let ts = 1_795_291_200_000_000u64 + i as u64 * 200;
        out.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
}

/// A Kamailio-style HEPv3 packet around `message`.
pub fn hep_wrap(message: &[u8], i: usize) -> Vec<u8> {
    let ts = 1_795_291_200u32 + (i / 5000) as u32;
    imsight_parsers::hep::build_hep3(&[
        (0, 0x01, &[2]),
        (0, 0x02, &[17]),
        (0, 0x03, &[10, 0, (i >> 8) as u8, i as u8]),
        (0, 0x04, &[10, 255, 0, 1]),
        (0, 0x07, &5060u16.to_be_bytes()),
        (0, 0x08, &5060u16.to_be_bytes()),
        (0, 0x09, &ts.to_be_bytes()),
        (0, 0x0a, &((i % 1_000_000) as u32).to_be_bytes()),
        (0, 0x0b, &[1]),
        (0, 0x0c, &2001u32.to_be_bytes()),
        (0, 0x0f, message),
    ])
}
