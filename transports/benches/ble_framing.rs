//! BLE framing goodput: how much of the raw ATT payload carries frames, at
//! ATT MTU 23, 185, 247 and 512, over the modelled radio with no loss and
//! with 5 % loss (docs/PERFORMANCE.md, "Bluetooth LE").
//!
//! ```text
//! cargo bench -p cairn-transports --bench ble_framing [-- MIB]
//! ```
//!
//! Raw payload is what the sender's writes could carry: (ATT MTU − 3) bytes
//! each. Overhead is the share of it that is not frame bytes delivered: ARQ
//! headers, the hop handshake, Noise record framing and tags, part-filled
//! writes and retransmissions. The receiver's acks go the other way and are
//! counted beside it. Byte counts on a virtual clock (0.8 ms of air per
//! write, 15 ms latency), so the result does not depend on the machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use cairn_transports::ble::BLE_FRAME_MTU;
use cairn_transports::ble::bus::{Pair, Radio};
use cairn_transports::hop::HopKeys;

fn main() {
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(4);
    let total = mib * 1024 * 1024;
    println!("{mib} MiB one way, in 61 440-byte frames (a file's chunks)");
    println!(
        "| ATT MTU | loss | sender's writes | raw payload of those writes | frame bytes delivered | overhead | acks back (writes, bytes) | virtual time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for loss in [0.0, 0.05] {
        for mtu in [23usize, 185, 247, 512] {
            let mut radio = Radio::new(mtu);
            radio.loss = loss;
            radio.seed = 42;
            radio.latency = Duration::from_millis(15);
            radio.air = Duration::from_micros(800);
            let mut pair = Pair::new(
                radio,
                &HopKeys::new(&[1; 32], &[3; 32]),
                &HopKeys::new(&[2; 32], &[4; 32]),
                BLE_FRAME_MTU,
            )
            .unwrap();
            let frames = total.div_ceil(61_440);
            for i in 0..frames {
                pair.send(0, Bytes::from(vec![i as u8; 61_440]));
            }
            pair.run_until(Duration::from_secs(24 * 3600), |p| {
                p.received[1].len() == frames
            })
            .unwrap();
            assert_eq!(pair.received[1].len(), frames, "all frames arrived");
            let delivered: u64 = pair.received[1].iter().map(|f| f.len() as u64).sum();
            let c = pair.counters;
            // The sender's writes, each with room for (MTU - 3) bytes.
            let raw = c[0].packets * (mtu as u64 - 3);
            let overhead = 1.0 - delivered as f64 / raw as f64;
            println!(
                "| {mtu} | {:.0} % | {} | {raw} B | {delivered} B | **{:.1} %** | {}, {} B | {:.1} s |",
                loss * 100.0,
                c[0].packets,
                overhead * 100.0,
                c[1].packets,
                c[1].packet_bytes,
                pair.now().as_secs_f64()
            );
        }
    }
}
