//! Faults: what each does to the traffic (applied by the engine) and the exact per-minute
//! ground truth (the label file). Severity is constant within a minute, so label and traffic
//! agree exactly: minute `m` of a fault with onset `o`, ramp `r` and severity `s` has
//! severity `s × min(1, (m − o + 1) / r)`, or 0 in the off minutes of a flapping fault.
//!
//! A fault may hit only a share of the node's subscribers (one HSS front end, one S-CSCF of
//! a pool, one region): a subscriber is in that share or not for the whole fault, decided by
//! a hash of its index and the fault kind.

use serde::{Deserialize, Serialize};

/// The fault classes the simulator injects (and the appliance learns to recognise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The Cx link to the HSS is down: registrations fail after Diameter timeouts.
    HssLinkDown,
    /// The node's capacity drops (a failed blade, a CPU-hungry neighbour): the same offered
    /// load now queues, slows and is shed with 503.
    CapacityLimit,
    /// Nothing sent to the core is answered (a black hole on Mw): timeouts and 408.
    TrafficBlocked,
    /// The S-CSCF is down: requests to it go unanswered (or are refused once the P-CSCF has
    /// blacklisted it), the I-CSCF answers registrations with 504.
    ScscfDown,
    /// The Rx link to the PCRF fails: calls cannot have their media authorised.
    PcrfRxFailure,
    /// A wave of (re-)registrations, e.g. after an access-network outage.
    RegistrationStorm,
    /// A flood of INVITEs from a few registered UEs, mostly to unknown numbers.
    InviteFlood,
    /// The P-CSCF cannot resolve its core peers (DNS down): requests needing a lookup wait
    /// for the resolver's timeout and fail with 500.
    DnsFailure,
    /// The IPsec security associations of some UEs are lost: their protected requests are
    /// discarded unseen, they time out and register again from scratch.
    IpsecSaFailure,
    /// A memory leak in the P-CSCF: processing time creeps up, then requests fail with 500.
    MemoryLeak,
    /// The HSS is overloaded on Cx (DIAMETER_TOO_BUSY): registrations slow down and a share
    /// fails with 500.
    CxOverload,
}

impl FaultKind {
    /// Number of kinds.
    pub const COUNT: usize = 11;

    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; Self::COUNT] = [
        FaultKind::HssLinkDown,
        FaultKind::CapacityLimit,
        FaultKind::TrafficBlocked,
        FaultKind::ScscfDown,
        FaultKind::PcrfRxFailure,
        FaultKind::RegistrationStorm,
        FaultKind::InviteFlood,
        FaultKind::DnsFailure,
        FaultKind::IpsecSaFailure,
        FaultKind::MemoryLeak,
        FaultKind::CxOverload,
    ];

    /// The kinds the shipped model is trained without: they measure how well it flags a
    /// fault it has never seen as an unknown anomaly.
    pub const NOVEL: [FaultKind; 4] = [
        FaultKind::DnsFailure,
        FaultKind::IpsecSaFailure,
        FaultKind::MemoryLeak,
        FaultKind::CxOverload,
    ];

    /// The label used in label files and verdicts.
    pub fn label(self) -> &'static str {
        match self {
            Self::HssLinkDown => "hss_link_down",
            Self::CapacityLimit => "capacity_limit",
            Self::TrafficBlocked => "traffic_blocked",
            Self::ScscfDown => "scscf_down",
            Self::PcrfRxFailure => "pcrf_rx_failure",
            Self::RegistrationStorm => "registration_storm",
            Self::InviteFlood => "invite_flood",
            Self::DnsFailure => "dns_failure",
            Self::IpsecSaFailure => "ipsec_sa_failure",
            Self::MemoryLeak => "memory_leak",
            Self::CxOverload => "cx_overload",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One fault on one node, in scenario minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The node it hits.
    pub node: String,
    /// What happens.
    pub kind: FaultKind,
    /// First affected minute, counted from the scenario start.
    pub onset_minute: u32,
    /// Minutes from onset to full severity (1 = at once; the whole duration = a creeping
    /// fault).
    #[serde(default = "one")]
    pub ramp_minutes: u32,
    /// Affected minutes.
    pub duration_minutes: u32,
    /// 0 (no effect) to 1 (complete).
    pub severity: f64,
    /// Share of the node's subscribers it hits (1 = all).
    #[serde(default = "full_share")]
    pub share: f64,
    /// An intermittent fault: minutes on, then `flap_off_minutes` off, repeating (0 = steady).
    #[serde(default)]
    pub flap_on_minutes: u32,
    /// Minutes off between the on periods of a flapping fault.
    #[serde(default)]
    pub flap_off_minutes: u32,
}

const fn one() -> u32 {
    1
}

const fn full_share() -> f64 {
    1.0
}

impl FaultSpec {
    /// The severity in scenario minute `minute`, 0 outside the fault and in its off minutes.
    pub fn severity_at(&self, minute: u32) -> f64 {
        if !self.minutes().contains(&minute) || self.flapped_off(minute) {
            return 0.0;
        }
        let ramp = f64::from(self.ramp_minutes.max(1));
        let progress = f64::from(minute - self.onset_minute + 1) / ramp;
        self.severity * progress.min(1.0)
    }

    /// Whether `minute` (inside the fault) is an off minute of a flapping fault.
    pub fn flapped_off(&self, minute: u32) -> bool {
        if self.flap_on_minutes == 0 || self.flap_off_minutes == 0 {
            return false;
        }
        let period = self.flap_on_minutes + self.flap_off_minutes;
        (minute.saturating_sub(self.onset_minute)) % period >= self.flap_on_minutes
    }

