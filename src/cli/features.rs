//! `imsight features`: captures or probe records in, one row per node per minute out.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use imsight_parsers::capture::DecoderConfig;
use imsight_parsers::xdr::time::{format_timestamp, parse_timestamp};

use super::{CommandError, GlobalArgs};
use crate::aggregate::FeatureRow;
use crate::correlate::NodeSpec;
use crate::features::{ExtractConfig, ExtractStats, Extractor, SCHEMA_ID, catalogue, schema_hash};
use crate::sources::InputKind;

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
    /// Ground truth from `imsight simulate --labels`: adds `label` and `severity` columns.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// A node, added to the configured ones: `NAME=ACCESS/CORE`, each side a comma-separated
    /// list of `ip` or `ip:port` (e.g. `pcscf-1=172.20.0.10/172.21.0.10`).
    #[arg(long = "node", value_name = "SPEC", value_parser = parse_node)]
    pub nodes: Vec<NodeSpec>,
    /// Treat all SIP that matches no node as one node of this name (a capture of a single
    /// SIP node whose addresses are not configured; legs are then unknown).
    #[arg(long, value_name = "NAME")]
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

fn parse_node(text: &str) -> Result<NodeSpec, String> {
    let (name, addresses) = text.split_once('=').ok_or("expected NAME=ACCESS/CORE")?;
    let (access, core) = addresses.split_once('/').unwrap_or((addresses, ""));
    let list = |s: &str| {
        s.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect::<Vec<_>>()
    };
    Ok(NodeSpec {
        name: name.trim().to_owned(),
        access: list(access),
        core: list(core),
        ..NodeSpec::default()
    })
}

/// Runs `imsight features`.
pub fn run(global: &GlobalArgs, args: &FeaturesArgs) -> Result<(), CommandError> {
    if args.schema {
        if args.markdown {
            print!("{}", crate::features::schema::markdown_table());
            return Ok(());
        }
        return print_schema(args.json);
    }
    let config = global.load_config()?.config;
    let mut nodes = config.nodes.clone();
    nodes.extend(args.nodes.iter().cloned());
    let extract = ExtractConfig {
        nodes,
        auto_discover: config.pipeline.auto_discover_nodes,
        max_nodes: config.pipeline.max_nodes as usize,
        single_node: args.single_node.clone(),
        lateness_us: u64::from(config.pipeline.allowed_lateness_secs) * 1_000_000,
        timeout_us: u64::from(config.pipeline.transaction_timeout_secs) * 1_000_000,
        decoder: DecoderConfig { hep_ports: args.hep_ports.clone() },
    };
    let mut extractor = Extractor::new(&extract).map_err(CommandError::Failed)?;
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
    for input in &args.inputs {
        feed(&mut extractor, input, &progress)?;
    }
    progress.finish_and_clear();
    let (rows, names, stats) = extractor.finish();
    let labels = match &args.labels {
        Some(path) => Some(read_labels(path)?),
        None => None,
    };
    let out =
        args.out.as_deref().ok_or_else(|| CommandError::Failed("--out is required".into()))?;
    write_rows(out, &rows, &names, labels.as_ref())
        .map_err(|e| CommandError::Failed(format!("cannot write {}: {e}", out.display())))?;
    report(&rows, &names, &stats, out);
    Ok(())
}

