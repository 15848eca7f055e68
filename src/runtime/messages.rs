//! Messages between actors. Batches, not single records; owned, since they cross threads.

use actix::Message;

use crate::aggregate::FeatureRow;
use crate::pipeline::PipelineStats;
use crate::sources::OwnedCaptureEvent;

/// A batch of capture events, in capture order. Sent by a capture source to the pipeline.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CaptureBatch(pub Vec<OwnedCaptureEvent>);

/// A batch of probe records, in file order. Sent by a file source to the pipeline.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RecordBatch(pub Vec<crate::sources::OwnedRecord>);

/// A tick of the wall clock (µs since the epoch): the minutes of a silent live source close.
/// Sent to the pipeline every [`super::topology::WALL_CLOCK_TICK`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct WallClock(pub u64);

/// The input has ended: every held minute closes. Sent by a source after its last batch; the
/// reply is the pipeline's counters and node names.
#[derive(Debug, Message)]
#[rtype(result = "(PipelineStats, Vec<String>)")]
pub struct EndOfInput;

/// Node-minutes that closed, in closing order, with the node names known so far (indexes
/// into it). Sent by the pipeline downstream.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct MinutesClosed {
    /// The rows.
    pub rows: Vec<FeatureRow>,
    /// When the pipeline closed them (the start of the close → broker latency).
    pub closed_at: std::time::Instant,
    /// Node names by index.
    pub nodes: Vec<String>,
}

/// One minute's judgements of every node (verdicts, then that minute's alarm decisions), and
/// the decision states after it when they are to be saved with the minute's messages. Sent
/// by the judge to the announcer.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Judged {
    /// The judgements.
    pub judgements: Vec<crate::judge::Judgement>,
    /// The decision states to save with this minute's messages (empty when not saving).
    pub decisions: Vec<crate::decide::NodeDecider>,
    /// When the pipeline closed the minute.
    pub closed_at: std::time::Instant,
}

/// The input has ended and every earlier message was handled: judge what is pending. Sent to
/// the judge after the pipeline's [`EndOfInput`] reply; the reply is the judge's counters.
#[derive(Debug, Message)]
#[rtype(result = "crate::judge::JudgeStats")]
pub struct FinishJudging;

/// What a reloaded configuration changes while running (SIGHUP). Sent to the judge (the
/// decision rule) and the announcer (the outbox bound).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Reconfigure {
    /// The decision rule (`[decisions]`).
    pub decisions: crate::decide::DecisionSettings,
    /// The outbox bound (`mqtt.outbox_limit`).
    pub outbox_limit: usize,
}

/// Everything earlier was handled: the announcer's account. Sent last.
#[derive(Debug, Message)]
#[rtype(result = "super::announce::Announced")]
pub struct FinishAnnouncing;

/// A change of the models a running appliance judges with, or a sample labelled as a
/// reference: sent by the HTTP API to the judge, which applies it between two minutes (no
/// minute is lost or judged twice). The reply says what was done, or why not.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<serde_json::Value, String>")]
pub enum ModelRequest {
    /// Register the model at this path and judge with it (the active one becomes the
    /// previous one).
    Activate(std::path::PathBuf),
    /// Let the model at this path judge beside the active one; `None` stops shadowing.
    Shadow(Option<std::path::PathBuf>),
    /// The shadow model becomes the active one.
    Promote,
    /// The previous model becomes the active one again.
    Rollback,
    /// Sample `sample`'s window becomes a reference of its node with `class`, embedded by the
    /// active model and judged against from the next minute.
    EnrollSample {
        /// The sample id.
        sample: u64,
        /// The class.
        class: String,
        /// Who enrolled it.
        by: String,
    },
}
