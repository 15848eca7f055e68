//! Registration: REGISTER, the 401 AKA challenge, REGISTER with credentials, 200 OK; then
//! refreshes before the binding expires, and retries with back-off after a failure.

use imsight_parsers::sip::Method;

use crate::sim::fault::{ActiveFault, FaultKind};
use crate::sim::wire::{CorePeer, Dir, flag};

use super::events::EventKind;
use super::transaction::{Dialog, Outcome, Resp};
use super::{Engine, SECOND};

impl Engine {
    /// Subscriber `sub` registers at `at`; `initial` when it has just attached (it then also
    /// subscribes to its registration state).
    pub(super) fn register(&mut self, node: u16, at: u64, sub: u32, initial: bool) {
        let id = self.id();
        // The fault of the first attempt's minute holds for the whole exchange.
        let fault = self.active(node, at);
        let registration = Dialog::new(node, Dir::Uplink, sub, id).via(CorePeer::Icscf);
        let mut cseq = 1;
        let mut t = at;
        for auth in [false, true] {
            let outcome = self.register_outcome(node, t, fault, auth);
            let flags = if auth { flag::AUTH } else { 0 };
            let (code, answered) =
                self.relay(t, registration.txn(Method::Register, cseq, flags), outcome);
            match code {
                Some(401) if !auth => {
                    // The UE computes its AKA response and registers again.
                    t = answered + self.delay(node, 60.0);
                    cseq += 1;
                }
                Some(200) => {
                    self.bind(registration, answered, initial);
                    return;
                }
                _ => break,
            }
        }
        // Failed: retry later (Retry-After or back-off); the old binding lasts until it expires.
        let wait = (self.rng(node).exponential(60.0) + 20.0) * SECOND as f64;
        self.schedule(t + wait as u64, node, EventKind::Register { sub, initial: true });
    }

    /// The registration was accepted when the UE got the 200 at `answered`.
    fn bind(&mut self, registration: Dialog, answered: u64, initial: bool) {
        let Dialog { node, sub, .. } = registration;
        let expires = u64::from(self.profile(node).registration_expires_s) * SECOND;
        self.set_registered_until(node, sub, answered + expires);
        // UEs spread their refreshes; after an outage they would otherwise stay in step.
        let jitter = self.rng(node).below(expires / 6);
        let refresh_at = answered + expires * 9 / 10 - jitter;
        self.schedule(refresh_at, node, EventKind::Register { sub, initial: false });
        if initial {
            let subscribe_at = answered + self.delay(node, 40.0);
            self.reg_event(node, subscribe_at, sub);
        }
    }

    /// What the core does with one REGISTER (`auth`: the one with credentials).
    fn register_outcome(&mut self, node: u16, at: u64, fault: ActiveFault, auth: bool) -> Outcome {
        if self.rng(node).unit() < 0.4 * fault.of(FaultKind::CapacityLimit) {
            return Outcome::local(503);
        }
        let hss = fault.of(FaultKind::HssLinkDown);
        let blocked = fault.of(FaultKind::TrafficBlocked);
        let scscf = fault.of(FaultKind::ScscfDown);
        let storm = fault.of(FaultKind::RegistrationStorm);
        let roll = self.rng(node).unit();
        let median = self.profile(node).register_response_ms * self.core_slowdown(node, at);
        if roll < blocked {
            return Outcome::silence();
        }
        let last = if roll < blocked + hss {
            // The I-CSCF waits for the HSS (Diameter Tx timer), then gives up.
            Resp::new(480, self.delay(node, 4500.0))
        } else if roll < blocked + hss + scscf {
            // The I-CSCF cannot reach the S-CSCF.
            Resp::new(504, self.delay(node, 5000.0))
        } else if roll < blocked + hss + scscf + 0.3 * storm {
            Resp::new(503, self.delay(node, median))
        } else {
            Resp::new(if auth { 200 } else { 401 }, self.delay(node, median))
        };
        Outcome { last: Some(last), ..Outcome::default() }
    }
}

#[cfg(test)]
mod tests {
    use imsight_parsers::sip::Method;

    use super::*;
    use crate::sim::engine::testkit::{self, Collector, START};
    use crate::sim::fault::FaultKind;
    use crate::sim::wire::Leg;

