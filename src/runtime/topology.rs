//! The one place that wires the actor graph. Each edge's capacity and overflow policy:
//!
//! | edge                         | capacity          | when full                            |
//! |------------------------------|-------------------|--------------------------------------|
//! | capture file → pipeline      | `PIPELINE_MAILBOX`| block the reader (`send().await`)    |
//! | pipeline → minute collector  | unbounded         | n/a (one row per node-minute)        |
//!
//! A file source blocks when the pipeline is behind: nothing is lost and memory stays bounded.
//! (Live HEP over UDP will drop newest and count instead: the kernel drops anyway.)

use std::io::Read;
use std::ops::ControlFlow;

use actix::{Actor, Addr, Context, Handler};
use imsight_parsers::capture::DecoderConfig;

use super::messages::{CaptureBatch, EndOfInput, MinutesClosed};
use super::pipeline::FeaturePipelineActor;
use crate::aggregate::FeatureRow;
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
        self.rows.extend(closed.0);
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
    let pipeline = topology.pipeline.clone();
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
    let (stats, nodes) = topology.pipeline.send(EndOfInput).await?;
    let rows = topology.collector.send(Drain).await?;
    Ok(ActorRun { rows, nodes, stats, capture })
}
