//! The MQTT publisher against a real broker (mosquitto, installed by `.ci/run`, started here on
//! a free loopback port): messages leave the outbox in order and only when acknowledged, and
//! a broker outage loses nothing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imsight::publish::{Outbound, OutboundKind};
use imsight::runtime::mqtt::{MqttSettings, spawn_publisher};
use imsight::store::Store;

struct Broker {
    child: Child,
    port: u16,
}

impl Broker {
    /// A clean stop (SIGTERM): the broker saves its persistent sessions.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn mosquitto() -> String {
    for path in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(path).is_file() {
            return path.to_owned();
        }
    }
    panic!(
        "mosquitto is not installed (apt-get install mosquitto mosquitto-clients; .ci/run does it)"
    );
}

fn start_broker(dir: &Path, port: u16) -> Broker {
    let config = dir.join("mosquitto.conf");
    let store = dir.join("broker");
    std::fs::create_dir_all(&store).expect("dir");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
            store.display()
        ),
    )
    .expect("config");
    let child = Command::new(mosquitto())
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Broker { child, port }
}

/// A subscriber with a persistent session (QoS 1): the broker keeps its messages while it or
/// the publisher is away. It exits after `seconds` without a message.
fn subscribe(port: u16, seconds: u32) -> Child {
    Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "test/#",
            "-q",
            "1",
            "-c",
            "-i",
            "imsight-test-sub",
            "-v",
        ])
        .args(["-W", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub (mosquitto-clients)")
}

fn event(n: usize) -> Outbound {
    Outbound {
        kind: OutboundKind::ControlLoop,
        topic: format!("test/cl/{n}"),
        payload: format!("event-{n}").into_bytes(),
        retain: false,
    }
}

fn settings(port: u16) -> MqttSettings {
    MqttSettings {
        host: "127.0.0.1".into(),
        port,
        client_id: "imsight-test".into(),
        credentials: None,
        keep_alive: Duration::from_secs(5),
        window: 4,
        health_topic: "test/health".into(),
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(child: Child) -> Vec<String> {
    let out = child.wait_with_output().expect("subscriber");
    BufReader::new(out.stdout.as_slice()).lines().map_while(Result::ok).collect()
}

#[test]
fn the_outbox_drains_in_order_and_survives_a_broker_outage() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let broker = start_broker(dir.path(), port);
    let first_subscriber = subscribe(port, 8);
    std::thread::sleep(Duration::from_millis(500));

    let store = Arc::new(Store::open(&dir.path().join("state")).expect("store"));
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let handle = runtime
        .block_on(async { spawn_publisher(settings(port), Arc::clone(&store), Arc::default()) });
    // A current-thread runtime runs its tasks while something blocks on it: this thread does.
    let background = std::thread::spawn(move || {
        runtime.block_on(async { tokio::time::sleep(Duration::from_secs(120)).await });
    });

    store.enqueue(&(0..10).map(event).collect::<Vec<_>>(), 1000).expect("enqueue");
    handle.wake();
    wait_until("the outbox to drain", Duration::from_secs(20), || {
        store.outbox_depth().expect("depth") == 0
    });
    // (The counter follows the removal from the outbox.)
    wait_until("the acknowledgements to be counted", Duration::from_secs(5), || {
        handle.metrics().mqtt_acknowledged.get() == 10
    });
    let received = lines(first_subscriber);
    let events: Vec<&String> = received.iter().filter(|l| l.starts_with("test/cl/")).collect();
    let expected: Vec<String> = (0..10).map(|n| format!("test/cl/{n} event-{n}")).collect();
    assert_eq!(
        events.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(received.iter().any(|l| l == "test/health online"), "{received:?}");

    // The broker goes away; events keep coming into the outbox; nothing leaves it.
    assert_eq!(broker.port, port);
    broker.stop();
    wait_until("the publisher to notice", Duration::from_secs(20), || {
        handle.metrics().mqtt_connected.get() == 0
    });
    store.enqueue(&(10..16).map(event).collect::<Vec<_>>(), 1000).expect("enqueue");
    handle.wake();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(store.outbox_depth().expect("depth"), 6);

    // It comes back (with the subscriber's persistent session, which queues for it): every
    // event arrives, in order.
    let _broker = start_broker(dir.path(), port);
    let subscriber = subscribe(port, 8);
    wait_until("the outbox to drain after the outage", Duration::from_secs(30), || {
        store.outbox_depth().expect("depth") == 0
    });
    let received = lines(subscriber);
    let expected: Vec<String> = (10..16).map(|n| format!("test/cl/{n} event-{n}")).collect();
    let events: Vec<String> = received.into_iter().filter(|l| l.starts_with("test/cl/")).collect();
    assert_eq!(events, expected);
    assert!(handle.metrics().mqtt_connections.get() >= 2);
    assert!(handle.metrics().mqtt_connection_errors.get() >= 1, "the outage is counted");
    assert!(handle.metrics().render().contains("imsight_mqtt_connected 1"));
    drop(background);
}
