//! Header names (long and compact forms, case-insensitive) and the header section scanner.

use memchr::memchr;

use super::method::is_token_char;
use super::{MAX_HEADER_SECTION_LEN, MAX_HEADERS};
use crate::error::ParseError;

/// A header name. Names are case-insensitive and compact forms map to their long form
/// (RFC 3261 §7.3.3, §20); other names are kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum HeaderName<'a> {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    Expires,
    ContentLength,
    ContentType,
    ContentEncoding,
    RetryAfter,
    Reason,
    PAssertedIdentity,
    UserAgent,
    Server,
    MaxForwards,
    Route,
    RecordRoute,
    Event,
    AllowEvents,
    Subject,
    Supported,
    Require,
    ReferTo,
    ReferredBy,
    SessionExpires,
    Other(&'a str),
}

/// (long name, compact letter or 0, variant)
const NAMES: &[(&str, u8, HeaderName<'static>)] = &[
    ("via", b'v', HeaderName::Via),
    ("from", b'f', HeaderName::From),
    ("to", b't', HeaderName::To),
    ("call-id", b'i', HeaderName::CallId),
    ("cseq", 0, HeaderName::CSeq),
    ("contact", b'm', HeaderName::Contact),
    ("expires", 0, HeaderName::Expires),
    ("content-length", b'l', HeaderName::ContentLength),
    ("content-type", b'c', HeaderName::ContentType),
    ("content-encoding", b'e', HeaderName::ContentEncoding),
    ("retry-after", 0, HeaderName::RetryAfter),
    ("reason", 0, HeaderName::Reason),
    ("p-asserted-identity", 0, HeaderName::PAssertedIdentity),
    ("user-agent", 0, HeaderName::UserAgent),
    ("server", 0, HeaderName::Server),
    ("max-forwards", 0, HeaderName::MaxForwards),
    ("route", 0, HeaderName::Route),
    ("record-route", 0, HeaderName::RecordRoute),
    ("event", b'o', HeaderName::Event),
    ("allow-events", b'u', HeaderName::AllowEvents),
    ("subject", b's', HeaderName::Subject),
    ("supported", b'k', HeaderName::Supported),
    ("require", 0, HeaderName::Require),
    ("refer-to", b'r', HeaderName::ReferTo),
    ("referred-by", b'b', HeaderName::ReferredBy),
    ("session-expires", b'x', HeaderName::SessionExpires),
];

impl<'a> HeaderName<'a> {
    /// Classifies a name token (already checked to be a token).
    pub fn from_token(name: &'a str) -> Self {
        let bytes = name.as_bytes();
        if let [letter] = bytes {
            let letter = letter.to_ascii_lowercase();
            if let Some((_, _, known)) = NAMES.iter().find(|(_, c, _)| *c == letter) {
                return *known;
            }
            return Self::Other(name);
        }
        // Hot path (every header line): compare only with the known names of the same length.
        let by_length = names_by_length();
        by_length
            .get(bytes.len())
            .into_iter()
            .flatten()
            .map(|&i| &NAMES[i])
            .find(|(long, _, _)| long.as_bytes().eq_ignore_ascii_case(bytes))
            .map_or(Self::Other(name), |(_, _, known)| *known)
    }
}

/// Indexes into [`NAMES`] by name length, built once from the table itself.
fn names_by_length() -> &'static [Vec<usize>] {
    static BY_LENGTH: std::sync::OnceLock<Vec<Vec<usize>>> = std::sync::OnceLock::new();
    BY_LENGTH.get_or_init(|| {
        let longest = NAMES.iter().map(|(long, _, _)| long.len()).max().unwrap_or(0);
        let mut table = vec![Vec::new(); longest + 1];
        for (i, (long, _, _)) in NAMES.iter().enumerate() {
            table[long.len()].push(i);
        }
        table
    })
}

/// One header line (with its folded continuation lines), borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The classified name.
    pub name: HeaderName<'a>,
    /// The value without leading and trailing whitespace; folded lines keep their line breaks
    /// (typed accessors treat them as whitespace).
    pub value: &'a [u8],
}

/// How the header section ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionEnd {
    /// An empty line; `consumed` includes it.
    EmptyLine,
    /// The input ended after a complete header line without an empty line.
    EndOfInput,
}

/// What the scanner found in the bytes after the start line.
#[derive(Debug)]
pub(crate) struct HeaderSection<'a> {
    pub headers: Vec<Header<'a>>,
    /// Bytes consumed, including the empty line when there is one.
    pub consumed: usize,
    pub end: SectionEnd,
    /// A line ended with a bare LF instead of CRLF.
    pub bare_lf: bool,
    /// Lines skipped because they are not `name: value` (no colon, a bad name, a
    /// continuation with nothing to continue).
    pub skipped_lines: u16,
}

