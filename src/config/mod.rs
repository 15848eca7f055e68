//! Configuration: typed sections, layered loading, validation that lists every problem.
//!
//! Layers, lowest first (docs/configuration.md):
//! 1. `profiles/default.toml`, embedded in the binary: every key with its default;
//! 2. a profile (`--profile NAME`), also embedded;
//! 3. the site file: `--config FILE`, or `/etc/imsight/imsight.toml` when it exists;
//! 4. environment variables `IMSIGHT__SECTION__KEY` (e.g. `IMSIGHT__MQTT__HOST`).

mod load;
mod nodes;
mod problems;
pub mod profiles;
mod sections;
mod validate;

pub use load::{ConfigSources, LoadedConfig, SYSTEM_CONFIG_FILE, collect_problems};
pub use nodes::{MAX_NODE_NAME_LEN, NodeAddress, NodeConfig, node_name_problem};
pub use problems::{ConfigProblem, ConfigProblems};
pub use sections::{
    ApplianceConfig, Config, ExecutionProvider, HttpConfig, InferenceConfig, LogConfig, LogFormat,
    MqttConfig, PACKAGED_MODEL, PACKAGED_ONNXRUNTIME_LIB, PipelineConfig, ShardConfig,
    SourcesConfig,
};
pub use validate::validate;
