//! The command line: `imsight <command>`, one module per command that is built.

mod bench;
mod compare;
mod demo;
mod error;
mod features;
mod inputs;
mod inspect;
mod lifecycle;
mod model;
mod refs;
mod replay;
mod run;
mod samples;
mod simulate;
mod validate;

pub use error::{CommandError, exit_code};

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigSources, LoadedConfig, LogFormat};

/// Fault detection for IMS SIP nodes.
///
/// imsight turns the SIP traffic of IMS nodes (HEPv3 probes, pcap files, probe records) into
/// 130 features per node per minute, embeds the last hour with a Siamese LSTM, matches it
/// against labelled reference traffic and publishes each node's state and alarms over MQTT.
#[derive(Debug, Parser)]
#[command(name = "imsight", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration profile layered over the built-in defaults (default, demo, lab,
    /// production).
    #[arg(long, global = true, env = "IMSIGHT_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Site configuration file [default: /etc/imsight/imsight.toml when it exists].
    #[arg(long, global = true, env = "IMSIGHT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log filter for this run, overriding `log.level` (e.g. `debug`).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log format for this run, overriding `log.format`.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// The commands (docs/operations.md).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: HEP (UDP, TCP) and capture files in, verdicts and alarms out over
    /// MQTT, HTTP for health, metrics and the API
    Run(run::RunArgs),
    /// Show what captures contain: SIP requests per method, responses per class and code, HEP,
    /// transport details and errors by reason
    Inspect(inspect::InspectArgs),
    /// The whole appliance in under a minute: an embedded broker, the simulator sending HEP,
    /// the appliance judging it, and a timeline of what it publishes
    Demo(demo::DemoArgs),
    /// Generate P-CSCF traffic with injected faults as pcap, HEP, probe records, ground-truth
    /// labels and a summary
    Simulate(simulate::SimulateArgs),
    /// Judge captures or probe records offline in event time: verdicts and alarms per node and
    /// minute as JSON lines, scored against simulator labels when given
    Replay(replay::ReplayArgs),
    /// Compute the 130 features per node per minute of captures or probe records (CSV or
    /// .npy), or print the feature schema
    Features(features::FeaturesArgs),
    /// Manage the reference-vector store: list, enrol, remove, export, import
    #[command(subcommand)]
    Refs(refs::RefsCommand),
    /// Inspect and verify ONNX models
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// The sample database: list, show, label, export as a training dataset, prune
    #[command(subcommand)]
    Samples(samples::SamplesCommand),
    /// Check the configuration and report every problem with its key
    Validate(validate::ValidateArgs),
    /// Measure inference and matching throughput on this machine
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    /// Runs the chosen command.
    pub fn execute(self) -> Result<(), CommandError> {
        let global = self.global;
        match self.command {
            Command::Validate(args) => validate::run(&global, &args),
            Command::Model(command) => model::run(&global, command),
            Command::Run(args) => run::run(&global, &args),
            Command::Inspect(args) => inspect::run(&args),
            Command::Demo(args) => demo::run(&global, &args),
            Command::Simulate(args) => simulate::run(&args),
            Command::Replay(args) => replay::run(&global, &args),
            Command::Features(args) => features::run(&global, &args),
            Command::Refs(command) => refs::run(&global, command),
            Command::Samples(command) => samples::run(&global, command),
            Command::Bench(command) => bench::run(&global, command),
        }
    }
}

impl GlobalArgs {
    /// Loads the configuration these options select from the process environment, applying
    /// the per-run log overrides, and sets up logging.
    pub fn load_config(&self) -> Result<LoadedConfig, CommandError> {
        let sources = ConfigSources {
            profile: self.profile.clone(),
            file: self.config.clone(),
            ..ConfigSources::default()
        };
        let mut loaded = sources.load().map_err(CommandError::Config)?;
        if let Some(level) = &self.log_level {
            loaded.config.log.level.clone_from(level);
        }
        if let Some(format) = self.log_format {
            loaded.config.log.format = format;
        }
        crate::telemetry::init(&loaded.config.log);
        Ok(loaded)
    }
}
