//! The durable outbox: every outbound message is written here before it is published and
//! removed when the broker acknowledged it (PUBACK), so a broker outage or a restart loses
//! nothing and order is kept.
//!
//! Bound (`limit` messages): a node's new state message (or alert refresh) replaces the one
//! of the same topic still waiting (they are snapshots; only the latest matters); when the
//! outbox is full, the oldest waiting snapshots are dropped and counted. Alarm events (control
//! loop, VES, the first and the resolving alert) and health are never dropped: past the limit
//! they are still kept, and the overflow is reported.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{Store, StoreError};
use crate::publish::{Outbound, OutboundKind};

/// sequence → the message, as JSON.
pub(super) const OUTBOX: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("outbox");

/// What `enqueue` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Messages added.
    pub added: usize,
    /// Waiting state messages replaced by a newer one of their node.
    pub coalesced: usize,
    /// Waiting state messages dropped to stay within the limit.
    pub dropped: usize,
    /// Messages beyond the limit that could not be dropped (alarm events).
    pub over_limit: usize,
    /// The number of the last message added.
    pub last: Option<u64>,
}

impl Store {
    /// Adds messages (one transaction), applying the bound.
    pub fn enqueue(&self, messages: &[Outbound], limit: usize) -> Result<Enqueued, StoreError> {
        self.commit_minute(messages, limit, &[])
    }

    /// Adds one judged minute's messages and saves the decision states that made them, in
    /// one transaction: after a crash, an alarm the states remember always has its events in
    /// the outbox, and events in the outbox always belong to remembered states.
    pub fn commit_minute(
        &self,
        messages: &[Outbound],
        limit: usize,
        decisions: &[crate::decide::NodeDecider],
    ) -> Result<Enqueued, StoreError> {
        let encoded: Vec<(Outbound, Vec<u8>)> = messages
            .iter()
            .map(|m| Ok((m.clone(), serde_json::to_vec(m).map_err(|e| self.fail(e))?)))
            .collect::<Result<_, StoreError>>()?;
        let states: Vec<(String, Vec<u8>)> = decisions
            .iter()
            .map(|d| Ok((d.node().to_owned(), serde_json::to_vec(d).map_err(|e| self.fail(e))?)))
            .collect::<Result<_, StoreError>>()?;
        self.write(|txn| {
            let mut saved = txn.open_table(super::DECISIONS)?;
            for (node, json) in &states {
                saved.insert(node.as_str(), json.as_slice())?;
            }
            drop(saved);
            let mut table = txn.open_table(OUTBOX)?;
            let mut result = Enqueued::default();
            let first =
                super::next_number(txn, "outbox", table.last()?.map_or(1, |(k, _)| k.value() + 1))?;
            // The snapshots waiting, by kind and topic (read once per minute, not per message).
            let mut snapshots: std::collections::HashMap<(OutboundKind, String), Vec<u64>> =
                std::collections::HashMap::new();
            if encoded.iter().any(|(m, _)| replaceable(m.kind)) {
                for (seq, m) in waiting(&table)?.into_iter().filter(|(_, m)| replaceable(m.kind)) {
                    snapshots.entry((m.kind, m.topic)).or_default().push(seq);
                }
            }
            for (next, (message, bytes)) in (first..).zip(&encoded) {
                if replaceable(message.kind) {
                    let key = (message.kind, message.topic.clone());
                    for seq in snapshots.remove(&key).unwrap_or_default() {
                        table.remove(seq)?;
                        result.coalesced += 1;
                    }
                    snapshots.insert(key, vec![next]);
                }
                table.insert(next, bytes.as_slice())?;
                result.added += 1;
                result.last = Some(next);
            }
            super::advance_number(txn, "outbox", first + encoded.len() as u64)?;
            let mut depth = table.len()? as usize;
            if depth > limit {
                let states: Vec<u64> = waiting(&table)?
                    .into_iter()
                    .filter(|(_, m)| replaceable(m.kind))
                    .map(|(seq, _)| seq)
                    .collect();
                for seq in states {
                    if depth <= limit {
                        break;
                    }
                    table.remove(seq)?;
                    result.dropped += 1;
                    depth -= 1;
                }
                result.over_limit = depth.saturating_sub(limit);
            }
            Ok(result)
        })
    }

