//! An in-memory radio between two nodes of one process: each node runs the
//! real BLE link core and driver; packets cross a lossy channel of one ATT
//! MTU. For tests of whole nodes over "Bluetooth" without a radio.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::driver;
use super::link::BLE_FRAME_MTU;
use super::link::BleLink;
use crate::hop::{HopKeys, Role};
use crate::link::{LinkEvent, LinkIds};

/// One side of an in-memory BLE link.
pub struct Endpoint<'a> {
    pub ids: &'a LinkIds,
    pub events: mpsc::Sender<LinkEvent>,
    pub keys: &'a Arc<HopKeys>,
}

/// How the in-memory radio behaves.
#[derive(Debug, Clone, Copy)]
pub struct MemoryRadio {
    pub att_mtu: usize,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Time each packet takes to cross.
    pub delay: Duration,
    pub seed: u64,
}

/// Joins `a` (the central, which starts the hop handshake) and `b`.
pub fn connect(a: Endpoint<'_>, b: Endpoint<'_>, radio: MemoryRadio) {
    let (a_out, a_air) = mpsc::channel::<Vec<u8>>(64);
    let (b_out, b_air) = mpsc::channel::<Vec<u8>>(64);
    let (to_a, a_in) = mpsc::channel::<Vec<u8>>(256);
    let (to_b, b_in) = mpsc::channel::<Vec<u8>>(256);
    tokio::spawn(air(a_air, to_b, radio, radio.seed));
    tokio::spawn(air(b_air, to_a, radio, radio.seed ^ 0x5eed));
    let clock = Instant::now();
    for (role, end, packets_in, packets_out) in [
        (Role::Initiator, a, a_in, a_out),
        (Role::Responder, b, b_in, b_out),
    ] {
        let id = end.ids.next();
        let core = BleLink::new(
            clock.elapsed(),
            role,
            end.keys,
            radio.att_mtu,
            BLE_FRAME_MTU,
        );
        let events = end.events;
        tokio::spawn(async move {
            match core {
                Ok(core) => {
                    let reason =
                        driver::run(core, id, clock, packets_in, packets_out, events).await;
                    tracing::debug!(link = %id, %reason, "in-memory BLE link down");
                }
                Err(reason) => tracing::warn!(%reason, "in-memory BLE link failed to start"),
            }
        });
    }
}

/// Carries packets across, losing some.
async fn air(
    mut from: mpsc::Receiver<Vec<u8>>,
    to: mpsc::Sender<Vec<u8>>,
    radio: MemoryRadio,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while let Some(packet) = from.recv().await {
        if packet.len() > (radio.att_mtu - 3).min(super::arq::MAX_VALUE) {
            tracing::warn!("a BLE packet over the ATT MTU was dropped");
            continue;
        }
        if !radio.delay.is_zero() {
            tokio::time::sleep(radio.delay).await;
        }
        if rng.gen_bool(radio.loss.clamp(0.0, 1.0)) {
            continue;
        }
        if to.send(packet).await.is_err() {
            return;
        }
    }
}
