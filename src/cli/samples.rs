//! `imsight samples ...`: the sample database: list, show, label (and enrol as a reference),
//! export as a training dataset, prune by the retention policy.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use imsight_parsers::xdr::time::format_timestamp;

use super::refs::StoreArgs;
use super::{CommandError, GlobalArgs};
use crate::config::Config;
use crate::infer::{ModelSession, OnnxRuntime, WindowEmbedder};
use crate::store::{SampleFilter, SampleLabel, Store};

/// Sample database commands.
#[derive(Debug, Subcommand)]
pub enum SamplesCommand {
    /// List the stored samples (oldest first)
    List(ListArgs),
    /// One sample: verdict, explanation, provenance, label
    Show(ShowArgs),
    /// Confirm or correct a sample's verdict; with --reference it also becomes a reference
    /// of its node
    Label(LabelArgs),
    /// Write samples in the training dataset format (training/ reads it)
    Export(ExportArgs),
    /// Apply the retention policy ([samples] max_age_days, max_size_mb) now
    Prune(PruneArgs),
}

/// Which samples.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this node.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Only this verdict class.
    #[arg(long, value_name = "CLASS")]
    class: Option<String>,
    /// Only samples an operator labelled.
    #[arg(long)]
    labelled: bool,
}

impl FilterArgs {
    fn filter(&self) -> SampleFilter {
        SampleFilter { node: self.node.clone(), class: self.class.clone(), labelled: self.labelled }
    }
}

/// Options of `samples list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// One JSON object per sample.
    #[arg(long)]
    json: bool,
}

/// Options of `samples show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The sample id.
    id: u64,
}

/// Options of `samples label`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The sample id.
    id: u64,
    /// What the traffic really was (`normal` or a fault class).
    #[arg(long, value_name = "CLASS")]
    class: String,
    /// Who says so.
    #[arg(long, value_name = "NAME", default_value = "operator")]
    by: String,
    /// Why, or what happened.
    #[arg(long, value_name = "TEXT", default_value = "")]
    note: String,
    /// Also enrol the window as a reference of its node with this class, embedded by the
    /// active model.
    #[arg(long)]
    reference: bool,
}

/// Options of `samples export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// The dataset folder to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The split every window goes to.
    #[arg(long, default_value = "train")]
    split: String,
}

/// Options of `samples prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The time retention counts from (RFC 3339; default: the newest sample's minute).
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
}

/// Runs a samples command.
pub fn run(global: &GlobalArgs, command: SamplesCommand) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    match command {
        SamplesCommand::List(args) => list(&config, &args),
        SamplesCommand::Show(args) => show(&config, &args),
        SamplesCommand::Label(args) => label(&config, &args),
        SamplesCommand::Export(args) => export(&config, &args),
        SamplesCommand::Prune(args) => prune(&config, &args),
    }
}

fn open(config: &Config, args: &StoreArgs) -> Result<Store, CommandError> {
    Store::open(args.state_dir.as_deref().unwrap_or(&config.appliance.state_dir))
        .map_err(super::lifecycle::store_error)
}

fn list(config: &Config, args: &ListArgs) -> Result<(), CommandError> {
    let store = open(config, &args.store)?;
    let samples = store.samples(&args.filter.filter()).map_err(CommandError::failed)?;
    if args.json {
        for s in &samples {
            println!("{}", serde_json::to_string(s).map_err(CommandError::failed)?);
        }
        return Ok(());
    }
    println!(
        "{:>6}  {:<12} {:<27} {:<18} {:>8}  {:<16} label",
        "id", "node", "window end", "verdict", "distance", "model"
    );
    let mut bytes = 0;
    for s in &samples {
        bytes += s.bytes;
        let label = match &s.label {
            Some(l) => format!("{} ({} by {})", l.class, l.verdict, l.by),
            None => "-".into(),
        };
        println!(
            "{:>6}  {:<12} {:<27} {:<18} {:>8.3}  {:<16} {}",
            s.id,
            s.node,
            format_timestamp(s.minute),
            s.class,
            s.verdict["distance"].as_f64().unwrap_or(f64::NAN),
            s.model,
            label
        );
    }
    eprintln!("{} samples, {:.1} MiB", samples.len(), bytes as f64 / 1_048_576.0);
    Ok(())
}

fn show(config: &Config, args: &ShowArgs) -> Result<(), CommandError> {
    let store = open(config, &args.store)?;
    let sample = store.sample(args.id).map_err(CommandError::failed)?;
    let sample = sample.ok_or_else(|| CommandError::failed(format!("no sample {}", args.id)))?;
    let mut value = serde_json::to_value(&sample).map_err(CommandError::failed)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("window_end".into(), format_timestamp(sample.minute).into());
    }
    println!("{}", serde_json::to_string_pretty(&value).map_err(CommandError::failed)?);
    Ok(())
}

