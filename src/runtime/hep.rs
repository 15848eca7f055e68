//! The live HEP source: HEPv3 (and v1/v2) datagrams over UDP into the pipeline actor.
//!
//! A thread of its own receives; datagrams are gathered into batches (up to `HEP_BATCH`
//! events, or what arrived within `HEP_BATCH_WAIT`) and offered to the pipeline without
//! waiting: when its mailbox is full the batch is dropped and counted (the kernel would drop
//! anyway; a blocked receive loop only moves the loss into the socket buffer). What the kernel
//! drops itself is read from `/proc/self/net/udp` and counted too, so every loss is visible.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix::prelude::SendError;

use super::messages::CaptureBatch;
use super::pipeline::FeaturePipelineActor;
use crate::sources::{HepAuth, OwnedCaptureEvent, read_hep_datagram_with_key};
use crate::telemetry::Metrics;

/// Events per batch sent to the pipeline.
pub const HEP_BATCH: usize = 1024;
/// Longest a received datagram waits for its batch to fill.
pub const HEP_BATCH_WAIT: Duration = Duration::from_millis(20);
/// The socket receive buffer asked for.
const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;
/// Largest datagram read (a HEP packet with a large SIP message and headroom).
const MAX_DATAGRAM: usize = 65_535;

/// The metrics label of HEP over UDP.
pub const SOURCE: &str = "hep_udp";
/// The metrics label of HEP over TCP.
pub const SOURCE_TCP: &str = "hep_tcp";
/// The metrics label of what the pipeline counts, whatever the source.
pub const PIPELINE_SOURCE: &str = "pipeline";
/// How often the kernel's drop counter of the socket is read.
const KERNEL_DROPS_EVERY: Duration = Duration::from_secs(1);

/// How the listeners are set up.
#[derive(Debug, Clone)]
pub struct HepListenerSettings {
    /// Where to listen for HEP over UDP.
    pub listen: SocketAddr,
    /// Where to listen for HEP over TCP, when it is taken.
    pub tcp_listen: Option<SocketAddr>,
    /// The HEP authentication key senders must carry, when one is required.
    pub auth_key: Option<Vec<u8>>,
}

/// Binds the socket and starts the receive loop on a thread of its own, so that receiving
/// never waits for the pipeline (which runs on the actor system's thread).
pub fn spawn_hep_listener(
    settings: &HepListenerSettings,
    pipeline: Addr<FeaturePipelineActor>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let (socket, granted) = bind(settings.listen)?;
    let bound = socket.local_addr()?;
    tracing::info!(listen = %bound, receive_buffer = granted, auth_key = settings.auth_key.is_some(), "listening for HEP over UDP");
    metrics.up.with_label_values(&[SOURCE]).set(1);
    let auth_key = settings.auth_key.clone();
    let kernel = KernelDrops::of(&socket);
    std::thread::Builder::new()
        .name("hep-udp".into())
        .spawn(move || receive(&socket, auth_key.as_deref(), &pipeline, &metrics, kernel))?;
    Ok(())
}

