//! `imsight refs ...`: the reference store: list, enrol a node's traffic, remove, export and
//! import. Opening the store imports the model's shipped reference pack the first time.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use imsight_parsers::xdr::time::{format_timestamp, parse_timestamp};

use super::inputs::{InputArgs, require_nodes};
use super::{CommandError, GlobalArgs};
use crate::config::Config;
use crate::infer::{ModelSession, OnnxRuntime, WindowEmbedder};
use crate::judge::{Embedder, MinuteWindow, NodeWindows};
use crate::matcher::pack::ReferencePack;
use crate::replay::FeatureReplay;
use crate::store::{Scope, Store, StoredReference, model_id};

/// The format of `refs export` and `refs import`.
pub const EXPORT_FORMAT: &str = "imsight.reference-export/1";

/// Reference store commands.
#[derive(Debug, Subcommand)]
pub enum RefsCommand {
    /// List the stored references
    List(ListArgs),
    /// Enrol windows of a node's traffic as its own references of a class (one-shot
    /// adaptation: a few windows of a new network's normal traffic)
    Enroll(EnrollArgs),
    /// Remove references by id
    Remove(RemoveArgs),
    /// Write references as JSON
    Export(ExportArgs),
    /// Add references from a `refs export` file or a reference pack (as global references)
    Import(ImportArgs),
}

/// Where the store and the model are.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The state directory (default: appliance.state_dir).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The model the references belong to (default: inference.model).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
}

/// Options of `refs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// One JSON object per reference.
    #[arg(long)]
    json: bool,
}

/// Options of `refs enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The class the windows are (`normal`, or a fault kind).
    #[arg(long, value_name = "CLASS")]
    label: String,
    /// The node whose traffic is enrolled (as configured, or as the inputs name it).
    #[arg(long, value_name = "NAME")]
    node: String,
    /// Captures or probe records holding the node's traffic.
    #[arg(long = "input", value_name = "FILE", required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
    /// Only windows ending at or after this time (RFC 3339 or epoch seconds).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    from: Option<u64>,
    /// Only windows ending at or before this time.
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    to: Option<u64>,
    /// How many windows, evenly spread over the range (0: every window).
    #[arg(long, default_value_t = 5)]
    windows: usize,
    /// Take all SIP that matches no configured node as the enrolled node (a capture of that
    /// node alone).
    #[arg(long)]
    single_node: bool,
    /// UDP port carrying HEP; repeat for several.
    #[arg(long = "hep-port", value_name = "PORT", default_value = "9060")]
    hep_ports: Vec<u16>,
}

/// Options of `refs remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Reference ids (as `refs list` shows them).
    #[arg(required = true)]
    ids: Vec<u64>,
}

/// Options of `refs export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Only the references of this node.
    #[arg(long = "of-node", value_name = "NAME")]
    of_node: Option<String>,
    /// Also the global references (they come from a model's reference pack, which the
    /// appliance imports by itself: leave them out to move enrolments between appliances).
    #[arg(long)]
    with_global: bool,
}

/// Options of `refs import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// A `refs export` file, or a reference pack (`references.json`).
    file: PathBuf,
}

fn time_arg(text: &str) -> Result<u64, String> {
    parse_timestamp(text)
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 time or epoch seconds"))
}

/// Runs a refs command.
pub fn run(global: &GlobalArgs, command: RefsCommand) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    match command {
        RefsCommand::List(args) => list(&config, &args),
        RefsCommand::Enroll(args) => enroll(&config, &args),
        RefsCommand::Remove(args) => {
            let (store, _, _) = open(&config, &args.store)?;
            let removed = store.remove(&args.ids).map_err(CommandError::failed)?;
            eprintln!("removed {removed} of {} reference(s)", args.ids.len());
            Ok(())
        }
        RefsCommand::Export(args) => export(&config, &args),
        RefsCommand::Import(args) => import(&config, &args),
    }
}

/// The store, the model file and its id; the model's shipped pack is imported into a store
/// that does not hold it yet.
pub(super) fn open(
    config: &Config,
    args: &StoreArgs,
) -> Result<(Store, PathBuf, String), CommandError> {
    let model =
        super::lifecycle::model_in_use(config, args.model.as_deref(), args.state_dir.as_deref())?;
    let id = model_id(&model).map_err(CommandError::failed)?;
    let store = Store::open(args.state_dir.as_deref().unwrap_or(&config.appliance.state_dir))
        .map_err(CommandError::failed)?;
    let pack_path = model.with_file_name("references.json");
    if pack_path.is_file() {
        let pack = read_pack(&pack_path)?;
        let added = store
            .import_pack(&id, &pack, &pack_path.display().to_string())
            .map_err(CommandError::failed)?;
        if added > 0 {
            eprintln!("imported the shipped reference pack of model {id}: {added} references");
        }
    }
    Ok((store, model, id))
}

