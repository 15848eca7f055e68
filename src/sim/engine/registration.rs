//! Registration: REGISTER, the 401 AKA challenge, REGISTER with credentials, 200 OK with the
//! granted lifetime; then one refresh timer per UE (3GPP TS 24.229 timing), retries after a
//! failure (RFC 5626 back-off or the 503's Retry-After), power-off (Expires: 0) and
//! network-initiated de-registration.

use imsight_parsers::sip::Method;

use crate::sim::fault::FaultKind;
use crate::sim::wire::{CorePeer, Dir, Leg, flag};

use super::core::Route;
use super::events::EventKind;
use super::node::refresh_after;
use super::transaction::{Dialog, Outcome};
use super::{Engine, SECOND};

impl Engine {
    /// Subscriber `sub` registers at `at`; `initial` when it registers from scratch (it is
    /// challenged, and it and the P-CSCF then subscribe to its registration state). The
    /// caller has started the subscriber's timer generation this attempt belongs to.
    pub(super) fn register(&mut self, node: u16, at: u64, sub: u32, initial: bool) {
        let id = self.id();
        let registration = Dialog::new(node, Dir::Uplink, sub, id).via(CorePeer::Icscf);
        let granted = self.granted_expires(node);
        let reauthenticate = self.profile(node).vendor.reauthentication_share;
        let challenged = initial || self.rng(node).chance(reauthenticate);
        let steps: &[bool] = if challenged { &[false, true] } else { &[true] };
        let (mut cseq, mut t) = (1, at);
        let mut last = (None, at, 0);
        for &auth in steps {
            let flags = if auth { flag::AUTH } else { 0 };
            let txn = registration.txn(Method::Register, cseq, flags).expiring(granted);
            // Refreshes travel over the UE's IPsec associations; an initial REGISTER does not.
            let outcome = self.register_outcome(node, t, sub, auth, !initial);
            let (code, answered) = self.relay(t, txn, outcome);
            last = (code, answered, txn.request(Leg::Access, 0).txn);
            match code {
                Some(401) if !auth => {
                    // The UE computes its AKA response and registers again.
                    t = answered + self.delay(node, 60.0);
                    cseq += 1;
                }
                Some(200) => {
                    if initial {
                        self.nodes[node as usize].associated_at[sub as usize] = answered;
                    }
                    self.bind(registration, answered, granted, initial);
                    return;
                }
                _ => break,
            }
        }
        // Failed: retry from scratch later; the old binding lasts until it expires.
        let (code, answered, txn) = last;
        let wait = self.registration_back_off(node, sub, code, txn);
        let timer = self.new_generation(node, sub);
        self.schedule(answered + wait, node, EventKind::Register { sub, initial: true, timer });
    }

    /// The lifetime the registrar grants: the profile's, spread down a little.
    fn granted_expires(&mut self, node: u16) -> u32 {
        let expires = f64::from(self.profile(node).registration_expires_s);
        let spread = self.profile(node).vendor.expires_spread;
        let granted = expires * (1.0 - spread * self.rng(node).unit());
        granted.round().max(60.0) as u32
    }

    /// The registration was accepted when the UE got the 200 at `answered`: one refresh
    /// timer, per 3GPP TS 24.229.
    fn bind(&mut self, registration: Dialog, answered: u64, granted: u32, initial: bool) {
        let Dialog { node, sub, .. } = registration;
        let expires = u64::from(granted) * SECOND;
        self.set_registered_until(node, sub, answered + expires);
        self.nodes[node as usize].failures[sub as usize] = 0;
        let timer = self.new_generation(node, sub);
        let refresh = refresh_after(expires);
        // A UE's clock and its stack's scheduling add a few seconds.
        let slack = self.rng(node).below((refresh / 50).min(30 * SECOND));
        let refresh_at = answered + refresh - slack;
        self.schedule(refresh_at, node, EventKind::Register { sub, initial: false, timer });
        if initial {
            let subscribe_at = answered + self.delay(node, 40.0);
            self.reg_event(node, subscribe_at, sub);
        }
    }

    /// What the core does with one REGISTER (`auth`: the one with credentials).
    fn register_outcome(
        &mut self,
        node: u16,
        at: u64,
        sub: u32,
        auth: bool,
        protected: bool,
    ) -> Outcome {
        if let Some(failure) = self.uplink_failure(node, at, sub, Route::Register, protected) {
            return failure;
        }
        let cx = 1.0 + 5.0 * self.active(node, at).for_sub(FaultKind::CxOverload, sub);
        let median = self.profile(node).register_response_ms * self.core_slowdown(node, at) * cx;
        Outcome::answer(if auth { 200 } else { 401 }, self.delay(node, median))
    }

    /// The UE powers off: it de-registers (Expires: 0, over its security association, so
    /// without a challenge) and joins the switched-off subscribers.
    pub(super) fn power_off(&mut self, node: u16, at: u64, sub: u32) {
        let id = self.id();
        let registration = Dialog::new(node, Dir::Uplink, sub, id).via(CorePeer::Icscf);
        let txn = registration.txn(Method::Register, 1, flag::AUTH | flag::DEREGISTER);
        let outcome =
            self.uplink_failure(node, at, sub, Route::Register, true).unwrap_or_else(|| {
                let median = self.profile(node).register_response_ms;
                Outcome::answer(200, self.delay(node, median))
            });
        let (code, answered) = self.relay(at, txn, outcome);
        self.set_registered_until(node, sub, 0);
        self.new_generation(node, sub);
        self.nodes[node as usize].offline.insert(sub);
        if code == Some(200) && self.core_reaches_node(node, answered, sub) {
            // The S-CSCF tells the P-CSCF's subscription that the registration is gone.
            let notify_at = answered + self.delay(node, 20.0);
            self.notify_pcscf(node, notify_at, sub, flag::TERMINATED | flag::UNREGISTERED);
        }
    }

    /// The network de-registers `sub` (NOTIFY, state terminated, event deactivated): the UE
    /// registers again at `back`.
    pub(super) fn network_deregister(&mut self, node: u16, at: u64, sub: u32, back: u64) {
        if !self.core_reaches_node(node, at, sub) {
            return;
        }
        self.notify_ue(node, at, sub, flag::TERMINATED);
        self.notify_pcscf(node, at, sub, flag::TERMINATED);
        self.set_registered_until(node, sub, 0);
        let timer = self.new_generation(node, sub);
        self.schedule(back, node, EventKind::Register { sub, initial: true, timer });
    }

    /// A request of `sub` failed in a way that tells the UE to register again (S-CSCF
    /// restoration, or a lost IPsec association).
    pub(super) fn restore_registration(&mut self, node: u16, at: u64, sub: u32) {
        if self.nodes[node as usize].offline.contains(sub) {
            return;
        }
        // With the back-off of a failed registration, so that a UE whose requests keep failing
        // does not register again and again.
        let wait = self.registration_back_off(node, sub, None, 0);
        let timer = self.new_generation(node, sub);
        let when = at + wait;
        self.schedule(when, node, EventKind::Register { sub, initial: true, timer });
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
        // Both REGISTERs, the UE's SUBSCRIBE and NOTIFY on both legs; the P-CSCF's own
        // SUBSCRIBE and NOTIFY on the core leg.
        assert_eq!(out.records.iter().filter(|r| r.result == Some(200)).count(), 8);
        // The 200 says what was granted; the REGISTERs ask for 600000.
        assert_eq!(access[3].expires, testkit::profile().registration_expires_s);
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
        assert!(matches!(retry.kind, EventKind::Register { sub: 7, initial: true, .. }));
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
