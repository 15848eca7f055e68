//! SIP messages (RFC 3261 §7), borrowed from the input.
//!
//! Two entry points share one grammar:
//! - [`parse_sip_message`] for a datagram (UDP, a HEP payload): everything is there; without
//!   Content-Length the body runs to the end (RFC 3261 §18.3);
//! - [`parse_sip_stream`] for a reassembled TCP byte stream: a message is cut by
//!   Content-Length, and a partial one is `Err::Incomplete` with the bytes still needed.
//!
//! Both return the unconsumed rest, so several messages in one buffer come out one by one.

mod header;
mod message;
mod method;
mod start_line;
mod values;

pub use header::{Header, HeaderName};
pub use message::{
    Anomalies, DatagramMessages, SipMessage, datagram_messages, parse_sip_message, parse_sip_stream,
};
pub use method::{Method, StatusCode, is_token_char};
pub use start_line::{StartLine, parse_start_line};
pub use values::{CSeq, NameAddr, Via, split_list};

/// Most header lines in one message.
pub const MAX_HEADERS: usize = 256;
/// Most bytes of start line plus header section.
pub const MAX_HEADER_SECTION_LEN: usize = 64 * 1024;
/// Largest body accepted (a 64 KiB SDP or a large NOTIFY fits easily).
pub const MAX_BODY_LEN: usize = 1024 * 1024;
