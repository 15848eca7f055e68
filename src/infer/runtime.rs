//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: nothing is linked, and the library named by
//! `inference.onnxruntime_lib` is opened at start with `ort::init_from`, which returns an
//! error instead of panicking like the implicit loader does. ONNX Runtime allows one
//! environment per process, so the loaded runtime is kept process-wide.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;

use super::InferenceError;
use crate::config::PACKAGED_ONNXRUNTIME_LIB;
use crate::telemetry::one_line;

/// Where a development checkout keeps the library fetched by `packaging/fetch-onnxruntime`,
/// relative to the checkout.
const CHECKOUT_LIBRARY: &str = ".onnxruntime/lib/libonnxruntime.so.1.31.1";
/// Where a development checkout keeps the shipped model, relative to the checkout.
const CHECKOUT_MODEL: &str = "models/siamese-lstm-v2/siamese-lstm-v2.onnx";

/// The process-wide ONNX Runtime: the library it came from and its environment.
#[derive(Clone)]
pub struct OnnxRuntime {
    library: PathBuf,
    environment: Environment,
}

impl std::fmt::Debug for OnnxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxRuntime").field("library", &self.library).finish_non_exhaustive()
    }
}

static RUNTIME: Mutex<Option<OnnxRuntime>> = Mutex::new(None);

impl OnnxRuntime {
    /// Loads the library at `configured` (see [`resolve_library`]) once per process; later
    /// calls return the same runtime, or an error if they name another library.
    pub fn load(configured: &Path) -> Result<Self, InferenceError> {
        let library = resolve_library(configured)?;
        let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(runtime) = slot.as_ref() {
            if runtime.library == library {
                return Ok(runtime.clone());
            }
            return Err(InferenceError::LibraryUnusable {
                path: library,
                reason: format!(
                    "this process already loaded ONNX Runtime from {}",
                    runtime.library.display()
                ),
            });
        }
        let builder =
            ort::init_from(&library).map_err(|error| InferenceError::LibraryUnusable {
                path: library.clone(),
                reason: one_line(&error.to_string()),
            })?;
        let environment = builder.with_name("imsight").build().map_err(|error| {
            InferenceError::runtime("cannot create the ONNX Runtime environment", error)
        })?;
        tracing::debug!(library = %library.display(), "onnx runtime loaded");
        let runtime = Self { library, environment };
        *slot = Some(runtime.clone());
        Ok(runtime)
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    pub(crate) fn environment(&self) -> &Environment {
        &self.environment
    }
}

/// The library file to open for the configured path.
///
/// A configured path that exists is used as it is. When the configuration still names the
/// packaged location and nothing is installed there, a development build falls back to the
/// copy fetched into its own checkout. Anything else is [`InferenceError::LibraryMissing`].
pub fn resolve_library(configured: &Path) -> Result<PathBuf, InferenceError> {
    if configured.is_file() {
        return Ok(configured.to_path_buf());
    }
    let checkout_copy = Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKOUT_LIBRARY);
    let is_packaged_default = configured == Path::new(PACKAGED_ONNXRUNTIME_LIB);
    if is_packaged_default && checkout_copy.is_file() {
        return Ok(checkout_copy);
    }
    let hint = if is_packaged_default {
        format!(
            "; install the imsight package, or in a development checkout run \
             packaging/fetch-onnxruntime (expected at {})",
            checkout_copy.display()
        )
    } else {
        String::new()
    };
    Err(InferenceError::LibraryMissing { path: configured.to_path_buf(), hint })
}

/// The model file to load for the configured path: as [`resolve_library`], a configured path
/// that exists is used; the packaged default falls back to the checkout's `models/` in a
/// development build.
pub fn resolve_model(configured: &Path) -> Result<PathBuf, InferenceError> {
    if configured.is_file() {
        return Ok(configured.to_path_buf());
    }
    let checkout_copy = Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKOUT_MODEL);
    if configured == Path::new(crate::config::PACKAGED_MODEL) && checkout_copy.is_file() {
        return Ok(checkout_copy);
    }
    Err(InferenceError::ModelUnreadable {
        path: configured.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (inference.model)"),
    })
}
