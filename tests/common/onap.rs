//! What ONAP's consumers require of the appliance's events: the VES 7.2.1 fault schema
//! (`tests/schemas/ves-7.2.1-fault.schema.json`) and the checks Policy's drools "usecases"
//! controller and DCAE's data format make of a control-loop event (docs/outputs.md).

use serde_json::Value;

/// Why `event` would be rejected by a VES 7.2.1 collector (empty: valid).
pub fn ves_problems(event: &Value) -> Vec<String> {
    let path = super::repo("tests/schemas/ves-7.2.1-fault.schema.json");
    let text = std::fs::read_to_string(&path).expect("the VES schema");
    let schema: Value = serde_json::from_str(&text).expect("the VES schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("urn:imsight:ves-fault", schema).expect("schema resource");
    let index = compiler.compile("urn:imsight:ves-fault", &mut schemas).expect("schema compiles");
    match schemas.validate(event, index) {
        Ok(()) => Vec::new(),
        Err(error) => vec![format!("{error:#}")],
    }
}

/// Why Policy or DCAE's data format would reject or drop the control-loop `event`.
pub fn control_loop_problems(event: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |what: &str| problems.push(format!("{what}: {event}"));
    let text = |key: &str| event[key].as_str().filter(|s| !s.trim().is_empty());
    if text("closedLoopControlName").is_none() {
        problem("closedLoopControlName missing or blank");
    }
    if text("requestID").and_then(|id| uuid::Uuid::parse_str(id).ok()).is_none() {
        problem("requestID is not a UUID");
    }
    let status = text("closedLoopEventStatus");
    if !matches!(status, Some("ONSET" | "ABATED")) {
        problem("closedLoopEventStatus is not ONSET or ABATED");
    }
    if !matches!(text("target_type"), Some("VM" | "VNF" | "PNF")) {
        problem("target_type is not VM, VNF or PNF");
    }
    const TARGETS: [&str; 6] = [
        "VM_NAME",
        "VNF_NAME",
        "vserver.vserver-name",
        "generic-vnf.vnf-id",
        "generic-vnf.vnf-name",
        "pnf.pnf-name",
    ];
    let target = text("target");
    if !target.is_some_and(|t| TARGETS.iter().any(|v| v.eq_ignore_ascii_case(t))) {
        problem("target is not one of Policy's valid targets");
    }
    match event["AAI"].as_object() {
        None => problem("AAI is missing"),
        Some(aai) => {
            if aai.values().any(|v| !v.is_string()) {
                problem("AAI values must be strings");
            }
            let key = match text("target_type") {
                Some("PNF") => vec!["pnf.pnf-name"],
                _ => vec!["generic-vnf.vnf-id", "generic-vnf.vnf-name", "vserver.vserver-name"],
            };
            if !key.iter().any(|k| aai.get(*k).and_then(Value::as_str).is_some()) {
                problem("AAI lacks the identifying key of its target type");
            }
            if let Some(named) = target
                && !aai.contains_key(named)
            {
                problem("AAI lacks the key that target names");
            }
        }
    }
    if event["version"] != "1.0.2" || event["from"] != "DCAE" {
        problem("version must be 1.0.2 and from DCAE (DCAE's data format)");
    }
    // Policy reads the alarm times with JsonReader.nextLong(): a number or a numeric string.
    for key in ["closedLoopAlarmStart", "closedLoopAlarmEnd"] {
        let value = &event[key];
        let numeric = value.is_u64() || value.as_str().is_some_and(|s| s.parse::<u64>().is_ok());
        let required = key == "closedLoopAlarmStart" || status == Some("ABATED");
        if (required || !value.is_null()) && !numeric {
            problem(&format!("{key} is not epoch milliseconds"));
        }
    }
    if let Some(params) = event.get("additionalEventParams")
        && params.as_object().is_none_or(|p| p.values().any(|v| !v.is_string()))
    {
        problem("additionalEventParams must map to strings");
    }
    problems
}

/// The fields Policy compares to match an ABATED to its ONSET, and to tell a repeated ONSET
/// from a new one (`CanonicalOnset.equals`: all but requestID and the alarm times).
pub fn same_alarm_instance(onset: &Value, abated: &Value) -> bool {
    ["requestID", "closedLoopControlName", "target_type", "target", "AAI", "closedLoopEventClient"]
        .iter()
        .all(|key| onset[key] == abated[key])
}
