//! Event time that cannot be believed. One record dated in the year 33658, or one frame with a
//! garbage timestamp, would move event time so far that everything after it is "late". So a
//! jump ahead by more than [`MAX_TIME_JUMP_US`] is believed only once a later input is also
//! there (traffic resuming after a silence, a sparse source, a capture stitched from two
//! traces); until then the inputs beyond it wait here, bounded. At the end of the input, a
//! jump of at most [`MAX_UNCONFIRMED_JUMP_US`] is believed (the last record of a sparse
//! source); anything further is dropped and counted. Times after the caller's `not_after`
//! bound (the live appliance: the wall clock plus a margin) are never believed.

use std::collections::VecDeque;

use super::reorder::Held;

/// A move of event time ahead by more than this needs a second input to agree.
pub const MAX_TIME_JUMP_US: u64 = 10 * 60 * 1_000_000;
/// At the end of the input, a jump no later input confirmed is believed up to this far.
pub const MAX_UNCONFIRMED_JUMP_US: u64 = 24 * 3600 * 1_000_000;
/// Inputs held while a jump is doubted; beyond it the oldest are dropped (and counted).
pub const MAX_DOUBTED: usize = 4096;
/// Bytes held while a jump is doubted, at most.
pub const MAX_DOUBTED_BYTES: usize = 16 * 1024 * 1024;

/// An input waiting for its jump to be confirmed: (event time, node, input).
type Doubted = (u64, usize, Held);

/// The guard's decision on one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Belief {
    /// Within reach of event time: use it.
    Plausible,
    /// Far ahead, not (yet) confirmed: hold or ignore it.
    Doubted,
    /// After the `not_after` bound: drop it.
    Impossible,
}

#[derive(Debug, Default)]
pub(super) struct TimeGuard {
    not_after: Option<u64>,
    /// A doubted time and the number of inputs seen when it came: only a later input may
    /// confirm it (a packet does not vouch for itself with its HEP and its frame time).
    candidate: Option<(u64, u64)>,
    doubted: VecDeque<Doubted>,
    doubted_bytes: usize,
    /// Inputs dropped: after `not_after`, or ahead of a jump nobody confirmed.
    pub(super) dropped: u64,
}

impl TimeGuard {
    pub(super) fn new(not_after: Option<u64>) -> Self {
        Self { not_after, ..Self::default() }
    }

    /// How far `ts` can be believed when event time is at `newest` (0: nothing seen yet).
    pub(super) fn judge(&self, ts: u64, newest: u64) -> Belief {
        if self.not_after.is_some_and(|bound| ts > bound) {
            Belief::Impossible
        } else if newest > 0 && ts > newest.saturating_add(MAX_TIME_JUMP_US) {
            Belief::Doubted
        } else {
            Belief::Plausible
        }
    }

    /// Keeps an input that lies beyond a doubted jump.
    pub(super) fn doubt(&mut self, ts: u64, node: usize, held: Held) {
        self.doubted_bytes += held.size();
        self.doubted.push_back((ts, node, held));
        while self.doubted.len() > MAX_DOUBTED || self.doubted_bytes > MAX_DOUBTED_BYTES {
            let Some((_, _, oldest)) = self.doubted.pop_front() else { break };
            self.doubted_bytes -= oldest.size();
            self.dropped += 1;
        }
    }

    /// Event time moved, plausibly, to `newest`: a doubted time it has reached is no jump any
    /// more (it must not vouch for a later, absurd one), and the inputs waiting for it are
    /// returned to be taken in the ordinary way.
    #[inline]
    pub(super) fn caught_up(&mut self, newest: u64) -> Vec<Doubted> {
        if self.candidate.is_none() && self.doubted.is_empty() {
            // The usual case: nothing is doubted.
            return Vec::new();
        }
        let reach = newest.saturating_add(MAX_TIME_JUMP_US);
        if self.candidate.is_some_and(|(time, _)| time <= reach) {
            self.candidate = None;
        }
        self.take_until(reach)
    }

    /// Event time is asked to jump to `now` (judged [`Belief::Doubted`]) after `inputs` inputs.
    /// Once a later input is at or beyond the doubted time, the jump is believed: returns the
    /// waiting inputs up to `now` (the rest keep waiting). `None` while it is doubted.
    pub(super) fn confirm(&mut self, now: u64, inputs: u64) -> Option<Vec<Doubted>> {
        match self.candidate {
            Some((time, seen)) if inputs > seen && now.saturating_add(MAX_TIME_JUMP_US) >= time => {
                self.candidate = None;
                Some(self.take_until(now.saturating_add(MAX_TIME_JUMP_US)))
            }
            _ => {
                self.candidate = Some((now, inputs));
                None
            }
        }
    }

