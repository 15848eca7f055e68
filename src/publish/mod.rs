//! What the appliance says over MQTT, exactly as each consumer takes it (DESIGN §8,
//! docs/outputs.md): the topic tree and the payloads of the per-node state, the ONAP
//! control-loop ONSET/ABATED, the VES 7.2.1 fault raise/clear and the Alertmanager alert.
//!
//! Pure: alarms and verdicts in, `(topic, bytes, retain)` out. The outbox and the MQTT client
//! (later rooms of `runtime/`) send them.

pub mod announce;
pub mod payloads;
pub mod topics;

pub use announce::Announcer;
pub use payloads::{ClStatus, Outbound, OutboundKind, Payloads, PublishSettings, TimestampFormat};

/// How a verdict class is presented to ONAP and the NOC (reference: onap-integration §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassPresentation {
    /// The class as the appliance names it.
    pub class: &'static str,
    /// VES `eventSeverity` of the raise.
    pub ves_severity: &'static str,
    /// Alertmanager `severity` label.
    pub alert_severity: &'static str,
    /// ITU-T X.733 probable cause (VES `alarmAdditionalInformation.probableCause`).
    pub probable_cause: &'static str,
    /// VES `specificProblem` and the alert summary.
    pub problem: &'static str,
}

/// The presentation of every class the appliance raises; a class not listed (a kind added
/// to a model later) gets [`OTHER`].
pub const CLASSES: [ClassPresentation; 8] = [
    ClassPresentation {
        class: "hss_link_down",
        ves_severity: "MAJOR",
        alert_severity: "major",
        probable_cause: "communicationsSubsystemFailure",
        problem: "HSS (Cx) link down suspected: registrations failing",
    },
    ClassPresentation {
        class: "capacity_limit",
        ves_severity: "MAJOR",
        alert_severity: "major",
        probable_cause: "resourceAtOrNearingCapacity",
        problem: "P-CSCF at its capacity limit: requests rejected or slow",
    },
    ClassPresentation {
        class: "traffic_blocked",
        ves_severity: "CRITICAL",
        alert_severity: "critical",
        probable_cause: "callEstablishmentError",
        problem: "traffic toward the core blocked: requests time out",
    },
    ClassPresentation {
        class: "scscf_down",
        ves_severity: "CRITICAL",
        alert_severity: "critical",
        probable_cause: "communicationsSubsystemFailure",
        problem: "S-CSCF unreachable: registrations and calls fail in the core",
    },
    ClassPresentation {
        class: "pcrf_rx_failure",
        ves_severity: "MAJOR",
        alert_severity: "major",
        probable_cause: "communicationsSubsystemFailure",
        problem: "PCRF (Rx) failure: call set-ups refused or without QoS",
    },
    ClassPresentation {
        class: "registration_storm",
        ves_severity: "MAJOR",
        alert_severity: "major",
        probable_cause: "thresholdCrossed",
        problem: "registration storm: far more REGISTERs than normal",
    },
    ClassPresentation {
        class: "invite_flood",
        ves_severity: "MAJOR",
        alert_severity: "major",
        probable_cause: "thresholdCrossed",
        problem: "INVITE flood: far more call attempts than normal",
    },
    ClassPresentation {
        class: "unknown_anomaly",
        ves_severity: "MINOR",
        alert_severity: "warning",
        probable_cause: "performanceDegraded",
        problem: "unknown anomaly: traffic unlike any known condition",
    },
];

/// The presentation of a class without its own entry.
pub const OTHER: ClassPresentation = ClassPresentation {
    class: "",
    ves_severity: "MAJOR",
    alert_severity: "major",
    probable_cause: "performanceDegraded",
    problem: "abnormal traffic",
};

/// The presentation of `class`.
pub fn presentation(class: &str) -> ClassPresentation {
    CLASSES.iter().copied().find(|c| c.class == class).unwrap_or(OTHER)
}
