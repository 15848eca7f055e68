//! Messages and probe records wait here until no later event can produce anything earlier:
//! a procedure queues a whole transaction (up to Timer B/F ahead) at once.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::{Output, TxnRecord};
use crate::sim::wire::SimMessage;

/// Queued output, released in time order; equal times keep the order they were queued in.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// (time, queue order, index into `slots`): the messages stay out of the heap, which
    /// then moves three words instead of a whole message per sift.
    pending: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<SimMessage>>,
    free: Vec<usize>,
    records: BinaryHeap<Reverse<(u64, u64, RecordKey)>>,
    seq: u64,
    /// Per node, the `[from, to)` spans in which its probe sends nothing.
    pub gaps: Vec<Vec<(u64, u64)>>,
}

impl Outbox {
    fn unseen(&self, node: u16, ts: u64) -> bool {
        self.gaps.get(node as usize).is_some_and(|g| g.iter().any(|&(a, b)| (a..b).contains(&ts)))
    }
}

/// `TxnRecord` with a total order for the heap; the queue order beside it breaks every tie.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RecordKey(TxnRecord);
impl Eq for RecordKey {}
impl PartialOrd for RecordKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RecordKey {
    fn cmp(&self, _other: &Self) -> Ordering {
        Ordering::Equal
    }
}

impl Outbox {
    /// Queues a message for its time.
    pub(super) fn emit(&mut self, message: SimMessage) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(message);
                slot
            }
            None => {
                self.slots.push(Some(message));
                self.slots.len() - 1
            }
        };
        self.pending.push(Reverse((message.ts, self.seq, slot)));
    }

    /// Queues a probe record for the time its transaction ends.
    pub(super) fn record(&mut self, record: TxnRecord) {
        self.seq += 1;
        self.records.push(Reverse((record.end, self.seq, RecordKey(record))));
    }

    /// Writes everything due before `until`; what falls at or after the run's `end` is dropped.
    pub(super) fn flush(&mut self, until: u64, end: u64, output: &mut dyn Output) {
        while let Some(&Reverse((ts, _, slot))) = self.pending.peek() {
            if ts >= until {
                break;
            }
            self.pending.pop();
            if let Some(message) = self.slots[slot].take() {
                self.free.push(slot);
                if message.ts < end && !self.unseen(message.node, message.ts) {
                    output.message(&message);
                }
            }
        }
        while let Some(Reverse((record_end, _, _))) = self.records.peek() {
            if *record_end >= until {
                break;
            }
            if let Some(Reverse((_, _, RecordKey(record)))) = self.records.pop()
                && record.end < end
                && !self.unseen(record.node, record.end)
            {
                output.transaction(&record);
            }
        }
        output.progress(until);
    }
}

#[cfg(test)]
mod tests {
    use imsight_parsers::sip::Method;

    use super::*;
    use crate::sim::engine::testkit::Collector;
    use crate::sim::wire::{CorePeer, Dir, Leg};

    fn message(ts: u64, cseq: u32) -> SimMessage {
        SimMessage {
            ts,
            node: 0,
            leg: Leg::Access,
            dir: Dir::Uplink,
            peer: CorePeer::Scscf,
            sub: 1,
            other: 2,
            dialog: 3,
            txn: 4,
            cseq,
            method: Method::Message,
            status: 0,
            flags: 0,
            expires: 0,
        }
    }

    #[test]
    fn messages_leave_in_time_order_ties_in_queue_order_and_none_after_the_end() {
        let mut outbox = Outbox::default();
        for (ts, cseq) in [(30, 1), (10, 2), (20, 3), (10, 4), (99, 5)] {
            outbox.emit(message(ts, cseq));
        }
        let mut out = Collector::default();
        outbox.flush(15, 90, &mut out);
        assert_eq!(out.messages.iter().map(|m| m.cseq).collect::<Vec<_>>(), vec![2, 4]);
        // Freed slots are reused without disturbing the order.
        outbox.emit(message(25, 6));
        outbox.flush(u64::MAX, 90, &mut out);
        assert_eq!(out.messages.iter().map(|m| m.cseq).collect::<Vec<_>>(), vec![2, 4, 3, 6, 1]);
        assert_eq!(out.progress, Some(u64::MAX));
    }
}
