//! Message framing: start line, header section, body.

use memchr::memchr;
use nom::Needed;

use super::header::{Header, HeaderName, SectionEnd, scan_headers};
use super::start_line::{StartLine, parse_start_line};
use super::{MAX_BODY_LEN, MAX_HEADER_SECTION_LEN};
use crate::error::{IResult, ParseError};

/// Tolerated deviations from RFC 3261, as bit flags: the message parsed, but a strict peer
/// might have refused it. Counted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Anomalies(pub u8);

impl Anomalies {
    /// Content-Length did not parse; the body runs to the end of the datagram.
    pub const INVALID_CONTENT_LENGTH: u8 = 1;
    /// The header section ended with the datagram, without an empty line.
    pub const MISSING_EMPTY_LINE: u8 = 2;
    /// A line ended with LF alone.
    pub const BARE_LF: u8 = 4;
    /// Bytes after the body that are not another message (a datagram with trailing junk).
    pub const TRAILING_BYTES: u8 = 8;
    /// Header lines that are not `name: value` were skipped.
    pub const SKIPPED_HEADER_LINES: u8 = 16;
    /// Content-Length says more than the datagram holds; the body is what there is.
    pub const BODY_TRUNCATED: u8 = 32;

    /// Whether `flag` is set.
    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// Stable labels of the set flags, for counting.
    pub fn labels(self) -> impl Iterator<Item = &'static str> {
        [
            (Self::INVALID_CONTENT_LENGTH, "invalid_content_length"),
            (Self::MISSING_EMPTY_LINE, "missing_empty_line"),
            (Self::BARE_LF, "bare_lf"),
            (Self::TRAILING_BYTES, "trailing_bytes"),
            (Self::SKIPPED_HEADER_LINES, "skipped_header_lines"),
            (Self::BODY_TRUNCATED, "body_truncated"),
        ]
        .into_iter()
        .filter(move |(flag, _)| self.has(*flag))
        .map(|(_, label)| label)
    }
}

/// One SIP request or response, borrowed from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage<'a> {
    /// Request line or status line.
    pub start: StartLine<'a>,
    /// Header lines in order, repeated names included.
    pub headers: Vec<Header<'a>>,
    /// The body (empty if none).
    pub body: &'a [u8],
    /// Tolerated deviations.
    pub anomalies: Anomalies,
    /// Bytes of start line plus headers plus body (without leading keep-alive CRLFs).
    pub wire_len: usize,
}

/// Parses one message from a datagram. The rest after the body is returned (usually empty).
pub fn parse_sip_message(input: &[u8]) -> IResult<&[u8], SipMessage<'_>> {
    parse(input, true)
}

/// The SIP messages of one datagram (UDP payload, HEP payload, a framed stream message), one
/// after another. Ends after the last message, or after yielding the error that stopped it:
/// [`ParseError::NotSip`] when the bytes that follow are not SIP (first: the datagram is not
/// SIP at all), another reason when a message is malformed.
pub fn datagram_messages(bytes: &[u8]) -> DatagramMessages<'_> {
    DatagramMessages { rest: bytes }
}

/// Iterator of [`datagram_messages`].
#[derive(Debug, Clone)]
pub struct DatagramMessages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for DatagramMessages<'a> {
    type Item = Result<SipMessage<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_sip_message(self.rest) {
            Ok((rest, message)) => {
                self.rest = rest;
                Some(Ok(message))
            }
            Err(error) => {
                self.rest = &[];
                Some(Err(match error {
                    nom::Err::Error(e) | nom::Err::Failure(e) => e,
                    nom::Err::Incomplete(_) => ParseError::Incomplete,
                }))
            }
        }
    }
}

/// Parses one message from a stream buffer; `Err::Incomplete` until the whole message
/// (headers and Content-Length bytes of body) is there.
pub fn parse_sip_stream(input: &[u8]) -> IResult<&[u8], SipMessage<'_>> {
    parse(input, false)
}

