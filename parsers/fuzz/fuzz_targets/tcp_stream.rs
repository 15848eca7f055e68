//! TCP reassembly driven by fuzzed segments (sequence numbers, flags, payloads).
#![no_main]

use std::net::SocketAddr;

use arbitrary::Arbitrary;
use imsight_parsers::capture::tcp::{FlowKey, Segment, TcpReassembler};
use imsight_parsers::sip::parse_sip_stream;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct FuzzSegment<'a> {
    flow: u8,
    seq: u32,
    syn: bool,
    closes: bool,
    payload: &'a [u8],
}

fuzz_target!(|segments: Vec<FuzzSegment<'_>>| {
    let mut reassembler = TcpReassembler::default();
    for (i, s) in segments.iter().enumerate() {
        let key = FlowKey {
            src: SocketAddr::from(([10, 0, 0, s.flow % 4], 5060)),
            dst: SocketAddr::from(([10, 0, 0, 9], 5060)),
        };
        let segment = Segment {
            ts_micros: i as u64,
            seq: s.seq,
            syn: s.syn,
            closes: s.closes,
            payload: s.payload,
        };
        reassembler.add(key, segment, &mut |message| {
            assert!(parse_sip_stream(message).is_ok(), "only whole messages come out");
        });
    }
});