    /// Whether `minute` is still in the ramp (severity below its full value).
    pub fn ramping(&self, minute: u32) -> bool {
        minute < self.onset_minute + self.ramp_minutes.max(1) - 1
    }

    /// Minutes `[onset, end)`.
    pub fn minutes(&self) -> std::ops::Range<u32> {
        self.onset_minute..self.onset_minute.saturating_add(self.duration_minutes)
    }

    /// Every problem of this fault, prefixed with `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&self.severity) {
            problems.push(format!("{key}.severity: must be between 0 and 1"));
        }
        if !(self.share > 0.0 && self.share <= 1.0) {
            problems.push(format!("{key}.share: must be above 0 and at most 1"));
        }
        if self.duration_minutes == 0 || self.ramp_minutes == 0 {
            problems.push(format!("{key}: duration_minutes and ramp_minutes must be at least 1"));
        }
        if self.ramp_minutes > self.duration_minutes {
            problems.push(format!("{key}.ramp_minutes: must not exceed duration_minutes"));
        }
        if (self.flap_on_minutes == 0) != (self.flap_off_minutes == 0) {
            problems.push(format!(
                "{key}: flap_on_minutes and flap_off_minutes go together (both 0 = steady)"
            ));
        }
        if self
            .flap_on_minutes
            .checked_add(self.flap_off_minutes)
            .is_none_or(|p| p > self.duration_minutes)
        {
            problems.push(format!(
                "{key}: flap_on_minutes + flap_off_minutes must not exceed duration_minutes"
            ));
        }
        problems
    }
}

/// Whether subscriber `sub` is among the `share` of subscribers a fault of `kind` hits.
pub fn hits_subscriber(kind: FaultKind, share: f64, sub: u32) -> bool {
    if share >= 1.0 {
        return true;
    }
    let mut z = u64::from(sub) ^ (kind.index() as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 <= share
}

/// The faults in force on a node in one minute (several may overlap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveFaults {
    severity: [f64; FaultKind::COUNT],
    share: [f64; FaultKind::COUNT],
}

impl Default for ActiveFaults {
    fn default() -> Self {
        Self { severity: [0.0; FaultKind::COUNT], share: [1.0; FaultKind::COUNT] }
    }
}

impl ActiveFaults {
    /// The faults of `faults` in force in `minute`; of two faults of one kind, the one with
    /// the higher severity × share (the rule of the labels).
    pub fn at(faults: &[FaultSpec], minute: u32) -> Self {
        let mut active = Self::default();
        for fault in faults {
            let severity = fault.severity_at(minute);
            let i = fault.kind.index();
            if severity > 0.0 && severity * fault.share > active.severity[i] * active.share[i] {
                active.severity[i] = severity;
                active.share[i] = fault.share;
            }
        }
        active
    }

    /// Severity of `kind` for a subscriber it hits (0 when none is active).
    pub fn of(&self, kind: FaultKind) -> f64 {
        self.severity[kind.index()]
    }

    /// Severity of `kind` for subscriber `sub` (0 when the fault spares it).
    pub fn for_sub(&self, kind: FaultKind, sub: u32) -> f64 {
        let i = kind.index();
        if self.severity[i] > 0.0 && hits_subscriber(kind, self.share[i], sub) {
            self.severity[i]
        } else {
            0.0
        }
    }

    /// Severity of `kind` over the whole node: severity × share of subscribers hit.
    pub fn node_wide(&self, kind: FaultKind) -> f64 {
        self.severity[kind.index()] * self.share[kind.index()]
    }

    /// Whether any fault is in force.
    pub fn any(&self) -> bool {
        self.severity.iter().any(|&s| s > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, onset: u32, ramp: u32, duration: u32, severity: f64) -> FaultSpec {
        FaultSpec {
            node: "n".into(),
            kind,
            onset_minute: onset,
            ramp_minutes: ramp,
            duration_minutes: duration,
            severity,
            share: 1.0,
            flap_on_minutes: 0,
            flap_off_minutes: 0,
        }
    }

    #[test]
    fn severity_ramps_then_holds_then_stops() {
        let fault = fault(FaultKind::HssLinkDown, 10, 4, 6, 0.8);
        let series: Vec<f64> = (9..17).map(|m| fault.severity_at(m)).collect();
        assert_eq!(series, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8, 0.0]);
        assert!(fault.ramping(12) && !fault.ramping(13));
    }

    #[test]
    fn a_flapping_fault_is_off_between_its_on_periods() {
        let mut f = fault(FaultKind::TrafficBlocked, 10, 1, 12, 1.0);
        f.flap_on_minutes = 2;
        f.flap_off_minutes = 3;
        let on: Vec<u32> = (8..24).filter(|&m| f.severity_at(m) > 0.0).collect();
        assert_eq!(on, vec![10, 11, 15, 16, 20, 21]);
    }

    #[test]
    fn a_partial_fault_hits_its_share_of_subscribers_and_the_stronger_of_two_wins() {
        let mut partial = fault(FaultKind::HssLinkDown, 0, 1, 10, 1.0);
        partial.share = 0.3;
        let weak = fault(FaultKind::HssLinkDown, 0, 1, 10, 0.2);
        let active = ActiveFaults::at(&[weak, partial], 5);
        let hit = (0..10_000).filter(|&s| active.for_sub(FaultKind::HssLinkDown, s) > 0.0).count();
        assert!((2_800..3_200).contains(&hit), "{hit}");
        assert!((active.node_wide(FaultKind::HssLinkDown) - 0.3).abs() < 1e-12);
        assert_eq!(active.of(FaultKind::ScscfDown), 0.0);
    }
}