fn read_pack(path: &Path) -> Result<ReferencePack, CommandError> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ReferencePack::from_json(&text).with_context(|| path.display().to_string())?)
}

fn list(config: &Config, args: &ListArgs) -> Result<(), CommandError> {
    let (store, _, active) = open(config, &args.store)?;
    let all = store.list().map_err(CommandError::failed)?;
    if args.json {
        for r in &all {
            println!("{}", serde_json::to_string(r).map_err(CommandError::failed)?);
        }
        return Ok(());
    }
    // The shipped pack is thousands of references: counted per class, enrolled ones listed.
    let mut global: std::collections::BTreeMap<(&str, &str), usize> =
        std::collections::BTreeMap::new();
    println!("{:>6}  {:<18} {:<14} {:<16} provenance", "id", "class", "node", "model");
    for r in &all {
        match &r.scope {
            Scope::Global => *global.entry((r.model.as_str(), r.class.as_str())).or_default() += 1,
            Scope::Node(node) => println!(
                "{:>6}  {:<18} {:<14} {:<16} {}",
                r.id,
                r.class,
                node,
                r.model,
                serde_json::to_string(&r.provenance).unwrap_or_default()
            ),
        }
    }
    for ((model, class), n) in global {
        println!(
            "global  {class:<18} {n:>6} references of model {model}{}",
            if model == active { " (active)" } else { "" }
        );
    }
    Ok(())
}

fn enroll(config: &Config, args: &EnrollArgs) -> Result<(), CommandError> {
    let input = InputArgs {
        inputs: args.inputs.clone(),
        nodes: Vec::new(),
        single_node: args.single_node.then(|| args.node.clone()),
        hep_ports: args.hep_ports.clone(),
    };
    let (store, model_path, id) = open(config, &args.store)?;
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
    let session = ModelSession::load(&runtime, &model_path, &config.inference)
        .map_err(CommandError::failed)?;
    let mut embedder = WindowEmbedder::new(session, config.pipeline.window_minutes)
        .map_err(CommandError::failed)?;

    // Enrolment reads the named node whatever shard this instance is (`[shard]` is for
    // judging live traffic and its replay, not for building references).
    let mut settings = input.settings(config);
    settings.pipeline.shard = crate::config::ShardConfig::default();
    let mut replay = FeatureReplay::new(&settings);
    input.feed(&mut replay, "enroll")?;
    let run = replay.finish();
    require_nodes(&run)?;
    let Some(node) = run.nodes.iter().position(|n| *n == args.node) else {
        return Err(CommandError::failed(format!(
            "node `{}` is not in the input (nodes found: {})",
            args.node,
            run.nodes.join(", ")
        )));
    };
    let mut windows = NodeWindows::new(config.pipeline.window_minutes as usize);
    let candidates: Vec<(u64, Vec<f32>)> = run
        .rows
        .iter()
        .filter(|row| row.node == node)
        .filter_map(|row| match windows.next(row) {
            MinuteWindow::Window(w) => Some((row.minute, w)),
            _ => None,
        })
        .filter(|(minute, _)| {
            args.from.is_none_or(|f| *minute >= f) && args.to.is_none_or(|t| *minute <= t)
        })
        .collect();
    if candidates.is_empty() {
        return Err(CommandError::failed(format!(
            "node `{}` has no full {}-minute window with data in the range given",
            args.node, config.pipeline.window_minutes
        )));
    }
    let chosen = spread(candidates.len(), args.windows);
    let values: Vec<f32> = chosen.iter().flat_map(|&i| candidates[i].1.iter().copied()).collect();
    let embeddings = embedder.embed(chosen.len(), &values).map_err(CommandError::failed)?;
    if embeddings.iter().flatten().any(|v| !v.is_finite()) {
        return Err(CommandError::failed(
            "the model gave a non-finite embedding; nothing was enrolled",
        ));
    }
    let inputs: Vec<String> = args.inputs.iter().map(|p| p.display().to_string()).collect();
    let records: Vec<(StoredReference, Option<&[f32]>)> = chosen
        .iter()
        .zip(embeddings)
        .map(|(&i, embedding)| {
            let (end, window) = &candidates[i];
            let provenance = serde_json::json!({
                "enrolled_by": "imsight refs enroll",
                "inputs": inputs,
                "node": args.node,
                "window_end": format_timestamp(*end),
                "window_minutes": config.pipeline.window_minutes,
            });
            let reference = StoredReference {
                id: 0,
                class: args.label.clone(),
                scope: Scope::Node(args.node.clone()),
                model: id.clone(),
                embedding,
                provenance,
            };
            (reference, Some(window.as_slice()))
        })
        .collect();
    let ids = store.add(&records).map_err(CommandError::failed)?;
    eprintln!(
        "enrolled {} window(s) of {} as `{}` (of {} in range) for model {id}: ids {:?} in {}",
        ids.len(),
        args.node,
        args.label,
        candidates.len(),
        ids,
        store.path().display()
    );
    Ok(())
}

