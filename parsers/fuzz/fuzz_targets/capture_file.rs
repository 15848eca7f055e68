//! Whole pcap/pcapng files.
#![no_main]

use std::ops::ControlFlow;

use imsight_parsers::capture::{CaptureDecoder, CaptureReader, DecoderConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(data) else { return };
    let mut decoder = CaptureDecoder::new(DecoderConfig::default());
    let _ = reader.for_each_frame(|frame| {
        decoder.decode(&frame, &mut |_| {});
        ControlFlow::Continue(())
    });
});
