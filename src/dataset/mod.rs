//! Feature rows as files: CSV (one row per node and minute, the 130 features by name), or
//! NumPy `.npy` (float32 `[rows, 130]`) with a `.rows.csv` index beside it; ground-truth
//! labels from `imsight simulate --labels` joined by node and minute. Used by `imsight features`
//! and by everything that hands rows to training (replay, sample export).

pub mod export;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use imsight_parsers::xdr::time::{format_timestamp, parse_timestamp};

use crate::aggregate::FeatureRow;
use crate::schema::{FEATURE_COUNT, catalogue};
use crate::sources::lines::BoundedLines;

/// Longest label line read (one JSON object of a few fields).
const MAX_LABEL_LINE: usize = 16 * 1024;

/// Ground truth by (node, minute start in µs).
pub type Labels = HashMap<(String, u64), Label>;

/// The ground truth of one node-minute (docs/simulator.md, Labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// `normal` or the fault.
    pub class: String,
    /// Severity × share of subscribers hit.
    pub severity: f64,
    /// `onset`, `steady` or `recovery`; empty when normal or not given.
    pub phase: String,
    /// The benign event in progress; empty when none.
    pub event: String,
}

/// Why a label file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// A line is not a label line (or is longer than 16 KiB).
    #[error("{path} line {line}: not a label line (JSON with node, minute, class; at most 16 KiB)")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// Reads a label file: one JSON object per line with `node`, `minute` (RFC 3339), `class` and
/// optionally `severity`, `phase` and `event`.
pub fn read_labels(path: &Path) -> Result<Labels, LabelError> {
    let io = |error| LabelError::Io { path: path.to_owned(), error };
    let file = File::open(path).map_err(io)?;
    let mut labels = HashMap::new();
    let mut lines = BoundedLines::new(BufReader::new(file), MAX_LABEL_LINE);
    while let Some(next) = lines.next_line() {
        let (number, line) = next.map_err(io)?;
        let bad = || LabelError::Line { path: path.to_owned(), line: number as usize };
        let line = line.ok().and_then(|l| std::str::from_utf8(l).ok()).ok_or_else(bad)?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|_| bad())?;
        let node = value["node"].as_str().ok_or_else(bad)?.to_owned();
        let minute = value["minute"].as_str().and_then(parse_timestamp).ok_or_else(bad)?;
        let class = value["class"].as_str().ok_or_else(bad)?.to_owned();
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
        let label = Label {
            class,
            severity: value["severity"].as_f64().unwrap_or(0.0),
            phase: text("phase"),
            event: text("event"),
        };
        labels.insert((node, minute), label);
    }
    Ok(labels)
}

/// Where closed node-minutes go, one at a time, as they close.
pub trait RowSink {
    /// Takes one row; `nodes` names the node indexes known so far.
    fn row(&mut self, row: FeatureRow, nodes: &[String]);
}

/// Collects the rows in memory (tests, short inputs).
impl RowSink for Vec<FeatureRow> {
    fn row(&mut self, row: FeatureRow, _: &[String]) {
        self.push(row);
    }
}

/// Bytes before the `.npy` data: reserved up front so that rows can be written as they come
/// and the row count filled in at the end (NumPy only needs the header padded with spaces to a
/// multiple of 64 bytes).
const NPY_PREFIX_LEN: usize = 128;

/// Writes rows as they close: CSV
/// (`node,minute,source_silent[,label,severity,phase,event],<130 features>`),
/// or, for an `out` ending in `.npy`, float32 `[rows, 130]` plus a `.rows.csv` index beside it.
/// Memory does not grow with the input. Fields are quoted where they need it (a node name from
/// the input may hold a comma or a newline).
#[derive(Debug)]
pub struct RowWriter {
    index: csv::Writer<BufWriter<File>>,
    npy: Option<BufWriter<File>>,
    labels: Option<Labels>,
    rows: u64,
    /// The first write error; later rows are dropped and [`RowWriter::finish`] reports it.
    error: Option<std::io::Error>,
    field: String,
}

impl RowWriter {
    /// Creates the output file(s) and writes the header: an unwritable path fails here, before
    /// any input is read.
    pub fn create(out: &Path, labels: Option<Labels>) -> std::io::Result<Self> {
        let npy = out.extension().is_some_and(|e| e == "npy");
        let index_path = if npy { out.with_extension("rows.csv") } else { out.to_path_buf() };
        let mut index = csv::Writer::from_writer(BufWriter::new(File::create(&index_path)?));
        let mut header = vec!["node", "minute", "source_silent"];
        if labels.is_some() {
            header.extend(["label", "severity", "phase", "event"]);
        }
        if !npy {
            header.extend(catalogue().iter().map(|f| f.name));
        }
        index.write_record(&header).map_err(std::io::Error::other)?;
        let npy = if npy {
            let mut file = BufWriter::new(File::create(out)?);
            file.write_all(&[b' '; NPY_PREFIX_LEN])?;
            Some(file)
        } else {
            None
        };
        Ok(Self { index, npy, labels, rows: 0, error: None, field: String::new() })
    }

