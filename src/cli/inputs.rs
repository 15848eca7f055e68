//! What `features`, `replay` and `refs enroll` share: the input files, the nodes they are
//! judged as, and driving them through the feature pipeline with progress.

use std::path::{Path, PathBuf};

use clap::Args;
use imsight_parsers::capture::DecoderConfig;

use super::CommandError;
use crate::config::{Config, NodeConfig};
use crate::dataset::RowSink;
use crate::pipeline::PipelineSettings;
use crate::replay::{FeatureReplay, FeatureRun, ReplaySettings, ReplayStats};
use crate::sources::{InputError, open_input};

/// Inputs and their nodes.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Captures (pcap, pcapng) or probe records (CSV, JSON lines); `-` reads a capture from
    /// standard input.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// A node, added to the configured ones: `NAME=ACCESS/CORE`, each side a comma-separated
    /// list of `ip` or `ip:port` (e.g. `pcscf-1=172.20.0.10/172.21.0.10`). `imsight simulate
    /// --nodes FILE` writes a scenario's nodes as configuration for `--config`.
    #[arg(long = "node", value_name = "SPEC", value_parser = NodeConfig::from_spec)]
    pub nodes: Vec<NodeConfig>,
    /// Treat all SIP that matches no node as one node of this name (a capture of a single
    /// SIP node whose addresses are not configured; legs are then unknown).
    #[arg(long, value_name = "NAME", value_parser = node_name)]
    pub single_node: Option<String>,
    /// UDP port carrying HEP; repeat for several.
    #[arg(long = "hep-port", value_name = "PORT", default_value = "9060")]
    pub hep_ports: Vec<u16>,
}

/// A node name given on the command line, held to the rule of configured names.
fn node_name(text: &str) -> Result<String, String> {
    match crate::config::node_name_problem(text) {
        Some(problem) => Err(problem),
        None => Ok(text.to_owned()),
    }
}

impl InputArgs {
    /// The replay settings of these inputs under `config`.
    pub fn settings(&self, config: &Config) -> ReplaySettings {
        let mut pipeline = PipelineSettings::from_config(config);
        pipeline.nodes.extend(self.nodes.iter().cloned());
        pipeline.single_node.clone_from(&self.single_node);
        ReplaySettings { pipeline, decoder: DecoderConfig { hep_ports: self.hep_ports.clone() } }
    }

    /// Feeds every input to `replay` with a progress bar named `what`; a damaged capture
    /// counts for what came before the damage (as `inspect` counts it) and is reported.
    pub fn feed<S: RowSink>(
        &self,
        replay: &mut FeatureReplay<S>,
        what: &str,
    ) -> Result<usize, CommandError> {
        let total: u64 =
            self.inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        let progress = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        progress.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{what} [{{bar:40}}] {{bytes}}/{{total_bytes}} ({{elapsed}})"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut damaged = 0;
        for input in &self.inputs {
            if input == Path::new("-") {
                if let Err(error) = replay.feed_capture(std::io::stdin()) {
                    damaged += 1;
                    eprintln!("warning: standard input: {error}; the frames before it were used");
                }
                continue;
            }
            let opened = open_input(input, |file| progress.wrap_read(file));
            match replay.feed_input(opened.map_err(anyhow::Error::from)?) {
                Ok(()) => {}
                Err(error @ InputError::Capture { .. }) => {
                    damaged += 1;
                    progress
                        .suspend(|| eprintln!("warning: {error}; the frames before it were used"));
                }
                Err(error) => return Err(anyhow::Error::from(error).into()),
            }
        }
        progress.finish_and_clear();
        if damaged > 0 {
            eprintln!("{damaged} damaged input(s): see the warnings above");
        }
        Ok(damaged)
    }
}

/// An input that matched no node is an error that says how to name one, not an empty
/// result.
pub fn require_nodes<S>(run: &FeatureRun<S>) -> Result<(), CommandError> {
    if run.nodes.is_empty() {
        let p = &run.stats.pipeline;
        return Err(CommandError::failed(format!(
            "the input matched no configured node ({} SIP messages and {} probe records read, {} unmapped): \
             name the nodes with --node NAME=ACCESS/CORE or --config FILE (`imsight simulate --nodes FILE` \
             writes a scenario's), or take all traffic as one node with --single-node NAME",
            p.messages, p.records, p.unmapped
        )));
    }
    Ok(())
}

/// What the pipeline and the sources counted, on standard error.
pub fn report_stats(stats: &ReplayStats) {
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
