//! The payloads (reference: onap-integration §1.6, §3.6, §4.3, §6.2). Every event of one alarm
//! carries the identity the decider made at the raise: the ONAP `requestID`, the VES
//! `eventId` and the Alertmanager label set.

use imsight_parsers::xdr::time::format_timestamp;
use serde_json::{Value, json};

use super::presentation;
use super::topics::Topics;
use crate::decide::{Alarm, camel_case};
use crate::monitor::{ALL_NODES, DriftEvent};

/// A drift alert's VES `eventId`: its source and the second it was raised.
fn drift_event_id(source: &str, raised_at: u64) -> String {
    format!("imsight-{}-ModelInputDrift-{}", super::topics::level(source), raised_at / 1_000_000)
}

/// `closedLoopAlarmStart` and `closedLoopAlarmEnd`: ONAP does not agree on their unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// Epoch milliseconds as a number (what Policy's decoder means).
    #[default]
    Millis,
    /// Epoch microseconds as a number (TCA and Holmes style).
    Micros,
    /// Epoch milliseconds as a numeric string (satisfies both Policy and the DCAE schema).
    MillisString,
}

/// Who the appliance says it is and how it fills the consumers' fields.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishSettings {
    /// The appliance name (reporting entity, topic level).
    pub appliance: String,
    /// First topic levels.
    pub topic_root: String,
    /// What the monitored nodes are (`P-CSCF`).
    pub node_type: String,
    /// `closedLoopControlName` = `{prefix}-{ClassInCamelCase}`: it must equal the `id` of the
    /// operational policy deployed for that class.
    pub closed_loop_prefix: String,
    /// Control-loop `target_type` (`VNF`, `VM`, `PNF`).
    pub target_type: String,
    /// Control-loop `target`: the A&AI key naming the node.
    pub target: String,
    /// Units of the control-loop alarm times.
    pub timestamp: TimestampFormat,
    /// Send `unknown_anomaly` to ONAP Policy (no deterministic remediation: off by default).
    pub unknown_to_policy: bool,
    /// Append `Cleared` to the VES `eventName` of a clear (Holmes detects clears that way).
    pub holmes_clear_suffix: bool,
    /// An active alert's `endsAt` lies this many minutes ahead (a dead-man: an appliance that
    /// dies lets its alerts resolve).
    pub alert_hold_minutes: u64,
    /// The model's name and version, reported with each event.
    pub model_version: String,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            appliance: "imsight".into(),
            topic_root: "imsight/v1".into(),
            node_type: "P-CSCF".into(),
            closed_loop_prefix: "ControlLoop-IMS-PCSCF".into(),
            target_type: "VNF".into(),
            target: "generic-vnf.vnf-name".into(),
            timestamp: TimestampFormat::Millis,
            unknown_to_policy: false,
            holmes_clear_suffix: false,
            alert_hold_minutes: 5,
            model_version: String::new(),
        }
    }
}

/// What kind of message (the outbox treats them differently: states may be coalesced, alarm
/// events never are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundKind {
    /// Per-minute node state.
    State,
    /// ONAP control-loop event.
    ControlLoop,
    /// VES fault.
    VesFault,
    /// Alertmanager alert: the first of an alarm, or its resolution.
    Alert,
    /// Alertmanager alert re-sent while active (only the latest matters: coalesced like
    /// states).
    AlertRefresh,
    /// Appliance health.
    Health,
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outbound {
    /// Its kind.
    pub kind: OutboundKind,
    /// The topic.
    pub topic: String,
    /// The exact bytes (JSON).
    pub payload: Vec<u8>,
    /// Retained by the broker.
    pub retain: bool,
}

/// ONSET or ABATED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClStatus {
    /// The alarm was raised.
    Onset,
    /// The alarm was cleared.
    Abated,
}

/// Builds the appliance's messages.
#[derive(Debug, Clone)]
pub struct Payloads {
    settings: PublishSettings,
    topics: Topics,
}

