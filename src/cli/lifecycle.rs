//! The model registry commands (`model list|inspect|activate|rollback`) and which model a
//! command uses: `--model`, else the state database's active model, else `inference.model`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{CommandError, GlobalArgs};
use crate::config::Config;
use crate::infer::{ModelSession, OnnxRuntime, WindowEmbedder, resolve_model};
use crate::judge::Embedder;
use crate::matcher::pack::ReferencePack;
use crate::store::{RegisteredModel, Scope, Store, StoredReference, model_id};

/// The model file a command uses.
pub fn model_in_use(
    config: &Config,
    flag: Option<&Path>,
    state_dir: Option<&Path>,
) -> Result<PathBuf, CommandError> {
    if let Some(path) = flag {
        return resolve_model(path).map_err(CommandError::failed);
    }
    let dir = state_dir.unwrap_or(&config.appliance.state_dir);
    if let Some(store) = Store::open_existing(dir).map_err(CommandError::failed)?
        && let Some(active) = store.active_model().map_err(CommandError::failed)?
    {
        return resolve_model(&active.path).map_err(CommandError::failed);
    }
    resolve_model(&config.inference.model).map_err(CommandError::failed)
}

fn open_store(config: &Config, state_dir: Option<&Path>) -> Result<Store, CommandError> {
    Store::open(state_dir.unwrap_or(&config.appliance.state_dir)).map_err(CommandError::failed)
}

/// `model list`.
pub fn list(global: &GlobalArgs, state_dir: Option<&Path>) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let store = open_store(&config, state_dir)?;
    let (active, previous) = store.model_slots().map_err(CommandError::failed)?;
    let models = store.models().map_err(CommandError::failed)?;
    if models.is_empty() {
        println!(
            "no model registered; `imsight model activate FILE` registers one (until then inference.model is used)"
        );
    }
    for m in models {
        let mark = if active.as_deref() == Some(m.id.as_str()) {
            "active"
        } else if previous.as_deref() == Some(m.id.as_str()) {
            "previous"
        } else {
            ""
        };
        println!(
            "{:<8} {}  {} {}  registered {}  {}",
            mark,
            m.id,
            m.name,
            m.version,
            m.registered,
            m.path.display()
        );
    }
    Ok(())
}

/// `model inspect`.
pub fn inspect(
    global: &GlobalArgs,
    file: Option<&Path>,
    state_dir: Option<&Path>,
) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let path = model_in_use(&config, file, state_dir)?;
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
    let session =
        ModelSession::load(&runtime, &path, &config.inference).map_err(CommandError::failed)?;
    let card_path = path.with_file_name("model-card.json");
    let card: Option<serde_json::Value> =
        std::fs::read_to_string(&card_path).ok().and_then(|text| serde_json::from_str(&text).ok());
    let contract = match session.check_contract(config.pipeline.window_minutes) {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.to_string(),
    };
    let report = serde_json::json!({
        "model": path,
        "id": model_id(&path).map_err(CommandError::failed)?,
        "contract": contract,
        "description": session.description(),
        "model_card": card,
    });
    println!("{}", serde_json::to_string_pretty(&report).map_err(CommandError::failed)?);
    Ok(())
}

/// A candidate model checked, loaded and registered, with the store and the model in use
/// until now.
struct Prepared {
    store: Store,
    registered: RegisteredModel,
    embedder: WindowEmbedder,
    before_id: String,
}

