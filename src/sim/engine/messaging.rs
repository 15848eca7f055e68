//! Standalone requests: SMS over IP (3GPP TS 24.341: the message, then its delivery report,
//! both ways), the P-CSCF's OPTIONS keep-alives toward the S-CSCF (and the blacklisting that
//! failing ones cause), and the reg-event subscriptions of the UE and of the P-CSCF (3GPP
//! TS 24.229 §5.2.3) with their NOTIFYs.

use imsight_parsers::sip::Method;

use crate::sim::fault::FaultKind;
use crate::sim::wire::{Dir, flag};

use super::core::Route;
use super::transaction::{Dialog, Outcome, Txn};
use super::{Engine, TIMEOUT};

impl Engine {
    /// A subscriber sends or receives one SMS at `at`.
    pub(super) fn message(&mut self, node: u16, at: u64) {
        let originating_share = self.profile(node).originating_share;
        let sub = self.active_subscriber(node);
        if !self.registered(node, sub, at) {
            return;
        }
        let other = self.rng(node).below(10_000_000) as u32;
        let mo = self.rng(node).chance(originating_share);
        if !mo && !self.core_reaches_node(node, at, sub) {
            return;
        }
        let dir = if mo { Dir::Uplink } else { Dir::Downlink };
        let id = self.id();
        let sms = Dialog::new(node, dir, sub, id).with_other(other);
        let (code, done) = self.sms_leg(at, sms.txn(Method::Message, 1, 0));
        if !matches!(code, Some(200 | 202)) {
            return;
        }
        // The delivery report (RP-ACK) goes the other way, in a transaction of its own.
        let report_dir = if mo { Dir::Downlink } else { Dir::Uplink };
        let wait = if mo { 1500.0 } else { 150.0 };
        let report_at = done + self.delay(node, wait);
        if mo && !self.core_reaches_node(node, report_at, sub) {
            return;
        }
        let id = self.id();
        let report = Dialog::new(node, report_dir, sub, id).with_other(other);
        self.sms_leg(report_at, report.txn(Method::Message, 1, flag::SMS_REPORT));
    }

    /// One MESSAGE: from the UE to the SMS centre (202 Accepted), or from the SMS centre to
    /// the UE (200 OK).
    fn sms_leg(&mut self, at: u64, txn: Txn) -> (Option<u16>, u64) {
        if txn.dialog.dir == Dir::Uplink {
            self.send_to_core(
                at,
                txn,
                Route::Initial,
                202,
                self.profile(txn.node()).core_response_ms * 2.0,
            )
        } else {
            self.send_to_ue(at, txn, 8.0)
        }
    }

    /// A request from the UE toward the core, answered `code` after about `median_ms` unless
    /// something gets in the way; a failure that calls for it makes the UE register again.
    pub(super) fn send_to_core(
        &mut self,
        at: u64,
        txn: Txn,
        route: Route,
        code: u16,
        median_ms: f64,
    ) -> (Option<u16>, u64) {
        let (node, sub) = (txn.node(), txn.dialog.sub);
        let outcome = match self.uplink_failure(node, at, sub, route, true) {
            Some(failure) => failure,
            None => {
                let after = self.delay(node, median_ms * self.core_slowdown(node, at));
                Outcome::answer(code, after)
            }
        };
        let (result, done) = self.relay(at, txn, outcome);
        if outcome.restore && txn.method != Method::Subscribe {
            self.restore_registration(node, done, sub);
        }
        (result, done)
    }

    /// A request from the core to the UE, answered 200 after the UE's delay (and paging).
    pub(super) fn send_to_ue(&mut self, at: u64, txn: Txn, extra_ms: f64) -> (Option<u16>, u64) {
        let (node, sub) = (txn.node(), txn.dialog.sub);
        let outcome = match self.downlink_failure(node, at, sub) {
            Some(failure) => failure,
            None => {
                let ms = self.ue_answer_ms(node, extra_ms);
                Outcome::answer(200, self.delay(node, ms))
            }
        };
        self.relay(at, txn, outcome)
    }

