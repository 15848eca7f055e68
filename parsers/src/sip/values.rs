//! Typed, borrowed views of the headers the pipeline needs. Each is parsed on demand from the
//! raw value, so a message pays only for what its consumer reads.

use super::header::HeaderName;
use super::message::{SipMessage, parse_decimal};
use super::method::{Method, StatusCode};
use super::start_line::StartLine;

/// `CSeq: 4711 INVITE`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number.
    pub number: u32,
    /// Method of the transaction.
    pub method: Method<'a>,
}

/// One Via entry: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Transport token (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub transport: &'a str,
    /// `host[:port]` as written.
    pub sent_by: &'a str,
    /// The `branch` parameter; RFC 3261 branches start with `z9hG4bK`.
    pub branch: Option<&'a str>,
    /// The `received` parameter.
    pub received: Option<&'a str>,
}

/// A name-addr or addr-spec (From, To, Contact, P-Asserted-Identity) with its `tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name without quotes, if any.
    pub display_name: Option<&'a str>,
    /// The URI.
    pub uri: &'a str,
    /// The `tag` parameter (From/To).
    pub tag: Option<&'a str>,
}

impl<'a> SipMessage<'a> {
    /// The request method, for a request.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<StatusCode> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: HeaderName<'_>) -> Option<&'a [u8]> {
        self.headers.iter().find(|h| same_name(h.name, name)).map(|h| h.value)
    }

    /// Every value of header `name`, in order (repeated headers, not comma-split).
    pub fn headers_named<'s>(
        &'s self,
        name: HeaderName<'s>,
    ) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers.iter().filter(move |h| same_name(h.name, name)).map(|h| h.value)
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&'a str> {
        text(self.header(HeaderName::CallId)?)
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<CSeq<'a>> {
        let value = text(self.header(HeaderName::CSeq)?)?;
        let mut parts = value.split_ascii_whitespace();
        let number = parts.next()?.parse().ok()?;
        let method = Method::from_token(parts.next()?.as_bytes())?;
        Some(CSeq { number, method })
    }

    /// The top-most Via entry (the first entry of the first Via header).
    pub fn top_via(&self) -> Option<Via<'a>> {
        self.vias().next()
    }

    /// Every Via entry, top first, across repeated and comma-separated headers.
    pub fn vias(&self) -> impl Iterator<Item = Via<'a>> + '_ {
        self.headers_named(HeaderName::Via).flat_map(split_list).filter_map(parse_via)
    }

    /// From.
    pub fn from(&self) -> Option<NameAddr<'a>> {
        parse_name_addr(self.header(HeaderName::From)?)
    }

    /// To.
    pub fn to(&self) -> Option<NameAddr<'a>> {
        parse_name_addr(self.header(HeaderName::To)?)
    }

    /// The first Contact (`*` in a REGISTER gives the URI `*`).
    pub fn contact(&self) -> Option<NameAddr<'a>> {
        parse_name_addr(split_list(self.header(HeaderName::Contact)?).next()?)
    }

    /// The first P-Asserted-Identity.
    pub fn p_asserted_identity(&self) -> Option<NameAddr<'a>> {
        parse_name_addr(split_list(self.header(HeaderName::PAssertedIdentity)?).next()?)
    }

    /// Expires, in seconds.
    pub fn expires(&self) -> Option<u32> {
        u32::try_from(parse_decimal(self.header(HeaderName::Expires)?)?).ok()
    }

    /// Content-Length as written (the framing already used it).
    pub fn content_length(&self) -> Option<usize> {
        parse_decimal(self.header(HeaderName::ContentLength)?)
    }

    /// Retry-After, in seconds (comment and parameters ignored).
    pub fn retry_after(&self) -> Option<u32> {
        let value = self.header(HeaderName::RetryAfter)?.trim_ascii();
        let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
        u32::try_from(parse_decimal(&value[..digits])?).ok()
    }

    /// Reason (RFC 3326), as written: `Q.850;cause=16;text="Normal call clearing"`.
    pub fn reason(&self) -> Option<&'a str> {
        text(self.header(HeaderName::Reason)?)
    }

    /// User-Agent.
    pub fn user_agent(&self) -> Option<&'a str> {
        text(self.header(HeaderName::UserAgent)?)
    }

    /// Server (the User-Agent of responses).
    pub fn server(&self) -> Option<&'a str> {
        text(self.header(HeaderName::Server)?)
    }
}

