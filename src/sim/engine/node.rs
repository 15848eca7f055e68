//! Per-node state and timing: who is registered and with which timer, the node's own random
//! stream, the faults in force, its load (a queueing model), the state of its keep-alives,
//! and the calendar of its traffic (days, weekends, minute-to-minute swings).

use std::collections::HashMap;

use crate::sim::event::{BenignKind, day_of, is_weekend};
use crate::sim::fault::{ActiveFaults, FaultKind};
use crate::sim::profile::NetworkProfile;
use crate::sim::rng::Rng;
use crate::sim::scenario::ResolvedNode;

use super::events::{EventKind, Process};
use super::{Engine, MINUTE, SECOND};

/// Seconds over which the offered load is averaged.
const LOAD_WINDOW_S: f64 = 5.0;

pub(super) struct NodeSim {
    /// The scenario's node, its profile jittered for this run.
    pub spec: ResolvedNode,
    /// Per subscriber: registered until (µs); 0 = not registered.
    pub registered_until: Vec<u64>,
    /// Per subscriber: the generation of its one registration timer. A new registration
    /// attempt starts a new generation; an event of an older one is stale and ignored, so a
    /// UE never runs two refresh timers.
    pub generation: Vec<u32>,
    /// Per subscriber: failed registration attempts in a row (RFC 5626 back-off).
    pub failures: Vec<u8>,
    /// Per subscriber: when its IPsec security associations were last set up (its last
    /// initial registration; 0 for the population registered at the start).
    pub associated_at: Vec<u64>,
    /// Subscribers that are switched off; power-on picks one of them.
    pub offline: Pool,
    /// One stream per node, so that a node's traffic does not depend on its neighbours'.
    pub rng: Rng,
    /// Offered load, transactions per second (exponentially weighted), and when last updated.
    pub load: (f64, u64),
    /// Transactions per second the node and its core handle before they queue.
    pub capacity: f64,
    /// Failed keep-alives in a row, and since when the S-CSCF is blacklisted (`u64::MAX`: not).
    pub keepalive_failures: u32,
    pub blacklisted_from: u64,
    /// Traffic multiplier of each scenario minute: day, weekday or weekend, minute swings.
    pub minute_factor: Vec<f64>,
    /// Brief failures of core elements, in time order.
    pub hiccups: Vec<Hiccup>,
    /// The UEs an INVITE flood comes from, and their rate limiter buckets.
    pub flood_sources: Vec<u32>,
    pub buckets: HashMap<u32, (f64, u64)>,
}

/// A core element failing for a few seconds on a normal day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hiccup {
    pub from: u64,
    pub to: u64,
    pub kind: HiccupKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HiccupKind {
    /// The S-CSCF answers nothing (a pause, a lost route).
    ScscfSilent,
    /// The I-CSCF answers nothing: REGISTERs time out.
    IcscfSilent,
    /// The I-CSCF cannot reach the S-CSCF: REGISTERs get 504.
    IcscfTimeout,
    /// A core element restarts: requests get 500.
    Restarting,
}

/// Hiccups over `[start, end)`: Poisson in time, lasting 20 s (median, log-normal, 3–180 s).
fn hiccups(per_day: f64, start: u64, end: u64, rng: &mut Rng) -> Vec<Hiccup> {
    let mut list = Vec::new();
    if per_day <= 0.0 {
        return list;
    }
    let mut at = start;
    loop {
        let gap = rng.exponential(86_400.0 / per_day) * SECOND as f64;
        if at >= end || gap >= (end - at) as f64 {
            return list;
        }
        at += gap as u64;
        let seconds = rng.lognormal(20.0, 0.8).clamp(3.0, 180.0);
        let kind = match rng.below(4) {
            0 => HiccupKind::ScscfSilent,
            1 => HiccupKind::IcscfSilent,
            2 => HiccupKind::IcscfTimeout,
            _ => HiccupKind::Restarting,
        };
        let to = at + (seconds * SECOND as f64) as u64;
        list.push(Hiccup { from: at, to, kind });
        // The next one starts after this one has ended: the list stays sorted by both ends.
        at = to;
    }
}

