//! From captures or probe records to feature rows: the same code for `imsight features`,
//! replay and (later) the live pipeline, so training and serving cannot disagree.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, Read};
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;

use imsight_parsers::capture::{CaptureDecoder, CaptureReader, DecoderConfig, PayloadKind};
use imsight_parsers::hep::parse_hep_datagram;
use imsight_parsers::sip::parse_sip_message;
use imsight_parsers::xdr::{Direction, Leg as RecordLeg, XdrRecord, XdrResult};

use crate::aggregate::{FeatureRow, MinuteAggregator};
use crate::correlate::sip_tx::{identity, method_id};
use crate::correlate::{Completed, Leg, NodeMap, NodeSpec, TransactionTable, TxEvent};
use crate::sources::{RecordFormat, read_records};

/// How extraction maps and times things.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// Configured nodes.
    pub nodes: Vec<NodeSpec>,
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
    /// Capture decoding.
    pub decoder: DecoderConfig,
}

/// What extraction skipped, for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExtractStats {
    /// SIP messages read.
    pub messages: u64,
    /// Probe records read.
    pub records: u64,
    /// Messages or records of no known node.
    pub unmapped: u64,
    /// Messages that did not parse (of known nodes: also in their `parse_errors` feature).
    pub parse_errors: u64,
    /// Probe-record lines rejected.
    pub record_errors: u64,
    /// Events for minutes already closed.
    pub late: u64,
    /// Transactions evicted at the table size limit.
    pub evicted: u64,
    /// Minutes in which the whole source was silent (rows flagged `source_silent`).
    pub silent_minutes: u64,
}

/// The extraction state.
#[derive(Debug)]
pub struct Extractor {
    map: NodeMap,
    tables: Vec<TransactionTable>,
    aggregator: MinuteAggregator,
    timeout: u64,
    decoder: DecoderConfig,
    events: Vec<TxEvent>,
    rows: Vec<FeatureRow>,
    stats: ExtractStats,
    /// Input waiting for the watermark, so that disorder within the lateness is undone.
    pending: BinaryHeap<Reverse<Pending>>,
    /// Everything before this time has been processed.
    released: u64,
    lateness: u64,
    sequence: u64,
}

/// Input held back until event time has passed it by the allowed lateness.
#[derive(Debug)]
struct Pending {
    ts: u64,
    sequence: u64,
    node: usize,
    item: Item,
}

#[derive(Debug)]
enum Item {
    Sip { leg: Leg, inbound: bool, subscriber: Option<u64>, bytes: Vec<u8> },
    Record(Completed),
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

impl Extractor {
    /// A fresh extractor.
    pub fn new(config: &ExtractConfig) -> Result<Self, String> {
        Ok(Self {
            map: match &config.single_node {
                Some(name) => NodeMap::new(&config.nodes, config.auto_discover, config.max_nodes)?
                    .with_catch_all(name),
                None => NodeMap::new(&config.nodes, config.auto_discover, config.max_nodes)?,
            },
            tables: Vec::new(),
            aggregator: MinuteAggregator::new(config.lateness_us),
            timeout: config.timeout_us,
            decoder: config.decoder.clone(),
            events: Vec::with_capacity(8),
            rows: Vec::new(),
            stats: ExtractStats::default(),
            pending: BinaryHeap::new(),
            released: 0,
            lateness: config.lateness_us,
            sequence: 0,
        })
    }

    /// Reads a pcap or pcapng stream.
    pub fn feed_capture(
        &mut self,
        source: impl Read + Send,
    ) -> Result<(), imsight_parsers::ParseError> {
        let mut reader = CaptureReader::new(source)?;
        let mut decoder = CaptureDecoder::new(self.decoder.clone());
        let result = reader.for_each_frame(|frame| {
            decoder.decode(&frame, &mut |payload| match payload.kind {
                PayloadKind::Sip => {
                    let (src, dst) = (payload.src, payload.dst);
                    let node = self.map.by_addresses(src, dst);
                    self.sip(payload.ts_micros, node, src, dst, payload.bytes);
                }
                PayloadKind::Hep => self.hep(payload.bytes),
            });
            self.tick(frame.ts_micros);
            ControlFlow::Continue(())
        });
        self.stats.evicted = self.tables.iter().map(|t| t.stats.evicted).sum();
        result
    }

    fn hep(&mut self, datagram: &[u8]) {
        let Ok(packet) = parse_hep_datagram(datagram) else {
            self.stats.parse_errors += 1;
            return;
        };
        if !packet.is_sip() {
            return;
        }
        let ts = packet.timestamp_micros().unwrap_or(self.aggregator.watermark());
        let src = packet.src_ip.zip(packet.src_port).map(|(ip, port)| SocketAddr::new(ip, port));
        let dst = packet.dst_ip.zip(packet.dst_port).map(|(ip, port)| SocketAddr::new(ip, port));
        let name = packet.node_name.and_then(|n| std::str::from_utf8(n).ok());
        let node = self.map.by_hep(src, dst, packet.capture_id, name);
        let unknown: SocketAddr = ([0, 0, 0, 0], 0).into();
        if let Ok(payload) = packet.payload_bytes() {
            self.sip(ts, node, src.unwrap_or(unknown), dst.unwrap_or(unknown), &payload);
        }
        self.tick(ts);
    }

    /// One SIP datagram or stream message captured at `ts` between `src` and `dst`.
    pub fn feed_sip(&mut self, ts: u64, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
        let node = self.map.by_addresses(src, dst);
        self.sip(ts, node, src, dst, bytes);
        self.tick(ts);
    }