    /// Up to `max` waiting messages, oldest first.
    pub fn outbox(&self, max: usize) -> Result<Vec<(u64, Outbound)>, StoreError> {
        self.outbox_after(0, max)
    }

    /// Up to `max` waiting messages numbered after `after`, oldest first (a reader that keeps
    /// its place reads each message once).
    pub fn outbox_after(&self, after: u64, max: usize) -> Result<Vec<(u64, Outbound)>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(OUTBOX).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        let from = after.saturating_add(1);
        for entry in table.range(from..).map_err(|e| self.fail(e))?.take(max) {
            let (seq, value) = entry.map_err(|e| self.fail(e))?;
            match serde_json::from_slice(value.value()) {
                Ok(message) => out.push((seq.value(), message)),
                Err(error) => {
                    tracing::error!(seq = seq.value(), %error, "outbox message unreadable; left in place");
                }
            }
        }
        Ok(out)
    }

    /// Removes acknowledged messages.
    pub fn acknowledge(&self, sequences: &[u64]) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(OUTBOX)?;
            for seq in sequences {
                table.remove(seq)?;
            }
            Ok(())
        })
    }

    /// Messages waiting.
    pub fn outbox_depth(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(OUTBOX).map_err(|e| self.fail(e))?;
        table.len().map_err(|e| self.fail(e))
    }
}

/// Snapshots that a newer one of the same topic replaces: states and alert refreshes.
fn replaceable(kind: OutboundKind) -> bool {
    matches!(kind, OutboundKind::State | OutboundKind::AlertRefresh)
}

/// The waiting messages of an open table, oldest first (undecodable ones skipped).
fn waiting(table: &redb::Table<'_, u64, &[u8]>) -> Result<Vec<(u64, Outbound)>, redb::Error> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (seq, value) = entry?;
        if let Ok(message) = serde_json::from_slice::<Outbound>(value.value()) {
            out.push((seq.value(), message));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: OutboundKind, topic: &str, body: &str) -> Outbound {
        Outbound {
            kind,
            topic: topic.into(),
            payload: body.as_bytes().to_vec(),
            retain: kind == OutboundKind::State,
        }
    }

    #[test]
    fn messages_wait_in_order_until_acknowledged_across_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = Store::open(dir.path()).expect("open");
            let e = store
                .enqueue(
                    &[
                        message(OutboundKind::ControlLoop, "cl/a", "onset"),
                        message(OutboundKind::VesFault, "ves/a", "raise"),
                    ],
                    100,
                )
                .expect("enqueue");
            assert_eq!(e.added, 2);
            let waiting = store.outbox(10).expect("read");
            store.acknowledge(&[waiting[0].0]).expect("ack");
        }
        let store = Store::open(dir.path()).expect("reopen");
        let waiting = store.outbox(10).expect("read");
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].1.payload, b"raise");
        assert_eq!(store.outbox_depth().expect("depth"), 1);
    }

    #[test]
    fn states_coalesce_and_are_dropped_first_alarm_events_never() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        store.enqueue(&[message(OutboundKind::State, "state/a", "1")], 3).expect("enqueue");
        let e = store.enqueue(&[message(OutboundKind::State, "state/a", "2")], 3).expect("enqueue");
        assert_eq!(e.coalesced, 1);
        let waiting = store.outbox(10).expect("read");
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].1.payload, b"2");
        store.enqueue(&[message(OutboundKind::State, "state/b", "b")], 3).expect("enqueue");
        let alarms: Vec<Outbound> =
            (0..3).map(|i| message(OutboundKind::Alert, "alert/a", &i.to_string())).collect();
        let e = store.enqueue(&alarms, 3).expect("enqueue");
        assert_eq!((e.dropped, e.over_limit), (2, 0));
        let e =
            store.enqueue(&[message(OutboundKind::ControlLoop, "cl/a", "x")], 3).expect("enqueue");
        assert_eq!((e.dropped, e.over_limit), (0, 1));
        let kinds: Vec<OutboundKind> =
            store.outbox(10).expect("read").into_iter().map(|(_, m)| m.kind).collect();
        assert_eq!(
            kinds,
            [
                OutboundKind::Alert,
                OutboundKind::Alert,
                OutboundKind::Alert,
                OutboundKind::ControlLoop
            ]
        );
    }
}
