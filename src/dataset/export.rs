//! Samples written as a training dataset: the folder format `training/` reads
//! (`imsight_training/dataset.py`): `minutes.npy` (float32 `[windows × minutes, 130]`, each
//! sample's window in turn), `minutes.npz` and `windows.npz` (per row and per window: sample,
//! node, minute, class, ...), and `manifest.json` (classes, feature names and schema, SHA-256
//! of every file, and each sample's provenance). One sample is one scenario of the dataset, so
//! windows never straddle splits.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::schema::{FEATURE_COUNT, catalogue, schema_hash};

/// One window to export, with what the manifest says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportWindow {
    /// Where it came from (the sample id).
    pub id: u64,
    /// The node.
    pub node: String,
    /// The window's last minute, µs since the epoch.
    pub minute: u64,
    /// Its class.
    pub class: String,
    /// `operator` (a label) or `verdict` (the model's class).
    pub label_source: &'static str,
    /// Everything else known of it, for the manifest (verdict, model, provenance, label).
    pub about: serde_json::Value,
    /// The window, `minutes × 130` raw values, oldest first.
    pub window: Vec<f32>,
}

/// The training side's phases (`dataset.py`, PHASES); exported windows are `steady` (a
/// sample says nothing of ramps and recovery tails).
const PHASES: [&str; 4] = ["", "onset", "steady", "recovery"];

/// One array of an `.npz`.
enum Array {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    Text(Vec<String>),
}