/// Checks and loads `file`, registers it (and the model in use until now, when it was only
/// configured) and imports its reference pack.
fn prepare(
    config: &Config,
    file: &Path,
    state_dir: Option<&Path>,
) -> Result<Prepared, CommandError> {
    let path = std::fs::canonicalize(file)
        .with_context(|| format!("cannot read model {}", file.display()))?;
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
    let session =
        ModelSession::load(&runtime, &path, &config.inference).map_err(CommandError::failed)?;
    session.check_contract(config.pipeline.window_minutes).map_err(CommandError::failed)?;
    let metadata = session.description().metadata.clone();
    let embedder = WindowEmbedder::new(session, config.pipeline.window_minutes)
        .map_err(CommandError::failed)?;
    // The model that was in use: its enrolled references are embedded again. (Read before
    // the store is opened here: redb allows one open handle per process.)
    let before = model_in_use(config, None, state_dir)?;
    let store = open_store(config, state_dir)?;
    let before_id = model_id(&before).map_err(CommandError::failed)?;
    let id = model_id(&path).map_err(CommandError::failed)?;
    let registered = RegisteredModel {
        id: id.clone(),
        path: path.clone(),
        name: metadata.get("model_name").cloned().unwrap_or_default(),
        version: metadata.get("model_version").cloned().unwrap_or_default(),
        registered: imsight_parsers::xdr::time::format_timestamp(now_micros()),
    };
    store.register_model(&registered).map_err(CommandError::failed)?;
    if store.models().map_err(CommandError::failed)?.iter().all(|m| m.id != before_id) {
        // The configured model, in use until now without being registered.
        let name = before.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let old = RegisteredModel {
            id: before_id.clone(),
            path: before,
            name,
            version: String::new(),
            ..registered.clone()
        };
        store.register_model(&old).map_err(CommandError::failed)?;
        store.activate(&before_id).map_err(CommandError::failed)?;
    }
    let pack_path = path.with_file_name("references.json");
    match std::fs::read_to_string(&pack_path) {
        Ok(text) => {
            let pack =
                ReferencePack::from_json(&text).with_context(|| pack_path.display().to_string())?;
            let added = store
                .import_pack(&id, &pack, &pack_path.display().to_string())
                .map_err(CommandError::failed)?;
            if added > 0 {
                eprintln!("reference pack: {added} global references imported");
            }
        }
        Err(_) => eprintln!(
            "warning: no reference pack at {}: only enrolled references will be matched",
            pack_path.display()
        ),
    }
    Ok(Prepared { store, registered, embedder, before_id })
}

/// `model activate FILE`.
pub fn activate(
    global: &GlobalArgs,
    file: &Path,
    state_dir: Option<&Path>,
) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let Prepared { store, registered, mut embedder, before_id } =
        prepare(&config, file, state_dir)?;
    let id = &registered.id;
    let moved = reembed(&store, &before_id, id, &mut embedder)?;
    store.activate(id).map_err(CommandError::failed)?;
    eprintln!(
        "model {id} ({} {}) is active; {moved} enrolled reference(s) embedded again from model {before_id}",
        registered.name, registered.version
    );
    Ok(())
}

/// `model shadow FILE` (or `--off`: `file` is `None`).
pub fn shadow(
    global: &GlobalArgs,
    file: Option<&Path>,
    state_dir: Option<&Path>,
) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let Some(file) = file else {
        let store = open_store(&config, state_dir)?;
        let was = store.shadow_slot().map_err(CommandError::failed)?;
        store.set_shadow(None).map_err(CommandError::failed)?;
        match was {
            Some(id) => eprintln!("model {id} no longer shadows the active model"),
            None => eprintln!("no shadow model was set"),
        }
        return Ok(());
    };
    let Prepared { store, registered, mut embedder, before_id } =
        prepare(&config, file, state_dir)?;
    let id = &registered.id;
    if *id == before_id {
        return Err(CommandError::failed(format!("model {id} is the active model already")));
    }
    let moved = reembed(&store, &before_id, id, &mut embedder)?;
    store.set_shadow(Some(id)).map_err(CommandError::failed)?;
    eprintln!(
        "model {id} ({} {}) shadows the active model {before_id}: it judges the same windows in `imsight run` and `imsight replay --shadow`, its verdicts stored, never published; {moved} enrolled reference(s) embedded for it",
        registered.name, registered.version
    );
    Ok(())
}

