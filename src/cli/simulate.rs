//! `imsight simulate`: run a scenario into pcap, HEP, probe records, labels and a summary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::CommandError;
use crate::sim::output::{HepSender, PcapWriter, XdrWriter};
use crate::sim::{Outputs, Scenario, Summary};

/// Options of `imsight simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario (TOML): nodes, network profiles, faults.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["list_profiles", "list_faults"])]
    pub scenario: Option<PathBuf>,
    /// Print the built-in network profiles as JSON (every key, as a scenario's `[[profiles]]`
    /// takes it) and exit.
    #[arg(long)]
    pub list_profiles: bool,
    /// Print the fault kinds (and which are novel: kept out of the shipped model's training)
    /// and the benign event kinds as JSON, and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// Seed; overrides the scenario's. The same seed and scenario give identical bytes.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the traffic as a pcap (Ethernet/IPv4/UDP).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Write probe records: CSV, or JSON lines when the name ends in .jsonl.
    #[arg(long, value_name = "FILE")]
    pub xdr: Option<PathBuf>,
    /// Send the traffic as HEPv3 over UDP to this address (e.g. 127.0.0.1:9060).
    #[arg(long, value_name = "ADDR")]
    pub hep: Option<SocketAddr>,
    /// Simulated seconds per real second for --hep (1 = real time; 0 = as fast as possible).
    #[arg(long, default_value_t = 1.0, requires = "hep")]
    pub speed: f64,
    /// Write or send only the traffic from this scenario minute on (the scenario still runs
    /// from its start, so the traffic is the same as in a whole run; labels and the summary
    /// cover the whole run).
    #[arg(long, value_name = "MINUTE")]
    pub from_minute: Option<u32>,
    /// Write or send only the traffic before this scenario minute.
    #[arg(long, value_name = "MINUTE")]
    pub until_minute: Option<u32>,
    /// Check the scenario (every problem listed), write --nodes if asked, and simulate
    /// nothing.
    #[arg(long)]
    pub check: bool,
    /// With --hep: send over TCP (HEPv3 packets back to back on one connection) instead of
    /// one UDP datagram each.
    #[arg(long, requires = "hep")]
    pub hep_tcp: bool,
    /// With --hep: the HEP authentication key to carry (the appliance's
    /// `sources.hep_auth_key`).
    #[arg(long, value_name = "KEY", requires = "hep", env = "IMSIGHT_HEP_AUTH_KEY")]
    pub hep_auth_key: Option<String>,
    /// Write the ground truth: one JSON line per node and minute (class, severity).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Write the summary JSON (counts per node and overall, per-minute series).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write the scenario's nodes as site configuration (`[[nodes]]` with their access and
    /// core addresses and HEP agent names), for `--config FILE` of `features`, `replay`,
    /// `refs enroll` and `run`.
    #[arg(long, value_name = "FILE")]
    pub nodes: Option<PathBuf>,
}

/// Slowest and fastest replay speeds of `--hep`, simulated seconds per real second.
const MIN_SPEED: f64 = 0.001;
const MAX_SPEED: f64 = 1_000_000.0;

