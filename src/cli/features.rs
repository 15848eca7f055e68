//! `imsight features`: captures or probe records in, one row per node per minute out.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use imsight_parsers::capture::DecoderConfig;

use super::{CommandError, GlobalArgs};
use crate::config::NodeConfig;
use crate::dataset::{RowWriter, read_labels};
use crate::pipeline::PipelineSettings;
use crate::replay::{FeatureReplay, ReplaySettings, ReplayStats};
use crate::schema::{FEATURE_COUNT, SCHEMA_ID, catalogue, schema_hash};
use crate::sources::{InputError, open_input};
use crate::time::SECOND_US;

/// Options of `imsight features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Captures (pcap, pcapng) or probe records (CSV, JSON lines); `-` reads a capture from
    /// standard input.
    #[arg(value_name = "INPUT", required_unless_present = "schema")]
    pub inputs: Vec<PathBuf>,
    /// Output: `.csv`, or `.npy` (float32 [rows, 130]) with a `.rows.csv` index beside it.
    #[arg(long, value_name = "FILE", required_unless_present = "schema")]
    pub out: Option<PathBuf>,
    /// Ground truth from `imsight simulate --labels`: adds `label`, `severity`, `phase` and
    /// `event` columns.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// A node, added to the configured ones: `NAME=ACCESS/CORE`, each side a comma-separated
    /// list of `ip` or `ip:port` (e.g. `pcscf-1=172.20.0.10/172.21.0.10`).
    #[arg(long = "node", value_name = "SPEC", value_parser = NodeConfig::from_spec)]
    pub nodes: Vec<NodeConfig>,
    /// Treat all SIP that matches no node as one node of this name (a capture of a single
    /// SIP node whose addresses are not configured; legs are then unknown).
    #[arg(long, value_name = "NAME", value_parser = node_name)]
    pub single_node: Option<String>,
    /// UDP port carrying HEP; repeat for several.
    #[arg(long = "hep-port", value_name = "PORT", default_value = "9060")]
    pub hep_ports: Vec<u16>,
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

/// A node name given on the command line, held to the rule of configured names.
fn node_name(text: &str) -> Result<String, String> {
    match crate::config::node_name_problem(text) {
        Some(problem) => Err(problem),
        None => Ok(text.to_owned()),
    }
}

/// Runs `imsight features`.
pub fn run(global: &GlobalArgs, args: &FeaturesArgs) -> Result<(), CommandError> {
    if args.schema {
        if args.markdown {
            return write_stdout(&crate::schema::markdown_table());
        }
        return print_schema(args.json);
    }
    let config = global.load_config()?.config;
    let mut nodes = config.nodes.clone();
    nodes.extend(args.nodes.iter().cloned());
    let settings = ReplaySettings {
        pipeline: PipelineSettings {
            nodes,
            auto_discover: config.pipeline.auto_discover_nodes,
            max_nodes: config.pipeline.max_nodes as usize,
            single_node: args.single_node.clone(),
            lateness_us: u64::from(config.pipeline.allowed_lateness_secs) * SECOND_US,
            timeout_us: u64::from(config.pipeline.transaction_timeout_secs) * SECOND_US,
            // Files are judged by their own time (the jump guard); the wall-clock bound is
            // for live input.
            not_after_us: None,
        },
        decoder: DecoderConfig { hep_ports: args.hep_ports.clone() },
    };
    let out = args.out.as_deref().context("--out is required")?;
    // Labels first: a bad label file should not cost a long extraction.
    let labels = match &args.labels {
        Some(path) => Some(read_labels(path).map_err(anyhow::Error::from)?),
        None => None,
    };
    let writer = RowWriter::create(out, labels)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let mut replay = FeatureReplay::with_sink(&settings, writer);
    let total: u64 =
        args.inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let progress = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "features [{bar:40}] {bytes}/{total_bytes} ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut damaged = 0;
    for input in &args.inputs {
        if input == Path::new("-") {
            if let Err(error) = replay.feed_capture(std::io::stdin()) {
                damaged += 1;
                eprintln!("warning: standard input: {error}; the frames before it were used");
            }
        } else {
            let opened = open_input(input, |file| progress.wrap_read(file));
            match replay.feed_input(opened.map_err(anyhow::Error::from)?) {
                Ok(()) => {}
                // A damaged or truncated capture still counts for what came before the damage,
                // as `inspect` counts it.
                Err(error @ InputError::Capture { .. }) => {
                    damaged += 1;
                    progress
                        .suspend(|| eprintln!("warning: {error}; the frames before it were used"));
                }
                Err(error) => return Err(anyhow::Error::from(error).into()),
            }
        }
    }
    progress.finish_and_clear();
    let run = replay.finish();
    let rows = run.rows.finish().with_context(|| format!("cannot write {}", out.display()))?;
    report(rows, &run.nodes, &run.stats, out);
    if damaged > 0 {
        eprintln!("{damaged} damaged input(s): see the warnings above");
    }
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
    let p = &stats.pipeline;
    eprintln!(
        "read {} SIP messages and {} probe records; unmapped {}, parse errors {}, rejected records {}, late {}, evicted transactions {}",
        p.messages,
        p.records,
        p.unmapped,
        stats.parse_errors(),
        stats.unusable_records(),
        p.late,
        p.evicted
    );
    eprintln!(
        "unusable messages {} (no Via or CSeq), inputs of nodes refused at the node limit {}, inputs with an unusable node name {}, silent minutes {}, transactions unanswered when the input ended {}",
        p.unusable, p.refused, p.bad_names, p.silent_minutes, p.open_transactions
    );
    eprintln!(
        "TCP: framing errors {}, holes given up {}, bytes skipped to the next start line {}; IP datagrams given up before all fragments came {}",
        stats.tcp_framing_errors,
        stats.tcp_gaps,
        stats.tcp_resync_skipped_bytes,
        stats.ip_fragments_given_up
    );
    eprintln!(
        "inputs dropped for an implausible time (a jump ahead of event time that no later input confirmed) {}",
        p.implausible_time
    );
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