/// A set of subscriber indices with O(1) insert, remove and random pick.
#[derive(Debug, Default)]
pub(super) struct Pool {
    members: Vec<u32>,
    /// Position of each subscriber in `members`, `u32::MAX` when absent.
    position: Vec<u32>,
}

impl Pool {
    fn with_capacity(subscribers: usize) -> Self {
        Self { members: Vec::new(), position: vec![u32::MAX; subscribers] }
    }

    pub fn contains(&self, sub: u32) -> bool {
        self.position[sub as usize] != u32::MAX
    }

    pub fn insert(&mut self, sub: u32) {
        if !self.contains(sub) {
            self.position[sub as usize] = self.members.len() as u32;
            self.members.push(sub);
        }
    }

    pub fn remove(&mut self, sub: u32) {
        let at = self.position[sub as usize];
        if at == u32::MAX {
            return;
        }
        let last = self.members.pop().unwrap_or(sub);
        if last != sub {
            self.members[at as usize] = last;
            self.position[last as usize] = at;
        }
        self.position[sub as usize] = u32::MAX;
    }

    /// A random member, removed.
    pub fn take(&mut self, rng: &mut Rng) -> Option<u32> {
        if self.members.is_empty() {
            return None;
        }
        let sub = self.members[rng.below(self.members.len() as u64) as usize];
        self.remove(sub);
        Some(sub)
    }
}

/// When a UE refreshes a registration granted for `expires`: 600 s before it runs out, or
/// half-way when it lasts 1200 s or less (3GPP TS 24.229 §5.1.1.4.1).
pub(super) fn refresh_after(expires: u64) -> u64 {
    if expires > 1200 * SECOND { expires - 600 * SECOND } else { expires / 2 }
}

impl Engine {
    /// Adds a node in steady state: most subscribers registered with their refreshes spread
    /// over the refresh period, some switched off, every arrival process and the keep-alives
    /// started, and the node's benign events scheduled.
    pub(super) fn add_node(&mut self, mut spec: ResolvedNode, root: &Rng) {
        let index = self.nodes.len() as u16;
        let mut rng = root.fork(u64::from(index) + 1);
        spec.profile = spec.profile.jittered(&mut rng.fork(0x717));
        let profile = &spec.profile;
        let base = profile.subscribers as usize;
        // Each growth event adds its own subscribers, switched off until it brings them in.
        let added: Vec<usize> = spec
            .events
            .iter()
            .map(|e| match e.kind {
                BenignKind::SubscriberGrowth => (base as f64 * e.magnitude()).round() as usize,
                _ => 0,
            })
            .collect();
        let total = base + added.iter().sum::<usize>();
        let expires = u64::from(profile.registration_expires_s) * SECOND;
        let refresh = refresh_after(expires);
        let mut registered_until = vec![0; total];
        let mut offline = Pool::with_capacity(total);
        for sub in 0..base as u32 {
            if rng.chance(profile.background.offline_share) {
                offline.insert(sub);
                continue;
            }
            let refresh_at = self.start + rng.below(refresh);
            registered_until[sub as usize] = refresh_at + (expires - refresh);
            self.schedule(refresh_at, index, EventKind::Register { sub, initial: false, timer: 0 });
        }
        for process in Process::ALL {
            self.schedule(self.start, index, EventKind::Arrival { process, act: false });
        }
        let first_options = self.start + rng.below(u64::from(profile.options_interval_s) * SECOND);
        self.schedule(first_options, index, EventKind::Options);
        let minutes = ((self.end - self.start) / MINUTE) as usize;
        let minute_factor = calendar(&spec, self.start, minutes, &mut rng.fork(0xca1));
        let capacity = busy_hour_load(profile) * profile.vendor.capacity_headroom;
        let per_day = profile.background.hiccups_per_day;
        let hiccups = hiccups(per_day, self.start, self.end, &mut rng.fork(0x41c));
        let sources = (profile.subscribers / 2000).max(2);
        let flood_sources = (0..sources).map(|_| rng.below(base as u64) as u32).collect();
        for (i, event) in spec.events.iter().enumerate() {
            let at = self.start + u64::from(event.onset_minute) * MINUTE;
            self.schedule(at, index, EventKind::Benign(i as u16));
        }
        // The subscribers a growth event adds come online one by one during it.
        let mut next = base as u32;
        for (event, &count) in spec.events.iter().zip(&added) {
            let from = self.start + u64::from(event.onset_minute) * MINUTE;
            let span = u64::from(event.duration_minutes) * MINUTE;
            for sub in next..next + count as u32 {
                let at = from + rng.below(span);
                self.schedule(at, index, EventKind::Register { sub, initial: true, timer: 0 });
            }
            next += count as u32;
        }
        self.nodes.push(NodeSim {
            spec,
            registered_until,
            generation: vec![0; total],
            failures: vec![0; total],
            associated_at: vec![0; total],
            offline,
            rng,
            load: (0.0, self.start),
            capacity,
            keepalive_failures: 0,
            blacklisted_from: u64::MAX,
            minute_factor,
            hiccups,
            flood_sources,
            buckets: HashMap::new(),
        });
    }

