//! From transactions and messages to one feature vector per node per minute, in event time;
//! and the sliding window of the last minutes handed to inference.

pub mod accumulator;
pub mod minute;
pub mod window;

pub use accumulator::Accumulator;
pub use minute::{AggregateStats, FeatureRow, MinuteAggregator};
pub use window::WindowRing;
