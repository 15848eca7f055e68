//! The CSV form: a header row naming the columns (any order, extra columns ignored), then one
//! record per line. Fields may be quoted with `"`; `""` inside quotes is a quote.

use std::borrow::Cow;

use super::{FIELDS, MAX_LINE_LEN, REQUIRED_FIELDS, RawFields, XdrError, XdrRecord};
use crate::error::ParseError;

/// Most columns in a line.
pub const MAX_COLUMNS: usize = 64;

/// The header row: which column holds which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvHeader {
    /// For each column, the index in [`FIELDS`] it holds, or `None` if it is not ours.
    columns: Vec<Option<usize>>,
}

impl CsvHeader {
    /// Parses the header row. Unknown columns are allowed (probes export more); a missing
    /// required column is an error naming it.
    pub fn parse(line: &str) -> Result<Self, XdrError> {
        let names = split_line(line)?;
        let mut columns = Vec::with_capacity(names.len());
        for name in &names {
            let name = name.trim();
            let index = FIELDS.iter().position(|field| field.eq_ignore_ascii_case(name));
            if index.is_some() && columns.contains(&index) {
                let field = FIELDS[index.unwrap_or(0)];
                return Err(XdrError {
                    field: Some(field),
                    column: Some(columns.len() + 1),
                    reason: ParseError::InvalidHeaderRow,
                });
            }
            columns.push(index);
        }
        for required in REQUIRED_FIELDS {
            let index = FIELDS.iter().position(|f| *f == required);
            if !columns.contains(&index) {
                return Err(XdrError::field(required, ParseError::InvalidHeaderRow));
            }
        }
        Ok(Self { columns })
    }

    fn field_of(&self, column: usize) -> Option<&'static str> {
        self.columns.get(column).copied().flatten().map(|i| FIELDS[i])
    }
}

/// Parses one record line under `header`.
pub fn parse_csv_record<'a>(header: &CsvHeader, line: &'a str) -> Result<XdrRecord<'a>, XdrError> {
    let values = split_line(line)?;
    if values.len() != header.columns.len() {
        return Err(XdrError::at(
            values.len().min(header.columns.len()) + 1,
            ParseError::MalformedRecord,
        ));
    }
    let mut raw = RawFields::default();
    for (value, field) in values.into_iter().zip(&header.columns) {
        let Some(field) = field else { continue };
        let slot = match FIELDS[*field] {
            "start_time" => &mut raw.start_time,
            "end_time" => &mut raw.end_time,
            "latency_ms" => &mut raw.latency_ms,
            "node" => &mut raw.node,
            "procedure" => &mut raw.procedure,
            "result" => &mut raw.result,
            "subscriber" => &mut raw.subscriber,
            "call_id" => &mut raw.call_id,
            "leg" => &mut raw.leg,
            "direction" => &mut raw.direction,
            _ => &mut raw.cause,
        };
        *slot = Some(value);
    }
    raw.into_record().map_err(|mut error| {
        // Name the column as well as the field.
        error.column = error
            .field
            .and_then(|name| (0..header.columns.len()).find(|&c| header.field_of(c) == Some(name)))
            .map(|c| c + 1);
        error
    })
}

/// Splits a line into fields; unquoted fields are trimmed.
fn split_line(line: &str) -> Result<Vec<Cow<'_, str>>, XdrError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.len() > MAX_LINE_LEN {
        return Err(XdrError::at(1, ParseError::MalformedRecord));
    }
    let mut fields = Vec::with_capacity(12);
    let mut rest = line;
    loop {
        if fields.len() >= MAX_COLUMNS {
            return Err(XdrError::at(fields.len() + 1, ParseError::MalformedRecord));
        }
        let column = fields.len() + 1;
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if let Some(quoted) = trimmed.strip_prefix('"') {
            let (value, after) =
                unquote(quoted).ok_or(XdrError::at(column, ParseError::MalformedRecord))?;
            fields.push(value);
            let after = after.trim_start_matches([' ', '\t']);
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(fields),
                None => return Err(XdrError::at(column, ParseError::MalformedRecord)),
            }
        } else {
            match rest.split_once(',') {
                Some((value, next)) => {
                    fields.push(Cow::Borrowed(value.trim()));
                    rest = next;
                }
                None => {
                    fields.push(Cow::Borrowed(rest.trim()));
                    return Ok(fields);
                }
            }
        }
    }
}

