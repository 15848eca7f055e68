//! `imsight model ...`: look at and exercise ONNX models.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::{CommandError, GlobalArgs};
use crate::infer::{ModelSession, OnnxRuntime, probe::probe_input};

/// Model commands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Load a model through ONNX Runtime, check it against the model contract and embed a
    /// deterministic probe input
    Verify(VerifyArgs),
    /// The models registered in the state database, the active one marked
    List(StateArgs),
    /// A model's metadata and model card (a file, or the active model)
    Inspect(InspectArgs),
    /// Check a model, register it, import its reference pack, embed the enrolled references
    /// again with it, and make it the active model
    Activate(ActivateArgs),
    /// Make the previous model active again
    Rollback(StateArgs),
    /// Let a candidate model judge beside the active one (its verdicts are stored, never
    /// published): registers it, imports its reference pack, embeds the enrolled references
    /// with it
    Shadow(ShadowArgs),
    /// Make the shadow model the active one (the active one becomes the previous)
    Promote(StateArgs),
    /// Compare the shadow (or another) model with the active one: agreement, and where the
    /// truth is known which is better
    Compare(CompareArgs),
}

/// Options of `model shadow`.
#[derive(Debug, Args)]
pub struct ShadowArgs {
    /// The candidate ONNX file.
    #[arg(required_unless_present = "off")]
    pub file: Option<PathBuf>,
    /// Stop shadowing.
    #[arg(long, conflicts_with = "file")]
    pub off: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Options of `model compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Judge the sample database's windows with both models now, instead of reading the
    /// shadow verdicts stored by `run` or `replay --shadow`.
    #[arg(long)]
    pub samples: bool,
    /// The candidate ONNX file (default: the shadow model).
    #[arg(long, value_name = "FILE")]
    pub candidate: Option<PathBuf>,
    /// The truth from `imsight simulate --labels` (recovery tails left out); labelled
    /// samples are the truth too.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// The state directory.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state directory (default: appliance.state_dir).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Options of `model inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX file (default: the active model, else inference.model).
    pub file: Option<PathBuf>,
    #[command(flatten)]
    state: StateArgs,
}

/// Options of `model activate`.
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// The ONNX file.
    pub file: PathBuf,
    #[command(flatten)]
    state: StateArgs,
}

/// Options of `imsight model verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The ONNX model file.
    pub file: PathBuf,
    /// Windows in the probe batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub batch: u16,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a model command.
pub fn run(global: &GlobalArgs, command: ModelCommand) -> Result<(), CommandError> {
    match command {
        ModelCommand::Verify(args) => verify(global, &args),
        ModelCommand::List(args) => super::lifecycle::list(global, args.state_dir.as_deref()),
        ModelCommand::Inspect(args) => {
            super::lifecycle::inspect(global, args.file.as_deref(), args.state.state_dir.as_deref())
        }
        ModelCommand::Activate(args) => {
            super::lifecycle::activate(global, &args.file, args.state.state_dir.as_deref())
        }
        ModelCommand::Rollback(args) => {
            super::lifecycle::rollback(global, args.state_dir.as_deref())
        }
        ModelCommand::Shadow(args) => super::lifecycle::shadow(
            global,
            args.file.as_deref().filter(|_| !args.off),
            args.state.state_dir.as_deref(),
        ),
        ModelCommand::Promote(args) => super::lifecycle::promote(global, args.state_dir.as_deref()),
        ModelCommand::Compare(args) => super::compare::compare(global, &args),
    }
}

fn verify(global: &GlobalArgs, args: &VerifyArgs) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;

    let started = Instant::now();
    let mut model = ModelSession::load(&runtime, &args.file, &config.inference)
        .map_err(CommandError::failed)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let window = config.pipeline.window_minutes;
    model.check_contract(window).map_err(CommandError::failed)?;

    let windows = usize::from(args.batch);
    let input = probe_input(windows, window as usize);
    let started = Instant::now();
    let embeddings = model.embed(windows, window as usize, &input).map_err(CommandError::failed)?;
    let run_ms = started.elapsed().as_secs_f64() * 1e3;

    let description = model.description();
    if args.json {
        let report = serde_json::json!({
            "model": model.path(),
            "library": runtime.library(),
            "description": description,
            "contract": "ok",
            "window_minutes": window,
            "batch": windows,
            "load_ms": load_ms,
            "run_ms": run_ms,
            "embedding_dim": embeddings.dim,
            "embedding": embeddings.rows().collect::<Vec<_>>(),
        });
        println!("{report}");
        return Ok(());
    }
    println!("model      {}", model.path().display());
    println!("runtime    {} ({})", runtime.library().display(), description.execution_provider);
    for tensor in &description.inputs {
        println!("input      {}: {} {}", tensor.name, tensor.element_type, tensor.shape);
    }
    for tensor in &description.outputs {
        println!("output     {}: {} {}", tensor.name, tensor.element_type, tensor.shape);
    }
    if let Some(producer) = &description.producer {
        println!("producer   {producer}");
    }
    for (key, value) in &description.metadata {
        println!("metadata   {key} = {value}");
    }
    println!("contract   ok for a {window}-minute window");
    println!("loaded     in {load_ms:.1} ms");
    println!(
        "embedded   {windows} probe window{} in {run_ms:.2} ms, dimension {}",
        if windows == 1 { "" } else { "s" },
        embeddings.dim
    );
    if let Some(first) = embeddings.rows().next() {
        let shown: Vec<String> = first.iter().map(|v| format!("{v:.6}")).collect();
        println!("embedding  [{}]", shown.join(", "));
    }
    Ok(())
}
