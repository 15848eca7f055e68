//! Standalone requests: SMS over IP (MESSAGE) both ways, the P-CSCF's OPTIONS keep-alives
//! toward the S-CSCF, and the reg-event subscription (SUBSCRIBE, then NOTIFY) that follows an
//! initial registration.

use imsight_parsers::sip::Method;

use crate::sim::fault::FaultKind;
use crate::sim::wire::{Dir, flag};

use super::Engine;
use super::transaction::{Dialog, Outcome, Resp};

impl Engine {
    /// A subscriber sends or receives one SMS at `at`.
    pub(super) fn message(&mut self, node: u16, at: u64) {
        let profile = self.profile(node);
        let (subscribers, originating_share) =
            (u64::from(profile.subscribers), profile.originating_share);
        let (core_ms, access_ms) = (profile.core_response_ms, profile.access_delay_ms);
        let sub = self.rng(node).below(subscribers) as u32;
        if !self.registered(node, sub, at) {
            return;
        }
        let id = self.id();
        let other = self.rng(node).below(10_000_000) as u32;
        let fault = self.active(node, at);
        let (dir, outcome) = if self.rng(node).chance(originating_share) {
            // The S-CSCF accepts it for store and forward.
            (Dir::Uplink, self.scscf_outcome(node, at, 202, core_ms * 2.0))
        } else {
            // Terminating traffic comes from the core: gone if the core cannot reach us.
            let cut = fault.of(FaultKind::TrafficBlocked).max(fault.of(FaultKind::ScscfDown));
            if self.rng(node).chance(cut) {
                return;
            }
            let answer = self.delay(node, 2.0 * access_ms + 8.0);
            (Dir::Downlink, Outcome::answer(200, answer))
        };
        let sms = Dialog::new(node, dir, sub, id).with_other(other);
        self.relay(at, sms.txn(Method::Message, 1, 0), outcome);
    }

    /// The P-CSCF's keep-alive toward its S-CSCF.
    pub(super) fn options(&mut self, node: u16, at: u64) {
        let fault = self.active(node, at);
        let silent = self
            .rng(node)
            .chance(fault.of(FaultKind::TrafficBlocked).max(fault.of(FaultKind::ScscfDown)));
        let outcome = if silent {
            Outcome::silence()
        } else {
            let median = self.profile(node).core_response_ms * self.core_slowdown(node, at) * 0.5;
            Outcome::answer(200, self.delay(node, median))
        };
        let id = self.id();
        let keep_alive = Dialog::new(node, Dir::FromPcscf, 0, id);
        self.relay(at, keep_alive.txn(Method::Options, 1, 0), outcome);
    }

    /// After an initial registration: the UE subscribes to its reg event, the S-CSCF notifies.
    pub(super) fn reg_event(&mut self, node: u16, at: u64, sub: u32) {
        let id = self.id();
        let outcome = self.scscf_outcome(node, at, 200, self.profile(node).core_response_ms);
        let subscription = Dialog::new(node, Dir::Uplink, sub, id);
        let (code, answered) = self.relay(at, subscription.txn(Method::Subscribe, 1, 0), outcome);
        if code == Some(200) {
            let notify_at = answered + self.delay(node, 20.0);
            let ue_answer = self.delay(node, 2.0 * self.profile(node).access_delay_ms + 5.0);
            // The NOTIFY comes from the notifier (the S-CSCF): in the UE's dialog, reversed.
            let notify = subscription.txn(Method::Notify, 2, flag::TO_TAG | flag::REVERSE);
            self.relay(notify_at, notify, Outcome::answer(200, ue_answer));
        }
    }

