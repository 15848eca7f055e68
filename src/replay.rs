//! The synchronous driver: files in, feature rows out, through the same sans-IO rooms the live
//! actors drive (sources → pipeline). `imsight features` uses it today; replay of verdicts,
//! sample export and training build on it, and it is the oracle the runtime is tested against.

use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::ops::ControlFlow;

use imsight_parsers::ParseError;
use imsight_parsers::capture::DecoderConfig;

use crate::aggregate::FeatureRow;
use crate::dataset::RowSink;
use crate::pipeline::{FeaturePipeline, Input, PipelineSettings, PipelineStats};
use crate::sources::{
    CapturedSip, InputError, InputKind, OpenedInput, RecordFormat, read_capture, read_records,
};

/// What a replay reads and how.
#[derive(Debug, Clone, Default)]
pub struct ReplaySettings {
    /// Node mapping and event-time rules.
    pub pipeline: PipelineSettings,
    /// Capture decoding (HEP ports).
    pub decoder: DecoderConfig,
}

/// What a replay counted: the pipeline's counters and what the sources rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayStats {
    /// The pipeline's counters.
    pub pipeline: PipelineStats,
    /// Probe-record lines rejected (invalid, not UTF-8, unreadable).
    pub record_errors: u64,
    /// SIP framing errors in TCP streams (the stream then resynchronised).
    pub tcp_framing_errors: u64,
    /// TCP holes given up (bytes the capture never had).
    pub tcp_gaps: u64,
    /// TCP stream bytes skipped while searching for the next SIP start line.
    pub tcp_resync_skipped_bytes: u64,
    /// IP datagrams given up before all their fragments came.
    pub ip_fragments_given_up: u64,
}

impl ReplayStats {
    /// Probe records not used: rejected lines and records without an end time.
    pub fn unusable_records(&self) -> u64 {
        self.record_errors + self.pipeline.records_without_end
    }

    /// Messages and packets that did not parse, SIP and HEP together.
    pub fn parse_errors(&self) -> u64 {
        self.pipeline.parse_errors + self.pipeline.hep_rejected
    }
}

/// The result of a replay.
#[derive(Debug, Clone, Default)]
pub struct FeatureRun<S = Vec<FeatureRow>> {
    /// Where the rows went: one per node and minute, in the order minutes closed.
    pub rows: S,
    /// Node names by index.
    pub nodes: Vec<String>,
    /// What was counted.
    pub stats: ReplayStats,
}

/// Files through the feature pipeline, in event time; every node-minute goes to the sink as
/// soon as it closes, so memory does not grow with the input's length.
#[derive(Debug)]
pub struct FeatureReplay<S = Vec<FeatureRow>> {
    pipeline: FeaturePipeline,
    decoder: DecoderConfig,
    closed: Vec<FeatureRow>,
    sink: S,
    record_errors: u64,
    decode: ReplayStats,
}

impl FeatureReplay {
    /// A replay that collects its rows in memory.
    pub fn new(settings: &ReplaySettings) -> Self {
        Self::with_sink(settings, Vec::new())
    }
}

impl<S: RowSink> FeatureReplay<S> {
    /// A replay handing every closed node-minute to `sink`.
    pub fn with_sink(settings: &ReplaySettings, sink: S) -> Self {
        Self {
            pipeline: FeaturePipeline::new(&settings.pipeline),
            decoder: settings.decoder.clone(),
            closed: Vec::new(),
            sink,
            record_errors: 0,
            decode: ReplayStats::default(),
        }
    }

    /// The sink, with what it received so far.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Hands what closed to the sink.
    fn deliver(closed: &mut Vec<FeatureRow>, sink: &mut S, nodes: &[String]) {
        for row in closed.drain(..) {
            sink.row(row, nodes);
        }
    }

    /// Reads an opened input file of either kind.
    pub fn feed_input<R: Read + Send>(&mut self, input: OpenedInput<R>) -> Result<(), InputError> {
        match input.kind {
            InputKind::Capture(_) => self
                .feed_capture(input.reader)
                .map_err(|error| InputError::Capture { path: input.path, error }),
            InputKind::Records(format) => {
                self.feed_records(input.reader, format);
                Ok(())
            }
        }
    }

    /// Reads a pcap or pcapng stream.
    pub fn feed_capture(&mut self, source: impl Read + Send) -> Result<(), ParseError> {
        let (pipeline, closed, sink) = (&mut self.pipeline, &mut self.closed, &mut self.sink);
        let (summary, result) = read_capture(source, &self.decoder, |event| {
            pipeline.capture_event(event, closed);
            if !closed.is_empty() {
                Self::deliver(closed, sink, pipeline.node_names());
            }
            ControlFlow::Continue(())
        });
        let (tcp, decode) = (&summary.decode.tcp, &mut self.decode);
        decode.tcp_framing_errors += tcp.framing_errors;
        decode.tcp_gaps += tcp.gaps;
        decode.tcp_resync_skipped_bytes += tcp.resync_skipped_bytes;
        decode.ip_fragments_given_up += summary.decode.ip_fragments_given_up;
        result
    }

    /// One SIP datagram or stream message captured at `ts` between `src` and `dst`.
    pub fn feed_sip(&mut self, ts: u64, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
        let sip = CapturedSip { ts: Some(ts), src: Some(src), dst: Some(dst), hep: None, bytes };
        self.pipeline.push(Input::Sip(sip));
        self.pipeline.advance(ts, &mut self.closed);
        Self::deliver(&mut self.closed, &mut self.sink, self.pipeline.node_names());
    }

    /// Reads probe records (CSV with a header row, or JSON lines).
    pub fn feed_records(&mut self, reader: impl BufRead, format: RecordFormat) {
        let (pipeline, closed, sink) = (&mut self.pipeline, &mut self.closed, &mut self.sink);
        let record_errors = &mut self.record_errors;
        read_records(reader, format, |_, line| {
            match line {
                Ok(record) => {
                    if let Some(ts) = pipeline.push(Input::Record(record)) {
                        pipeline.advance(ts, closed);
                        Self::deliver(closed, sink, pipeline.node_names());
                    }
                }
                Err(_) => *record_errors += 1,
            }
            ControlFlow::Continue(())
        });
    }

    /// Ends the input: every minute up to the last event closes.
    pub fn finish(mut self) -> FeatureRun<S> {
        self.pipeline.finish(&mut self.closed);
        Self::deliver(&mut self.closed, &mut self.sink, self.pipeline.node_names());
        let pipeline = self.pipeline.stats();
        FeatureRun {
            rows: self.sink,
            nodes: self.pipeline.node_names().to_vec(),
            stats: ReplayStats { pipeline, record_errors: self.record_errors, ..self.decode },
        }
    }
}