fn same_name(a: HeaderName<'_>, b: HeaderName<'_>) -> bool {
    match (a, b) {
        (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    }
}

fn text(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value.trim_ascii()).ok().filter(|s| !s.is_empty())
}

/// Splits a header value at commas that are outside quotes and angle brackets
/// (RFC 3261 §7.3.1); elements are trimmed and empty ones skipped.
pub fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        loop {
            let current = rest?;
            let element = match first_comma(current) {
                Some(i) => {
                    rest = Some(&current[i + 1..]);
                    &current[..i]
                }
                None => {
                    rest = None;
                    current
                }
            };
            let element = element.trim_ascii();
            if !element.is_empty() {
                return Some(element);
            }
        }
    })
}

/// The first comma outside quotes and angle brackets.
fn first_comma(value: &[u8]) -> Option<usize> {
    // Fast path: no quote or bracket before the first comma (a Via, a Contact without name).
    match memchr::memchr3(b',', b'"', b'<', value) {
        None => return None,
        Some(i) if value[i] == b',' => return Some(i),
        Some(_) => {}
    }
    let (mut in_quotes, mut in_angle, mut escaped) = (false, false, false);
    for (i, &b) in value.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_angle = true,
            b'>' if !in_quotes => in_angle = false,
            b',' if !in_quotes && !in_angle => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_via(entry: &[u8]) -> Option<Via<'_>> {
    // Read for every message (transaction matching): split on ASCII bytes with memchr rather
    // than `str` char searches. Cutting valid UTF-8 at ASCII bytes keeps char boundaries.
    let entry = std::str::from_utf8(entry).ok()?;
    let space = entry.bytes().position(|b| b.is_ascii_whitespace())?;
    let (protocol, rest) = (&entry[..space], &entry[space + 1..]);
    let mut slashes = memchr::memchr_iter(b'/', protocol.as_bytes());
    let (Some(first), Some(second), None) = (slashes.next(), slashes.next(), slashes.next()) else {
        return None;
    };
    let (name, transport) = (&protocol[..first], &protocol[second + 1..]);
    if !name.eq_ignore_ascii_case("SIP") || transport.is_empty() {
        return None;
    }
    let sent_by_end = memchr::memchr(b';', rest.as_bytes()).unwrap_or(rest.len());
    let sent_by = rest[..sent_by_end].trim();
    if sent_by.is_empty() {
        return None;
    }
    let mut via = Via { transport, sent_by, branch: None, received: None };
    let mut params = &rest[sent_by_end..];
    while let Some(tail) = params.strip_prefix(';') {
        let end = memchr::memchr(b';', tail.as_bytes()).unwrap_or(tail.len());
        let param = &tail[..end];
        params = &tail[end..];
        let (key, value) = match memchr::memchr(b'=', param.as_bytes()) {
            Some(eq) => (&param[..eq], &param[eq + 1..]),
            None => (param, ""),
        };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("branch") && !value.is_empty() {
            via.branch = Some(value);
        } else if key.eq_ignore_ascii_case("received") && !value.is_empty() {
            via.received = Some(value);
        }
    }
    Some(via)
}

fn parse_name_addr(value: &[u8]) -> Option<NameAddr<'_>> {
    // Read for every REGISTER and provisional response: delimiters are found with memchr on
    // bytes (ASCII cuts of valid UTF-8 keep char boundaries), as in `parse_via`.
    let value = std::str::from_utf8(value.trim_ascii()).ok()?;
    let (display_name, uri, params) = match angle_brackets(value) {
        Some((open, close)) => {
            let display = value[..open].trim();
            let display =
                display.strip_prefix('"').and_then(|d| d.strip_suffix('"')).unwrap_or(display);
            let display = (!display.is_empty()).then_some(display);
            (display, value[open + 1..close].trim(), &value[close + 1..])
        }
        None => match memchr::memchr(b';', value.as_bytes()) {
            // addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10).
            Some(at) => (None, value[..at].trim(), &value[at + 1..]),
            None => (None, value, ""),
        },
    };
    if uri.is_empty() {
        return None;
    }
    let mut tag = None;
    let mut rest = params;
    loop {
        let end = memchr::memchr(b';', rest.as_bytes()).unwrap_or(rest.len());
        let param = &rest[..end];
        if let Some(eq) = memchr::memchr(b'=', param.as_bytes()) {
            let (key, value) = (param[..eq].trim(), param[eq + 1..].trim());
            if key.eq_ignore_ascii_case("tag") && !value.is_empty() {
                tag = Some(value);
                break;
            }
        }
        if end == rest.len() {
            break;
        }
        rest = &rest[end + 1..];
    }
    Some(NameAddr { display_name, uri, tag })
}