    /// The P-CSCF's keep-alive toward its S-CSCF; failing ones lead to a blacklist when the
    /// vendor blacklists, and the first answer lifts it.
    pub(super) fn options(&mut self, node: u16, at: u64) {
        let fault = self.active(node, at);
        let dead =
            fault.node_wide(FaultKind::TrafficBlocked).max(fault.node_wide(FaultKind::ScscfDown));
        let paused = self.hiccup(node, at) == Some(super::node::HiccupKind::ScscfSilent);
        let silent = paused || self.rng(node).chance(dead);
        let outcome = if silent {
            Outcome::silence()
        } else {
            let median = self.profile(node).core_response_ms * self.core_slowdown(node, at) * 0.5;
            Outcome::answer(200, self.delay(node, median))
        };
        let id = self.id();
        let keep_alive = Dialog::new(node, Dir::FromPcscf, 0, id);
        self.relay(at, keep_alive.txn(Method::Options, 1, 0), outcome);
        let threshold = self.profile(node).vendor.blacklist_after_failures;
        let state = &mut self.nodes[node as usize];
        if silent {
            state.keepalive_failures += 1;
            if threshold > 0 && state.keepalive_failures >= threshold {
                state.blacklisted_from = state.blacklisted_from.min(at + TIMEOUT);
            }
        } else {
            // An answer lifts the blacklist, including one still waiting for its timeout.
            state.keepalive_failures = 0;
            state.blacklisted_from = u64::MAX;
        }
    }

    /// After an initial registration: the UE subscribes to its reg event and the S-CSCF
    /// notifies it; the P-CSCF subscribes too (3GPP TS 24.229 §5.2.3) and is notified.
    pub(super) fn reg_event(&mut self, node: u16, at: u64, sub: u32) {
        let id = self.id();
        let subscription = Dialog::new(node, Dir::Uplink, sub, id);
        let core_ms = self.profile(node).core_response_ms;
        let txn = subscription.txn(Method::Subscribe, 1, 0);
        let (code, answered) = self.send_to_core(at, txn, Route::Initial, 200, core_ms);
        if code == Some(200) {
            let notify_at = answered + self.delay(node, 20.0);
            // The NOTIFY comes from the notifier (the S-CSCF): in the UE's dialog, reversed.
            let notify = subscription.txn(Method::Notify, 2, flag::TO_TAG | flag::REVERSE);
            self.send_to_ue(notify_at, notify, 5.0);
        }
        let pcscf_at = at + self.delay(node, 5.0);
        let id = self.id();
        let own = Dialog::new(node, Dir::FromPcscf, sub, id);
        let outcome = if self.core_reaches_node(node, pcscf_at, sub) {
            Outcome::answer(200, self.delay(node, core_ms * self.core_slowdown(node, pcscf_at)))
        } else {
            Outcome::silence()
        };
        let (code, answered) = self.relay(pcscf_at, own.txn(Method::Subscribe, 1, 0), outcome);
        if code == Some(200) {
            let notify_at = answered + self.delay(node, 20.0);
            let notify = own.txn(Method::Notify, 2, flag::TO_TAG | flag::REVERSE);
            self.relay(notify_at, notify, Outcome::local(200));
        }
    }

    /// The S-CSCF notifies the UE of its registration state (`state`: flag::TERMINATED,
    /// flag::UNREGISTERED).
    pub(super) fn notify_ue(&mut self, node: u16, at: u64, sub: u32, state: u16) {
        let id = self.id();
        let flags = flag::TO_TAG | flag::REVERSE | state;
        let notify = Dialog::new(node, Dir::Uplink, sub, id).txn(Method::Notify, 3, flags);
        self.send_to_ue(at, notify, 5.0);
    }