    pub(super) fn minute_of(&self, at: u64) -> u32 {
        ((at.saturating_sub(self.start)) / MINUTE) as u32
    }

    pub(super) fn active(&self, node: u16, at: u64) -> ActiveFaults {
        self.nodes[node as usize].spec.active(self.minute_of(at))
    }

    pub(super) fn profile(&self, node: u16) -> &NetworkProfile {
        &self.nodes[node as usize].spec.profile
    }

    pub(super) fn rng(&mut self, node: u16) -> &mut Rng {
        &mut self.nodes[node as usize].rng
    }

    /// Subscribers of the node, including those a growth event adds.
    pub(super) fn population(&self, node: u16) -> u64 {
        self.nodes[node as usize].registered_until.len() as u64
    }

    pub(super) fn registered(&self, node: u16, sub: u32, at: u64) -> bool {
        self.nodes[node as usize].registered_until[sub as usize] > at
    }

    pub(super) fn set_registered_until(&mut self, node: u16, sub: u32, until: u64) {
        self.nodes[node as usize].registered_until[sub as usize] = until;
    }

    /// Starts a new registration timer generation for `sub` (older timers become stale).
    pub(super) fn new_generation(&mut self, node: u16, sub: u32) -> u32 {
        let generation = &mut self.nodes[node as usize].generation[sub as usize];
        *generation = generation.wrapping_add(1);
        *generation
    }

    pub(super) fn generation(&self, node: u16, sub: u32) -> u32 {
        self.nodes[node as usize].generation[sub as usize]
    }

    /// A subscriber picked by activity: with a skew above 1, low indices are the busy users.
    pub(super) fn active_subscriber(&mut self, node: u16) -> u32 {
        let skew = self.profile(node).variety.activity_skew;
        let n = self.population(node) as u32;
        let u = self.rng(node).unit().powf(skew);
        ((u * f64::from(n)) as u32).min(n - 1)
    }

    /// A network delay around `median_ms`, with the profile's spread and a rare heavy tail.
    pub(super) fn delay(&mut self, node: u16, median_ms: f64) -> u64 {
        let sigma = self.profile(node).delay_sigma;
        let slow = self.profile(node).background.slow_share;
        let rng = self.rng(node);
        let mut ms = rng.lognormal(median_ms, sigma);
        if rng.chance(slow) {
            // Pareto, alpha 1.5, from 2×: half of the slow answers take over 3×.
            ms *= 2.0 * (1.0 - rng.unit()).powf(-1.0 / 1.5);
        }
        (ms.min(60_000.0) * 1000.0) as u64
    }

