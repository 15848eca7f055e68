//! What one node did in one minute, and its 130 features.

use rustc_hash::FxHashSet as HashSet;

use crate::correlate::{Completed, Leg, MessageSeen, Seen};
use crate::features::schema::{
    CODES, FEATURE_COUNT, REQUEST_METHODS, RESPONSE_METHODS, TIMED_METHODS, catalogue,
};

const METHODS: usize = REQUEST_METHODS.len() + 1;

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

/// Counters of one node-minute.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    records: u64,
    transactions: [u64; METHODS],
    acks: u64,
    finals: [[u64; 5]; RESPONSE_METHODS.len()],
    codes: [u64; CODES.len()],
    timeouts: [u64; 3],
    retransmissions: [u64; 3],
    response_retransmissions: u64,
    duplicates: u64,
    response_times: [Moments; TIMED_METHODS.len()],
    setup: Moments,
    trying: Moments,
    legs: [[u64; 4]; 2],
    core_register: Moments,
    core_invite: Moments,
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
    /// Parse errors counted for this node-minute.
    pub parse_errors: u64,
    /// Late records counted for this node-minute.
    pub late: u64,
}

fn method_group(method: u8) -> usize {
    match REQUEST_METHODS.get(method as usize) {
        Some(&"REGISTER") => 0,
        Some(&"INVITE") => 1,
        _ => 2,
    }
}

