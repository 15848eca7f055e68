//! `imsight features`: captures or probe records in, one row per node per minute out.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::inputs::{InputArgs, report_stats, require_nodes};
use super::{CommandError, GlobalArgs};
use crate::dataset::{RowWriter, read_labels};
use crate::replay::{FeatureReplay, ReplayStats};
use crate::schema::{FEATURE_COUNT, SCHEMA_ID, catalogue, schema_hash};

/// Options of `imsight features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Inputs and their nodes.
    #[command(flatten)]
    pub input: InputArgs,
    /// Output: `.csv`, or `.npy` (float32 [rows, 130]) with a `.rows.csv` index beside it.
    #[arg(long, value_name = "FILE", required_unless_present = "schema")]
    pub out: Option<PathBuf>,
    /// Ground truth from `imsight simulate --labels`: adds `label`, `severity`, `phase` and
    /// `event` columns.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Print the feature schema (id, hash, ordered names) instead.
    #[arg(long)]
    pub schema: bool,
    /// With --schema: JSON.
    #[arg(long, requires = "schema", conflicts_with = "markdown")]
    pub json: bool,
    /// With --schema: the Markdown table of docs/features.md.
    #[arg(long, requires = "schema")]
    pub markdown: bool,
}

/// Runs `imsight features`.
pub fn run(global: &GlobalArgs, args: &FeaturesArgs) -> Result<(), CommandError> {
    if args.schema {
        if args.markdown {
            return write_stdout(&crate::schema::markdown_table());
        }
        return print_schema(args.json);
    }
    if args.input.inputs.is_empty() {
        return Err(CommandError::failed("no INPUT given (captures or probe records)"));
    }
    let config = global.load_config()?.config;
    let settings = args.input.settings(&config);
    let out = args.out.as_deref().context("--out is required")?;
    // Labels first: a bad label file should not cost a long extraction.
    let labels = match &args.labels {
        Some(path) => Some(read_labels(path).map_err(anyhow::Error::from)?),
        None => None,
    };
    let writer = RowWriter::create(out, labels)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let mut replay = FeatureReplay::with_sink(&settings, writer);
    args.input.feed(&mut replay, "features")?;
    let run = replay.finish();
    require_nodes(&run)?;
    let rows = run.rows.finish().with_context(|| format!("cannot write {}", out.display()))?;
    report(rows, &run.nodes, &run.stats, out);
    Ok(())
}

fn report(rows: u64, names: &[String], stats: &ReplayStats, out: &Path) {
    eprintln!(
        "wrote {} rows ({} nodes x minutes, {} features) to {}; schema {SCHEMA_ID} {}",
        rows,
        names.len(),
        FEATURE_COUNT,
        out.display(),
        &schema_hash()[..16],
    );
    report_stats(stats);
}

fn print_schema(json: bool) -> Result<(), CommandError> {
    let text = if json {
        let schema = serde_json::json!({
            "id": SCHEMA_ID,
            "hash": schema_hash(),
            "features": catalogue(),
        });
        serde_json::to_string_pretty(&schema).map_err(CommandError::failed)? + "\n"
    } else {
        let mut text = format!("{SCHEMA_ID} sha256:{}\n", schema_hash());
        for (i, feature) in catalogue().iter().enumerate() {
            text.push_str(&format!(
                "{i:>3} {:<28} {:<6} {}\n",
                feature.name, feature.unit, feature.definition
            ));
        }
        text
    };
    write_stdout(&text)
}

/// Writes to standard output; a reader that went away (`| head`) ends the output quietly
/// instead of failing.
fn write_stdout(text: &str) -> Result<(), CommandError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CommandError::failed(format!("cannot write to standard output: {error}")))
        }
        _ => Ok(()),
    }
}