/// RFC 3339 to the second (Alertmanager's style).
fn rfc3339_seconds(micros: u64) -> String {
    let text = format_timestamp(micros - micros % 1_000_000);
    format!("{}Z", &text[..19.min(text.len())])
}

fn outbound(kind: OutboundKind, topic: String, value: &Value, retain: bool) -> Outbound {
    Outbound { kind, topic, payload: value.to_string().into_bytes(), retain }
}

impl Payloads {
    /// Payloads for these settings.
    pub fn new(settings: PublishSettings) -> Self {
        let topics = Topics::new(&settings.topic_root, &settings.appliance);
        Self { settings, topics }
    }

    /// The topics.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The retained per-minute state (`imsight.state/1`): `state` is the alarm's class in
    /// capitals while one is raised, else the node's status (`NORMAL`, `SUSPECT`, `NO_DATA`,
    /// `WARMING_UP`); `since` is when that state began.
    pub fn state(
        &self,
        node: &str,
        minute: u64,
        state: &str,
        since: u64,
        confidence: Option<f64>,
        alarm: Option<&Alarm>,
    ) -> Outbound {
        let value = json!({
            "schema": "imsight.state/1",
            "appliance": self.settings.appliance,
            "node": node,
            "nodeType": self.settings.node_type,
            "window": format!("{}/PT1M", rfc3339_seconds(minute)),
            "state": state.to_ascii_uppercase(),
            "confidence": confidence,
            "since": rfc3339_seconds(since),
            "alarm": match alarm {
                Some(a) => json!({"active": true, "requestID": a.request_id, "vesEventId": a.ves_event_id}),
                None => json!({"active": false}),
            },
        });
        outbound(OutboundKind::State, self.topics.state(node), &value, true)
    }

    fn closed_loop_time(&self, micros: u64) -> Value {
        match self.settings.timestamp {
            TimestampFormat::Millis => json!(micros / 1000),
            TimestampFormat::Micros => json!(micros),
            TimestampFormat::MillisString => json!((micros / 1000).to_string()),
        }
    }

    /// The ONAP VirtualControlLoopEvent. ONSET and ABATED of one alarm are identical but for
    /// the status and the end time, so `confidence` must be the raise's for both. `None` for
    /// `unknown_anomaly` unless `unknown_to_policy`.
    pub fn control_loop(
        &self,
        alarm: &Alarm,
        status: ClStatus,
        confidence: f64,
        cleared_at: Option<u64>,
    ) -> Option<Outbound> {
        if alarm.class == crate::matcher::UNKNOWN_ANOMALY && !self.settings.unknown_to_policy {
            return None;
        }
        let s = &self.settings;
        let mut value = json!({
            "closedLoopControlName": format!("{}-{}", s.closed_loop_prefix, camel_case(&alarm.class)),
            "version": "1.0.2",
            "requestID": alarm.request_id,
            "closedLoopEventStatus": match status { ClStatus::Onset => "ONSET", ClStatus::Abated => "ABATED" },
            "closedLoopAlarmStart": self.closed_loop_time(alarm.raised_at),
            "closedLoopEventClient": format!("imsight.{}", s.appliance),
            "from": "DCAE",
            "target_type": s.target_type,
            "target": s.target,
            "AAI": {"generic-vnf.vnf-name": alarm.node},
            "policyScope": "imsight",
            "policyName": "imsight.pcscf.classifier",
            "policyVersion": "1.0.0",
            "additionalEventParams": {
                "imsight.faultClass": alarm.class.to_ascii_uppercase(),
                "imsight.nodeType": s.node_type,
                "imsight.onsetConfidence": format!("{confidence:.2}"),
                "imsight.modelVersion": s.model_version,
                "imsight.vesEventId": alarm.ves_event_id,
            },
        });
        if let (ClStatus::Abated, Some(end), Some(object)) =
            (status, cleared_at, value.as_object_mut())
        {
            object.insert("closedLoopAlarmEnd".into(), self.closed_loop_time(end));
        }
        Some(outbound(
            OutboundKind::ControlLoop,
            self.topics.control_loop(&alarm.node),
            &value,
            false,
        ))
    }

