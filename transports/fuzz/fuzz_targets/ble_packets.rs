//! BLE packets from a hostile radio neighbour: arbitrary bytes into the ARQ
//! and into a link (before and after an honest hop handshake). Never a
//! panic; the reassembly table never holds more than its window; nothing
//! decoded beyond the bounds.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use cairn_transports::ble::arq::{Arq, WINDOW};
use cairn_transports::ble::bus::{Pair, Radio};
use cairn_transports::ble::{BLE_FRAME_MTU, BleLink};
use cairn_transports::hop::{HopKeys, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = HopKeys::new(&[2; 32], &[4; 32]);
    let mut arq = Arq::new(247);
    let mut fresh =
        BleLink::new(Duration::ZERO, Role::Responder, &key, 247, BLE_FRAME_MTU).unwrap();
    // A link whose handshake finished honestly; then the fuzzer speaks.
    let mut pair = Pair::new(
        Radio::new(247),
        &HopKeys::new(&[1; 32], &[3; 32]),
        &key,
        BLE_FRAME_MTU,
    )
    .unwrap();
    pair.run_until(Duration::from_secs(5), |p| p.up[1].is_some())
        .unwrap();
    let [_, up] = &mut pair.ends;
    let mut now = Duration::ZERO;
    for packet in data.split(|b| *b == 0xff) {
        now += Duration::from_millis(3);
        let _ = arq.on_packet(now, packet);
        let _ = arq.poll_transmit(now);
        let _ = arq.handle_timeout(now);
        assert!(arq.held() < usize::from(WINDOW));
        let _ = fresh.on_packet(now, packet);
        let _ = up.on_packet(now, packet);
        let _ = up.poll_transmit(now);
    }
});
