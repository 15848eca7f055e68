//! HEP datagrams (v1, v2, v3), their payloads inflated and parsed as SIP.
#![no_main]

use imsight_parsers::hep::{parse_hep, parse_hep_datagram};
use imsight_parsers::sip::parse_sip_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_hep(data);
    if let Ok(packet) = parse_hep_datagram(data) {
        let _ = packet.timestamp_micros();
        if let Ok(payload) = packet.payload_bytes() {
            let _ = parse_sip_message(&payload);
        }
    }
});