    /// The VES 7.2.1 fault event: the raise (sequence 1) or the clear (sequence 2, severity
    /// NORMAL), same `eventId` and `startEpochMicrosec`.
    pub fn ves_fault(&self, alarm: &Alarm, cleared_at: Option<u64>, confidence: f64) -> Outbound {
        let p = presentation(&alarm.class);
        let condition = camel_case(&alarm.class);
        let clear = cleared_at.is_some();
        let suffix = if clear && self.settings.holmes_clear_suffix { "Cleared" } else { "" };
        let value = json!({"event": {
            "commonEventHeader": {
                "domain": "fault",
                "eventId": alarm.ves_event_id,
                "eventName": format!("Fault_Pcscf-Imsight_{condition}{suffix}"),
                "priority": if clear { "Normal" } else if p.ves_severity == "MINOR" { "Medium" } else { "High" },
                "reportingEntityName": self.settings.appliance,
                "sourceName": alarm.node,
                "sequence": if clear { 2 } else { 1 },
                "startEpochMicrosec": alarm.raised_at,
                "lastEpochMicrosec": cleared_at.unwrap_or(alarm.raised_at),
                "version": "4.1",
                "vesEventListenerVersion": "7.2.1",
                "timeZoneOffset": "UTC+00:00",
            },
            "faultFields": {
                "faultFieldsVersion": "4.0",
                "alarmCondition": condition,
                "eventSeverity": if clear { "NORMAL" } else { p.ves_severity },
                "eventSourceType": "virtualNetworkFunction",
                "eventCategory": "signaling",
                "vfStatus": "Active",
                "specificProblem": p.problem,
                "alarmAdditionalInformation": {
                    "alarmId": format!("imsight-{}-{condition}", super::topics::level(&alarm.node)),
                    "fdClass": alarm.class.to_ascii_uppercase(),
                    "probableCause": p.probable_cause,
                    "confidence": format!("{confidence:.2}"),
                    "modelVersion": self.settings.model_version,
                    "window": "60m",
                    "onapRequestId": alarm.request_id.to_string(),
                },
            },
        }});
        outbound(OutboundKind::VesFault, self.topics.ves_fault(&alarm.node), &value, false)
    }

    /// The Alertmanager v2 alert object: while active (re-sent every minute) `endsAt` lies
    /// `alert_hold_minutes` after `now`; resolved once with `endsAt` = the clear time.
    pub fn alert(
        &self,
        alarm: &Alarm,
        now: u64,
        cleared_at: Option<u64>,
        confidence: f64,
        explanation: &str,
    ) -> Outbound {
        let p = presentation(&alarm.class);
        let ends = cleared_at.unwrap_or(now + self.settings.alert_hold_minutes * 60_000_000);
        let value = json!({
            "labels": {
                "alertname": format!("Imsight{}", camel_case(&alarm.class)),
                "severity": p.alert_severity,
                "fault_class": alarm.class,
                "node": alarm.node,
                "node_type": self.settings.node_type,
                "appliance": self.settings.appliance,
            },
            "annotations": {
                "summary": format!("{}: {}", alarm.node, p.problem),
                "description": explanation,
                "confidence": format!("{confidence:.2}"),
                "ves_event_id": alarm.ves_event_id,
                "onap_request_id": alarm.request_id.to_string(),
            },
            "startsAt": rfc3339_seconds(alarm.raised_at),
            "endsAt": rfc3339_seconds(ends),
        });
        outbound(OutboundKind::Alert, self.topics.alert(&alarm.node), &value, false)
    }

    /// Who a drift event is about: a node, or for [`ALL_NODES`] the appliance itself (its
    /// name is then the VES `sourceName` and the topic level).
    fn drift_source<'a>(&'a self, event: &'a DriftEvent) -> &'a str {
        if event.scope == ALL_NODES { &self.settings.appliance } else { &event.scope }
    }

