//! `imsight replay`: captures or probe records through the whole judgement offline, in event
//! time, as fast as the machine allows: per node and minute the verdict, and the alarms, as
//! JSON lines; scored against the simulator's labels when given.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use imsight_parsers::xdr::time::format_timestamp;

use super::inputs::{InputArgs, report_stats, require_nodes};
use super::{CommandError, GlobalArgs};
use crate::aggregate::FeatureRow;
use crate::config::Config;
use crate::dataset::{Labels, RowSink, read_labels};
use crate::decide::Decision;
use crate::infer::{OnnxRuntime, WindowEmbedder};
use crate::judge::score::{Scorer, Summary};
use crate::judge::{Judge, JudgeSettings, Judgement, JudgingModel};
use crate::matcher::pack::ReferencePack;
use crate::replay::FeatureReplay;
use crate::store::Store;

/// Options of `imsight replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Inputs and their nodes.
    #[command(flatten)]
    pub input: InputArgs,
    /// Where the verdicts go: one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Ground truth from `imsight simulate --labels`: score the replay and print a summary.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// With --labels: write the summary as JSON.
    #[arg(long, value_name = "FILE", requires = "labels")]
    pub summary_json: Option<PathBuf>,
    /// The model (default: inference.model).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// The global references (default: the store's, else `references.json` beside the
    /// model).
    #[arg(long, value_name = "FILE")]
    pub references: Option<PathBuf>,
    /// The state directory whose reference store holds enrolled references (default:
    /// appliance.state_dir; none is used when it holds no store).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Leave explanations out (faster: no extra embeddings for abnormal minutes).
    #[arg(long)]
    pub no_explain: bool,
    /// Keep judged windows in the state directory's sample database, by the `[samples]`
    /// rules (retention included).
    #[arg(long)]
    pub sample: bool,
    /// Judge with the state directory's shadow model too (`imsight model shadow`) and store
    /// its verdicts for `imsight model compare`.
    #[arg(long)]
    pub shadow: bool,
}

/// The judge fed by the feature replay, writing verdicts as they come.
struct VerdictSink {
    judge: Judge<WindowEmbedder>,
    writer: BufWriter<File>,
    labels: Option<Labels>,
    scorer: Scorer,
    judgements: Vec<Judgement>,
    timeline: Vec<String>,
    /// Where samples and shadow verdicts go, when asked.
    keeping: Option<(Store, crate::store::SampleKeeper)>,
    kept: Kept,
    /// The first failure; later rows are ignored.
    error: Option<anyhow::Error>,
}

