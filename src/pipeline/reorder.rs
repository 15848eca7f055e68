//! Input held back until event time has passed it by the allowed lateness, so that disorder
//! within the lateness (two probes, UDP reordering) is undone before transactions are matched.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::correlate::Completed;
use crate::schema::Leg;

/// An input waiting for its turn.
#[derive(Debug)]
pub(super) enum Held {
    /// SIP bytes (owned: the capture buffer is gone by the time they are processed).
    Sip { leg: Option<Leg>, inbound: bool, subscriber: Option<u64>, bytes: Vec<u8> },
    /// A probe record, already a finished transaction (boxed: held inputs move around the
    /// heap, and SIP messages, the common case, are much smaller).
    Record(Box<Completed>),
}

impl Held {
    /// Bytes it holds.
    pub(super) fn size(&self) -> usize {
        match self {
            Self::Sip { bytes, .. } => bytes.len(),
            Self::Record(_) => std::mem::size_of::<Completed>(),
        }
    }
}

#[derive(Debug)]
struct Pending {
    ts: u64,
    /// Arrival order: equal times keep it.
    sequence: u64,
    node: usize,
    held: Held,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.sequence) == (other.ts, other.sequence)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ts, self.sequence).cmp(&(other.ts, other.sequence))
    }
}

/// A min-heap of held inputs by (event time, arrival).
#[derive(Debug, Default)]
pub(super) struct ReorderBuffer {
    pending: BinaryHeap<Reverse<Pending>>,
    /// Everything at or before this time has been handed out.
    released: u64,
    sequence: u64,
}

impl ReorderBuffer {
    /// Event time up to which input has been handed out: anything older is late.
    pub(super) fn released(&self) -> u64 {
        self.released
    }

    #[inline]
    pub(super) fn hold(&mut self, ts: u64, node: usize, held: Held) {
        self.sequence += 1;
        self.pending.push(Reverse(Pending { ts, sequence: self.sequence, node, held }));
    }

    /// The oldest input at or before `until`, if any; once none is left, `until` is released.
    pub(super) fn pop_until(&mut self, until: u64) -> Option<(u64, usize, Held)> {
        if self.pending.peek().is_some_and(|Reverse(p)| p.ts <= until)
            && let Some(Reverse(p)) = self.pending.pop()
        {
            return Some((p.ts, p.node, p.held));
        }
        self.released = self.released.max(until);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(ts: u64) -> Held {
        Held::Sip { leg: None, inbound: true, subscriber: None, bytes: ts.to_be_bytes().to_vec() }
    }

    #[test]
    fn inputs_come_out_in_time_then_arrival_order() {
        let mut buffer = ReorderBuffer::default();
        buffer.hold(30, 0, sip(30));
        buffer.hold(10, 1, sip(10));
        buffer.hold(10, 2, sip(10));
        buffer.hold(50, 0, sip(50));
        let mut out = Vec::new();
        while let Some((ts, node, _)) = buffer.pop_until(30) {
            out.push((ts, node));
        }
        assert_eq!(out, vec![(10, 1), (10, 2), (30, 0)]);
        assert_eq!(buffer.released(), 30);
        assert!(buffer.pop_until(20).is_none());
        assert_eq!(buffer.released(), 30, "release never goes back");
    }
}
