//! The feature pipeline, sans-IO: typed inputs in ([`FeaturePipeline::push`]), event time
//! moved forward ([`FeaturePipeline::advance`]), closed node-minutes out. `features`, replay
//! and the live actors all drive this one pipeline (and `inspect` reads through the same
//! capture loop of `sources`), so training and serving compute the same features from the same
//! traffic.
//!
//! Inside: node mapping, a reorder buffer that undoes disorder within the allowed lateness,
//! one SIP transaction table per node, and the minute aggregator.

mod reorder;
mod time_guard;

use std::net::{IpAddr, SocketAddr};

use imsight_parsers::ParseError;
use imsight_parsers::sip::datagram_messages;
use imsight_parsers::xdr::{Direction, XdrRecord, XdrResult};

use crate::aggregate::{Accumulator, FeatureRow, MinuteAggregator};
use crate::config::NodeConfig;
use crate::correlate::sip_tx::{identity, method_id};
use crate::correlate::{Completed, NodeMap, NodeSide, TransactionTable, TxEvent};
use crate::schema::Leg;
use crate::sources::{CaptureEvent, CapturedSip};
use crate::time::{Watermark, minute_of};
use reorder::{Held, ReorderBuffer};
use time_guard::{Belief, TimeGuard};

pub use time_guard::MAX_TIME_JUMP_US;

/// How the pipeline maps and times things.
#[derive(Debug, Clone, Default)]
pub struct PipelineSettings {
    /// Configured nodes.
    pub nodes: Vec<NodeConfig>,
    /// Unknown HEP agents and record node names become nodes.
    pub auto_discover: bool,
    /// Most nodes.
    pub max_nodes: usize,
    /// All otherwise unmatched SIP belongs to one node of this name.
    pub single_node: Option<String>,
    /// Allowed lateness, µs.
    pub lateness_us: u64,
    /// Transaction timeout (Timer B/F), µs.
    pub timeout_us: u64,
    /// Event times after this (µs since the epoch) are impossible: dropped and counted. The
    /// caller sets it from the wall clock (plus a margin); `None` for no bound.
    pub not_after_us: Option<u64>,
    /// Which nodes this instance judges (the others' inputs are counted and skipped).
    pub shard: crate::config::ShardConfig,
}

impl PipelineSettings {
    /// The settings of `config`: its nodes and event-time rules, no single node, no
    /// wall-clock bound (inputs are judged by their own time and the jump guard).
    pub fn from_config(config: &crate::config::Config) -> Self {
        let second = crate::time::SECOND_US;
        Self {
            nodes: config.nodes.clone(),
            auto_discover: config.pipeline.auto_discover_nodes,
            max_nodes: config.pipeline.max_nodes as usize,
            single_node: None,
            lateness_us: u64::from(config.pipeline.allowed_lateness_secs) * second,
            timeout_us: u64::from(config.pipeline.transaction_timeout_secs) * second,
            not_after_us: None,
            shard: config.shard,
        }
    }
}

/// One input.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A SIP payload (a datagram or a framed stream message), from a capture or HEP.
    Sip(CapturedSip<'a>),
    /// A probe record: one finished transaction.
    Record(&'a XdrRecord<'a>),
}

/// What the pipeline counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    /// SIP messages parsed.
    pub messages: u64,
    /// Probe records read.
    pub records: u64,
    /// Messages or records of no known node.
    pub unmapped: u64,
    /// Inputs whose node was not discovered because `max_nodes` were there already (also in
    /// `unmapped`).
    pub refused: u64,
    /// Inputs whose node name breaks the naming rule, so it was not discovered (also in
    /// `unmapped`).
    pub bad_names: u64,
    /// SIP messages that did not parse (also in their node's `parse_errors` feature).
    pub parse_errors: u64,
    /// Probe records without an end time (nothing says when they completed).
    pub records_without_end: u64,
    /// Inputs older than the allowed lateness, and events for minutes already closed.
    pub late: u64,
    /// Messages without the Via or CSeq that transaction matching needs.
    pub unusable: u64,
    /// Transactions completed (answered, timed out, or read as a probe record).
    pub transactions: u64,
    /// Transactions evicted at the table size limit.
    pub evicted: u64,
    /// Transactions open now (after [`FeaturePipeline::finish`]: still unanswered when the
    /// input ended, before their timeout; they are in no minute).
    pub open_transactions: u64,
    /// Datagrams on a HEP port that were not valid HEP.
    pub hep_rejected: u64,
    /// Inputs dropped for an implausible time: after the `not_after` bound, or ahead of a jump
    /// of event time that no later input confirmed.
    pub implausible_time: u64,
    /// Minutes in which the whole source was silent (rows flagged `source_silent`).
    pub silent_minutes: u64,
    /// Inputs of nodes another shard judges (skipped).
    pub other_shard: u64,
}

