//! imsight: fault detection for IMS SIP nodes.
//!
//! The map of the crate, in data-flow order (docs/architecture.md explains the rules). Rooms marked *edge* touch the outside world (files, sockets, threads, ONNX Runtime,
//! later redb and MQTT); every other room is plain `&mut self` logic driven by event time,
//! unit-tested without a runtime. Only `runtime/` imports actix.
//!
//! ```text
//! schema      leaf: the feature catalogue (the ONE definition of the order), method ids, legs
//! time        leaf: event time, the minute, the watermark (the one lateness rule)
//! config/     layered configuration, typed sections (nodes with parsed addresses), validation
//! sources/    edge: captures as SIP payloads, probe-record files, input detection
//! correlate/  node mapping and the SIP transaction table (requests paired with responses)
//! aggregate/  minute accumulation -> 130 values; the window ring
//! pipeline/   the feature pipeline: push(input), advance(now) -> closed minutes
//! dataset     edge: feature rows streamed to CSV or .npy, ground-truth labels joined
//! replay      the synchronous driver of sources -> pipeline (features, replay, test oracle)
//! infer/      edge: ONNX Runtime loading, the model contract, model sessions
//! matcher/    k nearest references, class thresholds, unknown anomalies (docs/matching.md)
//! decide/     per-node alarm state machine: raise, clear, hold, flap guard, alarm identity
//! judge/      node-minutes -> windows -> batched embedding -> verdicts, alarms, explanations
//! inspect/    what a capture or probe-record file holds (`imsight inspect`; reads through sources)
//! sample/     which judged windows are kept (stratified draws) and what retention removes
//! monitor/    input drift against the model card's training statistics (PSI), drift alerts
//! lifecycle/  when a candidate model is better than the active one (compare, promote)
//! publish/    topics and payloads: state, ONAP control loop, VES fault, Alertmanager alert
//! store/      edge: the state database (redb): references, models, decisions, minutes, outbox,
//!             samples, shadow verdicts
//! api/        what the HTTP API shows of nodes (a board the announcer updates)
//! runtime/    edge: the actors (actix on tokio), the HEP socket, MQTT, HTTP; topology.rs wires them
//! sim/        the IMS traffic simulator with fault injection (`imsight simulate`; writes files)
//! telemetry/  edge: logging setup, the Prometheus metrics
//! cli/        edge: argument parsing and printing only
//! ```
//!
//! docs/architecture.md says what each room may import (explanations live in
//! `judge/explain.rs`). The pure parsers live in the `imsight-parsers`
//! crate (`parsers/`).

pub mod aggregate;
pub mod api;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod dataset;
pub mod decide;
pub mod infer;
pub mod inspect;
pub mod judge;
pub mod lifecycle;
pub mod matcher;
pub mod monitor;
pub mod pipeline;
pub mod publish;
pub mod replay;
pub mod runtime;
pub mod sample;
pub mod schema;
pub mod sim;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod time;
