//! Model changes in a running appliance (the HTTP API's `/api/v1/models/...`), applied by the
//! judge's actor between two minutes: the registry in the state database changes as
//! `imsight model ...` changes it, then the judge swaps models at once (hot swap: node
//! windows, decision states and alarms stay; the previous model is kept for a rollback).

use std::path::Path;

use serde_json::json;

use super::judge::ModelLoader;
use super::messages::ModelRequest;
use crate::judge::{Embedder, Judge, JudgingModel};
use crate::store::registry::{by_node, reembed, register, sample_reference};
use crate::store::{Store, StoredReference};

/// Applies `request`; on error nothing the judge uses has changed.
pub fn apply<E: Embedder>(
    judge: &mut Judge<E>,
    store: &Store,
    loader: &ModelLoader<E>,
    request: ModelRequest,
) -> Result<serde_json::Value, String> {
    match request {
        ModelRequest::Activate(path) => {
            let (model, drift) = prepare(judge.model_id(), store, loader, &path)?;
            let id = model.id.clone();
            store.activate(&id).map_err(|e| e.to_string())?;
            let before = judge.swap_model(model).id;
            judge.set_drift(drift);
            if judge.shadow_id() == Some(id.as_str()) {
                judge.set_shadow(None);
            }
            Ok(json!({"active": id, "previous": before}))
        }
        ModelRequest::Shadow(Some(path)) => {
            let (model, _) = prepare(judge.model_id(), store, loader, &path)?;
            if model.id == judge.model_id() {
                return Err(format!("model {} is the active model already", model.id));
            }
            let id = model.id.clone();
            store.set_shadow(Some(&id)).map_err(|e| e.to_string())?;
            judge.set_shadow(Some(model));
            Ok(json!({"active": judge.model_id(), "shadow": id}))
        }
        ModelRequest::Shadow(None) => {
            store.set_shadow(None).map_err(|e| e.to_string())?;
            let was = judge.set_shadow(None).map(|m| m.id);
            Ok(json!({"active": judge.model_id(), "shadow": null, "was": was}))
        }
        ModelRequest::Promote => {
            let Some(to) = judge.shadow_id().map(str::to_owned) else {
                return Err("no shadow model to promote".into());
            };
            let from = judge.model_id().to_owned();
            let path = registered_path(store, &to)?;
            // Everything that can fail before anything changes.
            let drift = loader(&path, store)?.1;
            // References enrolled since the shadow was set follow it.
            let Some(shadow) = judge.shadow_mut() else { return Err("no shadow model".into()) };
            let added =
                reembed(store, &from, &to, shadow.embedder_mut()).map_err(|e| e.to_string())?;
            enroll(shadow, &added)?;
            store.activate(&to).map_err(|e| e.to_string())?;
            judge.promote_shadow();
            judge.set_drift(drift);
            Ok(json!({"active": to, "previous": from}))
        }
        ModelRequest::Rollback => {
            let (active, previous) = store.model_slots().map_err(|e| e.to_string())?;
            let (Some(active), Some(previous)) = (active, previous) else {
                return Err("no previous model to roll back to".into());
            };
            let path = registered_path(store, &previous)?;
            let (mut model, drift) = loader(&path, store)?;
            let added = reembed(store, &active, &previous, model.embedder_mut())
                .map_err(|e| e.to_string())?;
            enroll(&mut model, &added)?;
            store.activate(&previous).map_err(|e| e.to_string())?;
            judge.swap_model(model);
            judge.set_drift(drift);
            // A model that becomes active no longer shadows itself (the store forgot it too).
            if judge.shadow_id() == Some(previous.as_str()) {
                judge.set_shadow(None);
            }
            Ok(json!({"active": previous, "previous": active}))
        }
        ModelRequest::EnrollSample { sample, class, by } => {
            let model = judge.model_mut();
            let id = model.id.clone();
            let provenance = json!({ "labelled_by": by });
            let (reference, window) =
                sample_reference(store, sample, &class, provenance, &id, model.embedder_mut())?;
            let node = reference.provenance["node"].clone();
            // The judge first: a reference it refuses is not stored either.
            enroll(model, std::slice::from_ref(&reference))?;
            let ids =
                store.add(&[(reference, Some(window.as_slice()))]).map_err(|e| e.to_string())?;
            Ok(json!({"reference": ids.first(), "node": node, "class": class}))
        }
    }
}

/// Registers the model at `path` with its pack, loads it, and embeds the references enrolled
/// with the active model `active` for it.
fn prepare<E: Embedder>(
    active: &str,
    store: &Store,
    loader: &ModelLoader<E>,
    path: &Path,
) -> Result<(JudgingModel<E>, Option<crate::monitor::DriftMonitor>), String> {
    let path = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot read model {}: {e}", path.display()))?;
    // Loaded once before registering (a model that does not load is not registered), and
    // once after, with the pack just imported.
    loader(&path, store)?;
    register(store, &path, &Default::default(), None).map_err(|e| e.to_string())?;
    let (mut model, drift) = loader(&path, store)?;
    let added = reembed(store, active, &model.id.clone(), model.embedder_mut())
        .map_err(|e| e.to_string())?;
    enroll(&mut model, &added)?;
    Ok((model, drift))
}

fn enroll<E>(model: &mut JudgingModel<E>, references: &[StoredReference]) -> Result<(), String> {
    for (node, refs) in by_node(references) {
        model.enroll(&node, &refs).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn registered_path(store: &Store, id: &str) -> Result<std::path::PathBuf, String> {
    let models = store.models().map_err(|e| e.to_string())?;
    models
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| m.path)
        .ok_or_else(|| format!("model {id} is not registered"))
}