/// Byte offsets of `<` and `>` outside a quoted display name.
fn angle_brackets(value: &str) -> Option<(usize, usize)> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in value.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => {
                let close = memchr::memchr(b'>', &value.as_bytes()[i..])? + i;
                return Some((i, close));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse_sip_message;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
v: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74b43 , SIP/2.0/UDP 10.1.1.1;received=10.2.2.2;branch=z9hG4bKold\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK3\r\n\
Max-Forwards: 70\r\n\
f: \"Alice, the \\\"first\\\"\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
t: sip:bob@biloxi.example.com\r\n\
i: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 2 INVITE\r\n\
m: <sip:alice@client.atlanta.example.com;transport=tcp>, <sip:alice@backup.example.com>\r\n\
P-Asserted-Identity: <sip:+15551234@ims.example.com;user=phone>\r\n\
Expires: 3600\r\n\
Retry-After: 120 (maintenance);duration=60\r\n\
Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n\
User-Agent: SIPp/3.6\r\n\
c: application/sdp\r\n\
l: 0\r\n\r\n";

    #[test]
    fn typed_accessors_read_the_pipeline_fields() {
        let (_, m) = parse_sip_message(INVITE).unwrap();
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.status(), None);
        assert_eq!(m.call_id(), Some("3848276298220188511@atlanta.example.com"));
        assert_eq!(m.cseq(), Some(CSeq { number: 2, method: Method::Invite }));
        assert_eq!(
            m.top_via(),
            Some(Via {
                transport: "TCP",
                sent_by: "client.atlanta.example.com:5060",
                branch: Some("z9hG4bK74b43"),
                received: None,
            })
        );
        let vias: Vec<_> = m.vias().collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[1].received, Some("10.2.2.2"));
        assert_eq!(vias[2].sent_by, "proxy.example.com");
        assert_eq!(
            m.from(),
            Some(NameAddr {
                display_name: Some("Alice, the \\\"first\\\""),
                uri: "sip:alice@atlanta.example.com",
                tag: Some("9fxced76sl"),
            })
        );
        assert_eq!(
            m.to(),
            Some(NameAddr { display_name: None, uri: "sip:bob@biloxi.example.com", tag: None })
        );
        assert_eq!(m.contact().unwrap().uri, "sip:alice@client.atlanta.example.com;transport=tcp");
        assert_eq!(
            m.p_asserted_identity().unwrap().uri,
            "sip:+15551234@ims.example.com;user=phone"
        );
        assert_eq!(m.expires(), Some(3600));
        assert_eq!(m.retry_after(), Some(120));
        assert_eq!(m.reason(), Some("Q.850;cause=16;text=\"Normal call clearing\""));
        assert_eq!(m.user_agent(), Some("SIPp/3.6"));
        assert_eq!(m.content_length(), Some(0));
        assert_eq!(m.header(HeaderName::Other("max-forwards")), None, "known names are typed");
        assert_eq!(m.header(HeaderName::MaxForwards), Some(&b"70"[..]));
    }

    #[test]
    fn addr_spec_parameters_belong_to_the_header() {
        let parsed = parse_name_addr(b"sip:bob@b.com;tag=abc").unwrap();
        assert_eq!(parsed, NameAddr { display_name: None, uri: "sip:bob@b.com", tag: Some("abc") });
        let parsed = parse_name_addr(b"Bob <sip:bob@b.com;lr>;tag=x;foo").unwrap();
        assert_eq!(
            parsed,
            NameAddr { display_name: Some("Bob"), uri: "sip:bob@b.com;lr", tag: Some("x") }
        );
        assert_eq!(parse_name_addr(b"<>"), None);
    }

    #[test]
    fn list_splitting_respects_quotes_and_brackets() {
        let items: Vec<_> = split_list(b"\"a, b\" <sip:x,y>, <sip:z> ,, c").collect();
        assert_eq!(items, vec![&b"\"a, b\" <sip:x,y>"[..], b"<sip:z>", b"c"]);
    }

    #[test]
    fn a_malformed_cseq_or_via_reads_as_absent() {
        let (_, m) = parse_sip_message(
            b"OPTIONS sip:a SIP/2.0\r\nCSeq: x OPTIONS\r\nVia: garbage\r\nExpires: -1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(m.cseq(), None);
        assert_eq!(m.top_via(), None);
        assert_eq!(m.expires(), None);
    }

    /// The straightforward `str`-splitting reading of a Via entry, kept as the reference the
    /// byte-level parser must agree with.
    fn reference_via(entry: &[u8]) -> Option<Via<'_>> {
        let entry = std::str::from_utf8(entry).ok()?;
        let (protocol, rest) = entry.split_once(|c: char| c.is_ascii_whitespace())?;
        let parts: Vec<&str> = protocol.split('/').collect();
        let [name, _version, transport] = parts[..] else { return None };
        if !name.eq_ignore_ascii_case("SIP") || transport.is_empty() {
            return None;
        }
        let mut params = rest.split(';');
        let sent_by = params.next()?.trim();
        if sent_by.is_empty() {
            return None;
        }
        let mut via = Via { transport, sent_by, branch: None, received: None };
        for param in params {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let (key, value) = (key.trim(), value.trim());
            if key.eq_ignore_ascii_case("branch") && !value.is_empty() {
                via.branch = Some(value);
            } else if key.eq_ignore_ascii_case("received") && !value.is_empty() {
                via.received = Some(value);
            }
        }
        Some(via)
    }

    proptest::proptest! {
        #[test]
        fn via_parsing_agrees_with_the_reference(
            entry in "(SIP|sip|SIPS|x)(/2\\.0)?(/UDP|/TCP|/)?(/x)?[ \t]?[ a-z0-9.:;=\t/éb]{0,40}(;branch=z9hG4bK[a-z0-9]{0,6})?(;received=[0-9.]{0,9})?;?"
        ) {
            proptest::prop_assert_eq!(parse_via(entry.as_bytes()), reference_via(entry.as_bytes()));
        }
    }

    /// The `str`-splitting reading of a name-addr, the reference for the byte-level parser.
    fn reference_name_addr(value: &[u8]) -> Option<NameAddr<'_>> {
        let value = std::str::from_utf8(value.trim_ascii()).ok()?;
        let (display_name, uri, params) = match angle_brackets(value) {
            Some((open, close)) => {
                let display = value[..open].trim();
                let display =
                    display.strip_prefix('"').and_then(|d| d.strip_suffix('"')).unwrap_or(display);
                let display = (!display.is_empty()).then_some(display);
                (display, value[open + 1..close].trim(), &value[close + 1..])
            }
            None => match value.split_once(';') {
                Some((uri, params)) => (None, uri.trim(), params),
                None => (None, value, ""),
            },
        };
        if uri.is_empty() {
            return None;
        }
        let tag = params.split(';').find_map(|param| {
            let (key, value) = param.split_once('=')?;
            (key.trim().eq_ignore_ascii_case("tag") && !value.trim().is_empty())
                .then(|| value.trim())
        });
        Some(NameAddr { display_name, uri, tag })
    }

    proptest::proptest! {
        #[test]
        fn name_addr_parsing_agrees_with_the_reference(
            value in "[ \"a-zA-Z]{0,8}<?(sip:|tel:)?[a-z0-9@.é]{0,12}>?(;[ a-zA-Z]{0,4}=?[a-z0-9 ]{0,5}){0,3}(;tag=[a-z0-9]{0,6})?;?"
        ) {
            proptest::prop_assert_eq!(parse_name_addr(value.as_bytes()), reference_name_addr(value.as_bytes()));
        }
    }
}
