//! Calls: the INVITE transaction and what the callee (or the core, or the P-CSCF) answers,
//! PRACK and UPDATE for 100rel calls, CANCEL when the caller gives up while ringing, the ACK
//! of the 2xx, session refreshes (RFC 4028), and the BYE when the call ends.

use imsight_parsers::sip::Method;

use crate::sim::fault::FaultKind;
use crate::sim::wire::{Dir, Leg, SimMessage, flag};

use super::core::Route;
use super::events::EventKind;
use super::transaction::{Dialog, Outcome, Resp, Txn};
use super::{Engine, SECOND};

/// A call about to be placed, with the choices made for it before the INVITE leaves.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallSetup {
    pub dialog: Dialog,
    /// The subscriber calls (mobile originated); otherwise the core brings the call in.
    pub mo: bool,
    /// Part of an INVITE flood.
    pub flood: bool,
    /// 100rel: a reliable 183, which the caller PRACKs, instead of a 180.
    pub prack: bool,
    /// Preconditions: an UPDATE follows the PRACK.
    pub update: bool,
    pub invite_flags: u16,
}

/// Spread (log-normal sigma) of call holding times: cellular holding times are log-normal,
/// with many short calls and a long tail (docs/simulator.md).
const HOLDING_SIGMA: f64 = 1.2;

impl Engine {
    /// A call attempt at `at` (`flood`: one of an INVITE flood's).
    pub(super) fn call(&mut self, node: u16, at: u64, flood: bool) {
        let Some(call) = self.place_call(node, at, flood) else {
            return;
        };
        let Some(outcome) = self.invite_outcome(at, &call) else {
            return;
        };
        let session_expires = self.profile(node).vendor.session_expires_s;
        let invite =
            call.dialog.txn(Method::Invite, 1, call.invite_flags).expiring(session_expires);
        let (code, answered) = self.relay(at, invite, outcome);
        if outcome.restore {
            self.restore_registration(node, answered, call.dialog.sub);
        }
        if call.prack && code.is_some() {
            // prack_update does nothing when no reliable 183 came.
            self.prack_update(at, &call, outcome);
        }
        if code == Some(200) {
            self.established(&call, answered);
        }
    }

    /// Who calls whom, and how; `None` when the call never reaches this P-CSCF.
    fn place_call(&mut self, node: u16, at: u64, flood: bool) -> Option<CallSetup> {
        let profile = self.profile(node);
        let (originating, prack, update) =
            (profile.originating_share, profile.prack_share, profile.update_share);
        let sub = if flood {
            // A flood comes from a few registered UEs (a hijacked device, a dialler); a source
            // that is not registered is replaced by one that is.
            let state = &mut self.nodes[node as usize];
            let pick = state.rng.below(state.flood_sources.len() as u64) as usize;
            let mut source = state.flood_sources[pick];
            for _ in 0..8 {
                if self.registered(node, source, at) {
                    break;
                }
                source = self.active_subscriber(node);
            }
            self.nodes[node as usize].flood_sources[pick] = source;
            source
        } else {
            self.active_subscriber(node)
        };
        if !self.registered(node, sub, at) {
            // An unregistered UE cannot call, and the S-CSCF rejects calls to it itself.
            return None;
        }
        let mo = flood || self.rng(node).chance(originating);
        if !mo && !self.core_reaches_node(node, at, sub) {
            // Terminating traffic comes from the core: gone if the core cannot reach us.
            return None;
        }
        let dir = if mo { Dir::Uplink } else { Dir::Downlink };
        let other = self.rng(node).below(10_000_000) as u32;
        let id = self.id();
        let prack = !flood && self.rng(node).chance(prack);
        let update = prack && self.rng(node).chance(update);
        let invite_flags = if flood { flag::SDP | flag::FLOOD } else { flag::SDP };
        let dialog = Dialog::new(node, dir, sub, id).with_other(other);
        Some(CallSetup { dialog, mo, flood, prack, update, invite_flags })
    }

