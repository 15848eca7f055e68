//! The state database (redb, one file `imsight.redb` under `appliance.state_dir`): the
//! reference store (DESIGN §7, §9), the model registry, decision states and the outbox. Edge
//! room: it does file I/O; callers off the async reactor only.
//!
//! References are labelled embeddings, each tied to the model that made it (the model id:
//! the first 16 hex digits of the SHA-256 of the ONNX file), with a scope (global, or one
//! node's own), provenance, and for enrolled references the raw window they were made from,
//! so that they can be embedded again by another model.

pub mod outbox;
pub mod registry;
pub mod samples;

pub use samples::{KeptCount, SampleFilter, SampleKeeper, SampleLabel, StoredSample};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};

use crate::matcher::Reference;
use crate::matcher::pack::{FORMAT, PackedReference, ReferencePack};

/// The database file inside the state directory.
pub const DATABASE_FILE: &str = "imsight.redb";

/// id → the reference as JSON.
const REFERENCES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("references");
/// id → the raw window (little-endian f32, minutes × 130) an enrolled reference came from.
const WINDOWS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("reference_windows");
/// model id → the matching parameters of its shipped pack, as JSON.
const PACK_PARAMS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("pack_params");
/// model id → the registered model, as JSON.
const MODELS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("models");
/// `active`, `previous`, `shadow` → model id.
const MODEL_SLOTS: TableDefinition<'_, &str, &str> = TableDefinition::new("model_slots");
/// sequence name → the next number to hand out: numbers are never reused, even after the
/// highest one was removed (the publisher and operators identify messages and references by
/// them).
const SEQUENCES: TableDefinition<'_, &str, u64> = TableDefinition::new("sequences");
/// node → its decision state (alarm in force, runs, recent raises), as JSON.
pub(crate) const DECISIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("decisions");
/// (shadow model, node, minute) → the shadow model's verdict beside the active one's, as JSON.
const SHADOW_VERDICTS: TableDefinition<'_, (&str, &str, u64), &[u8]> =
    TableDefinition::new("shadow_verdicts");
/// (node, minute) → that minute's row: a flag byte (1 = the source was silent), then the
/// features as little-endian f32. The last window's worth per node, so that a restart judges
/// at once.
const MINUTES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("recent_minutes");

/// A model known to the store.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegisteredModel {
    /// The model id (content hash).
    pub id: String,
    /// The ONNX file.
    pub path: PathBuf,
    /// `imsight.model_name` and `imsight.model_version` of its metadata.
    pub name: String,
    /// Its version.
    pub version: String,
    /// When it was registered (RFC 3339).
    pub registered: String,
}

/// Where a reference applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "node")]
pub enum Scope {
    /// Every node (the shipped pack, or operator-added).
    Global,
    /// One node.
    Node(String),
}

/// One stored reference.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredReference {
    /// Its id in the store.
    #[serde(default)]
    pub id: u64,
    /// `normal` or a fault kind.
    pub class: String,
    /// Where it applies.
    #[serde(flatten)]
    pub scope: Scope,
    /// The model that made the embedding.
    pub model: String,
    /// The embedding.
    pub embedding: Vec<f32>,
    /// Where it came from: the file, node and minutes for an enrolment, the scenario for the
    /// shipped pack; who or what added it and when.
    #[serde(default)]
    pub provenance: serde_json::Value,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb failed (the file is named).
    #[error("state database {}: {reason}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// What redb said.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A stored record does not decode (written by another version?).
    #[error("state database {}: reference {id} does not decode: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The record.
        id: u64,
        /// Why.
        reason: String,
    },
}

/// Adds references inside a write transaction; returns their ids.
fn add_in(
    txn: &redb::WriteTransaction,
    path: &Path,
    references: &[(StoredReference, Option<&[f32]>)],
) -> Result<Vec<u64>, redb::Error> {
    let mut table = txn.open_table(REFERENCES)?;
    let mut windows = txn.open_table(WINDOWS)?;
    let first = next_number(txn, "references", table.last()?.map_or(1, |(k, _)| k.value() + 1))?;
    let mut ids = Vec::with_capacity(references.len());
    for (next, (reference, window)) in (first..).zip(references) {
        let record = StoredReference { id: next, ..reference.clone() };
        let json = serde_json::to_vec(&record)
            .map_err(|e| redb::Error::Corrupted(format!("{}: {e}", path.display())))?;
        table.insert(next, json.as_slice())?;
        if let Some(window) = window {
            let bytes: Vec<u8> = window.iter().flat_map(|v| v.to_le_bytes()).collect();
            windows.insert(next, bytes.as_slice())?;
        }
        ids.push(next);
    }
    drop((table, windows));
    advance_number(txn, "references", first + ids.len() as u64)?;
    Ok(ids)
}

