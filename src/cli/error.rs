//! How a command fails, and the exit status each failure gives.

use crate::config::ConfigProblems;

/// Exit statuses, after `sysexits.h` where one fits. Scripts and systemd
/// (`ExecStartPre=imsight validate`) rely on them; docs/operations.md lists them.
pub mod exit_code {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran and failed (a library, a model or a file could not be used).
    pub const FAILURE: u8 = 1;
    /// Bad command-line usage (clap's own status).
    pub const USAGE: u8 = 2;
    /// An input file is invalid (EX_DATAERR).
    pub const DATA: u8 = 65;
    /// The configuration is invalid (EX_CONFIG).
    pub const CONFIG: u8 = 78;
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The configuration did not load or validate; every problem is listed.
    #[error(transparent)]
    Config(ConfigProblems),
    /// An input file (a scenario, ...) is invalid; every problem is listed.
    #[error("invalid {what} ({} problem{}):{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
    Invalid {
        /// What was read.
        what: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// Anything else: what failed, with its causes (`anyhow` context), on one line.
    #[error("{}", crate::telemetry::one_line(&format!("{:#}", .0)))]
    Failed(#[from] anyhow::Error),
}

impl CommandError {
    /// Wraps an error whose message is the whole story.
    pub fn failed(error: impl std::fmt::Display) -> Self {
        Self::Failed(anyhow::anyhow!("{error}"))
    }

    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => exit_code::CONFIG,
            Self::Invalid { .. } => exit_code::DATA,
            Self::Failed(_) => exit_code::FAILURE,
        }
    }
}
