//! The one place that wires the actor graph. Each edge's capacity and overflow policy:
//!
//! | edge                         | capacity          | when full                            |
//! |------------------------------|-------------------|--------------------------------------|
//! | capture file → pipeline      | `PIPELINE_MAILBOX`| block the reader (`send().await`)    |
//! | HEP over TCP → pipeline      | `PIPELINE_MAILBOX`| block the connection (TCP slows the sender) |
//! | HEP over UDP → pipeline      | `PIPELINE_MAILBOX`| drop the batch, count (`reason="busy"`) |
//! | wall-clock tick → pipeline   | `PIPELINE_MAILBOX`| skip the tick (traffic is flowing)   |
//! | pipeline → judge             | unbounded         | n/a (one message per closing batch)  |
//! | judge → announcer            | unbounded         | n/a (one message per judged minute)  |
//! | announcer → MQTT publisher   | the outbox (redb) | `mqtt.outbox_limit`: oldest waiting states dropped, alarm events kept |
//!
//! A file source blocks when the pipeline is behind: nothing is lost and memory stays bounded.
//! Live UDP drops newest and counts instead: the kernel drops anyway, and a blocked receive
//! loop would only move the loss into the socket buffer. The unbounded edges carry one message
//! per minute (or per batch that closes minutes), so they grow only if judging falls a whole
//! minute behind, which `imsight_minute_to_broker_seconds` shows.

use std::io::Read;
use std::ops::ControlFlow;

use actix::{Actor, Addr, Context, Handler};
use imsight_parsers::capture::DecoderConfig;

use super::announce::{AnnounceActor, Announced};
use super::judge::JudgeActor;
pub use super::messages::Reconfigure;
use super::messages::{CaptureBatch, EndOfInput, FinishAnnouncing, FinishJudging, MinutesClosed};
use super::pipeline::FeaturePipelineActor;
use crate::aggregate::FeatureRow;
use crate::judge::{Embedder, Judge, JudgeStats};
use crate::pipeline::{PipelineSettings, PipelineStats};
use crate::sources::{OwnedCaptureEvent, read_capture};

/// Batches waiting in the pipeline's mailbox before the file source blocks.
pub const PIPELINE_MAILBOX: usize = 16;
/// Capture events per batch.
pub const CAPTURE_BATCH: usize = 1024;

/// Collects closed minutes (the sink until inference joins the graph).
#[derive(Debug, Default)]
struct MinuteCollector {
    rows: Vec<FeatureRow>,
}

impl Actor for MinuteCollector {
    type Context = Context<Self>;
}

impl Handler<MinutesClosed> for MinuteCollector {
    type Result = ();

    fn handle(&mut self, closed: MinutesClosed, _: &mut Self::Context) {
        self.rows.extend(closed.rows);
    }
}

/// Takes what the collector holds.
#[derive(Debug, actix::Message)]
#[rtype(result = "Vec<FeatureRow>")]
struct Drain;

impl Handler<Drain> for MinuteCollector {
    type Result = actix::MessageResult<Drain>;

    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> Self::Result {
        actix::MessageResult(std::mem::take(&mut self.rows))
    }
}

/// The graph for one capture: source → pipeline → collector.
#[derive(Debug)]
pub struct CaptureTopology {
    pipeline: Addr<FeaturePipelineActor>,
    collector: Addr<MinuteCollector>,
}

impl CaptureTopology {
    /// Starts the actors (inside a running actix system).
    pub fn start(settings: &PipelineSettings) -> Self {
        let collector = MinuteCollector::default().start();
        let pipeline =
            FeaturePipelineActor::new(settings, collector.clone().recipient(), PIPELINE_MAILBOX)
                .start();
        Self { pipeline, collector }
    }
}