    /// The end of the input, with event time at `newest`: what waits within
    /// [`MAX_UNCONFIRMED_JUMP_US`] is believed and returned; the rest is dropped and counted.
    pub(super) fn finish(&mut self, newest: u64) -> Vec<Doubted> {
        let believed = self.take_until(newest.saturating_add(MAX_UNCONFIRMED_JUMP_US));
        self.dropped += self.doubted.len() as u64;
        self.doubted.clear();
        self.doubted_bytes = 0;
        self.candidate = None;
        believed
    }

    fn take_until(&mut self, limit: u64) -> Vec<Doubted> {
        if self.doubted.is_empty() {
            return Vec::new();
        }
        let (taken, kept): (Vec<Doubted>, Vec<Doubted>) =
            self.doubted.drain(..).partition(|(ts, ..)| *ts <= limit);
        self.doubted.extend(kept);
        self.doubted_bytes = self.doubted.iter().map(|(_, _, held)| held.size()).sum();
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000_000;

    fn held() -> Held {
        Held::Sip { leg: None, inbound: true, subscriber: None, bytes: Vec::new() }
    }

    #[test]
    fn a_jump_needs_a_later_input_to_agree() {
        let mut guard = TimeGuard::new(None);
        let newest = 100 * HOUR;
        assert_eq!(guard.judge(newest + 60_000_000, newest), Belief::Plausible);
        let far = newest + 48 * HOUR;
        assert_eq!(guard.judge(far, newest), Belief::Doubted);
        guard.doubt(far, 0, held());
        // The same input's other clock does not confirm it.
        assert!(guard.confirm(far, 7).is_none());
        assert!(guard.confirm(far + 1, 7).is_none());
        // A later input there does (a sparse source: even much later), and what waited comes out.
        guard.doubt(far + HOUR, 0, held());
        let confirmed = guard.confirm(far + HOUR, 8).unwrap();
        assert_eq!(confirmed.len(), 2);
        assert_eq!(guard.dropped, 0);
    }

    #[test]
    fn an_outlier_nobody_confirms_is_dropped_and_counted() {
        let mut guard = TimeGuard::new(None);
        let newest = 100 * HOUR;
        let absurd = newest + 10_000 * HOUR;
        guard.doubt(absurd, 0, held());
        assert!(guard.confirm(absurd, 1).is_none());
        // Later inputs are ordinary: nothing confirms the outlier.
        assert_eq!(guard.judge(newest + 1, newest), Belief::Plausible);
        assert!(guard.finish(newest + 1).is_empty());
        assert_eq!(guard.dropped, 1);
    }

    #[test]
    fn a_last_jump_within_a_day_is_believed_at_the_end() {
        let mut guard = TimeGuard::new(None);
        let newest = 100 * HOUR;
        guard.doubt(newest + 2 * HOUR, 0, held());
        guard.doubt(newest + 30 * HOUR, 0, held());
        assert_eq!(guard.finish(newest).len(), 1);
        assert_eq!(guard.dropped, 1);
    }

    #[test]
    fn times_after_the_bound_are_impossible() {
        let guard = TimeGuard::new(Some(200 * HOUR));
        assert_eq!(guard.judge(201 * HOUR, 0), Belief::Impossible);
        assert_eq!(guard.judge(199 * HOUR, 0), Belief::Plausible);
    }

    #[test]
    fn a_jump_reached_by_ordinary_time_cannot_vouch_for_an_absurd_one() {
        let mut guard = TimeGuard::new(None);
        let newest = 100 * HOUR;
        let soon = newest + HOUR / 4;
        guard.doubt(soon, 0, held());
        assert!(guard.confirm(soon, 1).is_none());
        // Ordinary traffic reaches that time: its input is released, the candidate forgotten.
        assert_eq!(guard.caught_up(soon - 60_000_000).len(), 1);
        // An absurd time much later is doubted afresh, not confirmed by the old candidate.
        assert!(guard.confirm(newest + 10_000 * HOUR, 50).is_none());
    }

    #[test]
    fn doubted_inputs_are_bounded() {
        let mut guard = TimeGuard::new(None);
        for i in 0..MAX_DOUBTED as u64 + 10 {
            guard.doubt(1_000 * HOUR + i, 0, held());
        }
        assert_eq!(guard.doubted.len(), MAX_DOUBTED);
        assert_eq!(guard.dropped, 10);
    }
}
