//! What the hop handshake costs as the number of keys a node looks for
//! grows (docs/PERFORMANCE.md, "Hop handshake"): the time for both ends of
//! one whole handshake in memory, and the bytes of its four messages.
//!
//! ```text
//! cargo bench -p cairn-transports --bench hop_handshake [-- ROUNDS]
//! ```
//!
//! Each end looks for `n` keys (its contacts); the sender of lookups does
//! one X25519 per key, the receiver one in all. Time is the median of
//! ROUNDS (default 30) handshakes on this machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cairn_transports::hop::{self, HopKeys, Peer};

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    println!(
        "| keys looked for (each end) | handshake, both ends (median) | bytes on the wire (4 messages) |"
    );
    println!("|---|---|---|");
    for n in [0usize, 16, 64, 256, 1024, 4096] {
        let (a, b) = (
            HopKeys::new(&[1; 32], &[3; 32]),
            HopKeys::new(&[2; 32], &[4; 32]),
        );
        let others = |seed: u8| -> Vec<[u8; 32]> {
            (0..n.saturating_sub(1) as u32)
                .map(|i| {
                    let mut k = [seed; 32];
                    k[..4].copy_from_slice(&i.to_be_bytes());
                    HopKeys::new(&k, &k).static_key()
                })
                .collect()
        };
        // Each knows the other among n keys (none at n = 0: strangers).
        let (mut fa, mut fb) = (others(5), others(6));
        if n > 0 {
            fa.push(b.static_key());
            fb.push(a.static_key());
        }
        a.look_for(fa);
        b.look_for(fb);
        let mut times: Vec<Duration> = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for _ in 0..rounds {
            let start = Instant::now();
            let (x, _, wire) = hop::in_memory_wire(&a, &b).unwrap();
            times.push(start.elapsed());
            assert_eq!(matches!(x.peer, Peer::Known(_)), n > 0);
            bytes = wire.iter().map(Vec::len).sum::<usize>();
        }
        times.sort();
        println!(
            "| {n} | {:.2} ms | {bytes} |",
            times[rounds / 2].as_secs_f64() * 1e3
        );
    }
}