impl Array {
    /// The array as an `.npy` file (version 1.0, one dimension).
    fn npy(&self) -> Vec<u8> {
        let (descr, len, data): (String, usize, Vec<u8>) = match self {
            Self::I8(v) => {
                ("|i1".into(), v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Self::I16(v) => {
                ("<i2".into(), v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Self::I32(v) => {
                ("<i4".into(), v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Self::I64(v) => {
                ("<i8".into(), v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Self::F32(v) => {
                ("<f4".into(), v.len(), v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Self::Text(v) => {
                // NumPy's fixed-width unicode: UTF-32 little-endian, padded with zeros.
                let width = v.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
                let mut data = Vec::with_capacity(v.len() * width * 4);
                for s in v {
                    let mut n = 0;
                    for c in s.chars() {
                        data.extend_from_slice(&(c as u32).to_le_bytes());
                        n += 1;
                    }
                    data.resize(data.len() + (width - n) * 4, 0);
                }
                (format!("<U{width}"), v.len(), data)
            }
        };
        npy(&descr, &format!("({len},)"), &data)
    }
}

/// An `.npy` file: magic, version 1.0, the header padded to a multiple of 64 bytes, the data.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write_npz(path: &Path, arrays: &[(&str, Array)]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        // A fixed time: the same samples give the same bytes.
        .last_modified_time(zip::DateTime::default());
    for (name, array) in arrays {
        zip.start_file(format!("{name}.npy"), options)?;
        zip.write_all(&array.npy())?;
    }
    zip.finish()?.flush()?;
    Ok(())
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Windows (samples) written.
    pub windows: usize,
    /// Of them, labelled by an operator (the others carry the verdict as their class).
    pub labelled: usize,
    /// Windows per class.
    pub classes: std::collections::BTreeMap<String, usize>,
}

/// Writes `samples` (windows of `window_minutes × 130` values) to `out` in the training
/// dataset format; the manifest keeps each one's `about`. Every window goes to `split`.
pub fn write_training_set(
    out: &Path,
    samples: &[ExportWindow],
    window_minutes: usize,
    split: &str,
) -> anyhow::Result<Exported> {
    std::fs::create_dir_all(out)?;
    let size = window_minutes * FEATURE_COUNT;
    // The manifest carries the class list its labels index into: `normal` first, then the
    // others by name.
    let mut classes: Vec<String> = vec!["normal".to_owned()];
    let mut others: Vec<&str> =
        samples.iter().map(|s| s.class.as_str()).filter(|c| *c != "normal").collect();
    others.sort_unstable();
    others.dedup();
    classes.extend(others.into_iter().map(str::to_owned));
    let mut nodes: Vec<String> = Vec::new();
    let index_of = |list: &mut Vec<String>, name: &str| match list.iter().position(|c| c == name) {
        Some(i) => i,
        None => {
            list.push(name.to_owned());
            list.len() - 1
        }
    };
    let steady = PHASES.iter().position(|p| *p == "steady").unwrap_or(0) as i8;
    let mut minutes = Vec::with_capacity(samples.len() * size * 4);
    let (mut row_scenario, mut row_node, mut row_minute, mut row_label) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ends, mut window_label, mut sources, mut provenance) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut exported = Exported { windows: 0, labelled: 0, classes: Default::default() };
    for (scenario, sample) in samples.iter().enumerate() {
        let window = &sample.window;
        if window.len() != size {
            anyhow::bail!(
                "sample {} holds {} values, a {window_minutes}-minute window has {size}",
                sample.id,
                window.len()
            );
        }
        let (class, source) = (sample.class.clone(), sample.label_source);
        let label = index_of(&mut classes, &class) as i16;
        let node = index_of(&mut nodes, &sample.node) as i16;
        minutes.extend(window.iter().flat_map(|v| v.to_le_bytes()));
        for m in 0..window_minutes {
            row_scenario.push(scenario as i32);
            row_node.push(node);
            let back = (window_minutes - 1 - m) as u64 * crate::time::MINUTE_US;
            row_minute.push((sample.minute.saturating_sub(back) / crate::time::MINUTE_US) as i64);
            row_label.push(label);
        }
        ends.push(((scenario + 1) * window_minutes - 1) as i64);
        window_label.push(label);
        sources.push(source);
        exported.windows += 1;
        exported.labelled += usize::from(source == "operator");
        *exported.classes.entry(class.clone()).or_default() += 1;
        let mut about = serde_json::json!({
            "sample": sample.id,
            "node": sample.node,
            "minute": imsight_parsers::xdr::time::format_timestamp(sample.minute),
            "class": class,
            "label_source": source,
        });
        if let (Some(object), Some(more)) = (about.as_object_mut(), sample.about.as_object()) {
            object.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        provenance.push(about);
    }
    let rows = row_scenario.len();
    std::fs::write(
        out.join("minutes.npy"),
        npy("<f4", &format!("({rows}, {FEATURE_COUNT})"), &minutes),
    )?;
    let n = samples.len();
    write_npz(
        &out.join("minutes.npz"),
        &[
            ("scenario", Array::I32(row_scenario)),
            ("node", Array::I16(row_node)),
            ("minute", Array::I64(row_minute)),
            ("label", Array::I16(row_label)),
            ("severity", Array::F32(vec![0.0; rows])),
            ("phase", Array::I8(vec![steady; rows])),
            ("event", Array::I8(vec![0; rows])),
            ("silent", Array::I8(vec![0; rows])),
        ],
    )?;
    write_npz(
        &out.join("windows.npz"),
        &[
            ("end", Array::I64(ends)),
            ("label", Array::I16(window_label.clone())),
            ("phase", Array::I8(vec![steady; n])),
            ("event", Array::I8(vec![0; n])),
            ("scenario", Array::I32((0..n as i32).collect())),
            ("split", Array::Text(vec![split.to_owned(); n])),
            ("part", Array::Text(vec!["samples".to_owned(); n])),
        ],
    )?;
    let mut files = serde_json::Map::new();
    for name in ["minutes.npy", "minutes.npz", "windows.npz"] {
        files.insert(name.into(), sha256_file(&out.join(name))?.into());
    }
    let content_hash: String =
        Sha256::digest(serde_json::to_vec(&files)?).iter().map(|b| format!("{b:02x}")).collect();
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for &label in &window_label {
        *counts.entry(classes[label as usize].as_str()).or_default() += 1;
    }
    let manifest = serde_json::json!({
        "source": "imsight samples export",
        "binary": format!("imsight {}", env!("CARGO_PKG_VERSION")),
        "feature_schema": crate::schema::SCHEMA_ID,
        "feature_schema_hash": schema_hash(),
        "feature_names": catalogue().iter().map(|f| f.name).collect::<Vec<_>>(),
        "classes": classes,
        "phases": PHASES,
        "events": [""],
        "window_minutes": window_minutes,
        "nodes": nodes,
        "scenarios": provenance.iter().enumerate().map(|(i, p)| serde_json::json!({
            "name": format!("sample-{}", p["sample"]), "seed": i, "part": "samples", "split": split,
            "profiles": [],
        })).collect::<Vec<_>>(),
        "minutes": rows,
        "windows": { split: counts },
        "label_source": sources,
        "samples": provenance,
        "files": files,
        "content_hash": content_hash,
    });
    std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(exported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_headers_are_padded_to_64_bytes_and_text_is_utf32() {
        let bytes = Array::Text(vec!["ab".into(), "c".into()]).npy();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii");
        assert!(header.contains("'descr': '<U2'") && header.contains("'shape': (2,)"), "{header}");
        assert!(header.ends_with('\n'));
        let data = &bytes[10 + header_len..];
        assert_eq!(data, [b'a', 0, 0, 0, b'b', 0, 0, 0, b'c', 0, 0, 0, 0, 0, 0, 0]);
        let ints = Array::I16(vec![1, -2]).npy();
        assert_eq!(&ints[ints.len() - 4..], [1, 0, 0xfe, 0xff]);
    }
}
