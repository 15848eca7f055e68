//! The MQTT broker `imsight demo` embeds (rumqttd, plain TCP on loopback), and an in-process
//! subscription to what is published on it.

use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, channel};

use rumqttd::{Broker, Config, Notification};

/// A message seen on the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Starts a broker listening on `listen` (its own threads, for the life of the process) and
/// subscribes to `filter` in-process; every message published under it arrives on the
/// receiver.
pub fn start_embedded_broker(listen: SocketAddr, filter: &str) -> Result<Receiver<Seen>, String> {
    let config: Config = serde_json::from_value(serde_json::json!({
        "id": 0,
        "router": {
            "max_connections": 64,
            "max_outgoing_packet_count": 200,
            "max_segment_size": 10_485_760,
            "max_segment_count": 10,
        },
        "v4": {"1": {
            "name": "imsight-demo",
            "listen": listen.to_string(),
            "next_connection_delay_ms": 1,
            "connections": {
                "connection_timeout_ms": 60000,
                "max_payload_size": 262_144,
                "max_inflight_count": 200,
                "dynamic_filters": true,
            },
        }},
    }))
    .map_err(|e| format!("broker configuration: {e}"))?;
    let mut broker = Broker::new(config);
    let (mut link_tx, mut link_rx) =
        broker.link("imsight-demo-watch").map_err(|e| format!("broker link: {e}"))?;
    link_tx.subscribe(filter).map_err(|e| format!("broker subscription: {e}"))?;
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(%error, "the embedded broker stopped");
            }
        })
        .map_err(|e| format!("cannot start the broker: {e}"))?;
    let (seen, received) = channel();
    std::thread::Builder::new()
        .name("mqtt-watch".into())
        .spawn(move || {
            // The link stays subscribed for the process's life.
            let _keep = link_tx;
            while let Ok(next) = link_rx.recv() {
                if let Some(Notification::Forward(forward)) = next {
                    let topic = String::from_utf8_lossy(&forward.publish.topic).into_owned();
                    if seen.send(Seen { topic, payload: forward.publish.payload.to_vec() }).is_err()
                    {
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("cannot watch the broker: {e}"))?;
    Ok(received)
}
