//! A valid HEPv3 envelope built around fuzzed chunks and a fuzzed SIP message: gets past the
//! HEP checks so that the SIP parser behind them is reached.
#![no_main]

use arbitrary::Arbitrary;
use imsight_parsers::hep::{build_hep3, parse_hep_datagram};
use imsight_parsers::sip::parse_sip_message;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Envelope<'a> {
    extra_chunks: Vec<(u16, u16, &'a [u8])>,
    proto_type: u8,
    method: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

fuzz_target!(|envelope: Envelope<'_>| {
    let mut sip = format!("{} sip:x@ims.example SIP/2.0\r\n", envelope.method).into_bytes();
    for (name, value) in &envelope.headers {
        sip.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    sip.extend_from_slice(format!("Content-Length: {}\r\n\r\n", envelope.body.len()).as_bytes());
    sip.extend_from_slice(envelope.body);
    let proto = [envelope.proto_type];
    let mut chunks: Vec<(u16, u16, &[u8])> = vec![(0, 0x0b, &proto), (0, 0x0f, &sip)];
    chunks.extend(envelope.extra_chunks.iter().copied());
    let packet = build_hep3(&chunks);
    if let Ok(hep) = parse_hep_datagram(&packet) {
        if let Ok(payload) = hep.payload_bytes() {
            if let Ok((_, m)) = parse_sip_message(&payload) {
                let _ = (m.cseq(), m.top_via(), m.from(), m.to(), m.call_id());
            }
        }
    }
});
