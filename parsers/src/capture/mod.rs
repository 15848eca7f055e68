//! Capture files: the pcap/pcapng container ([`reader`], on `pcap-parser`), link layers down
//! to IP ([`link`]), and [`decoder`], which turns frames into SIP and HEP payloads with IP
//! defragmentation (`etherparse`) and TCP stream reassembly ([`tcp`]).

pub mod decoder;
pub mod link;
pub mod reader;
pub mod tcp;

pub use decoder::{CaptureDecoder, DecodeStats, DecoderConfig, Payload, PayloadKind, Transport};
pub use link::LinkType;
pub use reader::{CaptureFormat, CaptureReader, Frame};
