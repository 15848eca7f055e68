//! The MQTT publisher (rumqttc): drains the durable outbox to the broker, QoS 1, in order, and
//! removes each message when the broker acknowledged it.
//!
//! Three tasks: one drives rumqttc's event loop, with a new client for every connection (the
//! old one is dropped with whatever was queued or in flight in it), and forwards what matters;
//! one owns the bookkeeping: packet id → outbox number, taken from the order in which rumqttc
//! reports outgoing publishes (the order they were handed to it); one removes acknowledged
//! messages from the outbox, a burst per transaction. The session is clean, so a lost
//! connection forgets everything in flight: after a reconnect, and after a restart, everything
//! still in the outbox is sent again. Delivery is at least once; consumers
//! deduplicate by the alarm identities (ONAP requestID, VES eventId, Alertmanager labels).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{Notify, mpsc};

use crate::store::Store;
use crate::telemetry::Metrics;

/// How to reach the broker.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Client id.
    pub client_id: String,
    /// User name and password.
    pub credentials: Option<(String, String)>,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// Messages sent and not yet acknowledged, at most.
    pub window: usize,
    /// The health topic: `online` (retained) on every connection, `offline` as the last will.
    pub health_topic: String,
    /// TLS, when the broker is reached over it.
    pub tls: Option<MqttTls>,
}

/// TLS to the broker: the CA that signed its certificate and, for brokers that require one,
/// this appliance's certificate and key (all PEM, as read from the files).
#[derive(Clone)]
pub struct MqttTls {
    /// CA certificate(s).
    pub ca: Vec<u8>,
    /// Client certificate chain and private key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for MqttTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("MqttTls").field("client_certificate", &self.client.is_some()).finish()
    }
}

impl MqttTls {
    /// Reads the files named by the configuration (`mqtt.ca_file`, `mqtt.client_cert_file`,
    /// `mqtt.client_key_file`); `None` without `mqtt.tls`.
    pub fn from_config(mqtt: &crate::config::MqttConfig) -> Result<Option<Self>, String> {
        if !mqtt.tls {
            return Ok(None);
        }
        let read = |key: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
        };
        let ca = match &mqtt.ca_file {
            Some(path) => read("mqtt.ca_file", path)?,
            None => return Err("mqtt.ca_file: is required when mqtt.tls is true".into()),
        };
        let client = match (&mqtt.client_cert_file, &mqtt.client_key_file) {
            (Some(cert), Some(key)) => {
                Some((read("mqtt.client_cert_file", cert)?, read("mqtt.client_key_file", key)?))
            }
            _ => None,
        };
        Ok(Some(Self { ca, client }))
    }
}

/// A running publisher.
#[derive(Debug, Clone)]
pub struct PublisherHandle {
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    minutes: Arc<MinuteClock>,
}

/// The minutes waiting for the broker: the number of each minute's last outbox message and
/// when the minute closed. When the broker acknowledges that message (or a later one: the
/// broker acknowledges in order), the minute's close → broker latency is observed.
#[derive(Debug, Default)]
struct MinuteClock(std::sync::Mutex<VecDeque<(u64, std::time::Instant)>>);

/// Minutes remembered at most (a broker outage must not grow memory without bound).
const MINUTES_REMEMBERED: usize = 1024;

impl MinuteClock {
    fn enqueued(&self, last: u64, closed_at: std::time::Instant) {
        let mut waiting = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if waiting.len() == MINUTES_REMEMBERED {
            waiting.pop_front();
        }
        waiting.push_back((last, closed_at));
    }

    fn acknowledged(&self, seq: u64, metrics: &Metrics) {
        let mut waiting = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(&(last, closed_at)) = waiting.front() {
            if last > seq {
                break;
            }
            metrics.minute_to_broker_seconds.observe(closed_at.elapsed().as_secs_f64());
            waiting.pop_front();
        }
    }
}

impl PublisherHandle {
    /// Says that the outbox has new messages.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A judged minute's messages are in the outbox, `last` the number of its last one.
    pub fn minute_enqueued(&self, last: u64, closed_at: std::time::Instant) {
        self.minutes.enqueued(last, closed_at);
    }

