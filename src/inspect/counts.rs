//! SIP message counters shaped like the entries of `expected-counts.json`.

use std::collections::BTreeMap;

use imsight_parsers::sip::SipMessage;
use serde::{Serialize, Serializer};

/// Requests per method, responses per class and per code, with totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipCounts {
    /// Requests per method.
    pub requests: BTreeMap<String, u64>,
    /// Responses per class (`1xx` ... `6xx`).
    pub responses_by_class: BTreeMap<String, u64>,
    /// Responses per status code.
    pub responses_by_code: BTreeMap<String, u64>,
}

impl SipCounts {
    /// Counts one message.
    pub fn add(&mut self, message: &SipMessage<'_>) {
        if let Some(method) = message.method() {
            self.add_request(method.as_str());
        } else if let Some(code) = message.status() {
            self.add_response(code.0);
        }
    }

    /// Counts one request of `method`.
    pub fn add_request(&mut self, method: &str) {
        if let Some(count) = self.requests.get_mut(method) {
            *count += 1;
        } else {
            self.requests.insert(method.to_owned(), 1);
        }
    }

    /// Counts one response with status `code`.
    pub fn add_response(&mut self, code: u16) {
        *self.responses_by_class.entry(format!("{}xx", code / 100)).or_default() += 1;
        *self.responses_by_code.entry(code.to_string()).or_default() += 1;
    }

    /// Adds another set of counts to this one.
    pub fn merge(&mut self, other: &SipCounts) {
        for (map, from) in [
            (&mut self.requests, &other.requests),
            (&mut self.responses_by_class, &other.responses_by_class),
            (&mut self.responses_by_code, &other.responses_by_code),
        ] {
            for (key, count) in from {
                *map.entry(key.clone()).or_default() += count;
            }
        }
    }

    /// All requests.
    pub fn requests_total(&self) -> u64 {
        self.requests.values().sum()
    }

    /// All responses.
    pub fn responses_total(&self) -> u64 {
        self.responses_by_class.values().sum()
    }
}

impl Serialize for SipCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("requests", &self.requests)?;
        map.serialize_entry("requests_total", &self.requests_total())?;
        map.serialize_entry("responses_by_class", &self.responses_by_class)?;
        map.serialize_entry("responses_by_code", &self.responses_by_code)?;
        map.serialize_entry("responses_total", &self.responses_total())?;
        map.end()
    }
}

/// SIP carried in HEP, plus the HEP packet counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HepCounts {
    /// HEP packets decoded.
    pub hep_packets: u64,
    /// HEP packets whose payload is not SIP (logs, RTCP reports, ...).
    pub hep_non_sip_packets: u64,
    /// The SIP messages inside.
    #[serde(flatten)]
    pub sip: SipCounts,
}
