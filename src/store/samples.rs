//! The sample database: judged windows kept by the sampler (`sample/`), with their verdict,
//! model and provenance, an operator's label when one was given, and retention.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{Store, StoreError, advance_number, next_number};
use crate::judge::MinuteVerdict;
use crate::sample::{Kept, Retention};

/// id → the sample record, as JSON.
pub(crate) const SAMPLES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("samples");
/// id → the sample's raw window (little-endian f32, minutes × 130, oldest minute first).
pub(crate) const SAMPLE_WINDOWS: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("sample_windows");

/// An operator's word on a sample: what the traffic really was.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleLabel {
    /// `normal` or a fault class (a new one is allowed: it names a condition to enrol).
    pub class: String,
    /// Whether the verdict was right (`confirmed`) or not (`corrected`).
    pub verdict: String,
    /// Who said so.
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The reference made from it, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<u64>,
}

impl SampleLabel {
    /// `by`'s label `class` of `sample` now: `confirmed` when it names the verdict's class,
    /// else `corrected`.
    pub fn of(sample: &StoredSample, class: &str, by: &str, note: &str) -> Self {
        Self {
            class: class.to_owned(),
            verdict: if sample.class == class { "confirmed" } else { "corrected" }.to_owned(),
            by: by.to_owned(),
            at: imsight_parsers::xdr::time::format_timestamp(super::registry::now_micros()),
            note: note.to_owned(),
            reference: None,
        }
    }
}

/// One stored sample (the window itself is kept apart).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredSample {
    /// Its id (increasing).
    pub id: u64,
    /// The node.
    pub node: String,
    /// The window's last minute, µs since the epoch.
    pub minute: u64,
    /// The model that judged it (model id).
    pub model: String,
    /// The verdict: class, distance, confidence, neighbours; the alarm in force; the
    /// explanation.
    pub verdict: serde_json::Value,
    /// The verdict class (copied out of `verdict` for listing and stratifying).
    pub class: String,
    /// Where it came from: appliance, source (`live` or `replay`), the sampling stratum and
    /// its rate, when it was taken.
    pub provenance: serde_json::Value,
    /// An operator's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<SampleLabel>,
    /// Bytes it takes in the database (record and window).
    #[serde(default)]
    pub bytes: u64,
}

impl StoredSample {
    /// A sample of `verdict`'s window, judged by `model`.
    pub fn of(verdict: &MinuteVerdict, model: &str, provenance: serde_json::Value) -> Self {
        Self {
            id: 0,
            node: verdict.node.clone(),
            minute: verdict.minute,
            model: model.to_owned(),
            verdict: serde_json::json!({
                "status": verdict.status,
                "class": verdict.verdict.as_ref().map(|v| &v.class),
                "distance": verdict.verdict.as_ref().map(|v| v.distance),
                "confidence": verdict.verdict.as_ref().map(|v| v.confidence),
                "neighbours": verdict.verdict.as_ref().map(|v| &v.neighbours),
                "alarm": verdict.alarm,
                "explanation": verdict.explanation,
            }),
            class: verdict.verdict.as_ref().map(|v| v.class.clone()).unwrap_or_default(),
            provenance,
            label: None,
            bytes: 0,
        }
    }

    /// The class the sample stands for: its label's, else its verdict's.
    pub fn truth(&self) -> Option<&str> {
        self.label.as_ref().map(|l| l.class.as_str())
    }

    fn kept(&self) -> Kept {
        Kept {
            id: self.id,
            minute: self.minute,
            bytes: self.bytes,
            tier: match (&self.label, self.class.as_str()) {
                (Some(_), _) => 2,
                (None, "normal") => 0,
                (None, _) => 1,
            },
        }
    }
}

/// What a listing selects.
#[derive(Debug, Clone, Default)]
pub struct SampleFilter {
    /// Only this node.
    pub node: Option<String>,
    /// Only this verdict class.
    pub class: Option<String>,
    /// Only labelled samples.
    pub labelled: bool,
}

impl SampleFilter {
    fn matches(&self, s: &StoredSample) -> bool {
        self.node.as_ref().is_none_or(|n| *n == s.node)
            && self.class.as_ref().is_none_or(|c| *c == s.class)
            && (!self.labelled || s.label.is_some())
    }
}

