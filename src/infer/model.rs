//! One ONNX model loaded into a session: its description and batched embedding.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ort::ep;
use ort::session::{Session, builder::GraphOptimizationLevel};
use ort::value::{Outlet, TensorRef, ValueType};

use super::contract::{self, DeclaredTensor, INPUT_NAME, METADATA_PREFIX, OUTPUT_NAME};
use super::{InferenceError, OnnxRuntime};
use crate::config::{ExecutionProvider, InferenceConfig};

/// A model's declared interface and metadata, as the loaded session reports them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelDescription {
    /// Declared inputs.
    pub inputs: Vec<TensorDescription>,
    /// Declared outputs.
    pub outputs: Vec<TensorDescription>,
    /// The `imsight.*` metadata properties, prefix removed.
    pub metadata: BTreeMap<String, String>,
    /// The tool that wrote the file, if it says.
    pub producer: Option<String>,
    /// Where inference actually runs (after any fallback).
    pub execution_provider: &'static str,
}

/// One declared tensor, printable.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TensorDescription {
    /// Tensor name.
    pub name: String,
    /// Element type (`f32`, ...).
    pub element_type: String,
    /// Shape with `?` for symbolic dimensions, e.g. `[?, 60, 130]`.
    pub shape: String,
}

/// A batch of embeddings, row-major `[windows, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Embedding size.
    pub dim: usize,
    /// `windows × dim` values.
    pub values: Vec<f32>,
}

impl Embeddings {
    /// One embedding per window.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks_exact(self.dim.max(1))
    }
}

/// A loaded model. `embed` takes `&mut self` (ONNX Runtime sessions are not shared between
/// threads here): each inference worker owns its own session.
pub struct ModelSession {
    path: PathBuf,
    session: Session,
    declared_inputs: Vec<DeclaredTensor>,
    declared_outputs: Vec<DeclaredTensor>,
    description: ModelDescription,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession").field("path", &self.path).finish_non_exhaustive()
    }
}

impl ModelSession {
    /// Loads the model at `path` with the threads and execution provider of `config`. A CUDA
    /// request that cannot be met is logged and served by the CPU.
    pub fn load(
        runtime: &OnnxRuntime,
        path: &Path,
        config: &InferenceConfig,
    ) -> Result<Self, InferenceError> {
        std::fs::metadata(path).map_err(|source| InferenceError::ModelUnreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let (session, execution_provider) = match config.execution_provider {
            ExecutionProvider::Cpu => (build_session(runtime, path, config, false)?, "cpu"),
            ExecutionProvider::Cuda => match build_session(runtime, path, config, true) {
                Ok(session) => (session, "cuda"),
                Err(error) => {
                    tracing::warn!(%error, device = config.cuda_device, "cuda unavailable, running on the cpu");
                    (build_session(runtime, path, config, false)?, "cpu")
                }
            },
        };
        tracing::info!(model = %path.display(), provider = execution_provider, intra_threads = config.intra_threads, "model loaded");
        let declared_inputs: Vec<DeclaredTensor> = session.inputs().iter().map(declared).collect();
        let declared_outputs: Vec<DeclaredTensor> =
            session.outputs().iter().map(declared).collect();
        let (metadata, producer) = read_metadata(&session)?;
        let description = ModelDescription {
            inputs: declared_inputs.iter().map(describe).collect(),
            outputs: declared_outputs.iter().map(describe).collect(),
            metadata,
            producer,
            execution_provider,
        };
        Ok(Self {
            path: path.to_path_buf(),
            session,
            declared_inputs,
            declared_outputs,
            description,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Declared interface and metadata.
    pub fn description(&self) -> &ModelDescription {
        &self.description
    }

    /// Checks the declared interface and the metadata against the contract for
    /// `window_minutes` and this binary's feature schema.
    pub fn check_contract(&self, window_minutes: u32) -> Result<(), InferenceError> {
        let mut problems =
            contract::check(&self.declared_inputs, &self.declared_outputs, window_minutes);
        problems.extend(contract::check_metadata(&self.description.metadata, window_minutes));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InferenceError::ContractViolated { path: self.path.clone(), problems })
        }
    }

    /// Embeds `windows` windows of `window_minutes × FEATURE_COUNT` raw feature values each
    /// (row-major, as `[windows, window_minutes, FEATURE_COUNT]`).
    pub fn embed(
        &mut self,
        windows: usize,
        window_minutes: usize,
        values: &[f32],
    ) -> Result<Embeddings, InferenceError> {
        let expected = windows * window_minutes * contract::FEATURE_COUNT;
        if values.len() != expected || windows == 0 {
            return Err(InferenceError::InputSize { windows, expected, actual: values.len() });
        }
        let shape = [windows, window_minutes, contract::FEATURE_COUNT];
        let input = TensorRef::from_array_view((shape, values))
            .map_err(|error| InferenceError::runtime("cannot wrap the input", error))?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_NAME => input])
            .map_err(|error| InferenceError::runtime("inference failed", error))?;
        let (shape, data) = outputs[OUTPUT_NAME]
            .try_extract_tensor::<f32>()
            .map_err(|error| InferenceError::runtime("cannot read the embedding", error))?;
        let dim = shape.last().copied().unwrap_or(0).max(0) as usize;
        if dim == 0 || data.len() != windows * dim {
            return Err(InferenceError::Runtime {
                context: "unexpected embedding".to_owned(),
                reason: format!("shape {shape:?} for {windows} windows"),
            });
        }
        Ok(Embeddings { dim, values: data.to_vec() })
    }
}

