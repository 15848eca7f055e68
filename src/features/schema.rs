//! The feature catalogue: exactly 130 features per node per minute, in a fixed order.
//!
//! This list is the contract between serving and training: `docs/features.md` is generated
//! from it (a test checks), `imsight features --schema` prints it, and a model records the
//! schema id and the hash of the ordered names it was trained on.

use sha2::{Digest, Sha256};

/// Features per node per minute.
pub const FEATURE_COUNT: usize = 130;
/// The schema id; bump it whenever names, order or definitions change.
pub const SCHEMA_ID: &str = "imsight.features/1";

/// Which input paths compute a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Paths {
    /// SIP messages (captures, HEP) and probe records give the same value.
    Both,
    /// Only SIP messages carry what it needs (provisional responses, retransmissions, ...).
    SipOnly,
    /// Both compute it, from different identities (not comparable across paths).
    Each,
}

/// One feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Feature {
    /// Column name.
    pub name: &'static str,
    /// Group (docs/features.md sections).
    pub group: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// One-line definition.
    pub definition: &'static str,
    /// Which paths compute it.
    pub paths: Paths,
}

/// Methods with their own request counter, in order (then `other`).
pub const REQUEST_METHODS: [&str; 14] = [
    "REGISTER",
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "PRACK",
    "UPDATE",
    "OPTIONS",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "INFO",
    "REFER",
];
/// Methods with final-response counters per class.
pub const RESPONSE_METHODS: [&str; 10] = [
    "REGISTER",
    "INVITE",
    "BYE",
    "CANCEL",
    "PRACK",
    "UPDATE",
    "OPTIONS",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
];
/// Final-response classes counted per method.
pub const CLASSES: [u16; 5] = [2, 3, 4, 5, 6];
/// Status codes counted on their own (1xx: every first copy; others: final responses).
pub const CODES: [u16; 18] =
    [100, 180, 183, 401, 403, 404, 407, 408, 480, 481, 486, 487, 488, 500, 503, 504, 580, 603];
/// Methods with response-time mean and spread.
pub const TIMED_METHODS: [&str; 5] = ["REGISTER", "INVITE", "BYE", "MESSAGE", "SUBSCRIBE"];

