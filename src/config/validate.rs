//! Semantic checks that types alone cannot express. Each returns every problem it finds.

use super::problems::ConfigProblem;
use super::sections::Config;

/// Largest window the pipeline accepts: one day of minutes.
const MAX_WINDOW_MINUTES: u32 = 24 * 60;
/// More ONNX Runtime threads than this is a typo, not a machine (65535 made it spin and crash).
const MAX_INTRA_THREADS: u16 = 256;
/// A transaction unanswered for an hour is long dead (RFC 3261 Timer B is 32 s).
const MAX_TRANSACTION_TIMEOUT_SECS: u32 = 3600;
/// Nodes one instance monitors at most; shard beyond it.
const MAX_NODES: u32 = 100_000;
/// Largest inference batch; bigger batches only add latency on CPU.
const MAX_BATCH: u16 = 4096;
const MAX_SESSIONS: u16 = 64;
const MAX_WAIT_MS: u32 = 1000;
/// Smallest MQTT keep-alive brokers commonly accept without flapping.
const MIN_KEEP_ALIVE_SECS: u16 = 5;

/// All semantic problems of `config`.
pub fn validate(config: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| problems.push(ConfigProblem::new(key, message));

    let name = &config.appliance.name;
    if name.is_empty() {
        problem("appliance.name", "must not be empty".to_owned());
    } else if let Some(bad) =
        name.chars().find(|c| matches!(c, '/' | '+' | '#') || c.is_whitespace())
    {
        problem(
            "appliance.name",
            format!("`{name}` contains `{bad}`, which cannot appear in an MQTT topic level"),
        );
    }
    if config.appliance.state_dir.as_os_str().is_empty() {
        problem("appliance.state_dir", "must not be empty".to_owned());
    }

    if let Err(error) = tracing_subscriber::EnvFilter::builder().parse(&config.log.level) {
        problem("log.level", format!("`{}` is not a valid filter: {error}", config.log.level));
    }

    for (key, message) in config.samples.problems().into_iter().chain(config.monitor.problems()) {
        problem(key, message);
    }
    for (key, message) in config.decisions.problems() {
        problem(key, message);
    }
    let inference = &config.inference;
    if inference.model.as_os_str().is_empty() {
        problem("inference.model", "must not be empty".to_owned());
    }
    if inference.onnxruntime_lib.as_os_str().is_empty() {
        problem("inference.onnxruntime_lib", "must not be empty".to_owned());
    }
    if inference.intra_threads == 0 || inference.intra_threads > MAX_INTRA_THREADS {
        problem("inference.intra_threads", format!("must be between 1 and {MAX_INTRA_THREADS}"));
    }
    if inference.max_batch == 0 || inference.max_batch > MAX_BATCH {
        problem("inference.max_batch", format!("must be between 1 and {MAX_BATCH}"));
    }
    if inference.sessions == 0 || inference.sessions > MAX_SESSIONS {
        problem("inference.sessions", format!("must be between 1 and {MAX_SESSIONS}"));
    }
    if inference.max_wait_ms > MAX_WAIT_MS {
        problem("inference.max_wait_ms", format!("must be at most {MAX_WAIT_MS}"));
    }

    let pipeline = &config.pipeline;
    if pipeline.window_minutes == 0 || pipeline.window_minutes > MAX_WINDOW_MINUTES {
        problem("pipeline.window_minutes", format!("must be between 1 and {MAX_WINDOW_MINUTES}"));
    }
    if pipeline.allowed_lateness_secs >= 60 {
        problem(
            "pipeline.allowed_lateness_secs",
            "must be below 60: a minute cannot wait longer than a minute to close".to_owned(),
        );
    }
    if pipeline.transaction_timeout_secs == 0
        || pipeline.transaction_timeout_secs > MAX_TRANSACTION_TIMEOUT_SECS
    {
        problem(
            "pipeline.transaction_timeout_secs",
            format!("must be between 1 and {MAX_TRANSACTION_TIMEOUT_SECS}"),
        );
    }

    if pipeline.max_nodes == 0 || pipeline.max_nodes > MAX_NODES {
        problem("pipeline.max_nodes", format!("must be between 1 and {MAX_NODES}"));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, node) in config.nodes.iter().enumerate() {
        if let Some(message) = super::nodes::node_name_problem(&node.name) {
            problem(&format!("nodes[{i}].name"), message);
        }
        if !names.insert(node.name.as_str()) {
            problem(&format!("nodes[{i}].name"), format!("`{}` appears twice", node.name));
        }
    }

    if config.sources.hep_auth_key.as_deref().is_some_and(str::is_empty) {
        problem("sources.hep_auth_key", "must not be empty (leave it unset for no key)".into());
    }

    if config.shard.count == 0 {
        problem("shard.count", "must be at least 1".to_owned());
    } else if config.shard.index >= config.shard.count {
        problem(
            "shard.index",
            format!(
                "must be below shard.count ({}): shards are numbered from 0",
                config.shard.count
            ),
        );
    }

    let mqtt = &config.mqtt;
    if mqtt.host.is_empty() {
        problem("mqtt.host", "must not be empty".to_owned());
    }
    if mqtt.port == 0 {
        problem("mqtt.port", "must not be 0".to_owned());
    }
    match (&mqtt.username, &mqtt.password) {
        (Some(_), None) => problem("mqtt.password", "is required when mqtt.username is set".into()),
        (None, Some(_)) => problem("mqtt.username", "is required when mqtt.password is set".into()),
        _ => {}
    }
    if mqtt.tls && mqtt.ca_file.is_none() {
        problem("mqtt.ca_file", "is required when mqtt.tls is true".into());
    }
    if !mqtt.tls && (mqtt.ca_file.is_some() || mqtt.client_cert_file.is_some()) {
        problem("mqtt.tls", "must be true when certificate files are set".into());
    }
    match (&mqtt.client_cert_file, &mqtt.client_key_file) {
        (Some(_), None) => {
            problem("mqtt.client_key_file", "is required when mqtt.client_cert_file is set".into());
        }
        (None, Some(_)) => {
            problem("mqtt.client_cert_file", "is required when mqtt.client_key_file is set".into());
        }
        _ => {}
    }
    for (key, file) in [
        ("mqtt.ca_file", &mqtt.ca_file),
        ("mqtt.client_cert_file", &mqtt.client_cert_file),
        ("mqtt.client_key_file", &mqtt.client_key_file),
    ] {
        if let Some(file) = file
            && !file.is_file()
        {
            problem(key, format!("{} is not a readable file", file.display()));
        }
    }
    if mqtt.outbox_limit < 100 {
        problem("mqtt.outbox_limit", "must be at least 100".to_owned());
    }
    if mqtt.keep_alive_secs < MIN_KEEP_ALIVE_SECS {
        problem("mqtt.keep_alive_secs", format!("must be at least {MIN_KEEP_ALIVE_SECS}"));
    }
    if mqtt.topic_root.is_empty()
        || mqtt.topic_root.starts_with('/')
        || mqtt.topic_root.ends_with('/')
        || mqtt.topic_root.contains(['+', '#'])
    {
        problem(
            "mqtt.topic_root",
            format!(
                "`{}` must be non-empty topic levels without leading or trailing `/`, `+` or `#`",
                mqtt.topic_root
            ),
        );
    }
    problems
}