/// The feature pipeline of one source of traffic.
#[derive(Debug)]
pub struct FeaturePipeline {
    map: NodeMap,
    tables: Vec<TransactionTable>,
    aggregator: MinuteAggregator,
    clock: Watermark,
    buffer: ReorderBuffer,
    guard: TimeGuard,
    /// Inputs pushed so far.
    inputs: u64,
    /// Inputs counted at the last wall-clock tick (see [`FeaturePipeline::wall_clock`]).
    inputs_at_tick: u64,
    timeout: u64,
    events: Vec<TxEvent>,
    stats: PipelineStats,
}

impl FeaturePipeline {
    /// A pipeline with nothing seen yet.
    pub fn new(settings: &PipelineSettings) -> Self {
        let map = NodeMap::new(&settings.nodes, settings.auto_discover, settings.max_nodes)
            .sharded(settings.shard);
        Self {
            map: match &settings.single_node {
                Some(name) => map.with_catch_all(name),
                None => map,
            },
            tables: Vec::new(),
            aggregator: MinuteAggregator::new(),
            clock: Watermark::new(settings.lateness_us),
            buffer: ReorderBuffer::default(),
            guard: TimeGuard::new(settings.not_after_us),
            inputs: 0,
            inputs_at_tick: 0,
            timeout: settings.timeout_us,
            events: Vec::with_capacity(8),
            stats: PipelineStats::default(),
        }
    }

    /// The newest event time seen.
    pub fn newest(&self) -> u64 {
        self.clock.newest()
    }

    /// Node names by index (the `node` of every [`FeatureRow`]).
    pub fn node_names(&self) -> &[String] {
        self.map.names()
    }

    /// Nodes this instance judges (other shards' nodes are known but not judged).
    pub fn judged_nodes(&self) -> usize {
        self.map.owned()
    }

    /// What the pipeline counted so far.
    pub fn stats(&self) -> PipelineStats {
        let map = self.map.stats();
        let aggregate = self.aggregator.stats();
        let (evicted, unusable) = self
            .tables
            .iter()
            .map(TransactionTable::stats)
            .fold((0, 0), |(evicted, unusable), t| (evicted + t.evicted, unusable + t.unusable));
        PipelineStats {
            unmapped: map.unmapped,
            refused: map.refused,
            bad_names: map.bad_names,
            late: self.stats.late + aggregate.late_dropped,
            silent_minutes: aggregate.silent_minutes,
            evicted,
            unusable,
            open_transactions: self.tables.iter().map(|t| t.len() as u64).sum(),
            implausible_time: self.guard.dropped,
            ..self.stats
        }
    }

    /// Takes one input. It is held until event time has passed it by the allowed lateness
    /// (see [`FeaturePipeline::advance`]). Returns the input's event time: a SIP payload
    /// without a time of its own is taken as seen now; a record of no known node, or without
    /// an end time, has none.
    pub fn push(&mut self, input: Input<'_>) -> Option<u64> {
        match input {
            Input::Sip(sip) => Some(self.push_sip(&sip)),
            Input::Record(record) => self.push_record(record),
        }
    }

    #[inline]
    fn push_sip(&mut self, sip: &CapturedSip<'_>) -> u64 {
        self.inputs += 1;
        let ts = sip.ts.unwrap_or(self.clock.newest());
        let side = match (sip.hep, sip.src, sip.dst) {
            (None, Some(src), Some(dst)) => self.map.by_addresses(src, dst),
            (None, ..) => None,
            (Some(agent), src, dst) => self.map.by_hep(src, dst, agent.capture_id, agent.name),
        };
        let Some(NodeSide { node, leg, inbound }) = side else {
            self.map.count_unmapped();
            return ts;
        };
        if self.map.is_foreign(node) {
            self.stats.other_shard += 1;
            self.aggregator.source_alive(ts);
            return ts;
        }
        // The UE's address identifies the subscriber on the access leg.
        let unknown: SocketAddr = ([0, 0, 0, 0], 0).into();
        let ue = if inbound { sip.src } else { sip.dst };
        let subscriber =
            (leg == Some(Leg::Access)).then(|| ue_identity(ue.unwrap_or(unknown).ip()));
        let held = Held::Sip { leg, inbound, subscriber, bytes: sip.bytes.to_vec() };
        self.hold(ts, node, held);
        ts
    }