/// The first number of sequence `name` to hand out: after the highest ever handed out, and
/// after `after_last` (the table's last key + 1).
pub(crate) fn next_number(
    txn: &redb::WriteTransaction,
    name: &str,
    after_last: u64,
) -> Result<u64, redb::Error> {
    let table = txn.open_table(SEQUENCES)?;
    let stored = table.get(name)?.map_or(1, |v| v.value());
    Ok(stored.max(after_last))
}

/// Records that numbers below `next` of sequence `name` were handed out.
pub(crate) fn advance_number(
    txn: &redb::WriteTransaction,
    name: &str,
    next: u64,
) -> Result<(), redb::Error> {
    txn.open_table(SEQUENCES)?.insert(name, next)?;
    Ok(())
}

/// The model id of an ONNX file.
pub fn model_id(path: &Path) -> Result<String, StoreError> {
    let bytes = std::fs::read(path)
        .map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// The state database.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    db: Database,
}

impl Store {
    /// Opens the database in `state_dir`, creating both when missing.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|source| StoreError::Io { path: state_dir.to_path_buf(), source })?;
        let path = state_dir.join(DATABASE_FILE);
        let db = Database::create(&path)
            .map_err(|e| StoreError::Database { path: path.clone(), reason: e.to_string() })?;
        let store = Self { path, db };
        store.write(|txn| {
            txn.open_table(REFERENCES)?;
            txn.open_table(WINDOWS)?;
            txn.open_table(PACK_PARAMS)?;
            txn.open_table(MODELS)?;
            txn.open_table(MODEL_SLOTS)?;
            txn.open_table(DECISIONS)?;
            txn.open_table(MINUTES)?;
            txn.open_table(SEQUENCES)?;
            txn.open_table(outbox::OUTBOX)?;
            txn.open_table(samples::SAMPLES)?;
            txn.open_table(SHADOW_VERDICTS)?;
            txn.open_table(samples::SAMPLE_WINDOWS)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// Opens the database in `state_dir` if there is one.
    pub fn open_existing(state_dir: &Path) -> Result<Option<Self>, StoreError> {
        if state_dir.join(DATABASE_FILE).is_file() {
            Self::open(state_dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::Database { path: self.path.clone(), reason: error.to_string() }
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        let value = f(&txn).map_err(|e| self.fail(e))?;
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(value)
    }

    /// Adds references (their ids are assigned), with the raw windows of those that have
    /// one; returns the ids.
    pub fn add(
        &self,
        references: &[(StoredReference, Option<&[f32]>)],
    ) -> Result<Vec<u64>, StoreError> {
        let path = self.path.clone();
        self.write(|txn| add_in(txn, &path, references))
    }

    /// Every reference, in id order.
    pub fn list(&self) -> Result<Vec<StoredReference>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(REFERENCES).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (key, value) = entry.map_err(|e| self.fail(e))?;
            let record: StoredReference =
                serde_json::from_slice(value.value()).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    id: key.value(),
                    reason: e.to_string(),
                })?;
            out.push(record);
        }
        Ok(out)
    }

