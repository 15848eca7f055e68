//! The feature catalogue: exactly 130 features per node per minute, in a fixed order. This file
//! is the ONE definition of that order and of what each value measures: every [`Feature`]
//! carries its [`Measure`], and the minute accumulator fills the vector by walking this list,
//! so names and values cannot drift apart.
//!
//! This list is the contract between serving and training: `docs/features.md` is generated
//! from it (a test checks), `imsight features --schema` prints it, and a model records the
//! schema id and the hash of the ordered names it was trained on.
//!
//! A leaf: it imports nothing of the crate. Method ids and legs, which the catalogue is indexed
//! by, live here too.

use sha2::{Digest, Sha256};

pub use imsight_parsers::Leg;

/// Features per node per minute.
pub const FEATURE_COUNT: usize = 130;
/// The schema id; bump it whenever names, order or definitions change.
pub const SCHEMA_ID: &str = "imsight.features/2";

/// Which input paths compute a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Paths {
    /// SIP messages (captures, HEP) and probe records give the same value.
    Both,
    /// Only SIP messages carry what it needs (provisional responses, retransmissions, ...).
    SipOnly,
    /// Both compute it, differently (other identities, or probe records lack provisional
    /// responses): not comparable across paths.
    Each,
}

/// One feature.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
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
    /// What the value is computed from.
    #[serde(skip)]
    pub measure: Measure,
}

/// A request method, as the features know it: one of [`REQUEST_METHODS`] or `OTHER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MethodId(u8);

impl MethodId {
    /// REGISTER.
    pub const REGISTER: Self = Self(0);
    /// INVITE.
    pub const INVITE: Self = Self(1);
    /// ACK.
    pub const ACK: Self = Self(2);
    /// BYE.
    pub const BYE: Self = Self(3);
    /// MESSAGE.
    pub const MESSAGE: Self = Self(11);
    /// SUBSCRIBE.
    pub const SUBSCRIBE: Self = Self(8);
    /// Any method without a counter of its own.
    pub const OTHER: Self = Self(REQUEST_METHODS.len() as u8);
    /// Distinct ids (the named methods and `OTHER`).
    pub const COUNT: usize = REQUEST_METHODS.len() + 1;

    /// The id of a method name (case-sensitive, as SIP methods are).
    pub fn from_name(name: &str) -> Self {
        REQUEST_METHODS.iter().position(|m| *m == name).map_or(Self::OTHER, |i| Self(i as u8))
    }

    /// The method's name; `None` for `OTHER`.
    pub fn name(self) -> Option<&'static str> {
        REQUEST_METHODS.get(usize::from(self.0)).copied()
    }

    /// Dense index, `0..COUNT`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The timeout and retransmission group.
    pub fn group(self) -> MethodGroup {
        match self {
            Self::REGISTER => MethodGroup::Register,
            Self::INVITE => MethodGroup::Invite,
            _ => MethodGroup::Other,
        }
    }
}

/// Methods whose timeouts and retransmissions are counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodGroup {
    /// REGISTER.
    Register,
    /// INVITE.
    Invite,
    /// Every other method.
    Other,
}

