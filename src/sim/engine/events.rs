//! The agenda: what happens next on which node. Traffic arrives as Poisson processes whose
//! rates follow the diurnal curve and the faults; registrations, keep-alives and call ends
//! are scheduled by the procedures themselves.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::transaction::Dialog;
use super::{Engine, MINUTE, SECOND};
use crate::sim::fault::FaultKind;

/// Poisson arrival processes of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Process {
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

impl Process {
    /// Every process, in the order their first draws are scheduled.
    pub(super) const ALL: [Process; 5] =
        [Process::Attach, Process::Call, Process::Message, Process::Storm, Process::Flood];
}

#[derive(Debug, Clone, Copy)]
pub(super) enum EventKind {
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
    /// The established call `Dialog` is hung up.
    CallEnd(Dialog),
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

impl Engine {
    pub(super) fn schedule(&mut self, at: u64, node: u16, kind: EventKind) {
        self.agenda.schedule(at, node, kind);
    }

    pub(super) fn handle(&mut self, event: Event) {
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
            EventKind::CallEnd(call) => self.hang_up(at, call),
        }
    }

    fn arrive(&mut self, node: u16, at: u64, process: Process) {
        let subscribers = u64::from(self.profile(node).subscribers);
        match process {
            Process::Attach => {
                let sub = self.rng(node).below(subscribers) as u32;
                if !self.registered(node, sub, at) {
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
        agenda.schedule(10, 0, EventKind::Register { sub: 4, initial: true });
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
}
