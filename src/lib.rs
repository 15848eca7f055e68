//! imsight: fault detection for IMS SIP nodes.
//!
//! Layout (DESIGN.md §3 describes the whole appliance; modules appear as they are built):
//!
//! ```text
//! cli/        the `imsight` command line; one module per built command
//! config/     typed configuration, layered loading, validation listing every problem
//! infer/      ONNX Runtime loading, the model contract, model sessions
//! inspect/    what a capture or probe-record file holds (`imsight inspect`)
//! sim/        the IMS traffic simulator with fault injection (`imsight simulate`)
//! telemetry   logging setup
//! ```
//!
//! The pure parsers live in the `imsight-parsers` crate (`parsers/`).

pub mod cli;
pub mod config;
pub mod infer;
pub mod inspect;
pub mod sim;
pub mod telemetry;
