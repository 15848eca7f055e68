//! The traffic engine: subscribers of each P-CSCF register, call, text and are notified; the
//! P-CSCF relays every transaction between its access and core legs, with RFC 3261 timers,
//! loss and retransmissions; faults change what the core (or the node itself) answers.
//!
//! Events are processed in time order. One event produces the messages of a whole
//! transaction (a few seconds ahead at most, 32 s for a timeout); they wait in a heap and are
//! written once no later event can produce anything earlier, so outputs are in time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use imsight_parsers::sip::Method;

use super::fault::{ActiveFault, FaultKind};
use super::profile::NetworkProfile;
use super::rng::Rng;
use super::scenario::ResolvedNode;
use super::wire::{CorePeer, Dir, Leg, SimMessage, flag};

const SECOND: u64 = 1_000_000;
const MINUTE: u64 = 60 * SECOND;
/// RFC 3261 T1 and T2.
const T1: u64 = 500_000;
const T2: u64 = 4 * SECOND;
/// Timer B/F: 64 × T1; also how long a probe waits before it records a timeout.
const TIMEOUT: u64 = 64 * T1;
/// How long the P-CSCF waits for the core before it answers 408 itself (Kamailio's default
/// `fr_timer`); shorter than the UE's own Timer B/F, so the UE sees the 408.
const PROXY_GIVE_UP: u64 = 30 * SECOND;

/// One transaction as a probe at the P-CSCF would export it (one record per leg).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxnRecord {
    /// Node index.
    pub node: u16,
    /// Access or core leg.
    pub leg: Leg,
    /// Request received by the node (true) or sent (false).
    pub inbound: bool,
    /// Method.
    pub method: Method<'static>,
    /// First request copy on this leg, µs.
    pub start: u64,
    /// Final response on this leg (or the timeout), µs.
    pub end: u64,
    /// Final status, or `None` for a timeout.
    pub result: Option<u16>,
    /// Subscriber index.
    pub sub: u32,
    /// Dialog seed (Call-ID).
    pub dialog: u64,
    /// Who started the dialog (for the Call-ID).
    pub dir: Dir,
}

/// Where the engine's output goes, in time order.
pub trait Output {
    /// A message on the wire.
    fn message(&mut self, message: &SimMessage);
    /// A finished transaction on one leg.
    fn transaction(&mut self, record: &TxnRecord);
    /// Simulated time reached `now` (progress).
    fn progress(&mut self, _now: u64) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    sub: u32,
    other: u32,
    dialog: u64,
    dir: DirKey,
}

/// `Dir` with an order, for the event heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DirKey {
    Up,
    Down,
}

impl DirKey {
    fn dir(self) -> Dir {
        match self {
            Self::Up => Dir::Uplink,
            Self::Down => Dir::Downlink,
        }
    }
}

/// Poisson arrival processes of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Process {
    /// UEs powering on (initial registrations).
    Attach,
    /// Call attempts.
    Call,
    /// SMS over IP.
    Message,
    /// Extra registrations of a registration storm.
    Storm,
    /// Extra INVITEs of an INVITE flood.
    Flood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Register {
        sub: u32,
        initial: bool,
    },
    /// An arrival of `process` (`act`), or only a fresh draw of its next arrival after a
    /// minute without one, so that rate changes apply (exact, the process being memoryless).
    Arrival {
        process: Process,
        act: bool,
    },
    Options,
    CallEnd(Call),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: u64,
    seq: u64,
    node: u16,
    kind: EventKind,
}

/// A response the far end gives: code, delay after it got the request, flags.
#[derive(Debug, Clone, Copy)]
struct Resp {
    code: u16,
    after: u64,
    flags: u16,
}

/// What happens to one transaction beyond the P-CSCF.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    /// The P-CSCF answers itself (overload, peer known down, Rx failure).
    local: Option<u16>,
    /// Provisional responses from the far end.
    provisional: [Option<Resp>; 2],
    /// The final response; `None` = never answered.
    last: Option<Resp>,
}

impl Outcome {
    /// The far end answers `code` after `after` µs.
    fn answer(code: u16, after: u64) -> Self {
        Self { last: Some(Resp { code, after, flags: 0 }), ..Self::default() }
    }
}

/// One transaction to relay.
#[derive(Debug, Clone, Copy)]
struct Txn {
    node: u16,
    dir: Dir,
    peer: CorePeer,
    sub: u32,
    other: u32,
    dialog: u64,
    cseq: u32,
    method: Method<'static>,
    flags: u16,
}

struct NodeSim {
    spec: ResolvedNode,
    /// Per subscriber: registered until (µs); 0 = not registered.
    registered_until: Vec<u64>,
    rng: Rng,
}

/// The simulation of all nodes of a scenario.
pub struct Engine {
    start: u64,
    end: u64,
    nodes: Vec<NodeSim>,
    events: BinaryHeap<Reverse<Event>>,
    pending: BinaryHeap<Reverse<(u64, u64, usize)>>,
    /// Messages waiting for their time; `pending` orders indexes into it.
    slots: Vec<Option<SimMessage>>,
    free: Vec<usize>,
    records: BinaryHeap<Reverse<(u64, u64, RecordKey)>>,
    seq: u64,
    next_id: u64,
}

