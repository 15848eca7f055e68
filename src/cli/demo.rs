//! `imsight demo`: the whole appliance on this machine, in under a minute, with nothing to
//! install: an embedded MQTT broker on a free loopback port, the appliance (`run`) on a
//! temporary state directory, and the simulator sending HEP over UDP at a few hundred times
//! real time (`profiles/scenarios/demo.toml`: three P-CSCFs, one loses its HSS link after the
//! first hour). It prints what arrives on the broker as a timeline, then a summary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use imsight_parsers::xdr::time::format_timestamp;

use super::{CommandError, GlobalArgs};
use crate::pipeline::PipelineSettings;
use crate::publish::PublishSettings;
use crate::runtime::broker::{Seen, start_embedded_broker};
use crate::runtime::mqtt::MqttSettings;
use crate::runtime::{LiveControl, LiveSettings, run_live};
use crate::sim::output::HepSender;
use crate::sim::{Outputs, Scenario, Summary};

/// The demo's scenario.
const SCENARIO: &str = include_str!("../../profiles/scenarios/demo.toml");

/// Options of `imsight demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 400.0)]
    pub speed: f64,
}

/// Runs the demo.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<(), CommandError> {
    let started = Instant::now();
    // A readable timeline: the appliance's own logs only when asked (`--log-level`).
    let mut global = global.clone();
    if global.log_level.is_none() && std::env::var_os(crate::telemetry::LOG_ENV).is_none() {
        global.log_level = Some("warn,rumqttd=error".into());
    }
    let mut config = global.load_config()?.config;
    let scenario = Scenario::parse(SCENARIO)
        .map_err(|problems| CommandError::Invalid { what: "demo scenario".into(), problems })?;
    let state = tempfile::tempdir()
        .map_err(|e| CommandError::failed(format!("cannot make a state directory: {e}")))?;
    config.appliance.name = "demo".into();
    config.nodes = scenario.monitored_nodes();
    let mqtt_port = free_tcp_port()?;
    let hep_addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()?));

    println!(
        "imsight demo: {} nodes, {} simulated minutes at {}x",
        config.nodes.len(),
        scenario.duration_minutes,
        args.speed
    );
    let seen = start_embedded_broker(SocketAddr::from(([127, 0, 0, 1], mqtt_port)), "imsight/#")
        .map_err(CommandError::failed)?;
    println!("  broker    embedded MQTT broker on 127.0.0.1:{mqtt_port}");

    let judge = super::replay::build_judge(
        &config,
        &super::replay::JudgeOptions {
            state_dir: Some(state.path()),
            explain: true,
            ..Default::default()
        },
    )?;
    let (store, model, _) = super::refs::open(
        &config,
        &super::refs::StoreArgs { state_dir: Some(state.path().to_path_buf()), model: None },
    )?;
    println!("  model     {}", model.display());
    let live = LiveSettings {
        publish: PublishSettings {
            appliance: config.appliance.name.clone(),
            topic_root: config.mqtt.topic_root.clone(),
            ..PublishSettings::default()
        },
        mqtt: MqttSettings {
            host: "127.0.0.1".into(),
            port: mqtt_port,
            client_id: "imsight-demo".into(),
            credentials: None,
            keep_alive: Duration::from_secs(30),
            window: 64,
            health_topic: String::new(),
            tls: None,
        },
        outbox_limit: config.mqtt.outbox_limit as usize,
        pipeline: PipelineSettings {
            auto_discover: false,
            ..PipelineSettings::from_config(&config)
        },
        hep: crate::runtime::hep::HepListenerSettings {
            listen: hep_addr,
            tcp_listen: None,
            auth_key: None,
        },
        // The demo shows its outputs on the terminal; it serves no HTTP.
        http_listen: None,
        input_dir: None,
        // Simulated time runs far faster than the wall clock.
        follow_wall_clock: false,
        metrics: Arc::default(),
        window_minutes: u64::from(config.pipeline.window_minutes),
        restored_alarms: Vec::new(),
        samples: None,
        http_allow_changes: false,
    };
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (stop, stop_rx) = std::sync::mpsc::channel();
    let control = LiveControl { ready: Some(ready_tx), stop: Some(stop_rx), reload: None };
    let store = Arc::new(store);
    let appliance = std::thread::spawn(move || run_live(live, judge, store, control, None));
    ready
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| CommandError::failed("the appliance did not start"))?;
    println!("  appliance listening for HEP on {hep_addr}, publishing under imsight/v1/demo/");
    println!();

    // The simulator, on its own thread, paced at `speed`.
    let names: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
    let sender = HepSender::connect(hep_addr, args.speed, names)
        .map_err(|e| CommandError::failed(format!("HEP sender: {e}")))?;
    let simulator = std::thread::spawn(move || {
        let start = scenario.start_micros().unwrap_or_default();
        let nodes = scenario.resolve();
        let mut outputs = Outputs::new(
            Summary::new(&scenario.name, scenario.seed, start, scenario.duration_minutes, &nodes),
            start,
        );
        outputs.hep = Some(sender);
        crate::sim::run(&scenario, scenario.seed, &mut outputs);
        outputs.hep.as_ref().map(HepSender::stats)
    });

    let mut timeline = Timeline::default();
    let mut stopping: Option<Instant> = None;
    loop {
        match seen.recv_timeout(Duration::from_millis(100)) {
            Ok(message) => timeline.show(&message),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if stopping.is_none() && simulator.is_finished() {
            // The traffic has ended: the appliance judges the minutes it holds and drains.
            let _ = stop.send(());
            stopping = Some(Instant::now());
        }
        if stopping
            .is_some_and(|at| appliance.is_finished() && at.elapsed() > Duration::from_secs(1))
        {
            break;
        }
    }
    while let Ok(message) = seen.recv_timeout(Duration::from_millis(300)) {
        timeline.show(&message);
    }
    let sent = simulator.join().ok().flatten();
    let outcome =
        appliance.join().map_err(|_| CommandError::failed("the appliance thread failed"))?;
    outcome.map_err(CommandError::failed)?;
    println!();
    println!(
        "summary: {} state messages, {} alarms raised and {} cleared (ONAP ONSET/ABATED {}/{}, VES raise/clear {}/{}), {} alert updates; {} HEP datagrams sent ({} refused); {:.1} s",
        timeline.states,
        timeline.raised,
        timeline.cleared,
        timeline.onsets,
        timeline.abated,
        timeline.ves_raise,
        timeline.ves_clear,
        timeline.alerts,
        sent.map_or(0, |s| s.sent),
        sent.map_or(0, |s| s.send_failed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn free_tcp_port() -> Result<u16, CommandError> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| CommandError::failed(format!("no free port: {e}")))?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| CommandError::failed(format!("no free port: {e}")))
}