    /// A transaction enters the node at `at` and costs it `weight` (1 = served): the load
    /// goes up.
    pub(super) fn offer(&mut self, node: u16, at: u64, weight: f64) {
        // The average is kept as of `last`; procedures play whole transactions ahead, so a
        // transaction may enter before it: it then counts as already decayed.
        let (rate, last) = &mut self.nodes[node as usize].load;
        let seconds = |micros: u64| micros as f64 / SECOND as f64;
        if at >= *last {
            *rate = *rate * (-seconds(at - *last) / LOAD_WINDOW_S).exp() + weight / LOAD_WINDOW_S;
            *last = at;
        } else {
            *rate += weight / LOAD_WINDOW_S * (-seconds(*last - at) / LOAD_WINDOW_S).exp();
        }
    }

    /// Utilisation of the node: offered load over what it can serve now.
    pub(super) fn utilisation(&self, node: u16, at: u64) -> f64 {
        let state = &self.nodes[node as usize];
        let (rate, last) = state.load;
        let dt = at.saturating_sub(last) as f64 / SECOND as f64;
        let severity = self.active(node, at).node_wide(FaultKind::CapacityLimit);
        let rho = rate * (-dt / LOAD_WINDOW_S).exp() / (state.capacity * (1.0 - 0.95 * severity));
        if severity > 0.0 { rho.max(capacity_fault_floor(severity)) } else { rho }
    }

    /// Queueing delay in units of service time, ρ / (1 − ρ) (M/M/1), bounded.
    fn congestion(&self, node: u16, at: u64) -> f64 {
        let rho = self.utilisation(node, at).min(0.995);
        rho / (1.0 - rho)
    }

    /// Share of new requests the node's overload control sheds with 503 (RFC 7339 style:
    /// only beyond capacity).
    pub(super) fn shed_share(&self, node: u16, at: u64) -> f64 {
        overload_shed(self.utilisation(node, at))
    }

    /// P-CSCF processing time: grows with its load, and creeps up with a memory leak.
    pub(super) fn processing(&mut self, node: u16, at: u64) -> u64 {
        let leak = self.active(node, at).node_wide(FaultKind::MemoryLeak);
        // 0.6 ms of work, and 2 ms per request queued ahead; a request that waits longer than
        // 10 s is as good as lost, so the wait stops there.
        let median = (0.6 + 2.0 * self.congestion(node, at)) * (1.0 + 400.0 * leak * leak);
        (self.rng(node).lognormal(median, 0.6).min(10_000.0) * 1000.0) as u64
    }

    /// Core response time multiplier: the core shares the node's load.
    pub(super) fn core_slowdown(&self, node: u16, at: u64) -> f64 {
        1.0 + 0.1 * self.congestion(node, at)
    }

    /// The traffic multiplier of `at`'s minute.
    pub(super) fn minute_factor(&self, node: u16, at: u64) -> f64 {
        let factors = &self.nodes[node as usize].minute_factor;
        factors.get(self.minute_of(at) as usize).copied().unwrap_or(1.0)
    }

    /// The hiccup in progress at `at`, if any.
    pub(super) fn hiccup(&self, node: u16, at: u64) -> Option<HiccupKind> {
        let list = &self.nodes[node as usize].hiccups;
        let i = list.partition_point(|h| h.to <= at);
        list.get(i).filter(|h| h.from <= at).map(|h| h.kind)
    }

    /// Whether the P-CSCF has blacklisted its S-CSCF at `at`.
    pub(super) fn blacklisted(&self, node: u16, at: u64) -> bool {
        at >= self.nodes[node as usize].blacklisted_from
    }
}

/// Share of new requests shed at `utilisation`: none up to 0.95, at most 0.8.
fn overload_shed(utilisation: f64) -> f64 {
    ((utilisation - 0.95) / 0.25).clamp(0.0, 0.8)
}

