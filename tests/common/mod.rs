//! Helpers shared by the integration tests. Everything a test reads lives in this repository
//! (`tests/data/`), so a fresh clone passes its tests with nothing beside it.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
