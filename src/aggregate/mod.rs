//! From transactions and messages to one feature vector per node per minute, in event time;
//! and the sliding window of the last minutes handed to inference.

pub mod accumulator;
pub mod minute;
pub mod window;

pub use accumulator::Accumulator;
pub use minute::{FeatureRow, MinuteAggregator};
pub use window::WindowRing;

/// Microseconds in a minute.
pub const MINUTE: u64 = 60_000_000;
