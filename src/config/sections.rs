//! The typed configuration, one struct per section.
//!
//! Every field's `///` comment is operator documentation: `profiles/default.toml` repeats it
//! next to the default value, and a test checks that the file and `Config::default()` agree.
//! Sections and keys of pipeline stages that are not built yet are listed in
//! `docs/configuration.md` with the command that will use them.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the deb/rpm package installs the ONNX Runtime library.
pub const PACKAGED_ONNXRUNTIME_LIB: &str = "/usr/lib/imsight/libonnxruntime.so.1.31.1";
/// Where the package installs the shipped model (its reference pack lies beside it).
pub const PACKAGED_MODEL: &str = "/usr/share/imsight/models/siamese-lstm-v2/siamese-lstm-v2.onnx";

/// The whole configuration of one appliance instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Identity and state of this appliance instance.
    pub appliance: ApplianceConfig,
    /// Logging.
    pub log: LogConfig,
    /// Model execution through ONNX Runtime.
    pub inference: InferenceConfig,
    /// Event-time rules of the feature pipeline.
    pub pipeline: PipelineConfig,
    /// Where live traffic comes from.
    pub sources: SourcesConfig,
    /// The MQTT broker that receives states, closed-loop events, faults and alerts.
    pub mqtt: MqttConfig,
    /// The HTTP endpoint for health, metrics and the API.
    pub http: HttpConfig,
    /// When a node's minutes raise and clear alarms.
    pub decisions: crate::decide::DecisionSettings,
    /// Which judged windows are kept in the sample database, and for how long.
    pub samples: crate::sample::SampleSettings,
    /// Model monitoring: input drift against the model's training statistics.
    pub monitor: crate::monitor::DriftSettings,
    /// Which share of the nodes this instance judges, when several share the traffic.
    pub shard: ShardConfig,
    /// The monitored nodes (`[[nodes]]`): name, addresses per leg, HEP agents.
    pub nodes: Vec<super::nodes::NodeConfig>,
}

/// `[shard]`: instance `index` of `count` judges the nodes whose name hashes to `index`
/// (docs/operations.md, "Scale-out"); the others' traffic is counted and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShardConfig {
    /// This instance's shard, from 0.
    pub index: u32,
    /// How many instances share the nodes.
    pub count: u32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl ShardConfig {
    /// The shard a node belongs to: the first 8 bytes of the SHA-256 of its name, big-endian,
    /// modulo the count (stable across versions and machines; an operator can compute it with
    /// `printf %s NAME | sha256sum`).
    pub fn shard_of(name: &str, count: u32) -> u32 {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
    }

    /// Whether this instance judges the node `name`.
    pub fn owns(&self, name: &str) -> bool {
        self.count <= 1 || Self::shard_of(name, self.count) == self.index
    }
}

/// `[appliance]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApplianceConfig {
    /// Name of this instance. It is a level of every MQTT topic
    /// (`imsight/v1/{name}/...`) and the source name in VES and ONAP events, so it must be
    /// unique per site and contain no `/`, `+`, `#` or spaces.
    pub name: String,
    /// Directory of the state database (references, alarm state, outbox, recent minutes).
    /// The package's systemd unit creates `/var/lib/imsight` for the service user.
    pub state_dir: PathBuf,
}

impl Default for ApplianceConfig {
    fn default() -> Self {
        Self { name: "imsight".to_owned(), state_dir: PathBuf::from("/var/lib/imsight") }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Filter in `tracing` syntax: a level (`error`, `warn`, `info`, `debug`, `trace`),
    /// optionally with per-module levels, e.g. `info,imsight::sources=debug`. The environment
    /// variable `IMSIGHT_LOG` overrides it for one run.
    pub level: String,
    /// `text`: readable lines for a terminal; `json`: one JSON object per line, for journald
    /// and log shippers.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[inference]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceConfig {
    /// The ONNX model that embeds windows; its reference pack (`references.json`) lies beside
    /// it. The package installs the shipped model at this default path; when nothing is
    /// there, a development build uses the copy in its checkout (`models/`).
    pub model: PathBuf,
    /// Path of the ONNX Runtime shared library, loaded at start. The package installs it at
    /// `/usr/lib/imsight/`; when this default path does not exist, a development build also
    /// looks for `.onnxruntime/lib/` in the checkout it was built in (made by
    /// `packaging/fetch-onnxruntime`).
    pub onnxruntime_lib: PathBuf,
    /// `cpu`, or `cuda` to run on an NVIDIA GPU when the library is a CUDA build and a GPU is
    /// present; otherwise a warning is logged and the CPU is used.
    pub execution_provider: ExecutionProvider,
    /// GPU ordinal for `cuda`.
    pub cuda_device: u32,
    /// Most GPU memory the CUDA provider's arena may take, in MiB; 0 = no limit.
    pub cuda_memory_limit_mb: u32,
    /// Threads one inference may use. 1 keeps latency predictable on a small appliance that
    /// also parses traffic; raise it on a dedicated machine.
    pub intra_threads: u16,
    /// Most windows embedded in one call; the per-minute evaluation of all nodes is split
    /// into batches of this size.
    pub max_batch: u16,
    /// Model sessions judging in parallel, each on a thread of its own (`run`, `replay`,
    /// `demo`). 1 embeds on the judge's thread; more splits each minute's windows across
    /// sessions, one core each, for many nodes.
    pub sessions: u16,
    /// With more than one session: longest a batch waits for more windows before it runs,
    /// in milliseconds.
    pub max_wait_ms: u32,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from(PACKAGED_MODEL),
            onnxruntime_lib: PathBuf::from(PACKAGED_ONNXRUNTIME_LIB),
            execution_provider: ExecutionProvider::Cpu,
            cuda_device: 0,
            cuda_memory_limit_mb: 0,
            intra_threads: 1,
            max_batch: 64,
            sessions: 1,
            max_wait_ms: 5,
        }
    }
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    /// The CPU.
    Cpu,
    /// An NVIDIA GPU through the CUDA execution provider.
    Cuda,
}

