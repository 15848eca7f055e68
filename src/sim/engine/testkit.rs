//! What the procedure tests share: a one-node engine with nothing scheduled, a calm profile
//! that makes the outcome of each procedure certain, and an output that keeps everything.

use crate::sim::fault::{FaultKind, FaultSpec};
use crate::sim::profile::{Background, NetworkProfile, Variety};
use crate::sim::scenario::ResolvedNode;
use crate::sim::wire::{Leg, SimMessage, flag};

use super::{Engine, Output, SECOND, TxnRecord};

/// 2027-01-15T08:00:00Z, a whole minute.
pub(super) const START: u64 = 1_800_000_000 * SECOND;

/// No loss, almost no spread, every call answered and placed by the subscriber, no 100rel.
pub(super) fn profile() -> NetworkProfile {
    let mut profile = NetworkProfile::builtin().remove(0);
    profile.subscribers = 100;
    profile.access_loss = 0.0;
    profile.delay_sigma = 0.05;
    profile.originating_share = 1.0;
    profile.prack_share = 0.0;
    profile.busy_share = 0.0;
    profile.unavailable_share = 0.0;
    profile.not_found_share = 0.0;
    profile.cancel_share = 0.0;
    profile.holding_time_s = 30.0;
    // A calm network: no background errors, no loss, no paging, every UE on, no variety.
    profile.background = Background {
        server_error_share: 0.0,
        core_timeout_share: 0.0,
        forbidden_share: 0.0,
        not_acceptable_share: 0.0,
        decline_share: 0.0,
        no_answer_share: 0.0,
        gone_share: 0.0,
        precondition_failure_share: 0.0,
        unreachable_share: 0.0,
        downlink_loss: 0.0,
        core_loss: 0.0,
        paging_share: 0.0,
        slow_share: 0.0,
        offline_share: 0.0,
        network_deregistration_rate: 0.0,
        hiccups_per_day: 0.0,
        ..Background::default()
    };
    profile.vendor.expires_spread = 0.0;
    profile.variety = Variety {
        jitter: 0.0,
        day_sigma: 0.0,
        minute_sigma: 0.0,
        activity_skew: 1.0,
        ..Variety::default()
    };
    profile
}

/// One node with `profile`, each of `faults` at full severity for the first hour, and an
/// empty agenda, so that only what a test starts happens.
pub(super) fn quiet_engine(profile: NetworkProfile, faults: &[FaultKind]) -> Engine {
    let faults = faults
        .iter()
        .map(|&kind| FaultSpec {
            node: "pcscf-test".into(),
            kind,
            onset_minute: 0,
            ramp_minutes: 1,
            duration_minutes: 60,
            severity: 1.0,
            share: 1.0,
            flap_on_minutes: 0,
            flap_off_minutes: 0,
        })
        .collect();
    let node = ResolvedNode {
        index: 0,
        name: "pcscf-test".into(),
        profile,
        faults,
        events: Vec::new(),
        holidays: Vec::new(),
    };
    let mut engine = Engine::new(vec![node], START, 60, 5);
    engine.agenda.clear();
    engine
}

/// Everything the procedures queued so far.
pub(super) fn finish(engine: &mut Engine) -> Collector {
    let mut out = Collector::default();
    engine.outbox.flush(u64::MAX, u64::MAX, &mut out);
    out
}

/// Runs what the procedures scheduled (call ends, refreshes, retries) to the end of the hour.
pub(super) fn run(engine: &mut Engine) -> Collector {
    let mut out = Collector::default();
    engine.run(&mut out);
    out
}

#[derive(Debug, Default)]
pub(super) struct Collector {
    pub messages: Vec<SimMessage>,
    pub records: Vec<TxnRecord>,
    pub progress: Option<u64>,
}

impl Output for Collector {
    fn message(&mut self, message: &SimMessage) {
        self.messages.push(*message);
    }

    fn transaction(&mut self, record: &TxnRecord) {
        self.records.push(*record);
    }

    fn progress(&mut self, now: u64) {
        self.progress = Some(now);
    }
}

impl Collector {
    /// The messages on `leg`, in time order.
    pub(super) fn on(&self, leg: Leg) -> Vec<SimMessage> {
        self.messages.iter().filter(|m| m.leg == leg).copied().collect()
    }

    /// "INVITE 1", "180 INVITE 1", "INVITE 1 again" (a retransmission): what a ladder
    /// diagram shows.
    pub(super) fn summary(messages: &[SimMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| {
                let request = format!("{} {}", m.method.as_str(), m.cseq);
                let line = if m.is_request() { request } else { format!("{} {request}", m.status) };
                if m.flags & flag::RETRANSMISSION != 0 { format!("{line} again") } else { line }
            })
            .collect()
    }
}
