//! An originating call whose answer cannot be authorised on Rx: the P-CSCF holds the
//! callee's reliable 183, its AAR to the PCRF fails, so it rejects the call toward the UE
//! (580, or 503 or 488 as the vendor chose) and cancels it toward the core.

use imsight_parsers::sip::Method;

use crate::sim::wire::{Leg, flag};

use super::Engine;
use super::calls::CallSetup;
use super::transaction::ack;

impl Engine {
    /// Plays out the call: `progress` is when the callee's 183 comes after the INVITE left
    /// the P-CSCF.
    pub(super) fn rx_failure_call(&mut self, at: u64, call: &CallSetup, progress: u64, code: u16) {
        let node = call.dialog.node;
        let invite = call.dialog.txn(Method::Invite, 1, call.invite_flags);
        let response_flags = invite.flags & !flag::SDP;
        let response = |leg: Leg, ts: u64, code: u16| invite.message(leg, ts, code, response_flags);

        let t_fwd = at + self.processing(node, at);
        self.outbox.emit(invite.request(Leg::Access, at));
        self.outbox.emit(response(Leg::Access, t_fwd, 100));
        self.outbox.emit(invite.request(Leg::Core, t_fwd));
        let t_progress = t_fwd + progress;
        self.outbox.emit(response(Leg::Core, t_fwd + progress / 10, 100));
        self.outbox.emit(invite.message(Leg::Core, t_progress, 183, flag::SDP | flag::RELIABLE));

        // The Diameter answer to the AAR comes after a few hundred ms, and is a failure.
        let t_fail = t_progress + self.delay(node, 300.0);
        self.outbox.emit(response(Leg::Access, t_fail, code));
        self.outbox.record(invite.record(Leg::Access, true, at, t_fail, Some(code)));
        let access_ms = self.profile(node).access_delay_ms;
        let ue_ack = t_fail + self.delay(node, 2.0 * access_ms);
        self.outbox.emit(ack(invite.request(Leg::Access, ue_ack)));

        let far = self.delay(node, self.profile(node).core_response_ms);
        let cancel = call.dialog.txn(Method::Cancel, 1, 0);
        self.outbox.emit(cancel.request(Leg::Core, t_fail));
        self.outbox.emit(cancel.message(Leg::Core, t_fail + far, 200, 0));
        self.outbox.record(cancel.record(Leg::Core, false, t_fail, t_fail + far, Some(200)));
        let t487 = t_fail + far + self.delay(node, 5.0);
        self.outbox.emit(response(Leg::Core, t487, 487));
        self.outbox.record(invite.record(Leg::Core, false, t_fwd, t487, Some(487)));
        let core_ack = t487 + self.processing(node, t487);
        self.outbox.emit(ack(invite.request(Leg::Core, core_ack)));
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::engine::SECOND;
    use crate::sim::engine::testkit::{self, Collector, START};
    use crate::sim::fault::FaultKind;
    use crate::sim::wire::Leg;

    #[test]
    fn an_answer_rx_cannot_authorise_gives_580_to_the_ue_and_a_cancel_to_the_core() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::PcrfRxFailure]);
        engine.call(0, START + 10 * SECOND, false);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        assert_eq!(
            Collector::summary(&access),
            vec!["INVITE 1", "100 INVITE 1", "580 INVITE 1", "ACK 1"]
        );
        assert_eq!(
            Collector::summary(&out.on(Leg::Core)),
            vec![
                "INVITE 1",
                "100 INVITE 1",
                "183 INVITE 1",
                "CANCEL 1",
                "200 CANCEL 1",
                "487 INVITE 1",
                "ACK 1",
            ]
        );
        // The 580 follows the 183 by the AAR round trip, a few hundred ms.
        let core_183 = out.on(Leg::Core)[2].ts;
        let aar = access[2].ts - core_183;
        assert!((100_000..SECOND).contains(&aar), "{aar}");
        let results: Vec<_> = out.records.iter().map(|r| (r.leg, r.method, r.result)).collect();
        assert_eq!(results.len(), 3);
        assert!(results.contains(&(Leg::Access, imsight_parsers::sip::Method::Invite, Some(580))));
        assert!(results.contains(&(Leg::Core, imsight_parsers::sip::Method::Invite, Some(487))));
    }

    #[test]
    fn a_terminating_offer_rx_cannot_authorise_is_refused_toward_the_core_at_once() {
        let mut profile = testkit::profile();
        profile.originating_share = 0.0;
        let mut engine = testkit::quiet_engine(profile, &[FaultKind::PcrfRxFailure]);
        engine.call(0, START + 10 * SECOND, false);
        let out = testkit::finish(&mut engine);
        assert_eq!(
            Collector::summary(&out.on(Leg::Core)),
            vec!["INVITE 1", "580 INVITE 1", "ACK 1"]
        );
        assert!(out.on(Leg::Access).is_empty());
    }
}
