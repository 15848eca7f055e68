//! What one node did in one minute, and its 130 features.

use rustc_hash::FxHashSet as HashSet;

use crate::correlate::{Completed, MessageSeen, Seen};
use crate::schema::{
    CODES, FEATURE_COUNT, INVITE_EFFECTIVE_CODES, Leg, Measure, MethodId, catalogue,
};

#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: u64,
    sum: f64,
    sum_squares: f64,
}

impl Moments {
    fn add(&mut self, value: f64) {
        self.n += 1;
        self.sum += value;
        self.sum_squares += value * value;
    }
    fn mean(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.sum / self.n as f64 }
    }
    fn std(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let mean = self.mean();
        (self.sum_squares / self.n as f64 - mean * mean).max(0.0).sqrt()
    }
}

/// What one leg saw complete.
#[derive(Debug, Clone, Copy, Default)]
struct LegCounts {
    transactions: u64,
    client_errors: u64,
    server_errors: u64,
    timeouts: u64,
}

/// Counters of one node-minute. They are kept per method id and per leg; the catalogue
/// ([`crate::schema`]) says which of them become features, and in which order.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    records: u64,
    transactions: [u64; MethodId::COUNT],
    acks: u64,
    finals: [[u64; 5]; MethodId::COUNT],
    codes: [u64; CODES.len()],
    timeouts: [u64; 3],
    retransmissions: [u64; 3],
    response_retransmissions: u64,
    duplicates: u64,
    response_times: [Moments; MethodId::COUNT],
    invite_first_response: Moments,
    invite_failure: Moments,
    setup: Moments,
    trying: Moments,
    legs: [LegCounts; 2],
    core_response_times: [Moments; MethodId::COUNT],
    dialogs: HashSet<u64>,
    subscribers: HashSet<u64>,
    aors: HashSet<u64>,
    register_2xx: u64,
    register_challenged: u64,
    invite_2xx: u64,
    invite_effective: u64,
    server_errors: u64,
    messages: u64,
    bytes: u64,
    unmatched: u64,
    parse_errors: u64,
    late: u64,
    /// Inputs (messages, probe records, rejected or late ones) seen in the minute: timeouts the
    /// node's own clock fired are not inputs, so a minute of timeouts alone is a silent source.
    inputs: u64,
}

fn leg_index(leg: Leg) -> usize {
    match leg {
        Leg::Access => 0,
        Leg::Core => 1,
    }
}

fn code_index(code: u16) -> Option<usize> {
    CODES.iter().position(|c| *c == code)
}

impl Accumulator {
    /// Counts a finished transaction.
    pub fn transaction(&mut self, t: &Completed) {
        self.records += 1;
        // An ACK is no transaction (it is never answered): a probe record of one says the node
        // saw traffic, and nothing else. `req_ack` counts ACK messages.
        if t.method == MethodId::ACK {
            return;
        }
        self.transactions[t.method.index()] += 1;
        let leg = t.leg.map(|leg| &mut self.legs[leg_index(leg)]);
        self.dialogs.insert(t.call_id);
        if let Some(subscriber) = t.subscriber {
            self.subscribers.insert(subscriber);
        }
        let millis = t.ts.saturating_sub(t.start) as f64 / 1000.0;
        // A timeout is a response time too: the longest there is. A core blackout then reads
        // as slow, not as no time at all.
        self.response_times[t.method.index()].add(millis);
        if t.leg == Some(Leg::Core) {
            self.core_response_times[t.method.index()].add(millis);
        }
        if t.method == MethodId::INVITE {
            let first = t.first_response_us.map_or(millis, |us| us as f64 / 1000.0);
            self.invite_first_response.add(first);
        }
        let Some(code) = t.code else {
            self.timeouts[t.method.group().index()] += 1;
            if let Some(leg) = leg {
                leg.transactions += 1;
                leg.timeouts += 1;
            }
            return;
        };
        let class = code / 100;
        if (2..=6).contains(&class) {
            self.finals[t.method.index()][usize::from(class) - 2] += 1;
        }
        if let Some(i) = code_index(code) {
            self.codes[i] += 1;
        }
        if let Some(leg) = leg {
            leg.transactions += 1;
            match class {
                4 => leg.client_errors += 1,
                5 => leg.server_errors += 1,
                _ => {}
            }
        }
        if class == 5 {
            self.server_errors += 1;
        }
        match t.method {
            MethodId::REGISTER => {
                if class == 2 {
                    self.register_2xx += 1;
                }
                if matches!(code, 401 | 407) {
                    self.register_challenged += 1;
                }
            }
            MethodId::INVITE => {
                if class == 2 {
                    self.invite_2xx += 1;
                }
                if class == 2 || INVITE_EFFECTIVE_CODES.contains(&code) {
                    self.invite_effective += 1;
                }
                if code >= 300 {
                    self.invite_failure.add(millis);
                }
                if let Some(setup) = t.setup_us {
                    self.setup.add(setup as f64 / 1000.0);
                }
                if let Some(trying) = t.trying_us {
                    self.trying.add(trying as f64 / 1000.0);
                }
            }
            _ => {}
        }
        if let Some(aor) = t.registered_aor {
            self.aors.insert(aor);
        }
    }

