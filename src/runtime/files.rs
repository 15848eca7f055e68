//! A directory that probes keep writing into (`sources.input_dir`): pcap and pcapng captures
//! and probe-record files (CSV or JSON lines, docs/formats.md). Each finished file is read
//! once, in name order, through the same pipeline as live HEP, then moved to
//! `processed/` (or, when it cannot be read, to `rejected/`, counted and logged), so the
//! directory shows what is left to do and a restart does not read a file twice.
//!
//! A file is finished when its size and modification time have not changed for
//! `sources.input_settle_secs`; names starting with `.` or ending in `.part` or `.tmp` are
//! files being written and are left alone (write, then rename into place, is the safe way).
//! Reading blocks while the pipeline is behind: nothing is dropped.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::Addr;

use super::messages::{CaptureBatch, RecordBatch};
use super::pipeline::FeaturePipelineActor;
use super::topology::CAPTURE_BATCH;
use crate::sources::{InputKind, OwnedCaptureEvent, OwnedRecord, open_input, read_capture};
use crate::telemetry::Metrics;

/// The metrics label of this source.
pub const SOURCE: &str = "input_dir";
/// How often the directory is listed.
const POLL: Duration = Duration::from_secs(1);

/// Where captures arrive.
#[derive(Debug, Clone)]
pub struct InputDirSettings {
    /// The directory.
    pub dir: PathBuf,
    /// How long a file must stay unchanged before it is read.
    pub settle: Duration,
}

/// Watches the directory on a thread of its own; batches go to `pipeline` through `runtime`
/// (waiting for mailbox room).
pub fn spawn_input_dir(
    settings: InputDirSettings,
    pipeline: Addr<FeaturePipelineActor>,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
) -> std::io::Result<()> {
    for sub in ["processed", "rejected"] {
        std::fs::create_dir_all(settings.dir.join(sub))?;
    }
    tracing::info!(dir = %settings.dir.display(), "reading captures from a directory");
    let up = metrics.up.with_label_values(&[SOURCE]);
    up.set(1);
    std::thread::Builder::new().name("input-dir".into()).spawn(move || {
        let mut seen: HashMap<PathBuf, (u64, SystemTime)> = HashMap::new();
        loop {
            for path in finished(&settings, &mut seen) {
                if !path.exists() {
                    // Taken away before it was read (a clean-up job): nothing to do.
                    seen.remove(&path);
                    continue;
                }
                let outcome = read_one(&path, &pipeline, &metrics, &runtime);
                let Some(outcome) = outcome else { return };
                let to = match &outcome {
                    Ok(()) => "processed",
                    Err((reason, message)) => {
                        metrics.rejected.with_label_values(&[SOURCE, reason]).inc();
                        tracing::warn!(file = %path.display(), %message, "capture rejected");
                        "rejected"
                    }
                };
                seen.remove(&path);
                if let Err(error) = set_aside(&path, &settings.dir.join(to)) {
                    // Left in place it would be read again: stop reading rather than
                    // count the same traffic twice (imsight_up{component="input_dir"} 0).
                    tracing::error!(file = %path.display(), %error, "cannot move a read file; the directory is no longer read");
                    up.set(0);
                    return;
                }
            }
            std::thread::sleep(POLL);
        }
    })?;
    Ok(())
}

/// Moves `path` into `into`, under a new name if one of its name is there already.
fn set_aside(path: &Path, into: &Path) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut target = into.join(&name);
    let mut n = 1;
    while target.exists() {
        target = into.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(path, target)
}

/// The files that have not changed for the settle time, in name order; remembers the size
/// and time of the others.
fn finished(
    settings: &InputDirSettings,
    seen: &mut HashMap<PathBuf, (u64, SystemTime)>,
) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&settings.dir) else { return Vec::new() };
    let mut ready = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".part") || name.ends_with(".tmp") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let now = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        let settled = now.1.elapsed().is_ok_and(|age| age >= settings.settle);
        if seen.insert(path.clone(), now) == Some(now) && settled {
            ready.push(path);
        }
    }
    ready.sort();
    ready
}

/// Reads one capture or probe-record file into the pipeline: `None` when the appliance is stopping, else whether
/// it was read (with the reason label and message when not).
fn read_one(
    path: &Path,
    pipeline: &Addr<FeaturePipelineActor>,
    metrics: &Metrics,
    runtime: &tokio::runtime::Handle,
) -> Option<Result<(), (&'static str, String)>> {
    let opened = match open_input(path, |f| f) {
        Ok(opened) => opened,
        Err(error) => return Some(Err(("unreadable", error.to_string()))),
    };
    if let InputKind::Records(format) = opened.kind {
        tracing::warn!(file = %path.display(), "{}", crate::sources::RECORDS_JUDGED_WARNING);
        return read_records_file(path, opened.reader, format, pipeline, metrics, runtime);
    }
    let received = metrics.received.with_label_values(&[SOURCE]);
    let mut batch = Vec::with_capacity(CAPTURE_BATCH);
    let mut stopping = false;
    let decoder = imsight_parsers::capture::DecoderConfig::default();
    let (summary, read) = read_capture(opened.reader, &decoder, |event| {
        if matches!(event, crate::sources::CaptureEvent::Sip(_)) {
            received.inc();
        }
        batch.push(OwnedCaptureEvent::from(event));
        if batch.len() == CAPTURE_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(CAPTURE_BATCH));
            stopping = runtime.block_on(pipeline.send(CaptureBatch(full))).is_err();
        }
        if stopping { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    if !stopping && !batch.is_empty() {
        stopping = runtime.block_on(pipeline.send(CaptureBatch(batch))).is_err();
    }
    if stopping {
        return None;
    }
    tracing::info!(file = %path.display(), frames = summary.frames, "capture read");
    Some(read.map_err(|error| ("damaged", format!("read up to the damage: {error}"))))
}

/// Reads one probe-record file into the pipeline; lines that are not records are counted
/// (`reason="bad_record_line"`) and skipped.
fn read_records_file(
    path: &Path,
    reader: impl std::io::BufRead,
    format: crate::sources::RecordFormat,
    pipeline: &Addr<FeaturePipelineActor>,
    metrics: &Metrics,
    runtime: &tokio::runtime::Handle,
) -> Option<Result<(), (&'static str, String)>> {
    let received = metrics.received.with_label_values(&[SOURCE]);
    let bad_lines = metrics.rejected.with_label_values(&[SOURCE, "bad_record_line"]);
    let mut batch = Vec::with_capacity(CAPTURE_BATCH);
    let (mut stopping, mut records) = (false, 0u64);
    crate::sources::read_records(reader, format, |_, line| {
        match line {
            Ok(record) => {
                records += 1;
                batch.push(OwnedRecord::new(record));
            }
            Err(_) => bad_lines.inc(),
        }
        if batch.len() == CAPTURE_BATCH {
            received.inc_by(batch.len() as u64);
            let full = std::mem::replace(&mut batch, Vec::with_capacity(CAPTURE_BATCH));
            stopping = runtime.block_on(pipeline.send(RecordBatch(full))).is_err();
        }
        if stopping { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    if !stopping && !batch.is_empty() {
        received.inc_by(batch.len() as u64);
        stopping = runtime.block_on(pipeline.send(RecordBatch(batch))).is_err();
    }
    if stopping {
        return None;
    }
    tracing::info!(file = %path.display(), records, "probe records read");
    Some(Ok(()))
}