fn label(config: &Config, args: &LabelArgs) -> Result<(), CommandError> {
    if args.class.is_empty() || args.class.contains(char::is_whitespace) {
        return Err(CommandError::failed(format!("`{}` is not a class name", args.class)));
    }
    let model = if args.reference {
        Some(super::lifecycle::model_in_use(
            config,
            args.store.model.as_deref(),
            args.store.state_dir.as_deref(),
        )?)
    } else {
        None
    };
    let store = open(config, &args.store)?;
    let sample = store.sample(args.id).map_err(CommandError::failed)?;
    let sample = sample.ok_or_else(|| CommandError::failed(format!("no sample {}", args.id)))?;
    let mut label = SampleLabel::of(&sample, &args.class, &args.by, &args.note);
    if let Some(model) = model {
        let runtime =
            OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
        let session = ModelSession::load(&runtime, &model, &config.inference)
            .map_err(CommandError::failed)?;
        let mut embedder = WindowEmbedder::new(session, config.pipeline.window_minutes)
            .map_err(CommandError::failed)?;
        let provenance = serde_json::json!({
            "labelled_by": args.by,
            "note": args.note,
            "enrolled": label.at,
        });
        let model_id = crate::store::model_id(&model).map_err(CommandError::failed)?;
        let (reference, window) = crate::store::registry::sample_reference(
            &store,
            args.id,
            &args.class,
            provenance,
            &model_id,
            &mut embedder,
        )
        .map_err(CommandError::failed)?;
        let ids =
            store.add(&[(reference, Some(window.as_slice()))]).map_err(CommandError::failed)?;
        label.reference = ids.first().copied();
    }
    store.label_sample(args.id, &label).map_err(CommandError::failed)?;
    eprintln!(
        "sample {} ({} at {}): {} as {}{}",
        sample.id,
        sample.node,
        format_timestamp(sample.minute),
        label.verdict,
        label.class,
        label
            .reference
            .map(|id| format!("; reference {id} of node {} enrolled", sample.node))
            .unwrap_or_default()
    );
    Ok(())
}

fn export(config: &Config, args: &ExportArgs) -> Result<(), CommandError> {
    let store = open(config, &args.store)?;
    let samples = store.samples(&args.filter.filter()).map_err(CommandError::failed)?;
    if samples.is_empty() {
        return Err(CommandError::failed("no sample matches: nothing to export"));
    }
    let mut with_windows = Vec::with_capacity(samples.len());
    for s in samples {
        let Some(window) = store.sample_window(s.id).map_err(CommandError::failed)? else {
            tracing::warn!(id = s.id, "sample without its window: skipped");
            continue;
        };
        // A sample's class is its label's, else its verdict's (the manifest says which).
        let (class, label_source) = match s.truth() {
            Some(truth) => (truth.to_owned(), "operator"),
            None => (s.class.clone(), "verdict"),
        };
        with_windows.push(crate::dataset::export::ExportWindow {
            id: s.id,
            node: s.node.clone(),
            minute: s.minute,
            class,
            label_source,
            about: serde_json::json!({
                "model": s.model,
                "verdict": s.verdict,
                "label": s.label,
                "provenance": s.provenance,
            }),
            window,
        });
    }
    let exported = crate::dataset::export::write_training_set(
        &args.out,
        &with_windows,
        config.pipeline.window_minutes as usize,
        &args.split,
    )?;
    eprintln!(
        "wrote {} windows ({} labelled by an operator, the others with their verdict as class) to {}: {}",
        exported.windows,
        exported.labelled,
        args.out.display(),
        exported.classes.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn prune(config: &Config, args: &PruneArgs) -> Result<(), CommandError> {
    let store = open(config, &args.store)?;
    let now = match &args.now {
        Some(text) => imsight_parsers::xdr::time::parse_timestamp(text)
            .ok_or_else(|| CommandError::failed(format!("`{text}` is not an RFC 3339 time")))?,
        None => {
            let all = store.samples(&SampleFilter::default()).map_err(CommandError::failed)?;
            all.iter().map(|s| s.minute).max().unwrap_or(0)
        }
    };
    let (removed, left) =
        store.prune_samples(&config.samples.retention(), now).map_err(CommandError::failed)?;
    eprintln!(
        "removed {removed} samples; {:.1} MiB left (bound {} MiB, {} days)",
        left as f64 / 1_048_576.0,
        config.samples.max_size_mb,
        config.samples.max_age_days
    );
    Ok(())
}
