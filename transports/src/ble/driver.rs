//! Runs one [`BleLink`] against a radio: packets in from a channel, packets
//! out to a channel (the radio's writer drains it), frames to and from the
//! node as [`LinkEvent`]s. The same task serves the in-memory radio and
//! BlueZ.

use std::time::Duration;

use bytes::Bytes;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::link::{BLE_FRAME_MTU, BleEvent, BleLink};
use crate::link::{self, DownReason, LinkEvent, LinkId, Medium};

/// Drives `core` until the link ends; returns why. `clock` is the origin
/// of the core's time.
pub async fn run(
    mut core: BleLink,
    id: LinkId,
    clock: Instant,
    mut packets_in: mpsc::Receiver<Vec<u8>>,
    packets_out: mpsc::Sender<Vec<u8>>,
    events: mpsc::Sender<LinkEvent>,
) -> DownReason {
    let now = || clock.elapsed();
    let mut frames: Option<link::QueuedFrames> = None;
    let mut close: Option<Arc<Notify>> = None;
    let mut opened: Option<link::LinkQueue> = None;
    let mut pending: Option<Bytes> = None;
    let mut slot: Option<Vec<u8>> = None;
    let mut announced = false;
    let mut report = Instant::now() + Duration::from_secs(5);
    let reason = 'link: loop {
        if Instant::now() >= report {
            report = Instant::now() + Duration::from_secs(5);
            tracing::debug!(link = %id, stats = %core.describe(), "BLE link");
        }
        if let Some(q) = opened.take() {
            frames = Some(q.frames);
            close = Some(q.close);
        }
        // What the core has to say, out to the radio while it takes it. A
        // slow radio must not stop us reading: what arrives meanwhile (acks
        // above all) is still taken in, and the packet that did not fit waits.
        while slot.is_none() {
            match core.poll_transmit(now()) {
                Ok(Some(p)) => match packets_out.try_send(p) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(p)) => slot = Some(p),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        break 'link DownReason::Lost("the radio went away".into());
                    }
                },
                Ok(None) => break,
                Err(reason) => break 'link reason,
            }
        }
        // A frame that waited for room.
        if let Some(frame) = pending.take() {
            match core.send_frame(&frame) {
                Ok(true) => continue,
                Ok(false) => pending = Some(frame),
                Err(reason) => break 'link reason,
            }
        }
        let wake = core
            .poll_timeout()
            .map(|t| clock + t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        let can_take = pending.is_none() && frames.is_some();
        let closing = close.clone();
        tokio::select! {
            packet = packets_in.recv() => {
                let Some(packet) = packet else {
                    break 'link DownReason::Lost("disconnected".into());
                };
                match core.on_packet(now(), &packet) {
                    Ok(evs) => {
                        for ev in evs {
                            let event = match ev {
                                BleEvent::Up { peer } => {
                                    let (sender, q) = link::channel(id, link::BLE_SEND_QUEUE_BYTES);
                                    opened = Some(q);
                                    announced = true;
                                    LinkEvent::Up { link: id, medium: Medium::Ble, peer: peer.key(), mtu: BLE_FRAME_MTU, sender }
                                }
                                BleEvent::Frame(frame) => LinkEvent::Frame { link: id, frame },
                            };
                            if events.send(event).await.is_err() {
                                break 'link DownReason::Closed;
                            }
                        }
                    }
                    Err(reason) => break 'link reason,
                }
            }
            frame = next_frame(&mut frames), if can_take => match frame {
                Some(frame) => match core.send_frame(&frame) {
                    Ok(true) => {}
                    Ok(false) => pending = Some(frame),
                    Err(reason) => break 'link reason,
                },
                None => break 'link goodbye(&mut core, &packets_out, now()),
            },
            permit = packets_out.reserve(), if slot.is_some() => match (permit, slot.take()) {
                (Ok(permit), Some(p)) => permit.send(p),
                _ => break 'link DownReason::Lost("the radio went away".into()),
            },
            () = notified(closing) => break 'link goodbye(&mut core, &packets_out, now()),
            () = tokio::time::sleep_until(wake) => {
                if let Err(reason) = core.handle_timeout(now()) {
                    break 'link reason;
                }
            }
        }
    };
    tracing::debug!(link = %id, stats = %core.describe(), "BLE link at its end");
    if announced {
        let _ = events
            .send(LinkEvent::Down {
                link: id,
                reason: reason.clone(),
            })
            .await;
    }
    reason
}

/// Tells the peer we are going (best effort).
fn goodbye(core: &mut BleLink, out: &mpsc::Sender<Vec<u8>>, now: Duration) -> DownReason {
    core.close();
    if let Ok(Some(p)) = core.poll_transmit(now) {
        let _ = out.try_send(p);
    }
    DownReason::Closed
}

async fn next_frame(frames: &mut Option<link::QueuedFrames>) -> Option<Bytes> {
    match frames {
        Some(f) => f.recv().await,
        None => std::future::pending().await,
    }
}

async fn notified(close: Option<Arc<Notify>>) {
    match close {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}
