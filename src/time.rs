//! Event time: microseconds since the Unix epoch, as the records themselves carry it (never
//! the wall clock), the minute every feature row is cut on, and the one lateness rule.
//!
//! A leaf: it imports nothing of the crate.

/// Microseconds in a second.
pub const SECOND_US: u64 = 1_000_000;
/// Microseconds in a minute.
pub const MINUTE_US: u64 = 60 * SECOND_US;

/// The minute (index since the epoch) that `ts` falls in.
pub fn minute_of(ts: u64) -> u64 {
    ts / MINUTE_US
}

/// The newest event time seen and the disorder allowed behind it. Everything at or before
/// [`Watermark::released`] is final: input that old is late, minutes that ended before it close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    newest: u64,
    lateness: u64,
}

impl Watermark {
    /// A watermark allowing `lateness` µs of disorder.
    pub fn new(lateness: u64) -> Self {
        Self { newest: 0, lateness }
    }

    /// Event time moves to `ts` (never back).
    pub fn observe(&mut self, ts: u64) {
        self.newest = self.newest.max(ts);
    }

    /// The newest event time seen.
    pub fn newest(&self) -> u64 {
        self.newest
    }

    /// Event time up to which input is final: the newest minus the allowed lateness.
    pub fn released(&self) -> u64 {
        self.newest.saturating_sub(self.lateness)
    }

    /// Minutes (indexes) below this one have ended before [`Watermark::released`].
    pub fn closable_minutes(&self) -> u64 {
        minute_of(self.released())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_trails_the_newest_event_by_the_lateness() {
        let mut w = Watermark::new(5 * SECOND_US);
        assert_eq!((w.released(), w.closable_minutes()), (0, 0));
        w.observe(3 * MINUTE_US + 4 * SECOND_US);
        // 4 s into minute 3 with 5 s allowed: minute 2 may still get records.
        assert_eq!(w.closable_minutes(), 2);
        w.observe(MINUTE_US);
        assert_eq!(w.newest(), 3 * MINUTE_US + 4 * SECOND_US, "time never goes back");
        w.observe(3 * MINUTE_US + 6 * SECOND_US);
        assert_eq!(w.closable_minutes(), 3);
        assert_eq!(w.released(), 3 * MINUTE_US + SECOND_US);
    }
}
