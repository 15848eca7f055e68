//! Parser throughput on a realistic P-CSCF message mix (see `support/mix.rs`):
//! SIP parsing, SIP parsing plus the fields correlation reads, HEP decoding, and a whole
//! capture from pcap bytes to parsed SIP.
//!
//! `cargo bench -p imsight-parsers --bench parsers`

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imsight_parsers::capture::{CaptureDecoder, CaptureReader, DecoderConfig, PayloadKind};
use imsight_parsers::hep::parse_hep_datagram;
use imsight_parsers::sip::parse_sip_message;

mod support;

fn sip(c: &mut Criterion) {
    let messages = support::mix::ims_mix(2_000);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(parse_sip_message(black_box(m)).is_ok());
            }
        });
    });
    group.bench_function("parse_and_read_correlation_fields", |b| {
        b.iter(|| {
            for m in &messages {
                if let Ok((_, m)) = parse_sip_message(black_box(m)) {
                    black_box((m.call_id(), m.cseq(), m.top_via(), m.from(), m.to()));
                }
            }
        });
    });
    group.finish();
    let mut group = c.benchmark_group("sip_bytes");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(parse_sip_message(black_box(m)).is_ok());
            }
        });
    });
    group.finish();
}

fn hep(c: &mut Criterion) {
    let packets: Vec<Vec<u8>> = support::mix::ims_mix(2_000)
        .iter()
        .enumerate()
        .map(|(i, m)| support::mix::hep_wrap(m, i))
        .collect();
    let mut group = c.benchmark_group("hep");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for p in &packets {
                black_box(parse_hep_datagram(black_box(p)).is_ok());
            }
        });
    });
    group.bench_function("decode_and_parse_sip", |b| {
        b.iter(|| {
            for p in &packets {
                if let Ok(packet) = parse_hep_datagram(black_box(p))
                    && let Ok(payload) = packet.payload_bytes()
                {
                    black_box(parse_sip_message(&payload).is_ok());
                }
            }
        });
    });
    group.finish();
}

fn capture(c: &mut Criterion) {
    let messages = support::mix::ims_mix(2_000);
    let mut pcap = Vec::new();
    support::mix::write_pcap(&messages, false, &mut pcap);
    let mut group = c.benchmark_group("capture");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("pcap_to_parsed_sip", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::new(&pcap[..]).expect("a pcap");
            let mut decoder = CaptureDecoder::new(DecoderConfig::default());
            let mut parsed = 0u64;
            let _ = reader.for_each_frame(|frame| {
                decoder.decode(&frame, &mut |payload| {
                    if payload.kind == PayloadKind::Sip && parse_sip_message(payload.bytes).is_ok()
                    {
                        parsed += 1;
                    }
                });
                ControlFlow::Continue(())
            });
            assert_eq!(parsed, messages.len() as u64);
        });
    });
    group.throughput(Throughput::Bytes(pcap.len() as u64));
    group.bench_function("pcap_to_parsed_sip_bytes", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::new(&pcap[..]).expect("a pcap");
            let mut decoder = CaptureDecoder::new(DecoderConfig::default());
            let _ = reader.for_each_frame(|frame| {
                decoder.decode(&frame, &mut |payload| {
                    black_box(parse_sip_message(payload.bytes).is_ok());
                });
                ControlFlow::Continue(())
            });
        });
    });
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared; ratios taken side by side matter more than digits.
    Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = sip, hep, capture }
criterion_main!(benches);