fn encode_window(window: &[f32]) -> Vec<u8> {
    window.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_window(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl Store {
    /// Adds samples with their windows; returns their ids.
    pub fn add_samples(&self, samples: &[(StoredSample, &[f32])]) -> Result<Vec<u64>, StoreError> {
        let path = self.path.clone();
        self.write(|txn| {
            let mut table = txn.open_table(SAMPLES)?;
            let mut windows = txn.open_table(SAMPLE_WINDOWS)?;
            let first =
                next_number(txn, "samples", table.last()?.map_or(1, |(k, _)| k.value() + 1))?;
            let mut ids = Vec::with_capacity(samples.len());
            for (id, (sample, window)) in (first..).zip(samples) {
                let window = encode_window(window);
                let mut record = StoredSample { id, ..sample.clone() };
                // The record's own size is estimated before it is known: its JSON without
                // the count, plus the digits the count takes.
                let json = serde_json::to_vec(&record).map_err(|e| corrupt(&path, e))?;
                record.bytes = (window.len() + json.len() + 20) as u64;
                let json = serde_json::to_vec(&record).map_err(|e| corrupt(&path, e))?;
                table.insert(id, json.as_slice())?;
                windows.insert(id, window.as_slice())?;
                ids.push(id);
            }
            drop((table, windows));
            advance_number(txn, "samples", first + ids.len() as u64)?;
            Ok(ids)
        })
    }

    /// The samples `filter` selects, in id (age) order.
    pub fn samples(&self, filter: &SampleFilter) -> Result<Vec<StoredSample>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(SAMPLES).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (key, value) = entry.map_err(|e| self.fail(e))?;
            let sample: StoredSample =
                serde_json::from_slice(value.value()).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    id: key.value(),
                    reason: format!("sample: {e}"),
                })?;
            if filter.matches(&sample) {
                out.push(sample);
            }
        }
        Ok(out)
    }

    /// One sample.
    pub fn sample(&self, id: u64) -> Result<Option<StoredSample>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(SAMPLES).map_err(|e| self.fail(e))?;
        let Some(value) = table.get(id).map_err(|e| self.fail(e))? else { return Ok(None) };
        serde_json::from_slice(value.value()).map(Some).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            id,
            reason: format!("sample: {e}"),
        })
    }

    /// A sample's window.
    pub fn sample_window(&self, id: u64) -> Result<Option<Vec<f32>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(SAMPLE_WINDOWS).map_err(|e| self.fail(e))?;
        Ok(table.get(id).map_err(|e| self.fail(e))?.map(|v| decode_window(v.value())))
    }

    /// Sets a sample's label; false when there is no such sample.
    pub fn label_sample(&self, id: u64, label: &SampleLabel) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.write(|txn| {
            let mut table = txn.open_table(SAMPLES)?;
            let Some(value) = table.get(id)?.map(|v| v.value().to_vec()) else { return Ok(false) };
            let mut sample: StoredSample =
                serde_json::from_slice(&value).map_err(|e| corrupt(&path, e))?;
            sample.label = Some(label.clone());
            let json = serde_json::to_vec(&sample).map_err(|e| corrupt(&path, e))?;
            table.insert(id, json.as_slice())?;
            Ok(true)
        })
    }

    /// Removes samples; returns how many were there.
    pub fn remove_samples(&self, ids: &[u64]) -> Result<usize, StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(SAMPLES)?;
            let mut windows = txn.open_table(SAMPLE_WINDOWS)?;
            let mut removed = 0;
            for &id in ids {
                removed += usize::from(table.remove(id)?.is_some());
                windows.remove(id)?;
            }
            Ok(removed)
        })
    }

    /// Applies `retention` at `now` (µs): returns the samples removed and the bytes left.
    pub fn prune_samples(
        &self,
        retention: &Retention,
        now: u64,
    ) -> Result<(usize, u64), StoreError> {
        let all = self.samples(&SampleFilter::default())?;
        let kept: Vec<Kept> = all.iter().map(StoredSample::kept).collect();
        let plan = retention.plan(&kept, now);
        let removed = if plan.is_empty() { 0 } else { self.remove_samples(&plan)? };
        let gone: std::collections::HashSet<u64> = plan.into_iter().collect();
        let left = kept.iter().filter(|k| !gone.contains(&k.id)).map(|k| k.bytes).sum();
        Ok((removed, left))
    }
}

/// What [`SampleKeeper::keep`] did with one batch of judgements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptCount {
    /// Samples stored, by verdict class.
    pub samples: Vec<(String, u64)>,
    /// Shadow verdicts stored: (agreeing with the active model, disagreeing).
    pub shadow: (u64, u64),
    /// Samples retention removed, and the bytes left then (when it ran).
    pub pruned: Option<(usize, u64)>,
}

/// Takes the samples and shadow verdicts out of the judge's output and stores them; runs
/// retention every `prune_every` minutes of event time (the minutes judged are the clock).
#[derive(Debug, Clone)]
pub struct SampleKeeper {
    retention: Retention,
    provenance: serde_json::Value,
    prune_every: u64,
    last_prune: Option<u64>,
    /// Whether retention runs (a replay that only stores shadow verdicts leaves the sample
    /// database alone: its clock is the replayed traffic's).
    pruning: bool,
    /// (shadow model, node) pairs whose verdicts were stored: their old ones are pruned too.
    shadowed: std::collections::BTreeSet<(String, String)>,
}

impl SampleKeeper {
    /// A keeper writing `provenance` (appliance, source) into every sample.
    pub fn new(retention: Retention, provenance: serde_json::Value) -> Self {
        Self {
            retention,
            provenance,
            prune_every: 10 * crate::time::MINUTE_US,
            last_prune: None,
            pruning: true,
            shadowed: Default::default(),
        }
    }

    /// A keeper that stores but never prunes.
    pub fn without_retention(mut self) -> Self {
        self.pruning = false;
        self
    }