    /// Whether the P-CSCF's per-UE rate limit refuses a request of `sub` at `at` (a token
    /// bucket of one second's worth).
    fn rate_limited(&mut self, node: u16, at: u64, sub: u32) -> bool {
        let rate = self.profile(node).vendor.ue_rate_limit_per_s;
        if rate <= 0.0 {
            return false;
        }
        // A bucket of one second's worth, at least one request.
        let limit = rate.max(1.0);
        let (tokens, last) = self.nodes[node as usize].buckets.entry(sub).or_insert((limit, at));
        let refill = at.saturating_sub(*last) as f64 / SECOND as f64 * rate;
        *tokens = (*tokens + refill).min(limit);
        *last = at;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            false
        } else {
            true
        }
    }

    /// What the INVITE meets; `None` when the P-CSCF rejects the answered call itself (Rx),
    /// which `rx_failure_call` has then played out.
    fn invite_outcome(&mut self, at: u64, call: &CallSetup) -> Option<Outcome> {
        let (node, sub) = (call.dialog.node, call.dialog.sub);
        if call.flood && self.rate_limited(node, at, sub) {
            return Some(Outcome::local(503));
        }
        let failure = if call.mo {
            self.uplink_failure(node, at, sub, Route::Initial, true)
        } else {
            self.downlink_failure(node, at, sub)
        };
        if let Some(failure) = failure {
            return Some(failure);
        }
        let fault = self.active(node, at);
        let rx_code = self.profile(node).vendor.rx_failure_code;
        let rx_failure = self.rng(node).chance(fault.for_sub(FaultKind::PcrfRxFailure, sub));
        let mut hold = 0;
        if rx_failure && rx_code == 0 {
            // Continue without QoS once the Diameter request has timed out: a slow set-up.
            hold = self.delay(node, 3000.0);
        } else if rx_failure && !call.mo {
            // The SDP offer cannot be authorised on Rx: rejected toward the core at once.
            return Some(Outcome::local(rx_code));
        }
        let core_ms = self.profile(node).core_response_ms * self.core_slowdown(node, at);
        if call.flood {
            return Some(self.flood_outcome(call, core_ms));
        }
        let outcome = self.callee_outcome(at + hold, call, core_ms, rx_failure && rx_code != 0)?;
        Some(Outcome { hold, ..outcome })
    }

    /// Flood INVITEs mostly go to numbers that do not exist or cannot be reached.
    fn flood_outcome(&mut self, call: &CallSetup, core_ms: f64) -> Outcome {
        let code = match self.rng(call.dialog.node).below(20) {
            0..=11 => 404,
            12..=16 => 480,
            _ => 403,
        };
        let trying = Resp::new(100, self.answer_delay(call, core_ms));
        let last = Resp::new(code, self.answer_delay(call, core_ms * 3.0));
        Outcome { provisional: [Some(trying), None, None], last: Some(last), ..Outcome::default() }
    }

    /// A call that reaches the callee: answered, busy, unavailable, unknown, declined,
    /// refused, unanswered, or cancelled while ringing (the CANCEL is relayed from here).
    /// `rx_rejects`: the answer's media cannot be authorised and the P-CSCF rejects the call.
    fn callee_outcome(
        &mut self,
        at: u64,
        call: &CallSetup,
        core_ms: f64,
        rx_rejects: bool,
    ) -> Option<Outcome> {
        let node = call.dialog.node;
        let ringing_s = self.profile(node).ringing_s;
        let no_answer_s = self.profile(node).background.no_answer_s;
        let trying = self.answer_delay(call, core_ms);
        let progress = trying + self.answer_delay(call, 900.0);
        let result = self.call_result(node);
        let mut outcome = Outcome::default();
        outcome.provisional[0] = Some(Resp::new(100, trying));
        if !matches!(result, CallResult::Refused(_)) {
            let early = if call.prack {
                Resp { code: 183, after: progress, flags: flag::SDP | flag::RELIABLE }
            } else {
                Resp::new(180, progress)
            };
            outcome.provisional[1] = Some(early);
            if call.prack {
                // With preconditions met (after PRACK and UPDATE), the callee rings: 180.
                outcome.provisional[2] =
                    Some(Resp::new(180, progress + self.answer_delay(call, 600.0)));
            }
        }
        let ringing = (self.rng(node).lognormal(ringing_s, 0.5) * SECOND as f64) as u64;
        let (code, last_after) = match result {
            CallResult::Answered => (200, progress + ringing),
            CallResult::Cancelled => (487, progress + ringing / 2),
            CallResult::Busy => (486, progress + self.answer_delay(call, 1500.0)),
            CallResult::Declined => (603, progress + ringing / 3),
            CallResult::NoAnswer => (480, progress + (no_answer_s * SECOND as f64) as u64),
            CallResult::Refused(code) => (code, self.answer_delay(call, core_ms * 2.0 + 300.0)),
        };
        let last_flags = if code == 200 { flag::SDP } else { 0 };
        outcome.last = Some(Resp { code, after: last_after, flags: last_flags });
        if code == 487 {
            // The caller gives up while ringing: CANCEL, then the 487 answers the INVITE.
            self.cancel(at, call.dialog, progress + ringing / 2);
        }
        if rx_rejects && call.mo && code == 200 {
            // The answer's SDP cannot be authorised: the P-CSCF rejects the call itself.
            let rx_code = self.profile(node).vendor.rx_failure_code;
            self.rx_failure_call(at, call, progress, rx_code);
            return None;
        }
        Some(outcome)
    }

    /// The callee's (or the core's) final answer, drawn from the profile's shares.
    fn call_result(&mut self, node: u16) -> CallResult {
        let profile = self.profile(node);
        let b = &profile.background;
        let shares = [
            (profile.busy_share, CallResult::Busy),
            (profile.unavailable_share, CallResult::Refused(480)),
            (profile.not_found_share, CallResult::Refused(404)),
            (profile.cancel_share, CallResult::Cancelled),
            (b.decline_share, CallResult::Declined),
            (b.no_answer_share, CallResult::NoAnswer),
            (b.forbidden_share, CallResult::Refused(403)),
            (b.not_acceptable_share, CallResult::Refused(488)),
            (b.precondition_failure_share, CallResult::Refused(580)),
        ];
        let pick = self.rng(node).unit();
        let mut acc = 0.0;
        for (share, result) in shares {
            acc += share;
            if pick < acc {
                return result;
            }
        }
        CallResult::Answered
    }

    /// Time for the answerer to respond: the core for a call the subscriber places, the UE
    /// (across the access network, paged when idle) for one it receives.
    fn answer_delay(&mut self, call: &CallSetup, median_ms: f64) -> u64 {
        let node = call.dialog.node;
        if call.mo {
            self.delay(node, median_ms)
        } else {
            let ms = self.ue_answer_ms(node, median_ms);
            self.delay(node, ms)
        }
    }

    /// PRACK for the reliable 183 (and an UPDATE for preconditions), from the caller side,
    /// while the INVITE is still pending.
    fn prack_update(&mut self, at: u64, call: &CallSetup, outcome: Outcome) {
        let Some(progress) = outcome.provisional[1] else { return };
        let Some(last) = outcome.last else { return };
        let node = call.dialog.node;
        let access = self.profile(node).access_delay_ms;
        let mut t = at + outcome.hold + progress.after + self.delay(node, 2.0 * access + 10.0);
        let budget = at + outcome.hold + last.after;
        let steps = [(Method::Prack, flag::TO_TAG), (Method::Update, flag::TO_TAG | flag::SDP)];
        for (cseq, (method, flags)) in (2..).zip(steps) {
            if method == Method::Update && !call.update {
                break;
            }
            if t >= budget {
                break;
            }
            let (_, done) = self.in_dialog(t, call.dialog.txn(method, cseq, flags));
            t = done + self.delay(node, 20.0);
        }
    }

    /// A request of the caller inside the call, toward the callee.
    fn in_dialog(&mut self, at: u64, txn: Txn) -> (Option<u16>, u64) {
        let node = txn.node();
        let toward_core = (txn.dialog.dir == Dir::Uplink) != (txn.flags & flag::REVERSE != 0);
        if toward_core {
            let core_ms = self.profile(node).core_response_ms;
            self.send_to_core(at, txn, Route::InDialog, 200, core_ms)
        } else if self.core_reaches_node(node, at, txn.dialog.sub) {
            self.send_to_ue(at, txn, 10.0)
        } else {
            (None, at)
        }
    }

    /// The caller's CANCEL, sent shortly before the callee's 487 (`after` the INVITE).
    fn cancel(&mut self, at: u64, call: Dialog, after: u64) {
        let t = at + after.saturating_sub(self.delay(call.node, 40.0));
        let far = self.delay(call.node, self.profile(call.node).core_response_ms);
        self.relay(t, call.txn(Method::Cancel, 1, 0), Outcome::answer(200, far));
    }

    /// The caller got the 200 at `answered`: it ACKs, refreshes the session while it lasts,
    /// and the call ends after its holding time.
    fn established(&mut self, call: &CallSetup, answered: u64) {
        let node = call.dialog.node;
        let ack = call.dialog.txn(Method::Ack, 1, flag::TO_TAG | flag::ACK_2XX);
        let ack_at = answered + self.delay(node, 15.0);
        self.ack_both_legs(ack_at, ack);
        let mean_s = self.profile(node).holding_time_s;
        let median_s = mean_s / (HOLDING_SIGMA * HOLDING_SIGMA / 2.0).exp();
        let holding = self.rng(node).lognormal(median_s, HOLDING_SIGMA).clamp(2.0, 4.0 * 3600.0);
        let end = answered + (holding * SECOND as f64) as u64;
        let half = u64::from(self.profile(node).vendor.session_expires_s) * SECOND / 2;
        if answered + half < end {
            let refresh = EventKind::SessionRefresh { call: call.dialog, cseq: 4, end };
            self.schedule(answered + half, node, refresh);
        }
        self.schedule(end, node, EventKind::CallEnd(call.dialog));
    }

    /// The caller refreshes the session with an UPDATE (RFC 4028 §9), then again at the next
    /// half-interval while the call lasts; CSeq stays below the caller's BYE.
    pub(super) fn refresh_session(&mut self, at: u64, call: Dialog, cseq: u32, end: u64) {
        let session_expires = self.profile(call.node).vendor.session_expires_s;
        let refresh = call.txn(Method::Update, cseq, flag::TO_TAG).expiring(session_expires);
        let (_, done) = self.in_dialog(at, refresh);
        let half = u64::from(session_expires) * SECOND / 2;
        let next = at + half;
        if next < end && done < next && cseq < 9 {
            let refresh = EventKind::SessionRefresh { call, cseq: cseq + 1, end };
            self.schedule(next, call.node, refresh);
        }
    }

    /// The ACK of a 2xx crosses both legs (no response).
    fn ack_both_legs(&mut self, at: u64, ack: Txn) {
        let (first, second) = match ack.dialog.dir {
            Dir::Downlink => (Leg::Core, Leg::Access),
            _ => (Leg::Access, Leg::Core),
        };
        let message = ack.request(first, at);
        self.outbox.emit(message);
        let forward = at + self.processing(ack.node(), at);
        self.outbox.emit(SimMessage { ts: forward, leg: second, ..message });
    }

    /// The established `call` ends: caller or callee sends BYE (or 481 when the other side
    /// had already cleared).
    pub(super) fn hang_up(&mut self, at: u64, call: Dialog) {
        let node = call.node;
        let callee_hangs_up = self.rng(node).chance(0.45);
        let flags = if callee_hangs_up { flag::TO_TAG | flag::REVERSE } else { flag::TO_TAG };
        // The caller's INVITE, PRACK, UPDATE and refreshes came first; the callee's BYE is its
        // first request.
        let cseq = if callee_hangs_up { 1 } else { 10 };
        let bye = call.txn(Method::Bye, cseq, flags);
        let gone = self.profile(node).background.gone_share;
        if self.rng(node).chance(gone) {
            let far_ms = self.profile(node).core_response_ms;
            let after = self.delay(node, far_ms);
            self.relay(at, bye, Outcome::answer(481, after));
            return;
        }
        self.in_dialog(at, bye);
    }
}