fn build_session(
    runtime: &OnnxRuntime,
    path: &Path,
    config: &InferenceConfig,
    cuda: bool,
) -> Result<Session, InferenceError> {
    let context = format!("cannot load model {}", path.display());
    let fail = |error: ort::Error<_>| InferenceError::runtime(context.clone(), error);
    let mut builder = Session::builder(runtime.environment())
        .map_err(|error| InferenceError::runtime(context.clone(), error))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(fail)?
        .with_intra_threads(usize::from(config.intra_threads))
        .map_err(fail)?
        .with_inter_threads(1)
        .map_err(fail)?;
    if cuda {
        let device = i32::try_from(config.cuda_device).unwrap_or(i32::MAX);
        builder = builder
            .with_execution_providers([{
                let cuda = ep::CUDA::default().with_device_id(device);
                let cuda = match config.cuda_memory_limit_mb {
                    0 => cuda,
                    mb => cuda.with_memory_limit(mb as usize * 1024 * 1024),
                };
                cuda.build().error_on_failure()
            }])
            .map_err(fail)?;
    }
    builder.commit_from_file(path).map_err(|error| InferenceError::runtime(context.clone(), error))
}

/// The `imsight.*` metadata properties (prefix removed) and the producer name.
fn read_metadata(
    session: &Session,
) -> Result<(BTreeMap<String, String>, Option<String>), InferenceError> {
    let metadata = session
        .metadata()
        .map_err(|error| InferenceError::runtime("cannot read model metadata", error))?;
    let keys = metadata
        .custom_keys()
        .map_err(|error| InferenceError::runtime("cannot read model metadata", error))?;
    let properties = keys
        .iter()
        .filter_map(|key| {
            Some((key.strip_prefix(METADATA_PREFIX)?.to_owned(), metadata.custom(key)?))
        })
        .collect();
    Ok((properties, metadata.producer().filter(|p| !p.is_empty())))
}

fn declared(outlet: &Outlet) -> DeclaredTensor {
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => DeclaredTensor {
            name: outlet.name().to_owned(),
            element_type: ty.to_string(),
            shape: shape.iter().map(|&d| (d >= 0).then_some(d)).collect(),
        },
        other => DeclaredTensor {
            name: outlet.name().to_owned(),
            element_type: other.to_string(),
            shape: Vec::new(),
        },
    }
}

fn describe(tensor: &DeclaredTensor) -> TensorDescription {
    TensorDescription {
        name: tensor.name.clone(),
        element_type: tensor.element_type.clone(),
        shape: contract::shape_text(&tensor.shape),
    }
}

