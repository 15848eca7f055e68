//! Pure parsers for imsight: no I/O runtime, no logging, no configuration, no `unsafe`, and no
//! panic on any input. Results borrow from the input; the caller decides what to own.
//!
//! ```text
//! capture/    pcap/pcapng frames, link layers, IP defragmentation, TCP reassembly, SIP/HEP payloads
//! error       ParseError: one copyable reason per rejection, plugs into nom
//! hep/        HEPv3 (all generic chunks, zlib payloads) and HEPv1/v2
//! sip/        SIP messages (RFC 3261): start line, headers, typed views, datagram and stream framing
//! xdr/        probe records (one transaction a line) in CSV and JSON lines
//! ```
//!
//! Size limits are public constants checked before anything is read past them
//! (e.g. [`sip::MAX_BODY_LEN`]).

#![forbid(unsafe_code)]

pub mod capture;
pub mod error;
pub mod hep;
pub mod sip;
pub mod xdr;

pub use error::{IResult, ParseError};
pub use xdr::Leg;