    /// The raw window of an enrolled reference.
    pub fn window(&self, id: u64) -> Result<Option<Vec<f32>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(WINDOWS).map_err(|e| self.fail(e))?;
        let Some(value) = table.get(id).map_err(|e| self.fail(e))? else { return Ok(None) };
        Ok(Some(
            value
                .value()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    /// Removes references by id; returns how many existed.
    pub fn remove(&self, ids: &[u64]) -> Result<usize, StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(REFERENCES)?;
            let mut windows = txn.open_table(WINDOWS)?;
            let mut removed = 0;
            for id in ids {
                if table.remove(id)?.is_some() {
                    removed += 1;
                }
                windows.remove(id)?;
            }
            Ok(removed)
        })
    }

    /// Imports a model's shipped reference pack as its global references (once: a model
    /// whose pack is already imported is left as it is); returns how many were added.
    pub fn import_pack(
        &self,
        model: &str,
        pack: &ReferencePack,
        source: &str,
    ) -> Result<usize, StoreError> {
        if self.pack_params(model)?.is_some() {
            return Ok(0);
        }
        let records: Vec<(StoredReference, Option<&[f32]>)> = pack
            .references
            .iter()
            .map(|r| {
                let provenance = serde_json::json!({"pack": source, "origin": r.provenance});
                (
                    StoredReference {
                        id: 0,
                        class: r.class.clone(),
                        scope: Scope::Global,
                        model: model.to_owned(),
                        embedding: r.embedding.clone(),
                        provenance,
                    },
                    None,
                )
            })
            .collect();
        let params =
            serde_json::json!({"k": pack.k, "quantile": pack.quantile, "scale": pack.scale});
        let bytes = params.to_string().into_bytes();
        // One transaction: a crash leaves the pack either wholly imported or not at all.
        let path = self.path.clone();
        self.write(|txn| {
            let added = add_in(txn, &path, &records)?.len();
            txn.open_table(PACK_PARAMS)?.insert(model, bytes.as_slice())?;
            Ok(added)
        })
    }

    fn pack_params(&self, model: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(PACK_PARAMS).map_err(|e| self.fail(e))?;
        let value = table.get(model).map_err(|e| self.fail(e))?;
        Ok(value.and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// The global references of `model` as a pack, when its pack was imported.
    pub fn global_pack(&self, model: &str) -> Result<Option<ReferencePack>, StoreError> {
        let Some(params) = self.pack_params(model)? else { return Ok(None) };
        let references = self
            .list()?
            .into_iter()
            .filter(|r| r.model == model && r.scope == Scope::Global)
            .map(|r| PackedReference {
                class: r.class,
                embedding: r.embedding,
                provenance: r.provenance,
            })
            .collect();
        Ok(Some(ReferencePack {
            format: FORMAT.to_owned(),
            k: params["k"].as_u64().unwrap_or(5) as usize,
            quantile: params["quantile"].as_f64().unwrap_or(0.95),
            scale: params["scale"].as_f64().unwrap_or(1.5),
            thresholds: BTreeMap::new(),
            references,
        }))
    }

    /// The per-node references of `model`, by node.
    pub fn node_references(
        &self,
        model: &str,
    ) -> Result<BTreeMap<String, Vec<Reference>>, StoreError> {
        let mut out: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
        for r in self.list()? {
            if let (Scope::Node(node), true) = (&r.scope, r.model == model) {
                out.entry(node.clone())
                    .or_default()
                    .push(Reference { class: r.class, embedding: r.embedding });
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Registers a model (again: its record is replaced).
    pub fn register_model(&self, model: &RegisteredModel) -> Result<(), StoreError> {
        let json = serde_json::to_vec(model).map_err(|e| self.fail(e))?;
        self.write(|txn| {
            txn.open_table(MODELS)?.insert(model.id.as_str(), json.as_slice())?;
            Ok(())
        })
    }

    /// Every registered model.
    pub fn models(&self) -> Result<Vec<RegisteredModel>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(MODELS).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (_, value) = entry.map_err(|e| self.fail(e))?;
            out.push(serde_json::from_slice(value.value()).map_err(|e| self.fail(e))?);
        }
        Ok(out)
    }

    /// The active and the previous model ids.
    pub fn model_slots(&self) -> Result<(Option<String>, Option<String>), StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(MODEL_SLOTS).map_err(|e| self.fail(e))?;
        let get = |key: &str| -> Result<Option<String>, StoreError> {
            Ok(table.get(key).map_err(|e| self.fail(e))?.map(|v| v.value().to_owned()))
        };
        Ok((get("active")?, get("previous")?))
    }

    /// The active model, if one was activated.
    pub fn active_model(&self) -> Result<Option<RegisteredModel>, StoreError> {
        let (active, _) = self.model_slots()?;
        Ok(active.and_then(|id| self.models().ok()?.into_iter().find(|m| m.id == id)))
    }

    /// Makes `id` the active model; the one active before becomes the previous one.
    pub fn activate(&self, id: &str) -> Result<(), StoreError> {
        let (active, _) = self.model_slots()?;
        self.write(|txn| {
            let mut slots = txn.open_table(MODEL_SLOTS)?;
            if let Some(old) = active.as_deref().filter(|old| *old != id) {
                slots.insert("previous", old)?;
            }
            slots.insert("active", id)?;
            // A model that becomes active no longer shadows itself.
            if slots.get("shadow")?.is_some_and(|v| v.value() == id) {
                slots.remove("shadow")?;
            }
            Ok(())
        })
    }

    /// The shadow model's id, when one is set.
    pub fn shadow_slot(&self) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(MODEL_SLOTS).map_err(|e| self.fail(e))?;
        Ok(table.get("shadow").map_err(|e| self.fail(e))?.map(|v| v.value().to_owned()))
    }

    /// The shadow model, when one is set.
    pub fn shadow_model(&self) -> Result<Option<RegisteredModel>, StoreError> {
        let shadow = self.shadow_slot()?;
        Ok(shadow.and_then(|id| self.models().ok()?.into_iter().find(|m| m.id == id)))
    }

    /// Sets (or with `None` removes) the shadow model.
    pub fn set_shadow(&self, id: Option<&str>) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut slots = txn.open_table(MODEL_SLOTS)?;
            match id {
                Some(id) => slots.insert("shadow", id)?,
                None => slots.remove("shadow")?,
            };
            Ok(())
        })
    }

    /// Stores shadow verdicts (a later verdict of the same model, node and minute replaces
    /// the earlier one).
    pub fn save_shadow_verdicts(
        &self,
        verdicts: &[crate::judge::ShadowVerdict],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|txn| {
            let mut table = txn.open_table(SHADOW_VERDICTS)?;
            for v in verdicts {
                let json = serde_json::to_vec(v)
                    .map_err(|e| redb::Error::Corrupted(format!("{}: {e}", path.display())))?;
                table.insert((v.model.as_str(), v.node.as_str(), v.minute), json.as_slice())?;
            }
            Ok(())
        })
    }

    /// Removes the verdicts of shadow model `model` for `node` of minutes before `before`
    /// (µs); returns how many.
    pub fn prune_shadow_verdicts(
        &self,
        model: &str,
        node: &str,
        before: u64,
    ) -> Result<usize, StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(SHADOW_VERDICTS)?;
            let old: Vec<u64> = table
                .range((model, node, 0)..(model, node, before))?
                .filter_map(|e| e.ok().map(|(k, _)| k.value().2))
                .collect();
            for minute in &old {
                table.remove((model, node, *minute))?;
            }
            Ok(old.len())
        })
    }

    /// The stored verdicts of shadow model `model`, by node and minute.
    pub fn shadow_verdicts(
        &self,
        model: &str,
    ) -> Result<Vec<crate::judge::ShadowVerdict>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(SHADOW_VERDICTS).map_err(|e| self.fail(e))?;
        let range = table.range((model, "", 0)..).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in range {
            let (key, value) = entry.map_err(|e| self.fail(e))?;
            if key.value().0 != model {
                break;
            }
            out.push(serde_json::from_slice(value.value()).map_err(|e| self.fail(e))?);
        }
        Ok(out)
    }
}