/// Builds the catalogue (cheap; call [`catalogue`] for the cached one).
fn build() -> Vec<Feature> {
    use Paths::{Both, Each, SipOnly};
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut f = Vec::with_capacity(FEATURE_COUNT);
    let mut add = |name: String,
                   group: &'static str,
                   unit: &'static str,
                   definition: String,
                   paths: Paths| {
        f.push(Feature { name: leak(name), group, unit, definition: leak(definition), paths });
    };
    for method in REQUEST_METHODS {
        let lower = method.to_ascii_lowercase();
        if method == "ACK" {
            add(
                "req_ack".into(),
                "requests",
                "count",
                "ACK requests seen (first copies)".into(),
                SipOnly,
            );
        } else {
            add(
                format!("req_{lower}"),
                "requests",
                "count",
                format!(
                    "{method} transactions completing in the minute (answered or timed out; retransmissions not counted)"
                ),
                Both,
            );
        }
    }
    add(
        "req_other".into(),
        "requests",
        "count",
        "transactions of any other method completing in the minute".into(),
        Both,
    );
    for method in RESPONSE_METHODS {
        for class in CLASSES {
            add(
                format!("resp_{}_{class}xx", method.to_ascii_lowercase()),
                "final responses",
                "count",
                format!("{method} transactions completing with a {class}xx final response"),
                Both,
            );
        }
    }
    for code in CODES {
        if code < 200 {
            add(
                format!("code_{code}"),
                "status codes",
                "count",
                format!("{code} provisional responses seen (first copies)"),
                SipOnly,
            );
        } else {
            add(
                format!("code_{code}"),
                "status codes",
                "count",
                format!("transactions of any method completing with {code}"),
                Both,
            );
        }
    }
    for (name, what) in [("register", "REGISTER"), ("invite", "INVITE"), ("other", "other-method")]
    {
        add(
            format!("timeout_{name}"),
            "timeouts",
            "count",
            format!(
                "{what} transactions without a final response before the timeout (Timer B/F, 32 s; INVITE after a provisional: 180 s)"
            ),
            Both,
        );
    }
    for (name, what) in [("register", "REGISTER"), ("invite", "INVITE"), ("other", "other")] {
        add(
            format!("retx_{name}"),
            "retransmissions",
            "count",
            format!("retransmitted copies of {what} requests"),
            SipOnly,
        );
    }
    add(
        "retx_responses".into(),
        "retransmissions",
        "count",
        "retransmitted copies of responses".into(),
        SipOnly,
    );
    add(
        "duplicates".into(),
        "retransmissions",
        "count",
        "copies of a message seen again within 20 ms (the same packet captured twice, e.g. by two HEP agents)".into(),
        SipOnly,
    );
    for method in TIMED_METHODS {
        let lower = method.to_ascii_lowercase();
        add(
            format!("rt_{lower}_mean_ms"),
            "response times",
            "ms",
            format!(
                "mean time from a {method} request to its final response (answered transactions)"
            ),
            Both,
        );
        add(
            format!("rt_{lower}_std_ms"),
            "response times",
            "ms",
            format!("standard deviation of the {method} response time"),
            Both,
        );
    }
    add(
        "setup_mean_ms".into(),
        "call setup",
        "ms",
        "mean time from INVITE to its first 180, 183 or 2xx (call set-up delay)".into(),
        SipOnly,
    );
    add(
        "setup_std_ms".into(),
        "call setup",
        "ms",
        "standard deviation of the call set-up delay".into(),
        SipOnly,
    );
    add(
        "trying_mean_ms".into(),
        "call setup",
        "ms",
        "mean time from INVITE to its 100 Trying".into(),
        SipOnly,
    );
    for (name, definition) in [
        ("access_transactions", "transactions completing on the access leg (toward the UEs)"),
        ("core_transactions", "transactions completing on the core leg (toward the CSCFs)"),
        ("access_4xx", "access-leg transactions completing with 4xx"),
        ("core_4xx", "core-leg transactions completing with 4xx"),
        ("access_5xx", "access-leg transactions completing with 5xx"),
        ("core_5xx", "core-leg transactions completing with 5xx"),
        ("access_timeouts", "access-leg transactions timing out"),
        ("core_timeouts", "core-leg transactions timing out"),
    ] {
        add(name.into(), "legs", "count", definition.into(), Both);
    }
    add(
        "core_rt_register_mean_ms".into(),
        "legs",
        "ms",
        "mean REGISTER response time on the core leg (upstream)".into(),
        Both,
    );
    add(
        "core_rt_invite_mean_ms".into(),
        "legs",
        "ms",
        "mean INVITE response time on the core leg (upstream)".into(),
        Both,
    );
    add(
        "distinct_dialogs".into(),
        "distinct",
        "count",
        "distinct Call-IDs among transactions completing in the minute".into(),
        Both,
    );
    add(
        "distinct_subscribers".into(),
        "distinct",
        "count",
        "distinct subscribers among completing transactions (SIP: UE address on the access leg; records: the subscriber field)".into(),
        Each,
    );
    add(
        "distinct_registered_aors".into(),
        "distinct",
        "count",
        "distinct address-of-records answered 2xx to REGISTER".into(),
        SipOnly,
    );
    for (name, definition) in [
        ("register_success_ratio", "REGISTER 2xx / REGISTER transactions (0 when none)"),
        ("register_challenge_ratio", "REGISTER 401 or 407 / REGISTER transactions"),
        ("invite_answer_ratio", "INVITE 2xx / INVITE transactions (answer-seizure ratio)"),
        (
            "invite_effectiveness_ratio",
            "INVITE 2xx, 486, 480, 487, 603 or 404 / INVITE transactions (network effectiveness)",
        ),
        ("server_error_ratio", "transactions with 5xx / transactions"),
        ("timeout_ratio", "timed-out transactions / transactions"),
    ] {
        add(name.into(), "ratios", "ratio", definition.into(), Both);
    }
    add("messages".into(), "volume", "count", "SIP messages seen (every copy)".into(), SipOnly);
    add(
        "transactions".into(),
        "volume",
        "count",
        "transactions completing in the minute (all methods, both legs)".into(),
        Both,
    );
    add(
        "mean_message_bytes".into(),
        "volume",
        "bytes",
        "mean size of the SIP messages seen".into(),
        SipOnly,
    );
    add(
        "unmatched_responses".into(),
        "health",
        "count",
        "responses matching no known transaction".into(),
        SipOnly,
    );
    add(
        "parse_errors".into(),
        "health",
        "count",
        "messages rejected by the parser".into(),
        SipOnly,
    );
    add(
        "late_records".into(),
        "health",
        "count",
        "records that arrived after their minute had closed (dropped)".into(),
        Both,
    );
    add(
        "no_records".into(),
        "health",
        "flag",
        "1 when the node had no record at all in the minute, else 0".into(),
        Both,
    );
    f
}

/// The catalogue, in order.
pub fn catalogue() -> &'static [Feature] {
    static CATALOGUE: std::sync::OnceLock<Vec<Feature>> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(build)
}

/// Index of the feature called `name`.
pub fn index_of(name: &str) -> Option<usize> {
    catalogue().iter().position(|f| f.name == name)
}

/// SHA-256 of the ordered names, each followed by a newline, as hex.
pub fn schema_hash() -> String {
    let mut hasher = Sha256::new();
    for feature in catalogue() {
        hasher.update(feature.name.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The catalogue as the Markdown table of `docs/features.md`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| # | name | group | unit | paths | definition |\n|---|---|---|---|---|---|\n",
    );
    for (i, f) in catalogue().iter().enumerate() {
        let paths = match f.paths {
            Paths::Both => "both",
            Paths::SipOnly => "SIP only",
            Paths::Each => "each (differs)",
        };
        out.push_str(&format!(
            "| {i} | `{}` | {} | {} | {paths} | {} |\n",
            f.name, f.group, f.unit, f.definition
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_features_md_lists_the_catalogue() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/features.md");
        let docs = std::fs::read_to_string(&path).unwrap();
        assert!(
            docs.contains(&markdown_table()),
            "docs/features.md is out of date: regenerate its table with `imsight features --schema --markdown`"
        );
        assert!(docs.contains(&schema_hash()), "docs/features.md must state the schema hash");
    }

    #[test]
    fn exactly_130_unique_features() {
        let names: std::collections::BTreeSet<&str> = catalogue().iter().map(|f| f.name).collect();
        assert_eq!(catalogue().len(), FEATURE_COUNT);
        assert_eq!(names.len(), FEATURE_COUNT, "names are unique");
        assert_eq!(index_of("req_register"), Some(0));
        assert_eq!(index_of("no_records"), Some(FEATURE_COUNT - 1));
    }

    #[test]
    fn the_hash_is_stable() {
        // Changing the catalogue changes this hash: bump SCHEMA_ID and retrain.
        assert_eq!(schema_hash().len(), 64);
        assert_eq!(schema_hash(), schema_hash());
    }
}
