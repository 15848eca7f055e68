//! What stands between a request and its normal answer: the faults in force, the node's own
//! state (load, blacklisted peer) and the bad luck of a normal day. Each procedure asks here
//! first and plays out the normal answer only when nothing got in the way.

use crate::sim::fault::FaultKind;
use crate::sim::wire::retry_after_s;

use super::node::HiccupKind;
use super::transaction::{Outcome, Resp};
use super::{Engine, SECOND};

/// Which way a request from a UE takes into the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// REGISTER, to the I-CSCF (a DNS lookup of the home domain, the HSS behind it).
    Register,
    /// An initial request (INVITE, MESSAGE, SUBSCRIBE) to the S-CSCF on the Service-Route.
    Initial,
    /// A request inside a dialog (PRACK, UPDATE, BYE): its route set is known.
    InDialog,
}

impl Engine {
    /// What stops a request of subscriber `sub` on its way from the UE through the core, or
    /// `None` when the core answers it normally.
    pub(super) fn uplink_failure(
        &mut self,
        node: u16,
        at: u64,
        sub: u32,
        route: Route,
        protected: bool,
    ) -> Option<Outcome> {
        let fault = self.active(node, at);
        let vendor = self.profile(node).vendor.clone();
        let rng = &mut self.nodes[node as usize].rng;
        // Discarded by IPsec before SIP sees it.
        if protected
            && rng.chance(fault.for_sub(FaultKind::IpsecSaFailure, sub))
            && self.association_predates(node, sub, at, FaultKind::IpsecSaFailure)
        {
            return Some(Outcome::unseen());
        }
        // Overload control sheds new work, not requests of dialogs it has accepted.
        if let Some(failure) = self.own_failure(node, at, route != Route::InDialog) {
            return Some(failure);
        }
        let rng = &mut self.nodes[node as usize].rng;
        if route != Route::InDialog && rng.chance(fault.for_sub(FaultKind::DnsFailure, sub)) {
            // The resolver's timeouts and retries, then "no route".
            let wait = (rng.lognormal(4000.0, 0.3) * 1000.0) as u64;
            return Some(Outcome::local_after(500, wait));
        }
        let scscf = route != Route::Register;
        if scscf && self.blacklisted(node, at) {
            // With Retry-After: the UE waits, it does not register again.
            return Some(Outcome::local(503));
        }
        let rng = &mut self.nodes[node as usize].rng;
        if rng.chance(fault.for_sub(FaultKind::TrafficBlocked, sub)) {
            return Some(Outcome::silence());
        }
        let scscf_down = rng.chance(fault.for_sub(FaultKind::ScscfDown, sub));
        if scscf_down && scscf {
            let outcome = Outcome::silence();
            return Some(if vendor.scscf_restoration { outcome.restoring() } else { outcome });
        }
        if route == Route::Register {
            if scscf_down {
                // The I-CSCF cannot reach the S-CSCF.
                return Some(Outcome::answer(504, self.delay(node, 5000.0)));
            }
            let rng = &mut self.nodes[node as usize].rng;
            if rng.chance(fault.for_sub(FaultKind::HssLinkDown, sub)) {
                // The I-CSCF waits for the HSS (Diameter Tx timer), then gives up.
                let code = vendor.hss_failure_code;
                return Some(Outcome::answer(code, self.delay(node, 4500.0)));
            }
            if rng.chance(0.6 * fault.for_sub(FaultKind::CxOverload, sub)) {
                let ms = self.profile(node).register_response_ms * 8.0;
                return Some(Outcome::answer(500, self.delay(node, ms)));
            }
        }
        match (self.hiccup(node, at), route) {
            (Some(HiccupKind::ScscfSilent), Route::Initial | Route::InDialog) => {
                return Some(Outcome::silence());
            }
            (Some(HiccupKind::IcscfSilent), Route::Register) => {
                return Some(Outcome::silence());
            }
            (Some(HiccupKind::IcscfTimeout), Route::Register) => {
                return Some(Outcome::answer(504, self.delay(node, 5000.0)));
            }
            (Some(HiccupKind::Restarting), _) => {
                let after = self.delay(node, 5.0);
                return Some(Outcome::answer(500, after));
            }
            _ => {}
        }
        self.background_failure(node, at)
    }

