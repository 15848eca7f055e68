//! Minutes in event time: a transaction counts in the minute it completes; a minute closes
//! when the watermark (the newest event time minus the allowed lateness) passes its end; an
//! event for a closed minute is late, counted and dropped; a node with nothing in a minute
//! still gets a vector (`no_records` = 1).

use std::collections::BTreeMap;

use super::MINUTE;
use super::accumulator::Accumulator;
use crate::features::schema::FEATURE_COUNT;

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

/// Per-node minute accumulators and the watermark that closes them.
#[derive(Debug)]
pub struct MinuteAggregator {
    lateness: u64,
    nodes: Vec<NodeMinutes>,
    watermark: u64,
    /// Minutes (indexes) below this are closed for every node.
    closed_until: Option<u64>,
    /// Events dropped because their minute had closed.
    pub late_dropped: u64,
    /// Minutes in which no node had any record (the source was silent).
    pub silent_minutes: u64,
}

impl MinuteAggregator {
    /// An aggregator allowing `lateness` µs of disorder.
    pub fn new(lateness: u64) -> Self {
        Self {
            lateness,
            nodes: Vec::new(),
            watermark: 0,
            closed_until: None,
            late_dropped: 0,
            silent_minutes: 0,
        }
    }

    /// The newest event time seen.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// Moves event time forward (never back).
    pub fn observe_time(&mut self, ts: u64) {
        self.watermark = self.watermark.max(ts);
    }

    /// Applies `update` to the accumulator of `node` for the minute of `ts`, or counts a late
    /// event.
    pub fn record(&mut self, node: usize, ts: u64, update: impl FnOnce(&mut Accumulator)) {
        if self.nodes.len() <= node {
            self.nodes.resize_with(node + 1, NodeMinutes::default);
        }
        let minute = ts / MINUTE;
        let target = match self.closed_until {
            Some(closed) if minute < closed => {
                self.late_dropped += 1;
                let entry = &mut self.nodes[node];
                entry.open.entry(closed).or_default().late += 1;
                entry.first.get_or_insert(closed);
                return;
            }
            _ => minute,
        };
        let entry = &mut self.nodes[node];
        entry.first = Some(entry.first.map_or(target, |f| f.min(target)));
        update(entry.open.entry(target).or_default());
    }

    /// Closes every minute that ended before the watermark minus the lateness.
    pub fn close_ready(&mut self, out: &mut Vec<FeatureRow>) {
        let boundary = self.watermark.saturating_sub(self.lateness) / MINUTE;
        self.close_until(boundary, out);
    }

    /// Closes every minute up to and including the watermark's (end of input).
    pub fn finish(&mut self, out: &mut Vec<FeatureRow>) {
        if self.nodes.iter().any(|n| n.first.is_some()) {
            self.close_until(self.watermark / MINUTE + 1, out);
        }
    }

    fn close_until(&mut self, boundary: u64, out: &mut Vec<FeatureRow>) {
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
                self.silent_minutes += gap_end - minute;
                minute = gap_end;
                continue;
            }
            let source_silent =
                !self.nodes.iter().any(|n| n.open.get(&minute).is_some_and(|a| !a.is_empty()));
            if source_silent {
                self.silent_minutes += 1;
            }
            for (node, state) in self.nodes.iter_mut().enumerate() {
                if state.first.is_none_or(|first| first > minute) {
                    continue;
                }
                let values = state.open.remove(&minute).unwrap_or_default().features();
                out.push(FeatureRow { node, minute: minute * MINUTE, values, source_silent });
            }
            minute += 1;
        }
        self.closed_until = Some(boundary.max(start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::schema::index_of;

    fn no_records(row: &FeatureRow) -> f32 {
        row.values[index_of("no_records").unwrap()]
    }

    #[test]
    fn minutes_close_behind_the_watermark_and_gaps_get_empty_vectors() {
        let mut agg = MinuteAggregator::new(5_000_000);
        let mut out = Vec::new();
        let t0 = 100 * MINUTE;
        agg.observe_time(t0 + 1);
        agg.record(0, t0 + 1, |a| a.parse_errors += 1);
        agg.observe_time(t0 + 3 * MINUTE + 4_000_000);
        agg.close_ready(&mut out);
        // 4 s into minute 103 with 5 s of lateness allowed: minute 102 may still get records.
        assert_eq!(out.iter().map(|r| r.minute / MINUTE).collect::<Vec<_>>(), vec![100, 101]);
        agg.observe_time(t0 + 3 * MINUTE + 6_000_000);
        agg.close_ready(&mut out);
        assert_eq!(out.iter().map(|r| r.minute / MINUTE).collect::<Vec<_>>(), vec![100, 101, 102]);
        assert_eq!(no_records(&out[0]), 0.0);
        assert_eq!(no_records(&out[1]), 1.0);
        // A record for minute 101 now is late: counted in the first open minute, dropped.
        agg.record(0, t0 + MINUTE + 10, |a| a.parse_errors += 1);
        assert_eq!(agg.late_dropped, 1);
        out.clear();
        agg.finish(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].values[index_of("late_records").unwrap()], 1.0);
    }

    #[test]
    fn a_node_starts_at_its_first_record() {
        let mut agg = MinuteAggregator::new(0);
        let mut out = Vec::new();
        agg.observe_time(10 * MINUTE);
        agg.record(0, 10 * MINUTE, |a| a.parse_errors += 1);
        agg.record(1, 12 * MINUTE, |a| a.parse_errors += 1);
        agg.observe_time(12 * MINUTE);
        agg.finish(&mut out);
        let rows: Vec<(usize, u64)> = out.iter().map(|r| (r.node, r.minute / MINUTE)).collect();
        assert_eq!(rows, vec![(0, 10), (0, 11), (0, 12), (1, 12)]);
        // Minute 11: nobody had a record, the source itself was silent.
        let silent: Vec<bool> = out.iter().map(|r| r.source_silent).collect();
        assert_eq!(silent, vec![false, true, false, false]);
        assert_eq!(agg.silent_minutes, 1);
    }

    #[test]
    fn a_silence_longer_than_a_window_is_counted_not_filled() {
        let mut agg = MinuteAggregator::new(0);
        let mut out = Vec::new();
        agg.observe_time(10 * MINUTE);
        agg.record(0, 10 * MINUTE, |a| a.parse_errors += 1);
        // Ten years later.
        let later = 10 * MINUTE + 5_256_000 * MINUTE;
        agg.observe_time(later);
        agg.record(0, later, |a| a.parse_errors += 1);
        agg.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(agg.silent_minutes, 5_256_000 - 1);
    }
}