impl MethodGroup {
    /// Dense index, `0..3`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a feature's value is computed from, over one node and one minute. Transactions count
/// in the minute they complete; messages in the minute they were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Transactions of a method (ACK: first copies of ACK requests, which are not transactions).
    Requests(MethodId),
    /// Transactions of a method completing with a final response of a class (2 to 6).
    Finals(MethodId, u8),
    /// A status code: provisional ones per first copy, final ones per transaction.
    Code(u16),
    /// Transactions of a group that timed out.
    Timeouts(MethodGroup),
    /// Retransmitted request copies of a group.
    Retransmissions(MethodGroup),
    /// Retransmitted response copies.
    ResponseRetransmissions,
    /// Copies seen twice within the duplicate window.
    Duplicates,
    /// Mean response time of transactions of a method, ms; a timeout counts as the time it
    /// took to time out.
    ResponseTimeMean(MethodId),
    /// Standard deviation of that response time, ms.
    ResponseTimeStd(MethodId),
    /// Mean time from INVITE to its first response other than 100 Trying (provisional or
    /// final; a timeout counts as its time), ms: the network's answer, not the ringing.
    InviteFirstResponseMean,
    /// Mean time from INVITE to a final response of 300 or more, ms.
    InviteFailureResponseMean,
    /// Mean INVITE set-up delay (to 180, 183 or 2xx), ms.
    SetupMean,
    /// Standard deviation of the set-up delay, ms.
    SetupStd,
    /// Mean INVITE to 100 Trying, ms.
    TryingMean,
    /// Transactions completing on a leg.
    LegTransactions(Leg),
    /// Transactions on a leg completing with a class (4 or 5).
    LegFinals(Leg, u8),
    /// Transactions timing out on a leg.
    LegTimeouts(Leg),
    /// Mean response time of a method on the core leg, ms.
    CoreResponseTimeMean(MethodId),
    /// Distinct Call-IDs.
    DistinctDialogs,
    /// Distinct subscribers.
    DistinctSubscribers,
    /// Distinct address-of-records registered (REGISTER 2xx).
    DistinctRegisteredAors,
    /// REGISTER 2xx / REGISTER transactions (1 when none completed).
    RegisterSuccessRatio,
    /// REGISTER 401 or 407 / REGISTER transactions.
    RegisterChallengeRatio,
    /// INVITE 2xx / INVITE transactions (1 when none completed).
    InviteAnswerRatio,
    /// INVITE 2xx, 486, 480, 487, 603 or 404 / INVITE transactions (1 when none completed).
    InviteEffectivenessRatio,
    /// 5xx / transactions.
    ServerErrorRatio,
    /// Timeouts on a leg / transactions on that leg.
    LegTimeoutRatio(Leg),
    /// Messages seen (every copy).
    Messages,
    /// Transactions completing (all methods, both legs).
    Transactions,
    /// Mean bytes per message.
    MeanMessageBytes,
    /// Responses matching no transaction.
    UnmatchedResponses,
    /// Messages rejected by the parser.
    ParseErrors,
    /// Records after their minute had closed.
    LateRecords,
    /// 1 when nothing at all was recorded.
    NoRecords,
}

/// INVITE final responses that count as effective (RFC 6076 network effectiveness).
pub const INVITE_EFFECTIVE_CODES: [u16; 5] = [486, 480, 487, 603, 404];

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

/// Builds the catalogue (cheap; call [`catalogue`] for the cached one), group by group, in
/// the order of docs/features.md.
fn build() -> Vec<Feature> {
    let mut catalogue = Catalogue(Vec::with_capacity(FEATURE_COUNT));
    for group in [
        requests,
        responses,
        timeouts_and_retransmissions,
        timing,
        legs,
        distinct_and_ratios,
        volume_and_health,
    ] {
        group(&mut catalogue);
    }
    catalogue.0
}

/// The catalogue under construction.
struct Catalogue(Vec<Feature>);

impl Catalogue {
    fn add(
        &mut self,
        measure: Measure,
        name: String,
        group: &'static str,
        unit: &'static str,
        definition: String,
        paths: Paths,
    ) {
        // Built once per process (`catalogue` caches it): leaking makes the names `'static`.
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        self.0.push(Feature {
            name: leak(name),
            group,
            unit,
            definition: leak(definition),
            paths,
            measure,
        });
    }
}

/// REGISTER, INVITE and every other method, for timeouts and retransmissions.
const GROUPS: [(MethodGroup, &str, &str); 3] = [
    (MethodGroup::Register, "register", "REGISTER"),
    (MethodGroup::Invite, "invite", "INVITE"),
    (MethodGroup::Other, "other", "other"),
];