/// The content of a quoted field and what follows its closing quote.
fn unquote(quoted: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut owned: Option<String> = None;
    let mut start = 0;
    let bytes = quoted.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            if bytes.get(i + 1) == Some(&b'"') {
                owned.get_or_insert_with(String::new).push_str(&quoted[start..=i]);
                i += 2;
                start = i;
                continue;
            }
            let value = match owned {
                Some(mut text) => {
                    text.push_str(&quoted[start..i]);
                    Cow::Owned(text)
                }
                None => Cow::Borrowed(&quoted[..i]),
            };
            return Some((value, &quoted[i + 1..]));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::{Direction, Leg, XdrResult};
    use super::*;
    use crate::sip::{Method, StatusCode};

    const HEADER: &str = "start_time,end_time,node,procedure,result,latency_ms,subscriber,call_id,leg,direction,cause,vendor_extra";

    #[test]
    fn a_full_record() {
        let header = CsvHeader::parse(HEADER).unwrap();
        let line = "2026-11-21T20:00:00.000Z,2026-11-21T20:00:00.250Z,pcscf-1,REGISTER,401,,a1b2c3,\"abc,1\"\"x\",access,in,\"Q.850;cause=16\",whatever\r";
        let record = parse_csv_record(&header, line).unwrap();
        assert_eq!(
            record,
            XdrRecord {
                start_micros: 1_795_291_200_000_000,
                end_micros: Some(1_795_291_200_250_000),
                latency_micros: Some(250_000),
                node: Cow::Borrowed("pcscf-1"),
                procedure: Method::Register,
                result: XdrResult::Status(StatusCode(401)),
                subscriber: Some(Cow::Borrowed("a1b2c3")),
                call_id: Some(Cow::Owned("abc,1\"x".to_owned())),
                leg: Some(Leg::Access),
                direction: Some(Direction::In),
                cause: Some(Cow::Borrowed("Q.850;cause=16")),
            }
        );
    }

    #[test]
    fn minimal_columns_in_another_order_and_a_timeout() {
        let header = CsvHeader::parse("result, procedure ,node,start_time").unwrap();
        let record = parse_csv_record(&header, "timeout,INVITE,scscf,1795291200.5").unwrap();
        assert_eq!(record.result, XdrResult::Timeout);
        assert_eq!(record.start_micros, 1_795_291_200_500_000);
        assert_eq!(record.latency_micros, None);
    }

    #[test]
    fn errors_name_the_column_and_field() {
        let header = CsvHeader::parse(HEADER).unwrap();
        let bad = |line: &str| parse_csv_record(&header, line).unwrap_err();
        let base = [
            "2026-11-21T20:00:00Z",
            "",
            "pcscf-1",
            "INVITE",
            "200",
            "12.5",
            "",
            "",
            "",
            "",
            "",
            "",
        ];
        let with = |column: usize, value: &str| {
            let mut fields = base;
            fields[column] = value;
            fields.join(",")
        };
        assert!(parse_csv_record(&header, &base.join(",")).is_ok());
        assert_eq!(
            bad(&with(0, "noon")),
            XdrError {
                field: Some("start_time"),
                column: Some(1),
                reason: ParseError::InvalidField
            }
        );
        assert_eq!(
            bad(&with(2, " ")),
            XdrError { field: Some("node"), column: Some(3), reason: ParseError::MissingField }
        );
        assert_eq!(bad(&with(3, "INV ITE")).column, Some(4));
        assert_eq!(bad(&with(4, "99")).field, Some("result"));
        assert_eq!(bad(&with(5, "-1")).field, Some("latency_ms"));
        assert_eq!(bad(&with(8, "radio")).field, Some("leg"));
        assert_eq!(
            bad(&with(1, "2026-11-21T19:00:00Z")).field,
            Some("end_time"),
            "end before start"
        );
        assert_eq!(bad("a,b").reason, ParseError::MalformedRecord);
        assert_eq!(bad("\"unterminated,a").reason, ParseError::MalformedRecord);
        assert_eq!(bad("\"a\"x,b").column, Some(1));
        assert_eq!(
            bad(&with(0, "noon")).to_string(),
            "column 1 (`start_time`): invalid field value"
        );
    }

    #[test]
    fn a_header_without_a_required_column_is_refused() {
        let error = CsvHeader::parse("start_time,node,procedure").unwrap_err();
        assert_eq!(error, XdrError::field("result", ParseError::InvalidHeaderRow));
        assert_eq!(
            CsvHeader::parse("node,node,start_time,procedure,result").unwrap_err().column,
            Some(2)
        );
    }
}
