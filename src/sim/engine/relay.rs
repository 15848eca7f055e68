//! The P-CSCF relaying one transaction: the originator's request arrives on one leg (after
//! any access-side losses), leaves on the other, and the answers come back hop by hop, with
//! the RFC 3261 retransmissions and timeouts a probe would capture on each leg.

use crate::sim::wire::{Dir, Leg, SimMessage, flag};

use super::transaction::{Outcome, Resp, Txn, ack};
use super::{Engine, PROXY_GIVE_UP, T1, T2, TIMEOUT};

/// One transaction on its way through the P-CSCF.
struct Hop {
    txn: Txn,
    /// The originator's leg; `None` when the P-CSCF itself originates.
    first: Option<Leg>,
    /// The leg toward the answerer.
    second: Leg,
    /// When the first surviving request copy reached the P-CSCF.
    t_in: u64,
    /// When the P-CSCF forwarded it.
    t_fwd: u64,
}

impl Hop {
    fn response(&self, leg: Leg, ts: u64, code: u16, extra_flags: u16) -> SimMessage {
        self.txn.message(leg, ts, code, self.txn.response_flags() | extra_flags)
    }
}

/// (originator's leg, answerer's leg) of a transaction.
fn legs(txn: &Txn) -> (Option<Leg>, Leg) {
    // A request sent by the party that did not start the dialog travels the other way.
    let reverse = txn.flags & flag::REVERSE != 0;
    if txn.dialog.dir == Dir::FromPcscf && reverse {
        // The core's request to the P-CSCF itself (a NOTIFY of its own subscription), which
        // it answers: the answering leg is never used.
        return (Some(Leg::Core), Leg::Access);
    }
    let effective = match (txn.dialog.dir, reverse) {
        (Dir::Uplink, true) => Dir::Downlink,
        (Dir::Downlink, true) => Dir::Uplink,
        (dir, _) => dir,
    };
    match effective {
        Dir::Uplink => (Some(Leg::Access), Leg::Core),
        Dir::Downlink => (Some(Leg::Core), Leg::Access),
        Dir::FromPcscf => (None, Leg::Core),
    }
}

impl Engine {
    /// Relays one transaction at `t0` with `outcome`; returns the final code and when the
    /// originator got it (`None` code = the originator timed out without any answer).
    pub(super) fn relay(&mut self, t0: u64, txn: Txn, outcome: Outcome) -> (Option<u16>, u64) {
        if outcome.unseen {
            return (None, t0 + TIMEOUT);
        }
        let node = txn.node();
        let (first, second) = legs(&txn);
        let t_in = if first == Some(Leg::Access) { self.after_access_loss(node, t0) } else { t0 };
        if let Some(leg) = first {
            self.outbox.emit(txn.request(leg, t_in));
        }
        // Refusing with 503 costs the node a tenth of serving (RFC 6357 §6.1): what it sheds
        // weighs little.
        self.offer(node, t_in, if outcome.local == Some(503) { 0.1 } else { 1.0 });
        let t_fwd = t_in + self.processing(node, t_in) + outcome.hold;
        let hop = Hop { txn, first, second, t_in, t_fwd };

        if let (Some(code), Some(leg)) = (outcome.local, first) {
            return self.answer_locally(&hop, leg, code, outcome.local_after);
        }
        if txn.is_invite()
            && let Some(leg) = first
        {
            // 100 Trying, hop by hop; the originator retransmits until it arrives.
            let trying = t_fwd - outcome.hold;
            self.outbox.emit(hop.response(leg, trying, 100, 0));
            self.retransmit_until(t_in, trying, true, txn.request(leg, 0));
        }
        self.outbox.emit(txn.request(second, t_fwd));
        let Some(last) = outcome.last else {
            return self.time_out(&hop);
        };
        // An answer slower than the P-CSCF's patience comes too late: it has given up.
        let first_answer = outcome.provisional.iter().flatten().map(|p| p.after).min();
        if first_answer.unwrap_or(last.after).min(last.after) + T1 >= PROXY_GIVE_UP {
            return self.time_out(&hop);
        }
        let t_final = self.answer_from_far_side(&hop, &outcome, last);
        match first {
            Some(leg) => self.answer_originator(&hop, leg, last, t_final),
            None => (Some(last.code), t_final),
        }
    }

    /// When the first copy of a UE's request that is not lost reaches the P-CSCF; the UE
    /// retransmits on Timer E/A while copies are lost.
    fn after_access_loss(&mut self, node: u16, t0: u64) -> u64 {
        let loss = self.profile(node).access_loss;
        let mut t_in = t0;
        let mut timer = T1;
        while self.rng(node).chance(loss) && timer <= T2 {
            t_in += timer;
            timer *= 2;
        }
        t_in
    }