    fn push_record(&mut self, r: &XdrRecord<'_>) -> Option<u64> {
        self.inputs += 1;
        self.stats.records += 1;
        let Some(node) = self.map.by_name(&r.node) else {
            self.map.count_unmapped();
            return None;
        };
        if self.map.is_foreign(node) {
            self.stats.other_shard += 1;
            self.aggregator.source_alive(r.end_micros.unwrap_or(r.start_micros));
            return None;
        }
        let (code, end) = match r.result {
            // A provisional result means no final response was seen: the transaction timed out.
            XdrResult::Status(code) if code.0 >= 200 => (
                Some(code.0),
                r.end_micros.or(r.latency_micros.map(|l| r.start_micros.saturating_add(l))),
            ),
            // No final response within the record: the transaction timed out when the SIP
            // path's would have, at start plus the timeout (the probe's own end time says when
            // it gave up, which differs between probes).
            XdrResult::Status(_) => (None, Some(r.start_micros.saturating_add(self.timeout))),
            XdrResult::Timeout => {
                (None, r.end_micros.or(Some(r.start_micros.saturating_add(self.timeout))))
            }
        };
        let Some(end) = end else {
            self.stats.records_without_end += 1;
            return None;
        };
        let completed = Completed {
            ts: end,
            leg: r.leg,
            inbound: r.direction != Some(Direction::Out),
            method: method_id(r.procedure),
            start: r.start_micros,
            code,
            trying_us: None,
            setup_us: None,
            first_response_us: None,
            call_id: identity(r.call_id.as_deref().unwrap_or_default().as_bytes()),
            subscriber: r.subscriber.as_deref().map(|s| identity(s.as_bytes())),
            registered_aor: None,
        };
        self.hold(end, node, Held::Record(Box::new(completed)));
        Some(end)
    }

    #[inline]
    fn hold(&mut self, ts: u64, node: usize, held: Held) {
        match self.guard.judge(ts, self.clock.newest()) {
            Belief::Plausible => {}
            Belief::Doubted => return self.guard.doubt(ts, node, held),
            Belief::Impossible => {
                self.guard.dropped += 1;
                return;
            }
        }
        if ts < self.buffer.released() {
            // Behind the reorder buffer. A probe record (a finished transaction) is late only
            // when its minute has closed: until then it is taken at once. A SIP message is late
            // now: its transaction may already have timed out or been answered without it.
            if matches!(held, Held::Record(_)) && minute_of(ts) >= self.clock.closable_minutes() {
                self.process(ts, node, held);
                return;
            }
            let released = self.buffer.released();
            self.aggregator.record(node, released, Accumulator::late_record);
            self.stats.late += 1;
            return;
        }
        self.buffer.hold(ts, node, held);
    }

    /// Takes one event of a capture ([`crate::sources::read_capture`]): SIP is held; event
    /// time moves after every HEP packet (by the agent's clock) and after every frame (by the
    /// capture's). Minutes that close go to `out`.
    pub fn capture_event(&mut self, event: CaptureEvent<'_>, out: &mut Vec<FeatureRow>) {
        match event {
            CaptureEvent::Sip(sip) if sip.hep.is_none() => {
                self.push_sip(&sip);
            }
            CaptureEvent::Sip(sip) => {
                let ts = self.push_sip(&sip);
                self.advance(ts, out);
            }
            CaptureEvent::HepRejected(_) => self.stats.hep_rejected += 1,
            CaptureEvent::HepNotSip => {}
            CaptureEvent::HepPayloadRejected { packet, .. } => {
                // The agent still says which node it reports (and may be discovered), and its
                // clock still moves event time.
                if let Some(agent) = packet.hep {
                    self.map.by_hep(packet.src, packet.dst, agent.capture_id, agent.name);
                }
                self.advance(packet.ts.unwrap_or(self.clock.newest()), out);
            }
            CaptureEvent::FrameDone { ts } => self.advance(ts, out),
        }
    }