fn feed(
    extractor: &mut Extractor,
    input: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<(), CommandError> {
    let failed = |e: &dyn std::fmt::Display| {
        CommandError::Failed(format!("cannot read {}: {e}", input.display()))
    };
    if input == Path::new("-") {
        return extractor.feed_capture(std::io::stdin()).map_err(|e| failed(&e));
    }
    let file = File::open(input).map_err(|e| failed(&e))?;
    let mut reader = BufReader::new(progress.wrap_read(file));
    let head = reader.fill_buf().map_err(|e| failed(&e))?;
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let format = match crate::sources::detect(&name, head) {
        Some(InputKind::Capture(_)) => {
            return extractor.feed_capture(reader).map_err(|e| failed(&e));
        }
        Some(InputKind::Records(format)) => format,
        None => {
            return Err(CommandError::Failed(format!(
                "{}: not a pcap, pcapng or probe-record file",
                input.display()
            )));
        }
    };
    extractor.feed_records(reader, format);
    Ok(())
}

type Labels = HashMap<(String, u64), (String, f64)>;

fn read_labels(path: &Path) -> Result<Labels, CommandError> {
    let file = File::open(path)
        .map_err(|e| CommandError::Failed(format!("cannot read {}: {e}", path.display())))?;
    let mut labels = HashMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CommandError::Failed(format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad =
            || CommandError::Failed(format!("{} line {}: not a label line", path.display(), i + 1));
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|_| bad())?;
        let node = value["node"].as_str().ok_or_else(bad)?.to_owned();
        let minute = value["minute"].as_str().and_then(parse_timestamp).ok_or_else(bad)?;
        let class = value["class"].as_str().ok_or_else(bad)?.to_owned();
        labels.insert((node, minute), (class, value["severity"].as_f64().unwrap_or(0.0)));
    }
    Ok(labels)
}

fn write_rows(
    out: &Path,
    rows: &[FeatureRow],
    names: &[String],
    labels: Option<&Labels>,
) -> std::io::Result<()> {
    let npy = out.extension().is_some_and(|e| e == "npy");
    let index_path = if npy { out.with_extension("rows.csv") } else { out.to_path_buf() };
    let mut index = BufWriter::new(File::create(&index_path)?);
    write!(index, "node,minute,source_silent")?;
    if labels.is_some() {
        write!(index, ",label,severity")?;
    }
    if !npy {
        for feature in catalogue() {
            write!(index, ",{}", feature.name)?;
        }
    }
    writeln!(index)?;
    for row in rows {
        let node = names.get(row.node).map_or("", String::as_str);
        write!(index, "{node},{},{}", format_timestamp(row.minute), u8::from(row.source_silent))?;
        if let Some(labels) = labels {
            match labels.get(&(node.to_owned(), row.minute)) {
                Some((class, severity)) => write!(index, ",{class},{severity}")?,
                None => write!(index, ",,")?,
            }
        }
        if !npy {
            for value in &row.values {
                write!(index, ",{value}")?;
            }
        }
        writeln!(index)?;
    }
    index.flush()?;
    if npy {
        write_npy(out, rows)?;
    }
    Ok(())
}

/// NumPy's `.npy` version 1.0: a magic string, a Python-literal header padded to 64 bytes,
/// then little-endian float32 values, row-major.
fn write_npy(path: &Path, rows: &[FeatureRow]) -> std::io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        rows.len(),
        crate::features::FEATURE_COUNT
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&(header.len() as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    for row in rows {
        for value in &row.values {
            file.write_all(&value.to_le_bytes())?;
        }
    }
    file.flush()
}

fn report(rows: &[FeatureRow], names: &[String], stats: &ExtractStats, out: &Path) {
    eprintln!(
        "wrote {} rows ({} nodes x minutes, {} features) to {}; schema {SCHEMA_ID} {}",
        rows.len(),
        names.len(),
        crate::features::FEATURE_COUNT,
        out.display(),
        &schema_hash()[..16],
    );
    eprintln!(
        "read {} SIP messages and {} probe records; unmapped {}, parse errors {}, rejected records {}, late {}, evicted transactions {}",
        stats.messages,
        stats.records,
        stats.unmapped,
        stats.parse_errors,
        stats.record_errors,
        stats.late,
        stats.evicted
    );
}

fn print_schema(json: bool) -> Result<(), CommandError> {
    if json {
        let schema = serde_json::json!({
            "id": SCHEMA_ID,
            "hash": schema_hash(),
            "features": catalogue(),
        });
        println!("{}", serde_json::to_string_pretty(&schema).map_err(CommandError::failed)?);
    } else {
        println!("{SCHEMA_ID} sha256:{}", schema_hash());
        for (i, feature) in catalogue().iter().enumerate() {
            println!("{i:>3} {:<28} {:<6} {}", feature.name, feature.unit, feature.definition);
        }
    }
    Ok(())
}