fn free_udp_port() -> Result<u16, CommandError> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")
        .map_err(|e| CommandError::failed(format!("no free port: {e}")))?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| CommandError::failed(format!("no free port: {e}")))
}

/// What the demo prints as messages arrive.
#[derive(Debug, Default)]
struct Timeline {
    state_of: HashMap<String, String>,
    states: u64,
    raised: u64,
    cleared: u64,
    onsets: u64,
    abated: u64,
    ves_raise: u64,
    ves_clear: u64,
    alerts: u64,
}

impl Timeline {
    fn show(&mut self, message: &Seen) {
        let parts: Vec<&str> = message.topic.split('/').collect();
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&message.payload) else {
            if message.topic.ends_with("/health") {
                println!("{:<22} appliance {}", "", String::from_utf8_lossy(&message.payload));
            }
            return;
        };
        let node = parts.last().copied().unwrap_or_default();
        match parts.get(3..parts.len().saturating_sub(1)) {
            Some(["state"]) => {
                self.states += 1;
                let state = value["state"].as_str().unwrap_or_default().to_owned();
                if self.state_of.get(node) != Some(&state) {
                    let at = value["window"].as_str().unwrap_or_default().trim_end_matches("/PT1M");
                    let confidence = value["confidence"]
                        .as_f64()
                        .map(|c| format!(" (confidence {c:.2})"))
                        .unwrap_or_default();
                    println!("{at:<22} {node:<8} state {state}{confidence}");
                    self.state_of.insert(node.to_owned(), state);
                }
            }
            Some(["onap", "cl"]) => {
                let status = value["closedLoopEventStatus"].as_str().unwrap_or_default();
                let at = if status == "ONSET" {
                    &value["closedLoopAlarmStart"]
                } else {
                    &value["closedLoopAlarmEnd"]
                };
                let at = at.as_u64().map(|ms| format_timestamp(ms * 1000)).unwrap_or_default();
                if status == "ONSET" {
                    self.onsets += 1;
                } else {
                    self.abated += 1;
                }
                println!(
                    "{:<22} {node:<8} ONAP {status} {} requestID {}",
                    format!("{}Z", &at[..at.len().min(19)]),
                    value["closedLoopControlName"].as_str().unwrap_or_default(),
                    value["requestID"].as_str().unwrap_or_default()
                );
            }
            Some(["ves", "fault"]) => {
                let header = &value["event"]["commonEventHeader"];
                let severity =
                    value["event"]["faultFields"]["eventSeverity"].as_str().unwrap_or_default();
                let clear = severity == "NORMAL";
                if clear {
                    self.ves_clear += 1;
                    self.cleared += 1;
                } else {
                    self.ves_raise += 1;
                    self.raised += 1;
                }
                println!(
                    "{:<22} {node:<8} VES {} {} eventId {}",
                    "",
                    if clear { "clear" } else { "raise" },
                    severity,
                    header["eventId"].as_str().unwrap_or_default()
                );
            }
            Some(["alert"]) => {
                // Re-sent every minute while firing: shown once, counted always.
                self.alerts += 1;
                let name = value["labels"]["alertname"].as_str().unwrap_or_default();
                let starts = value["startsAt"].as_str().unwrap_or_default();
                let key = format!("alert/{node}/{name}/{starts}");
                self.state_of.entry(key).or_insert_with(|| {
                    println!(
                        "{starts:<22} {node:<8} ALERT {name}: {}",
                        value["annotations"]["summary"].as_str().unwrap_or_default()
                    );
                    let description =
                        value["annotations"]["description"].as_str().unwrap_or_default();
                    if !description.is_empty() {
                        println!("{:<22} {:<8} why: {description}", "", "");
                    }
                    String::new()
                });
            }
            _ => {}
        }
    }
}
