//! Messages between actors. Batches, not single records; owned, since they cross threads.

use actix::Message;

use crate::aggregate::FeatureRow;
use crate::pipeline::PipelineStats;
use crate::sources::OwnedCaptureEvent;

/// A batch of capture events, in capture order. Sent by a capture source to the pipeline.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CaptureBatch(pub Vec<OwnedCaptureEvent>);

/// The input has ended: every held minute closes. Sent by a source after its last batch; the
/// reply is the pipeline's counters and node names.
#[derive(Debug, Message)]
#[rtype(result = "(PipelineStats, Vec<String>)")]
pub struct EndOfInput;

/// Node-minutes that closed, in closing order. Sent by the pipeline downstream; node names
/// come with [`EndOfInput`]'s reply (and, live, from the pipeline's snapshot).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct MinutesClosed(pub Vec<FeatureRow>);