    /// A request from the core to subscriber `sub`'s UE: what stops it before the UE, or
    /// `None` when it gets there.
    pub(super) fn downlink_failure(&mut self, node: u16, at: u64, sub: u32) -> Option<Outcome> {
        if let Some(failure) = self.own_failure(node, at, true) {
            return Some(failure);
        }
        let fault = self.active(node, at);
        // The UE cannot decrypt what the P-CSCF sends over the lost association, or is out of
        // coverage without having de-registered.
        let unreachable = self.profile(node).background.unreachable_share;
        let lost = self.association_predates(node, sub, at, FaultKind::IpsecSaFailure);
        let rng = &mut self.nodes[node as usize].rng;
        if (lost && rng.chance(fault.for_sub(FaultKind::IpsecSaFailure, sub)))
            || rng.chance(unreachable)
        {
            return Some(Outcome::silence());
        }
        None
    }

    /// Whether `sub`'s security associations were set up before the fault of `kind` in force
    /// at `at` began: those made after it (a new initial registration) work.
    fn association_predates(&self, node: u16, sub: u32, at: u64, kind: FaultKind) -> bool {
        let minute = self.minute_of(at);
        let state = &self.nodes[node as usize];
        let onset =
            state.spec.faults.iter().filter(|f| f.kind == kind && f.minutes().contains(&minute));
        let onset = onset.map(|f| f.onset_minute).min().unwrap_or(minute);
        let onset_at = self.start + u64::from(onset) * super::MINUTE;
        state.associated_at[sub as usize] <= onset_at
    }

    /// The P-CSCF's own failures: it sheds what it cannot serve (when `sheds`), and a leaking
    /// node fails outright.
    fn own_failure(&mut self, node: u16, at: u64, sheds: bool) -> Option<Outcome> {
        let shed = self.shed_share(node, at);
        let leak = self.active(node, at).node_wide(FaultKind::MemoryLeak);
        let rng = &mut self.nodes[node as usize].rng;
        if sheds && rng.chance(shed) {
            return Some(Outcome::local(503));
        }
        if rng.chance(((leak - 0.5) * 1.2).max(0.0)) {
            return Some(Outcome::local(500));
        }
        None
    }

    /// Whether terminating traffic from the core reaches the node at all.
    pub(super) fn core_reaches_node(&mut self, node: u16, at: u64, sub: u32) -> bool {
        let fault = self.active(node, at);
        let cut = fault
            .for_sub(FaultKind::TrafficBlocked, sub)
            .max(fault.for_sub(FaultKind::ScscfDown, sub));
        !self.rng(node).chance(cut)
    }

    /// The failures of a normal day in the core: a busy or restarting element answers 5xx,
    /// or a request is lost for good.
    fn background_failure(&mut self, node: u16, at: u64) -> Option<Outcome> {
        let background = self.profile(node).background.clone();
        let core_ms = self.profile(node).core_response_ms * self.core_slowdown(node, at);
        let rng = &mut self.nodes[node as usize].rng;
        if rng.chance(background.core_timeout_share) {
            return Some(Outcome::silence());
        }
        if !rng.chance(background.server_error_share) {
            return None;
        }
        let code = match rng.below(10) {
            0..=4 => 503,
            5..=7 => 500,
            _ => 504,
        };
        let after = match code {
            504 => self.delay(node, 5000.0),
            _ => self.delay(node, core_ms * 2.0),
        };
        Some(Outcome { last: Some(Resp::new(code, after)), ..Outcome::default() })
    }

    /// How long a UE waits before it tries to register again after a failure: the 503's
    /// Retry-After when there is one, else RFC 5626 §4.5: a random 50–100 % of
    /// min(1800 s, 30 s × 2^failures).
    pub(super) fn registration_back_off(
        &mut self,
        node: u16,
        sub: u32,
        code: Option<u16>,
        txn: u64,
    ) -> u64 {
        let failures = &mut self.nodes[node as usize].failures[sub as usize];
        *failures = failures.saturating_add(1);
        let exponent = u32::from((*failures).min(10));
        if code == Some(503) {
            return retry_after_s(txn) * SECOND;
        }
        let ceiling = (30.0 * f64::from(1u32 << exponent)).min(1800.0);
        let wait = ceiling * (0.5 + 0.5 * self.rng(node).unit());
        (wait * SECOND as f64) as u64
    }

    /// Time until a UE answers a request the P-CSCF sends it: its access delay, plus paging
    /// when the UE is idle.
    pub(super) fn ue_answer_ms(&mut self, node: u16, median_ms: f64) -> f64 {
        let background = &self.profile(node).background;
        let (share, paging) = (background.paging_share, background.paging_ms);
        let access = self.profile(node).access_delay_ms;
        let rng = self.rng(node);
        let paged = if rng.chance(share) { rng.lognormal(paging, 0.5) } else { 0.0 };
        median_ms + 2.0 * access + paged
    }
}