    /// The S-CSCF notifies the P-CSCF's subscription of `sub`'s registration state.
    pub(super) fn notify_pcscf(&mut self, node: u16, at: u64, sub: u32, state: u16) {
        let id = self.id();
        let flags = flag::TO_TAG | flag::REVERSE | state;
        let notify = Dialog::new(node, Dir::FromPcscf, sub, id).txn(Method::Notify, 3, flags);
        self.relay(at, notify, Outcome::local(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::testkit::{self, Collector, START};
    use crate::sim::engine::{SECOND, TIMEOUT};
    use crate::sim::wire::{CorePeer, Leg, SimMessage};

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
        // The SMS, then the service centre's delivery report (TS 24.341), each its own
        // transaction.
        assert_eq!(
            Collector::summary(&access),
            vec!["MESSAGE 1", "202 MESSAGE 1", "MESSAGE 1", "200 MESSAGE 1"]
        );
        assert_eq!((access[0].dir, access[0].flags), (Dir::Uplink, 0));
        assert_eq!((access[2].dir, access[2].flags), (Dir::Downlink, flag::SMS_REPORT));
        assert_ne!(access[0].dialog, access[2].dialog);
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
        let ladder = vec!["MESSAGE 1", "200 MESSAGE 1", "MESSAGE 1", "202 MESSAGE 1"];
        assert_eq!(Collector::summary(&core), ladder);
        assert!(core[0].inbound() && core[0].dir == Dir::Downlink);
        // The UE's delivery report goes back toward the core.
        assert!(!core[2].inbound() && core[2].flags == flag::SMS_REPORT);
        assert_eq!(Collector::summary(&out.on(Leg::Access)), ladder);
    }

    #[test]
    fn with_the_scscf_blacklisted_the_pcscf_rejects_an_sms_itself_and_nothing_reaches_the_core() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::ScscfDown]);
        engine.nodes[0].blacklisted_from = START;
        engine.message(0, AT);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        assert_eq!(Collector::summary(&access), vec!["MESSAGE 1", "503 MESSAGE 1"]);
        assert!(out.on(Leg::Core).is_empty());
        // Answered at once: only the P-CSCF's processing time.
        assert!(access[1].ts - access[0].ts < 50_000, "{}", access[1].ts - access[0].ts);
    }

    #[test]
    fn the_ue_and_the_pcscf_subscribe_to_the_reg_event_and_are_notified() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.reg_event(0, AT, 3);
        let out = testkit::finish(&mut engine);
        let core = out.on(Leg::Core);
        let ladder = vec!["SUBSCRIBE 1", "200 SUBSCRIBE 1", "NOTIFY 2", "200 NOTIFY 2"];
        let (ue, pcscf): (Vec<SimMessage>, Vec<SimMessage>) =
            core.iter().partition(|m| m.dir == Dir::Uplink);
        assert_eq!(Collector::summary(&ue), ladder);
        assert_eq!(Collector::summary(&pcscf), ladder);
        assert_eq!(ue[0].dialog, ue[2].dialog);
        assert!(ue[2].inbound(), "the NOTIFY comes in from the S-CSCF");
        assert_eq!(ue[2].flags, flag::TO_TAG | flag::REVERSE);
        // The P-CSCF's own subscription never crosses the access leg; it answers the NOTIFY.
        assert!(pcscf.iter().all(|m| m.dir == Dir::FromPcscf));
        assert!(pcscf[2].inbound() && !pcscf[3].inbound());
        assert_eq!(out.on(Leg::Access).len(), 4);
    }

    #[test]
    fn a_network_deregistration_notifies_the_ue_and_the_pcscf_and_the_ue_registers_again() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.set_registered_until(0, 3, AT + 3600 * SECOND);
        engine.network_deregister(0, AT, 3, AT + 5 * SECOND);
        assert!(!engine.registered(0, 3, AT + SECOND));
        let again = engine.agenda.next().expect("a new registration");
        assert_eq!(again.at, AT + 5 * SECOND);
        let out = testkit::finish(&mut engine);
        let notifies: Vec<&SimMessage> =
            out.messages.iter().filter(|m| m.is_request() && m.method == Method::Notify).collect();
        assert_eq!(notifies.len(), 3, "to the UE on both legs, and to the P-CSCF");
        assert!(notifies.iter().all(|m| m.flags & flag::TERMINATED != 0));
    }
}
