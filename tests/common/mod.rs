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

/// Waits until a plain (no TLS) MQTT broker on loopback `port` grants a session: a broker
/// that has just opened its port may still refuse one for a moment on a loaded machine, and a
/// subscriber started then would exit at once and see nothing.
pub fn wait_for_mqtt_session(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let port = port.to_string();
    loop {
        let granted = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", "imsight-test/ready", "-E"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("mosquitto_sub (mosquitto-clients)");
        if granted.success() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the broker on port {port} grants no session"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