/// Listens for HEP over TCP (HEPv3: each packet carries its length) on the running tokio
/// runtime: one task per connection, batches sent to the pipeline waiting for mailbox room (a
/// slow pipeline slows the sender down instead of losing packets). A connection whose stream
/// stops being HEPv3 cannot be resynchronised: it is counted and closed.
pub async fn spawn_hep_tcp_listener(
    listen: SocketAddr,
    auth_key: Option<Vec<u8>>,
    pipeline: Addr<FeaturePipelineActor>,
    metrics: Arc<Metrics>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tracing::info!(listen = %bound, "listening for HEP over TCP");
    metrics.up.with_label_values(&[SOURCE_TCP]).set(1);
    let auth_key: Option<Arc<[u8]>> = auth_key.map(Arc::from);
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let (pipeline, metrics, key) =
                        (pipeline.clone(), Arc::clone(&metrics), auth_key.clone());
                    tokio::spawn(async move {
                        tracing::info!(%peer, "HEP over TCP connected");
                        let end = receive_stream(stream, key.as_deref(), &pipeline, &metrics).await;
                        tracing::info!(%peer, reason = %end, "HEP over TCP closed");
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "HEP over TCP: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(bound)
}

/// Reads HEPv3 packets from one connection until it ends; says why it ended. Bytes are read
/// into a buffer (`read_buf` is cancel-safe, so a pause can flush what is gathered without
/// losing the stream's framing) and whole packets are cut out of it.
async fn receive_stream(
    mut stream: tokio::net::TcpStream,
    auth_key: Option<&[u8]>,
    pipeline: &Addr<FeaturePipelineActor>,
    metrics: &Metrics,
) -> String {
    use tokio::io::AsyncReadExt;
    let received = metrics.received.with_label_values(&[SOURCE_TCP]);
    let dropped_auth = metrics.dropped.with_label_values(&[SOURCE_TCP, "auth"]);
    let framing = metrics.rejected.with_label_values(&[SOURCE_TCP, "hep_framing"]);
    let mut batch: Vec<OwnedCaptureEvent> = Vec::with_capacity(HEP_BATCH);
    let mut buffer: Vec<u8> = Vec::with_capacity(2 * MAX_DATAGRAM);
    let mut oldest: Option<Instant> = None;
    loop {
        // Every whole packet in the buffer.
        let mut start = 0;
        while let Some(header) = buffer.get(start..start + 6) {
            let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
            if &header[..4] != b"HEP3" || length < 6 {
                framing.inc();
                let _ = flush(pipeline, &mut batch).await;
                return "not a HEPv3 stream".into();
            }
            let Some(packet) = buffer.get(start..start + length) else { break };
            received.inc();
            let auth = read_hep_datagram_with_key(packet, auth_key, &mut |event| {
                batch.push(OwnedCaptureEvent::from(event));
            });
            if auth == HepAuth::Refused {
                dropped_auth.inc();
            }
            start += length;
            oldest.get_or_insert_with(Instant::now);
        }
        buffer.drain(..start);
        let due = oldest.is_some_and(|at| at.elapsed() >= HEP_BATCH_WAIT);
        if (batch.len() >= HEP_BATCH || due) && !batch.is_empty() {
            oldest = None;
            if flush(pipeline, &mut batch).await.is_err() {
                return "the appliance is stopping".into();
            }
        }
        // More bytes; while a batch waits, a pause in the traffic sends it.
        let read = if batch.is_empty() {
            stream.read_buf(&mut buffer).await
        } else {
            match tokio::time::timeout(HEP_BATCH_WAIT, stream.read_buf(&mut buffer)).await {
                Ok(read) => read,
                Err(_) => {
                    oldest = None;
                    if flush(pipeline, &mut batch).await.is_err() {
                        return "the appliance is stopping".into();
                    }
                    continue;
                }
            }
        };
        match read {
            Ok(0) => {
                let _ = flush(pipeline, &mut batch).await;
                return if buffer.is_empty() {
                    "the sender closed".into()
                } else {
                    format!("the sender closed inside a packet ({} bytes left)", buffer.len())
                };
            }
            Ok(_) => {}
            Err(error) => {
                let _ = flush(pipeline, &mut batch).await;
                return error.to_string();
            }
        }
    }
}

/// Sends the batch to the pipeline, waiting for room in its mailbox.
async fn flush(
    pipeline: &Addr<FeaturePipelineActor>,
    batch: &mut Vec<OwnedCaptureEvent>,
) -> Result<(), actix::MailboxError> {
    if batch.is_empty() {
        return Ok(());
    }
    let full = std::mem::replace(batch, Vec::with_capacity(HEP_BATCH));
    pipeline.send(CaptureBatch(full)).await
}

/// The HEP socket: bound, with a large receive buffer (the size granted is returned) and a
/// read timeout of [`HEP_BATCH_WAIT`].
fn bind(listen: SocketAddr) -> std::io::Result<(UdpSocket, usize)> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(listen),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Ask for a large buffer; the kernel caps it at net.core.rmem_max (raise that for heavy
    // probes: what does not fit is lost before the appliance sees it, and counted as
    // `imsight_source_dropped_total{reason="kernel"}`).
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    let granted = socket.recv_buffer_size().unwrap_or_default();
    socket.bind(&listen.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(HEP_BATCH_WAIT))?;
    Ok((socket, granted))
}

/// What the bare receive loop counted.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SinkCount {
    /// Datagrams received.
    pub datagrams: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Datagrams the kernel dropped (its buffer was full).
    pub kernel_drops: u64,
    /// Seconds from the first datagram to the last.
    pub seconds: f64,
}

/// The baseline of the ingest benchmark: the same socket as the listener's, a receive loop
/// that discards what it receives, until no datagram came for `idle` after the first.
pub fn bare_receive(listen: SocketAddr, idle: Duration) -> std::io::Result<SinkCount> {
    let (socket, _) = bind(listen)?;
    let mut kernel = KernelDrops::of(&socket);
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let mut count = SinkCount::default();
    let (mut first, mut last): (Option<Instant>, Instant) = (None, Instant::now());
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((length, _)) => {
                last = Instant::now();
                first.get_or_insert(last);
                count.datagrams += 1;
                count.bytes += length as u64;
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if first.is_some() && last.elapsed() >= idle {
                    break;
                }
            }
            Err(error) => return Err(error),
        }
    }
    count.kernel_drops = kernel.as_mut().map_or(0, KernelDrops::new_drops);
    count.seconds = first.map_or(0.0, |f| (last - f).as_secs_f64());
    Ok(count)
}

