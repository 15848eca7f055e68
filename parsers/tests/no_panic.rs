//! Property tests: no public entry point panics, on random bytes or on mutations of valid
//! inputs, and what parses stays inside its input.

use std::net::SocketAddr;
use std::ops::ControlFlow;

use imsight_parsers::capture::link::strip_link;
use imsight_parsers::capture::tcp::{FlowKey, Segment, TcpReassembler};
use imsight_parsers::capture::{CaptureDecoder, CaptureReader, DecoderConfig, Frame, LinkType};
use imsight_parsers::hep::{build_hep3, parse_hep, parse_hep_datagram};
use imsight_parsers::sip::{parse_sip_message, parse_sip_stream, parse_start_line, split_list};
use imsight_parsers::xdr::{CsvHeader, parse_csv_record, parse_json_record, time::parse_timestamp};
use proptest::prelude::*;

const INVITE: &[u8] = b"INVITE sip:bob@ims.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport\r\n\
From: \"Alice\" <sip:alice@ims.example.net>;tag=a1\r\n\
To: <sip:bob@ims.example.net>\r\n\
Call-ID: 1-2-3@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@10.0.0.1:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 12\r\n\r\nv=0\r\no=- 1 1\r\n";

/// Exercises every typed accessor of whatever parsed.
fn read_everything(bytes: &[u8]) {
    if let Ok((rest, m)) = parse_sip_message(bytes) {
        assert!(rest.len() <= bytes.len());
        assert!(m.wire_len <= bytes.len());
        let _ = (m.method(), m.status(), m.call_id(), m.cseq(), m.top_via(), m.from(), m.to());
        let _ = (m.contact(), m.p_asserted_identity(), m.expires(), m.content_length());
        let _ = (m.retry_after(), m.reason(), m.user_agent(), m.server(), m.vias().count());
        for header in &m.headers {
            let _ = split_list(header.value).count();
        }
    }
}

fn mutate(seed: &[u8], edits: &[(usize, u8, u8)], cut: usize) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for &(at, value, kind) in edits {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let at = at % bytes.len();
        match kind % 3 {
            0 => bytes[at] = value,
            1 => bytes.insert(at, value),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes.truncate(cut.max(1));
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn sip_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_everything(&bytes);
        let _ = parse_sip_stream(&bytes);
        let _ = parse_start_line(&bytes);
    }

    #[test]
    fn sip_mutated(edits in edits(), cut in 0usize..1024) {
        let bytes = mutate(INVITE, &edits, cut);
        read_everything(&bytes);
        if let Ok((rest, m)) = parse_sip_stream(&bytes) {
            prop_assert!(rest.len() + m.wire_len <= bytes.len());
        }
    }

    #[test]
    fn hep_random_and_mutated(bytes in prop::collection::vec(any::<u8>(), 0..1024), edits in edits(), cut in 0usize..512) {
        let _ = parse_hep(&bytes);
        let valid = build_hep3(&[(0, 0x01, &[2]), (0, 0x03, &[1, 2, 3, 4]), (0, 0x0b, &[1]), (0, 0x0f, INVITE)]);
        for candidate in [bytes, mutate(&valid, &edits, cut), mutate(&[2, 28, 2, 17], &edits, cut)] {
            if let Ok(packet) = parse_hep_datagram(&candidate) {
                let _ = packet.timestamp_micros();
                if let Ok(payload) = packet.payload_bytes() {
                    read_everything(&payload);
                }
            }
        }
    }

    #[test]
    fn hep_compressed_payload_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let packet = build_hep3(&[(0, 0x0b, &[1]), (0, 0x10, &bytes)]);
        if let Ok(packet) = parse_hep_datagram(&packet) {
            let _ = packet.payload_bytes();
        }
    }

    #[test]
    fn link_layers(link in prop::sample::select(vec![0, 1, 101, 108, 113, 228, 229, 276, 12, 14, 147]), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = strip_link(LinkType(link), &bytes);
        let mut decoder = CaptureDecoder::new(DecoderConfig::default());
        let frame = Frame { ts_micros: 1, link_type: LinkType(link), data: &bytes, wire_len: bytes.len() as u32 };
        decoder.decode(&frame, &mut |payload| read_everything(payload.bytes));
    }

    #[test]
    fn capture_containers(bytes in prop::collection::vec(any::<u8>(), 0..1024), magic in prop::sample::select(vec![
        vec![0xd4, 0xc3, 0xb2, 0xa1], vec![0x0a, 0x0d, 0x0d, 0x0a], vec![0x4d, 0x3c, 0xb2, 0xa1],
    ])) {
        let mut file = magic;
        file.extend_from_slice(&bytes);
        if let Ok(mut reader) = CaptureReader::new(&file[..]) {
            let mut decoder = CaptureDecoder::new(DecoderConfig::default());
            let _ = reader.for_each_frame(|frame| {
                decoder.decode(&frame, &mut |payload| read_everything(payload.bytes));
                ControlFlow::Continue(())
            });
        }
    }

    #[test]
    fn tcp_reassembly(segments in prop::collection::vec((any::<u16>(), 0usize..INVITE.len(), 1usize..200, any::<u8>()), 0..40)) {
        let mut reassembler = TcpReassembler::default();
        let key = FlowKey {
            src: SocketAddr::from(([10, 0, 0, 1], 5060)),
            dst: SocketAddr::from(([10, 0, 0, 2], 5060)),
        };
        let mut stream = INVITE.to_vec();
        stream.extend_from_slice(INVITE);
        for (i, (seq_noise, start, len, flags)) in segments.into_iter().enumerate() {
            let start = start.min(stream.len());
            let end = (start + len).min(stream.len());
            let seq = if flags & 1 == 0 { start as u32 } else { u32::from(seq_noise) };
            let segment = Segment {
                ts_micros: i as u64,
                seq,
                syn: flags & 6 == 6,
                closes: flags & 24 == 24,
                payload: &stream[start..end],
            };
            reassembler.add(key, segment, &mut |message| {
                assert!(parse_sip_stream(message).is_ok(), "only whole messages come out");
            });
        }
    }

    #[test]
    fn probe_records(line in ".{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let header = CsvHeader::parse("start_time,end_time,latency_ms,node,procedure,result,subscriber,call_id,leg,direction,cause").unwrap();
        let _ = parse_csv_record(&header, &line);
        let _ = CsvHeader::parse(&line);
        let _ = parse_json_record(&line);
        let _ = parse_timestamp(&line);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = parse_csv_record(&header, &lossy);
        let _ = parse_json_record(&lossy);
    }

    #[test]
    fn probe_records_mutated(edits in edits(), cut in 0usize..400) {
        let csv = b"2026-11-21T20:00:00.120Z,2026-11-21T20:00:00.162Z,12.5,pcscf-1,REGISTER,401,9f2c1a,\"r,1\"\"x\",access,in,cause";
        let json = br#"{"start_time":"2026-11-21T20:00:00.120Z","latency_ms":12.5,"node":"pcscf-1","procedure":"INVITE","result":"timeout","leg":"core"}"#;
        let header = CsvHeader::parse("start_time,end_time,latency_ms,node,procedure,result,subscriber,call_id,leg,direction,cause").unwrap();
        let csv = mutate(csv, &edits, cut);
        let json = mutate(json, &edits, cut);
        let _ = parse_csv_record(&header, &String::from_utf8_lossy(&csv));
        let _ = parse_json_record(&String::from_utf8_lossy(&json));
    }
}
