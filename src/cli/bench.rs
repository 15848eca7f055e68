//! `imsight bench`: throughput measured on this machine, for `docs/performance.md` and for an
//! operator sizing an appliance (`benches/inference.py` runs it beside PyTorch).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::{CommandError, GlobalArgs};
use crate::infer::probe::probe_input;
use crate::infer::{OnnxRuntime, WindowEmbedder};
use crate::judge::Embedder;
use crate::matcher::pack::ReferencePack;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Windows embedded per second (and matched against the reference pack) at given batch
    /// sizes, and the share of one core needed to judge N nodes every minute (with
    /// inference.sessions > 1, each call split across that many sessions, as the judge does)
    Inference(InferenceArgs),
    /// The ingest benchmark's baseline: a bare receive loop on the HEP listener's socket that
    /// discards datagrams; prints what it received once none came for --idle seconds
    /// (benches/ingest.sh runs it beside `imsight run`)
    UdpSink(UdpSinkArgs),
}

/// Options of `bench udp-sink`.
#[derive(Debug, Args)]
pub struct UdpSinkArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9060")]
    listen: std::net::SocketAddr,
    /// Seconds without a datagram, after the first, that end the count.
    #[arg(long, default_value_t = 2.0)]
    idle: f64,
}

/// Options of `bench inference`.
#[derive(Debug, Args)]
pub struct InferenceArgs {
    /// The model (default: inference.model); its `references.json` is matched against.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Batch sizes; repeat for several.
    #[arg(long = "batch", default_values_t = [1u16, 64], value_parser = clap::value_parser!(u16).range(1..=4096))]
    batches: Vec<u16>,
    /// Seconds per batch size.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Nodes to size for (share of one core to judge them every minute).
    #[arg(long, default_value_t = 10_000)]
    nodes: u64,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a bench command.
pub fn run(global: &GlobalArgs, command: BenchCommand) -> Result<(), CommandError> {
    match command {
        BenchCommand::Inference(args) => inference(global, &args),
        BenchCommand::UdpSink(args) => {
            let idle = Duration::try_from_secs_f64(args.idle)
                .map_err(|e| CommandError::failed(format!("--idle: {e}")))?;
            eprintln!("counting datagrams on {}", args.listen);
            let count = crate::runtime::hep::bare_receive(args.listen, idle)
                .map_err(|e| CommandError::failed(format!("{}: {e}", args.listen)))?;
            println!("{}", serde_json::to_string(&count).map_err(CommandError::failed)?);
            Ok(())
        }
    }
}

fn inference(global: &GlobalArgs, args: &InferenceArgs) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let window = config.pipeline.window_minutes;
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
    let path = super::lifecycle::model_in_use(&config, args.model.as_deref(), None)?;
    // inference.sessions > 1: a call is split across sessions on threads of their own, as the
    // judge does; throughput is then wall-clock, and the core share counts every session.
    let sessions = usize::from(config.inference.sessions.max(1));
    let (mut embedder, provider) = WindowEmbedder::load(&runtime, &path, &config.inference, window)
        .map_err(CommandError::failed)?;
    let pack_path = path.with_file_name("references.json");
    let references = match std::fs::read_to_string(&pack_path) {
        Ok(text) => Some(
            ReferencePack::from_json(&text)
                .and_then(|p| p.reference_set())
                .map_err(CommandError::failed)?,
        ),
        Err(_) => None,
    };
    let budget = Duration::from_secs_f64(args.seconds.max(0.1));
    let mut rows = Vec::new();
    for &batch in &args.batches {
        let batch = usize::from(batch);
        let input = probe_input(batch, window as usize);
        // Warm-up: the first runs allocate and pick kernels.
        for _ in 0..3 {
            embedder.embed(batch, &input).map_err(CommandError::failed)?;
        }
        let (mut windows, mut embed_time, mut match_time) = (0u64, Duration::ZERO, Duration::ZERO);
        let started = Instant::now();
        while started.elapsed() < budget {
            let t = Instant::now();
            let embeddings = embedder.embed(batch, &input).map_err(CommandError::failed)?;
            embed_time += t.elapsed();
            if let Some(set) = &references {
                let t = Instant::now();
                for e in &embeddings {
                    std::hint::black_box(set.judge(e));
                }
                match_time += t.elapsed();
            }
            windows += batch as u64;
        }
        let per_window = (embed_time + match_time).as_secs_f64() / windows as f64;
        // Judging N nodes a minute needs N windows embedded and matched per 60 s.
        let core_share = args.nodes as f64 * per_window * sessions as f64 / 60.0;
        rows.push(serde_json::json!({
            "batch": batch,
            "windows": windows,
            "embed_windows_per_s": windows as f64 / embed_time.as_secs_f64(),
            "match_windows_per_s": if references.is_some() { Some(windows as f64 / match_time.as_secs_f64()) } else { None },
            "judge_windows_per_s": 1.0 / per_window,
            "core_share_for_nodes": core_share,
        }));
    }
    let report = serde_json::json!({
        "model": path,
        "execution_provider": provider,
        "intra_threads": config.inference.intra_threads,
        "sessions": sessions,
        "references": references.as_ref().map(|r| r.len()),
        "nodes": args.nodes,
        "results": rows,
    });
    if args.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "model {} on {provider}, {sessions} session(s) of {} intra-op thread(s), {} references",
        path.display(),
        config.inference.intra_threads,
        references.as_ref().map_or(0, |r| r.len())
    );
    println!(
        "{:>6} {:>14} {:>14} {:>14} {:>22}",
        "batch",
        "embed win/s",
        "match win/s",
        "judge win/s",
        format!("cores for {} nodes", args.nodes)
    );
    for r in &rows {
        println!(
            "{:>6} {:>14.0} {:>14.0} {:>14.0} {:>22.3}",
            r["batch"],
            r["embed_windows_per_s"].as_f64().unwrap_or_default(),
            r["match_windows_per_s"].as_f64().unwrap_or_default(),
            r["judge_windows_per_s"].as_f64().unwrap_or_default(),
            r["core_share_for_nodes"].as_f64().unwrap_or_default()
        );
    }
    Ok(())
}
