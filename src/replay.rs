//! The synchronous driver: files in, feature rows out, through the same sans-IO rooms the live
//! actors drive (sources → pipeline). `imsight features` uses it today; replay of verdicts,
//! sample export and training build on it, and it is the oracle the runtime is tested against.

use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::ops::ControlFlow;

use imsight_parsers::ParseError;
use imsight_parsers::capture::DecoderConfig;

use crate::aggregate::FeatureRow;
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
    /// Probe-record lines rejected (invalid, not UTF-8, unreadable, or without an end time).
    pub record_errors: u64,
}

impl ReplayStats {
    /// Messages and packets that did not parse, SIP and HEP together.
    pub fn parse_errors(&self) -> u64 {
        self.pipeline.parse_errors + self.pipeline.hep_rejected
    }
}

/// The result of a replay.
#[derive(Debug, Clone, Default)]
pub struct FeatureRun {
    /// One row per node and minute, in the order minutes closed.
    pub rows: Vec<FeatureRow>,
    /// Node names by index.
    pub nodes: Vec<String>,
    /// What was counted.
    pub stats: ReplayStats,
}

/// Files through the feature pipeline, in event time.
#[derive(Debug)]
pub struct FeatureReplay {
    pipeline: FeaturePipeline,
    decoder: DecoderConfig,
    rows: Vec<FeatureRow>,
    record_errors: u64,
}

impl FeatureReplay {
    /// A replay with nothing read yet.
    pub fn new(settings: &ReplaySettings) -> Self {
        Self {
            pipeline: FeaturePipeline::new(&settings.pipeline),
            decoder: settings.decoder.clone(),
            rows: Vec::new(),
            record_errors: 0,
        }
    }

    /// Reads an opened input file of either kind.
    pub fn feed_input<R: Read + Send>(&mut self, input: OpenedInput<R>) -> Result<(), InputError> {
        match input.kind {
            InputKind::Capture(_) => self
                .feed_capture(input.reader)
                .map_err(|source| InputError::Capture { path: input.path, source }),
            InputKind::Records(format) => {
                self.feed_records(input.reader, format);
                Ok(())
            }
        }
    }

    /// Reads a pcap or pcapng stream.
    pub fn feed_capture(&mut self, source: impl Read + Send) -> Result<(), ParseError> {
        let (pipeline, rows) = (&mut self.pipeline, &mut self.rows);
        let (_, result) =
            read_capture(source, &self.decoder, |event| pipeline.capture_event(event, rows));
        result
    }

    /// One SIP datagram or stream message captured at `ts` between `src` and `dst`.
    pub fn feed_sip(&mut self, ts: u64, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
        let sip = CapturedSip { ts: Some(ts), src: Some(src), dst: Some(dst), hep: None, bytes };
        self.pipeline.push(Input::Sip(sip));
        self.pipeline.advance(ts, &mut self.rows);
    }

    /// Reads probe records (CSV with a header row, or JSON lines).
    pub fn feed_records(&mut self, reader: impl BufRead, format: RecordFormat) {
        read_records(reader, format, |_, line| {
            match line {
                Ok(record) => {
                    if let Some(ts) = self.pipeline.push(Input::Record(record)) {
                        self.pipeline.advance(ts, &mut self.rows);
                    }
                }
                Err(_) => self.record_errors += 1,
            }
            ControlFlow::Continue(())
        });
    }

    /// Ends the input: every minute up to the last event closes.
    pub fn finish(mut self) -> FeatureRun {
        self.pipeline.finish(&mut self.rows);
        FeatureRun {
            rows: self.rows,
            nodes: self.pipeline.node_names().to_vec(),
            stats: ReplayStats {
                pipeline: self.pipeline.stats(),
                record_errors: self.record_errors + self.pipeline.stats().records_without_end,
            },
        }
    }
}