    fn sip(
        &mut self,
        ts: u64,
        node: Option<(usize, Leg, bool)>,
        src: SocketAddr,
        dst: SocketAddr,
        bytes: &[u8],
    ) {
        let Some((node, leg, inbound)) = node else {
            self.stats.unmapped += 1;
            return;
        };
        // The UE's address identifies the subscriber on the access leg.
        let subscriber =
            (leg == Leg::Access).then(|| ue_identity(if inbound { src.ip() } else { dst.ip() }));
        self.hold(ts, node, Item::Sip { leg, inbound, subscriber, bytes: bytes.to_vec() });
    }

    fn hold(&mut self, ts: u64, node: usize, item: Item) {
        if ts < self.released {
            // Later than the allowed lateness: its transactions may already be closed.
            self.aggregator.record(node, self.released, |a| a.late += 1);
            self.stats.late += 1;
            return;
        }
        self.sequence += 1;
        self.pending.push(Reverse(Pending { ts, sequence: self.sequence, node, item }));
    }

    fn process(&mut self, pending: Pending) {
        let Pending { ts, node, item, .. } = pending;
        if self.tables.len() <= node {
            let timeout = self.timeout;
            self.tables.resize_with(node + 1, || TransactionTable::new(timeout));
        }
        match item {
            Item::Record(completed) => {
                self.aggregator.record(node, completed.ts, |a| a.transaction(&completed));
            }
            Item::Sip { leg, inbound, subscriber, bytes } => {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    match parse_sip_message(rest) {
                        Ok((next, message)) => {
                            self.stats.messages += 1;
                            self.tables[node].observe(
                                ts,
                                leg,
                                inbound,
                                &message,
                                subscriber,
                                &mut self.events,
                            );
                            rest = next;
                        }
                        Err(
                            nom::Err::Error(imsight_parsers::ParseError::NotSip)
                            | nom::Err::Failure(imsight_parsers::ParseError::NotSip),
                        ) => break,
                        Err(_) => {
                            self.stats.parse_errors += 1;
                            self.aggregator.record(node, ts, |a| a.parse_errors += 1);
                            break;
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
                TxEvent::Completed(c) => self.aggregator.record(node, c.ts, |a| a.transaction(&c)),
            }
        }
    }

    /// Event time moved to `ts`: input older than the lateness is processed in time order,
    /// transactions time out, minutes close.
    fn tick(&mut self, ts: u64) {
        self.aggregator.observe_time(ts);
        let release = self.aggregator.watermark().saturating_sub(self.lateness);
        self.release_until(release);
    }

    fn release_until(&mut self, release: u64) {
        while self.pending.peek().is_some_and(|Reverse(p)| p.ts <= release) {
            if let Some(Reverse(pending)) = self.pending.pop() {
                self.process(pending);
            }
        }
        self.released = self.released.max(release);
        for node in 0..self.tables.len() {
            self.tables[node].advance(release, &mut self.events);
            self.drain_events(node);
        }
        self.aggregator.close_ready(&mut self.rows);
    }

    /// Reads probe records (CSV with a header row, or JSON lines).
    pub fn feed_records(&mut self, reader: impl BufRead, format: RecordFormat) {
        read_records(reader, format, |_, line| {
            match line {
                Ok(record) => self.record(record),
                Err(_) => self.stats.record_errors += 1,
            }
            ControlFlow::Continue(())
        });
    }

    fn record(&mut self, r: &XdrRecord<'_>) {
        self.stats.records += 1;
        let Some(node) = self.map.by_name(&r.node) else {
            self.stats.unmapped += 1;
            return;
        };
        let (code, end) = match r.result {
            XdrResult::Status(code) => {
                (Some(code.0), r.end_micros.or(r.latency_micros.map(|l| r.start_micros + l)))
            }
            XdrResult::Timeout => (None, r.end_micros.or(Some(r.start_micros + self.timeout))),
        };
        let Some(end) = end else {
            // A record without an end time says nothing about when it completed.
            self.stats.record_errors += 1;
            return;
        };
        let completed = Completed {
            ts: end,
            leg: match r.leg {
                Some(RecordLeg::Access) => Leg::Access,
                Some(RecordLeg::Core) => Leg::Core,
                None => Leg::Unknown,
            },
            inbound: r.direction != Some(Direction::Out),
            method: method_id(r.procedure),
            start: r.start_micros,
            code,
            trying_us: None,
            setup_us: None,
            call_id: identity(r.call_id.as_deref().unwrap_or_default().as_bytes()),
            subscriber: r.subscriber.as_deref().map(|s| identity(s.as_bytes())),
            registered_aor: None,
        };
        self.hold(end, node, Item::Record(completed));
        self.tick(end);
    }

    /// Ends the input: every minute up to the last event closes.
    pub fn finish(mut self) -> (Vec<FeatureRow>, Vec<String>, ExtractStats) {
        let watermark = self.aggregator.watermark();
        self.release_until(watermark);
        self.aggregator.finish(&mut self.rows);
        self.stats.unmapped += self.map.unmapped;
        self.stats.late += self.aggregator.late_dropped;
        self.stats.silent_minutes = self.aggregator.silent_minutes;
        let names = self.map.names().to_vec();
        (self.rows, names, self.stats)
    }
}

fn ue_identity(address: IpAddr) -> u64 {
    match address {
        IpAddr::V4(v4) => identity(&v4.octets()),
        IpAddr::V6(v6) => identity(&v6.octets()),
    }
}
