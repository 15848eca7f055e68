//! End to end: the simulator sends HEP over UDP to `imsight run`, which publishes to a real
//! broker (mosquitto, started here); a subscriber checks the states, the ONSET/ABATED pairing
//! and the VES raise/clear of the alarm the fault raises (valid for ONAP), and what the appliance
//! shows over HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::imsight;

const SCENARIO: &str = r#"
name = "live"
start = "2026-11-24T09:00:00Z"
duration_minutes = 95
seed = 7
profile = "small_operator"

[[nodes]]
name = "pcscf-a"
subscribers = 400

[[nodes]]
name = "pcscf-b"
subscribers = 400

[[faults]]
node = "pcscf-b"
kind = "traffic_blocked"
onset_minute = 66
ramp_minutes = 1
duration_minutes = 12
severity = 1.0
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Writes `SCENARIO` to `dir/scenario.toml` and its nodes' site configuration to
/// `dir/nodes.toml` (`simulate --nodes`), with whatever else `outputs` asks of the simulator.
fn write_scenario(dir: &std::path::Path, outputs: &[&str]) {
    let path = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    std::fs::write(path("scenario.toml"), SCENARIO).expect("scenario");
    let (scenario, nodes) = (path("scenario.toml"), path("nodes.toml"));
    let mut args = vec!["simulate", "--scenario", &scenario, "--nodes", &nodes];
    args.extend_from_slice(outputs);
    let (code, _, stderr) = common::run(&mut imsight(&args));
    assert_eq!(code, 0, "{stderr}");
}

/// A subscriber printing `topic payload` lines; it exits by itself after 120 s should the test
/// fail before stopping it. `fresh_only` skips retained messages.
fn subscribe(mqtt: u16, topic: &str, fresh_only: bool) -> Child {
    let port = mqtt.to_string();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-t", topic, "-v", "-q", "1", "-W", "120"];
    if fresh_only {
        args.push("-R");
    }
    Command::new("mosquitto_sub")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub")
}

/// Sends malformed datagrams to the HEP port for `during`; returns how many.
fn send_bad_input(port: u16, during: Duration) -> u64 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let target = ("127.0.0.1", port);
    let not_sip =
        imsight_parsers::hep::build_hep3(&[(0, 0x0b, &[100]), (0, 0x0f, b"not SIP at all")]);
    let mut truncated =
        imsight_parsers::hep::build_hep3(&[(0, 0x0f, b"INVITE sip:x SIP/2.0\r\n\r\n")]);
    truncated.truncate(truncated.len() / 2);
    let mut oversized = b"HEP3".to_vec();
    oversized.resize(60_000, 0xff);
    let garbage: Vec<u8> =
        (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    // Well-formed HEP carrying SIP, with a wrong key and with none: refused, counted.
    let sip = b"OPTIONS sip:pcscf-b SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let wrong_key = imsight_parsers::hep::build_hep3(&[
        (0, 0x0b, &[1]),
        (0, 0x0e, b"not-the-key"),
        (0, 0x0f, sip),
    ]);
    let no_key = imsight_parsers::hep::build_hep3(&[(0, 0x0b, &[1]), (0, 0x0f, sip)]);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < during {
        for datagram in [&garbage, &truncated, &oversized, &not_sip, &wrong_key, &no_key] {
            if socket.send_to(datagram, target).is_ok() {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sent
}

/// mosquitto on `mqtt` (loopback), once it accepts connections; killed when dropped.
fn start_broker(dir: &std::path::Path, mqtt: u16) -> Killed {
    let config = dir.join("mosquitto.conf");
    std::fs::write(&config, format!("listener {mqtt} 127.0.0.1\nallow_anonymous true\n"))
        .expect("config");
    let broker = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file());
    let broker = broker.expect("mosquitto is not installed (.ci/run installs it)");
    let child = Command::new(broker)
        .arg("-c")
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    let mut broker = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", mqtt)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    common::wait_for_mqtt_session(mqtt);
    // Something granting sessions on the port is not enough: it must be this broker.
    assert!(
        broker.0.try_wait().expect("mosquitto status").is_none(),
        "mosquitto exited at start (port {mqtt} taken by another process?)"
    );
    broker
}

/// A subscriber's `topic payload` lines, the JSON ones parsed.
fn messages(stdout: &[u8]) -> Vec<(String, serde_json::Value)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(t, p)| Some((t.to_owned(), serde_json::from_str(p).ok()?)))
        .collect()
}

