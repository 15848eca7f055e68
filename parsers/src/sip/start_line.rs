//! The request line and the status line (RFC 3261 §7.1, §7.2).

use nom::Parser;
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, recognize};

use super::method::{Method, StatusCode};
use crate::error::ParseError;

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD Request-URI SIP/2.0`
    Request {
        /// The method.
        method: Method<'a>,
        /// The Request-URI as written.
        uri: &'a str,
    },
    /// `SIP/2.0 CODE Reason`
    Response {
        /// The status code (100 to 699).
        code: StatusCode,
        /// The reason phrase, possibly empty, possibly not UTF-8.
        reason: &'a [u8],
    },
}

/// Parses a start line without its line ending.
///
/// A line that is not SIP at all (an HTTP request or response, junk) is
/// [`ParseError::NotSip`]; a SIP line that breaks the grammar is
/// [`ParseError::MalformedStartLine`] or [`ParseError::InvalidStatusCode`].
pub fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    if line.starts_with(b"SIP/") {
        return parse_status_line(line);
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // Not three space-separated parts: SIP only if it still ends like a request line.
        return Err(if contains_sip_version(line) {
            ParseError::MalformedStartLine
        } else {
            ParseError::NotSip
        });
    };
    if !version.starts_with(b"SIP/") {
        return Err(ParseError::NotSip);
    }
    if !is_version(version) || uri.is_empty() {
        return Err(ParseError::MalformedStartLine);
    }
    let method = Method::from_token(method).ok_or(ParseError::MalformedStartLine)?;
    let uri = std::str::from_utf8(uri).map_err(|_| ParseError::MalformedStartLine)?;
    if uri.bytes().any(|b| b.is_ascii_control()) {
        return Err(ParseError::MalformedStartLine);
    }
    Ok(StartLine::Request { method, uri })
}

fn parse_status_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    let (version, rest) = match memchr::memchr(b' ', line) {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => return Err(ParseError::MalformedStartLine),
    };
    if !is_version(version) {
        return Err(ParseError::MalformedStartLine);
    }
    let (code, reason) = match memchr::memchr(b' ', rest) {
        Some(space) => (&rest[..space], &rest[space + 1..]),
        // Some stacks omit the reason phrase and its space.
        None => (rest, &rest[rest.len()..]),
    };
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::InvalidStatusCode);
    }
    let code = code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&code) {
        return Err(ParseError::InvalidStatusCode);
    }
    Ok(StartLine::Response { code: StatusCode(code), reason })
}

/// `SIP/` 1*DIGIT `.` 1*DIGIT, nothing else.
fn is_version(token: &[u8]) -> bool {
    let parsed: nom::IResult<&[u8], &[u8], ParseError> =
        all_consuming(recognize((tag(&b"SIP/"[..]), digit1, char('.'), digit1))).parse(token);
    parsed.is_ok()
}

fn contains_sip_version(line: &[u8]) -> bool {
    memchr::memmem::find(line, b" SIP/").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_start_line(b"INVITE sip:bob@biloxi.com SIP/2.0"),
            Ok(StartLine::Request { method: Method::Invite, uri: "sip:bob@biloxi.com" })
        );
        assert_eq!(
            parse_start_line(b"FOO tel:+123 SIP/2.0"),
            Ok(StartLine::Request { method: Method::Extension("FOO"), uri: "tel:+123" })
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_start_line(b"SIP/2.0 180 Ringing"),
            Ok(StartLine::Response { code: StatusCode(180), reason: b"Ringing" })
        );
        assert_eq!(
            parse_start_line(b"SIP/2.0 200"),
            Ok(StartLine::Response { code: StatusCode(200), reason: b"" })
        );
        assert_eq!(
            parse_start_line(b"SIP/2.0 503 Service Unavailable"),
            Ok(StartLine::Response { code: StatusCode(503), reason: b"Service Unavailable" })
        );
    }

    #[test]
    fn other_protocols_are_not_sip() {
        for line in [
            &b"GET / HTTP/1.1"[..],
            b"HTTP/1.1 200 OK",
            b"NOTIFY * HTTP/1.1",
            b"\0\0\0\0",
            b"",
            b"hello",
        ] {
            assert_eq!(parse_start_line(line), Err(ParseError::NotSip), "{line:?}");
        }
    }

    #[test]
    fn broken_sip_lines_are_malformed() {
        assert_eq!(parse_start_line(b"INVITE  SIP/2.0"), Err(ParseError::MalformedStartLine));
        assert_eq!(parse_start_line(b"INVITE sip:a SIP/2"), Err(ParseError::MalformedStartLine));
        assert_eq!(parse_start_line(b"INV@TE sip:a SIP/2.0"), Err(ParseError::MalformedStartLine));
        assert_eq!(
            parse_start_line(b"INVITE sip:a b SIP/2.0"),
            Err(ParseError::MalformedStartLine)
        );
        assert_eq!(parse_start_line(b"SIP/2.0 99 Low"), Err(ParseError::InvalidStatusCode));
        assert_eq!(parse_start_line(b"SIP/2.0 700 High"), Err(ParseError::InvalidStatusCode));
        assert_eq!(parse_start_line(b"SIP/2.0 2x0 OK"), Err(ParseError::InvalidStatusCode));
        assert_eq!(parse_start_line(b"SIP/2.0200OK"), Err(ParseError::MalformedStartLine));
    }
}
