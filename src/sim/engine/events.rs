//! The agenda: what happens next on which node. Traffic arrives as Poisson processes whose
//! rates follow the diurnal curve, the calendar, benign events and the faults; registrations,
//! keep-alives, session refreshes and call ends are scheduled by the procedures themselves.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::node::refresh_after;
use super::transaction::Dialog;
use super::{Engine, MINUTE, SECOND};
use crate::sim::event::BenignKind;
use crate::sim::fault::FaultKind;

/// Poisson arrival processes of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Process {
    /// UEs powering on (initial registrations).
    Attach,
    /// UEs powering off (de-registration with Expires: 0).
    Detach,
    /// The network de-registers a UE (it registers again).
    NetworkDeregistration,
    /// Call attempts.
    Call,
    /// SMS over IP.
    Message,
    /// Extra registrations of a registration storm.
    Storm,
    /// Extra INVITEs of an INVITE flood.
    Flood,
}

impl Process {
    /// Every process, in the order their first draws are scheduled.
    pub(super) const ALL: [Process; 7] = [
        Process::Attach,
        Process::Detach,
        Process::NetworkDeregistration,
        Process::Call,
        Process::Message,
        Process::Storm,
        Process::Flood,
    ];
}

#[derive(Debug, Clone, Copy)]
pub(super) enum EventKind {
    /// A registration attempt of `sub`; stale unless `timer` is the subscriber's current
    /// timer generation.
    Register {
        sub: u32,
        initial: bool,
        timer: u32,
    },
    /// An arrival of `process` (`act`), or only a fresh draw of its next arrival after a
    /// minute without one, so that rate changes apply (exact, the process being memoryless).
    Arrival {
        process: Process,
        act: bool,
    },
    Options,
    /// The established call `Dialog` is hung up.
    CallEnd(Dialog),
    /// The caller refreshes the session (RFC 4028) with CSeq `cseq`, if the call is still up
    /// (it ends at `end`).
    SessionRefresh {
        call: Dialog,
        cseq: u32,
        end: u64,
    },
    /// The node's benign event number `.0` starts.
    Benign(u16),
    /// A maintenance drain moves `sub` away until `back`.
    Drain {
        sub: u32,
        back: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Event {
    pub at: u64,
    /// Scheduling order: events due at the same time run in the order they were scheduled.
    seq: u64,
    pub node: u16,
    pub kind: EventKind,
}

impl Event {
    fn key(&self) -> (u64, u64) {
        (self.at, self.seq)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Events in time order.
#[derive(Debug, Default)]
pub(super) struct Agenda {
    heap: BinaryHeap<Reverse<Event>>,
    seq: u64,
}

impl Agenda {
    pub(super) fn schedule(&mut self, at: u64, node: u16, kind: EventKind) {
        self.seq += 1;
        self.heap.push(Reverse(Event { at, seq: self.seq, node, kind }));
    }

    /// The earliest event, removed.
    pub(super) fn next(&mut self) -> Option<Event> {
        self.heap.pop().map(|Reverse(event)| event)
    }

    #[cfg(test)]
    pub(super) fn clear(&mut self) {
        self.heap.clear();
    }
}

/// How many times the normal rate a fault of `severity` adds, when severity is the share of
/// the requests that are the fault's: s / (1 − s), at most `most`.
fn intensity(severity: f64, most: f64) -> f64 {
    if severity >= 1.0 { most } else { (severity / (1.0 - severity)).min(most) }
}

impl Engine {
    pub(super) fn schedule(&mut self, at: u64, node: u16, kind: EventKind) {
        self.agenda.schedule(at, node, kind);
    }

    pub(super) fn handle(&mut self, event: Event) {
        let (node, at) = (event.node, event.at);
        match event.kind {
            EventKind::Register { sub, initial, timer } => {
                if timer == self.generation(node, sub) {
                    self.register(node, at, sub, initial);
                }
            }
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
            EventKind::CallEnd(call) => self.hang_up(at, call),
            EventKind::SessionRefresh { call, cseq, end } => {
                self.refresh_session(at, call, cseq, end);
            }
            EventKind::Benign(index) => self.benign(node, at, index as usize),
            EventKind::Drain { sub, back } => {
                if self.registered(node, sub, at) {
                    self.network_deregister(node, at, sub, back);
                }
            }
        }
    }

    fn arrive(&mut self, node: u16, at: u64, process: Process) {
        let population = self.population(node);
        match process {
            Process::Attach => {
                let state = &mut self.nodes[node as usize];
                if let Some(sub) = state.offline.take(&mut state.rng) {
                    let timer = self.new_generation(node, sub);
                    self.schedule(at, node, EventKind::Register { sub, initial: true, timer });
                }
            }
            Process::Detach => {
                // A registered UE powers off (as many as power on, so the switched-off share
                // holds); a few draws find one.
                for _ in 0..8 {
                    let sub = self.rng(node).below(population) as u32;
                    if self.registered(node, sub, at) {
                        self.power_off(node, at, sub);
                        break;
                    }
                }
            }
            Process::NetworkDeregistration => {
                let sub = self.rng(node).below(population) as u32;
                if self.registered(node, sub, at) {
                    let back = at + self.delay(node, 3000.0);
                    self.network_deregister(node, at, sub, back);
                }
            }
            Process::Storm => {
                // Registered UEs re-register, whatever their timer said.
                let sub = self.rng(node).below(population) as u32;
                if self.registered(node, sub, at) {
                    self.new_generation(node, sub);
                    self.register(node, at, sub, true);
                }
            }
            Process::Call => self.call(node, at, false),
            Process::Flood => self.call(node, at, true),
            Process::Message => self.message(node, at),
        }
    }

    /// A benign event starts.
    fn benign(&mut self, node: u16, at: u64, index: usize) {
        let event = self.nodes[node as usize].spec.events[index].clone();
        let span = u64::from(event.duration_minutes) * MINUTE;
        let population = self.population(node) as u32;
        match event.kind {
            BenignKind::PlannedRestart => {
                // The restarted P-CSCF has no bindings: every registered UE registers afresh.
                for sub in 0..population {
                    if self.registered(node, sub, at) {
                        let timer = self.new_generation(node, sub);
                        let when = at + self.rng(node).below(span);
                        self.schedule(
                            when,
                            node,
                            EventKind::Register { sub, initial: true, timer },
                        );
                    }
                }
            }
            BenignKind::MaintenanceDrain => {
                let share = event.magnitude();
                for sub in 0..population {
                    if self.registered(node, sub, at) && self.rng(node).chance(share) {
                        let when = at + self.rng(node).below(span / 2);
                        let back = at + span + self.rng(node).below(15 * MINUTE);
                        self.schedule(when, node, EventKind::Drain { sub, back });
                    }
                }
            }
            BenignKind::FlashCrowd | BenignKind::ProbeGap | BenignKind::SubscriberGrowth => {}
        }
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
        // Everyone, those a growth event adds included: only registered UEs act, so traffic
        // follows the registered population.
        let subscribers = self.population(node) as f64;
        let fault = self.active(node, at);
        let load = self.diurnal(node, at) * self.minute_factor(node, at);
        let crowd = self.crowd(node, at);
        match process {
            Process::Attach | Process::Detach => subscribers * profile.attach_rate * load,
            Process::NetworkDeregistration => {
                subscribers * profile.background.network_deregistration_rate
            }
            Process::Call => subscribers * profile.calls_per_sub_hour * load * crowd,
            Process::Message => subscribers * profile.messages_per_sub_hour * load * crowd,
            // The extra requests are `severity` of all of their kind: severity / (1 − severity)
            // times the normal rate, at most ten times the refresh rate (a 3600 s lifetime:
            // every UE within five minutes) and fifteen times the call rate.
            Process::Storm => {
                let refresh_s = refresh_after(u64::from(profile.registration_expires_s) * SECOND)
                    as f64
                    / SECOND as f64;
                let extra = intensity(fault.node_wide(FaultKind::RegistrationStorm), 10.0);
                subscribers * 3600.0 / refresh_s * extra
            }
            Process::Flood => {
                let extra = intensity(fault.node_wide(FaultKind::InviteFlood), 15.0);
                subscribers * profile.calls_per_sub_hour * load * extra
            }
        }
    }

    /// The call multiplier of a flash crowd in progress (ramping up and down over 3 minutes).
    fn crowd(&self, node: u16, at: u64) -> f64 {
        let minute = self.minute_of(at);
        let events = &self.nodes[node as usize].spec.events;
        let Some(event) = events
            .iter()
            .find(|e| e.kind == BenignKind::FlashCrowd && e.minutes().contains(&minute))
        else {
            return 1.0;
        };
        let into = f64::from(minute - event.onset_minute + 1);
        let left = f64::from(event.onset_minute + event.duration_minutes - minute);
        let ramp = (into.min(left) / 3.0).min(1.0);
        1.0 + (event.magnitude() - 1.0) * ramp
    }

    /// Busy-hour-relative load at `at` (diurnal curve, interpolated between hours).
    fn diurnal(&self, node: u16, at: u64) -> f64 {
        let curve = &self.profile(node).diurnal;
        let hours = (at / SECOND % 86_400) as f64 / 3600.0;
        let h = hours.floor() as usize % 24;
        let frac = hours - hours.floor();
        curve[h] * (1.0 - frac) + curve[(h + 1) % 24] * frac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::testkit;

    #[test]
    fn events_come_in_time_order_then_in_scheduling_order() {
        let mut agenda = Agenda::default();
        agenda.schedule(30, 0, EventKind::Options);
        agenda.schedule(10, 1, EventKind::Options);
        agenda.schedule(10, 0, EventKind::Register { sub: 4, initial: true, timer: 0 });
        agenda.schedule(20, 2, EventKind::Options);
        let order: Vec<(u64, u16)> =
            std::iter::from_fn(|| agenda.next()).map(|e| (e.at, e.node)).collect();
        assert_eq!(order, vec![(10, 1), (10, 0), (20, 2), (30, 0)]);
    }

    #[test]
    fn a_silent_process_only_redraws_after_a_minute() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.next_arrival(0, 5 * SECOND, 0.0, Process::Flood);
        let event = engine.agenda.next().expect("a redraw");
        assert_eq!(event.at, 5 * SECOND + MINUTE);
        assert!(matches!(event.kind, EventKind::Arrival { process: Process::Flood, act: false }));
    }

    #[test]
    fn a_stale_registration_timer_does_nothing() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        let at = testkit::START + 10 * SECOND;
        let timer = engine.new_generation(0, 7);
        engine.new_generation(0, 7);
        engine.handle(Event {
            at,
            seq: 0,
            node: 0,
            kind: EventKind::Register { sub: 7, initial: false, timer },
        });
        assert!(testkit::finish(&mut engine).messages.is_empty());
    }
}
