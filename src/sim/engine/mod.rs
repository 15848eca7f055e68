//! The traffic engine: subscribers of each P-CSCF register, call, text and are notified; the
//! P-CSCF relays every transaction between its access and core legs, with RFC 3261 timers,
//! loss and retransmissions; faults change what the core (or the node itself) answers.
//!
//! Events are processed in time order. One event produces the messages of a whole
//! transaction (a few seconds ahead at most, 32 s for a timeout); they wait in the outbox and
//! are written once no later event can produce anything earlier, so outputs are in time order.
//!
//! ```text
//! events        the agenda: arrival processes, registrations, keep-alives, call ends,
//!               benign events
//! outbox        messages and records held back until nothing earlier can come; probe gaps
//! node          per-node state: bindings and timers, random stream, faults in force, delays,
//!               load (a queueing model), blacklist, calendar
//! core          what stands between a request and its answer: faults, load, bad luck
//! transaction   the dialog context, its transactions, what the far end answers
//! relay         one transaction through the P-CSCF: both legs, loss, retransmissions
//! registration  REGISTER with its AKA challenge, refreshes, back-off, power-off,
//!               network-initiated de-registration
//! calls         INVITE dialogs: outcome, PRACK/UPDATE, CANCEL, ACK, session refresh, BYE
//! rx_failure    calls the P-CSCF rejects because Rx cannot authorise the answer
//! messaging     SMS and its delivery report, OPTIONS keep-alives, reg-event subscriptions
//! ```
//!
//! Same seed, same bytes: every procedure draws its random numbers, takes dialog ids and
//! queues its messages in a fixed order, and changes here must keep that order.

mod calls;
mod core;
mod events;
mod messaging;
mod node;
mod outbox;
mod registration;
mod relay;
mod rx_failure;
#[cfg(test)]
mod testkit;
mod transaction;

use imsight_parsers::sip::Method;

use super::event::BenignKind;
use super::rng::Rng;
use super::scenario::ResolvedNode;
use super::wire::{Dir, Leg, SimMessage};
use events::Agenda;
use node::NodeSim;
use outbox::Outbox;

use crate::time::{MINUTE_US as MINUTE, SECOND_US as SECOND};
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
    /// Something benign the engine decided on by itself (a hiccup) happened on `node` over
    /// `[from, to)`, for the labels.
    fn benign(&mut self, _node: u16, _from: u64, _to: u64, _event: &'static str) {}
}

/// The simulation of all nodes of a scenario.
pub struct Engine {
    start: u64,
    end: u64,
    nodes: Vec<NodeSim>,
    agenda: Agenda,
    outbox: Outbox,
    next_id: u64,
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
            agenda: Agenda::default(),
            outbox: Outbox::default(),
            next_id: 1,
        };
        for spec in nodes {
            engine.add_node(spec, &root);
        }
        engine.outbox.gaps = engine
            .nodes
            .iter()
            .map(|node| {
                let minute = |m: u32| start + u64::from(m) * MINUTE;
                let gaps = node.spec.events.iter().filter(|e| e.kind == BenignKind::ProbeGap);
                gaps.map(|e| (minute(e.onset_minute), minute(e.onset_minute + e.duration_minutes)))
                    .collect()
            })
            .collect();
        engine
    }

    /// Runs to the end, writing everything to `output`.
    pub fn run(&mut self, output: &mut dyn Output) {
        for (index, node) in self.nodes.iter().enumerate() {
            for hiccup in &node.hiccups {
                output.benign(index as u16, hiccup.from, hiccup.to, "hiccup");
            }
        }
        while let Some(event) = self.agenda.next() {
            if event.at >= self.end {
                break;
            }
            self.outbox.flush(event.at, self.end, output);
            self.handle(event);
        }
        self.outbox.flush(self.end, self.end, output);
    }

    /// A fresh dialog id (Call-ID seed), unique in the run.
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