    /// Counts a message.
    pub fn message(&mut self, m: &MessageSeen) {
        self.inputs += 1;
        self.records += 1;
        self.messages += 1;
        self.bytes += u64::from(m.bytes);
        match m.seen {
            Seen::Request if m.method == MethodId::ACK => self.acks += 1,
            Seen::RequestAgain { duplicate: true } | Seen::ResponseAgain { duplicate: true } => {
                self.duplicates += 1;
            }
            Seen::RequestAgain { duplicate: false } => {
                self.retransmissions[m.method.group().index()] += 1;
            }
            Seen::ResponseAgain { duplicate: false } => self.response_retransmissions += 1,
            Seen::Response if m.status < 200 => {
                if let Some(i) = code_index(m.status) {
                    self.codes[i] += 1;
                }
            }
            Seen::Unmatched => self.unmatched += 1,
            Seen::Unusable => {}
            Seen::Request | Seen::Response => {}
        }
    }

    /// Counts a message the parser rejected.
    pub fn parse_error(&mut self) {
        self.inputs += 1;
        self.parse_errors += 1;
    }

    /// Counts a record that came after its minute had closed.
    pub fn late_record(&mut self) {
        self.inputs += 1;
        self.late += 1;
    }

    /// Notes that an input (a probe record) arrived in the minute.
    pub fn input_seen(&mut self) {
        self.inputs += 1;
    }

    /// Whether the source delivered anything for this node in the minute.
    pub fn has_input(&self) -> bool {
        self.inputs > 0
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.parse_errors == 0 && self.late == 0
    }

    /// Transactions of every method.
    fn all_transactions(&self) -> u64 {
        self.transactions.iter().sum()
    }

