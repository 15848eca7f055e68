//! Probe records ("xDR"): one SIP transaction per line, as commercial probes export them, in
//! CSV ([`csv`]) or JSON lines ([`json`]). The format is documented in
//! `docs/formats/xdr.md`; both forms carry the same fields.

pub mod csv;
pub mod json;
pub mod time;

pub use csv::{CsvHeader, parse_csv_record};
pub use json::parse_json_record;

use std::borrow::Cow;

use crate::error::ParseError;
use crate::sip::{Method, StatusCode};

/// Longest record line accepted.
pub const MAX_LINE_LEN: usize = 16 * 1024;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdrResult {
    /// A response code; normally final (200 to 699), a 1xx means the probe saw no final one.
    Status(StatusCode),
    /// No final response before the probe's timer fired.
    Timeout,
}

/// Which side of the node a message or transaction was on (the one leg type of the workspace:
/// `None` where a source cannot tell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// Toward the user equipment (Gm for a P-CSCF).
    Access,
    /// Toward the core (Mw for a P-CSCF).
    Core,
}

/// Whether the node received the request or sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Request received by the node.
    In,
    /// Request sent by the node.
    Out,
}

/// One transaction record, borrowed from its line where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdrRecord<'a> {
    /// When the request was seen, µs since the epoch.
    pub start_micros: u64,
    /// When the final response (or timeout) was seen, µs since the epoch.
    pub end_micros: Option<u64>,
    /// Request to final response, µs (given directly, or implied by start and end).
    pub latency_micros: Option<u64>,
    /// The IMS node the transaction passed.
    pub node: Cow<'a, str>,
    /// The request method.
    pub procedure: Method<'a>,
    /// Final status or timeout.
    pub result: XdrResult,
    /// Subscriber identity or its hash.
    pub subscriber: Option<Cow<'a, str>>,
    /// SIP Call-ID.
    pub call_id: Option<Cow<'a, str>>,
    /// Access or core side.
    pub leg: Option<Leg>,
    /// Received or sent by the node.
    pub direction: Option<Direction>,
    /// A cause text (Reason header, Q.850 cause, probe-specific).
    pub cause: Option<Cow<'a, str>>,
}

/// Why a record line was rejected: the reason, and where when it is known. The caller adds
/// the line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdrError {
    /// The field concerned, if one is.
    pub field: Option<&'static str>,
    /// 1-based column: the CSV field number, or the character position in a JSON line.
    pub column: Option<usize>,
    /// What is wrong.
    pub reason: ParseError,
}

impl std::fmt::Display for XdrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.column, self.field) {
            (Some(column), Some(field)) => {
                write!(f, "column {column} (`{field}`): {}", self.reason)
            }
            (Some(column), None) => write!(f, "column {column}: {}", self.reason),
            (None, Some(field)) => write!(f, "field `{field}`: {}", self.reason),
            (None, None) => write!(f, "{}", self.reason),
        }
    }
}

impl std::error::Error for XdrError {}

impl XdrError {
    pub(crate) fn field(field: &'static str, reason: ParseError) -> Self {
        Self { field: Some(field), column: None, reason }
    }

    pub(crate) fn at(column: usize, reason: ParseError) -> Self {
        Self { field: None, column: Some(column), reason }
    }
}

/// The fields of the format, in the order the documentation lists them.
pub const FIELDS: [&str; 11] = [
    "start_time",
    "end_time",
    "latency_ms",
    "node",
    "procedure",
    "result",
    "subscriber",
    "call_id",
    "leg",
    "direction",
    "cause",
];

/// Fields every record must have.
pub const REQUIRED_FIELDS: [&str; 4] = ["start_time", "node", "procedure", "result"];

