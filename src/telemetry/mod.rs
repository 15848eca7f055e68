//! Logging setup: `tracing` to standard error, readable text or JSON lines.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub mod metrics;

pub use metrics::Metrics;

/// Environment variable that overrides `log.level` for one run.
pub const LOG_ENV: &str = "IMSIGHT_LOG";

/// Installs the global subscriber. The level comes from `IMSIGHT_LOG` when set, else from
/// the configuration (already validated); calling it twice keeps the first subscriber.
pub fn init(log: &LogConfig) {
    let directives = std::env::var(LOG_ENV).unwrap_or_else(|_| log.level.clone());
    let filter = EnvFilter::builder()
        .parse(quiet_onnxruntime(&directives))
        .unwrap_or_else(|_| EnvFilter::new(quiet_onnxruntime("info")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match log.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    // A second call (tests running several commands in one process) keeps the first.
    drop(installed);
}

/// ONNX Runtime logs every graph transformation at INFO; keep it at WARN unless the filter
/// names `ort` itself.
fn quiet_onnxruntime(directives: &str) -> String {
    if directives.split(',').any(|d| d.trim_start().starts_with("ort")) {
        directives.to_owned()
    } else {
        format!("{directives},ort=warn")
    }
}

/// Joins a possibly multi-line message into one line, for log fields and CLI errors.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