/// `want` indexes evenly spread over `0..len` (all of them for 0 or more than there are).
fn spread(len: usize, want: usize) -> Vec<usize> {
    if want == 0 || want >= len {
        return (0..len).collect();
    }
    (0..want).map(|i| (i * (len - 1)) / (want - 1).max(1)).collect()
}

fn export(config: &Config, args: &ExportArgs) -> Result<(), CommandError> {
    let (store, _, _) = open(config, &args.store)?;
    let references: Vec<StoredReference> = store
        .list()
        .map_err(CommandError::failed)?
        .into_iter()
        .filter(|r| args.of_node.as_ref().is_none_or(|n| r.scope == Scope::Node(n.clone())))
        .filter(|r| args.with_global || r.scope != Scope::Global)
        .collect();
    let document = serde_json::json!({"format": EXPORT_FORMAT, "references": references});
    std::fs::write(
        &args.out,
        serde_json::to_string(&document).map_err(CommandError::failed)? + "\n",
    )
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("exported {} reference(s) to {}", references.len(), args.out.display());
    Ok(())
}

fn import(config: &Config, args: &ImportArgs) -> Result<(), CommandError> {
    let (store, _, id) = open(config, &args.store)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let records: Vec<StoredReference> = match value["format"].as_str() {
        Some(EXPORT_FORMAT) => {
            let records: Vec<StoredReference> = serde_json::from_value(value["references"].clone())
                .with_context(|| format!("{}: not a reference export", args.file.display()))?;
            // Global references of a model whose pack is already here would be duplicates (a
            // duplicate is its own nearest neighbour: thresholds would fall to zero).
            let mut kept = Vec::with_capacity(records.len());
            let mut skipped = 0;
            for r in records {
                let duplicate = r.scope == Scope::Global
                    && store.global_pack(&r.model).map_err(CommandError::failed)?.is_some();
                if duplicate { skipped += 1 } else { kept.push(r) }
            }
            if skipped > 0 {
                eprintln!(
                    "skipped {skipped} global reference(s) of models whose reference pack is already imported"
                );
            }
            kept
        }
        Some(crate::matcher::pack::FORMAT) => {
            let pack = read_pack(&args.file)?;
            let added = store
                .import_pack(&id, &pack, &args.file.display().to_string())
                .map_err(CommandError::failed)?;
            if added == 0 {
                eprintln!("model {id} already has its reference pack: nothing imported");
            } else {
                eprintln!("imported {added} global reference(s) for model {id}");
            }
            return Ok(());
        }
        other => {
            return Err(CommandError::failed(format!(
                "{}: format {other:?}; expected {EXPORT_FORMAT:?} or {:?}",
                args.file.display(),
                crate::matcher::pack::FORMAT
            )));
        }
    };
    let with_windows: Vec<(StoredReference, Option<&[f32]>)> =
        records.into_iter().map(|r| (r, None)).collect();
    let ids = store.add(&with_windows).map_err(CommandError::failed)?;
    eprintln!("imported {} reference(s) into {}", ids.len(), store.path().display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_takes_evenly_spaced_windows_including_both_ends() {
        assert_eq!(spread(10, 5), [0, 2, 4, 6, 9]);
        assert_eq!(spread(10, 1), [0]);
        assert_eq!(spread(3, 5), [0, 1, 2]);
        assert_eq!(spread(4, 0), [0, 1, 2, 3]);
        assert_eq!(spread(100, 2), [0, 99]);
    }
}
