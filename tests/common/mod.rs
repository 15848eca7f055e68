//! Helpers shared by the integration tests. Everything a test reads lives in this repository
//! (`tests/data/`), so a fresh clone passes its tests with nothing beside it.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod onap;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The SIP capture corpus with its tshark ground truth (`tests/data/corpus/`, see its
/// `SOURCES.md`).
pub fn corpus() -> PathBuf {
    repo("tests/data/corpus")
}

/// One file of the capture corpus.
pub fn corpus_file(name: &str) -> PathBuf {
    let path = corpus().join(name);
    assert!(path.is_file(), "the capture corpus file is missing: {}", path.display());
    path
}

/// The binary with a clean environment: no `IMSIGHT*` variables leak in, and any panic would
/// print a backtrace (so the tests below would see it).
pub fn imsight(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imsight"));
    command.args(args).env("RUST_BACKTRACE", "1").env("NO_COLOR", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("IMSIGHT") {
            command.env_remove(key);
        }
    }
    command
}

pub fn run(command: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = command.output().expect("the binary runs");
    let code = status.code().expect("exited, not killed by a signal");
    (code, String::from_utf8(stdout).expect("UTF-8"), String::from_utf8(stderr).expect("UTF-8"))
}
