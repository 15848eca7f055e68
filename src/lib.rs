//! imsight: fault detection for IMS SIP nodes.
//!
//! Layout (DESIGN.md §3 describes the whole appliance; modules appear as they are built):
//!
//! ```text
//! aggregate/  per-node minute accumulators in event time, the 130 features, the window ring
//! cli/        the `imsight` command line; one module per built command
//! config/     typed configuration, layered loading, validation listing every problem
//! correlate/  node mapping and the SIP transaction table (requests paired with responses)
//! features/   the feature catalogue and extraction from captures and probe records
//! infer/      ONNX Runtime loading, the model contract, model sessions
//! inspect/    what a capture or probe-record file holds (`imsight inspect`)
//! sim/        the IMS traffic simulator with fault injection (`imsight simulate`)
//! sources/    data connectors (today: the probe-record reader)
//! telemetry   logging setup
//! ```
//!
//! The pure parsers live in the `imsight-parsers` crate (`parsers/`).

pub mod aggregate;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod features;
pub mod infer;
pub mod inspect;
pub mod sim;
pub mod sources;
pub mod telemetry;