    /// Where it counts (`imsight_mqtt_*`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

enum Driven {
    /// A new client and connection: the old one, with whatever was queued in it, is gone.
    Client(AsyncClient),
    Connected,
    Sent(u16),
    Acked(u16),
    Lost(String),
    /// Acknowledged messages are out of the outbox (`true`), or could not be removed
    /// (`false`: they are read and sent again).
    Removed(Vec<u64>, bool),
}

/// Starts the publisher on the current tokio runtime.
pub fn spawn_publisher(
    settings: MqttSettings,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
) -> PublisherHandle {
    let mut options =
        MqttOptions::new(settings.client_id.clone(), settings.host.clone(), settings.port);
    options.set_keep_alive(settings.keep_alive);
    options.set_clean_session(true);
    options.set_inflight(u16::try_from(settings.window.max(1)).unwrap_or(u16::MAX));
    options.set_last_will(LastWill::new(
        settings.health_topic.clone(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user.clone(), password.clone());
    }
    if let Some(tls) = &settings.tls {
        // One crypto provider for the process (ring); a second install is refused, harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Simple {
                ca: tls.ca.clone(),
                alpn: None,
                client_auth: tls.client.clone(),
            },
        ));
    }
    let capacity = settings.window.max(1) * 2;
    let (events, received) = mpsc::unbounded_channel();
    let wake = Arc::new(Notify::new());
    let minutes = Arc::new(MinuteClock::default());
    let (acknowledge, to_remove) = mpsc::unbounded_channel();
    tokio::spawn(remove_acknowledged(
        to_remove,
        events.clone(),
        Arc::clone(&store),
        Arc::clone(&metrics),
        Arc::clone(&minutes),
    ));
    tokio::spawn(drive(options, capacity, events, Arc::clone(&metrics)));
    let ends = Ends { acknowledge, store, metrics: Arc::clone(&metrics), wake: Arc::clone(&wake) };
    tokio::spawn(send(received, settings, ends));
    PublisherHandle { wake, metrics, minutes }
}

/// Drives one client and connection at a time. When a connection fails, its client is
/// dropped with everything queued or in flight in it, and a new one is made: nothing stale is
/// sent on the next connection, so the order in which publishes go out is the order in which
/// the sender handed them over (which is how packet ids are matched to outbox numbers), and
/// everything unacknowledged is read from the outbox again.
async fn drive(
    options: MqttOptions,
    capacity: usize,
    events: mpsc::UnboundedSender<Driven>,
    metrics: Arc<Metrics>,
) {
    loop {
        let (client, mut eventloop) = AsyncClient::new(options.clone(), capacity);
        if events.send(Driven::Client(client)).is_err() {
            return;
        }
        loop {
            let forwarded = match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => Driven::Connected,
                Ok(Event::Incoming(Packet::PubAck(ack))) => Driven::Acked(ack.pkid),
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Driven::Sent(pkid),
                Ok(_) => continue,
                Err(error) => {
                    metrics.mqtt_connection_errors.inc();
                    metrics.mqtt_connected.set(0);
                    if events.send(Driven::Lost(error.to_string())).is_err() {
                        return;
                    }
                    break;
                }
            };
            if events.send(forwarded).is_err() {
                return;
            }
        }
        // Do not spin against a dead broker.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How often a broker that cannot be reached is logged.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Messages read from the outbox at a time.
const READ_AHEAD: usize = 256;

/// Sequence 0 marks a publish that is not from the outbox (the health message).
const NOT_FROM_OUTBOX: u64 = 0;

/// What the sending task shares with the rest of the appliance.
struct Ends {
    acknowledge: mpsc::UnboundedSender<u64>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

async fn send(mut events: mpsc::UnboundedReceiver<Driven>, settings: MqttSettings, ends: Ends) {
    let Ends { acknowledge, store, metrics, wake } = ends;
    let mut connected = false;
    // Handed to rumqttc, packet id not known yet, in order.
    let mut awaiting: VecDeque<u64> = VecDeque::new();
    let mut in_flight: HashMap<u16, u64> = HashMap::new();
    let mut sent: HashSet<u64> = HashSet::new();
    // Acknowledged, on their way out of the outbox: not to be sent again meanwhile, even
    // across a reconnect.
    let mut removing: HashSet<u64> = HashSet::new();
    // Read from the outbox, not yet handed to rumqttc; and the last number read. Each message
    // is read once while connected (a reconnect reads from the start again).
    let mut queue: VecDeque<(u64, crate::publish::Outbound)> = VecDeque::new();
    let mut failures_logged: Option<std::time::Instant> = None;
    let mut client: Option<AsyncClient> = None;
    let mut cursor = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                None => return,
                Some(Driven::Client(new)) => client = Some(new),
                Some(Driven::Connected) => {
                    // A clean session: rumqttc dropped whatever was in flight, so everything
                    // not acknowledged is read from the outbox again.
                    forget(&mut awaiting, &mut in_flight, &mut sent, &mut queue, &mut cursor);
                    connected = true;
                    metrics.mqtt_connected.set(1);
                    metrics.mqtt_connections.inc();
                    tracing::info!(host = %settings.host, port = settings.port, "mqtt connected");
                    if let Some(client) = &client
                        && client.publish(settings.health_topic.clone(), QoS::AtLeastOnce, true, "online").await.is_ok() {
                        awaiting.push_back(NOT_FROM_OUTBOX);
                    }
                }
                Some(Driven::Sent(pkid)) => {
                    // A re-send by rumqttc after a reconnect keeps its packet id.
                    if !in_flight.contains_key(&pkid)
                        && let Some(seq) = awaiting.pop_front() {
                            in_flight.insert(pkid, seq);
                        }
                }
                Some(Driven::Acked(pkid)) => {
                    if let Some(seq) = in_flight.remove(&pkid).filter(|&seq| seq != NOT_FROM_OUTBOX) {
                        sent.remove(&seq);
                        removing.insert(seq);
                        let _ = acknowledge.send(seq);
                    }
                }
                Some(Driven::Removed(seqs, removed)) => {
                    if !removed && let Some(&first) = seqs.iter().min() {
                        // Still in the outbox: read again from the first of them.
                        cursor = cursor.min(first.saturating_sub(1));
                        queue.clear();
                    }
                    for seq in seqs {
                        removing.remove(&seq);
                    }
                }
                Some(Driven::Lost(reason)) => {
                    if connected {
                        tracing::warn!(%reason, "mqtt connection lost; messages wait in the outbox");
                    } else if failures_logged.is_none_or(|at| at.elapsed() >= FAILURE_LOG_EVERY) {
                        // Never connected, or still down: say why now and then (a wrong CA,
                        // key or password shows here), not on every retry.
                        failures_logged = Some(std::time::Instant::now());
                        tracing::warn!(%reason, host = %settings.host, port = settings.port, "mqtt cannot connect; messages wait in the outbox");
                    }
                    connected = false;
                    forget(&mut awaiting, &mut in_flight, &mut sent, &mut queue, &mut cursor);
                }
            },
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        if !connected || sent.len() >= settings.window {
            continue;
        }
        if queue.is_empty() {
            let (store, after) = (Arc::clone(&store), cursor);
            match tokio::task::spawn_blocking(move || store.outbox_after(after, READ_AHEAD)).await {
                Ok(Ok(waiting)) => {
                    if let Some(&(last, _)) = waiting.last() {
                        cursor = last;
                    }
                    let fresh =
                        |(seq, _): &(u64, _)| !sent.contains(seq) && !removing.contains(seq);
                    queue.extend(waiting.into_iter().filter(fresh));
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot read the outbox");
                    continue;
                }
                Err(_) => continue,
            }
        }
        let Some(client) = &client else { continue };
        while sent.len() < settings.window {
            let Some((seq, message)) = queue.pop_front() else { break };
            let qos = QoS::AtLeastOnce;
            if client.publish(message.topic, qos, message.retain, message.payload).await.is_err() {
                // The client is going away: read again from this message on.
                cursor = seq.saturating_sub(1);
                queue.clear();
                break;
            }
            sent.insert(seq);
            awaiting.push_back(seq);
            metrics.mqtt_published.inc();
        }
    }
}