    /// The P-CSCF answers the originator itself after `after` µs; nothing is forwarded.
    fn answer_locally(&mut self, hop: &Hop, leg: Leg, code: u16, after: u64) -> (Option<u16>, u64) {
        let (txn, node, t) = (&hop.txn, hop.txn.node(), hop.t_fwd + after);
        if after > 0 {
            if txn.is_invite() {
                self.outbox.emit(hop.response(leg, hop.t_fwd, 100, 0));
            } else {
                self.retransmit_until(hop.t_in, t, false, txn.request(leg, 0));
            }
        }
        self.outbox.emit(hop.response(leg, t, code, 0));
        self.outbox.record(txn.record(leg, true, hop.t_in, t, Some(code)));
        if txn.is_invite() {
            let ack_at = t + self.delay(node, 2.0 * self.profile(node).access_delay_ms);
            self.outbox.emit(ack(txn.request(leg, ack_at)));
        }
        (Some(code), t + self.delay(node, self.profile(node).access_delay_ms))
    }

    /// Nobody answers: retransmit until Timer B/F, then 408 to the originator. The far leg is
    /// recorded as a timeout after Timer B/F; the P-CSCF stops retransmitting and answers the
    /// originator when its own, shorter timer fires.
    fn time_out(&mut self, hop: &Hop) -> (Option<u16>, u64) {
        let (txn, node, invite) = (&hop.txn, hop.txn.node(), hop.txn.is_invite());
        let give_up = hop.t_fwd + PROXY_GIVE_UP;
        self.retransmit_until(hop.t_fwd, give_up, invite, txn.request(hop.second, 0));
        self.outbox.record(txn.record(hop.second, false, hop.t_fwd, hop.t_fwd + TIMEOUT, None));
        let Some(leg) = hop.first else {
            return (None, give_up);
        };
        if !invite {
            self.retransmit_until(hop.t_in, give_up, false, txn.request(leg, 0));
        }
        self.outbox.emit(hop.response(leg, give_up, 408, 0));
        self.outbox.record(txn.record(leg, true, hop.t_in, give_up, Some(408)));
        if invite {
            let ack_at = give_up + self.delay(node, 2.0 * self.profile(node).access_delay_ms);
            self.outbox.emit(ack(txn.request(leg, ack_at)));
        }
        (Some(408), give_up)
    }

    /// The far side's answers on its leg (and the relayed provisionals on the originator's);
    /// returns when the final response reached the P-CSCF.
    fn answer_from_far_side(&mut self, hop: &Hop, outcome: &Outcome, last: Resp) -> u64 {
        let (txn, node, invite) = (&hop.txn, hop.txn.node(), hop.txn.is_invite());
        let first_answer = outcome
            .provisional
            .iter()
            .flatten()
            .map(|p| p.after)
            .min()
            .unwrap_or(last.after)
            .min(last.after);
        // A lost copy toward the answerer: it gets the retransmission one T1 later.
        let loss = match hop.second {
            Leg::Access => self.profile(node).background.downlink_loss,
            Leg::Core => self.profile(node).background.core_loss,
        };
        let lost = if self.rng(node).chance(loss) { T1 } else { 0 };
        let t_final = hop.t_fwd + lost + last.after;
        let until = hop.t_fwd + lost + first_answer;
        self.retransmit_until(hop.t_fwd, until, invite, txn.request(hop.second, 0));
        // A provisional overtaken by the final response is never sent.
        for provisional in outcome.provisional.iter().flatten().filter(|p| p.after < last.after) {
            let t = hop.t_fwd + lost + provisional.after;
            self.outbox.emit(hop.response(hop.second, t, provisional.code, provisional.flags));
            // 100 Trying is hop by hop: the P-CSCF sent its own.
            if provisional.code != 100
                && let Some(leg) = hop.first
            {
                let relay_at = t + self.processing(node, t);
                self.outbox.emit(hop.response(leg, relay_at, provisional.code, provisional.flags));
            }
        }
        self.outbox.emit(hop.response(hop.second, t_final, last.code, last.flags));
        self.outbox.record(txn.record(hop.second, false, hop.t_fwd, t_final, Some(last.code)));
        if invite && last.code >= 300 {
            let ack_at = t_final + self.processing(node, t_final);
            self.outbox.emit(ack(txn.request(hop.second, ack_at)));
        }
        t_final
    }

    /// The final response relayed to the originator; returns the code and when it got there.
    fn answer_originator(
        &mut self,
        hop: &Hop,
        leg: Leg,
        last: Resp,
        t_final: u64,
    ) -> (Option<u16>, u64) {
        let (txn, node, invite) = (&hop.txn, hop.txn.node(), hop.txn.is_invite());
        let relay_at = t_final + self.processing(node, t_final);
        if !invite {
            self.retransmit_until(hop.t_in, relay_at, false, txn.request(leg, 0));
        }
        self.outbox.emit(hop.response(leg, relay_at, last.code, last.flags));
        self.outbox.record(txn.record(leg, true, hop.t_in, relay_at, Some(last.code)));
        let mut back = relay_at + self.delay(node, self.profile(node).access_delay_ms);
        let loss = self.profile(node).background.downlink_loss;
        if leg == Leg::Access && self.rng(node).chance(loss) {
            // The answer is lost on the radio: the UE retransmits its request (an INVITE's
            // final answer is retransmitted by the P-CSCF itself), and gets the answer again.
            let again = relay_at + T1;
            if !invite {
                self.outbox.emit(SimMessage {
                    ts: again,
                    flags: txn.flags | flag::RETRANSMISSION,
                    ..txn.request(leg, again)
                });
            }
            let resend = hop.response(leg, again + 200, last.code, last.flags);
            self.outbox.emit(SimMessage { flags: resend.flags | flag::RETRANSMISSION, ..resend });
            back = again + self.delay(node, self.profile(node).access_delay_ms);
        }
        if invite && last.code >= 300 {
            let ack_at = back + self.delay(node, self.profile(node).access_delay_ms);
            self.outbox.emit(ack(txn.request(leg, ack_at)));
        }
        (Some(last.code), back)
    }