/// A record's fields as text, before checking (shared by CSV and JSON).
#[derive(Debug, Default)]
pub(crate) struct RawFields<'a> {
    pub start_time: Option<Cow<'a, str>>,
    pub end_time: Option<Cow<'a, str>>,
    pub latency_ms: Option<Cow<'a, str>>,
    pub node: Option<Cow<'a, str>>,
    pub procedure: Option<Cow<'a, str>>,
    pub result: Option<Cow<'a, str>>,
    pub subscriber: Option<Cow<'a, str>>,
    pub call_id: Option<Cow<'a, str>>,
    pub leg: Option<Cow<'a, str>>,
    pub direction: Option<Cow<'a, str>>,
    pub cause: Option<Cow<'a, str>>,
}

impl<'a> RawFields<'a> {
    pub(crate) fn into_record(self) -> Result<XdrRecord<'a>, XdrError> {
        let invalid = |field| XdrError::field(field, ParseError::InvalidField);
        let start_micros = time::parse_timestamp(required("start_time", self.start_time.as_ref())?)
            .ok_or(invalid("start_time"))?;
        let end_micros = match non_empty(self.end_time.as_ref()) {
            Some(text) => Some(time::parse_timestamp(text).ok_or(invalid("end_time"))?),
            None => None,
        };
        if end_micros.is_some_and(|end| end < start_micros) {
            return Err(invalid("end_time"));
        }
        let latency_micros = match non_empty(self.latency_ms.as_ref()) {
            Some(text) => Some(parse_millis(text).ok_or(invalid("latency_ms"))?),
            None => end_micros.map(|end| end - start_micros),
        };
        let node = required("node", self.node)?;
        let procedure = match required("procedure", self.procedure)? {
            Cow::Borrowed(token) => Method::from_token(token.as_bytes()),
            // Text that needed unescaping can only name a known method: extension methods
            // borrow their token from the line.
            Cow::Owned(token) => Method::known(token.as_bytes()),
        }
        .ok_or(invalid("procedure"))?;
        let result_text = required("result", self.result.as_ref())?;
        let result = if result_text.eq_ignore_ascii_case("timeout") {
            XdrResult::Timeout
        } else {
            let code: u16 = result_text.parse().map_err(|_| invalid("result"))?;
            if !(100..=699).contains(&code) {
                return Err(invalid("result"));
            }
            XdrResult::Status(StatusCode(code))
        };
        let leg = match non_empty(self.leg.as_ref()).map(|s| s.to_ascii_lowercase()) {
            None => None,
            Some(leg) if leg == "access" => Some(Leg::Access),
            Some(leg) if leg == "core" => Some(Leg::Core),
            Some(_) => return Err(invalid("leg")),
        };
        let direction = match non_empty(self.direction.as_ref()).map(|s| s.to_ascii_lowercase()) {
            None => None,
            Some(d) if d == "in" => Some(Direction::In),
            Some(d) if d == "out" => Some(Direction::Out),
            Some(_) => return Err(invalid("direction")),
        };
        Ok(XdrRecord {
            start_micros,
            end_micros,
            latency_micros,
            node,
            procedure,
            result,
            subscriber: self.subscriber.filter(|s| !s.trim().is_empty()),
            call_id: self.call_id.filter(|s| !s.trim().is_empty()),
            leg,
            direction,
            cause: self.cause.filter(|s| !s.trim().is_empty()),
        })
    }
}

fn required<T: AsRef<str>>(field: &'static str, value: Option<T>) -> Result<T, XdrError> {
    value
        .filter(|v| !v.as_ref().trim().is_empty())
        .ok_or(XdrError::field(field, ParseError::MissingField))
}

fn non_empty<'s>(value: Option<&'s Cow<'_, str>>) -> Option<&'s str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Milliseconds with an optional fraction, as microseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: u64 = whole.parse().ok()?;
    let digits = &fraction.as_bytes()[..fraction.len().min(3)];
    let sub = digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
        * 10u64.pow(3 - digits.len() as u32);
    Some(millis * 1000 + sub)
}
