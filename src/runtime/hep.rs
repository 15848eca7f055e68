//! The live HEP source: HEPv3 (and v1/v2) datagrams over UDP into the pipeline actor.
//!
//! Datagrams are gathered into batches (up to `HEP_BATCH` events, or what arrived within
//! `HEP_BATCH_WAIT`) and offered to the pipeline without waiting: when its mailbox is full the
//! batch is dropped and counted (the kernel would drop anyway; a blocked receive loop only
//! moves the loss into the socket buffer, where it is invisible).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::Addr;
use tokio::net::UdpSocket;

use super::messages::CaptureBatch;
use super::pipeline::FeaturePipelineActor;
use crate::sources::{OwnedCaptureEvent, read_hep_datagram};

/// Events per batch sent to the pipeline.
pub const HEP_BATCH: usize = 1024;
/// Longest a received datagram waits for its batch to fill.
pub const HEP_BATCH_WAIT: Duration = Duration::from_millis(20);
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

/// Binds `listen` and starts the receive loop on the current runtime.
pub async fn spawn_hep_listener(
    listen: SocketAddr,
    pipeline: Addr<FeaturePipelineActor>,
) -> std::io::Result<Arc<HepStats>> {
    let socket = UdpSocket::bind(listen).await?;
    tracing::info!(%listen, "listening for HEP over UDP");
    let stats = Arc::new(HepStats::default());
    let counters = Arc::clone(&stats);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        let mut batch: Vec<OwnedCaptureEvent> = Vec::with_capacity(HEP_BATCH);
        let mut datagrams_in_batch = 0u64;
        loop {
            let received = if batch.is_empty() {
                socket.recv_from(&mut buffer).await.map(Some)
            } else {
                match tokio::time::timeout(HEP_BATCH_WAIT, socket.recv_from(&mut buffer)).await {
                    Ok(result) => result.map(Some),
                    Err(_) => Ok(None),
                }
            };
            match received {
                Ok(Some((length, _))) => {
                    counters.datagrams.fetch_add(1, Ordering::Relaxed);
                    datagrams_in_batch += 1;
                    read_hep_datagram(&buffer[..length], &mut |event| {
                        batch.push(OwnedCaptureEvent::from(event));
                    });
                    if batch.len() < HEP_BATCH {
                        continue;
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    counters.receive_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "HEP receive failed");
                    continue;
                }
            }
            if batch.is_empty() {
                continue;
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(HEP_BATCH));
            if pipeline.try_send(CaptureBatch(full)).is_err() {
                counters.dropped_busy.fetch_add(datagrams_in_batch, Ordering::Relaxed);
            }
            datagrams_in_batch = 0;
        }
    });
    Ok(stats)
}
