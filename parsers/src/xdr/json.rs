//! The JSON-lines form: one object per line with the same field names as the CSV form.
//! Times and numbers may be JSON strings or numbers; unknown keys are ignored.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{MAX_LINE_LEN, RawFields, XdrError, XdrRecord};
use crate::error::ParseError;

#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    start_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    end_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    latency_ms: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    node: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    procedure: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    result: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    subscriber: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    leg: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    direction: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text")]
    cause: Option<Cow<'a, str>>,
}

/// Parses one JSON line.
pub fn parse_json_record(line: &str) -> Result<XdrRecord<'_>, XdrError> {
    if line.len() > MAX_LINE_LEN {
        return Err(XdrError::at(1, ParseError::MalformedRecord));
    }
    let record: JsonRecord<'_> = serde_json::from_str(line)
        .map_err(|error| XdrError::at(error.column().max(1), ParseError::MalformedRecord))?;
    RawFields {
        start_time: record.start_time,
        end_time: record.end_time,
        latency_ms: record.latency_ms,
        node: record.node,
        procedure: record.procedure,
        result: record.result,
        subscriber: record.subscriber,
        call_id: record.call_id,
        leg: record.leg,
        direction: record.direction,
        cause: record.cause,
    }
    .into_record()
}

/// A string (borrowed when it has no escapes), a number (as its text) or null.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct TextVisitor;
    impl<'de> Visitor<'de> for TextVisitor {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string, a number or null")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // Enough digits for microseconds of an epoch timestamp.
            Ok(Some(Cow::Owned(format!("{v:.6}"))))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    deserializer.deserialize_any(TextVisitor)
}

#[cfg(test)]
mod tests {
    use super::super::XdrResult;
    use super::*;
    use crate::sip::{Method, StatusCode};

    #[test]
    fn strings_and_numbers() {
        let line = r#"{"start_time":1795291200.25,"latency_ms":31,"node":"pcscf-1","procedure":"INVITE","result":486,"subscriber":null,"extra":[1,2]}"#;
        let record = parse_json_record(line).unwrap();
        assert_eq!(record.start_micros, 1_795_291_200_250_000);
        assert_eq!(record.latency_micros, Some(31_000));
        assert_eq!(record.procedure, Method::Invite);
        assert_eq!(record.result, XdrResult::Status(StatusCode(486)));
        assert!(matches!(record.node, Cow::Borrowed("pcscf-1")));
        assert_eq!(record.subscriber, None);
    }

    #[test]
    fn errors_name_the_field_or_the_column() {
        let missing = parse_json_record(
            r#"{"start_time":"2026-11-21T20:00:00Z","node":"a","result":"timeout"}"#,
        )
        .unwrap_err();
        assert_eq!(missing, XdrError::field("procedure", ParseError::MissingField));
        let syntax =
            parse_json_record(r#"{"start_time": "2026-11-21T20:00:00Z", oops}"#).unwrap_err();
        assert_eq!(syntax.reason, ParseError::MalformedRecord);
        assert_eq!(syntax.column, Some(40));
        let wrong_type = parse_json_record(r#"{"node": {"x": 1}}"#).unwrap_err();
        assert_eq!(wrong_type.reason, ParseError::MalformedRecord);
    }
}