    /// Retransmissions of a request sent at `sent` while no answer came before `until`
    /// (RFC 3261 Timer A for INVITE, Timer E capped at T2 otherwise).
    pub(super) fn retransmit_until(
        &mut self,
        sent: u64,
        until: u64,
        invite: bool,
        template: SimMessage,
    ) {
        let mut interval = T1;
        let mut t = sent + interval;
        while t < until && t < sent + TIMEOUT {
            self.outbox.emit(SimMessage {
                ts: t,
                flags: template.flags | flag::RETRANSMISSION,
                ..template
            });
            interval = if invite { interval * 2 } else { (interval * 2).min(T2) };
            t += interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use imsight_parsers::sip::Method;

    use super::*;
    use crate::sim::engine::SECOND;
    use crate::sim::engine::testkit::{self, Collector, START};
    use crate::sim::engine::transaction::Dialog;

    const AT: u64 = START + 10 * SECOND;

    fn retransmissions(invite: bool, until: u64) -> Vec<u64> {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        let template =
            Dialog::new(0, Dir::Uplink, 1, 9).txn(Method::Invite, 1, 0).request(Leg::Core, 0);
        engine.retransmit_until(AT, until, invite, template);
        let out = testkit::finish(&mut engine);
        assert!(out.messages.iter().all(|m| m.flags == flag::RETRANSMISSION));
        out.messages.iter().map(|m| (m.ts - AT) / 1000).collect()
    }

    #[test]
    fn invite_retransmissions_double_from_t1_until_timer_b() {
        assert_eq!(retransmissions(true, u64::MAX), vec![500, 1500, 3500, 7500, 15_500, 31_500]);
    }

    #[test]
    fn other_retransmissions_double_up_to_t2_until_timer_f() {
        let expected: Vec<u64> =
            [500, 1500, 3500].into_iter().chain((7500..32_000).step_by(4000)).collect();
        assert_eq!(retransmissions(false, u64::MAX), expected);
    }

    #[test]
    fn retransmissions_stop_when_the_answer_comes() {
        assert_eq!(retransmissions(true, AT + 3 * SECOND), vec![500, 1500]);
        assert!(retransmissions(false, AT + 400_000).is_empty());
    }

    #[test]
    fn lost_ue_copies_delay_the_first_captured_request_by_the_timer_e_backoff() {
        let mut profile = testkit::profile();
        profile.access_loss = 1.0;
        let mut engine = testkit::quiet_engine(profile, &[]);
        let sms = Dialog::new(0, Dir::Uplink, 1, 9).txn(Method::Message, 1, 0);
        engine.relay(AT, sms, Outcome::answer(202, 20_000));
        let out = testkit::finish(&mut engine);
        // Copies at +0, +0.5, +1.5 and +3.5 s are lost; the model loses none once the interval
        // would exceed T2.
        assert_eq!(out.on(Leg::Access)[0].ts, AT + 7_500_000);
    }

    #[test]
    fn a_request_against_the_dialog_direction_enters_from_the_other_leg() {
        let call = Dialog::new(0, Dir::Uplink, 1, 9);
        assert_eq!(legs(&call.txn(Method::Bye, 10, flag::TO_TAG)), (Some(Leg::Access), Leg::Core));
        assert_eq!(legs(&call.txn(Method::Bye, 1, flag::REVERSE)), (Some(Leg::Core), Leg::Access));
        let keep_alive = Dialog::new(0, Dir::FromPcscf, 0, 9);
        assert_eq!(legs(&keep_alive.txn(Method::Options, 1, 0)), (None, Leg::Core));
    }

    #[test]
    fn a_provisional_overtaken_by_the_final_answer_is_not_sent() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        let call = Dialog::new(0, Dir::Uplink, 1, 9);
        let outcome = Outcome {
            provisional: [Some(Resp::new(100, 10_000)), Some(Resp::new(180, 90_000)), None],
            last: Some(Resp::new(404, 50_000)),
            ..Outcome::default()
        };
        let (code, _) = engine.relay(AT, call.txn(Method::Invite, 1, flag::SDP), outcome);
        assert_eq!(code, Some(404));
        let out = testkit::finish(&mut engine);
        assert_eq!(
            Collector::summary(&out.on(Leg::Core)),
            vec!["INVITE 1", "100 INVITE 1", "404 INVITE 1", "ACK 1"]
        );
    }
}