/// Runs `imsight simulate`.
pub fn run(args: &SimulateArgs) -> Result<(), CommandError> {
    if args.list_profiles {
        let profiles = serde_json::to_string_pretty(&crate::sim::NetworkProfile::builtin())
            .map_err(|e| CommandError::Failed(e.into()))?;
        println!("{profiles}");
        return Ok(());
    }
    if args.list_faults {
        use crate::sim::{BenignKind, FaultKind};
        let label = |kinds: &[FaultKind]| kinds.iter().map(|k| k.label()).collect::<Vec<_>>();
        let benign = [
            BenignKind::PlannedRestart,
            BenignKind::FlashCrowd,
            BenignKind::MaintenanceDrain,
            BenignKind::ProbeGap,
            BenignKind::SubscriberGrowth,
        ];
        let listing = serde_json::json!({
            "faults": label(&FaultKind::ALL),
            "novel": label(&FaultKind::NOVEL),
            "benign": benign.iter().map(|k| k.label()).collect::<Vec<_>>(),
        });
        println!("{listing}");
        return Ok(());
    }
    let Some(path) = &args.scenario else {
        return Err(CommandError::Invalid {
            what: "arguments".to_owned(),
            problems: vec!["--scenario: required".to_owned()],
        });
    };
    let scenario = Scenario::load(path).map_err(|problems| CommandError::Invalid {
        what: format!("scenario {}", path.display()),
        problems,
    })?;
    // 0 = as fast as possible; otherwise simulated seconds per real second, within reason (a
    // speed of 5e-324 would ask for a wait longer than any `Duration`).
    if !(args.speed == 0.0 || (MIN_SPEED..=MAX_SPEED).contains(&args.speed)) {
        return Err(CommandError::Invalid {
            what: "arguments".to_owned(),
            problems: vec![format!("--speed: must be 0 or {MIN_SPEED} to {MAX_SPEED}")],
        });
    }
    if let Some(path) = &args.nodes {
        let text = nodes_config(&scenario);
        std::fs::write(path, text).map_err(|e| {
            CommandError::Failed(anyhow::anyhow!("cannot write nodes {}: {e}", path.display()))
        })?;
    }
    if args.check {
        eprintln!(
            "scenario {}: valid ({} minutes, {} node(s), {} fault(s))",
            scenario.name,
            scenario.duration_minutes,
            scenario.resolve().len(),
            scenario.faults.len()
        );
        return Ok(());
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let start = scenario.start_micros().unwrap_or_default();
    let nodes = scenario.resolve();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let summary = Summary::new(&scenario.name, seed, start, scenario.duration_minutes, &nodes);
    let mut outputs = Outputs::new(summary, start);
    let minute = |m: u32| start + u64::from(m) * 60_000_000;
    outputs.span = (args.from_minute.map_or(0, minute), args.until_minute.map_or(u64::MAX, minute));
    let open = |what: &str, path: &PathBuf, error: std::io::Error| {
        CommandError::Failed(anyhow::anyhow!("cannot write {what} {}: {error}", path.display()))
    };
    if let Some(path) = &args.pcap {
        outputs.pcap = Some(PcapWriter::create(path).map_err(|e| open("pcap", path, e))?);
    }
    if let Some(path) = &args.xdr {
        outputs.xdr = Some(
            XdrWriter::create(path, names.clone()).map_err(|e| open("probe records", path, e))?,
        );
    }
    if let Some(target) = args.hep {
        let connect = if args.hep_tcp { HepSender::connect_tcp } else { HepSender::connect };
        let sender = connect(target, args.speed, names)
            .map_err(|e| CommandError::Failed(anyhow::anyhow!("cannot send HEP to {target}: {e}")))?
            .with_auth_key(args.hep_auth_key.clone().map(String::into_bytes));
        outputs.hep = Some(sender);
    }
    let progress = indicatif::ProgressBar::with_draw_target(
        Some(u64::from(scenario.duration_minutes)),
        indicatif::ProgressDrawTarget::stderr(),
    );
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} simulated minutes ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    progress.set_message(format!("simulating {}", scenario.name));
    outputs.progress = Some(progress);

    crate::sim::run(&scenario, seed, &mut outputs);
    outputs
        .finish()
        .map_err(|e| CommandError::Failed(anyhow::anyhow!("cannot write the output: {e}")))?;

    let summary = &outputs.summary;
    if let Some(path) = &args.labels {
        std::fs::write(path, summary.labels_jsonl()).map_err(|e| open("labels", path, e))?;
    }
    if let Some(path) = &args.summary {
        let json = serde_json::to_string_pretty(summary).map_err(CommandError::failed)?;
        std::fs::write(path, json + "\n").map_err(|e| open("summary", path, e))?;
    }
    let classes: Vec<String> =
        summary.label_minutes().iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "simulated {} minutes of {} node{} (seed {seed}): {} messages, {} requests, {} responses; node-minutes: {}{}",
        scenario.duration_minutes,
        summary.nodes.len(),
        if summary.nodes.len() == 1 { "" } else { "s" },
        summary.messages,
        summary.overall.requests_total(),
        summary.overall.responses_total(),
        classes.join(", "),
        outputs.hep.as_ref().map(|h| h.stats()).map_or_else(String::new, |h| format!(
            "; {} HEP datagrams sent, {} refused by the socket",
            h.sent, h.send_failed
        )),
    );
    Ok(())
}

/// The scenario's nodes as a configuration fragment: each simulated P-CSCF with its access
/// and core address and its HEP agent name.
fn nodes_config(scenario: &Scenario) -> String {
    #[derive(serde::Serialize)]
    struct Fragment {
        nodes: Vec<crate::config::NodeConfig>,
    }
    let nodes = scenario.monitored_nodes();
    let body = toml::to_string(&Fragment { nodes }).unwrap_or_default();
    format!(
        "# The nodes of scenario `{}`, written by `imsight simulate --nodes`: pass this file\n\
         # to --config of features, replay, refs enroll or run.\n\n{body}",
        scenario.name
    )
}