/// `model promote`: the shadow model becomes the active one.
pub fn promote(global: &GlobalArgs, state_dir: Option<&Path>) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let shadow = {
        let store = open_store(&config, state_dir)?;
        store.shadow_model().map_err(CommandError::failed)?
    };
    let Some(shadow) = shadow else {
        return Err(CommandError::failed(
            "no shadow model to promote (`imsight model shadow FILE` sets one)",
        ));
    };
    // Activation embeds references enrolled since the shadow was set, and keeps the active
    // model as the previous one for a rollback.
    activate(global, &shadow.path, state_dir)
}

/// `model rollback`.
pub fn rollback(global: &GlobalArgs, state_dir: Option<&Path>) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let store = open_store(&config, state_dir)?;
    let (Some(active), Some(previous)) = store.model_slots().map_err(CommandError::failed)? else {
        return Err(CommandError::failed(
            "no previous model to roll back to (`imsight model list`)",
        ));
    };
    let model =
        store.models().map_err(CommandError::failed)?.into_iter().find(|m| m.id == previous);
    let model = model.ok_or_else(|| {
        CommandError::failed(format!("previous model {previous} is not registered"))
    })?;
    let runtime =
        OnnxRuntime::load(&config.inference.onnxruntime_lib).map_err(CommandError::failed)?;
    let session = ModelSession::load(&runtime, &model.path, &config.inference)
        .map_err(CommandError::failed)?;
    let mut embedder = WindowEmbedder::new(session, config.pipeline.window_minutes)
        .map_err(CommandError::failed)?;
    // References enrolled while the newer model was active follow the rollback.
    let moved = reembed(&store, &active, &previous, &mut embedder)?;
    store.activate(&previous).map_err(CommandError::failed)?;
    eprintln!(
        "model {previous} is active again ({active} is now the previous one); {moved} reference(s) embedded again"
    );
    Ok(())
}

/// Embeds the enrolled references of model `from` (those with a stored window) with the model
/// behind `embedder` as references of model `to`, unless that was done before.
fn reembed(
    store: &Store,
    from: &str,
    to: &str,
    embedder: &mut WindowEmbedder,
) -> Result<usize, CommandError> {
    if from == to {
        return Ok(0);
    }
    let all = store.list().map_err(CommandError::failed)?;
    // A reference's origin: the enrolment it was first embedded from. Copies carry it, so
    // activating and rolling back back and forth never embeds one enrolment twice.
    let origin = |r: &StoredReference| {
        r.provenance.get("embedded_again_from").and_then(serde_json::Value::as_u64).unwrap_or(r.id)
    };
    let done: std::collections::HashSet<u64> =
        all.iter().filter(|r| r.model == to).flat_map(|r| [origin(r), r.id]).collect();
    let mut added = 0;
    for r in all.iter().filter(|r| {
        r.model == from && matches!(r.scope, Scope::Node(_)) && !done.contains(&origin(r))
    }) {
        let Some(window) = store.window(r.id).map_err(CommandError::failed)? else { continue };
        let embedding = embedder
            .embed(1, &window)
            .map_err(CommandError::failed)?
            .into_iter()
            .next()
            .unwrap_or_default();
        if embedding.is_empty() || embedding.iter().any(|v| !v.is_finite()) {
            return Err(CommandError::failed(format!(
                "the new model gave no usable embedding for reference {}",
                r.id
            )));
        }
        let mut provenance = r.provenance.clone();
        if let Some(object) = provenance.as_object_mut() {
            object.insert("embedded_again_from".into(), origin(r).into());
        }
        let record =
            StoredReference { id: 0, model: to.to_owned(), embedding, provenance, ..r.clone() };
        store.add(&[(record, Some(window.as_slice()))]).map_err(CommandError::failed)?;
        added += 1;
    }
    Ok(added)
}

/// A store error, with what to do when a running appliance holds the database.
pub fn store_error(error: crate::store::StoreError) -> CommandError {
    let text = error.to_string();
    if text.contains("already open") || text.contains("Database already open") {
        return CommandError::failed(format!(
            "{text}: the appliance is running and holds the state database; use its HTTP API \
             (docs/operations.md, \"Model life cycle\") or stop it first"
        ));
    }
    CommandError::failed(error)
}

/// Now, µs since the epoch.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