impl VerdictSink {
    fn write(&mut self) -> anyhow::Result<()> {
        if let Some((store, keeper)) = &mut self.keeping {
            let count = keeper.keep(store, &mut self.judgements)?;
            self.kept.add(&count);
        }
        for judgement in self.judgements.drain(..) {
            if let Some(labels) = &self.labels {
                self.scorer.observe(&judgement, labels);
            }
            let line = match &judgement {
                Judgement::Minute(m) => serde_json::json!({
                    "type": "minute",
                    "node": m.node,
                    "minute": format_timestamp(m.minute),
                    "status": m.status,
                    "class": m.verdict.as_ref().map(|v| &v.class),
                    "distance": m.verdict.as_ref().map(|v| v.distance),
                    "confidence": m.verdict.as_ref().map(|v| v.confidence),
                    "alarm": m.alarm,
                    "neighbours": m.verdict.as_ref().map(|v| &v.neighbours),
                    "explanation": m.explanation,
                }),
                Judgement::Alarm(decision) => {
                    self.timeline.push(timeline_line(decision));
                    alarm_line(decision)
                }
                Judgement::Drift(report) if !report.events.is_empty() => {
                    for e in &report.events {
                        self.timeline.push(format!(
                            "{}  {:<12} {} input drift (median PSI {:.2}; {})",
                            format_timestamp(e.minute),
                            e.scope,
                            if e.raised { "RAISE" } else { "CLEAR" },
                            e.score,
                            e.top.iter().map(|f| f.feature.as_str()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    let events: Vec<serde_json::Value> = report
                        .events
                        .iter()
                        .map(|e| {
                            serde_json::json!({
                                "scope": e.scope,
                                "raised": e.raised,
                                "minute": format_timestamp(e.minute),
                                "raised_at": format_timestamp(e.raised_at),
                                "score": e.score,
                                "threshold": e.threshold,
                                "top": e.top,
                            })
                        })
                        .collect();
                    serde_json::json!({
                        "type": "drift",
                        "minute": format_timestamp(report.minute),
                        "events": events,
                    })
                }
                // Scores of every minute, samples and shadow verdicts are not verdicts.
                Judgement::Drift(_) | Judgement::Sample(_) | Judgement::Shadow(_) => continue,
            };
            serde_json::to_writer(&mut self.writer, &line)?;
            self.writer.write_all(b"\n")?;
        }
        Ok(())
    }
}

impl RowSink for VerdictSink {
    fn row(&mut self, row: FeatureRow, nodes: &[String]) {
        if self.error.is_some() {
            return;
        }
        let result = self
            .judge
            .push(&row, nodes, &mut self.judgements)
            .map_err(anyhow::Error::from)
            .and_then(|()| self.write());
        if let Err(error) = result {
            self.error = Some(error);
        }
    }
}

/// What went to the sample database.
#[derive(Debug, Default)]
struct Kept {
    samples: u64,
    pruned: usize,
    agree: u64,
    disagree: u64,
    bytes: Option<u64>,
}

impl Kept {
    fn add(&mut self, count: &crate::store::KeptCount) {
        self.samples += count.samples.iter().map(|(_, n)| n).sum::<u64>();
        self.agree += count.shadow.0;
        self.disagree += count.shadow.1;
        if let Some((pruned, bytes)) = count.pruned {
            self.pruned += pruned;
            self.bytes = Some(bytes);
        }
    }
}

fn alarm_line(decision: &Decision) -> serde_json::Value {
    match decision {
        Decision::Raise { alarm } => serde_json::json!({
            "type": "raise",
            "node": alarm.node,
            "minute": format_timestamp(alarm.raised_at),
            "class": alarm.class,
            "request_id": alarm.request_id,
            "ves_event_id": alarm.ves_event_id,
        }),
        Decision::Clear { alarm, cleared_at, reason } => serde_json::json!({
            "type": "clear",
            "node": alarm.node,
            "minute": format_timestamp(*cleared_at),
            "class": alarm.class,
            "raised": format_timestamp(alarm.raised_at),
            "reason": reason,
            "request_id": alarm.request_id,
            "ves_event_id": alarm.ves_event_id,
        }),
    }
}

fn timeline_line(decision: &Decision) -> String {
    match decision {
        Decision::Raise { alarm } => {
            format!(
                "{}  {:<12} RAISE {}",
                format_timestamp(alarm.raised_at),
                alarm.node,
                alarm.class
            )
        }
        Decision::Clear { alarm, cleared_at, reason } => format!(
            "{}  {:<12} CLEAR {} ({})",
            format_timestamp(*cleared_at),
            alarm.node,
            alarm.class,
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
    }
}

/// What a judge is built with besides the configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct JudgeOptions<'a> {
    /// The model (default: the state directory's active one, else inference.model).
    pub model: Option<&'a Path>,
    /// The global references (default: the store's, else `references.json` beside the model).
    pub references: Option<&'a Path>,
    /// The state directory (default: appliance.state_dir).
    pub state_dir: Option<&'a Path>,
    /// Explain abnormal verdicts.
    pub explain: bool,
    /// Keep windows by the `[samples]` rules.
    pub sample: bool,
    /// Judge with the state directory's shadow model too.
    pub shadow: bool,
}

/// Loads a model and the references made with it: the global ones (the store's, else the
/// pack `references` or the one beside the model) and every node's enrolled ones.
pub fn load_model(
    config: &Config,
    runtime: &OnnxRuntime,
    path: &Path,
    store: Option<&Store>,
    references: Option<&Path>,
) -> Result<JudgingModel<WindowEmbedder>, CommandError> {
    let (embedder, _) =
        WindowEmbedder::load(runtime, path, &config.inference, config.pipeline.window_minutes)
            .map_err(CommandError::failed)?;
    let model_id = crate::store::model_id(path).map_err(CommandError::failed)?;
    let pack = match (store, references) {
        (Some(store), None) => store.global_pack(&model_id).map_err(CommandError::failed)?,
        _ => None,
    };
    let pack = match pack {
        Some(pack) => pack,
        None => {
            let pack_path = references
                .map_or_else(|| path.with_file_name("references.json"), Path::to_path_buf);
            let text = std::fs::read_to_string(&pack_path).with_context(|| {
                format!("cannot read the reference pack {}", pack_path.display())
            })?;
            ReferencePack::from_json(&text).with_context(|| pack_path.display().to_string())?
        }
    };
    let global = pack.reference_set().map_err(CommandError::failed)?;
    let mut model = JudgingModel::new(model_id.clone(), embedder, global);
    if let Some(store) = store {
        for (node, refs) in store.node_references(&model_id).map_err(CommandError::failed)? {
            tracing::info!(node, references = refs.len(), model = %model_id, "enrolled references");
            model.enroll(&node, &refs).map_err(CommandError::failed)?;
        }
    }
    Ok(model)
}

/// The drift monitor of the model at `path`, when `[monitor]` enables it and the model card
/// has training statistics.
pub fn drift_monitor(
    config: &Config,
    path: &Path,
) -> Result<Option<crate::monitor::DriftMonitor>, CommandError> {
    if !config.monitor.enabled {
        return Ok(None);
    }
    let card_path = path.with_file_name("model-card.json");
    let card: serde_json::Value = match std::fs::read_to_string(&card_path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("model card {}", card_path.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(error) => {
            return Err(CommandError::failed(format!(
                "model card {}: {error}",
                card_path.display()
            )));
        }
    };
    match crate::monitor::TrainingStats::from_card(&card)
        .with_context(|| format!("model card {}", card_path.display()))?
    {
        Some(stats) => Ok(Some(crate::monitor::DriftMonitor::new(config.monitor, stats))),
        None => {
            tracing::warn!(model = %path.display(), "the model card has no feature_stats: input drift is not monitored");
            Ok(None)
        }
    }
}

/// Loads the model and the references a judge needs, the nodes' enrolled references, and
/// as asked the shadow model, the sampler and the drift monitor.
pub fn build_judge(
    config: &Config,
    options: &JudgeOptions<'_>,
) -> Result<Judge<WindowEmbedder>, CommandError> {
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
    let model_path = super::lifecycle::model_in_use(config, options.model, options.state_dir)?;
    let state_dir = options.state_dir.unwrap_or(&config.appliance.state_dir);
    let store = Store::open_existing(state_dir).map_err(super::lifecycle::store_error)?;
    let model = load_model(config, &runtime, &model_path, store.as_ref(), options.references)?;
    let settings = JudgeSettings {
        appliance: config.appliance.name.clone(),
        window_minutes: config.pipeline.window_minutes as usize,
        decisions: config.decisions,
        // One call per minute's batch reaches every session (each takes at most max_batch).
        max_batch: usize::from(config.inference.max_batch)
            * usize::from(config.inference.sessions.max(1)),
        explain: options.explain,
    };
    let mut judge = Judge::with_model(settings, model);
    if let Some(drift) = drift_monitor(config, &model_path)? {
        judge = judge.monitoring(drift);
    }
    if options.sample && config.samples.enabled() {
        judge = judge.sampling(crate::sample::Sampler::new(config.samples));
    }
    if options.shadow {
        let shadow = match &store {
            Some(store) => store.shadow_model().map_err(CommandError::failed)?,
            None => None,
        };
        let Some(shadow) = shadow else {
            return Err(CommandError::failed(format!(
                "no shadow model in {} (`imsight model shadow FILE` sets one)",
                state_dir.display()
            )));
        };
        let path = crate::infer::resolve_model(&shadow.path).map_err(CommandError::failed)?;
        let model = load_model(config, &runtime, &path, store.as_ref(), None)?;
        tracing::info!(shadow = %model.id, active = %judge.model_id(), "a shadow model judges the same windows");
        judge.set_shadow(Some(model));
    }
    Ok(judge)
}

/// Runs `imsight replay`.
pub fn run(global: &GlobalArgs, args: &ReplayArgs) -> Result<(), CommandError> {
    if args.input.inputs.is_empty() {
        return Err(CommandError::failed("no INPUT given (captures or probe records)"));
    }
    let config = global.load_config()?.config;
    let labels = match &args.labels {
        Some(path) => Some(read_labels(path).map_err(anyhow::Error::from)?),
        None => None,
    };
    let options = JudgeOptions {
        model: args.model.as_deref(),
        references: args.references.as_deref(),
        state_dir: args.state_dir.as_deref(),
        explain: !args.no_explain,
        sample: args.sample,
        shadow: args.shadow,
    };
    let judge = build_judge(&config, &options)?;
    for records in args.input.inputs.iter().filter(|p| crate::sources::is_records(p)) {
        tracing::warn!(input = %records.display(), "{}", crate::sources::RECORDS_JUDGED_WARNING);
    }
    let keeping = if args.sample || args.shadow {
        let dir = args.state_dir.as_deref().unwrap_or(&config.appliance.state_dir);
        let store = Store::open(dir).map_err(super::lifecycle::store_error)?;
        let provenance = serde_json::json!({
            "appliance": config.appliance.name,
            "source": "replay",
            "inputs": args.input.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        let keeper = crate::store::SampleKeeper::new(config.samples.retention(), provenance);
        Some((store, if args.sample { keeper } else { keeper.without_retention() }))
    } else {
        None
    };
    let file =
        File::create(&args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    let sink = VerdictSink {
        judge,
        writer: BufWriter::new(file),
        labels,
        scorer: Scorer::new(),
        judgements: Vec::new(),
        timeline: Vec::new(),
        keeping,
        kept: Kept::default(),
        error: None,
    };
    let started = std::time::Instant::now();
    let mut replay = FeatureReplay::with_sink(&args.input.settings(&config), sink);
    args.input.feed(&mut replay, "replay")?;
    let run = replay.finish();
    require_nodes(&run)?;
    let mut sink = run.rows;
    if let Some(error) = sink.error.take() {
        return Err(error.into());
    }
    sink.judge.finish(&mut sink.judgements).map_err(CommandError::failed)?;
    sink.write()
        .and_then(|()| Ok(sink.writer.flush()?))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = sink.judge.stats();
    let node_minutes = stats.judged + stats.no_data + stats.warming_up;
    eprintln!(
        "judged {} node-minutes of {} nodes in {seconds:.1} s ({:.0} node-minutes/s): {} judged, {} without data, {} warming up; {} windows embedded, {} invalid embeddings; verdicts in {}",
        node_minutes,
        run.nodes.len(),
        node_minutes as f64 / seconds.max(1e-9),
        stats.judged,
        stats.no_data,
        stats.warming_up,
        stats.embedded,
        stats.invalid_embeddings,
        args.out.display()
    );
    report_stats(&run.stats);
    if args.sample {
        eprintln!(
            "samples: {} windows kept, {} removed by retention{}",
            sink.kept.samples,
            sink.kept.pruned,
            sink.kept
                .bytes
                .map(|b| format!(", {:.1} MiB held", b as f64 / 1048576.0))
                .unwrap_or_default()
        );
    }
    if args.shadow {
        let all = sink.kept.agree + sink.kept.disagree;
        eprintln!(
            "shadow: {all} verdicts stored, {} agree with the active model ({:.1} %); `imsight model compare` reports",
            sink.kept.agree,
            100.0 * sink.kept.agree as f64 / all.max(1) as f64
        );
    }
    if !sink.timeline.is_empty() {
        eprintln!("alarms:");
        for line in &sink.timeline {
            eprintln!("  {line}");
        }
    }
    if let Some(labels) = &sink.labels {
        let summary = sink.scorer.finish(labels);
        print_summary(&summary);
        if let Some(path) = &args.summary_json {
            let text = serde_json::to_string_pretty(&summary).map_err(CommandError::failed)?;
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

fn print_summary(summary: &Summary) {
    let n = summary.episodes.len();
    eprintln!(
        "score: {} fault episodes, {} detected with the right class, {} within 5 minutes; {} false alarms over {:.2} node-days of normal traffic; {} judged minutes with a label",
        n,
        summary.detected(),
        summary.detected_within(5),
        summary.false_alarms,
        summary.normal_node_days,
        summary.minutes
    );
    for e in &summary.episodes {
        eprintln!(
            "  {:<12} {:<20} onset {}  {}",
            e.node,
            e.class,
            e.onset,
            match (e.detected, e.delay_minutes, &e.alarm_class) {
                (true, Some(d), _) => format!(
                    "detected after {d} min{}",
                    e.cleared_after_minutes
                        .map(|c| format!(", cleared {c} min after its end"))
                        .unwrap_or_default()
                ),
                (false, _, Some(other)) => format!("MISSED (alarm {other} instead)"),
                _ => "MISSED".to_owned(),
            }
        );
    }
    for f in &summary.false_alarm_list {
        eprintln!(
            "  false alarm {} {} {}{}",
            f.minute,
            f.node,
            f.class,
            f.event.as_ref().map(|e| format!(" (during {e})")).unwrap_or_default()
        );
    }
}