    /// Stores what is for the store and leaves the rest in `judgements`.
    pub fn keep(
        &mut self,
        store: &Store,
        judgements: &mut Vec<crate::judge::Judgement>,
    ) -> Result<KeptCount, StoreError> {
        use crate::judge::Judgement;
        let mut samples = Vec::new();
        let mut shadow = Vec::new();
        let mut newest = None;
        let mut rest = Vec::with_capacity(judgements.len());
        for j in judgements.drain(..) {
            match j {
                Judgement::Sample(sample) => samples.push(*sample),
                Judgement::Shadow(verdict) => shadow.push(verdict),
                other => {
                    if let Judgement::Minute(m) = &other {
                        newest = newest.max(Some(m.minute));
                    }
                    rest.push(other);
                }
            }
        }
        *judgements = rest;
        let mut count = KeptCount::default();
        if !samples.is_empty() {
            let records: Vec<(StoredSample, &[f32])> = samples
                .iter()
                .map(|s| {
                    let mut provenance = self.provenance.clone();
                    if let Some(object) = provenance.as_object_mut() {
                        object.insert(
                            "stratum".into(),
                            s.verdict.verdict.as_ref().map(|v| v.class.clone()).into(),
                        );
                        object.insert("rate".into(), s.rate.into());
                    }
                    (StoredSample::of(&s.verdict, &s.model, provenance), s.window.as_slice())
                })
                .collect();
            store.add_samples(&records)?;
            let mut by_class: std::collections::BTreeMap<String, u64> = Default::default();
            for (r, _) in &records {
                *by_class.entry(r.class.clone()).or_default() += 1;
            }
            count.samples = by_class.into_iter().collect();
        }
        if !shadow.is_empty() {
            store.save_shadow_verdicts(&shadow)?;
            self.shadowed.extend(shadow.iter().map(|v| (v.model.clone(), v.node.clone())));
            let agree = shadow.iter().filter(|v| v.class == v.active_class).count() as u64;
            count.shadow = (agree, shadow.len() as u64 - agree);
        }
        if let Some(now) = newest.filter(|_| self.pruning)
            && self.last_prune.is_none_or(|last| now >= last + self.prune_every)
        {
            self.last_prune = Some(now);
            count.pruned = Some(store.prune_samples(&self.retention, now)?);
            // Shadow verdicts are kept as long as samples are.
            let before = now.saturating_sub(self.retention.max_age_us);
            for (model, node) in &self.shadowed {
                store.prune_shadow_verdicts(model, node, before)?;
            }
        }
        Ok(count)
    }
}

fn corrupt(path: &std::path::Path, error: impl std::fmt::Display) -> redb::Error {
    redb::Error::Corrupted(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Status;
    use crate::matcher::Verdict;

    fn verdict(node: &str, minute: u64, class: &str) -> MinuteVerdict {
        MinuteVerdict {
            node: node.into(),
            minute,
            status: Status::Normal,
            verdict: Some(Verdict {
                class: class.into(),
                distance: 0.25,
                confidence: 0.9,
                neighbours: Vec::new(),
            }),
            alarm: None,
            explanation: Vec::new(),
        }
    }

    #[test]
    fn samples_persist_with_windows_labels_and_filters() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let window: Vec<f32> = (0..60 * 130).map(|i| i as f32 * 0.5).collect();
        let a = StoredSample::of(
            &verdict("p1", 60, "normal"),
            "m1",
            serde_json::json!({"source": "test"}),
        );
        let b = StoredSample::of(&verdict("p2", 120, "hss_link_down"), "m1", serde_json::json!({}));
        let ids = store.add_samples(&[(a, &window), (b, &window)]).expect("add");
        assert_eq!(ids, [1, 2]);
        let all = store.samples(&SampleFilter::default()).expect("list");
        assert_eq!(all.len(), 2);
        assert!(all[0].bytes > 31_200, "window and record counted: {}", all[0].bytes);
        assert_eq!(all[1].verdict["distance"], 0.25);
        assert_eq!(store.sample_window(2).expect("read"), Some(window.clone()));
        let label = SampleLabel {
            class: "normal".into(),
            verdict: "corrected".into(),
            by: "noc".into(),
            at: "2026-12-01T00:00:00Z".into(),
            note: "maintenance".into(),
            reference: None,
        };
        assert!(store.label_sample(2, &label).expect("label"));
        assert!(!store.label_sample(9, &label).expect("label"));
        let labelled =
            store.samples(&SampleFilter { labelled: true, ..Default::default() }).expect("list");
        assert_eq!(labelled.len(), 1);
        assert_eq!(labelled[0].truth(), Some("normal"));
        let p1 = store
            .samples(&SampleFilter { node: Some("p1".into()), ..Default::default() })
            .expect("list");
        assert_eq!(p1.len(), 1);
        assert_eq!(store.remove_samples(&[1, 7]).expect("remove"), 1);
        assert_eq!(store.sample_window(1).expect("read"), None);
        // Numbers are never reused.
        let c = StoredSample::of(&verdict("p1", 180, "normal"), "m1", serde_json::json!({}));
        assert_eq!(store.add_samples(&[(c, &window)]).expect("add"), [3]);
    }
}
