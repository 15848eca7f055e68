//! Minutes in event time: a transaction counts in the minute it completes; a minute closes
//! when the watermark (the newest event time minus the allowed lateness) passes its end; an
//! event for a closed minute is late, counted and dropped; a node with nothing in a minute
//! still gets a vector (`no_records` = 1).

use std::collections::BTreeMap;

use super::accumulator::Accumulator;
use crate::schema::FEATURE_COUNT;
use crate::time::{MINUTE_US, minute_of};

/// One node's features for one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// Node index.
    pub node: usize,
    /// Minute start, µs since the epoch.
    pub minute: u64,
    /// The features, in catalogue order.
    pub values: [f32; FEATURE_COUNT],
    /// No node of the source had any record this minute: the source (probe, capture) was
    /// silent, so an empty minute says nothing about the node (`no_data`, not blocked traffic).
    pub source_silent: bool,
}

#[derive(Debug, Default)]
struct NodeMinutes {
    open: BTreeMap<u64, Accumulator>,
    first: Option<u64>,
}

/// A silent stretch longer than this many minutes (one window) is counted, not filled with
/// empty rows: a capture stitched from traces years apart must not produce millions of rows.
pub const MAX_FILLED_GAP_MINUTES: u64 = 60;

/// What the aggregator counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AggregateStats {
    /// Events dropped because their minute had closed.
    pub late_dropped: u64,
    /// Minutes in which no node had any record (the source was silent).
    pub silent_minutes: u64,
}

/// Per-node minute accumulators; the caller's watermark ([`crate::time::Watermark`]) says
/// when minutes close.
#[derive(Debug, Default)]
pub struct MinuteAggregator {
    nodes: Vec<NodeMinutes>,
    /// Minutes (indexes) below this are closed for every node.
    closed_until: Option<u64>,
    /// Minutes in which the source sent input for nodes judged elsewhere (another shard): the
    /// source was alive then, even if none of this aggregator's nodes had input.
    alive_elsewhere: std::collections::BTreeSet<u64>,
    stats: AggregateStats,
}

impl MinuteAggregator {
    /// An aggregator with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the aggregator counted.
    pub fn stats(&self) -> AggregateStats {
        self.stats
    }

    /// The source sent input at `ts` for a node judged elsewhere: that minute the source was
    /// alive (a silent node of ours is silent on its own, not because the probe is).
    pub fn source_alive(&mut self, ts: u64) {
        let minute = minute_of(ts);
        if self.closed_until.is_none_or(|closed| minute >= closed) {
            self.alive_elsewhere.insert(minute);
        }
    }

    /// Applies `update` to the accumulator of `node` for the minute of `ts`, or counts a late
    /// event.
    pub fn record(&mut self, node: usize, ts: u64, update: impl FnOnce(&mut Accumulator)) {
        if self.nodes.len() <= node {
            self.nodes.resize_with(node + 1, NodeMinutes::default);
        }
        let minute = minute_of(ts);
        let target = match self.closed_until {
            Some(closed) if minute < closed => {
                self.stats.late_dropped += 1;
                let entry = &mut self.nodes[node];
                entry.open.entry(closed).or_default().late_record();
                entry.first.get_or_insert(closed);
                return;
            }
            _ => minute,
        };
        let entry = &mut self.nodes[node];
        entry.first = Some(entry.first.map_or(target, |f| f.min(target)));
        update(entry.open.entry(target).or_default());
    }

    /// Closes every minute up to and including the one of `newest` (end of input).
    pub fn finish(&mut self, newest: u64, out: &mut Vec<FeatureRow>) {
        if self.nodes.iter().any(|n| n.first.is_some()) {
            self.close_until(minute_of(newest) + 1, out);
        }
    }