/// Removes acknowledged messages from the outbox, as many per write transaction as have
/// arrived meanwhile (one transaction per message would bound the publish rate by the
/// disk's commit latency), counts them and tells the sender.
async fn remove_acknowledged(
    mut acknowledged: mpsc::UnboundedReceiver<u64>,
    events: mpsc::UnboundedSender<Driven>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    minutes: Arc<MinuteClock>,
) {
    while let Some(first) = acknowledged.recv().await {
        let mut seqs = vec![first];
        while let Ok(seq) = acknowledged.try_recv() {
            seqs.push(seq);
        }
        let (store, removing) = (Arc::clone(&store), seqs.clone());
        let removed = match tokio::task::spawn_blocking(move || store.acknowledge(&removing)).await
        {
            Ok(Ok(())) => {
                metrics.mqtt_acknowledged.inc_by(seqs.len() as u64);
                if let Some(&last) = seqs.iter().max() {
                    minutes.acknowledged(last, &metrics);
                }
                true
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot remove acknowledged messages from the outbox; they will be sent again");
                false
            }
            Err(error) => {
                tracing::error!(%error, "outbox task failed; the messages will be sent again");
                false
            }
        };
        if events.send(Driven::Removed(seqs, removed)).is_err() {
            return;
        }
    }
}

/// A lost connection: nothing in flight will be acknowledged any more, and what was read
/// ahead is read again from the outbox's start.
fn forget(
    awaiting: &mut VecDeque<u64>,
    in_flight: &mut HashMap<u16, u64>,
    sent: &mut HashSet<u64>,
    queue: &mut VecDeque<(u64, crate::publish::Outbound)>,
    cursor: &mut u64,
) {
    awaiting.clear();
    in_flight.clear();
    sent.clear();
    queue.clear();
    *cursor = 0;
}