/// The least utilisation of a node under a capacity fault of `severity` (node-wide).
///
/// A capacity fault is what an operator calls one: the node can no longer carry what it is
/// offered. Capacity lost at an hour when the node needed a fifth of it would leave the
/// traffic untouched while the label says `capacity_limit`, a fault nobody could see (nor
/// should be alarmed about). So whatever the hour, the fault leaves the node at least this
/// busy: queueing from the first minute (0.8), shedding from severity 0.375, the most the
/// overload control sheds at full severity.
fn capacity_fault_floor(severity: f64) -> f64 {
    0.8 + 0.4 * severity
}

/// Expected transactions per second at the busy hour, for dimensioning.
fn busy_hour_load(p: &NetworkProfile) -> f64 {
    let refresh_s = refresh_after(u64::from(p.registration_expires_s) * SECOND) as f64 / 1e6;
    let per_call = 2.0 + p.prack_share * (1.0 + p.update_share) + p.cancel_share;
    let per_sub_hour = p.calls_per_sub_hour * per_call
        + p.messages_per_sub_hour * 4.0
        + 2.0 * 3600.0 / refresh_s
        + p.attach_rate * 8.0;
    (f64::from(p.subscribers) * per_sub_hour / 3600.0 + 1.0 / f64::from(p.options_interval_s))
        .max(0.5)
}

/// Per scenario minute: a day multiplier (log-normal per day), the weekend or holiday factor,
/// and a slowly varying minute multiplier (AR(1) in the log), so that counts are over-dispersed.
fn calendar(spec: &ResolvedNode, start: u64, minutes: usize, rng: &mut Rng) -> Vec<f64> {
    let variety = &spec.profile.variety;
    let mut days = HashMap::new();
    let mut swing = 0.0;
    let keep = 0.9_f64;
    (0..minutes)
        .map(|m| {
            let day = day_of(start + m as u64 * MINUTE);
            let day_factor =
                *days.entry(day).or_insert_with(|| (variety.day_sigma * rng.normal()).exp());
            swing = keep * swing + (1.0 - keep * keep).sqrt() * rng.normal();
            let off = is_weekend(day) || spec.holidays.contains(&day);
            let calendar = if off { variety.weekend_factor } else { 1.0 };
            day_factor * calendar * (variety.minute_sigma * swing).exp()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_follow_ts_24_229() {
        assert_eq!(refresh_after(3600 * SECOND), 3000 * SECOND);
        assert_eq!(refresh_after(1200 * SECOND), 600 * SECOND);
        assert_eq!(refresh_after(600 * SECOND), 300 * SECOND);
    }

    #[test]
    fn hiccups_stay_in_order_and_end_even_when_one_outlasts_the_run() {
        for per_day in [8.0, 1440.0] {
            let list = hiccups(per_day, 0, 600 * SECOND, &mut Rng::new(3));
            assert!(list.windows(2).all(|w| w[0].to <= w[1].from), "{per_day}");
            assert!(list.iter().all(|h| h.from < 600 * SECOND));
        }
    }

    #[test]
    fn a_capacity_fault_is_felt_at_any_hour_and_sheds_more_with_severity() {
        // Queueing (utilisation 0.8 or more) from the first minute of the ramp.
        assert!(capacity_fault_floor(0.01) >= 0.8);
        let shed = |severity: f64| overload_shed(capacity_fault_floor(severity));
        assert_eq!(shed(0.3), 0.0);
        assert!(shed(0.5) > 0.0 && shed(0.5) < shed(0.9));
        assert_eq!(shed(1.0), 0.8);
    }

    #[test]
    fn the_pool_takes_each_member_once() {
        let mut pool = Pool::with_capacity(10);
        for sub in [3, 7, 1, 9] {
            pool.insert(sub);
        }
        pool.remove(7);
        let mut rng = Rng::new(1);
        let mut taken: Vec<u32> = std::iter::from_fn(|| pool.take(&mut rng)).collect();
        taken.sort_unstable();
        assert_eq!(taken, vec![1, 3, 9]);
        assert!(!pool.contains(3));
    }
}