    /// Closes every minute (index) below `boundary`, e.g.
    /// [`crate::time::Watermark::closable_minutes`].
    pub fn close_until(&mut self, boundary: u64, out: &mut Vec<FeatureRow>) {
        let Some(start) =
            self.closed_until.or_else(|| self.nodes.iter().filter_map(|n| n.first).min())
        else {
            return;
        };
        let mut minute = start;
        while minute < boundary {
            // Skip a long silence in one step.
            let next_data = self
                .nodes
                .iter()
                .filter_map(|n| n.open.range(minute..).next().map(|(m, _)| *m))
                .min();
            let gap_end = next_data.unwrap_or(boundary).min(boundary);
            if gap_end.saturating_sub(minute) > MAX_FILLED_GAP_MINUTES {
                self.stats.silent_minutes += gap_end - minute;
                minute = gap_end;
                continue;
            }
            // Timeouts alone (transactions left open when a probe died) are no sign of life.
            let source_silent = !self.alive_elsewhere.remove(&minute)
                && !self
                    .nodes
                    .iter()
                    .any(|n| n.open.get(&minute).is_some_and(Accumulator::has_input));
            if source_silent {
                self.stats.silent_minutes += 1;
            }
            for (node, state) in self.nodes.iter_mut().enumerate() {
                if state.first.is_none_or(|first| first > minute) {
                    continue;
                }
                let values = state.open.remove(&minute).unwrap_or_default().features();
                out.push(FeatureRow { node, minute: minute * MINUTE_US, values, source_silent });
            }
            minute += 1;
        }
        self.closed_until = Some(boundary.max(start));
        self.alive_elsewhere = self.alive_elsewhere.split_off(&boundary.max(start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::index_of;
    use crate::time::{MINUTE_US as MINUTE, Watermark};

    fn no_records(row: &FeatureRow) -> f32 {
        row.values[index_of("no_records").unwrap()]
    }

    #[test]
    fn minutes_close_behind_the_watermark_and_gaps_get_empty_vectors() {
        let mut agg = MinuteAggregator::new();
        let mut clock = Watermark::new(5_000_000);
        let mut out = Vec::new();
        let t0 = 100 * MINUTE;
        clock.observe(t0 + 1);
        agg.record(0, t0 + 1, Accumulator::parse_error);
        clock.observe(t0 + 3 * MINUTE + 4_000_000);
        agg.close_until(clock.closable_minutes(), &mut out);
        // 4 s into minute 103 with 5 s of lateness allowed: minute 102 may still get records.
        assert_eq!(out.iter().map(|r| r.minute / MINUTE).collect::<Vec<_>>(), vec![100, 101]);
        clock.observe(t0 + 3 * MINUTE + 6_000_000);
        agg.close_until(clock.closable_minutes(), &mut out);
        assert_eq!(out.iter().map(|r| r.minute / MINUTE).collect::<Vec<_>>(), vec![100, 101, 102]);
        assert_eq!(no_records(&out[0]), 0.0);
        assert_eq!(no_records(&out[1]), 1.0);
        // A record for minute 101 now is late: counted in the first open minute, dropped.
        agg.record(0, t0 + MINUTE + 10, Accumulator::parse_error);
        assert_eq!(agg.stats().late_dropped, 1);
        out.clear();
        agg.finish(clock.newest(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].values[index_of("late_records").unwrap()], 1.0);
    }

    #[test]
    fn a_node_starts_at_its_first_record() {
        let mut agg = MinuteAggregator::new();
        let mut out = Vec::new();
        agg.record(0, 10 * MINUTE, Accumulator::parse_error);
        agg.record(1, 12 * MINUTE, Accumulator::parse_error);
        agg.finish(12 * MINUTE, &mut out);
        let rows: Vec<(usize, u64)> = out.iter().map(|r| (r.node, r.minute / MINUTE)).collect();
        assert_eq!(rows, vec![(0, 10), (0, 11), (0, 12), (1, 12)]);
        // Minute 11: nobody had a record, the source itself was silent.
        let silent: Vec<bool> = out.iter().map(|r| r.source_silent).collect();
        assert_eq!(silent, vec![false, true, false, false]);
        assert_eq!(agg.stats().silent_minutes, 1);
    }

    #[test]
    fn a_silence_longer_than_a_window_is_counted_not_filled() {
        let mut agg = MinuteAggregator::new();
        let mut out = Vec::new();
        agg.record(0, 10 * MINUTE, Accumulator::parse_error);
        // Ten years later.
        let later = 10 * MINUTE + 5_256_000 * MINUTE;
        agg.record(0, later, Accumulator::parse_error);
        agg.finish(later, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(agg.stats().silent_minutes, 5_256_000 - 1);
    }
}