    fn drift_top(event: &DriftEvent) -> String {
        event
            .top
            .iter()
            .map(|f| format!("{} {:.2}", f.feature, f.psi))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The VES fault of a drift alert (condition `ModelInputDrift`, severity WARNING): the
    /// raise, or the clear (same `eventId`, made of the scope and the raise time).
    pub fn drift_ves(&self, event: &DriftEvent) -> Outbound {
        let source = self.drift_source(event);
        let clear = !event.raised;
        let suffix = if clear && self.settings.holmes_clear_suffix { "Cleared" } else { "" };
        let value = json!({"event": {
            "commonEventHeader": {
                "domain": "fault",
                "eventId": drift_event_id(source, event.raised_at),
                "eventName": format!("Fault_Pcscf-Imsight_ModelInputDrift{suffix}"),
                "priority": if clear { "Normal" } else { "Low" },
                "reportingEntityName": self.settings.appliance,
                "sourceName": source,
                "sequence": if clear { 2 } else { 1 },
                "startEpochMicrosec": event.raised_at,
                "lastEpochMicrosec": event.minute,
                "version": "4.1",
                "vesEventListenerVersion": "7.2.1",
                "timeZoneOffset": "UTC+00:00",
            },
            "faultFields": {
                "faultFieldsVersion": "4.0",
                "alarmCondition": "ModelInputDrift",
                "eventSeverity": if clear { "NORMAL" } else { "WARNING" },
                "eventSourceType": if event.scope == ALL_NODES { "other" } else { "virtualNetworkFunction" },
                "eventCategory": "modelMonitoring",
                "vfStatus": "Active",
                "specificProblem": "model input drift: traffic unlike the model's training data",
                "alarmAdditionalInformation": {
                    "alarmId": format!("imsight-{}-ModelInputDrift", super::topics::level(source)),
                    "driftScore": format!("{:.3}", event.score),
                    "threshold": format!("{:.3}", event.threshold),
                    "topFeatures": Self::drift_top(event),
                    "modelVersion": self.settings.model_version,
                },
            },
        }});
        outbound(OutboundKind::VesFault, self.topics.ves_fault(source), &value, false)
    }

    /// The Alertmanager alert `ImsightInputDrift` of a drift alert: firing (`endsAt`
    /// `alert_hold_minutes` after `now`, re-sent every minute) or resolved at the clear.
    pub fn drift_alert(&self, event: &DriftEvent, now: u64) -> Outbound {
        let source = self.drift_source(event);
        let ends = if event.raised {
            now + self.settings.alert_hold_minutes * 60_000_000
        } else {
            event.minute
        };
        let value = json!({
            "labels": {
                "alertname": "ImsightInputDrift",
                "severity": "warning",
                "node": source,
                "scope": if event.scope == ALL_NODES { "appliance" } else { "node" },
                "node_type": self.settings.node_type,
                "appliance": self.settings.appliance,
            },
            "annotations": {
                "summary": format!(
                    "{source}: input drift: traffic unlike the model's training data (median PSI {:.2}, threshold {:.2})",
                    event.score, event.threshold
                ),
                "description": format!("features that moved most (PSI): {}", Self::drift_top(event)),
                "ves_event_id": drift_event_id(source, event.raised_at),
                "model_version": self.settings.model_version,
            },
            "startsAt": rfc3339_seconds(event.raised_at),
            "endsAt": rfc3339_seconds(ends),
        });
        outbound(OutboundKind::Alert, self.topics.alert(source), &value, false)
    }

    /// `online` on the health topic (the last will says `offline`).
    pub fn health(&self, online: bool) -> Outbound {
        let payload = if online { b"online".to_vec() } else { b"offline".to_vec() };
        Outbound { kind: OutboundKind::Health, topic: self.topics.health(), payload, retain: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAISED: u64 = 1_741_944_420_000_000;
    const CLEARED: u64 = 1_741_945_260_000_000;

    fn alarm(class: &str) -> Alarm {
        Alarm {
            node: "pcscf01".into(),
            class: class.into(),
            raised_at: RAISED,
            request_id: "b7e3f0a2-91c4-4d6e-8a5b-2c1d0e9f8a74".parse().expect("uuid"),
            ves_event_id: crate::decide::ves_event_id("pcscf01", class, RAISED),
            confidence: String::new(),
        }
    }

    fn payloads() -> Payloads {
        Payloads::new(PublishSettings {
            appliance: "imsight-appliance-01".into(),
            model_version: "2025.03.1".into(),
            ..PublishSettings::default()
        })
    }

    fn json(o: &Outbound) -> Value {
        serde_json::from_slice(&o.payload).expect("JSON")
    }

    #[test]
    fn onset_and_abated_differ_only_in_status_and_end() {
        let p = payloads();
        let onset =
            p.control_loop(&alarm("hss_link_down"), ClStatus::Onset, 0.94, None).expect("onset");
        let abated = p
            .control_loop(&alarm("hss_link_down"), ClStatus::Abated, 0.94, Some(CLEARED))
            .expect("abated");
        assert_eq!(onset.topic, "imsight/v1/imsight-appliance-01/onap/cl/pcscf01");
        assert!(!onset.retain);
        let (mut on, off) = (json(&onset), json(&abated));
        // The fields Policy needs (reference §1.3) as the §1.6 example has them.
        assert_eq!(on["closedLoopControlName"], "ControlLoop-IMS-PCSCF-HssLinkDown");
        assert_eq!(on["requestID"], "b7e3f0a2-91c4-4d6e-8a5b-2c1d0e9f8a74");
        assert_eq!(on["closedLoopEventStatus"], "ONSET");
        assert_eq!(on["closedLoopAlarmStart"], 1_741_944_420_000u64);
        assert_eq!(
            (&on["target_type"], &on["target"], &on["from"], &on["version"]),
            (&json!("VNF"), &json!("generic-vnf.vnf-name"), &json!("DCAE"), &json!("1.0.2"))
        );
        assert_eq!(on["AAI"]["generic-vnf.vnf-name"], "pcscf01");
        assert_eq!(
            on["additionalEventParams"]["imsight.vesEventId"],
            "imsight-pcscf01-HssLinkDown-1741944420"
        );
        assert!(on["AAI"].as_object().expect("map").values().all(Value::is_string));
        assert!(
            on["additionalEventParams"].as_object().expect("map").values().all(Value::is_string)
        );
        let object = on.as_object_mut().expect("object");
        object.insert("closedLoopEventStatus".into(), json!("ABATED"));
        object.insert("closedLoopAlarmEnd".into(), json!(1_741_945_260_000u64));
        assert_eq!(on, off);
    }

    #[test]
    fn timestamps_follow_the_configured_unit_and_unknown_stays_away_from_policy() {
        let mut settings = PublishSettings {
            timestamp: TimestampFormat::MillisString,
            ..PublishSettings::default()
        };
        let p = Payloads::new(settings.clone());
        let onset = json(
            &p.control_loop(&alarm("capacity_limit"), ClStatus::Onset, 0.5, None).expect("onset"),
        );
        assert_eq!(onset["closedLoopAlarmStart"], "1741944420000");
        assert!(p.control_loop(&alarm("unknown_anomaly"), ClStatus::Onset, 0.5, None).is_none());
        settings.unknown_to_policy = true;
        settings.timestamp = TimestampFormat::Micros;
        let p = Payloads::new(settings);
        let onset = json(
            &p.control_loop(&alarm("unknown_anomaly"), ClStatus::Onset, 0.5, None)
                .expect("sent when asked"),
        );
        assert_eq!(onset["closedLoopAlarmStart"], RAISED);
    }

    #[test]
    fn ves_raise_and_clear_share_id_and_start() {
        let p = payloads();
        let raise = json(&p.ves_fault(&alarm("hss_link_down"), None, 0.94));
        let clear = json(&p.ves_fault(&alarm("hss_link_down"), Some(CLEARED), 0.94));
        let (h, c) = (&raise["event"]["commonEventHeader"], &clear["event"]["commonEventHeader"]);
        assert_eq!(h["eventId"], "imsight-pcscf01-HssLinkDown-1741944420");
        assert_eq!(h["eventId"], c["eventId"]);
        assert_eq!(h["startEpochMicrosec"], c["startEpochMicrosec"]);
        assert_eq!((h["sequence"].as_u64(), c["sequence"].as_u64()), (Some(1), Some(2)));
        assert_eq!(c["lastEpochMicrosec"], CLEARED);
        assert_eq!((&h["priority"], &c["priority"]), (&json!("High"), &json!("Normal")));
        assert_eq!(raise["event"]["faultFields"]["eventSeverity"], "MAJOR");
        assert_eq!(clear["event"]["faultFields"]["eventSeverity"], "NORMAL");
        assert_eq!(
            (&h["version"], &h["vesEventListenerVersion"]),
            (&json!("4.1"), &json!("7.2.1"))
        );
        // hashMap values must be strings (the schema's objects are closed).
        let info =
            raise["event"]["faultFields"]["alarmAdditionalInformation"].as_object().expect("map");
        assert!(info.values().all(Value::is_string));
        assert_eq!(info["onapRequestId"], "b7e3f0a2-91c4-4d6e-8a5b-2c1d0e9f8a74");
        let holmes = Payloads::new(PublishSettings {
            holmes_clear_suffix: true,
            ..PublishSettings::default()
        });
        let cleared = json(&holmes.ves_fault(&alarm("hss_link_down"), Some(CLEARED), 0.9));
        assert_eq!(
            cleared["event"]["commonEventHeader"]["eventName"],
            "Fault_Pcscf-Imsight_HssLinkDownCleared"
        );
    }

    #[test]
    fn alerts_hold_while_active_and_resolve_at_the_clear() {
        let p = payloads();
        let now = RAISED + 120_000_000;
        let active = json(&p.alert(&alarm("traffic_blocked"), now, None, 0.9, "timeouts 62 %"));
        assert_eq!(active["labels"]["alertname"], "ImsightTrafficBlocked");
        assert_eq!(active["labels"]["severity"], "critical");
        assert_eq!(active["startsAt"], "2025-03-14T09:27:00Z");
        assert_eq!(active["endsAt"], "2025-03-14T09:34:00Z");
        let resolved = json(&p.alert(&alarm("traffic_blocked"), CLEARED, Some(CLEARED), 0.9, ""));
        assert_eq!(resolved["endsAt"], "2025-03-14T09:41:00Z");
        assert_eq!(resolved["labels"], active["labels"], "the same label set identifies the alert");
    }

    #[test]
    fn state_is_retained_and_names_the_alarm() {
        let p = payloads();
        let a = alarm("hss_link_down");
        let s = p.state("pcscf01", RAISED, "hss_link_down", RAISED, Some(0.94), Some(&a));
        assert!(s.retain);
        let v = json(&s);
        assert_eq!(v["schema"], "imsight.state/1");
        assert_eq!(v["state"], "HSS_LINK_DOWN");
        assert_eq!(v["window"], "2025-03-14T09:27:00Z/PT1M");
        assert_eq!(v["alarm"]["requestID"], "b7e3f0a2-91c4-4d6e-8a5b-2c1d0e9f8a74");
        let idle = json(&p.state("pcscf01", RAISED, "warming_up", RAISED, None, None));
        assert_eq!(idle["state"], "WARMING_UP");
        assert_eq!(idle["alarm"]["active"], false);
        assert_eq!(p.health(false).payload, b"offline");
    }
}
