//! The model registry commands (`model list|inspect|activate|rollback`) and which model a
//! command uses: `--model`, else the state database's active model, else `inference.model`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{CommandError, GlobalArgs};
use crate::config::Config;
use crate::infer::{ModelSession, OnnxRuntime, WindowEmbedder, resolve_model};
use crate::store::registry::{reembed, register};
use crate::store::{RegisteredModel, Store, model_id};

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
    if let Some(store) = Store::open_existing(dir).map_err(store_error)?
        && let Some(active) = store.active_model().map_err(CommandError::failed)?
    {
        return resolve_model(&active.path).map_err(CommandError::failed);
    }
    resolve_model(&config.inference.model).map_err(CommandError::failed)
}

fn open_store(config: &Config, state_dir: Option<&Path>) -> Result<Store, CommandError> {
    Store::open(state_dir.unwrap_or(&config.appliance.state_dir)).map_err(store_error)
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
    let registered =
        register(&store, &path, &metadata, Some(&before)).map_err(CommandError::failed)?;
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
    let moved = reembed(&store, &before_id, id, &mut embedder).map_err(CommandError::failed)?.len();
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
    let moved = reembed(&store, &before_id, id, &mut embedder).map_err(CommandError::failed)?.len();
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
    let moved =
        reembed(&store, &active, &previous, &mut embedder).map_err(CommandError::failed)?.len();
    store.activate(&previous).map_err(CommandError::failed)?;
    eprintln!(
        "model {previous} is active again ({active} is now the previous one); {moved} reference(s) embedded again"
    );
    Ok(())
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