    /// The value of one measure.
    pub fn value(&self, measure: Measure) -> f64 {
        // A ratio of nothing takes the value of a minute without failures (success 1, error
        // 0): "no REGISTER completed" must not read as "every REGISTER failed". The counts
        // beside it tell the two apart.
        let ratio =
            |part: u64, whole: u64| if whole > 0 { part as f64 / whole as f64 } else { 0.0 };
        let success =
            |part: u64, whole: u64| if whole > 0 { part as f64 / whole as f64 } else { 1.0 };
        let register = self.transactions[MethodId::REGISTER.index()];
        let invite = self.transactions[MethodId::INVITE.index()];
        match measure {
            Measure::Requests(MethodId::ACK) => self.acks as f64,
            Measure::Requests(method) => self.transactions[method.index()] as f64,
            Measure::Finals(method, class) => {
                self.finals[method.index()][usize::from(class).saturating_sub(2).min(4)] as f64
            }
            Measure::Code(code) => code_index(code).map_or(0.0, |i| self.codes[i] as f64),
            Measure::Timeouts(group) => self.timeouts[group.index()] as f64,
            Measure::Retransmissions(group) => self.retransmissions[group.index()] as f64,
            Measure::ResponseRetransmissions => self.response_retransmissions as f64,
            Measure::Duplicates => self.duplicates as f64,
            Measure::ResponseTimeMean(method) => self.response_times[method.index()].mean(),
            Measure::ResponseTimeStd(method) => self.response_times[method.index()].std(),
            Measure::InviteFirstResponseMean => self.invite_first_response.mean(),
            Measure::InviteFailureResponseMean => self.invite_failure.mean(),
            Measure::SetupMean => self.setup.mean(),
            Measure::SetupStd => self.setup.std(),
            Measure::TryingMean => self.trying.mean(),
            Measure::LegTransactions(leg) => self.legs[leg_index(leg)].transactions as f64,
            Measure::LegFinals(leg, 4) => self.legs[leg_index(leg)].client_errors as f64,
            Measure::LegFinals(leg, 5) => self.legs[leg_index(leg)].server_errors as f64,
            Measure::LegFinals(..) => 0.0,
            Measure::LegTimeouts(leg) => self.legs[leg_index(leg)].timeouts as f64,
            Measure::CoreResponseTimeMean(method) => {
                self.core_response_times[method.index()].mean()
            }
            Measure::DistinctDialogs => self.dialogs.len() as f64,
            Measure::DistinctSubscribers => self.subscribers.len() as f64,
            Measure::DistinctRegisteredAors => self.aors.len() as f64,
            Measure::RegisterSuccessRatio => success(self.register_2xx, register),
            Measure::RegisterChallengeRatio => ratio(self.register_challenged, register),
            Measure::InviteAnswerRatio => success(self.invite_2xx, invite),
            Measure::InviteEffectivenessRatio => success(self.invite_effective, invite),
            Measure::ServerErrorRatio => ratio(self.server_errors, self.all_transactions()),
            Measure::LegTimeoutRatio(leg) => {
                let leg = &self.legs[leg_index(leg)];
                ratio(leg.timeouts, leg.transactions)
            }
            Measure::Messages => self.messages as f64,
            Measure::Transactions => self.all_transactions() as f64,
            Measure::MeanMessageBytes => ratio(self.bytes, self.messages),
            Measure::UnmatchedResponses => self.unmatched as f64,
            Measure::ParseErrors => self.parse_errors as f64,
            Measure::LateRecords => self.late as f64,
            Measure::NoRecords => f64::from(u8::from(self.is_empty())),
        }
    }

