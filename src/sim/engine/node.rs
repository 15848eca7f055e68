//! Per-node state and timing: who is registered, the node's own random stream, the fault in
//! force, and the delays and load that follow from the profile and the fault.

use crate::sim::fault::{ActiveFault, FaultKind};
use crate::sim::profile::NetworkProfile;
use crate::sim::rng::Rng;
use crate::sim::scenario::ResolvedNode;

use super::events::{EventKind, Process};
use super::{Engine, MINUTE, SECOND};

pub(super) struct NodeSim {
    pub spec: ResolvedNode,
    /// Per subscriber: registered until (µs); 0 = not registered.
    pub registered_until: Vec<u64>,
    /// One stream per node, so that a node's traffic does not depend on its neighbours'.
    pub rng: Rng,
}

impl Engine {
    /// Adds a node in steady state: everyone registered, refreshes spread over the refresh
    /// period, every arrival process and the keep-alives started.
    pub(super) fn add_node(&mut self, spec: ResolvedNode, root: &Rng) {
        let index = self.nodes.len() as u16;
        let mut rng = root.fork(u64::from(index) + 1);
        let profile = &spec.profile;
        let expires = u64::from(profile.registration_expires_s) * SECOND;
        let mut registered_until = Vec::with_capacity(profile.subscribers as usize);
        for sub in 0..profile.subscribers {
            let refresh_at = self.start + rng.below(expires * 9 / 10);
            registered_until.push(refresh_at + expires / 10);
            self.schedule(refresh_at, index, EventKind::Register { sub, initial: false });
        }
        for process in Process::ALL {
            self.schedule(self.start, index, EventKind::Arrival { process, act: false });
        }
        let first_options = self.start + rng.below(u64::from(profile.options_interval_s) * SECOND);
        self.schedule(first_options, index, EventKind::Options);
        self.nodes.push(NodeSim { spec, registered_until, rng });
    }

    pub(super) fn active(&self, node: u16, at: u64) -> ActiveFault {
        let minute = ((at.saturating_sub(self.start)) / MINUTE) as u32;
        self.nodes[node as usize].spec.active(minute)
    }

    pub(super) fn profile(&self, node: u16) -> &NetworkProfile {
        &self.nodes[node as usize].spec.profile
    }

    pub(super) fn rng(&mut self, node: u16) -> &mut Rng {
        &mut self.nodes[node as usize].rng
    }

    pub(super) fn registered(&self, node: u16, sub: u32, at: u64) -> bool {
        self.nodes[node as usize].registered_until[sub as usize] > at
    }

    pub(super) fn set_registered_until(&mut self, node: u16, sub: u32, until: u64) {
        self.nodes[node as usize].registered_until[sub as usize] = until;
    }

    /// A network delay around `median_ms`, with the profile's spread.
    pub(super) fn delay(&mut self, node: u16, median_ms: f64) -> u64 {
        let sigma = self.profile(node).delay_sigma;
        (self.rng(node).lognormal(median_ms, sigma) * 1000.0) as u64
    }

    /// P-CSCF processing time; grows steeply when the node is at its capacity limit.
    pub(super) fn processing(&mut self, node: u16, at: u64) -> u64 {
        let overload = self.active(node, at).of(FaultKind::CapacityLimit);
        let median = 0.6 * (1.0 + 500.0 * overload * overload);
        (self.rng(node).lognormal(median, 0.6) * 1000.0) as u64
    }

    /// Core response time multiplier under load-type faults.
    pub(super) fn core_slowdown(&self, node: u16, at: u64) -> f64 {
        let fault = self.active(node, at);
        1.0 + 3.0 * fault.of(FaultKind::CapacityLimit)
            + 4.0 * fault.of(FaultKind::RegistrationStorm)
            + 2.0 * fault.of(FaultKind::InviteFlood)
    }
}