/// The HEP authentication key the appliance requires and the simulator carries.
const HEP_KEY: &str = "lab-key";

/// A plain HTTP/1.0 GET on loopback: the status code and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("HTTP connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Stops a subscriber (SIGTERM) and returns what it printed, the JSON payloads parsed.
fn stop_subscriber(subscriber: Child) -> Vec<(String, serde_json::Value)> {
    let _ = Command::new("kill").args(["-TERM", &subscriber.id().to_string()]).status();
    let out = subscriber.wait_with_output().expect("subscriber");
    messages(&out.stdout)
}

/// `imsight run` with its log read on a thread, once it listens.
fn start_appliance(
    nodes: &str,
    state: &str,
    mqtt: u16,
    hep: u16,
) -> (Killed, std::thread::JoinHandle<Vec<String>>) {
    start_appliance_serving(nodes, state, mqtt, hep, free_port())
}

/// `imsight run` serving HTTP on `http`.
fn start_appliance_serving(
    nodes: &str,
    state: &str,
    mqtt: u16,
    hep: u16,
    http: u16,
) -> (Killed, std::thread::JoinHandle<Vec<String>>) {
    start_appliance_with(nodes, state, mqtt, hep, http, &[])
}

/// `imsight run` with more environment variables.
fn start_appliance_with(
    nodes: &str,
    state: &str,
    mqtt: u16,
    hep: u16,
    http: u16,
    env: &[(&str, String)],
) -> (Killed, std::thread::JoinHandle<Vec<String>>) {
    let mut appliance = imsight(&["--config", nodes, "run", "--state-dir", state]);
    appliance.envs(env.iter().map(|(k, v)| (k, v)));
    appliance
        .env("IMSIGHT__MQTT__PORT", mqtt.to_string())
        .env("IMSIGHT__SOURCES__HEP_UDP_LISTEN", format!("127.0.0.1:{hep}"))
        .env("IMSIGHT__SOURCES__HEP_AUTH_KEY", HEP_KEY)
        .env("IMSIGHT__HTTP__LISTEN", format!("127.0.0.1:{http}"))
        .env("IMSIGHT__APPLIANCE__NAME", "lab")
        .stderr(Stdio::piped());
    let mut appliance = Killed(appliance.spawn().expect("imsight run"));
    let log = appliance.0.stderr.take().expect("stderr");
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let log_reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            if line.contains("listening for HEP") {
                let _ = ready_tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    ready.recv_timeout(Duration::from_secs(60)).expect("imsight run listens for HEP");
    // Ready once every source listens (HEP over TCP binds after UDP).
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err()
        || http_get(http, "/readyz").0 != 200
    {
        assert!(Instant::now() < deadline, "imsight run did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (appliance, log_reader)
}

/// SIGTERM, and the whole log once it exited (successfully).
fn stop_appliance((mut appliance, log): (Killed, std::thread::JoinHandle<Vec<String>>)) -> String {
    let status =
        Command::new("kill").args(["-TERM", &appliance.0.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = appliance.0.wait().expect("wait");
    let log = log.join().expect("log").join("\n");
    assert!(exit.success(), "{log}");
    log
}

#[test]
fn simulator_to_hep_to_run_to_mosquitto() {
    let dir = tempfile::tempdir().expect("dir");
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (mqtt, hep) = (free_port(), free_udp_port());
    let _broker = start_broker(dir.path(), mqtt);
    let subscriber = subscribe(mqtt, "imsight/#", false);

    write_scenario(dir.path(), &[]);

    let http = free_port();
    let appliance = start_appliance_serving(&d("nodes.toml"), &d("state"), mqtt, hep, http);
    assert_eq!(http_get(http, "/readyz").0, 200);
    // Bad input at the same port while the traffic runs: garbage, truncated and oversized
    // HEP, HEP that carries no SIP, SIP under a wrong key or none. The appliance counts it
    // and judges the real traffic.
    let hostile = std::thread::spawn(move || send_bad_input(hep, Duration::from_secs(8)));
    let (code, _, stderr) = common::run(&mut imsight(&[
        "simulate",
        "--scenario",
        &d("scenario.toml"),
        "--hep",
        &format!("127.0.0.1:{hep}"),
        "--hep-auth-key",
        HEP_KEY,
        "--speed",
        "300",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 refused by the socket"), "{stderr}");

    let bad_sent = hostile.join().expect("bad input sender");
    std::thread::sleep(Duration::from_secs(2));
    // What the appliance shows over HTTP while it runs.
    let (status, metrics) = http_get(http, "/metrics");
    assert_eq!(status, 200, "{metrics}");
    let refused = sample(&metrics, "imsight_source_dropped_total", &["reason=\"auth\""]);
    assert!(
        refused >= (bad_sent / 3) as f64,
        "{bad_sent} bad datagrams, {refused} refused for their key"
    );
    assert!(sample(&metrics, "imsight_input_rejected_total", &["reason=\"hep_invalid\""]) > 0.0);
    assert!(sample(&metrics, "imsight_transactions_total", &[]) > 1000.0, "{metrics}");
    assert!(sample(&metrics, "imsight_minutes_closed_total", &[]) >= 2.0 * 90.0, "{metrics}");
    assert!(sample(&metrics, "imsight_verdicts_total", &["class=\"normal\""]) > 0.0, "{metrics}");
    assert!(sample(&metrics, "imsight_inference_seconds_count", &[]) > 0.0, "{metrics}");
    assert_eq!(sample(&metrics, "imsight_alarm_transitions_total", &["transition=\"raise\""]), 1.0);
    assert_eq!(sample(&metrics, "imsight_mqtt_connected", &[]), 1.0);
    assert_eq!(
        sample(&metrics, "imsight_up", &["hep_udp"]) + sample(&metrics, "imsight_up", &["http"]),
        2.0
    );
    assert!(sample(&metrics, "imsight_minute_to_broker_seconds_count", &[]) >= 90.0, "{metrics}");
    assert_eq!(sample(&metrics, "imsight_source_dropped_total", &["reason=\"busy\""]), 0.0);
    let (status, nodes) = http_get(http, "/api/v1/nodes");
    assert_eq!(status, 200, "{nodes}");
    let nodes: serde_json::Value = serde_json::from_str(&nodes).expect("JSON");
    assert_eq!(nodes["nodes"].as_array().map(Vec::len), Some(2), "{nodes}");
    let (status, node) = http_get(http, "/api/v1/nodes/pcscf-b");
    assert_eq!(status, 200, "{node}");
    let node: serde_json::Value = serde_json::from_str(&node).expect("JSON");
    assert_eq!(node["history"].as_array().map(Vec::len), Some(60), "{node}");
    assert!(node["history"].as_array().is_some_and(|h| h.iter().any(|m| m["status"] == "alarm")));
    assert_eq!(http_get(http, "/api/v1/nodes/nobody").0, 404);
    // Changes over HTTP are off by default.
    let (status, refused) = http_send(http, "POST", "/api/v1/models/promote", "");
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("http.allow_changes"), "{refused}");
    let (status, _) = http_send(http, "POST", "/api/v1/samples/1/label", r#"{"class": "normal"}"#);
    assert_eq!(status, 403);
    assert_eq!(http_get(http, "/api/v1/monitor").0, 200, "reading stays open");
    // Changes over HTTP are off by default.
    let (status, refused) = http_send(http, "POST", "/api/v1/models/promote", "");
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("http.allow_changes"), "{refused}");
    let (status, _) = http_send(http, "POST", "/api/v1/samples/1/label", r#"{"class": "normal"}"#);
    assert_eq!(status, 403);
    assert_eq!(http_get(http, "/api/v1/monitor").0, 200, "reading stays open");
    // SIGTERM: the appliance drains (held minutes judged, outbox flushed) and stops.
    let log = stop_appliance(appliance);
    assert!(log.contains("outbox_left=0"), "{log}");
    let rejected: u64 = log
        .split("hep_rejected: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("the drained pipeline's counters");
    assert!(
        // Garbage, truncated and oversized: three of every six are not HEP at all.
        bad_sent > 100 && rejected >= bad_sent / 2,
        "{bad_sent} bad datagrams sent, {rejected} rejected: {log}"
    );

    let received = stop_subscriber(subscriber);
    let topic = |suffix: &str| format!("imsight/v1/lab/{suffix}");
    // What arrived is what ONAP accepts: VES against the 7.2.1 fault schema, control-loop
    // events against Policy's checks.
    for (t, event) in &received {
        if t.contains("/ves/fault/") {
            assert_eq!(common::onap::ves_problems(event), Vec::<String>::new(), "{t}");
        }
        if t.contains("/onap/cl/") {
            assert_eq!(common::onap::control_loop_problems(event), Vec::<String>::new(), "{t}");
        }
    }

    // A state for every node.
    for node in ["pcscf-a", "pcscf-b"] {
        assert!(
            received.iter().any(|(t, _)| *t == topic(&format!("state/{node}"))),
            "no state of {node}"
        );
    }
    // The blocked node's alarm: ONSET then ABATED with one requestID, VES raise then clear
    // with one eventId.
    let control: Vec<&serde_json::Value> =
        received.iter().filter(|(t, _)| *t == topic("onap/cl/pcscf-b")).map(|(_, v)| v).collect();
    assert!(!control.is_empty(), "no control-loop event for pcscf-b: {log}");
    let onset = control.iter().find(|v| v["closedLoopEventStatus"] == "ONSET").expect("an ONSET");
    let abated = control
        .iter()
        .find(|v| v["closedLoopEventStatus"] == "ABATED" && v["requestID"] == onset["requestID"]);
    assert!(
        abated.is_some_and(|a| common::onap::same_alarm_instance(onset, a)),
        "the ONSET's ABATED: {control:?}"
    );
    let ves: Vec<&serde_json::Value> =
        received.iter().filter(|(t, _)| *t == topic("ves/fault/pcscf-b")).map(|(_, v)| v).collect();
    let id = &onset["additionalEventParams"]["imsight.vesEventId"];
    let severities: Vec<&str> = ves
        .iter()
        .filter(|v| v["event"]["commonEventHeader"]["eventId"] == *id)
        .filter_map(|v| v["event"]["faultFields"]["eventSeverity"].as_str())
        .collect();
    assert_eq!(severities.len(), 2, "{ves:?}");
    assert_eq!(severities[1], "NORMAL");
    // Nothing on the healthy node.
    assert!(
        !received.iter().any(|(t, _)| *t == topic("onap/cl/pcscf-a")),
        "a false alarm on pcscf-a"
    );

    // A restart resumes judging at once: the next ten minutes of the same network (its
    // recent minutes were saved) are judged from the first, not after a new hour.
    let next = SCENARIO
        .replace("2026-11-24T09:00:00Z", "2026-11-24T10:35:00Z")
        .replace("duration_minutes = 95", "duration_minutes = 10");
    let next = next[..next.find("[[faults]]").unwrap_or(next.len())].to_owned();
    std::fs::write(d("next.toml"), next).expect("scenario");
    let subscriber = subscribe(mqtt, "imsight/v1/lab/state/#", true);
    let appliance = start_appliance(&d("nodes.toml"), &d("state"), mqtt, hep);
    let (code, _, stderr) = common::run(&mut imsight(&[
        "simulate",
        "--scenario",
        &d("next.toml"),
        "--hep",
        &format!("127.0.0.1:{hep}"),
        "--hep-auth-key",
        HEP_KEY,
        "--speed",
        "300",
    ]));
    assert_eq!(code, 0, "{stderr}");
    std::thread::sleep(Duration::from_secs(2));
    let log = stop_appliance(appliance);
    assert!(log.contains("recent minutes restored") && log.contains("nodes=2"), "{log}");
    assert!(log.contains("warming_up: 0"), "{log}");
    let states: Vec<serde_json::Value> =
        stop_subscriber(subscriber).into_iter().map(|(_, v)| v).collect();
    assert!(states.len() >= 2 * 9, "{states:?}");
    assert!(states.iter().all(|s| s["state"] != "WARMING_UP"), "{states:?}");
}

#[test]
fn a_crash_loses_no_alarm_and_judging_resumes_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (mqtt, hep) = (free_port(), free_udp_port());
    let _broker = start_broker(dir.path(), mqtt);
    let subscriber = subscribe(mqtt, "imsight/v1/lab/#", false);
    write_scenario(dir.path(), &[]);
    let send = |range: &[&str]| {
        let target = format!("127.0.0.1:{hep}");
        let scenario = d("scenario.toml");
        let mut args = vec![
            "simulate",
            "--scenario",
            &scenario,
            "--hep",
            &target,
            "--hep-auth-key",
            HEP_KEY,
            "--speed",
            "300",
        ];
        args.extend_from_slice(range);
        let (code, _, stderr) = common::run(&mut imsight(&args));
        assert_eq!(code, 0, "{stderr}");
    };

    // The fault starts at minute 66; at minute 72 its alarm is up. Then the appliance dies
    // without a chance to save anything more.
    let (mut appliance, log) = start_appliance(&d("nodes.toml"), &d("state"), mqtt, hep);
    send(&["--until-minute", "72"]);
    std::thread::sleep(Duration::from_secs(2));
    appliance.0.kill().expect("kill -9");
    let _ = appliance.0.wait();
    drop(log);

    // Restarted, it gets the rest of the same traffic.
    let appliance = start_appliance(&d("nodes.toml"), &d("state"), mqtt, hep);
    send(&["--from-minute", "72"]);
    std::thread::sleep(Duration::from_secs(2));
    let log = stop_appliance(appliance);
    assert!(
        log.contains("restored_alarms=1"),
        "the alarm raised before the crash is restored: {log}"
    );

    let received = stop_subscriber(subscriber);
    let control: Vec<&serde_json::Value> = received
        .iter()
        .filter(|(t, _)| t == "imsight/v1/lab/onap/cl/pcscf-b")
        .map(|(_, v)| v)
        .collect();
    let statuses: Vec<&str> =
        control.iter().filter_map(|v| v["closedLoopEventStatus"].as_str()).collect();
    assert_eq!(
        statuses,
        ["ONSET", "ABATED"],
        "one alarm, raised before the crash, cleared after it: {control:?} ({} messages in all)",
        received.len()
    );
    assert_eq!(
        control[0]["requestID"], control[1]["requestID"],
        "the same identity across the crash"
    );
    // After the restart (minute 72 on), no minute of either node waits for a new hour.
    let after: Vec<&serde_json::Value> = received
        .iter()
        .filter(|(t, v)| {
            t.contains("/state/") && v["window"].as_str().is_some_and(|w| w >= "2026-11-24T10:13")
        })
        .map(|(_, v)| v)
        .collect();
    assert!(after.len() >= 2 * 10, "{after:?}");
    assert!(after.iter().all(|v| v["state"] != "WARMING_UP"), "{after:?}");
}

#[test]
fn sighup_reloads_the_decision_rule_and_names_what_waits_for_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (mqtt, hep) = (free_port(), free_udp_port());
    let _broker = start_broker(dir.path(), mqtt);
    let site = "[[nodes]]\nname = \"pcscf-a\"\naccess = [\"10.0.0.1:5060\"]\n";
    std::fs::write(d("site.toml"), site).expect("config");
    let (appliance, log) = start_appliance(&d("site.toml"), &d("state"), mqtt, hep);
    let pid = appliance.0.id().to_string();
    let hangup = |config: &str| {
        std::fs::write(d("site.toml"), config).expect("config");
        let status = Command::new("kill").args(["-HUP", &pid]).status().expect("kill");
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(700));
    };
    hangup(&format!("{site}[decisions]\nraise_after = 4\nclear_after = 5\n"));
    hangup(&format!("{site}[decisions]\nraise_after = 0\n[pipeline]\nwindow_minutes = -3\n"));
    hangup(&format!("{site}[decisions]\nraise_after = 3\n[pipeline]\nmax_nodes = 9\n"));
    let log = stop_appliance((appliance, log));
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("SIGHUP")).collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(lines[0].contains("reloaded") && lines[0].contains("raise_after: 4"), "{log}");
    assert!(lines[0].contains("clear_after: 5"), "{log}");
    // An invalid file changes nothing, and says every problem.
    assert!(lines[1].contains("not reloaded") && lines[1].contains("decisions.raise_after"));
    assert!(lines[1].contains("pipeline.window_minutes"), "{log}");
    // A change that needs a restart is named; the reloadable part still applies.
    assert!(lines[2].contains("next restart") && lines[2].contains("pipeline.max_nodes"), "{log}");
    assert!(!lines[2].contains("decisions."), "{log}");
    assert!(lines[3].contains("reloaded") && lines[3].contains("raise_after: 3"), "{log}");
}

#[test]
fn hep_over_tcp_is_taken_without_loss_and_a_broken_stream_is_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (mqtt, hep, http, tcp) = (free_port(), free_udp_port(), free_port(), free_port());
    let _broker = start_broker(dir.path(), mqtt);
    write_scenario(dir.path(), &[]);
    let env = [("IMSIGHT__SOURCES__HEP_TCP_LISTEN", format!("127.0.0.1:{tcp}"))];
    let appliance = start_appliance_with(&d("nodes.toml"), &d("state"), mqtt, hep, http, &env);

    // A client that speaks something else: counted, its connection closed, nothing else harmed.
    {
        use std::io::Write;
        let mut wrong = std::net::TcpStream::connect(("127.0.0.1", tcp)).expect("connect");
        wrong.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    }
    let (code, _, stderr) = common::run(&mut imsight(&[
        "simulate",
        "--scenario",
        &d("scenario.toml"),
        "--hep",
        &format!("127.0.0.1:{tcp}"),
        "--hep-tcp",
        "--hep-auth-key",
        HEP_KEY,
        "--until-minute",
        "10",
        "--speed",
        "0",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let sent: f64 = stderr
        .split(" HEP datagrams sent")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the sender's count");
    std::thread::sleep(Duration::from_secs(2));
    let (_, metrics) = http_get(http, "/metrics");
    let log = stop_appliance(appliance);
    assert!(sent > 2000.0, "{stderr}");
    assert_eq!(
        sample(&metrics, "imsight_source_received_total", &["source=\"hep_tcp\""]),
        sent,
        "every packet sent at full speed was taken: {metrics}"
    );
    assert_eq!(sample(&metrics, "imsight_source_dropped_total", &[]), 0.0, "{metrics}");
    assert_eq!(
        sample(&metrics, "imsight_input_rejected_total", &["reason=\"hep_framing\""]),
        1.0,
        "{metrics}"
    );
    assert!(sample(&metrics, "imsight_minutes_closed_total", &[]) >= 2.0 * 9.0, "{metrics}");
    assert!(log.contains("not a HEPv3 stream"), "{log}");
}

#[test]
fn captures_dropped_into_a_directory_are_judged_once_and_bad_files_set_aside() {
    judged_from_a_directory("--pcap", "traffic.pcap");
}

#[test]
fn probe_records_dropped_into_a_directory_are_judged_and_bad_lines_counted() {
    judged_from_a_directory("--xdr", "traffic.csv");
}

/// The scenario written by `simulate OUTPUT_FLAG FILE`, dropped into the input directory of a
/// running appliance beside a file that is no input, is judged: every judged minute's state is
/// published, and from a capture the fault gives its ONSET and ABATED. Probe records are judged
/// with a warning and no promise about the verdicts: the shipped model learnt from features of
/// SIP messages, which records cannot all carry (docs/verdicts.md, "Inputs").
fn judged_from_a_directory(output_flag: &str, file: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (mqtt, hep, http) = (free_port(), free_udp_port(), free_port());
    let _broker = start_broker(dir.path(), mqtt);
    let subscriber = subscribe(mqtt, "imsight/v1/lab/#", false);
    write_scenario(dir.path(), &[output_flag, &d(file)]);
    let mut bad_lines = 0.0;
    if file.ends_with(".csv") {
        // A probe that writes a damaged line now and then.
        let mut text = std::fs::read_to_string(d(file)).expect("records");
        text.push_str("pcscf-a,not,a,record\n");
        std::fs::write(d(file), text).expect("records");
        bad_lines = 1.0;
    }
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).expect("dir");
    let env = [
        ("IMSIGHT__SOURCES__INPUT_DIR", incoming.to_str().expect("utf-8").to_owned()),
        ("IMSIGHT__SOURCES__INPUT_SETTLE_SECS", "1".to_owned()),
    ];
    let appliance = start_appliance_with(&d("nodes.toml"), &d("state"), mqtt, hep, http, &env);
    // A probe writes, then renames into place; something else drops a file that is no input.
    let part = incoming.join(format!("{file}.part"));
    std::fs::copy(d(file), &part).expect("copy");
    std::fs::rename(&part, incoming.join(file)).expect("rename");
    std::fs::write(incoming.join("junk.pcap"), b"\x00\x01 this is not a capture\n").expect("junk");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !incoming.join("processed").join(file).exists() {
        assert!(Instant::now() < deadline, "the file was not read");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (_, metrics) = http_get(http, "/metrics");
    let log = stop_appliance(appliance);
    assert!(incoming.join("rejected/junk.pcap").exists(), "{log}");
    assert!(!incoming.join(file).exists() && !incoming.join("junk.pcap").exists());
    assert!(sample(&metrics, "imsight_source_received_total", &["input_dir"]) > 10_000.0);
    assert_eq!(
        sample(&metrics, "imsight_input_rejected_total", &["input_dir", "unreadable"]),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "imsight_input_rejected_total", &["input_dir", "bad_record_line"]),
        bad_lines,
        "{metrics}"
    );
    let received = stop_subscriber(subscriber);
    for node in ["pcscf-a", "pcscf-b"] {
        let judged = received.iter().filter(|(t, v)| {
            t.ends_with(&format!("/state/{node}"))
                && v["state"].as_str().is_some_and(|s| s != "WARMING_UP" && s != "NO_DATA")
        });
        assert!(judged.count() >= 10, "{node}'s minutes were judged: {log}");
    }
    if bad_lines > 0.0 {
        assert!(log.contains("verdicts on probe records are unreliable"), "{log}");
        return;
    }
    let statuses: Vec<&str> = received
        .iter()
        .filter(|(t, _)| t.ends_with("/onap/cl/pcscf-b"))
        .filter_map(|(_, v)| v["closedLoopEventStatus"].as_str())
        .collect();
    assert_eq!(statuses, ["ONSET", "ABATED"], "the file's fault was judged: {log}");
    assert!(
        !received.iter().any(|(t, _)| t.ends_with("/onap/cl/pcscf-a")),
        "a false alarm on pcscf-a"
    );
}

/// An HTTP/1.0 request with a JSON body on loopback: the status code and the body.
fn http_send(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("HTTP connects");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Waits until the input directory's reader moved `file` to `processed/`.
fn wait_processed(incoming: &std::path::Path, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !incoming.join("processed").join(file).exists() {
        assert!(Instant::now() < deadline, "{file} was not read");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn models_change_while_running_without_losing_a_minute_and_labels_come_in_over_http() {
    let dir = tempfile::tempdir().expect("dir");
    let d = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (mqtt, hep, http) = (free_port(), free_udp_port(), free_port());
    let _broker = start_broker(dir.path(), mqtt);
    // The scenario in two files: the first 70 minutes, then the rest.
    write_scenario(dir.path(), &["--xdr", &d("first.csv"), "--until-minute", "70"]);
    write_scenario(dir.path(), &["--xdr", &d("second.csv"), "--from-minute", "70"]);
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).expect("dir");
    let small = common::repo("models/siamese-lstm-small/siamese-lstm-small.onnx");
    let medium = common::repo("models/siamese-lstm-medium/siamese-lstm-medium.onnx");
    let env = [
        ("IMSIGHT__SOURCES__INPUT_DIR", incoming.to_str().expect("utf-8").to_owned()),
        ("IMSIGHT__SOURCES__INPUT_SETTLE_SECS", "1".to_owned()),
        ("IMSIGHT__INFERENCE__MODEL", small.to_str().expect("utf-8").to_owned()),
        ("IMSIGHT__HTTP__ALLOW_CHANGES", "true".to_owned()),
    ];
    let appliance = start_appliance_with(&d("nodes.toml"), &d("state"), mqtt, hep, http, &env);
    let body =
        |path: &std::path::Path| format!("{{\"path\": {:?}}}", path.to_str().expect("utf-8"));

    // A candidate judges beside the active model from the first minute.
    let (status, answer) = http_send(http, "PUT", "/api/v1/models/shadow", &body(&medium));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = http_send(http, "PUT", "/api/v1/models/shadow", &body(&small));
    assert_eq!(status, 409, "the active model cannot shadow itself: {answer}");
    let (_, models) = http_get(http, "/api/v1/models");
    let models: serde_json::Value = serde_json::from_str(&models).expect("json");
    assert!(models["shadow"].is_string() && models["shadow"] != models["active"], "{models}");
    std::fs::copy(d("first.csv"), incoming.join("first.csv")).expect("copy");
    wait_processed(&incoming, "first.csv");
    std::thread::sleep(Duration::from_secs(2));
    let (_, metrics) = http_get(http, "/metrics");
    let shadowed = sample(&metrics, "imsight_shadow_verdicts_total", &[]);
    assert!(shadowed >= 2.0 * 10.0, "the shadow judged every judged minute: {shadowed}\n{metrics}");

    // Promoted between two files: the second file is judged by the new model at once.
    let (status, answer) = http_send(http, "POST", "/api/v1/models/promote", "");
    assert_eq!(status, 200, "{answer}");
    let promoted: serde_json::Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(promoted["active"], models["shadow"]);
    std::fs::copy(d("second.csv"), incoming.join("second.csv")).expect("copy");
    wait_processed(&incoming, "second.csv");
    std::thread::sleep(Duration::from_secs(2));

    // Samples: every abnormal window was kept; an operator confirms one and enrols it.
    let (status, samples) = http_get(http, "/api/v1/samples");
    assert_eq!(status, 200, "{samples}");
    let samples: serde_json::Value = serde_json::from_str(&samples).expect("json");
    let list = samples["samples"].as_array().expect("samples");
    let fault =
        list.iter().find(|s| s["class"] == "traffic_blocked").expect("a sampled fault window");
    let id = fault["id"].as_u64().expect("id");
    let (status, answer) = http_send(
        http,
        "POST",
        &format!("/api/v1/samples/{id}/label"),
        r#"{"class": "traffic_blocked", "by": "noc", "reference": true}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let labelled: serde_json::Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(labelled["label"]["verdict"], "confirmed");
    assert!(labelled["label"]["reference"].is_u64(), "{labelled}");
    let (status, _) =
        http_send(http, "POST", "/api/v1/samples/999999/label", r#"{"class": "normal"}"#);
    assert_eq!(status, 404);
    let (status, monitor) = http_get(http, "/api/v1/monitor");
    assert_eq!(status, 200);
    let monitor: serde_json::Value = serde_json::from_str(&monitor).expect("json");
    assert!(monitor["all"]["judged_minutes"].as_u64().is_some_and(|n| n > 0), "{monitor}");
    assert!(monitor["all"]["verdict_mix"]["normal"].as_u64().is_some(), "{monitor}");

    // Rolled back: the first model judges again.
    let (status, answer) = http_send(http, "POST", "/api/v1/models/rollback", "");
    assert_eq!(status, 200, "{answer}");
    let rolled: serde_json::Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(rolled["active"], models["active"]);
    let (_, metrics) = http_get(http, "/metrics");
    let log = stop_appliance(appliance);
    // No minute lost or judged twice across the changes: every closed node-minute has
    // exactly one outcome.
    let closed = sample(&metrics, "imsight_minutes_closed_total", &[]);
    let outcomes = sample(&metrics, "imsight_verdicts_total", &[]);
    assert!(closed >= 2.0 * 93.0, "{metrics}");
    assert_eq!(outcomes, closed, "{metrics}");
    assert!(log.contains("model change applied between two minutes"), "{log}");
    let (code, stdout, stderr) =
        common::run(&mut imsight(&["model", "list", "--state-dir", &d("state")]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.lines().any(|l| l.starts_with("active") && l.contains("siamese-lstm-small")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("previous") && l.contains("siamese-lstm-medium")),
        "{stdout}"
    );
}