    fn write(&mut self, row: &FeatureRow, nodes: &[String]) -> std::io::Result<()> {
        use std::fmt::Write as _;
        let node = nodes.get(row.node).map_or("", String::as_str);
        let index = &mut self.index;
        index.write_field(node)?;
        index.write_field(format_timestamp(row.minute))?;
        index.write_field(if row.source_silent { "1" } else { "0" })?;
        if let Some(labels) = &self.labels {
            match labels.get(&(node.to_owned(), row.minute)) {
                Some(label) => {
                    index.write_field(&label.class)?;
                    index.write_field(label.severity.to_string())?;
                    index.write_field(&label.phase)?;
                    index.write_field(&label.event)?;
                }
                None => {
                    for _ in 0..4 {
                        index.write_field("")?;
                    }
                }
            }
        }
        match &mut self.npy {
            Some(file) => {
                for value in &row.values {
                    file.write_all(&value.to_le_bytes())?;
                }
            }
            None => {
                for value in &row.values {
                    self.field.clear();
                    // Writing to a String cannot fail.
                    let _ = write!(self.field, "{value}");
                    index.write_field(&self.field)?;
                }
            }
        }
        index.write_record(None::<&[u8]>)?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes everything and fills in the `.npy` header; returns the rows written, or the
    /// first error met while writing.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.index.flush()?;
        if let Some(file) = self.npy.take() {
            let mut file = file.into_inner().map_err(std::io::IntoInnerError::into_error)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&npy_prefix(self.rows))?;
            file.flush()?;
        }
        Ok(self.rows)
    }
}

impl RowSink for RowWriter {
    fn row(&mut self, row: FeatureRow, nodes: &[String]) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = self.write(&row, nodes) {
            self.error = Some(error);
        }
    }
}

/// NumPy's `.npy` version 1.0 prefix: a magic string, the header length, and a Python-literal
/// header padded with spaces to [`NPY_PREFIX_LEN`] bytes; little-endian float32 values follow,
/// row-major.
fn npy_prefix(rows: u64) -> Vec<u8> {
    let header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {FEATURE_COUNT}), }}");
    let header_len = NPY_PREFIX_LEN - 10;
    let mut prefix = Vec::with_capacity(NPY_PREFIX_LEN);
    prefix.extend_from_slice(b"\x93NUMPY\x01\x00");
    prefix.extend_from_slice(&(header_len as u16).to_le_bytes());
    prefix.extend_from_slice(header.as_bytes());
    prefix.resize(NPY_PREFIX_LEN - 1, b' ');
    prefix.push(b'\n');
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(node: usize, minute: u64, first: f32) -> FeatureRow {
        let mut values = [0.0; FEATURE_COUNT];
        values[0] = first;
        FeatureRow { node, minute: minute * 60_000_000, values, source_silent: false }
    }

    #[test]
    fn node_names_with_commas_and_newlines_stay_in_their_column() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("f.csv");
        let mut writer = RowWriter::create(&out, None).unwrap();
        let nodes = ["evil,node\nforged,row".to_owned(), "plain".to_owned()];
        writer.row(row(0, 29_000_000, 1.5), &nodes);
        writer.row(row(1, 29_000_001, 2.0), &nodes);
        assert_eq!(writer.finish().unwrap(), 2);
        let mut reader = csv::Reader::from_path(&out).unwrap();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(&records[0][0], "evil,node\nforged,row");
        assert_eq!(&records[0][3], "1.5");
        assert_eq!(&records[1][0], "plain");
        assert_eq!(records[1].len(), 3 + FEATURE_COUNT);
    }

    #[test]
    fn the_npy_header_is_filled_in_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("f.npy");
        let mut writer = RowWriter::create(&out, None).unwrap();
        for i in 0..3 {
            writer.row(row(0, 29_000_000 + i, i as f32), &["n".to_owned()]);
        }
        writer.finish().unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "NumPy wants the data aligned");
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (3, 130)"), "{header}");
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), NPY_PREFIX_LEN + 3 * FEATURE_COUNT * 4);
        let second = &bytes[NPY_PREFIX_LEN + FEATURE_COUNT * 4..][..4];
        assert_eq!(f32::from_le_bytes(second.try_into().unwrap()), 1.0);
        let index = std::fs::read_to_string(dir.path().join("f.rows.csv")).unwrap();
        assert_eq!(index.lines().count(), 4);
    }

    #[test]
    fn label_lines_are_bounded_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        let good = r#"{"node":"p","minute":"2026-11-21T09:00:00Z","class":"normal","severity":0}"#;
        std::fs::write(&path, format!("{good}\n\n{good}\n")).unwrap();
        assert_eq!(read_labels(&path).unwrap().len(), 1);
        std::fs::write(&path, format!("{good}\n{}\n", "x".repeat(64 * 1024))).unwrap();
        let error = read_labels(&path).unwrap_err().to_string();
        assert!(error.contains("line 2: not a label line"), "{error}");
    }

    #[test]
    fn an_unwritable_output_fails_before_any_input() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing-folder").join("f.csv");
        assert!(RowWriter::create(&out, None).is_err());
    }
}