    /// The outcome of a plain uplink request the S-CSCF answers with `code`.
    fn scscf_outcome(&mut self, node: u16, at: u64, code: u16, median_ms: f64) -> Outcome {
        let fault = self.active(node, at);
        let roll = self.rng(node).unit();
        if roll < 0.4 * fault.of(FaultKind::CapacityLimit) {
            return Outcome::local(503);
        }
        if roll < fault.of(FaultKind::ScscfDown) {
            // The P-CSCF knows its S-CSCF is down (keep-alives fail) and answers at once.
            return Outcome::local(503);
        }
        if self.rng(node).chance(fault.of(FaultKind::TrafficBlocked)) {
            return Outcome::silence();
        }
        let after = self.delay(node, median_ms * self.core_slowdown(node, at));
        Outcome { last: Some(Resp::new(code, after)), ..Outcome::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::testkit::{self, Collector, START};
    use crate::sim::engine::{SECOND, TIMEOUT};
    use crate::sim::wire::{CorePeer, Leg};

    const AT: u64 = START + 10 * SECOND;

    #[test]
    fn a_keep_alive_goes_from_the_pcscf_to_the_scscf_only() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.options(0, AT);
        let out = testkit::finish(&mut engine);
        assert!(out.on(Leg::Access).is_empty());
        let core = out.on(Leg::Core);
        assert_eq!(Collector::summary(&core), vec!["OPTIONS 1", "200 OPTIONS 1"]);
        assert_eq!((core[0].dir, core[0].peer), (Dir::FromPcscf, CorePeer::Scscf));
        assert!((AT..AT + 50_000).contains(&core[0].ts), "sent after the P-CSCF's processing");
        assert!(!core[0].inbound() && core[1].inbound());
    }

    #[test]
    fn an_unanswered_keep_alive_is_retransmitted_on_timer_e_then_recorded_as_a_timeout() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::TrafficBlocked]);
        engine.options(0, AT);
        let out = testkit::finish(&mut engine);
        let core = out.on(Leg::Core);
        let sent = core[0].ts;
        let offsets_ms: Vec<u64> = core[1..].iter().map(|m| (m.ts - sent) / 1000).collect();
        // T1 doubling, capped at T2 = 4 s, until the P-CSCF gives up at 30 s.
        assert_eq!(offsets_ms, vec![500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500]);
        assert!(core[1..].iter().all(|m| m.flags & flag::RETRANSMISSION != 0 && m.is_request()));
        assert_eq!(out.records.len(), 1);
        assert_eq!((out.records[0].result, out.records[0].end), (None, sent + TIMEOUT));
    }

    #[test]
    fn an_originated_sms_is_accepted_with_202() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.message(0, AT);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        assert_eq!(Collector::summary(&access), vec!["MESSAGE 1", "202 MESSAGE 1"]);
        assert_eq!(access[0].dir, Dir::Uplink);
        assert_ne!(access[0].other, 0, "an SMS has a recipient");
    }

    #[test]
    fn a_terminated_sms_comes_from_the_core_and_the_ue_answers() {
        let mut profile = testkit::profile();
        profile.originating_share = 0.0;
        let mut engine = testkit::quiet_engine(profile, &[]);
        engine.message(0, AT);
        let out = testkit::finish(&mut engine);
        let core = out.on(Leg::Core);
        assert_eq!(Collector::summary(&core), vec!["MESSAGE 1", "200 MESSAGE 1"]);
        assert!(core[0].inbound() && core[0].dir == Dir::Downlink);
        assert_eq!(Collector::summary(&out.on(Leg::Access)), vec!["MESSAGE 1", "200 MESSAGE 1"]);
    }

    #[test]
    fn with_the_scscf_down_the_pcscf_rejects_an_sms_itself_and_nothing_reaches_the_core() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::ScscfDown]);
        engine.message(0, AT);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        assert_eq!(Collector::summary(&access), vec!["MESSAGE 1", "503 MESSAGE 1"]);
        assert!(out.on(Leg::Core).is_empty());
        // Answered at once: only the P-CSCF's processing time.
        assert!(access[1].ts - access[0].ts < 50_000, "{}", access[1].ts - access[0].ts);
    }

    #[test]
    fn the_notify_travels_toward_the_ue_in_the_subscribers_dialog() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.reg_event(0, AT, 3);
        let out = testkit::finish(&mut engine);
        let core = out.on(Leg::Core);
        assert_eq!(
            Collector::summary(&core),
            vec!["SUBSCRIBE 1", "200 SUBSCRIBE 1", "NOTIFY 2", "200 NOTIFY 2"]
        );
        assert_eq!(core[0].dialog, core[2].dialog);
        assert!(core[2].inbound(), "the NOTIFY comes in from the S-CSCF");
        assert_eq!(core[2].flags, flag::TO_TAG | flag::REVERSE);
    }
}