/// `[pipeline]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Minutes of per-minute feature vectors in one window. It must equal the window the
    /// model was trained on (checked when the model is loaded).
    pub window_minutes: u32,
    /// Seconds a record may arrive after the newest one seen and still count in its minute.
    /// Later records are counted as late and dropped.
    pub allowed_lateness_secs: u32,
    /// Seconds without a final response after which a transaction counts as timed out
    /// (RFC 3261 Timer B/F: 64 × T1 = 32 s).
    pub transaction_timeout_secs: u32,
    /// HEP agents and probe-record node names not listed under `[[nodes]]` become nodes of
    /// their own (named after the agent or record), up to `max_nodes`.
    pub auto_discover_nodes: bool,
    /// Most nodes monitored at once; more are counted and ignored.
    pub max_nodes: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            window_minutes: 60,
            allowed_lateness_secs: 5,
            transaction_timeout_secs: 32,
            auto_discover_nodes: true,
            max_nodes: 256,
        }
    }
}

/// `[mqtt]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port (1883 plain, 8883 TLS).
    pub port: u16,
    /// MQTT client id; empty means `imsight-{appliance.name}`.
    pub client_id: String,
    /// User name; set it together with `password`.
    pub username: Option<String>,
    /// Password; set it together with `username`. Prefer the environment variable
    /// `IMSIGHT__MQTT__PASSWORD` to writing it in a file.
    pub password: Option<String>,
    /// Seconds between keep-alive pings.
    pub keep_alive_secs: u16,
    /// First levels of every topic; the appliance name follows.
    pub topic_root: String,
    /// Most messages the durable outbox holds: past it, waiting state messages are dropped
    /// (oldest first, counted); alarm events are never dropped.
    pub outbox_limit: u32,
    /// Connect over TLS (port 8883 usually), verifying the broker against `ca_file`.
    pub tls: bool,
    /// The CA certificate(s) that signed the broker's certificate (PEM); required with `tls`.
    pub ca_file: Option<PathBuf>,
    /// This appliance's client certificate (PEM), for brokers that require one; set it with
    /// `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub client_key_file: Option<PathBuf>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 1883,
            client_id: String::new(),
            username: None,
            password: None,
            keep_alive_secs: 30,
            topic_root: "imsight/v1".to_owned(),
            outbox_limit: 100_000,
            tls: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

/// `[sources]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// Where `imsight run` listens for HEP over UDP (Kamailio, OpenSIPS, heplify).
    pub hep_udp_listen: SocketAddr,
    /// The HEP authentication key (chunk 0x000e) senders must carry; packets without it or
    /// with another key are dropped and counted. Unset: no key is required. Prefer the
    /// environment variable `IMSIGHT__SOURCES__HEP_AUTH_KEY` to writing it in a file.
    pub hep_auth_key: Option<String>,
    /// Where `imsight run` listens for HEP over TCP (HEPv3 packets back to back; heplify
    /// `-nt tcp`, Kamailio `siptrace` with a `;transport=tcp` duplicate URI). Unset: not taken.
    pub hep_tcp_listen: Option<SocketAddr>,
    /// A directory probes write pcap or pcapng captures into: each finished file is read once,
    /// then moved to `processed/` (or `rejected/`). Use it instead of HEP, not beside it: its
    /// traffic's time is the captures'. Unset: not read.
    pub input_dir: Option<PathBuf>,
    /// Seconds a file in `input_dir` must stay unchanged before it is read.
    pub input_settle_secs: u32,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            hep_udp_listen: SocketAddr::from(([0, 0, 0, 0], 9060)),
            hep_auth_key: None,
            hep_tcp_listen: None,
            input_dir: None,
            input_settle_secs: 5,
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port of `/healthz`, `/readyz`, `/metrics` and `/api/v1`. Loopback by
    /// default: expose it deliberately.
    pub listen: SocketAddr,
    /// Accept changes over HTTP: model activation, shadow, promotion, rollback and sample
    /// labels (the POST, PUT and DELETE routes of `/api/v1`). Off by default: whoever reaches
    /// the port could change the model; the HTTP API has no authentication of its own.
    pub allow_changes: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 9464)), allow_changes: false }
    }
}