    /// Event time moved to `now`: input older than the allowed lateness is processed in time
    /// order, transactions time out, and minutes that ended before it close into `out`.
    pub fn advance(&mut self, now: u64, out: &mut Vec<FeatureRow>) {
        match self.guard.judge(now, self.clock.newest()) {
            Belief::Plausible => {}
            Belief::Impossible => return,
            Belief::Doubted => match self.guard.confirm(now, self.inputs) {
                None => return,
                Some(confirmed) => {
                    for (ts, node, held) in confirmed {
                        self.buffer.hold(ts, node, held);
                    }
                }
            },
        }
        self.clock.observe(now);
        for (ts, node, held) in self.guard.caught_up(self.clock.newest()) {
            self.hold(ts, node, held);
        }
        self.release(self.clock.released(), out);
    }

    /// A tick of the wall clock (`now`, µs since the epoch), for a live source. While traffic
    /// comes, event time is the traffic's own and ticks change nothing. When no input came
    /// since the previous tick and the traffic's time is at most [`MAX_TIME_JUMP_US`] behind
    /// the wall clock (a live source, not a replay of old traffic), event time follows the
    /// wall clock: the minutes of a source that went silent close (flagged `source_silent`,
    /// judged `no_data`) instead of waiting for the traffic to come back.
    pub fn wall_clock(&mut self, now: u64, out: &mut Vec<FeatureRow>) {
        let quiet = self.inputs == self.inputs_at_tick;
        self.inputs_at_tick = self.inputs;
        let newest = self.clock.newest();
        if quiet && newest > 0 && now > newest && now - newest <= MAX_TIME_JUMP_US {
            self.advance(now, out);
        }
    }

    /// The end of the input: everything held is processed and every minute up to the newest
    /// event closes into `out`.
    pub fn finish(&mut self, out: &mut Vec<FeatureRow>) {
        for (ts, node, held) in self.guard.finish(self.clock.newest()) {
            self.clock.observe(ts);
            self.buffer.hold(ts, node, held);
        }
        self.release(self.clock.newest(), out);
        self.aggregator.finish(self.clock.newest(), out);
    }

    fn release(&mut self, until: u64, out: &mut Vec<FeatureRow>) {
        while let Some((ts, node, held)) = self.buffer.pop_until(until) {
            self.process(ts, node, held);
        }
        for node in 0..self.tables.len() {
            self.tables[node].advance(until, &mut self.events);
            self.drain_events(node);
        }
        self.aggregator.close_until(self.clock.closable_minutes(), out);
    }

    fn process(&mut self, ts: u64, node: usize, held: Held) {
        if self.tables.len() <= node {
            let timeout = self.timeout;
            self.tables.resize_with(node + 1, || TransactionTable::new(timeout));
        }
        match held {
            Held::Record(completed) => {
                self.stats.transactions += 1;
                self.aggregator.record(node, completed.ts, |a| {
                    a.input_seen();
                    a.transaction(&completed);
                });
            }
            Held::Sip { leg, inbound, subscriber, bytes } => {
                for message in datagram_messages(&bytes) {
                    match message {
                        Ok(message) => {
                            self.stats.messages += 1;
                            self.tables[node].observe(
                                ts,
                                leg,
                                inbound,
                                &message,
                                subscriber,
                                &mut self.events,
                            );
                        }
                        Err(ParseError::NotSip) => {}
                        Err(_) => {
                            self.stats.parse_errors += 1;
                            self.aggregator.record(node, ts, Accumulator::parse_error);
                        }
                    }
                }
                self.drain_events(node);
            }
        }
    }

    fn drain_events(&mut self, node: usize) {
        for event in self.events.drain(..) {
            match event {
                TxEvent::Message(m) => self.aggregator.record(node, m.ts, |a| a.message(&m)),
                TxEvent::Completed(c) => {
                    self.stats.transactions += 1;
                    self.aggregator.record(node, c.ts, |a| a.transaction(&c));
                }
            }
        }
    }
}

fn ue_identity(address: IpAddr) -> u64 {
    match address {
        IpAddr::V4(v4) => identity(&v4.octets()),
        IpAddr::V6(v6) => identity(&v6.octets()),
    }
}