fn parse(input: &[u8], datagram: bool) -> IResult<&[u8], SipMessage<'_>> {
    // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives).
    let skipped = input.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let message = &input[skipped..];
    if message.is_empty() {
        return Err(if datagram {
            nom::Err::Error(ParseError::NotSip)
        } else {
            nom::Err::Incomplete(Needed::Unknown)
        });
    }

    let Some(newline) = memchr(b'\n', message) else {
        if !datagram && message.len() <= MAX_HEADER_SECTION_LEN && could_start_sip(message) {
            return Err(nom::Err::Incomplete(Needed::Unknown));
        }
        // A datagram that is a single line: judge the line itself.
        parse_start_line(trim_cr(message))?;
        return Err(nom::Err::Error(ParseError::HeadersUnterminated));
    };
    let start = parse_start_line(trim_cr(&message[..newline]))?;
    let mut anomalies = Anomalies::default();
    if !message[..newline].ends_with(b"\r") {
        anomalies.0 |= Anomalies::BARE_LF;
    }

    let after_start = &message[newline + 1..];
    let Some(section) = scan_headers(after_start, datagram)? else {
        return Err(nom::Err::Incomplete(Needed::Unknown));
    };
    if section.bare_lf {
        anomalies.0 |= Anomalies::BARE_LF;
    }
    if section.skipped_lines > 0 {
        anomalies.0 |= Anomalies::SKIPPED_HEADER_LINES;
    }
    if section.end == SectionEnd::EndOfInput {
        anomalies.0 |= Anomalies::MISSING_EMPTY_LINE;
    }
    let body_start = newline + 1 + section.consumed;
    let available = &message[body_start..];

    let body_len = match content_length(&section.headers) {
        Ok(Some(len)) if len > MAX_BODY_LEN => {
            return Err(nom::Err::Error(ParseError::BodyTooLarge));
        }
        Ok(Some(len)) if len > available.len() => {
            if !datagram {
                return Err(nom::Err::Incomplete(Needed::new(len - available.len())));
            }
            // A datagram cut by the capture's snap length, or a sender that counted its line
            // ends wrong: the message was still on the wire, so it counts.
            anomalies.0 |= Anomalies::BODY_TRUNCATED;
            available.len()
        }
        Ok(Some(len)) => len,
        Ok(None) if datagram => available.len(),
        Ok(None) => return Err(nom::Err::Error(ParseError::MissingContentLength)),
        Err(error) if !datagram => return Err(nom::Err::Error(error)),
        Err(_) => {
            anomalies.0 |= Anomalies::INVALID_CONTENT_LENGTH;
            available.len()
        }
    };
    let body = &available[..body_len];
    let mut rest = &available[body_len..];
    if datagram && !rest.is_empty() && !starts_with_start_line(rest) {
        // Padding or junk after the body: keep the message, note it, drop the bytes.
        anomalies.0 |= Anomalies::TRAILING_BYTES;
        rest = &rest[rest.len()..];
    }
    let wire_len = body_start + body_len;
    Ok((rest, SipMessage { start, headers: section.headers, body, anomalies, wire_len }))
}

/// Content-Length of the message: `None` if absent, an error if it does not parse or if
/// several headers disagree.
fn content_length(headers: &[Header<'_>]) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for header in headers.iter().filter(|h| h.name == HeaderName::ContentLength) {
        let value = parse_decimal(header.value).ok_or(ParseError::InvalidContentLength)?;
        if found.is_some_and(|previous| previous != value) {
            return Err(ParseError::InvalidContentLength);
        }
        found = Some(value);
    }
    Ok(found)
}

/// A non-negative decimal that fits in `usize`, surrounded by optional whitespace.
pub(crate) fn parse_decimal(value: &[u8]) -> Option<usize> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0')))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether the first line of `bytes` (after keep-alive CRLFs) is a SIP start line.
fn starts_with_start_line(bytes: &[u8]) -> bool {
    let bytes = &bytes[bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count()..];
    let line = memchr(b'\n', bytes).map_or(bytes, |newline| &bytes[..newline]);
    parse_start_line(trim_cr(line)).is_ok()
}

