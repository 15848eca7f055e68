//! The feature pipeline as an actor: a thin shell around [`FeaturePipeline`].

use std::sync::Arc;

use actix::{Actor, Context, Handler, Recipient};

use super::messages::{CaptureBatch, EndOfInput, MinutesClosed, RecordBatch, WallClock};
use crate::pipeline::{FeaturePipeline, PipelineSettings, PipelineStats};
use crate::telemetry::Metrics;

/// Feeds capture events to the pipeline and sends every closed minute downstream.
#[derive(Debug)]
pub struct FeaturePipelineActor {
    pipeline: FeaturePipeline,
    downstream: Recipient<MinutesClosed>,
    closed: Vec<crate::aggregate::FeatureRow>,
    mailbox_capacity: usize,
    metered: Option<Metered>,
}

/// Where the pipeline's counters go, and what was counted there already.
#[derive(Debug)]
struct Metered {
    metrics: Arc<Metrics>,
    source: &'static str,
    counted: PipelineStats,
}

impl FeaturePipelineActor {
    /// An actor sending closed minutes to `downstream`, with a bounded mailbox.
    pub fn new(
        settings: &PipelineSettings,
        downstream: Recipient<MinutesClosed>,
        mailbox_capacity: usize,
    ) -> Self {
        Self {
            pipeline: FeaturePipeline::new(settings),
            downstream,
            closed: Vec::new(),
            mailbox_capacity,
            metered: None,
        }
    }

    /// Counts what the pipeline counts in `metrics`, labelled with `source`.
    pub fn metered(mut self, metrics: Arc<Metrics>, source: &'static str) -> Self {
        self.metered = Some(Metered { metrics, source, counted: PipelineStats::default() });
        self
    }

    fn forward(&mut self) {
        if let Some(metered) = &mut self.metered {
            let now = self.pipeline.stats();
            metered.metrics.pipeline_counted(metered.source, &metered.counted, &now);
            metered.metrics.minutes_closed.inc_by(self.closed.len() as u64);
            metered.metrics.nodes.set(self.pipeline.judged_nodes() as i64);
            metered.counted = now;
        }
        if self.closed.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.closed);
        // One message per batch of closed minutes (at most one row per node and minute), so
        // this edge needs no bound; the edge that can overflow, into this actor, is bounded in
        // topology.rs.
        self.downstream.do_send(MinutesClosed {
            rows,
            nodes: self.pipeline.node_names().to_vec(),
            closed_at: std::time::Instant::now(),
        });
    }
}

impl Actor for FeaturePipelineActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl Handler<CaptureBatch> for FeaturePipelineActor {
    type Result = ();

    fn handle(&mut self, batch: CaptureBatch, _: &mut Self::Context) {
        for event in &batch.0 {
            self.pipeline.capture_event(event.as_event(), &mut self.closed);
        }
        self.forward();
    }
}

impl Handler<RecordBatch> for FeaturePipelineActor {
    type Result = ();

    fn handle(&mut self, batch: RecordBatch, _: &mut Self::Context) {
        for record in &batch.0 {
            let record = record.as_record();
            if let Some(ts) = self.pipeline.push(crate::pipeline::Input::Record(&record)) {
                self.pipeline.advance(ts, &mut self.closed);
            }
        }
        self.forward();
    }
}

impl Handler<WallClock> for FeaturePipelineActor {
    type Result = ();

    fn handle(&mut self, WallClock(now): WallClock, _: &mut Self::Context) {
        self.pipeline.wall_clock(now, &mut self.closed);
        self.forward();
    }
}

impl Handler<EndOfInput> for FeaturePipelineActor {
    type Result = actix::MessageResult<EndOfInput>;

    fn handle(&mut self, _: EndOfInput, _: &mut Self::Context) -> Self::Result {
        self.pipeline.finish(&mut self.closed);
        self.forward();
        actix::MessageResult((self.pipeline.stats(), self.pipeline.node_names().to_vec()))
    }
}