impl Accumulator {
    /// Counts a finished transaction.
    pub fn transaction(&mut self, t: &Completed) {
        self.records += 1;
        self.transactions[(t.method as usize).min(METHODS - 1)] += 1;
        let name = REQUEST_METHODS.get(t.method as usize).copied().unwrap_or("");
        let leg = match t.leg {
            Leg::Access => Some(0),
            Leg::Core => Some(1),
            Leg::Unknown => None,
        };
        if let Some(leg) = leg {
            self.legs[leg][0] += 1;
        }
        self.dialogs.insert(t.call_id);
        if let Some(subscriber) = t.subscriber {
            self.subscribers.insert(subscriber);
        }
        let Some(code) = t.code else {
            self.timeouts[method_group(t.method)] += 1;
            if let Some(leg) = leg {
                self.legs[leg][3] += 1;
            }
            return;
        };
        let class = (code / 100) as usize;
        if let Some(m) = RESPONSE_METHODS.iter().position(|m| *m == name)
            && (2..=6).contains(&class)
        {
            self.finals[m][class - 2] += 1;
        }
        if let Some(i) = CODES.iter().position(|c| *c == code) {
            self.codes[i] += 1;
        }
        if let Some(leg) = leg {
            match class {
                4 => self.legs[leg][1] += 1,
                5 => self.legs[leg][2] += 1,
                _ => {}
            }
        }
        if class == 5 {
            self.server_errors += 1;
        }
        let millis = (t.ts - t.start) as f64 / 1000.0;
        if let Some(m) = TIMED_METHODS.iter().position(|m| *m == name) {
            self.response_times[m].add(millis);
        }
        if t.leg == Leg::Core {
            match name {
                "REGISTER" => self.core_register.add(millis),
                "INVITE" => self.core_invite.add(millis),
                _ => {}
            }
        }
        match name {
            "REGISTER" => {
                if class == 2 {
                    self.register_2xx += 1;
                }
                if matches!(code, 401 | 407) {
                    self.register_challenged += 1;
                }
            }
            "INVITE" => {
                if class == 2 {
                    self.invite_2xx += 1;
                }
                if class == 2 || matches!(code, 486 | 480 | 487 | 603 | 404) {
                    self.invite_effective += 1;
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
        self.records += 1;
        self.messages += 1;
        self.bytes += u64::from(m.bytes);
        match m.seen {
            Seen::Request if m.method as usize == 2 => self.acks += 1,
            Seen::RequestAgain { duplicate: true } | Seen::ResponseAgain { duplicate: true } => {
                self.duplicates += 1;
            }
            Seen::RequestAgain { duplicate: false } => {
                self.retransmissions[method_group(m.method)] += 1;
            }
            Seen::ResponseAgain { duplicate: false } => self.response_retransmissions += 1,
            Seen::Response if m.status < 200 => {
                if let Some(i) = CODES.iter().position(|c| *c == m.status) {
                    self.codes[i] += 1;
                }
            }
            Seen::Unmatched => self.unmatched += 1,
            Seen::Unusable => {}
            Seen::Request | Seen::Response => {}
        }
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.parse_errors == 0 && self.late == 0
    }

    /// The 130 features, in catalogue order.
    pub fn features(&self) -> [f32; FEATURE_COUNT] {
        let mut values = Vec::with_capacity(FEATURE_COUNT);
        let mut push = |v: f64| values.push(v as f32);
        for (i, method) in REQUEST_METHODS.iter().enumerate() {
            push(if *method == "ACK" { self.acks as f64 } else { self.transactions[i] as f64 });
        }
        push(self.transactions[METHODS - 1] as f64);
        for row in &self.finals {
            for count in row {
                push(*count as f64);
            }
        }
        for count in &self.codes {
            push(*count as f64);
        }
        for count in &self.timeouts {
            push(*count as f64);
        }
        for count in &self.retransmissions {
            push(*count as f64);
        }
        push(self.response_retransmissions as f64);
        push(self.duplicates as f64);
        for moments in &self.response_times {
            push(moments.mean());
            push(moments.std());
        }
        push(self.setup.mean());
        push(self.setup.std());
        push(self.trying.mean());
        for leg in &self.legs {
            push(leg[0] as f64);
        }
        for kind in [1, 2, 3] {
            for leg in &self.legs {
                push(leg[kind] as f64);
            }
        }
        push(self.core_register.mean());
        push(self.core_invite.mean());
        push(self.dialogs.len() as f64);
        push(self.subscribers.len() as f64);
        push(self.aors.len() as f64);
        let register = self.transactions[0] as f64;
        let invite = self.transactions[1] as f64;
        let total: u64 = self.transactions.iter().sum::<u64>() - self.transactions[2];
        let ratio = |part: u64, whole: f64| if whole > 0.0 { part as f64 / whole } else { 0.0 };
        push(ratio(self.register_2xx, register));
        push(ratio(self.register_challenged, register));
        push(ratio(self.invite_2xx, invite));
        push(ratio(self.invite_effective, invite));
        push(ratio(self.server_errors, total as f64));
        push(ratio(self.timeouts.iter().sum(), total as f64));
        push(self.messages as f64);
        push(total as f64);
        push(if self.messages > 0 { self.bytes as f64 / self.messages as f64 } else { 0.0 });
        push(self.unmatched as f64);
        push(self.parse_errors as f64);
        push(self.late as f64);
        push(if self.is_empty() { 1.0 } else { 0.0 });
        debug_assert_eq!(values.len(), catalogue().len());
        let mut out = [0f32; FEATURE_COUNT];
        for (slot, value) in out.iter_mut().zip(values) {
            *slot = value;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::schema::index_of;

    fn done(method: &str, code: Option<u16>, leg: Leg, ms: u64) -> Completed {
        Completed {
            ts: 1_000_000 + ms * 1000,
            leg,
            inbound: true,
            method: REQUEST_METHODS.iter().position(|m| *m == method).unwrap_or(14) as u8,
            start: 1_000_000,
            code,
            trying_us: None,
            setup_us: None,
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
        assert_eq!(at("timeout_ratio"), 0.2);
        assert_eq!(at("transactions"), 5.0);
        assert_eq!(at("distinct_dialogs"), 1.0);
        assert_eq!(at("no_records"), 0.0);
        assert_eq!(Accumulator::default().features()[index_of("no_records").unwrap()], 1.0);
    }
}