/// Requests per method (ACK: first copies).
fn requests(c: &mut Catalogue) {
    use Measure as M;
    use Paths::{Both, SipOnly};
    for method in REQUEST_METHODS {
        let id = MethodId::from_name(method);
        let lower = method.to_ascii_lowercase();
        if id == MethodId::ACK {
            c.add(
                M::Requests(id),
                "req_ack".into(),
                "requests",
                "count",
                "ACK requests seen (first copies)".into(),
                SipOnly,
            );
        } else {
            c.add(
                M::Requests(id),
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
    c.add(
        M::Requests(MethodId::OTHER),
        "req_other".into(),
        "requests",
        "count",
        "transactions of any other method completing in the minute".into(),
        Both,
    );
}

/// Final responses per method and class, and status codes.
fn responses(c: &mut Catalogue) {
    use Measure as M;
    use Paths::{Both, SipOnly};
    for method in RESPONSE_METHODS {
        for class in CLASSES {
            if method == "CANCEL" && class == 3 {
                // A CANCEL is answered 200 or 481, never redirected: a column of zeros.
                continue;
            }
            c.add(
                M::Finals(MethodId::from_name(method), class as u8),
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
            c.add(
                M::Code(code),
                format!("code_{code}"),
                "status codes",
                "count",
                format!("{code} provisional responses seen (first copies)"),
                SipOnly,
            );
        } else {
            c.add(
                M::Code(code),
                format!("code_{code}"),
                "status codes",
                "count",
                format!("transactions of any method completing with {code}"),
                Both,
            );
        }
    }
}

/// Timeouts, retransmissions and duplicates.
fn timeouts_and_retransmissions(c: &mut Catalogue) {
    use Measure as M;
    use Paths::{Both, SipOnly};
    for (group, name, what) in GROUPS {
        let what = if group == MethodGroup::Other { "other-method" } else { what };
        c.add(
            M::Timeouts(group),
            format!("timeout_{name}"),
            "timeouts",
            "count",
            format!(
                "{what} transactions without a final response before the timeout (Timer B/F, 32 s; INVITE after a provisional: 180 s)"
            ),
            Both,
        );
    }
    for (group, name, what) in GROUPS {
        c.add(
            M::Retransmissions(group),
            format!("retx_{name}"),
            "retransmissions",
            "count",
            format!("retransmitted copies of {what} requests"),
            SipOnly,
        );
    }
    c.add(
        M::ResponseRetransmissions,
        "retx_responses".into(),
        "retransmissions",
        "count",
        "retransmitted copies of responses".into(),
        SipOnly,
    );
    c.add(
        M::Duplicates,
        "duplicates".into(),
        "retransmissions",
        "count",
        "copies of a message seen again within 20 ms (the same packet captured twice, e.g. by two HEP agents)".into(),
        SipOnly,
    );
}

/// Response times and call set-up delays.
fn timing(c: &mut Catalogue) {
    use Measure as M;
    use Paths::{Both, Each, SipOnly};
    for method in TIMED_METHODS {
        let id = MethodId::from_name(method);
        let lower = method.to_ascii_lowercase();
        if id == MethodId::INVITE {
            // An INVITE's final response waits for the callee: its time measures ringing. The
            // first response other than 100 is the network's answer.
            c.add(
                M::InviteFirstResponseMean,
                "invite_first_response_mean_ms".into(),
                "response times",
                "ms",
                "mean time from an INVITE to its first response other than 100 Trying (a timeout counts as its time; probe records: the final response's time)".into(),
                Each,
            );
            c.add(
                M::InviteFailureResponseMean,
                "invite_failure_rt_mean_ms".into(),
                "response times",
                "ms",
                "mean time from an INVITE to a final response of 300 or more (failures, and rejections or cancels that may follow ringing)".into(),
                Both,
            );
            continue;
        }
        c.add(
            M::ResponseTimeMean(id),
            format!("rt_{lower}_mean_ms"),
            "response times",
            "ms",
            format!(
                "mean time from a {method} request to its final response (a timeout counts as its time; 0 when none completed)"
            ),
            Both,
        );
        c.add(
            M::ResponseTimeStd(id),
            format!("rt_{lower}_std_ms"),
            "response times",
            "ms",
            format!("standard deviation of the {method} response time"),
            Both,
        );
    }
    c.add(
        M::SetupMean,
        "setup_mean_ms".into(),
        "call setup",
        "ms",
        "mean time from INVITE to its first 180, 183 or 2xx (call set-up delay)".into(),
        SipOnly,
    );
    c.add(
        M::SetupStd,
        "setup_std_ms".into(),
        "call setup",
        "ms",
        "standard deviation of the call set-up delay".into(),
        SipOnly,
    );
    c.add(
        M::TryingMean,
        "trying_mean_ms".into(),
        "call setup",
        "ms",
        "mean time from INVITE to its 100 Trying".into(),
        SipOnly,
    );
}

/// The access and core legs apart.
fn legs(c: &mut Catalogue) {
    use Measure as M;
    use Paths::Both;
    for (measure, name, definition) in [
        (
            M::LegTransactions(Leg::Access),
            "access_transactions",
            "transactions completing on the access leg (toward the UEs)",
        ),
        (
            M::LegTransactions(Leg::Core),
            "core_transactions",
            "transactions completing on the core leg (toward the CSCFs)",
        ),
        (M::LegFinals(Leg::Access, 4), "access_4xx", "access-leg transactions completing with 4xx"),
        (M::LegFinals(Leg::Core, 4), "core_4xx", "core-leg transactions completing with 4xx"),
        (M::LegFinals(Leg::Access, 5), "access_5xx", "access-leg transactions completing with 5xx"),
        (M::LegFinals(Leg::Core, 5), "core_5xx", "core-leg transactions completing with 5xx"),
        (M::LegTimeouts(Leg::Access), "access_timeouts", "access-leg transactions timing out"),
        (M::LegTimeouts(Leg::Core), "core_timeouts", "core-leg transactions timing out"),
    ] {
        c.add(measure, name.into(), "legs", "count", definition.into(), Both);
    }
    c.add(
        M::CoreResponseTimeMean(MethodId::REGISTER),
        "core_rt_register_mean_ms".into(),
        "legs",
        "ms",
        "mean REGISTER response time on the core leg (upstream; a timeout counts as its time)"
            .into(),
        Both,
    );
    c.add(
        M::CoreResponseTimeMean(MethodId::INVITE),
        "core_rt_invite_mean_ms".into(),
        "legs",
        "ms",
        "mean INVITE response time on the core leg (upstream; a timeout counts as its time)".into(),
        Both,
    );
}

/// Distinct identities and ratios.
fn distinct_and_ratios(c: &mut Catalogue) {
    use Measure as M;
    use Paths::{Both, Each, SipOnly};
    c.add(
        M::DistinctDialogs,
        "distinct_dialogs".into(),
        "distinct",
        "count",
        "distinct Call-IDs among transactions completing in the minute".into(),
        Both,
    );
    c.add(
        M::DistinctSubscribers,
        "distinct_subscribers".into(),
        "distinct",
        "count",
        "distinct subscribers among completing transactions (SIP: UE address on the access leg; records: the subscriber field)".into(),
        Each,
    );
    c.add(
        M::DistinctRegisteredAors,
        "distinct_registered_aors".into(),
        "distinct",
        "count",
        "distinct address-of-records answered 2xx to REGISTER".into(),
        SipOnly,
    );
    for (measure, name, definition) in [
        (
            M::RegisterSuccessRatio,
            "register_success_ratio",
            "REGISTER 2xx / REGISTER transactions (1 when none completed)",
        ),
        (
            M::RegisterChallengeRatio,
            "register_challenge_ratio",
            "REGISTER 401 or 407 / REGISTER transactions (0 when none completed)",
        ),
        (
            M::InviteAnswerRatio,
            "invite_answer_ratio",
            "INVITE 2xx / INVITE transactions (answer-seizure ratio; 1 when none completed)",
        ),
        (
            M::InviteEffectivenessRatio,
            "invite_effectiveness_ratio",
            "INVITE 2xx, 486, 480, 487, 603 or 404 / INVITE transactions (network effectiveness; 1 when none completed)",
        ),
        (
            M::ServerErrorRatio,
            "server_error_ratio",
            "transactions with 5xx / transactions (0 when none)",
        ),
        (
            M::LegTimeoutRatio(Leg::Access),
            "access_timeout_ratio",
            "timed-out / completed transactions on the access leg (0 when none)",
        ),
        (
            M::LegTimeoutRatio(Leg::Core),
            "core_timeout_ratio",
            "timed-out / completed transactions on the core leg (0 when none)",
        ),
    ] {
        c.add(measure, name.into(), "ratios", "ratio", definition.into(), Both);
    }
}

/// Volume, and what the node's input itself looked like.
fn volume_and_health(c: &mut Catalogue) {
    use Measure as M;
    use Paths::{Both, SipOnly};
    c.add(
        M::Messages,
        "messages".into(),
        "volume",
        "count",
        "SIP messages seen (every copy)".into(),
        SipOnly,
    );
    c.add(
        M::Transactions,
        "transactions".into(),
        "volume",
        "count",
        "transactions completing in the minute (all methods, both legs)".into(),
        Both,
    );
    c.add(
        M::MeanMessageBytes,
        "mean_message_bytes".into(),
        "volume",
        "bytes",
        "mean size of the SIP messages seen".into(),
        SipOnly,
    );
    c.add(
        M::UnmatchedResponses,
        "unmatched_responses".into(),
        "health",
        "count",
        "responses matching no known transaction".into(),
        SipOnly,
    );
    c.add(
        M::ParseErrors,
        "parse_errors".into(),
        "health",
        "count",
        "messages rejected by the parser".into(),
        SipOnly,
    );
    c.add(
        M::LateRecords,
        "late_records".into(),
        "health",
        "count",
        "records that arrived after their minute had closed (dropped)".into(),
        Both,
    );
    c.add(
        M::NoRecords,
        "no_records".into(),
        "health",
        "flag",
        "1 when the node had no record at all in the minute, else 0".into(),
        Both,
    );
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
    fn method_ids_name_their_methods() {
        for (i, name) in REQUEST_METHODS.iter().enumerate() {
            let id = MethodId::from_name(name);
            assert_eq!((id.index(), id.name()), (i, Some(*name)));
        }
        assert_eq!(MethodId::from_name("FOO"), MethodId::OTHER);
        assert_eq!(MethodId::OTHER.name(), None);
        for (id, name) in [
            (MethodId::REGISTER, "REGISTER"),
            (MethodId::INVITE, "INVITE"),
            (MethodId::ACK, "ACK"),
            (MethodId::BYE, "BYE"),
            (MethodId::SUBSCRIBE, "SUBSCRIBE"),
            (MethodId::MESSAGE, "MESSAGE"),
        ] {
            assert_eq!(id.name(), Some(name));
        }
    }

    #[test]
    fn every_measure_is_one_the_accumulator_computes() {
        for feature in catalogue() {
            let ok = match feature.measure {
                Measure::Finals(method, class) => {
                    method != MethodId::OTHER && (2..=6).contains(&class)
                }
                Measure::LegFinals(_, class) => matches!(class, 4 | 5),
                Measure::Code(code) => CODES.contains(&code),
                Measure::ResponseTimeMean(method)
                | Measure::ResponseTimeStd(method)
                | Measure::CoreResponseTimeMean(method) => method != MethodId::OTHER,
                _ => true,
            };
            assert!(ok, "{}: {:?} has no counter of its own", feature.name, feature.measure);
        }
    }

    #[test]
    fn every_measure_appears_once() {
        let measures: Vec<Measure> = catalogue().iter().map(|f| f.measure).collect();
        for (i, m) in measures.iter().enumerate() {
            assert!(!measures[i + 1..].contains(m), "{m:?} twice");
        }
    }

    #[test]
    fn the_hash_is_stable() {
        // Changing the catalogue changes this hash: bump SCHEMA_ID and retrain.
        assert_eq!(schema_hash().len(), 64);
        assert_eq!(schema_hash(), schema_hash());
    }
}
