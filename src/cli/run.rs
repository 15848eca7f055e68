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
use crate::runtime::hep::HepListenerSettings;
use crate::runtime::mqtt::MqttSettings;
use crate::runtime::{LiveControl, LiveSettings, run_live};
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
    let state_dir = args.state_dir.clone().unwrap_or_else(|| config.appliance.state_dir.clone());
    // Everything that can fail does so before the appliance goes live.
    let mut judge = super::replay::build_judge(&config, None, None, Some(&state_dir), true)?;
    let metrics = Arc::new(Metrics::new());
    judge.embedder_mut().meter(Arc::clone(&metrics));
    let (store, model, model_id) =
        super::refs::open(&config, &StoreArgs { state_dir: Some(state_dir), model: None })?;
    let store = Arc::new(store);
    let restored = store.load_decisions().map_err(CommandError::failed)?;
    let restored_alarms: Vec<crate::decide::Alarm> =
        restored.iter().filter_map(|d| d.active().cloned()).collect();
    let active = restored_alarms.len();
    judge.restore_decisions(restored);
    let recent = store.load_minutes().map_err(CommandError::failed)?;
    let resumed = recent.len();
    for (node, rows) in recent {
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
        },
        outbox_limit: config.mqtt.outbox_limit as usize,
        pipeline: PipelineSettings::from_config(&config),
        hep: HepListenerSettings {
            listen: config.sources.hep_udp_listen,
            auth_key: config.sources.hep_auth_key.clone().map(String::into_bytes),
        },
        http_listen: Some(config.http.listen),
        metrics,
        window_minutes: u64::from(config.pipeline.window_minutes),
        restored_alarms,
    };
    run_live(live, judge, store, LiveControl::default()).map_err(CommandError::failed)
}
