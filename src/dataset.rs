//! Feature rows as files: CSV (one row per node and minute, the 130 features by name), or
//! NumPy `.npy` (float32 `[rows, 130]`) with a `.rows.csv` index beside it; ground-truth
//! labels from `imsight simulate --labels` joined by node and minute. Used by `imsight features`
//! and by everything that hands rows to training (replay, sample export).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use imsight_parsers::xdr::time::{format_timestamp, parse_timestamp};

use crate::aggregate::FeatureRow;
use crate::schema::{FEATURE_COUNT, catalogue};

/// Ground truth by (node, minute start in µs): (class, severity).
pub type Labels = HashMap<(String, u64), (String, f64)>;

/// Why a label file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a label line.
    #[error("{path} line {line}: not a label line (JSON with node, minute, class)")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// Reads a label file: one JSON object per line with `node`, `minute` (RFC 3339), `class` and
/// optionally `severity`.
pub fn read_labels(path: &Path) -> Result<Labels, LabelError> {
    let io = |source| LabelError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io)?;
    let mut labels = HashMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = || LabelError::Line { path: path.to_owned(), line: i + 1 };
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|_| bad())?;
        let node = value["node"].as_str().ok_or_else(bad)?.to_owned();
        let minute = value["minute"].as_str().and_then(parse_timestamp).ok_or_else(bad)?;
        let class = value["class"].as_str().ok_or_else(bad)?.to_owned();
        labels.insert((node, minute), (class, value["severity"].as_f64().unwrap_or(0.0)));
    }
    Ok(labels)
}

/// Writes `rows` to `out`: CSV, or `.npy` plus a `.rows.csv` index when `out` ends in `.npy`.
pub fn write_rows(
    out: &Path,
    rows: &[FeatureRow],
    names: &[String],
    labels: Option<&Labels>,
) -> std::io::Result<()> {
    let npy = out.extension().is_some_and(|e| e == "npy");
    let index_path = if npy { out.with_extension("rows.csv") } else { out.to_path_buf() };
    let mut index = BufWriter::new(File::create(&index_path)?);
    write!(index, "node,minute,source_silent")?;
    if labels.is_some() {
        write!(index, ",label,severity")?;
    }
    if !npy {
        for feature in catalogue() {
            write!(index, ",{}", feature.name)?;
        }
    }
    writeln!(index)?;
    for row in rows {
        let node = names.get(row.node).map_or("", String::as_str);
        write!(index, "{node},{},{}", format_timestamp(row.minute), u8::from(row.source_silent))?;
        if let Some(labels) = labels {
            match labels.get(&(node.to_owned(), row.minute)) {
                Some((class, severity)) => write!(index, ",{class},{severity}")?,
                None => write!(index, ",,")?,
            }
        }
        if !npy {
            for value in &row.values {
                write!(index, ",{value}")?;
            }
        }
        writeln!(index)?;
    }
    index.flush()?;
    if npy {
        write_npy(out, rows)?;
    }
    Ok(())
}

/// NumPy's `.npy` version 1.0: a magic string, a Python-literal header padded to 64 bytes,
/// then little-endian float32 values, row-major.
fn write_npy(path: &Path, rows: &[FeatureRow]) -> std::io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        rows.len(),
        FEATURE_COUNT
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&(header.len() as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    for row in rows {
        for value in &row.values {
            file.write_all(&value.to_le_bytes())?;
        }
    }
    file.flush()
}
