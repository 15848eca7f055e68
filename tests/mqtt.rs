//! The MQTT publisher against a real broker (mosquitto, installed by `.ci/run`, started here on
//! a free loopback port): messages leave the outbox in order and only when acknowledged, and
//! a broker outage loses nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imsight::publish::{Outbound, OutboundKind};
use imsight::runtime::mqtt::{MqttSettings, MqttTls, spawn_publisher};
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
    start_broker_with(dir, port, "allow_anonymous true\n")
}

/// mosquitto on `port` with `listener_options` (TLS, authentication) for its listener.
fn start_broker_with(dir: &Path, port: u16, listener_options: &str) -> Broker {
    let config = dir.join("mosquitto.conf");
    let store = dir.join("broker");
    std::fs::create_dir_all(&store).expect("dir");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\n{listener_options}persistence true\npersistence_location {}/\n",
            store.display()
        ),
    )
    .expect("config");
    let mut child = Command::new(mosquitto())
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
    // Something answering on the port is not enough: it must be this broker.
    assert!(
        child.try_wait().expect("mosquitto status").is_none(),
        "mosquitto exited at start (port {port} taken by another process?)"
    );
    Broker { child, port }
}

/// A subscriber with a persistent session (QoS 1): the broker keeps its messages while it or
/// the publisher is away. The session and its subscription are made first (a subscriber that
/// exits once subscribed), so nothing published after this returns is missed however slowly
/// the real subscriber starts. It exits after `seconds`.
fn subscribe(port: u16, seconds: u32) -> Child {
    common::wait_for_mqtt_session(port);
    let port = port.to_string();
    let session =
        ["-h", "127.0.0.1", "-p", &port, "-t", "test/#", "-q", "1", "-c", "-i", "imsight-test-sub"];
    let status = Command::new("mosquitto_sub")
        .args(session)
        .arg("-E")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_sub (mosquitto-clients)");
    assert!(status.success(), "the subscriber's session was not made");
    Command::new("mosquitto_sub")
        .args(session)
        .args(["-v", "-W", &seconds.to_string()])
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
        tls: None,
    }
}

/// Runs openssl (the Debian package, a dependency of ca-certificates) in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA (`ca.crt`), a broker certificate for 127.0.0.1 (`broker.crt`, `broker.key`) and a
/// client certificate (`client.crt`, `client.key`) it signed, and one it did not
/// (`stranger.crt`, `stranger.key`).
/// A new P-256 key, unencrypted.
const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

fn certificates(dir: &Path) {
    let self_signed = |name: &str| {
        let mut args = vec!["req", "-x509", "-days", "2", "-subj"];
        let subject = format!("/CN=imsight test {name}");
        let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
        args.extend([subject.as_str(), "-keyout", &key, "-out", &crt]);
        args.extend(EC_KEY);
        openssl(dir, &args);
    };
    self_signed("ca");
    self_signed("stranger");
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        .expect("ext");
    for name in ["broker", "client"] {
        certificate(dir, name);
    }
    // mosquitto started as root reads its files as the user `mosquitto`.
    readable_by_all(dir);
}

/// Every file in `dir`, and `dir`, readable by every user (test keys only).
fn readable_by_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    set(dir, 0o755);
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            set(&path, 0o644);
        }
    }
}

/// A certificate for `name` (with the loopback address) that the test CA signs.
fn certificate(dir: &Path, name: &str) {
    let subject = format!("/CN={name}");
    let (key, csr, crt) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"));
    let mut request = vec!["req", "-subj", &subject, "-keyout", &key, "-out", &csr];
    request.extend(EC_KEY);
    openssl(dir, &request);
    let ca = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "san.ext"];
    let mut sign = vec!["x509", "-req", "-days", "2", "-in", &csr, "-out", &crt];
    sign.extend(ca);
    openssl(dir, &sign);
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
    let first_subscriber = subscribe(port, 15);
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
    let subscriber = subscribe(port, 15);
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

#[test]
fn over_tls_with_a_client_certificate_and_a_password() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    certificates(d);
    let out = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(d.join("passwords"))
        .args(["imsight", "s3cret"])
        .output()
        .expect("mosquitto_passwd");
    assert!(out.status.success());
    let port = free_port();
    let listener = format!(
        "cafile {0}/ca.crt\ncertfile {0}/broker.crt\nkeyfile {0}/broker.key\nrequire_certificate true\nallow_anonymous false\npassword_file {0}/passwords\n",
        d.display()
    );
    readable_by_all(d);
    let _broker = start_broker_with(d, port, &listener);
    let read = |name: &str| std::fs::read(d.join(name)).expect("certificate");

    // The broker takes this client only with a certificate its CA signed and the password.
    let publish = |tls: MqttTls, credentials: Option<(&str, &str)>, wait: u64| {
        let store =
            Arc::new(Store::open(&tempfile::tempdir().expect("dir").keep()).expect("store"));
        let settings = MqttSettings {
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            tls: Some(tls),
            ..settings(port)
        };
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let handle = runtime
            .block_on(async { spawn_publisher(settings, Arc::clone(&store), Arc::default()) });
        store.enqueue(&(0..3).map(event).collect::<Vec<_>>(), 1000).expect("enqueue");
        handle.wake();
        runtime.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(wait);
            while store.outbox_depth().expect("depth") > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        (store.outbox_depth().expect("depth"), handle.metrics().mqtt_connections.get())
    };
    let trusted =
        || MqttTls { ca: read("ca.crt"), client: Some((read("client.crt"), read("client.key"))) };
    assert_eq!(publish(trusted(), Some(("imsight", "s3cret")), 10), (0, 1), "delivered over TLS");
    assert_eq!(
        publish(trusted(), Some(("imsight", "wrong")), 3).1,
        0,
        "a wrong password is refused"
    );
    let stranger =
        MqttTls { ca: read("ca.crt"), client: Some((read("stranger.crt"), read("stranger.key"))) };
    assert_eq!(
        publish(stranger, Some(("imsight", "s3cret")), 3).1,
        0,
        "an unknown certificate is refused"
    );
    let no_client = MqttTls { ca: read("ca.crt"), client: None };
    assert_eq!(
        publish(no_client, Some(("imsight", "s3cret")), 3).1,
        0,
        "no certificate is refused"
    );
    // And the appliance refuses a broker its CA did not sign.
    let wrong_ca = MqttTls {
        ca: read("stranger.crt"),
        client: Some((read("client.crt"), read("client.key"))),
    };
    assert_eq!(
        publish(wrong_ca, Some(("imsight", "s3cret")), 3).1,
        0,
        "an untrusted broker is refused"
    );
}