/// How a call attempt ends at the far side.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CallResult {
    Answered,
    Busy,
    Cancelled,
    Declined,
    NoAnswer,
    /// Refused before ringing, with this code.
    Refused(u16),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::testkit::{self, Collector, START};
    use crate::sim::engine::{PROXY_GIVE_UP, TxnRecord};

    const AT: u64 = START + 10 * SECOND;

    fn record(out: &Collector, leg: Leg, method: Method<'_>) -> TxnRecord {
        *out.records
            .iter()
            .find(|r| r.leg == leg && r.method == method)
            .unwrap_or_else(|| panic!("no {method:?} record on {leg:?}"))
    }

    #[test]
    fn an_answered_call_rings_is_acked_and_hung_up() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.call(0, AT, false);
        let out = testkit::run(&mut engine);
        let access = out.on(Leg::Access);
        let bye = access.iter().find(|m| m.method == Method::Bye).expect("a BYE");
        // The callee's BYE is its first request in the dialog; the caller's comes after its
        // INVITE (and any PRACK/UPDATE).
        let bye_cseq = if bye.flags & flag::REVERSE != 0 { 1 } else { 10 };
        assert_eq!(
            Collector::summary(&access),
            vec![
                "INVITE 1".to_owned(),
                "100 INVITE 1".to_owned(),
                "180 INVITE 1".to_owned(),
                "200 INVITE 1".to_owned(),
                "ACK 1".to_owned(),
                format!("BYE {bye_cseq}"),
                format!("200 BYE {bye_cseq}"),
            ]
        );
        let [invite, trying, ringing, ok, ack, bye, _] = access[..] else { panic!() };
        assert!(trying.ts - invite.ts < 50_000, "100 Trying from the P-CSCF at once");
        let to_ringing = ringing.ts - invite.ts;
        assert!((500_000..2 * SECOND).contains(&to_ringing), "{to_ringing}");
        let to_answer = ok.ts - ringing.ts;
        assert!((SECOND..60 * SECOND).contains(&to_answer), "{to_answer}");
        assert!(ack.ts > ok.ts && ack.ts - ok.ts < 200_000, "{}", ack.ts - ok.ts);
        assert_eq!(ack.flags, flag::TO_TAG | flag::ACK_2XX);
        assert!(bye.ts >= ok.ts + 2 * SECOND, "calls last at least two seconds");
        assert_eq!(ok.flags & flag::SDP, flag::SDP, "the answer carries SDP");
        // One dialog, one Call-ID seed, on both legs.
        assert!(out.messages.iter().all(|m| m.dialog == invite.dialog));
        // The 2xx ACK crosses the core leg too, after the access copy.
        let core_ack = out.on(Leg::Core).into_iter().find(|m| m.method == Method::Ack);
        assert!(core_ack.expect("ACK on the core leg").ts >= ack.ts);
        assert_eq!(record(&out, Leg::Access, Method::Invite).result, Some(200));
        assert_eq!(record(&out, Leg::Core, Method::Invite).result, Some(200));
    }

    #[test]
    fn a_call_given_up_while_ringing_is_cancelled_487_and_acked() {
        let mut profile = testkit::profile();
        profile.cancel_share = 1.0;
        let mut engine = testkit::quiet_engine(profile, &[]);
        engine.call(0, AT, false);
        let out = testkit::finish(&mut engine);
        let ladder = [
            "INVITE 1",
            "100 INVITE 1",
            "180 INVITE 1",
            "CANCEL 1",
            "200 CANCEL 1",
            "487 INVITE 1",
            "ACK 1",
        ];
        assert_eq!(Collector::summary(&out.on(Leg::Access)), ladder);
        assert_eq!(Collector::summary(&out.on(Leg::Core)), ladder);
        // CANCEL and the non-2xx ACK belong to the INVITE transaction (same branch).
        let access = out.on(Leg::Access);
        assert_eq!(access[3].txn, access[0].txn);
        assert_eq!(access[6].txn, access[0].txn);
        assert_eq!(record(&out, Leg::Access, Method::Cancel).result, Some(200));
        assert_eq!(record(&out, Leg::Access, Method::Invite).result, Some(487));
        assert!(engine.agenda.next().is_none(), "no call to hang up");
    }

    #[test]
    fn a_busy_callee_gives_486_without_ringing() {
        let mut profile = testkit::profile();
        profile.busy_share = 1.0;
        let mut engine = testkit::quiet_engine(profile, &[]);
        engine.call(0, AT, false);
        let out = testkit::finish(&mut engine);
        assert_eq!(
            Collector::summary(&out.on(Leg::Access)),
            vec!["INVITE 1", "100 INVITE 1", "180 INVITE 1", "486 INVITE 1", "ACK 1"]
        );
    }

    #[test]
    fn a_100rel_call_is_pracked_and_updated_before_the_answer() {
        let mut profile = testkit::profile();
        (profile.prack_share, profile.update_share) = (1.0, 1.0);
        let mut engine = testkit::quiet_engine(profile, &[]);
        engine.call(0, AT, false);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        assert_eq!(
            Collector::summary(&access),
            vec![
                "INVITE 1",
                "100 INVITE 1",
                "183 INVITE 1",
                "PRACK 2",
                "200 PRACK 2",
                "UPDATE 3",
                "200 UPDATE 3",
                "180 INVITE 1",
                "200 INVITE 1",
                "ACK 1",
            ]
        );
        assert_eq!(access[2].flags & (flag::SDP | flag::RELIABLE), flag::SDP | flag::RELIABLE);
        assert_eq!(access[5].flags, flag::TO_TAG | flag::SDP);
    }

    #[test]
    fn a_terminating_call_comes_from_the_core_and_rings_the_ue() {
        let mut profile = testkit::profile();
        profile.originating_share = 0.0;
        let mut engine = testkit::quiet_engine(profile, &[]);
        engine.call(0, AT, false);
        let out = testkit::finish(&mut engine);
        let core = out.on(Leg::Core);
        assert_eq!((core[0].method, core[0].dir), (Method::Invite, Dir::Downlink));
        assert!(core[0].inbound());
        // The UE's 100 Trying is hop by hop: the P-CSCF sent its own toward the core.
        let ladder = ["INVITE 1", "100 INVITE 1", "180 INVITE 1", "200 INVITE 1", "ACK 1"];
        assert_eq!(Collector::summary(&out.on(Leg::Access)), ladder);
        assert_eq!(Collector::summary(&core), ladder);
        assert_eq!(core[1].ts, out.on(Leg::Access)[0].ts, "Trying as the INVITE is forwarded");
    }

    #[test]
    fn with_the_scscf_down_a_call_times_out_until_the_pcscf_blacklists_it_then_gets_503() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::ScscfDown]);
        engine.call(0, AT, false);
        let out = testkit::finish(&mut engine);
        let access = Collector::summary(&out.on(Leg::Access));
        assert_eq!(access.last().map(String::as_str), Some("ACK 1"));
        assert!(access.contains(&"408 INVITE 1".to_owned()), "{access:?}");
        // Once failed keep-alives have blacklisted the S-CSCF, the P-CSCF answers at once.
        engine.nodes[0].blacklisted_from = START;
        engine.call(0, AT + 60 * SECOND, false);
        let out = testkit::finish(&mut engine);
        assert_eq!(
            Collector::summary(&out.on(Leg::Access)),
            vec!["INVITE 1", "503 INVITE 1", "ACK 1"]
        );
        assert!(out.on(Leg::Core).is_empty());
        // S-CSCF restoration: both failures send the UE to register again.
        let registrations = std::iter::from_fn(|| engine.agenda.next())
            .filter(|e| matches!(e.kind, EventKind::Register { initial: true, .. }))
            .count();
        assert!(registrations >= 1, "{registrations}");
    }

    #[test]
    fn an_unanswered_invite_is_retransmitted_on_timer_a_and_the_ue_gets_408() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::TrafficBlocked]);
        engine.call(0, AT, false);
        let out = testkit::finish(&mut engine);
        let core = out.on(Leg::Core);
        let sent = core[0].ts;
        let offsets_ms: Vec<u64> = core[1..].iter().map(|m| (m.ts - sent) / 1000).collect();
        // T1 doubling without a cap, until the P-CSCF gives up at 30 s.
        assert_eq!(offsets_ms, vec![500, 1500, 3500, 7500, 15_500]);
        assert!(core[1..].iter().all(|m| m.flags & flag::RETRANSMISSION != 0));
        let access = out.on(Leg::Access);
        assert_eq!(
            Collector::summary(&access),
            vec!["INVITE 1", "100 INVITE 1", "408 INVITE 1", "ACK 1"],
            "the 100 Trying stops the UE's retransmissions"
        );
        assert_eq!(access[2].ts, sent + PROXY_GIVE_UP);
        assert_eq!(record(&out, Leg::Core, Method::Invite).result, None);
    }

    #[test]
    fn flood_invites_go_mostly_to_numbers_that_do_not_answer() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        for i in 0..40 {
            engine.call(0, AT + i * SECOND, true);
        }
        let out = testkit::finish(&mut engine);
        let finals: Vec<u16> = out
            .on(Leg::Access)
            .iter()
            .filter(|m| m.status >= 200)
            .inspect(|m| assert_eq!(m.flags & flag::FLOOD, flag::FLOOD))
            .map(|m| m.status)
            .collect();
        assert_eq!(finals.len(), 40);
        assert!(finals.iter().all(|code| [403, 404, 480].contains(code)), "{finals:?}");
        assert!(finals.iter().filter(|&&code| code == 404).count() > 10, "{finals:?}");
    }

    #[test]
    fn a_dead_scscf_answers_no_bye() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::ScscfDown]);
        for id in 0..20 {
            let dir = if id % 2 == 0 { Dir::Uplink } else { Dir::Downlink };
            engine.hang_up(AT + id * SECOND, Dialog::new(0, dir, id as u32, 1000 + id));
        }
        let out = testkit::finish(&mut engine);
        let answered = out.messages.iter().filter(|m| m.method == Method::Bye && m.status == 200);
        assert_eq!(answered.count(), 0);
        // BYEs toward the core time out; those the core would send never come.
        assert!(out.records.iter().any(|r| r.method == Method::Bye && r.result.is_none()));
    }
}
