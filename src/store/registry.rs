//! Model registry operations shared by the CLI (`imsight model ...`) and the running
//! appliance (its HTTP API): register a model with its shipped reference pack, and embed
//! the enrolled references again with another model.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{RegisteredModel, Scope, Store, StoreError, StoredReference, model_id};
use crate::judge::Embedder;
use crate::matcher::pack::ReferencePack;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model's reference pack cannot be read.
    #[error("reference pack {path}: {reason}")]
    Pack {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The new model did not embed a reference's window.
    #[error("the new model gave no usable embedding for reference {0}")]
    Embedding(u64),
}

/// Registers the model at `path` (its metadata from the ONNX file), imports its reference
/// pack (`references.json` beside it) when there is one, and registers `in_use` (the model
/// used until now, maybe only configured) as the active model when it was not registered.
pub fn register(
    store: &Store,
    path: &Path,
    metadata: &BTreeMap<String, String>,
    in_use: Option<&Path>,
) -> Result<RegisteredModel, RegistryError> {
    let id = model_id(path)?;
    let registered = RegisteredModel {
        id: id.clone(),
        path: path.to_path_buf(),
        name: metadata.get("model_name").cloned().unwrap_or_else(|| {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
        }),
        version: metadata.get("model_version").cloned().unwrap_or_default(),
        registered: imsight_parsers::xdr::time::format_timestamp(now_micros()),
    };
    store.register_model(&registered)?;
    if let Some(before) = in_use {
        let before_id = model_id(before)?;
        if store.models()?.iter().all(|m| m.id != before_id) {
            let name =
                before.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let old = RegisteredModel {
                id: before_id.clone(),
                path: before.to_path_buf(),
                name,
                version: String::new(),
                ..registered.clone()
            };
            store.register_model(&old)?;
            store.activate(&before_id)?;
        }
    }
    let pack_path = path.with_file_name("references.json");
    match std::fs::read_to_string(&pack_path) {
        Ok(text) => {
            let shown = pack_path.display().to_string();
            let pack = ReferencePack::from_json(&text)
                .map_err(|e| RegistryError::Pack { path: shown.clone(), reason: e.to_string() })?;
            let added = store.import_pack(&id, &pack, &shown)?;
            if added > 0 {
                tracing::info!(model = %id, references = added, "reference pack imported");
            }
        }
        Err(_) => tracing::warn!(
            pack = %pack_path.display(),
            "no reference pack beside the model: only enrolled references will be matched"
        ),
    }
    Ok(registered)
}

/// Embeds the enrolled references of model `from` (those with a stored window) with the model
/// behind `embedder` as references of model `to`, unless that was done before; returns the
/// references added.
pub fn reembed<E: Embedder>(
    store: &Store,
    from: &str,
    to: &str,
    embedder: &mut E,
) -> Result<Vec<StoredReference>, RegistryError> {
    if from == to {
        return Ok(Vec::new());
    }
    let all = store.list()?;
    // A reference's origin: the enrolment it was first embedded from. Copies carry it, so
    // activating and rolling back back and forth never embeds one enrolment twice.
    let origin = |r: &StoredReference| {
        r.provenance.get("embedded_again_from").and_then(serde_json::Value::as_u64).unwrap_or(r.id)
    };
    let done: HashSet<u64> =
        all.iter().filter(|r| r.model == to).flat_map(|r| [origin(r), r.id]).collect();
    let mut added = Vec::new();
    for r in all.iter().filter(|r| {
        r.model == from && matches!(r.scope, Scope::Node(_)) && !done.contains(&origin(r))
    }) {
        let Some(window) = store.window(r.id)? else { continue };
        let embedding = embed_one(embedder, &window).ok_or(RegistryError::Embedding(r.id))?;
        let mut provenance = r.provenance.clone();
        if let Some(object) = provenance.as_object_mut() {
            object.insert("embedded_again_from".into(), origin(r).into());
        }
        let record =
            StoredReference { id: 0, model: to.to_owned(), embedding, provenance, ..r.clone() };
        let ids = store.add(&[(record.clone(), Some(window.as_slice()))])?;
        added.push(StoredReference { id: ids.first().copied().unwrap_or(0), ..record });
    }
    Ok(added)
}

/// References grouped by their node (global ones left out), as the judge enrols them.
pub fn by_node(references: &[StoredReference]) -> BTreeMap<String, Vec<crate::matcher::Reference>> {
    let mut out: BTreeMap<String, Vec<crate::matcher::Reference>> = BTreeMap::new();
    for r in references {
        if let Scope::Node(node) = &r.scope {
            out.entry(node.clone()).or_default().push(crate::matcher::Reference {
                class: r.class.clone(),
                embedding: r.embedding.clone(),
            });
        }
    }
    out
}

/// The embedding of one window, when the model gives a usable one (not empty, all finite).
pub fn embed_one<E: Embedder>(embedder: &mut E, window: &[f32]) -> Option<Vec<f32>> {
    let rows = embedder.embed(1, window).ok()?;
    rows.into_iter().next().filter(|e| !e.is_empty() && e.iter().all(|v| v.is_finite()))
}

/// Sample `sample`'s window as a reference of its node with `class`, embedded by `embedder`
/// (model `model`), with the window to store beside it; not stored yet.
pub fn sample_reference<E: Embedder>(
    store: &Store,
    sample: u64,
    class: &str,
    provenance: serde_json::Value,
    model: &str,
    embedder: &mut E,
) -> Result<(StoredReference, Vec<f32>), String> {
    let record = store.sample(sample).map_err(|e| e.to_string())?;
    let record = record.ok_or_else(|| format!("no sample {sample}"))?;
    let window = store.sample_window(sample).map_err(|e| e.to_string())?;
    let window = window.ok_or_else(|| format!("sample {sample} has no stored window"))?;
    let embedding =
        embed_one(embedder, &window).ok_or("the model gave no usable embedding for the window")?;
    let mut about = serde_json::json!({
        "sample": sample,
        "node": record.node,
        "window_end": imsight_parsers::xdr::time::format_timestamp(record.minute),
    });
    if let (Some(object), serde_json::Value::Object(more)) = (about.as_object_mut(), provenance) {
        object.extend(more);
    }
    let reference = StoredReference {
        id: 0,
        class: class.to_owned(),
        scope: Scope::Node(record.node),
        model: model.to_owned(),
        embedding,
        provenance: about,
    };
    Ok((reference, window))
}

/// Now on the wall clock, µs since the epoch (registration and label times).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
