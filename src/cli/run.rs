//! `imsight run`: the appliance. HEP over UDP in, verdicts and alarms out over MQTT through the
//! durable outbox; decision states saved every minute; SIGTERM or SIGINT stops it cleanly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::refs::StoreArgs;
use super::{CommandError, GlobalArgs};
use crate::pipeline::PipelineSettings;
use crate::publish::PublishSettings;
use crate::runtime::files::InputDirSettings;
use crate::runtime::hep::HepListenerSettings;
use crate::runtime::mqtt::{MqttSettings, MqttTls};
use crate::runtime::{LiveControl, LiveSettings, Reconfigure, run_live};
use crate::telemetry::Metrics;

/// Options of `imsight run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The state directory (default: appliance.state_dir).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Runs the appliance until SIGTERM or SIGINT.
pub fn run(global: &GlobalArgs, args: &RunArgs) -> Result<(), CommandError> {
    let config = global.load_config()?.config;
    let started_with = config.clone();
    let state_dir = args.state_dir.clone().unwrap_or_else(|| config.appliance.state_dir.clone());
    // Everything that can fail does so before the appliance goes live.
    let shadow_set = match crate::store::Store::open_existing(&state_dir) {
        Ok(Some(store)) => store.shadow_slot().map_err(CommandError::failed)?.is_some(),
        Ok(None) => false,
        Err(error) => return Err(CommandError::failed(error)),
    };
    let options = super::replay::JudgeOptions {
        state_dir: Some(&state_dir),
        explain: true,
        sample: true,
        shadow: shadow_set,
        ..Default::default()
    };
    let mut judge = match super::replay::build_judge(&config, &options) {
        Err(error) if shadow_set => {
            // A shadow that cannot be loaded (its file moved) must not keep the appliance down.
            tracing::warn!(%error, "the shadow model cannot be loaded; running without it");
            let options = super::replay::JudgeOptions { shadow: false, ..options };
            super::replay::build_judge(&config, &options)?
        }
        judged => judged?,
    };
    let metrics = Arc::new(Metrics::new());
    judge.embedder_mut().meter(Arc::clone(&metrics));
    let (store, model, model_id) =
        super::refs::open(&config, &StoreArgs { state_dir: Some(state_dir), model: None })?;
    // The registry knows the model that runs (a rollback after a change returns to it).
    if store.model_slots().map_err(CommandError::failed)?.0.is_none() {
        crate::store::registry::register(&store, &model, &Default::default(), None)
            .map_err(CommandError::failed)?;
        store.activate(&model_id).map_err(CommandError::failed)?;
    }
    let store = Arc::new(store);
    let (restored, moved): (Vec<_>, Vec<_>) = store
        .load_decisions()
        .map_err(CommandError::failed)?
        .into_iter()
        .partition(|d| config.shard.owns(d.node()));
    for decider in &moved {
        if let Some(alarm) = decider.active() {
            // Another instance judges this node now (shard.count changed); its alarm is
            // raised again there if the fault persists. Cleared here by hand: see
            // docs/operations.md, "Scale-out".
            tracing::warn!(node = %alarm.node, class = %alarm.class, request_id = %alarm.request_id, "an alarm of a node that now belongs to another shard is not restored; clear it in the NOC if it is still shown");
        }
    }
    let restored_alarms: Vec<crate::decide::Alarm> =
        restored.iter().filter_map(|d| d.active().cloned()).collect();
    let active = restored_alarms.len();
    judge.restore_decisions(restored);
    let recent = store.load_minutes().map_err(CommandError::failed)?;
    let resumed = recent.len();
    for (node, rows) in recent.into_iter().filter(|(node, _)| config.shard.owns(node)) {
        judge.restore_minutes(&node, rows);
    }
    tracing::info!(
        nodes = resumed,
        "recent minutes restored: these nodes are judged without a new hour of warming up"
    );
    tracing::info!(model = %model.display(), %model_id, state = %store.path().display(), restored_alarms = active, "starting");

    let live = LiveSettings {
        publish: PublishSettings {
            appliance: config.appliance.name.clone(),
            topic_root: config.mqtt.topic_root.clone(),
            model_version: model_id,
            ..PublishSettings::default()
        },
        mqtt: MqttSettings {
            host: config.mqtt.host.clone(),
            port: config.mqtt.port,
            client_id: if config.mqtt.client_id.is_empty() {
                format!("imsight-{}", config.appliance.name)
            } else {
                config.mqtt.client_id.clone()
            },
            credentials: config.mqtt.username.clone().zip(config.mqtt.password.clone()),
            keep_alive: Duration::from_secs(u64::from(config.mqtt.keep_alive_secs)),
            window: 64,
            health_topic: String::new(),
            tls: MqttTls::from_config(&config.mqtt).map_err(CommandError::failed)?,
        },
        outbox_limit: config.mqtt.outbox_limit as usize,
        pipeline: PipelineSettings::from_config(&config),
        hep: HepListenerSettings {
            listen: config.sources.hep_udp_listen,
            tcp_listen: config.sources.hep_tcp_listen,
            auth_key: config.sources.hep_auth_key.clone().map(String::into_bytes),
        },
        http_listen: Some(config.http.listen),
        http_allow_changes: config.http.allow_changes,
        input_dir: config.sources.input_dir.clone().map(|dir| InputDirSettings {
            dir,
            settle: Duration::from_secs(u64::from(config.sources.input_settle_secs)),
        }),
        // Files arrive in bursts with silences between them: their time is their own.
        follow_wall_clock: config.sources.input_dir.is_none(),
        metrics,
        window_minutes: u64::from(config.pipeline.window_minutes),
        restored_alarms,
        samples: Some(config.samples.retention()),
    };
    let control = LiveControl {
        reload: Some(reloader(global.clone(), started_with)),
        ..LiveControl::default()
    };
    let loader = model_loader(&config, Arc::clone(&live.metrics))?;
    run_live(live, judge, store, control, Some(loader)).map_err(CommandError::failed)
}

