//! The events the appliance publishes are what ONAP accepts: every class's VES raise and clear
//! validates against the VES 7.2.1 fault schema, and every control-loop ONSET and ABATED passes
//! Policy's checks (tests/common/onap.rs), in every timestamp and Holmes mode. The checks
//! themselves reject what ONAP rejects (so that these tests can fail).

mod common;

use common::onap::{control_loop_problems, same_alarm_instance, ves_problems};
use imsight::decide::Alarm;
use imsight::publish::{CLASSES, ClStatus, Payloads, PublishSettings, TimestampFormat};
use serde_json::{Value, json};

const RAISED: u64 = 1_795_515_240_000_000;
const CLEARED: u64 = RAISED + 14 * 60_000_000;

fn alarm(class: &str) -> Alarm {
    Alarm {
        node: "pcscf-b".into(),
        class: class.into(),
        raised_at: RAISED,
        request_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, class.as_bytes()),
        ves_event_id: format!("imsight-pcscf-b-{class}-1795515240"),
        confidence: "0.87".into(),
    }
}

fn json(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).expect("a JSON payload")
}

fn every_setting() -> Vec<PublishSettings> {
    let mut all = Vec::new();
    for timestamp in
        [TimestampFormat::Millis, TimestampFormat::Micros, TimestampFormat::MillisString]
    {
        for holmes_clear_suffix in [false, true] {
            all.push(PublishSettings {
                appliance: "lab".into(),
                timestamp,
                holmes_clear_suffix,
                unknown_to_policy: true,
                ..PublishSettings::default()
            });
        }
    }
    all
}

#[test]
fn every_class_raises_and_clears_valid_ves_faults() {
    let classes = CLASSES.iter().map(|c| c.class).chain(["unknown_anomaly", "a_new_kind"]);
    for settings in every_setting() {
        let payloads = Payloads::new(settings);
        for class in classes.clone() {
            let alarm = alarm(class);
            let raise = json(&payloads.ves_fault(&alarm, None, 0.87).payload);
            let clear = json(&payloads.ves_fault(&alarm, Some(CLEARED), 0.87).payload);
            assert_eq!(ves_problems(&raise), Vec::<String>::new(), "{class} raise: {raise}");
            assert_eq!(ves_problems(&clear), Vec::<String>::new(), "{class} clear: {clear}");
            let (r, c) = (&raise["event"], &clear["event"]);
            let header = |e: &Value, key: &str| e["commonEventHeader"][key].clone();
            assert_eq!(header(r, "eventId"), header(c, "eventId"), "one eventId");
            assert_eq!(header(r, "startEpochMicrosec"), header(c, "startEpochMicrosec"));
            assert_eq!((header(r, "sequence"), header(c, "sequence")), (json!(1), json!(2)));
            assert_eq!(c["faultFields"]["eventSeverity"], "NORMAL", "the clear is NORMAL");
        }
    }
}

#[test]
fn every_class_gives_onset_and_abated_that_policy_pairs() {
    for settings in every_setting() {
        let payloads = Payloads::new(settings);
        for class in CLASSES.iter().map(|c| c.class).chain(["unknown_anomaly"]) {
            let alarm = alarm(class);
            let onset = payloads.control_loop(&alarm, ClStatus::Onset, 0.87, None).expect("onset");
            let abated = payloads
                .control_loop(&alarm, ClStatus::Abated, 0.87, Some(CLEARED))
                .expect("abated");
            let (onset, abated) = (json(&onset.payload), json(&abated.payload));
            assert_eq!(control_loop_problems(&onset), Vec::<String>::new());
            assert_eq!(control_loop_problems(&abated), Vec::<String>::new());
            assert!(same_alarm_instance(&onset, &abated), "{onset}\n{abated}");
            assert_eq!(
                onset["additionalEventParams"], abated["additionalEventParams"],
                "an ABATED repeats the ONSET's content"
            );
        }
    }
}

#[test]
fn the_checks_reject_what_onap_rejects() {
    let payloads = Payloads::new(PublishSettings::default());
    let good = json(&payloads.ves_fault(&alarm("hss_link_down"), None, 0.9).payload);
    let mut extra_key = good.clone();
    extra_key["event"]["faultFields"]["confidence"] = json!("0.9");
    let mut number_in_map = good.clone();
    number_in_map["event"]["faultFields"]["alarmAdditionalInformation"]["confidence"] = json!(0.9);
    let mut bad_severity = good.clone();
    bad_severity["event"]["faultFields"]["eventSeverity"] = json!("CLEARED");
    let mut no_source = good;
    if let Some(header) = no_source["event"]["commonEventHeader"].as_object_mut() {
        header.remove("sourceName");
    }
    for bad in [extra_key, number_in_map, bad_severity, no_source] {
        assert!(!ves_problems(&bad).is_empty(), "accepted: {bad}");
    }

    let onset = payloads.control_loop(&alarm("hss_link_down"), ClStatus::Onset, 0.9, None);
    let onset = json(&onset.expect("onset").payload);
    let mut iso_time = onset.clone();
    iso_time["closedLoopAlarmStart"] = json!("2026-11-24T10:14:00Z");
    let mut not_uuid = onset.clone();
    not_uuid["requestID"] = json!("alarm-1");
    let mut bad_target = onset.clone();
    bad_target["target_type"] = json!("VF");
    let mut no_aai_key = onset;
    no_aai_key["AAI"] = json!({"generic-vnf.prov-status": "ACTIVE"});
    for bad in [iso_time, not_uuid, bad_target, no_aai_key] {
        assert!(!control_loop_problems(&bad).is_empty(), "accepted: {bad}");
    }
}