/// `TxnRecord` with a total order for the heap (floats are absent, so it is exact).
#[derive(Debug, Clone, Copy, PartialEq)]
struct RecordKey(TxnRecord);
impl Eq for RecordKey {}
impl PartialOrd for RecordKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RecordKey {
    fn cmp(&self, _other: &Self) -> std::cmp::Ordering {
        // Ties are already broken by the sequence number beside it.
        std::cmp::Ordering::Equal
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("nodes", &self.nodes.len()).finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `nodes` from `start` (µs, whole minute) for `minutes`, seeded.
    pub fn new(nodes: Vec<ResolvedNode>, start: u64, minutes: u32, seed: u64) -> Self {
        let root = Rng::new(seed);
        let mut engine = Self {
            start,
            end: start + u64::from(minutes) * MINUTE,
            nodes: Vec::new(),
            events: BinaryHeap::new(),
            pending: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            records: BinaryHeap::new(),
            seq: 0,
            next_id: 1,
        };
        for spec in nodes {
            let index = engine.nodes.len() as u16;
            let mut rng = root.fork(u64::from(index) + 1);
            let profile = &spec.profile;
            let expires = u64::from(profile.registration_expires_s) * SECOND;
            // Steady state: everyone is registered, refreshes spread over the refresh period.
            let mut registered_until = Vec::with_capacity(profile.subscribers as usize);
            for sub in 0..profile.subscribers {
                let refresh_at = start + rng.below(expires * 9 / 10);
                registered_until.push(refresh_at + expires / 10);
                engine.schedule(refresh_at, index, EventKind::Register { sub, initial: false });
            }
            for process in
                [Process::Attach, Process::Call, Process::Message, Process::Storm, Process::Flood]
            {
                engine.schedule(start, index, EventKind::Arrival { process, act: false });
            }
            let first_options = start + rng.below(u64::from(profile.options_interval_s) * SECOND);
            engine.schedule(first_options, index, EventKind::Options);
            engine.nodes.push(NodeSim { spec, registered_until, rng });
        }
        engine
    }

    /// Runs to the end, writing everything to `output`.
    pub fn run(&mut self, output: &mut dyn Output) {
        while let Some(Reverse(event)) = self.events.pop() {
            if event.at >= self.end {
                break;
            }
            self.flush(event.at, output);
            self.handle(event);
        }
        self.flush(self.end, output);
    }

    fn flush(&mut self, until: u64, output: &mut dyn Output) {
        while let Some(&Reverse((ts, _, slot))) = self.pending.peek() {
            if ts >= until {
                break;
            }
            self.pending.pop();
            if let Some(message) = self.slots[slot].take() {
                self.free.push(slot);
                if message.ts < self.end {
                    output.message(&message);
                }
            }
        }
        while let Some(Reverse((end, _, _))) = self.records.peek() {
            if *end >= until {
                break;
            }
            if let Some(Reverse((_, _, RecordKey(record)))) = self.records.pop()
                && record.end < self.end
            {
                output.transaction(&record);
            }
        }
        output.progress(until);
    }

    fn schedule(&mut self, at: u64, node: u16, kind: EventKind) {
        self.seq += 1;
        self.events.push(Reverse(Event { at, seq: self.seq, node, kind }));
    }

    fn emit(&mut self, message: SimMessage) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(message);
                slot
            }
            None => {
                self.slots.push(Some(message));
                self.slots.len() - 1
            }
        };
        self.pending.push(Reverse((message.ts, self.seq, slot)));
    }

    fn record(&mut self, record: TxnRecord) {
        self.seq += 1;
        self.records.push(Reverse((record.end, self.seq, RecordKey(record))));
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn active(&self, node: u16, at: u64) -> ActiveFault {
        let minute = ((at.saturating_sub(self.start)) / MINUTE) as u32;
        self.nodes[node as usize].spec.active(minute)
    }

    fn profile(&self, node: u16) -> &NetworkProfile {
        &self.nodes[node as usize].spec.profile
    }

    fn rng(&mut self, node: u16) -> &mut Rng {
        &mut self.nodes[node as usize].rng
    }

    /// Busy-hour-relative load at `at` (diurnal curve, interpolated between hours).
    fn diurnal(&self, node: u16, at: u64) -> f64 {
        let curve = &self.profile(node).diurnal;
        let hours = (at / SECOND % 86_400) as f64 / 3600.0;
        let h = hours.floor() as usize % 24;
        let frac = hours - hours.floor();
        curve[h] * (1.0 - frac) + curve[(h + 1) % 24] * frac
    }

    fn delay(&mut self, node: u16, median_ms: f64) -> u64 {
        let sigma = self.profile(node).delay_sigma;
        (self.rng(node).lognormal(median_ms, sigma) * 1000.0) as u64
    }

    /// P-CSCF processing time; grows steeply when the node is at its capacity limit.
    fn processing(&mut self, node: u16, at: u64) -> u64 {
        let overload = self.active(node, at).of(FaultKind::CapacityLimit);
        let median = 0.6 * (1.0 + 500.0 * overload * overload);
        (self.rng(node).lognormal(median, 0.6) * 1000.0) as u64
    }

    /// Core response time multiplier under load-type faults.
    fn core_slowdown(&self, node: u16, at: u64) -> f64 {
        let fault = self.active(node, at);
        1.0 + 3.0 * fault.of(FaultKind::CapacityLimit)
            + 4.0 * fault.of(FaultKind::RegistrationStorm)
            + 2.0 * fault.of(FaultKind::InviteFlood)
    }

    /// Schedules the next arrival of `process` at `per_hour`, or a redraw after a minute.
    fn next_arrival(&mut self, node: u16, at: u64, per_hour: f64, process: Process) {
        let gap = if per_hour > 0.0 {
            (self.rng(node).exponential(3600.0 / per_hour) * SECOND as f64) as u64
        } else {
            u64::MAX
        };
        if gap < MINUTE {
            self.schedule(at + gap.max(1), node, EventKind::Arrival { process, act: true });
        } else {
            self.schedule(at + MINUTE, node, EventKind::Arrival { process, act: false });
        }
    }

    /// The current rate of `process`, per hour.
    fn rate(&self, node: u16, at: u64, process: Process) -> f64 {
        let profile = self.profile(node);
        let subscribers = f64::from(profile.subscribers);
        let fault = self.active(node, at);
        match process {
            Process::Attach => subscribers * profile.attach_rate * self.diurnal(node, at),
            Process::Call => subscribers * profile.calls_per_sub_hour * self.diurnal(node, at),
            Process::Message => {
                subscribers * profile.messages_per_sub_hour * self.diurnal(node, at)
            }
            // At full severity every subscriber re-registers within five minutes.
            Process::Storm => fault.of(FaultKind::RegistrationStorm) * subscribers * 12.0,
            // At full severity, fifteen times the busy-hour call rate.
            Process::Flood => {
                fault.of(FaultKind::InviteFlood) * subscribers * profile.calls_per_sub_hour * 15.0
            }
        }
    }

    fn handle(&mut self, event: Event) {
        let (node, at) = (event.node, event.at);
        match event.kind {
            EventKind::Register { sub, initial } => self.register(node, at, sub, initial),
            EventKind::Arrival { process, act } => {
                if act {
                    self.arrive(node, at, process);
                }
                let rate = self.rate(node, at, process);
                self.next_arrival(node, at, rate, process);
            }
            EventKind::Options => {
                self.options(node, at);
                let interval = u64::from(self.profile(node).options_interval_s) * SECOND;
                self.schedule(at + interval, node, EventKind::Options);
            }
            EventKind::CallEnd(call) => self.hang_up(node, at, call),
        }
    }

    fn arrive(&mut self, node: u16, at: u64, process: Process) {
        let subscribers = u64::from(self.profile(node).subscribers);
        match process {
            Process::Attach => {
                let sub = self.rng(node).below(subscribers) as u32;
                if self.nodes[node as usize].registered_until[sub as usize] <= at {
                    self.register(node, at, sub, true);
                }
            }
            Process::Storm => {
                let sub = self.rng(node).below(subscribers) as u32;
                self.register(node, at, sub, true);
            }
            Process::Call => self.call(node, at, false),
            Process::Flood => self.call(node, at, true),
            Process::Message => self.message(node, at),
        }
    }

    // ---- the P-CSCF relay -------------------------------------------------------------

    /// Relays one transaction at `t0` with `outcome`; returns the final code and when the
    /// originator got it (`None` code = the originator timed out without any answer).
    fn relay(&mut self, t0: u64, txn: Txn, outcome: Outcome) -> (Option<u16>, u64) {
        let node = txn.node;
        let reverse = txn.flags & flag::REVERSE != 0;
        let effective = match (txn.dir, reverse) {
            (Dir::Uplink, true) => Dir::Downlink,
            (Dir::Downlink, true) => Dir::Uplink,
            (dir, _) => dir,
        };
        let (first, second) = match effective {
            Dir::Uplink => (Some(Leg::Access), Leg::Core),
            Dir::Downlink => (Some(Leg::Core), Leg::Access),
            Dir::FromPcscf => (None, Leg::Core),
        };
        let invite = txn.method == Method::Invite;
        let message =
            |leg: Leg, ts: u64, status: u16, flags: u16| txn.message(leg, ts, status, flags);
        let request_flags = txn.flags;
        let response_flags = txn.flags & !(flag::SDP | flag::AUTH | flag::RELIABLE);

        // The originator's request reaches the P-CSCF (an access-side first copy may be lost).
        let mut t_in = t0;
        if first == Some(Leg::Access) {
            let loss = self.profile(node).access_loss;
            let mut timer = T1;
            while self.rng(node).chance(loss) && timer <= T2 {
                t_in += timer;
                timer *= 2;
            }
        }
        if let Some(leg) = first {
            self.emit(message(leg, t_in, 0, request_flags));
        }
        let processing = self.processing(node, t_in);
        let t_fwd = t_in + processing;

        if let (Some(code), Some(leg)) = (outcome.local, first) {
            let t = t_fwd;
            self.emit(message(leg, t, code, response_flags));
            self.record(txn.record(leg, true, t_in, t, Some(code)));
            if invite {
                let ack_at = t + self.delay(node, 2.0 * self.profile(node).access_delay_ms);
                self.emit(ack(message(leg, ack_at, 0, request_flags)));
            }
            return (Some(code), t + self.delay(node, self.profile(node).access_delay_ms));
        }
        if invite && let Some(leg) = first {
            // 100 Trying, hop by hop; the originator retransmits until it arrives.
            self.emit(message(leg, t_fwd, 100, response_flags));
            self.retransmit_until(t_in, t_fwd, true, message(leg, 0, 0, request_flags));
        }

        // Forwarded to the far side.
        self.emit(message(second, t_fwd, 0, request_flags));
        let (first_answer, last) = match outcome.last {
            None => {
                // Nobody answers: retransmit until Timer B/F, then 408 to the originator.
                // The core leg is recorded as a timeout after Timer B/F; the P-CSCF stops
                // retransmitting and answers the originator when its own timer fires.
                let give_up = t_fwd + PROXY_GIVE_UP;
                self.retransmit_until(t_fwd, give_up, invite, message(second, 0, 0, request_flags));
                self.record(txn.record(second, false, t_fwd, t_fwd + TIMEOUT, None));
                let Some(leg) = first else {
                    return (None, give_up);
                };
                if !invite {
                    self.retransmit_until(t_in, give_up, false, message(leg, 0, 0, request_flags));
                }
                self.emit(message(leg, give_up, 408, response_flags));
                self.record(txn.record(leg, true, t_in, give_up, Some(408)));
                if invite {
                    let ack_at =
                        give_up + self.delay(node, 2.0 * self.profile(node).access_delay_ms);
                    self.emit(ack(message(leg, ack_at, 0, request_flags)));
                }
                return (Some(408), give_up);
            }
            Some(last) => {
                let first_answer = outcome
                    .provisional
                    .iter()
                    .flatten()
                    .map(|p| p.after)
                    .min()
                    .unwrap_or(last.after);
                (first_answer.min(last.after), last)
            }
        };
        let t_final = t_fwd + last.after;
        self.retransmit_until(
            t_fwd,
            t_fwd + first_answer,
            invite,
            message(second, 0, 0, request_flags),
        );
        for provisional in outcome.provisional.iter().flatten() {
            if provisional.after >= last.after {
                continue;
            }
            let t = t_fwd + provisional.after;
            self.emit(message(second, t, provisional.code, response_flags | provisional.flags));
            if provisional.code != 100
                && let Some(leg) = first
            {
                let relay_at = t + self.processing(node, t);
                self.emit(message(
                    leg,
                    relay_at,
                    provisional.code,
                    response_flags | provisional.flags,
                ));
            }
        }
        self.emit(message(second, t_final, last.code, response_flags | last.flags));
        self.record(txn.record(second, false, t_fwd, t_final, Some(last.code)));
        let success = last.code < 300;
        if invite && !success {
            let ack_at = t_final + self.processing(node, t_final);
            self.emit(ack(message(second, ack_at, 0, request_flags)));
        }
        let Some(leg) = first else {
            return (Some(last.code), t_final);
        };
        let relay_at = t_final + self.processing(node, t_final);
        if !invite {
            self.retransmit_until(t_in, relay_at, false, message(leg, 0, 0, request_flags));
        }
        self.emit(message(leg, relay_at, last.code, response_flags | last.flags));
        self.record(txn.record(leg, true, t_in, relay_at, Some(last.code)));
        let back = relay_at + self.delay(node, self.profile(node).access_delay_ms);
        if invite && !success {
            let ack_at = back + self.delay(node, self.profile(node).access_delay_ms);
            self.emit(ack(message(leg, ack_at, 0, request_flags)));
        }
        (Some(last.code), back)
    }

    /// Retransmissions of a request sent at `sent` while no answer came before `until`
    /// (RFC 3261 Timer A for INVITE, Timer E capped at T2 otherwise).
    fn retransmit_until(&mut self, sent: u64, until: u64, invite: bool, template: SimMessage) {
        let mut interval = T1;
        let mut t = sent + interval;
        while t < until && t < sent + TIMEOUT {
            self.emit(SimMessage {
                ts: t,
                flags: template.flags | flag::RETRANSMISSION,
                ..template
            });
            interval = if invite { interval * 2 } else { (interval * 2).min(T2) };
            t += interval;
        }
    }

    // ---- procedures ------------------------------------------------------------------

    fn register(&mut self, node: u16, at: u64, sub: u32, initial: bool) {
        let dialog = self.id();
        let fault = self.active(node, at);
        let mut cseq = 1;
        let mut t = at;
        for auth in [false, true] {
            let outcome = self.register_outcome(node, t, fault, auth);
            let txn = Txn {
                node,
                dir: Dir::Uplink,
                peer: CorePeer::Icscf,
                sub,
                other: 0,
                dialog,
                cseq,
                method: Method::Register,
                flags: if auth { flag::AUTH } else { 0 },
            };
            let (code, answered) = self.relay(t, txn, outcome);
            match code {
                Some(401) if !auth => {
                    // The UE computes its AKA response and registers again.
                    t = answered + self.delay(node, 60.0);
                    cseq += 1;
                }
                Some(200) => {
                    let expires = u64::from(self.profile(node).registration_expires_s) * SECOND;
                    self.nodes[node as usize].registered_until[sub as usize] = answered + expires;
                    // UEs spread their refreshes; after an outage they would otherwise stay in step.
                    let jitter = self.rng(node).below(expires / 6);
                    self.schedule(
                        answered + expires * 9 / 10 - jitter,
                        node,
                        EventKind::Register { sub, initial: false },
                    );
                    if initial {
                        let subscribe_at = answered + self.delay(node, 40.0);
                        self.reg_event(node, subscribe_at, sub);
                    }
                    return;
                }
                _ => break,
            }
        }
        // Failed: retry later (Retry-After or back-off); the old binding lasts until it expires.
        let wait = (self.rng(node).exponential(60.0) + 20.0) * SECOND as f64;
        self.schedule(t + wait as u64, node, EventKind::Register { sub, initial: true });
    }

    fn register_outcome(&mut self, node: u16, at: u64, fault: ActiveFault, auth: bool) -> Outcome {
        let mut outcome = Outcome::default();
        let rng_roll = self.rng(node).unit();
        if rng_roll < 0.4 * fault.of(FaultKind::CapacityLimit) {
            outcome.local = Some(503);
            return outcome;
        }
        let hss = fault.of(FaultKind::HssLinkDown);
        let blocked = fault.of(FaultKind::TrafficBlocked);
        let scscf = fault.of(FaultKind::ScscfDown);
        let storm = fault.of(FaultKind::RegistrationStorm);
        let roll = self.rng(node).unit();
        let median = self.profile(node).register_response_ms * self.core_slowdown(node, at);
        outcome.last = if roll < blocked {
            None
        } else if roll < blocked + hss {
            // The I-CSCF waits for the HSS (Diameter Tx timer), then gives up.
            Some(Resp { code: 480, after: self.delay(node, 4500.0), flags: 0 })
        } else if roll < blocked + hss + scscf {
            // The I-CSCF cannot reach the S-CSCF.
            Some(Resp { code: 504, after: self.delay(node, 5000.0), flags: 0 })
        } else if roll < blocked + hss + scscf + 0.3 * storm {
            Some(Resp { code: 503, after: self.delay(node, median), flags: 0 })
        } else {
            Some(Resp {
                code: if auth { 200 } else { 401 },
                after: self.delay(node, median),
                flags: 0,
            })
        };
        outcome
    }

    /// After an initial registration: the UE subscribes to its reg event, the S-CSCF notifies.
    fn reg_event(&mut self, node: u16, at: u64, sub: u32) {
        let dialog = self.id();
        let outcome = self.simple_outcome(node, at, 200, self.profile(node).core_response_ms, true);
        let txn = Txn {
            node,
            dir: Dir::Uplink,
            peer: CorePeer::Scscf,
            sub,
            other: 0,
            dialog,
            cseq: 1,
            method: Method::Subscribe,
            flags: 0,
        };
        let (code, answered) = self.relay(at, txn, outcome);
        if code == Some(200) {
            let notify_at = answered + self.delay(node, 20.0);
            let ue_answer = self.delay(node, 2.0 * self.profile(node).access_delay_ms + 5.0);
            let outcome = Outcome::answer(200, ue_answer);
            // The NOTIFY comes from the notifier (the S-CSCF): in the UE's dialog, reversed.
            let txn = Txn {
                node,
                dir: Dir::Uplink,
                peer: CorePeer::Scscf,
                sub,
                other: 0,
                dialog,
                cseq: 2,
                method: Method::Notify,
                flags: flag::TO_TAG | flag::REVERSE,
            };
            self.relay(notify_at, txn, outcome);
        }
    }

    /// The outcome of a plain uplink request answered by the core with `code`.
    fn simple_outcome(
        &mut self,
        node: u16,
        at: u64,
        code: u16,
        median_ms: f64,
        via_scscf: bool,
    ) -> Outcome {
        let fault = self.active(node, at);
        let mut outcome = Outcome::default();
        let roll = self.rng(node).unit();
        if roll < 0.4 * fault.of(FaultKind::CapacityLimit) {
            outcome.local = Some(503);
            return outcome;
        }
        if via_scscf && roll < fault.of(FaultKind::ScscfDown) {
            // The P-CSCF knows its S-CSCF is down (keep-alives fail) and answers at once.
            outcome.local = Some(503);
            return outcome;
        }
        let blocked = self.rng(node).chance(fault.of(FaultKind::TrafficBlocked));
        outcome.last = (!blocked).then(|| Resp {
            code,
            after: self.delay(node, median_ms * self.core_slowdown(node, at)),
            flags: 0,
        });
        outcome
    }

    fn call(&mut self, node: u16, at: u64, flood: bool) {
        let profile = self.profile(node).clone();
        let sub = self.rng(node).below(u64::from(profile.subscribers)) as u32;
        if self.nodes[node as usize].registered_until[sub as usize] <= at && !flood {
            // An unregistered UE cannot call, and the S-CSCF rejects calls to it itself.
            return;
        }
        let fault = self.active(node, at);
        let mo = flood || self.rng(node).chance(profile.originating_share);
        if !mo {
            // Terminating traffic comes from the core: gone if the core cannot reach us.
            let cut = fault.of(FaultKind::TrafficBlocked).max(fault.of(FaultKind::ScscfDown));
            if self.rng(node).chance(cut) {
                return;
            }
        }
        let dir = if mo { Dir::Uplink } else { Dir::Downlink };
        let other = self.rng(node).below(10_000_000) as u32;
        let dialog = self.id();
        let prack = !flood && self.rng(node).chance(profile.prack_share);
        let update = prack && self.rng(node).chance(profile.update_share);
        let mut invite_flags = flag::SDP;
        if flood {
            invite_flags |= flag::FLOOD;
        }
        let core_ms = profile.core_response_ms * self.core_slowdown(node, at);
        // Time for the answerer to respond: the core for MO, the UE for MT.
        let far = |engine: &mut Engine, median: f64| -> u64 {
            if mo {
                engine.delay(node, median)
            } else {
                engine.delay(node, median + 2.0 * profile.access_delay_ms)
            }
        };

        let mut outcome = Outcome::default();
        let roll = self.rng(node).unit();
        if roll < 0.4 * fault.of(FaultKind::CapacityLimit)
            || (mo && roll < fault.of(FaultKind::ScscfDown))
        {
            outcome.local = Some(503);
        } else if !mo && self.rng(node).chance(fault.of(FaultKind::PcrfRxFailure)) {
            // The SDP offer cannot be authorised on Rx: rejected toward the core at once.
            outcome.local = Some(580);
        } else if mo && self.rng(node).chance(fault.of(FaultKind::TrafficBlocked)) {
            outcome.last = None;
        } else if flood {
            let code = match self.rng(node).below(20) {
                0..=11 => 404,
                12..=16 => 480,
                _ => 403,
            };
            outcome.provisional[0] = Some(Resp { code: 100, after: far(self, core_ms), flags: 0 });
            outcome.last = Some(Resp { code, after: far(self, core_ms * 3.0), flags: 0 });
        } else {
            let trying = far(self, core_ms);
            let progress = trying + far(self, 900.0);
            let shares = [
                profile.busy_share,
                profile.unavailable_share,
                profile.not_found_share,
                profile.cancel_share,
            ];
            let pick = self.rng(node).unit();
            let mut acc = 0.0;
            let mut result = 200;
            for (share, code) in shares.into_iter().zip([486u16, 480, 404, 487]) {
                acc += share;
                if pick < acc {
                    result = code;
                    break;
                }
            }
            outcome.provisional[0] = Some(Resp { code: 100, after: trying, flags: 0 });
            let early = if prack { 183 } else { 180 };
            let early_flags = if prack { flag::SDP | flag::RELIABLE } else { 0 };
            if matches!(result, 200 | 487 | 486) {
                outcome.provisional[1] =
                    Some(Resp { code: early, after: progress, flags: early_flags });
            }
            let ringing = (self.rng(node).lognormal(profile.ringing_s, 0.5) * SECOND as f64) as u64;
            let last_after = match result {
                200 => progress + ringing,
                487 => progress + ringing / 2,
                486 => progress + far(self, 1500.0),
                _ => far(self, core_ms * 2.0 + 300.0),
            };
            let last_flags = if result == 200 { flag::SDP } else { 0 };
            outcome.last = Some(Resp { code: result, after: last_after, flags: last_flags });
            if result == 487 {
                // The caller gives up while ringing: CANCEL, then the 487 answers the INVITE.
                self.cancel(node, at, dir, sub, other, dialog, progress + ringing / 2);
            }
            let rx_failure = mo && self.rng(node).chance(fault.of(FaultKind::PcrfRxFailure));
            if rx_failure && result == 200 {
                // The answer's SDP cannot be authorised: the P-CSCF rejects the call itself.
                return self.rx_failure_call(node, at, sub, other, dialog, invite_flags, progress);
            }
        }
        let txn = Txn {
            node,
            dir,
            peer: CorePeer::Scscf,
            sub,
            other,
            dialog,
            cseq: 1,
            method: Method::Invite,
            flags: invite_flags,
        };
        let (code, answered) = self.relay(at, txn, outcome);
        if prack && matches!(code, Some(200 | 486 | 487)) {
            self.prack_update(node, at, dir, sub, other, dialog, update, outcome);
        }
        if code == Some(200) {
            // ACK of the 2xx, end to end.
            let txn = Txn {
                node,
                dir,
                peer: CorePeer::Scscf,
                sub,
                other,
                dialog,
                cseq: 1,
                method: Method::Ack,
                flags: flag::TO_TAG | flag::ACK_2XX,
            };
            let ack_at = answered + self.delay(node, 15.0);
            self.ack_both_legs(ack_at, txn);
            let holding = self.rng(node).exponential(profile.holding_time_s).max(2.0);
            let call = Call { sub, other, dialog, dir: if mo { DirKey::Up } else { DirKey::Down } };
            self.schedule(
                answered + (holding * SECOND as f64) as u64,
                node,
                EventKind::CallEnd(call),
            );
        }
    }

    /// PRACK for the reliable 183 (and an UPDATE for preconditions), from the caller side.
    #[allow(clippy::too_many_arguments)]
    fn prack_update(
        &mut self,
        node: u16,
        at: u64,
        dir: Dir,
        sub: u32,
        other: u32,
        dialog: u64,
        update: bool,
        outcome: Outcome,
    ) {
        let Some(progress) = outcome.provisional[1] else { return };
        let Some(last) = outcome.last else { return };
        let access = self.profile(node).access_delay_ms;
        let mut t = at + progress.after + self.delay(node, 2.0 * access + 10.0);
        let budget = at + last.after;
        let far_ms = if dir == Dir::Uplink {
            self.profile(node).core_response_ms
        } else {
            2.0 * access + 10.0
        };
        let steps = [(Method::Prack, flag::TO_TAG), (Method::Update, flag::TO_TAG | flag::SDP)];
        for (cseq, (method, flags)) in (2..).zip(steps) {
            if method == Method::Update && !update {
                break;
            }
            if t >= budget {
                break;
            }
            let after = self.delay(node, far_ms);
            let outcome = Outcome::answer(200, after);
            let txn =
                Txn { node, dir, peer: CorePeer::Scscf, sub, other, dialog, cseq, method, flags };
            let (_, done) = self.relay(t, txn, outcome);
            t = done + self.delay(node, 20.0);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn cancel(
        &mut self,
        node: u16,
        at: u64,
        dir: Dir,
        sub: u32,
        other: u32,
        dialog: u64,
        after: u64,
    ) {
        let t = at + after.saturating_sub(self.delay(node, 40.0));
        let far = self.delay(node, self.profile(node).core_response_ms);
        let outcome = Outcome::answer(200, far);
        let txn = Txn {
            node,
            dir,
            peer: CorePeer::Scscf,
            sub,
            other,
            dialog,
            cseq: 1,
            method: Method::Cancel,
            flags: 0,
        };
        self.relay(t, txn, outcome);
    }

    /// An originating call whose answer cannot be authorised on Rx: the UE gets 580, the
    /// core a CANCEL.
    #[allow(clippy::too_many_arguments)]
    fn rx_failure_call(
        &mut self,
        node: u16,
        at: u64,
        sub: u32,
        other: u32,
        dialog: u64,
        flags: u16,
        progress: u64,
    ) {
        let processing = self.processing(node, at);
        let t_fwd = at + processing;
        let invite = Txn {
            node,
            dir: Dir::Uplink,
            peer: CorePeer::Scscf,
            sub,
            other,
            dialog,
            cseq: 1,
            method: Method::Invite,
            flags,
        };
        let base = invite.message(Leg::Access, at, 0, flags);
        let rx_flags = flags & !flag::SDP;
        self.emit(base);
        self.emit(SimMessage { ts: t_fwd, status: 100, flags: rx_flags, ..base });
        self.emit(SimMessage { ts: t_fwd, leg: Leg::Core, ..base });
        let t_progress = t_fwd + progress;
        self.emit(SimMessage {
            ts: t_fwd + progress / 10,
            leg: Leg::Core,
            status: 100,
            flags: rx_flags,
            ..base
        });
        self.emit(SimMessage {
            ts: t_progress,
            leg: Leg::Core,
            status: 183,
            flags: flag::SDP | flag::RELIABLE,
            ..base
        });
        // Rx AAR fails (Diameter answer after a few hundred ms).
        let t_fail = t_progress + self.delay(node, 300.0);
        self.emit(SimMessage { ts: t_fail, status: 580, flags: rx_flags, ..base });
        self.record(TxnRecord {
            node,
            leg: Leg::Access,
            inbound: true,
            method: Method::Invite,
            start: at,
            end: t_fail,
            result: Some(580),
            sub,
            dialog,
            dir: Dir::Uplink,
        });
        let ack = t_fail + self.delay(node, 2.0 * self.profile(node).access_delay_ms);
        self.emit(SimMessage { ts: ack, method: Method::Ack, flags: rx_flags, ..base });
        let far = self.delay(node, self.profile(node).core_response_ms);
        let cancel_at = t_fail;
        let core =
            SimMessage { ts: cancel_at, leg: Leg::Core, method: Method::Cancel, flags: 0, ..base };
        self.emit(core);
        self.emit(SimMessage { ts: cancel_at + far, status: 200, ..core });
        self.record(TxnRecord {
            node,
            leg: Leg::Core,
            inbound: false,
            method: Method::Cancel,
            start: cancel_at,
            end: cancel_at + far,
            result: Some(200),
            sub,
            dialog,
            dir: Dir::Uplink,
        });
        let t487 = cancel_at + far + self.delay(node, 5.0);
        self.emit(SimMessage { ts: t487, leg: Leg::Core, status: 487, flags: rx_flags, ..base });
        self.record(TxnRecord {
            node,
            leg: Leg::Core,
            inbound: false,
            method: Method::Invite,
            start: t_fwd,
            end: t487,
            result: Some(487),
            sub,
            dialog,
            dir: Dir::Uplink,
        });
        let ack_at = t487 + self.processing(node, t487);
        self.emit(SimMessage {
            ts: ack_at,
            leg: Leg::Core,
            method: Method::Ack,
            flags: rx_flags,
            ..base
        });
    }

    /// The ACK of a 2xx crosses both legs (no response).
    fn ack_both_legs(&mut self, at: u64, txn: Txn) {
        let (first, second) = match txn.dir {
            Dir::Downlink => (Leg::Core, Leg::Access),
            _ => (Leg::Access, Leg::Core),
        };
        let message = SimMessage { method: Method::Ack, ..txn.message(first, at, 0, txn.flags) };
        self.emit(message);
        let forward = at + self.processing(txn.node, at);
        self.emit(SimMessage { ts: forward, leg: second, ..message });
    }

    fn hang_up(&mut self, node: u16, at: u64, call: Call) {
        let callee_hangs_up = self.rng(node).chance(0.45);
        let dir = call.dir.dir();
        let mut flags = flag::TO_TAG;
        if callee_hangs_up {
            flags |= flag::REVERSE;
        }
        // Who answers the BYE: the far side of the one who sends it.
        let toward_core = (dir == Dir::Uplink) != callee_hangs_up;
        let access = self.profile(node).access_delay_ms;
        let far_ms =
            if toward_core { self.profile(node).core_response_ms } else { 2.0 * access + 5.0 };
        let fault = self.active(node, at);
        let blocked = self.rng(node).chance(fault.of(FaultKind::TrafficBlocked));
        let outcome = if blocked {
            Outcome::default()
        } else {
            Outcome {
                last: Some(Resp { code: 200, after: self.delay(node, far_ms), flags: 0 }),
                ..Outcome::default()
            }
        };
        let cseq = if callee_hangs_up { 1 } else { 10 };
        let txn = Txn {
            node,
            dir,
            peer: CorePeer::Scscf,
            sub: call.sub,
            other: call.other,
            dialog: call.dialog,
            cseq,
            method: Method::Bye,
            flags,
        };
        self.relay(at, txn, outcome);
    }

    fn message(&mut self, node: u16, at: u64) {
        let profile = self.profile(node).clone();
        let sub = self.rng(node).below(u64::from(profile.subscribers)) as u32;
        if self.nodes[node as usize].registered_until[sub as usize] <= at {
            return;
        }
        let dialog = self.id();
        let other = self.rng(node).below(10_000_000) as u32;
        let fault = self.active(node, at);
        let (dir, outcome) = if self.rng(node).chance(profile.originating_share) {
            (Dir::Uplink, self.simple_outcome(node, at, 202, profile.core_response_ms * 2.0, true))
        } else {
            let cut = fault.of(FaultKind::TrafficBlocked).max(fault.of(FaultKind::ScscfDown));
            if self.rng(node).chance(cut) {
                return;
            }
            let answer = self.delay(node, 2.0 * profile.access_delay_ms + 8.0);
            (Dir::Downlink, Outcome::answer(200, answer))
        };
        let txn = Txn {
            node,
            dir,
            peer: CorePeer::Scscf,
            sub,
            other,
            dialog,
            cseq: 1,
            method: Method::Message,
            flags: 0,
        };
        self.relay(at, txn, outcome);
    }

    fn options(&mut self, node: u16, at: u64) {
        let fault = self.active(node, at);
        let silent = self
            .rng(node)
            .chance(fault.of(FaultKind::TrafficBlocked).max(fault.of(FaultKind::ScscfDown)));
        let outcome = if silent {
            Outcome::default()
        } else {
            let after = self.delay(
                node,
                self.profile(node).core_response_ms * self.core_slowdown(node, at) * 0.5,
            );
            Outcome::answer(200, after)
        };
        let dialog = self.id();
        let txn = Txn {
            node,
            dir: Dir::FromPcscf,
            peer: CorePeer::Scscf,
            sub: 0,
            other: 0,
            dialog,
            cseq: 1,
            method: Method::Options,
            flags: 0,
        };
        self.relay(at, txn, outcome);
    }
}

/// The ACK of a non-2xx final response: the INVITE's branch and CSeq, no body.
fn ack(invite: SimMessage) -> SimMessage {
    SimMessage { method: Method::Ack, flags: invite.flags & !flag::SDP, ..invite }
}

impl Txn {
    /// The probe record of this transaction on `leg`.
    fn record(
        &self,
        leg: Leg,
        inbound: bool,
        start: u64,
        end: u64,
        result: Option<u16>,
    ) -> TxnRecord {
        TxnRecord {
            node: self.node,
            leg,
            inbound,
            method: self.method,
            start,
            end,
            result,
            sub: self.sub,
            dialog: self.dialog,
            dir: self.dir,
        }
    }

    /// A message of this transaction on `leg`: the request (`status` 0) or a response.
    fn message(&self, leg: Leg, ts: u64, status: u16, flags: u16) -> SimMessage {
        SimMessage {
            ts,
            node: self.node,
            leg,
            dir: self.dir,
            peer: self.peer,
            sub: self.sub,
            other: self.other,
            dialog: self.dialog,
            txn: self
                .dialog
                .wrapping_mul(31)
                .wrapping_add(u64::from(self.cseq))
                .wrapping_add(Self::code_of(self.method)),
            cseq: self.cseq,
            method: self.method,
            status,
            flags,
        }
    }

    /// Distinguishes transactions of one dialog by method, for branch ids; CANCEL and the
    /// ACK of a non-2xx share the INVITE's branch (RFC 3261 §9.1, §17.1.1.3).
    fn code_of(method: Method<'_>) -> u64 {
        match method {
            Method::Invite | Method::Cancel | Method::Ack => 1,
            Method::Prack => 2,
            Method::Update => 3,
            Method::Bye => 4,
            _ => 5,
        }
    }
}