/// Whether `bytes` may be the beginning of a SIP start line (used to wait for more stream
/// bytes).
fn could_start_sip(bytes: &[u8]) -> bool {
    let bytes = &bytes[bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count()..];
    match bytes.first() {
        None => true,
        Some(first) => first.is_ascii_uppercase() || bytes.starts_with(b"SIP/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Method, StatusCode};

    const REGISTER: &[u8] = b"REGISTER sip:ims.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 1 REGISTER\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn a_request_without_body() {
        let (rest, message) = parse_sip_message(REGISTER).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            message.start,
            StartLine::Request { method: Method::Register, uri: "sip:ims.example.net" }
        );
        assert_eq!(message.headers.len(), 4);
        assert!(message.body.is_empty());
        assert_eq!(message.anomalies, Anomalies::default());
        assert_eq!(message.wire_len, REGISTER.len());
    }

    #[test]
    fn the_body_follows_content_length() {
        let input = b"SIP/2.0 200 OK\r\nContent-Length: 4\r\n\r\nv=0\nJUNK";
        let (rest, message) = parse_sip_message(input).unwrap();
        assert_eq!(message.start, StartLine::Response { code: StatusCode(200), reason: b"OK" });
        assert_eq!(message.body, b"v=0\n");
        assert!(rest.is_empty(), "junk after the body is dropped");
        assert!(message.anomalies.has(Anomalies::TRAILING_BYTES));
    }

    #[test]
    fn without_content_length_a_datagram_body_runs_to_the_end() {
        let (_, message) =
            parse_sip_message(b"MESSAGE sip:a SIP/2.0\r\nTo: a\r\n\r\nhello").unwrap();
        assert_eq!(message.body, b"hello");
    }

    #[test]
    fn stream_framing_waits_for_the_whole_message() {
        let full = b"SIP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..full.len() {
            match parse_sip_stream(&full[..cut]) {
                Err(nom::Err::Incomplete(_)) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert_eq!(
            parse_sip_stream(&full[..full.len() - 2]),
            Err(nom::Err::Incomplete(Needed::new(2)))
        );
        let (rest, message) = parse_sip_stream(full).unwrap();
        assert!(rest.is_empty());
        assert_eq!(message.body, b"hello");
    }

    #[test]
    fn two_messages_in_one_stream_buffer() {
        let mut buffer = REGISTER.to_vec();
        buffer.extend_from_slice(b"\r\n");
        buffer.extend_from_slice(REGISTER);
        let (rest, first) = parse_sip_stream(&buffer).unwrap();
        let (rest, second) = parse_sip_stream(rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(first, second);
    }

    #[test]
    fn a_stream_message_needs_content_length() {
        let input = b"OPTIONS sip:a SIP/2.0\r\nTo: a\r\n\r\n";
        assert_eq!(parse_sip_stream(input), Err(nom::Err::Error(ParseError::MissingContentLength)));
    }

    #[test]
    fn a_bad_content_length_is_an_anomaly_in_a_datagram_and_an_error_on_a_stream() {
        let input = b"INVITE sip:a SIP/2.0\r\nContent-Length: bad\r\n\r\nv=0\r\n";
        let (_, message) = parse_sip_message(input).unwrap();
        assert!(message.anomalies.has(Anomalies::INVALID_CONTENT_LENGTH));
        assert_eq!(message.body, b"v=0\r\n");
        assert_eq!(parse_sip_stream(input), Err(nom::Err::Error(ParseError::InvalidContentLength)));
        let twice = b"INVITE sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(parse_sip_stream(twice), Err(nom::Err::Error(ParseError::InvalidContentLength)));
    }

    #[test]
    fn a_truncated_datagram_is_counted_with_its_anomaly() {
        let input = b"INVITE sip:a SIP/2.0\r\nContent-Length: 100\r\n\r\nv=0\r\n";
        let (_, message) = parse_sip_message(input).unwrap();
        assert!(message.anomalies.has(Anomalies::BODY_TRUNCATED));
        assert_eq!(message.body, b"v=0\r\n");
        assert_eq!(
            parse_sip_message(b"INVITE sip:a SIP/2.0\r\nTo: a"),
            Ok((&b""[..], parse_sip_message(b"INVITE sip:a SIP/2.0\r\nTo: a").unwrap().1))
        );
        assert_eq!(
            parse_sip_message(b"INVITE sip:a SIP/2.0"),
            Err(nom::Err::Error(ParseError::HeadersUnterminated))
        );
    }

    #[test]
    fn leading_keepalive_crlfs_are_skipped() {
        let mut input = b"\r\n\r\n".to_vec();
        input.extend_from_slice(REGISTER);
        let (_, message) = parse_sip_message(&input).unwrap();
        assert_eq!(message.wire_len, REGISTER.len());
        assert_eq!(parse_sip_message(b"\r\n\r\n"), Err(nom::Err::Error(ParseError::NotSip)));
    }

    #[test]
    fn junk_is_not_sip() {
        assert_eq!(parse_sip_message(b"\0\0\0\0"), Err(nom::Err::Error(ParseError::NotSip)));
        assert_eq!(
            parse_sip_stream(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(nom::Err::Error(ParseError::NotSip))
        );
    }

    #[test]
    fn oversized_bodies_are_refused_before_reading() {
        let input = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n";
        assert_eq!(parse_sip_stream(input), Err(nom::Err::Error(ParseError::BodyTooLarge)));
    }
}
