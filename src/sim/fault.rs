//! Faults: what each does to the traffic (applied by the engine) and the exact per-minute
//! ground truth (the label file). Severity is constant within a minute, so label and traffic
//! agree exactly: minute `m` of a fault with onset `o`, ramp `r` and severity `s` has
//! severity `s × min(1, (m − o + 1) / r)`.

use serde::{Deserialize, Serialize};

/// The fault classes the simulator injects (and the appliance learns to recognise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The Cx link to the HSS is down: registrations fail after Diameter timeouts.
    HssLinkDown,
    /// The node or its links are saturated: slower answers, 503 with Retry-After, retransmissions.
    CapacityLimit,
    /// Nothing sent to the core is answered (a black hole on Mw): timeouts and 408.
    TrafficBlocked,
    /// The S-CSCF is down: requests it should serve fail fast with 503, registrations with 504.
    ScscfDown,
    /// The Rx link to the PCRF fails: calls are rejected with 580 when media is authorised.
    PcrfRxFailure,
    /// A wave of (re-)registrations, e.g. after an access-network outage.
    RegistrationStorm,
    /// A flood of INVITEs, mostly to unknown numbers.
    InviteFlood,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::HssLinkDown,
        FaultKind::CapacityLimit,
        FaultKind::TrafficBlocked,
        FaultKind::ScscfDown,
        FaultKind::PcrfRxFailure,
        FaultKind::RegistrationStorm,
        FaultKind::InviteFlood,
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
        }
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
    /// Minutes from onset to full severity (1 = at once).
    #[serde(default = "one")]
    pub ramp_minutes: u32,
    /// Affected minutes.
    pub duration_minutes: u32,
    /// 0 (no effect) to 1 (complete).
    pub severity: f64,
}

const fn one() -> u32 {
    1
}

impl FaultSpec {
    /// The severity in scenario minute `minute`, 0 outside the fault.
    pub fn severity_at(&self, minute: u32) -> f64 {
        if minute < self.onset_minute || minute >= self.onset_minute + self.duration_minutes {
            return 0.0;
        }
        let ramp = f64::from(self.ramp_minutes.max(1));
        let progress = f64::from(minute - self.onset_minute + 1) / ramp;
        self.severity * progress.min(1.0)
    }

    /// Minutes `[onset, end)`.
    pub fn minutes(&self) -> std::ops::Range<u32> {
        self.onset_minute..self.onset_minute + self.duration_minutes
    }
}

/// The effects active on a node in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ActiveFault {
    /// Which fault (None = normal).
    pub kind: Option<FaultKind>,
    /// Its severity this minute.
    pub severity: f64,
}

impl ActiveFault {
    /// Severity if the active fault is `kind`, else 0.
    pub fn of(&self, kind: FaultKind) -> f64 {
        if self.kind == Some(kind) { self.severity } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_ramps_then_holds_then_stops() {
        let fault = FaultSpec {
            node: "n".into(),
            kind: FaultKind::HssLinkDown,
            onset_minute: 10,
            ramp_minutes: 4,
            duration_minutes: 6,
            severity: 0.8,
        };
        let series: Vec<f64> = (9..17).map(|m| fault.severity_at(m)).collect();
        assert_eq!(series, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.8, 0.0]);
    }
}