impl Store {
    /// Saves the decision states of nodes (one transaction).
    pub fn save_decisions<'a>(
        &self,
        states: impl IntoIterator<Item = &'a crate::decide::NodeDecider>,
    ) -> Result<(), StoreError> {
        let encoded: Vec<(String, Vec<u8>)> = states
            .into_iter()
            .map(|d| Ok((d.node().to_owned(), serde_json::to_vec(d).map_err(|e| self.fail(e))?)))
            .collect::<Result<_, StoreError>>()?;
        self.write(|txn| {
            let mut table = txn.open_table(DECISIONS)?;
            for (node, json) in &encoded {
                table.insert(node.as_str(), json.as_slice())?;
            }
            Ok(())
        })
    }

    /// The saved decision states; one that does not decode is logged and skipped (that node
    /// starts afresh).
    pub fn load_decisions(&self) -> Result<Vec<crate::decide::NodeDecider>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(DECISIONS).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (node, value) = entry.map_err(|e| self.fail(e))?;
            match serde_json::from_slice(value.value()) {
                Ok(state) => out.push(state),
                Err(error) => {
                    tracing::warn!(node = node.value(), %error, "saved decision state unreadable; the node starts afresh");
                }
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Saves closed node-minutes and forgets each node's minutes older than `keep_minutes`
    /// before its newest (one transaction).
    pub fn save_minutes(
        &self,
        rows: &[(&str, &crate::aggregate::FeatureRow)],
        keep_minutes: u64,
    ) -> Result<(), StoreError> {
        use crate::time::MINUTE_US;
        self.write(|txn| {
            let mut table = txn.open_table(MINUTES)?;
            let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
            for (node, row) in rows {
                let mut bytes = Vec::with_capacity(1 + 4 * row.values.len());
                bytes.push(u8::from(row.source_silent));
                bytes.extend(row.values.iter().flat_map(|v| v.to_le_bytes()));
                table.insert((*node, row.minute), bytes.as_slice())?;
                let n = newest.entry(node).or_insert(row.minute);
                *n = (*n).max(row.minute);
            }
            for (node, minute) in newest {
                let cutoff = minute.saturating_sub(keep_minutes * MINUTE_US);
                let old: Vec<u64> = table
                    .range((node, 0)..(node, cutoff))?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().1))
                    .collect();
                for m in old {
                    table.remove((node, m))?;
                }
            }
            Ok(())
        })
    }

    /// The saved recent minutes by node, oldest first (node index 0: the caller maps names).
    pub fn load_minutes(
        &self,
    ) -> Result<BTreeMap<String, Vec<crate::aggregate::FeatureRow>>, StoreError> {
        use crate::schema::FEATURE_COUNT;
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(MINUTES).map_err(|e| self.fail(e))?;
        let mut out: BTreeMap<String, Vec<crate::aggregate::FeatureRow>> = BTreeMap::new();
        for entry in table.iter().map_err(|e| self.fail(e))? {
            let (key, value) = entry.map_err(|e| self.fail(e))?;
            let (node, minute) = key.value();
            let bytes = value.value();
            if bytes.len() != 1 + 4 * FEATURE_COUNT {
                tracing::warn!(node, minute, "saved minute of another feature count; skipped");
                continue;
            }
            let mut values = [0.0f32; FEATURE_COUNT];
            for (v, c) in values.iter_mut().zip(bytes[1..].chunks_exact(4)) {
                *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
            let row = crate::aggregate::FeatureRow {
                node: 0,
                minute,
                values,
                source_silent: bytes[0] == 1,
            };
            out.entry(node.to_owned()).or_default().push(row);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(class: &str, scope: Scope, x: f32) -> StoredReference {
        StoredReference {
            id: 0,
            class: class.into(),
            scope,
            model: "m1".into(),
            embedding: vec![x, 0.0],
            provenance: serde_json::json!({"test": true}),
        }
    }

    #[test]
    fn references_persist_with_windows_scopes_and_removal() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = Store::open(dir.path()).expect("open");
            let window = [1.5f32, -2.0, 3.25];
            let ids = store
                .add(&[
                    (reference("normal", Scope::Node("pcscf-1".into()), 1.0), Some(&window[..])),
                    (reference("normal", Scope::Node("pcscf-2".into()), 2.0), None),
                ])
                .expect("add");
            assert_eq!(ids, [1, 2]);
            assert_eq!(store.window(1).expect("read"), Some(window.to_vec()));
            assert_eq!(store.window(2).expect("read"), None);
        }
        let store = Store::open_existing(dir.path()).expect("open").expect("exists");
        let all = store.list().expect("list");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scope, Scope::Node("pcscf-1".into()));
        let by_node = store.node_references("m1").expect("nodes");
        assert_eq!(by_node["pcscf-2"][0].embedding, [2.0, 0.0]);
        assert!(store.node_references("other").expect("nodes").is_empty());
        assert_eq!(store.remove(&[1, 99]).expect("remove"), 1);
        assert_eq!(store.list().expect("list").len(), 1);
        assert_eq!(store.window(1).expect("read"), None);
        // Ids are not reused while later ones exist.
        assert_eq!(
            store.add(&[(reference("normal", Scope::Global, 0.0), None)]).expect("add"),
            [3]
        );
    }

    #[test]
    fn a_pack_is_imported_once_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(Store::open_existing(dir.path()).expect("none").is_none());
        let store = Store::open(dir.path()).expect("open");
        let pack = ReferencePack {
            format: FORMAT.into(),
            k: 3,
            quantile: 0.9,
            scale: 2.0,
            thresholds: BTreeMap::new(),
            references: vec![PackedReference {
                class: "normal".into(),
                embedding: vec![0.0, 1.0],
                provenance: serde_json::Value::Null,
            }],
        };
        assert_eq!(store.import_pack("m1", &pack, "references.json").expect("import"), 1);
        assert_eq!(store.import_pack("m1", &pack, "references.json").expect("again"), 0);
        let back = store.global_pack("m1").expect("read").expect("imported");
        assert_eq!((back.k, back.quantile, back.scale), (3, 0.9, 2.0));
        assert_eq!(back.references.len(), 1);
        assert!(store.global_pack("m2").expect("read").is_none());
    }

    #[test]
    fn model_ids_are_content_hashes() {
        let dir = tempfile::tempdir().expect("dir");
        let a = dir.path().join("a.onnx");
        std::fs::write(&a, b"model bytes").expect("write");
        let id = model_id(&a).expect("id");
        assert_eq!(id.len(), 16);
        std::fs::write(&a, b"other bytes").expect("write");
        assert_ne!(model_id(&a).expect("id"), id);
        assert!(matches!(model_id(&dir.path().join("missing")), Err(StoreError::Io { .. })));
    }

    #[test]
    fn activation_keeps_the_previous_model_for_rollback() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let model = |id: &str| RegisteredModel {
            id: id.into(),
            path: PathBuf::from(format!("/m/{id}.onnx")),
            name: "m".into(),
            version: "1".into(),
            registered: "2026-11-30T00:00:00Z".into(),
        };
        store.register_model(&model("a")).expect("register");
        store.register_model(&model("b")).expect("register");
        assert_eq!(store.active_model().expect("read"), None);
        store.activate("a").expect("activate");
        store.activate("b").expect("activate");
        assert_eq!(store.model_slots().expect("slots"), (Some("b".into()), Some("a".into())));
        assert_eq!(store.active_model().expect("read").map(|m| m.id), Some("b".into()));
        store.activate("b").expect("again");
        assert_eq!(store.model_slots().expect("slots").1.as_deref(), Some("a"));
        assert_eq!(store.models().expect("models").len(), 2);
    }

    #[test]
    fn decision_states_persist() {
        use crate::decide::{DecisionSettings, NodeDecider, Observation};
        let dir = tempfile::tempdir().expect("dir");
        let mut node = NodeDecider::new("lab", "pcscf-1", DecisionSettings::default());
        let mut out = Vec::new();
        node.observe(60_000_000, Observation::Verdict("hss"), &mut out);
        node.observe(120_000_000, Observation::Verdict("hss"), &mut out);
        {
            let store = Store::open(dir.path()).expect("open");
            store.save_decisions([&node]).expect("save");
        }
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.load_decisions().expect("load"), [node]);
    }

    #[test]
    fn recent_minutes_keep_the_last_window() {
        use crate::aggregate::FeatureRow;
        use crate::schema::FEATURE_COUNT;
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let row = |minute: u64, v: f32| FeatureRow {
            node: 3,
            minute: minute * 60_000_000,
            values: [v; FEATURE_COUNT],
            source_silent: minute == 4,
        };
        for minute in 0..10 {
            let r = row(minute, minute as f32);
            store.save_minutes(&[("pcscf-1", &r)], 5).expect("save");
        }
        let loaded = store.load_minutes().expect("load");
        let minutes: Vec<u64> = loaded["pcscf-1"].iter().map(|r| r.minute / 60_000_000).collect();
        assert_eq!(minutes, [4, 5, 6, 7, 8, 9]);
        assert!(loaded["pcscf-1"][0].source_silent);
        assert_eq!(loaded["pcscf-1"][5].values[7], 9.0);
    }
}