/// How the running appliance loads a model for a hot swap: the session, its references from
/// the state database, and the drift monitor of its training statistics.
fn model_loader(
    config: &crate::config::Config,
    metrics: Arc<Metrics>,
) -> Result<crate::runtime::judge::ModelLoader<crate::infer::WindowEmbedder>, CommandError> {
    let runtime = crate::infer::OnnxRuntime::load(&config.inference.onnxruntime_lib)
        .map_err(CommandError::failed)?;
    let config = config.clone();
    Ok(Arc::new(move |path, store| {
        let mut model = super::replay::load_model(&config, &runtime, path, Some(store), None)
            .map_err(|e| e.to_string())?;
        // The inference metrics follow the model that judges.
        model.embedder_mut().meter(Arc::clone(&metrics));
        let drift = super::replay::drift_monitor(&config, path).map_err(|e| e.to_string())?;
        Ok((model, drift))
    }))
}

/// Reads the configuration again (SIGHUP): the decision rule and the outbox bound change
/// while running; a change anywhere else is named and waits for a restart; an invalid file
/// changes nothing (every problem is logged).
fn reloader(
    global: GlobalArgs,
    running: crate::config::Config,
) -> Box<dyn FnMut() -> Result<Reconfigure, String> + Send> {
    Box::new(move || {
        let loaded =
            global.load_config().map_err(|e| crate::telemetry::one_line(&e.to_string()))?;
        let new = loaded.config;
        let reloadable = |c: &crate::config::Config| {
            let mut c = c.clone();
            c.decisions = crate::decide::DecisionSettings::default();
            c.mqtt.outbox_limit = 0;
            c
        };
        if reloadable(&new) != reloadable(&running) {
            let sections = changed_sections(&reloadable(&running), &reloadable(&new));
            tracing::warn!(
                changed = %sections.join(", "),
                "SIGHUP: these changes take effect at the next restart (only [decisions] and mqtt.outbox_limit are reloaded)"
            );
        }
        Ok(Reconfigure { decisions: new.decisions, outbox_limit: new.mqtt.outbox_limit as usize })
    })
}

/// The top-level sections (and keys) that differ between two configurations.
fn changed_sections(old: &crate::config::Config, new: &crate::config::Config) -> Vec<String> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["(unknown)".to_owned()];
    };
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { return Vec::new() };
    let mut changed = Vec::new();
    for (section, value) in new {
        let before = old.get(section);
        match (before.and_then(|b| b.as_object()), value.as_object()) {
            (Some(before), Some(after)) => {
                for (key, v) in after {
                    if before.get(key) != Some(v) {
                        changed.push(format!("{section}.{key}"));
                    }
                }
            }
            _ if before != Some(value) => changed.push(section.clone()),
            _ => {}
        }
    }
    changed
}
