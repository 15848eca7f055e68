//! The live HEP source: HEPv3 (and v1/v2) datagrams over UDP into the pipeline actor.
//!
//! A thread of its own receives; datagrams are gathered into batches (up to `HEP_BATCH`
//! events, or what arrived within `HEP_BATCH_WAIT`) and offered to the pipeline without waiting: when its mailbox is full the
//! batch is dropped and counted (the kernel would drop anyway; a blocked receive loop only
//! moves the loss into the socket buffer, where it is invisible).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::Addr;
use actix::prelude::SendError;

use super::messages::CaptureBatch;
use super::pipeline::FeaturePipelineActor;
use crate::sources::{OwnedCaptureEvent, read_hep_datagram};

/// Events per batch sent to the pipeline.
pub const HEP_BATCH: usize = 1024;
/// Longest a received datagram waits for its batch to fill.
pub const HEP_BATCH_WAIT: Duration = Duration::from_millis(20);
/// The socket receive buffer asked for.
const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;
/// Largest datagram read (a HEP packet with a large SIP message and headroom).
const MAX_DATAGRAM: usize = 65_535;

/// What the listener counted.
#[derive(Debug, Default)]
pub struct HepStats {
    /// Datagrams received.
    pub datagrams: AtomicU64,
    /// Datagrams dropped because the pipeline's mailbox was full.
    pub dropped_busy: AtomicU64,
    /// Receive errors.
    pub receive_errors: AtomicU64,
}

/// Binds `listen` and starts the receive loop on a thread of its own, so that receiving never
/// waits for the pipeline (which runs on the actor system's thread).
pub fn spawn_hep_listener(
    listen: SocketAddr,
    pipeline: Addr<FeaturePipelineActor>,
) -> std::io::Result<Arc<HepStats>> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(listen),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Ask for a large buffer; the kernel caps it at net.core.rmem_max (raise that for heavy
    // probes: what does not fit is lost before the appliance sees it).
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    let granted = socket.recv_buffer_size().unwrap_or_default();
    socket.bind(&listen.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(HEP_BATCH_WAIT))?;
    tracing::info!(%listen, receive_buffer = granted, "listening for HEP over UDP");
    let stats = Arc::new(HepStats::default());
    let counters = Arc::clone(&stats);
    std::thread::Builder::new().name("hep-udp".into()).spawn(move || {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        let mut batch: Vec<OwnedCaptureEvent> = Vec::with_capacity(HEP_BATCH);
        let mut datagrams_in_batch = 0u64;
        let mut oldest: Option<Instant> = None;
        loop {
            match socket.recv_from(&mut buffer) {
                Ok((length, _)) => {
                    counters.datagrams.fetch_add(1, Ordering::Relaxed);
                    datagrams_in_batch += 1;
                    oldest.get_or_insert_with(Instant::now);
                    read_hep_datagram(&buffer[..length], &mut |event| {
                        batch.push(OwnedCaptureEvent::from(event));
                    });
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(error) => {
                    counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "HEP receive failed");
                }
            }
            let due = oldest.is_some_and(|at| at.elapsed() >= HEP_BATCH_WAIT);
            if batch.is_empty() || (batch.len() < HEP_BATCH && !due) {
                continue;
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(HEP_BATCH));
            match pipeline.try_send(CaptureBatch(full)) {
                Ok(()) => {}
                Err(SendError::Full(_)) => {
                    counters.dropped_busy.fetch_add(datagrams_in_batch, Ordering::Relaxed);
                }
                // The appliance is stopping.
                Err(SendError::Closed(_)) => return,
            }
            datagrams_in_batch = 0;
            oldest = None;
        }
    })?;
    Ok(stats)
}