/// Why a capture could not be run through the actors.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An actor stopped before the input ended.
    #[error("the pipeline actor stopped")]
    Mailbox(#[from] actix::MailboxError),
    /// The reading thread ended abnormally.
    #[error("the capture reader failed")]
    Reader(#[from] tokio::task::JoinError),
}

/// What running a capture through the actors gave.
#[derive(Debug)]
pub struct ActorRun {
    /// The closed node-minutes, in closing order.
    pub rows: Vec<FeatureRow>,
    /// Node names by index.
    pub nodes: Vec<String>,
    /// The pipeline's counters.
    pub stats: PipelineStats,
    /// `Err` when the capture was damaged: what came before the damage was used.
    pub capture: Result<(), imsight_parsers::ParseError>,
}

/// Runs a capture through the actor graph in event time: the rows, node names and counters,
/// exactly as [`crate::replay::FeatureReplay`] computes them. Call inside an actix system.
pub async fn run_capture(
    source: impl Read + Send + 'static,
    settings: &PipelineSettings,
    decoder: DecoderConfig,
) -> Result<ActorRun, RuntimeError> {
    let topology = CaptureTopology::start(settings);
    let (capture, stats, nodes) = feed_capture(source, topology.pipeline.clone(), decoder).await?;
    let rows = topology.collector.send(Drain).await?;
    Ok(ActorRun { rows, nodes, stats, capture })
}

/// What judging a capture through the actors gave.
#[derive(Debug)]
pub struct JudgedRun {
    /// The announcer's account (judgements kept when asked, messages when no store).
    pub announced: Announced,
    /// The judge's counters.
    pub judge: JudgeStats,
    /// The pipeline's counters.
    pub stats: PipelineStats,
    /// Node names by index.
    pub nodes: Vec<String>,
    /// `Err` when the capture was damaged.
    pub capture: Result<(), imsight_parsers::ParseError>,
}

/// Runs a capture through source → pipeline → judge (own thread) → announcer (own thread):
/// the verdicts and alarms `imsight replay` gives for the same capture, announced as the live
/// appliance announces them. Call inside an actix system.
pub async fn run_judged_capture<E: Embedder + Unpin + Send + 'static>(
    source: impl Read + Send + 'static,
    settings: &PipelineSettings,
    decoder: DecoderConfig,
    judge: Judge<E>,
    announce: AnnounceActor,
) -> Result<JudgedRun, RuntimeError> {
    let announce_slot = std::sync::Mutex::new(Some(announce));
    let announcer = actix::SyncArbiter::start(1, move || {
        let taken = announce_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        taken.unwrap_or_else(|| panic!("the announcer was restarted: its state is gone"))
    });
    let judge_slot = std::sync::Mutex::new(Some(judge));
    let downstream = announcer.clone().recipient();
    let judge = actix::SyncArbiter::start(1, move || {
        let taken = judge_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let judge = taken.unwrap_or_else(|| panic!("the judge was restarted: its state is gone"));
        JudgeActor::new(judge, downstream.clone())
    });
    let pipeline =
        FeaturePipelineActor::new(settings, judge.clone().recipient(), PIPELINE_MAILBOX).start();
    let (capture, stats, nodes) = feed_capture(source, pipeline, decoder).await?;
    // Every mailbox is first in, first out: each finish arrives after what came before it.
    let judge_stats = judge.send(FinishJudging).await?;
    let announced = announcer.send(FinishAnnouncing).await?;
    Ok(JudgedRun { announced, judge: judge_stats, stats, nodes, capture })
}

