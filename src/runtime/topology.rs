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
    /// The capture container is damaged.
    #[error("cannot read the capture: {0}")]
    Capture(#[from] imsight_parsers::ParseError),
    /// An actor stopped before the input ended.
    #[error("the pipeline actor stopped: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// The reading thread ended abnormally.
    #[error("the capture reader failed: {0}")]
    Reader(#[from] tokio::task::JoinError),
}

/// Runs a capture through the actor graph in event time: the rows, node names and counters,
/// exactly as [`crate::replay::FeatureReplay`] computes them. Call inside an actix system.
pub async fn run_capture(
    source: impl Read + Send + 'static,
    settings: &PipelineSettings,
    decoder: DecoderConfig,
) -> Result<(Vec<FeatureRow>, Vec<String>, PipelineStats), RuntimeError> {
    let topology = CaptureTopology::start(settings);
    let pipeline = topology.pipeline.clone();
    let handle = tokio::runtime::Handle::current();
    // Reading is blocking I/O: off the reactor, on a blocking thread that waits for mailbox
    // room (`send`), so a slow pipeline slows the reader instead of filling memory.
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(CAPTURE_BATCH);
        let mut delivery: Result<(), actix::MailboxError> = Ok(());
        let (_, read) = read_capture(source, &decoder, |event| {
            if delivery.is_err() {
                return;
            }
            batch.push(OwnedCaptureEvent::from(event));
            if batch.len() == CAPTURE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(CAPTURE_BATCH));
                delivery = handle.block_on(pipeline.send(CaptureBatch(full)));
            }
        });
        if delivery.is_ok() && !batch.is_empty() {
            delivery = handle.block_on(pipeline.send(CaptureBatch(batch)));
        }
        (read, delivery)
    });
    let (read, delivery) = reader.await?;
    delivery?;
    read?;
    let (stats, nodes) = topology.pipeline.send(EndOfInput).await?;
    let rows = topology.collector.send(Drain).await?;
    Ok((rows, nodes, stats))
}