    /// The 130 features, in catalogue order.
    pub fn features(&self) -> [f32; FEATURE_COUNT] {
        let mut out = [0f32; FEATURE_COUNT];
        for (slot, feature) in out.iter_mut().zip(catalogue()) {
            *slot = self.value(feature.measure) as f32;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::Completed;
    use crate::schema::{REQUEST_METHODS, index_of};

    fn done(method: &str, code: Option<u16>, leg: Leg, ms: u64) -> Completed {
        Completed {
            ts: 1_000_000 + ms * 1000,
            leg: Some(leg),
            inbound: true,
            method: MethodId::from_name(method),
            start: 1_000_000,
            code,
            trying_us: None,
            setup_us: None,
            first_response_us: None,
            call_id: 7,
            subscriber: Some(1),
            registered_aor: None,
        }
    }

    #[test]
    fn every_feature_lands_in_its_named_column() {
        let mut a = Accumulator::default();
        a.transaction(&done("REGISTER", Some(401), Leg::Access, 40));
        a.transaction(&done("REGISTER", Some(200), Leg::Core, 60));
        a.transaction(&done("INVITE", None, Leg::Core, 32_000));
        a.transaction(&done("NOTIFY", Some(503), Leg::Access, 10));
        a.transaction(&done("FOO", Some(200), Leg::Access, 10));
        let f = a.features();
        let at = |name: &str| f[index_of(name).unwrap_or_else(|| panic!("{name}"))];
        assert_eq!(at("req_register"), 2.0);
        assert_eq!(at("req_invite"), 1.0);
        assert_eq!(at("req_notify"), 1.0);
        assert_eq!(at("req_other"), 1.0);
        assert_eq!(at("resp_register_4xx"), 1.0);
        assert_eq!(at("resp_register_2xx"), 1.0);
        assert_eq!(at("resp_notify_5xx"), 1.0);
        assert_eq!(at("code_401"), 1.0);
        assert_eq!(at("code_503"), 1.0);
        assert_eq!(at("timeout_invite"), 1.0);
        assert_eq!(at("rt_register_mean_ms"), 50.0);
        assert_eq!(at("rt_register_std_ms"), 10.0);
        assert_eq!(at("access_transactions"), 3.0);
        assert_eq!(at("core_transactions"), 2.0);
        assert_eq!(at("access_4xx"), 1.0);
        assert_eq!(at("access_5xx"), 1.0);
        assert_eq!(at("core_timeouts"), 1.0);
        assert_eq!(at("core_rt_register_mean_ms"), 60.0);
        assert_eq!(at("register_success_ratio"), 0.5);
        assert_eq!(at("register_challenge_ratio"), 0.5);
        assert_eq!(at("server_error_ratio"), 0.2);
        assert_eq!(at("core_timeout_ratio"), 0.5);
        assert_eq!(at("access_timeout_ratio"), 0.0);
        // The timed-out INVITE took 32 s: a response time, not none.
        assert_eq!(at("invite_first_response_mean_ms"), 32_000.0);
        assert_eq!(at("transactions"), 5.0);
        assert_eq!(at("distinct_dialogs"), 1.0);
        assert_eq!(at("no_records"), 0.0);
        assert_eq!(Accumulator::default().features()[index_of("no_records").unwrap()], 1.0);
    }

    #[test]
    fn a_node_minute_stays_small() {
        // docs/performance.md: about 2 KB of counters per open node-minute.
        let size = std::mem::size_of::<Accumulator>();
        assert!((1024..=2048).contains(&size), "{size} bytes");
    }

    #[test]
    fn an_ack_record_is_no_transaction() {
        let mut a = Accumulator::default();
        a.transaction(&done("ACK", Some(500), Leg::Core, 10));
        let f = a.features();
        let at = |name: &str| f[index_of(name).unwrap()];
        assert_eq!((at("transactions"), at("code_500"), at("core_5xx")), (0.0, 0.0, 0.0));
        assert_eq!((at("server_error_ratio"), at("req_ack")), (0.0, 0.0));
        assert_eq!(at("no_records"), 0.0, "the node did have traffic");
    }

    /// A small deterministic generator, so the oracle test covers many combinations.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// Completed transactions and messages, each with its method's name; parse errors; late
    /// records.
    type Traffic = (Vec<(&'static str, Completed)>, Vec<(&'static str, MessageSeen)>, u64, u64);

    /// Minute traffic covering every method, leg, class, listed code, timeout and message kind.
    /// Each event comes with the method name it was made from, so that the oracle reads names,
    /// not the method ids under test.
    fn traffic() -> Traffic {
        let mut rng = Lcg(7);
        // Every method with a counter, one without, and ACK (a probe record may report one:
        // it is no transaction and must stay out of `transactions`).
        let methods: Vec<&'static str> = REQUEST_METHODS.iter().copied().chain(["FOO"]).collect();
        let codes = [
            200, 202, 301, 401, 403, 404, 407, 408, 480, 481, 486, 487, 488, 500, 503, 504, 580,
            603, 699, 302, 420,
        ];
        let mut done = Vec::new();
        for _ in 0..3000 {
            let method = methods[rng.next(methods.len() as u64) as usize];
            let leg = [Some(Leg::Access), Some(Leg::Core), None][rng.next(3) as usize];
            let code = (rng.next(8) != 0).then(|| codes[rng.next(codes.len() as u64) as usize]);
            let start = 1_000_000 + rng.next(50_000_000);
            let invite = method == "INVITE";
            done.push((
                method,
                Completed {
                    ts: start + 1 + rng.next(9_000_000),
                    leg,
                    inbound: rng.next(2) == 0,
                    method: MethodId::from_name(method),
                    start,
                    code,
                    trying_us: (invite && rng.next(2) == 0).then(|| rng.next(200_000)),
                    setup_us: (invite && rng.next(2) == 0).then(|| rng.next(3_000_000)),
                    first_response_us: (invite && rng.next(3) != 0).then(|| rng.next(900_000)),
                    call_id: rng.next(900),
                    subscriber: (rng.next(4) != 0).then(|| rng.next(400)),
                    registered_aor: (method == "REGISTER" && code.is_some_and(|c| c < 300))
                        .then(|| rng.next(300)),
                },
            ));
        }
        let kinds = [
            Seen::Request,
            Seen::RequestAgain { duplicate: true },
            Seen::RequestAgain { duplicate: false },
            Seen::Response,
            Seen::ResponseAgain { duplicate: true },
            Seen::ResponseAgain { duplicate: false },
            Seen::Unmatched,
            Seen::Unusable,
        ];
        let mut seen = Vec::new();
        for _ in 0..4000 {
            let seen_kind = kinds[rng.next(kinds.len() as u64) as usize];
            let status = match seen_kind {
                Seen::Response | Seen::ResponseAgain { .. } | Seen::Unmatched => {
                    [100, 180, 183, 181, 200, 486][rng.next(6) as usize]
                }
                _ => 0,
            };
            let all = ["ACK", "REGISTER", "INVITE", "BYE", "FOO", "MESSAGE"];
            let method = all[rng.next(all.len() as u64) as usize];
            seen.push((
                method,
                MessageSeen {
                    ts: 2_000_000,
                    method: MethodId::from_name(method),
                    status,
                    seen: seen_kind,
                    bytes: 300 + rng.next(900) as u32,
                },
            ));
        }
        (done, seen, 5, 3)
    }

    /// An event with the method it was made from, named as the catalogue names it
    /// (`register`, ..., `other` for a method without a counter of its own).
    type Named<T> = (String, T);

    fn named<T: Copy>(events: &[(&str, T)]) -> Vec<Named<T>> {
        events
            .iter()
            .map(|(method, event)| {
                let listed = REQUEST_METHODS.contains(method);
                (if listed { method.to_ascii_lowercase() } else { "other".to_owned() }, *event)
            })
            .collect()
    }

    fn group(method: &str) -> &str {
        if matches!(method, "register" | "invite") { method } else { "other" }
    }

    /// An independent reading of each feature's NAME and definition (docs/features.md), computed
    /// naively from the raw events and the method names they were made from: if the catalogue
    /// order and the values ever disagreed, some name would get another name's value.
    fn oracle(
        name: &str,
        done: &[Named<Completed>],
        seen: &[Named<MessageSeen>],
        parse: u64,
        late: u64,
    ) -> f64 {
        let count = |f: &dyn Fn(&str, &Completed) -> bool| {
            done.iter().filter(|(m, t)| f(m, t)).count() as f64
        };
        let count_seen = |f: &dyn Fn(&str, &MessageSeen) -> bool| {
            seen.iter().filter(|(m, s)| f(m, s)).count() as f64
        };
        // Population mean and standard deviation (0 below two values).
        let moments = |values: Vec<f64>| {
            let n = values.len() as f64;
            if values.is_empty() {
                return (0.0, 0.0);
            }
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            (mean, if values.len() < 2 { 0.0 } else { var.sqrt() })
        };
        // Response times include timeouts (the time it took to time out).
        let completed_ms = |f: &dyn Fn(&str, &Completed) -> bool| {
            done.iter()
                .filter(|(m, t)| f(m, t))
                .map(|(_, t)| (t.ts - t.start) as f64 / 1000.0)
                .collect::<Vec<_>>()
        };
        let transactions = count(&|m, _| m != "ack");
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let success = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
        let leg_of = |leg: &str| if leg == "access" { Some(Leg::Access) } else { Some(Leg::Core) };
        let class = |text: &str| text.trim_end_matches("xx").parse::<u16>().unwrap();
        let distinct =
            |ids: Vec<u64>| ids.into_iter().collect::<std::collections::BTreeSet<_>>().len() as f64;
        let parts: Vec<&str> = name.split('_').collect();
        match parts.as_slice() {
            ["req", "ack"] => count_seen(&|m, s| s.seen == Seen::Request && m == "ack"),
            ["req", method] => count(&|m, _| m == *method),
            ["resp", method, c] => {
                count(&|m, t| m == *method && t.code.is_some_and(|x| x / 100 == class(c)))
            }
            ["code", n] => {
                let n: u16 = n.parse().unwrap();
                if n < 200 {
                    count_seen(&|_, s| s.seen == Seen::Response && s.status == n)
                } else {
                    count(&|_, t| t.code == Some(n))
                }
            }
            [leg @ ("access" | "core"), "timeout", "ratio"] => ratio(
                count(&|_, t| t.leg == leg_of(leg) && t.code.is_none()),
                count(&|_, t| t.leg == leg_of(leg)),
            ),
            ["invite", "first", "response", "mean", "ms"] => {
                let values = done
                    .iter()
                    .filter(|(m, _)| m == "invite")
                    .map(|(_, t)| {
                        let elapsed = (t.ts - t.start) as f64 / 1000.0;
                        t.first_response_us.map_or(elapsed, |us| us as f64 / 1000.0)
                    })
                    .collect();
                moments(values).0
            }
            ["invite", "failure", "rt", "mean", "ms"] => {
                moments(completed_ms(&|m, t| m == "invite" && t.code.is_some_and(|c| c >= 300))).0
            }
            ["timeout", g] => count(&|m, t| t.code.is_none() && group(m) == *g),
            ["retx", "responses"] => {
                count_seen(&|_, s| s.seen == Seen::ResponseAgain { duplicate: false })
            }
            ["retx", g] => count_seen(&|m, s| {
                s.seen == Seen::RequestAgain { duplicate: false } && group(m) == *g
            }),
            ["duplicates"] => count_seen(&|_, s| {
                matches!(
                    s.seen,
                    Seen::RequestAgain { duplicate: true }
                        | Seen::ResponseAgain { duplicate: true }
                )
            }),
            ["rt", method, "mean", "ms"] => moments(completed_ms(&|m, _| m == *method)).0,
            ["rt", method, "std", "ms"] => moments(completed_ms(&|m, _| m == *method)).1,
            [what @ ("setup" | "trying"), stat, "ms"] => {
                let values = done
                    .iter()
                    .filter(|(m, t)| m == "invite" && t.code.is_some())
                    .filter_map(|(_, t)| if *what == "setup" { t.setup_us } else { t.trying_us })
                    .map(|us| us as f64 / 1000.0)
                    .collect();
                let (mean, std) = moments(values);
                if *stat == "mean" { mean } else { std }
            }
            [leg @ ("access" | "core"), "transactions"] => count(&|_, t| t.leg == leg_of(leg)),
            [leg @ ("access" | "core"), "timeouts"] => {
                count(&|_, t| t.leg == leg_of(leg) && t.code.is_none())
            }
            [leg @ ("access" | "core"), c] if c.ends_with("xx") => {
                count(&|_, t| t.leg == leg_of(leg) && t.code.is_some_and(|x| x / 100 == class(c)))
            }
            ["core", "rt", method, "mean", "ms"] => {
                moments(completed_ms(&|m, t| m == *method && t.leg == Some(Leg::Core))).0
            }
            ["distinct", "dialogs"] => distinct(done.iter().map(|(_, t)| t.call_id).collect()),
            ["distinct", "subscribers"] => {
                distinct(done.iter().filter_map(|(_, t)| t.subscriber).collect())
            }
            ["distinct", "registered", "aors"] => {
                distinct(done.iter().filter_map(|(_, t)| t.registered_aor).collect())
            }
            ["register", "success", "ratio"] => success(
                count(&|m, t| m == "register" && t.code.is_some_and(|c| c / 100 == 2)),
                count(&|m, _| m == "register"),
            ),
            ["register", "challenge", "ratio"] => ratio(
                count(&|m, t| m == "register" && matches!(t.code, Some(401 | 407))),
                count(&|m, _| m == "register"),
            ),
            ["invite", "answer", "ratio"] => success(
                count(&|m, t| m == "invite" && t.code.is_some_and(|c| c / 100 == 2)),
                count(&|m, _| m == "invite"),
            ),
            ["invite", "effectiveness", "ratio"] => success(
                count(&|m, t| {
                    m == "invite"
                        && t.code
                            .is_some_and(|c| c / 100 == 2 || [486, 480, 487, 603, 404].contains(&c))
                }),
                count(&|m, _| m == "invite"),
            ),
            ["server", "error", "ratio"] => ratio(
                count(&|m, t| m != "ack" && t.code.is_some_and(|c| c / 100 == 5)),
                transactions,
            ),
            ["messages"] => seen.len() as f64,
            ["transactions"] => transactions,
            ["mean", "message", "bytes"] => {
                ratio(seen.iter().map(|(_, s)| f64::from(s.bytes)).sum(), seen.len() as f64)
            }
            ["unmatched", "responses"] => count_seen(&|_, s| s.seen == Seen::Unmatched),
            ["parse", "errors"] => parse as f64,
            ["late", "records"] => late as f64,
            ["no", "records"] => {
                f64::from(u8::from(done.is_empty() && seen.is_empty() && parse == 0 && late == 0))
            }
            _ => panic!("the oracle does not know feature `{name}`"),
        }
    }

    fn check_against_oracle(
        done: &[(&'static str, Completed)],
        seen: &[(&'static str, MessageSeen)],
        parse: u64,
        late: u64,
    ) -> usize {
        let mut a = Accumulator::default();
        done.iter().for_each(|(_, t)| a.transaction(t));
        seen.iter().for_each(|(_, m)| a.message(m));
        (0..parse).for_each(|_| a.parse_error());
        (0..late).for_each(|_| a.late_record());
        let (mut done, seen) = (named(done), named(seen));
        // The definitions speak of transactions, which an ACK never is.
        done.retain(|(method, _)| method != "ack");
        let mut non_zero = 0;
        for (feature, value) in catalogue().iter().zip(a.features()) {
            let expected = oracle(feature.name, &done, &seen, parse, late);
            let tolerance = 1e-4 * expected.abs().max(1.0);
            assert!(
                (f64::from(value) - expected).abs() <= tolerance,
                "{}: accumulator {value}, oracle {expected}",
                feature.name
            );
            non_zero += usize::from(expected != 0.0);
        }
        non_zero
    }

    #[test]
    fn every_feature_is_the_computation_its_name_describes() {
        let (done, seen, parse, late) = traffic();
        // Every feature but `no_records` is exercised: none can hide behind a zero.
        assert_eq!(check_against_oracle(&done, &seen, parse, late), FEATURE_COUNT - 1);
        // A minute with only rejected or late input is not a minute without records; the
        // three success ratios of nothing read 1 (no failure), not 0.
        assert_eq!(check_against_oracle(&[], &[], 2, 0), 1 + 3);
        assert_eq!(check_against_oracle(&[], &[], 0, 1), 1 + 3);
        // And an empty one is: `no_records` is set.
        assert_eq!(check_against_oracle(&[], &[], 0, 0), 1 + 3);
    }
}