/// Reads a capture into the pipeline actor (blocking reads on a blocking thread, waiting for
/// mailbox room), then ends the input; returns the capture's outcome and the pipeline's
/// counters and node names.
async fn feed_capture(
    source: impl Read + Send + 'static,
    pipeline: Addr<FeaturePipelineActor>,
    decoder: DecoderConfig,
) -> Result<(Result<(), imsight_parsers::ParseError>, PipelineStats, Vec<String>), RuntimeError> {
    let end = pipeline.clone();
    let handle = tokio::runtime::Handle::current();
    // Reading is blocking I/O: off the reactor, on a blocking thread that waits for mailbox
    // room (`send`), so a slow pipeline slows the reader instead of filling memory. If the
    // pipeline is gone, reading stops.
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(CAPTURE_BATCH);
        let mut delivery: Result<(), actix::MailboxError> = Ok(());
        let (_, read) = read_capture(source, &decoder, |event| {
            batch.push(OwnedCaptureEvent::from(event));
            if batch.len() == CAPTURE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(CAPTURE_BATCH));
                delivery = handle.block_on(pipeline.send(CaptureBatch(full)));
            }
            if delivery.is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
        });
        if delivery.is_ok() && !batch.is_empty() {
            delivery = handle.block_on(pipeline.send(CaptureBatch(batch)));
        }
        (read, delivery)
    });
    let (capture, delivery) = reader.await?;
    delivery?;
    // Damaged or not, the input has ended: what was read closes its minutes.
    let (stats, nodes) = end.send(EndOfInput).await?;
    Ok((capture, stats, nodes))
}

/// What the live appliance needs besides its judge and store.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// How messages are built (appliance name, topic root, ...).
    pub publish: crate::publish::PublishSettings,
    /// The broker (`health_topic` is filled in from `publish`).
    pub mqtt: super::mqtt::MqttSettings,
    /// The outbox's bound.
    pub outbox_limit: usize,
    /// Node mapping and event-time rules.
    pub pipeline: PipelineSettings,
    /// Where HEP over UDP arrives, and the key it must carry.
    pub hep: super::hep::HepListenerSettings,
    /// Where `/healthz`, `/readyz`, `/metrics` and `/api/v1` are served (none: not served).
    pub http_listen: Option<std::net::SocketAddr>,
    /// Whether model changes and labels are accepted over HTTP.
    pub http_allow_changes: bool,
    /// A directory of captures to read, when one is configured.
    pub input_dir: Option<super::files::InputDirSettings>,
    /// Whether the minutes of a silent source close by the wall clock (live traffic; not
    /// for a simulation sent faster than real time).
    pub follow_wall_clock: bool,
    /// The appliance's metrics (the model's embedder may count in them already).
    pub metrics: std::sync::Arc<crate::telemetry::Metrics>,
    /// Minutes in a window (the recent minutes kept per node).
    pub window_minutes: u64,
    /// Alarms in force when the appliance last stopped.
    pub restored_alarms: Vec<crate::decide::Alarm>,
    /// How samples are retained (none: samples and shadow verdicts are not stored).
    pub samples: Option<crate::sample::Retention>,
}

/// How a caller that embeds the appliance (the demo) hears it is ready and stops it, and how
/// SIGHUP reloads the configuration; the daemon stops on SIGTERM or SIGINT.
#[derive(Default)]
pub struct LiveControl {
    /// Told once the sources listen.
    pub ready: Option<std::sync::mpsc::Sender<()>>,
    /// Stops the appliance when it receives (or its sender is dropped).
    pub stop: Option<std::sync::mpsc::Receiver<()>>,
    /// Reads the configuration again on SIGHUP: what can change while running, or why not.
    pub reload: Option<Box<dyn FnMut() -> Result<Reconfigure, String> + Send>>,
}

impl std::fmt::Debug for LiveControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveControl")
            .field("ready", &self.ready.is_some())
            .field("stop", &self.stop.is_some())
            .field("reload", &self.reload.is_some())
            .finish()
    }
}