    const AT: u64 = START + 10 * SECOND;

    #[test]
    fn an_initial_registration_is_challenged_then_accepted_then_subscribes() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.register(0, AT, 7, true);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        assert_eq!(
            Collector::summary(&access),
            vec![
                "REGISTER 1",
                "401 REGISTER 1",
                "REGISTER 2",
                "200 REGISTER 2",
                "SUBSCRIBE 1",
                "200 SUBSCRIBE 1",
                "NOTIFY 2",
                "200 NOTIFY 2",
            ]
        );
        assert_eq!(access[0].ts, AT, "no loss configured, the first copy arrives");
        assert_eq!(access[2].flags & flag::AUTH, flag::AUTH);
        assert_eq!(access[0].flags & flag::AUTH, 0);
        // Both REGISTERs are one dialog (one Call-ID), to the I-CSCF on the core leg.
        assert_eq!(access[0].dialog, access[2].dialog);
        let core = out.on(Leg::Core);
        assert!(
            core.iter().filter(|m| m.method == Method::Register).all(|m| m.peer == CorePeer::Icscf)
        );
        // The UE answers the challenge after its AKA computation (around 60 ms).
        let think = access[2].ts - access[1].ts;
        assert!((20_000..200_000).contains(&think), "{think}");
        // The binding lasts the granted Expires from the 200, and a refresh is scheduled
        // before it runs out.
        let expires = u64::from(testkit::profile().registration_expires_s) * SECOND;
        let bound = engine.nodes[0].registered_until[7];
        assert!(bound > access[3].ts + expires && bound < access[3].ts + expires + SECOND);
        assert_eq!(out.records.iter().filter(|r| r.result == Some(200)).count(), 6);
    }

    #[test]
    fn a_refresh_does_not_subscribe_again() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[]);
        engine.register(0, AT, 7, false);
        let out = testkit::finish(&mut engine);
        let methods: Vec<_> = out.on(Leg::Access).iter().map(|m| m.method).collect();
        assert_eq!(methods, vec![Method::Register; 4]);
    }

    #[test]
    fn with_the_hss_link_down_the_icscf_answers_480_after_its_diameter_timeout() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::HssLinkDown]);
        engine.register(0, AT, 7, true);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        // The UE retransmits on Timer E while the I-CSCF waits.
        let again = "REGISTER 1 again";
        assert_eq!(
            Collector::summary(&access),
            vec!["REGISTER 1", again, again, again, "480 REGISTER 1"]
        );
        let waited = access[4].ts - access[0].ts;
        assert!((3 * SECOND..7 * SECOND).contains(&waited), "{waited}");
        // The UE backs off at least 20 s from its attempt and tries again as an initial
        // registration.
        let retry = engine.agenda.next().expect("a retry");
        assert!(retry.at >= AT + 20 * SECOND, "{}", retry.at - AT);
        assert!(out.records.iter().all(|r| r.result == Some(480)));
        assert!(matches!(retry.kind, EventKind::Register { sub: 7, initial: true }));
    }

    #[test]
    fn with_the_scscf_down_registration_fails_with_504() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::ScscfDown]);
        engine.register(0, AT, 7, true);
        let out = testkit::finish(&mut engine);
        let again = "REGISTER 1 again";
        assert_eq!(
            Collector::summary(&out.on(Leg::Access)),
            vec!["REGISTER 1", again, again, again, "504 REGISTER 1"]
        );
    }

    #[test]
    fn when_traffic_is_blocked_the_ue_gets_408_and_the_core_leg_times_out() {
        let mut engine = testkit::quiet_engine(testkit::profile(), &[FaultKind::TrafficBlocked]);
        engine.register(0, AT, 7, true);
        let out = testkit::finish(&mut engine);
        let access = out.on(Leg::Access);
        let last = access.last().expect("a final response");
        assert_eq!((last.status, last.method), (408, Method::Register));
        let forwarded = out.on(Leg::Core)[0].ts;
        assert_eq!(last.ts, forwarded + 30 * SECOND);
        let core_record = out.records.iter().find(|r| r.leg == Leg::Core).expect("core record");
        assert_eq!((core_record.result, core_record.end), (None, forwarded + 32 * SECOND));
    }
}
