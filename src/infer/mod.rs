//! Model execution through ONNX Runtime (docs/model-contract.md).
//!
//! - [`runtime`]: finds and loads the ONNX Runtime library named by the configuration; one
//!   environment per process.
//! - [`contract`]: what a model must look like (input `features` [batch, window, 130],
//!   output `embedding` [batch, D], `imsight.*` metadata).
//! - [`model`]: an ONNX session with its description, running batches of windows.
//! - [`engine`]: sessions on dedicated threads, requests gathered into batches (maximum batch,
//!   maximum wait), non-finite embeddings rejected and counted.

pub mod contract;
pub mod engine;
pub mod model;
pub mod probe;
pub mod runtime;

pub use model::{Embeddings, ModelDescription, ModelSession, TensorDescription, WindowEmbedder};
pub use runtime::{OnnxRuntime, resolve_library, resolve_model};

use std::path::PathBuf;

use crate::telemetry::one_line;

/// Everything that can go wrong loading the runtime or a model, or running one.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The configured library file does not exist.
    #[error(
        "ONNX Runtime library not found at {} (inference.onnxruntime_lib){hint}",
        path.display()
    )]
    LibraryMissing {
        /// The path that was looked for.
        path: PathBuf,
        /// Advice for a development checkout, or empty.
        hint: String,
    },
    /// The library exists but cannot be loaded (wrong file, architecture or version).
    #[error("cannot load ONNX Runtime library {} (inference.onnxruntime_lib): {reason}", path.display())]
    LibraryUnusable {
        /// The library path.
        path: PathBuf,
        /// The loader's explanation, on one line.
        reason: String,
    },
    /// The model file does not exist or cannot be read.
    #[error("cannot read model {}: {source}", path.display())]
    ModelUnreadable {
        /// The model path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// ONNX Runtime refused an operation.
    #[error("{context}: {reason}")]
    Runtime {
        /// What was being done.
        context: String,
        /// ONNX Runtime's explanation, on one line.
        reason: String,
    },
    /// The model does not have the inputs, outputs or shapes the appliance feeds it.
    #[error("model {} breaks the model contract: {}", path.display(), problems.join("; "))]
    ContractViolated {
        /// The model path.
        path: PathBuf,
        /// Every mismatch found.
        problems: Vec<String>,
    },
    /// The caller passed a batch whose size does not match its shape.
    #[error("input has {actual} values, expected {expected} for {windows} windows")]
    InputSize {
        /// Windows in the batch.
        windows: usize,
        /// Values expected.
        expected: usize,
        /// Values given.
        actual: usize,
    },
}

impl InferenceError {
    /// Wraps an `ort` error with what was being done, flattened to one line.
    pub(crate) fn runtime(context: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Self::Runtime { context: context.into(), reason: one_line(&error.to_string()) }
    }
}