/// The judge's view of a model: windows of this session's window length in, embeddings out.
#[derive(Debug)]
pub struct WindowEmbedder {
    backend: Backend,
    window_minutes: usize,
    /// Where each call's latency and batch size are counted, when metered.
    metrics: Option<std::sync::Arc<crate::telemetry::Metrics>>,
}

#[derive(Debug)]
enum Backend {
    /// One session, run on the caller's thread.
    Session(ModelSession),
    /// Sessions on threads of their own; a call is split across them
    /// (`inference.sessions` > 1).
    Pool(super::engine::InferenceEngine),
}

impl WindowEmbedder {
    /// A session that embeds windows of `window_minutes` (checked against the contract).
    pub fn new(session: ModelSession, window_minutes: u32) -> Result<Self, InferenceError> {
        session.check_contract(window_minutes)?;
        Ok(Self {
            backend: Backend::Session(session),
            window_minutes: window_minutes as usize,
            metrics: None,
        })
    }

    /// Sessions of one model, each on a worker thread of the inference engine, batched by
    /// `settings`; a call's windows are split across them. One session runs on the caller's
    /// thread as [`WindowEmbedder::new`] does.
    pub fn pooled(
        mut sessions: Vec<ModelSession>,
        window_minutes: u32,
        settings: super::engine::EngineSettings,
    ) -> Result<Self, InferenceError> {
        if sessions.len() == 1
            && let Some(session) = sessions.pop()
        {
            return Self::new(session, window_minutes);
        }
        let workers = sessions
            .into_iter()
            .map(|session| Self::new(session, window_minutes))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(
            sessions = workers.len(),
            max_batch = settings.max_batch,
            max_wait_ms = settings.max_wait.as_millis() as u64,
            "inference: model sessions on threads of their own"
        );
        let engine = super::engine::InferenceEngine::start(workers, settings);
        Ok(Self {
            backend: Backend::Pool(engine),
            window_minutes: window_minutes as usize,
            metrics: None,
        })
    }

    /// The model at `path` as `[inference]` asks: `sessions` sessions (pooled when more than
    /// one) batched by `max_batch` and `max_wait_ms`; also the provider that runs.
    pub fn load(
        runtime: &OnnxRuntime,
        path: &Path,
        config: &InferenceConfig,
        window_minutes: u32,
    ) -> Result<(Self, &'static str), InferenceError> {
        let sessions = (0..config.sessions.max(1))
            .map(|_| ModelSession::load(runtime, path, config))
            .collect::<Result<Vec<_>, _>>()?;
        let provider = sessions.first().map_or("cpu", |s| s.description().execution_provider);
        let settings = super::engine::EngineSettings {
            max_batch: usize::from(config.max_batch),
            max_wait: std::time::Duration::from_millis(u64::from(config.max_wait_ms)),
            ..super::engine::EngineSettings::default()
        };
        Ok((Self::pooled(sessions, window_minutes, settings)?, provider))
    }

    /// Counts every call's latency and batch size in `metrics`.
    pub fn meter(&mut self, metrics: std::sync::Arc<crate::telemetry::Metrics>) {
        self.metrics = Some(metrics);
    }
}

impl crate::judge::Embedder for WindowEmbedder {
    fn embed(&mut self, windows: usize, values: &[f32]) -> Result<Vec<Vec<f32>>, String> {
        let started = std::time::Instant::now();
        let embeddings = match &mut self.backend {
            Backend::Session(session) => session
                .embed(windows, self.window_minutes, values)
                .map_err(|e| e.to_string())?
                .rows()
                .map(<[f32]>::to_vec)
                .collect(),
            Backend::Pool(engine) => {
                crate::judge::Embedder::embed(&mut engine.handle(), windows, values)?
            }
        };
        if let Some(metrics) = &self.metrics {
            metrics.inference_seconds.observe(started.elapsed().as_secs_f64());
            metrics.inference_batch.observe(windows as f64);
        }
        Ok(embeddings)
    }
}
