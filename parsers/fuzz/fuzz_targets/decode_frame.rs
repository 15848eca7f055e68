//! One frame of any link type through the whole decoder (link, IP, fragments, UDP, TCP).
#![no_main]

use imsight_parsers::capture::{CaptureDecoder, DecoderConfig, Frame, LinkType};
use libfuzzer_sys::fuzz_target;

const LINK_TYPES: [i32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frames)) = data.split_first() else { return };
    let link_type = LinkType(LINK_TYPES[usize::from(selector) % LINK_TYPES.len()]);
    let mut decoder = CaptureDecoder::new(DecoderConfig::default());
    // Several frames separated by 0xFF 0x00 so that fragments and segments can meet.
    for (i, frame) in frames.split(|&b| b == 0xff).enumerate() {
        let frame =
            Frame { ts_micros: i as u64, link_type, data: frame, wire_len: frame.len() as u32 };
        decoder.decode(&frame, &mut |payload| {
            let _ = imsight_parsers::sip::parse_sip_message(payload.bytes);
        });
    }
});