/// Scans header lines until an empty line. `Ok(None)` means the section is not complete in
/// `input` (a stream needs more bytes); `at_end` says whether `input` is all there will be.
pub(crate) fn scan_headers(
    input: &[u8],
    at_end: bool,
) -> Result<Option<HeaderSection<'_>>, ParseError> {
    let mut headers: Vec<Header<'_>> = Vec::with_capacity(16);
    let mut pos = 0;
    let mut bare_lf = false;
    let mut skipped_lines = 0u16;
    // Start of the current header's value, so that folded lines can extend it.
    let mut value_start = 0;
    loop {
        if pos > MAX_HEADER_SECTION_LEN {
            return Err(ParseError::HeaderSectionTooLong);
        }
        let rest = &input[pos..];
        let Some(newline) = memchr(b'\n', rest) else {
            if !at_end {
                return if rest.len() > MAX_HEADER_SECTION_LEN {
                    Err(ParseError::HeaderSectionTooLong)
                } else {
                    Ok(None)
                };
            }
            // A datagram may end without the empty line; a partial line is an error.
            if rest.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(HeaderSection {
                    headers,
                    consumed: input.len(),
                    end: SectionEnd::EndOfInput,
                    bare_lf,
                    skipped_lines,
                }));
            }
            if !parse_line(rest, &mut headers, input, pos, &mut value_start)? {
                skipped_lines = skipped_lines.saturating_add(1);
            }
            return Ok(Some(HeaderSection {
                headers,
                consumed: input.len(),
                end: SectionEnd::EndOfInput,
                bare_lf,
                skipped_lines,
            }));
        };
        let mut line = &rest[..newline];
        match line.split_last() {
            Some((b'\r', head)) => line = head,
            _ => bare_lf = true,
        }
        let next = pos + newline + 1;
        if line.is_empty() {
            return Ok(Some(HeaderSection {
                headers,
                consumed: next,
                end: SectionEnd::EmptyLine,
                bare_lf,
                skipped_lines,
            }));
        }
        if !parse_line(line, &mut headers, input, pos, &mut value_start)? {
            skipped_lines = skipped_lines.saturating_add(1);
        }
        pos = next;
    }
}

/// Adds one header line at `line_start` of `input` (or extends the previous header when the
/// line is a continuation). Returns `false` for a line that is not a header: it is skipped,
/// as tshark and most stacks' parsers do, and the caller counts it.
fn parse_line<'a>(
    line: &'a [u8],
    headers: &mut Vec<Header<'a>>,
    input: &'a [u8],
    line_start: usize,
    value_start: &mut usize,
) -> Result<bool, ParseError> {
    if matches!(line[0], b' ' | b'\t') {
        // Folded continuation (RFC 3261 §7.3.1): the value now runs to this line's end.
        let Some(last) = headers.last_mut() else {
            return Ok(false);
        };
        let end = line_start + trim_end(line).len();
        if end > *value_start {
            last.value = &input[*value_start..end];
        }
        return Ok(true);
    }
    let Some(colon) = memchr(b':', line) else {
        return Ok(false);
    };
    let name = trim_end(&line[..colon]);
    if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
        return Ok(false);
    }
    if headers.len() >= MAX_HEADERS {
        return Err(ParseError::TooManyHeaders);
    }
    let raw_value = &line[colon + 1..];
    let leading = raw_value.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    let value = trim_end(&raw_value[leading..]);
    *value_start = line_start + colon + 1 + leading;
    // Token bytes are ASCII, so the name is valid UTF-8.
    let Ok(name) = std::str::from_utf8(name) else {
        return Ok(false);
    };
    headers.push(Header { name: HeaderName::from_token(name), value });
    Ok(true)
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let keep = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &bytes[..keep]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_compact_forms_expand() {
        assert_eq!(HeaderName::from_token("CALL-ID"), HeaderName::CallId);
        assert_eq!(HeaderName::from_token("i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_token("I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_token("v"), HeaderName::Via);
        assert_eq!(HeaderName::from_token("l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_token("cSeQ"), HeaderName::CSeq);
        assert_eq!(HeaderName::from_token("X-Foo"), HeaderName::Other("X-Foo"));
        assert_eq!(HeaderName::from_token("z"), HeaderName::Other("z"));
    }

    #[test]
    fn folded_lines_extend_the_previous_value() {
        let input = b"Subject: I know you're there,\r\n pick up the phone\r\n\tand talk to me!\r\nTo: b\r\n\r\n";
        let section = scan_headers(input, true).unwrap().unwrap();
        assert_eq!(section.headers.len(), 2);
        assert_eq!(
            section.headers[0].value,
            b"I know you're there,\r\n pick up the phone\r\n\tand talk to me!"
        );
        assert_eq!(section.headers[1].value, b"b");
        assert_eq!(section.consumed, input.len());
    }

    #[test]
    fn an_incomplete_section_asks_for_more_unless_at_end() {
        assert!(scan_headers(b"To: b\r\nFrom: a", false).unwrap().is_none());
        let section = scan_headers(b"To: b\r\nFrom: a", true).unwrap().unwrap();
        assert_eq!(section.end, SectionEnd::EndOfInput);
        assert_eq!(section.headers.len(), 2);
    }

    #[test]
    fn lines_that_are_not_headers_are_skipped_and_counted() {
        for input in [
            &b"To b\r\nFrom: a\r\n\r\n"[..],
            b"T o: b\r\nFrom: a\r\n\r\n",
            b" x\r\nFrom: a\r\n\r\n",
            b": b\r\nFrom: a\r\n\r\n",
        ] {
            let section = scan_headers(input, true).unwrap().unwrap();
            assert_eq!(section.skipped_lines, 1, "{input:?}");
            assert_eq!(section.headers, vec![Header { name: HeaderName::From, value: b"a" }]);
        }
    }

    #[test]
    fn whitespace_before_the_colon_is_allowed() {
        let section = scan_headers(b"Call-ID   :  abc  \r\n\r\n", true).unwrap().unwrap();
        assert_eq!(section.headers[0], Header { name: HeaderName::CallId, value: b"abc" });
    }
}