fn receive(
    socket: &UdpSocket,
    auth_key: Option<&[u8]>,
    pipeline: &Addr<FeaturePipelineActor>,
    metrics: &Metrics,
    mut kernel: Option<KernelDrops>,
) {
    let received = metrics.received.with_label_values(&[SOURCE]);
    let dropped_busy = metrics.dropped.with_label_values(&[SOURCE, "busy"]);
    let dropped_auth = metrics.dropped.with_label_values(&[SOURCE, "auth"]);
    let dropped_kernel = metrics.dropped.with_label_values(&[SOURCE, "kernel"]);
    let receive_errors = metrics.dropped.with_label_values(&[SOURCE, "receive_error"]);
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let mut batch: Vec<OwnedCaptureEvent> = Vec::with_capacity(HEP_BATCH);
    let mut datagrams_in_batch = 0u64;
    let mut oldest: Option<Instant> = None;
    let mut kernel_read = Instant::now();
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((length, _)) => {
                received.inc();
                let auth = read_hep_datagram_with_key(&buffer[..length], auth_key, &mut |event| {
                    batch.push(OwnedCaptureEvent::from(event));
                });
                if auth == HepAuth::Refused {
                    dropped_auth.inc();
                } else {
                    datagrams_in_batch += 1;
                    oldest.get_or_insert_with(Instant::now);
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(error) => {
                receive_errors.inc();
                tracing::warn!(%error, "HEP receive failed");
            }
        }
        if kernel_read.elapsed() >= KERNEL_DROPS_EVERY {
            kernel_read = Instant::now();
            if let Some(kernel) = &mut kernel {
                dropped_kernel.inc_by(kernel.new_drops());
            }
        }
        let due = oldest.is_some_and(|at| at.elapsed() >= HEP_BATCH_WAIT);
        if batch.is_empty() || (batch.len() < HEP_BATCH && !due) {
            continue;
        }
        let full = std::mem::replace(&mut batch, Vec::with_capacity(HEP_BATCH));
        match pipeline.try_send(CaptureBatch(full)) {
            Ok(()) => {}
            Err(SendError::Full(_)) => dropped_busy.inc_by(datagrams_in_batch),
            // The appliance is stopping.
            Err(SendError::Closed(_)) => return,
        }
        datagrams_in_batch = 0;
        oldest = None;
    }
}

/// The kernel's count of datagrams it dropped for this socket (its receive buffer was full),
/// read from `/proc/self/net/udp` and `/proc/self/net/udp6` by the socket's inode (Linux only; elsewhere
/// nothing is counted).
#[derive(Debug)]
struct KernelDrops {
    inode: String,
    counted: u64,
}

impl KernelDrops {
    fn of(socket: &UdpSocket) -> Option<Self> {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        let link = link.to_string_lossy();
        let inode = link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned();
        Some(Self { inode, counted: 0 })
    }

    /// Drops since the last call.
    fn new_drops(&mut self) -> u64 {
        let total = ["/proc/self/net/udp", "/proc/self/net/udp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .find_map(|table| socket_drops(&table, &self.inode));
        let Some(total) = total else { return 0 };
        let new = total.saturating_sub(self.counted);
        self.counted = total;
        new
    }
}

/// The `drops` column of the line of `/proc/self/net/udp` whose inode is `inode`.
fn socket_drops(table: &str, inode: &str) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let columns: Vec<&str> = line.split_whitespace().collect();
        (columns.get(9) == Some(&inode)).then(|| columns.last()?.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_drops_are_read_from_the_line_of_the_socket() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 00000000:2364 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  2: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 3\n";
        assert_eq!(socket_drops(table, "4242"), Some(17));
        assert_eq!(socket_drops(table, "99"), Some(3));
        assert_eq!(socket_drops(table, "7"), None);
    }

    #[test]
    fn a_bound_socket_finds_its_own_line() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut drops = KernelDrops::of(&socket).expect("Linux /proc");
        assert_eq!(drops.new_drops(), 0);
    }
}
