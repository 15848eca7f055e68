//! The one place that wires the actor graph. Each edge's capacity and overflow policy:
//!
//! | edge                         | capacity          | when full                            |
//! |------------------------------|-------------------|--------------------------------------|
//! | capture file → pipeline      | `PIPELINE_MAILBOX`| block the reader (`send().await`)    |
//! | pipeline → minute collector  | unbounded         | n/a (one row per node-minute)        |
//! | pipeline → judge             | unbounded         | n/a (one message per closing batch)  |
//! | judge → announcer            | unbounded         | n/a (one message per judged minute)  |
//!
//! A file source blocks when the pipeline is behind: nothing is lost and memory stays bounded.
//! (Live HEP over UDP will drop newest and count instead: the kernel drops anyway.)

use std::io::Read;
use std::ops::ControlFlow;

use actix::{Actor, Addr, Context, Handler};
use imsight_parsers::capture::DecoderConfig;

use super::announce::{AnnounceActor, Announced};
use super::judge::JudgeActor;
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