/// How often the pipeline hears the wall clock (minutes of a silent live source close).
pub const WALL_CLOCK_TICK: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a stop waits for the broker to take what is in the outbox.
const DRAIN_ON_STOP: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the live appliance until SIGTERM or SIGINT: HEP listener → pipeline → judge (own
/// thread; decision states saved every judged minute) → announcer (own thread; the durable
/// outbox) → MQTT publisher.
pub fn run_live<E: Embedder + Unpin + Send + 'static>(
    mut settings: LiveSettings,
    judge: Judge<E>,
    store: std::sync::Arc<crate::store::Store>,
    control: LiveControl,
    loader: Option<super::judge::ModelLoader<E>>,
) -> Result<(), String> {
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;

    let metrics = Arc::clone(&settings.metrics);
    let board = Arc::new(std::sync::RwLock::new(crate::api::NodeBoard::new(
        settings.window_minutes as usize,
    )));
    if let Ok(mut board) = board.write() {
        board.restore(&settings.restored_alarms);
    }
    let readiness = Arc::new(super::http::Readiness::default());

    let system = actix::System::new();
    system.block_on(async move {
        let payloads = crate::publish::Payloads::new(settings.publish.clone());
        settings.mqtt.health_topic = payloads.topics().health();
        let publisher = super::mqtt::spawn_publisher(
            settings.mqtt.clone(),
            Arc::clone(&store),
            Arc::clone(&metrics),
        );
        let mut announcer = crate::publish::Announcer::new(payloads);
        announcer.restore(settings.restored_alarms.clone());
        let announce = AnnounceActor::new(
            announcer,
            Some(Arc::clone(&store)),
            Some(publisher.clone()),
            settings.outbox_limit,
            false,
        )
        .observed(Arc::clone(&board), Arc::clone(&metrics));
        let announce_slot = std::sync::Mutex::new(Some(announce));
        let announcer = actix::SyncArbiter::start(1, move || {
            let taken =
                announce_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            taken.unwrap_or_else(|| {
                panic!("the announcer stopped: its state is gone, restart the appliance")
            })
        });
        let judge_slot = std::sync::Mutex::new(Some(judge));
        let window_minutes = settings.window_minutes;
        let announcer_end = announcer.clone();
        let downstream = announcer.recipient();
        let checkpoint = Arc::clone(&store);
        let judge_metrics = Arc::clone(&metrics);
        let loader_set = loader.is_some();
        let keeper = settings.samples.map(|retention| {
            let provenance = serde_json::json!({
                "appliance": settings.publish.appliance,
                "source": "live",
            });
            crate::store::SampleKeeper::new(retention, provenance)
        });
        let judge = actix::SyncArbiter::start(1, move || {
            let taken = judge_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            let judge = taken.unwrap_or_else(|| {
                panic!("the judge stopped: its state is gone, restart the appliance")
            });
            let actor = JudgeActor::new(judge, downstream.clone())
                .checkpointing(Arc::clone(&checkpoint), window_minutes)
                .metered(Arc::clone(&judge_metrics));
            let actor = match keeper.clone() {
                Some(keeper) => actor.keeping(keeper),
                None => actor,
            };
            match loader.clone() {
                Some(loader) => actor.loading(loader),
                None => actor,
            }
        });
        let models_can_change = loader_set;
        let pipeline = FeaturePipelineActor::new(
            &settings.pipeline,
            judge.clone().recipient(),
            PIPELINE_MAILBOX,
        )
        .metered(Arc::clone(&metrics), super::hep::PIPELINE_SOURCE)
        .start();
        let http = match settings.http_listen {
            Some(listen) => {
                let state = super::http::HttpState {
                    metrics: Arc::clone(&metrics),
                    board: Arc::clone(&board),
                    store: Arc::clone(&store),
                    readiness: Arc::clone(&readiness),
                    models: models_can_change.then(|| judge.clone().recipient()),
                    allow_changes: settings.http_allow_changes,
                };
                let (handle, _) = super::http::spawn_http(listen, state)
                    .map_err(|e| format!("cannot serve HTTP on {listen} (http.listen): {e}"))?;
                Some(handle)
            }
            None => None,
        };
        super::hep::spawn_hep_listener(&settings.hep, pipeline.clone(), Arc::clone(&metrics))
            .map_err(|e| {
                format!("cannot listen on {} (sources.hep_udp_listen): {e}", settings.hep.listen)
            })?;
        if let Some(listen) = settings.hep.tcp_listen {
            super::hep::spawn_hep_tcp_listener(
                listen,
                settings.hep.auth_key.clone(),
                pipeline.clone(),
                Arc::clone(&metrics),
            )
            .await
            .map_err(|e| format!("cannot listen on {listen} (sources.hep_tcp_listen): {e}"))?;
        }
        if let Some(dir) = settings.input_dir.clone() {
            let shown = dir.dir.display().to_string();
            let runtime = tokio::runtime::Handle::current();
            super::files::spawn_input_dir(dir, pipeline.clone(), Arc::clone(&metrics), runtime)
                .map_err(|e| format!("cannot read {shown} (sources.input_dir): {e}"))?;
        }
        readiness.listening.store(true, Relaxed);
        if settings.follow_wall_clock {
            let pipeline = pipeline.clone();
            actix::spawn(async move {
                let mut tick = tokio::time::interval(WALL_CLOCK_TICK);
                loop {
                    tick.tick().await;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as u64);
                    // A full mailbox means traffic: the tick is not needed then.
                    if let Err(actix::prelude::SendError::Closed(_)) =
                        pipeline.try_send(super::messages::WallClock(now))
                    {
                        return;
                    }
                }
            });
        }
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        if let Some(ready) = control.ready {
            let _ = ready.send(());
        }
        let asked = async move {
            match control.stop {
                Some(stop) => {
                    let _ = tokio::task::spawn_blocking(move || stop.recv()).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(asked);
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| format!("cannot watch SIGHUP: {e}"))?;
        let mut reload = control.reload;
        loop {
            tokio::select! {
                _ = terminate.recv() => { tracing::info!("SIGTERM: stopping"); break }
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break }
                () = &mut asked => { tracing::info!("asked to stop"); break }
                _ = hangup.recv() => match reload.as_mut().map(|reload| reload()) {
                    Some(Ok(reloaded)) => {
                        // Each mailbox is first in, first out: the new rule applies from the
                        // next minute the judge takes.
                        judge.do_send(reloaded.clone());
                        announcer_end.do_send(reloaded.clone());
                        tracing::info!(decisions = ?reloaded.decisions, outbox_limit = reloaded.outbox_limit, "SIGHUP: configuration reloaded");
                    }
                    Some(Err(error)) => tracing::error!(%error, "SIGHUP: the configuration was not reloaded; the running one stays"),
                    None => tracing::info!("SIGHUP: nothing to reload"),
                },
            }
        }
        readiness.stopping.store(true, Relaxed);
        // Drain: the minutes held close, the judge judges them, the announcer writes them out
        // (each mailbox is first in, first out); decision states are saved with each judged
        // minute. What is still in the outbox stays for the next start; the broker gets a
        // moment to take it now.
        let pipeline_stats = pipeline.send(EndOfInput).await.ok().map(|(stats, _)| stats);
        let judge_stats = judge.send(FinishJudging).await.ok();
        let _ = announcer_end.send(FinishAnnouncing).await;
        publisher.wake();
        tracing::info!(pipeline = ?pipeline_stats, judge = ?judge_stats, "drained");
        let started = std::time::Instant::now();
        while store.outbox_depth().unwrap_or(0) > 0 && started.elapsed() < DRAIN_ON_STOP {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let hep_count = |counter: &prometheus::IntCounterVec, labels: &[&str]| {
            crate::telemetry::Metrics::count(counter, labels)
        };
        tracing::info!(
            hep_datagrams = hep_count(&metrics.received, &[super::hep::SOURCE]),
            hep_dropped_busy = hep_count(&metrics.dropped, &[super::hep::SOURCE, "busy"]),
            published = metrics.mqtt_published.get(),
            acknowledged = metrics.mqtt_acknowledged.get(),
            outbox_left = store.outbox_depth().unwrap_or(0),
            "stopped"
        );
        if let Some(http) = http {
            http.stop(true).await;
        }
        actix::System::current().stop();
        Ok(())
    })
}
