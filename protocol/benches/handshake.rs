//! Noise handshakes per second on one core, beside the bare X25519 rate
//! measured in the same run.
//!
//! A full IK handshake, both sides in this thread, does 10 X25519 scalar
//! multiplications (2 ephemeral key generations, 4 DH on each side). The
//! DH-bound rate is therefore `x25519_ops_per_s / 10`; the goal is that real
//! handshakes reach at least 0.9 of it.
//!
//! Run: `cargo bench -p cairn-protocol --bench handshake`

#![allow(clippy::unwrap_used, clippy::expect_used)]
// A benchmark measures the wall clock; the protocol itself never reads it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_protocol::envelope::Envelope;
use cairn_protocol::invite::VerifiedCards;
use cairn_protocol::session::{Handshake, LocalParty, Responded};
use cairn_protocol::{ContactCard, Identity, Time};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const X25519_PER_HANDSHAKE: f64 = 10.0;

/// Runs the closures in small interleaved batches for `seconds`, so every
/// machine hiccup hits all of them alike; returns each one's rate per second.
fn interleaved<const N: usize>(
    seconds: f64,
    batch: [u64; N],
    fs: &mut [&mut dyn FnMut(); N],
) -> [f64; N] {
    let mut spent = [Duration::ZERO; N];
    let mut done = [0u64; N];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        for k in 0..N {
            let t = Instant::now();
            for _ in 0..batch[k] {
                (fs[k])();
            }
            spent[k] += t.elapsed();
            done[k] += batch[k];
        }
    }
    std::array::from_fn(|k| done[k] as f64 / spent[k].as_secs_f64())
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (a, b) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let ca = ContactCard::new(&a, "alice", vec![], Time::ZERO, Duration::from_secs(3600)).unwrap();
    let cb = ContactCard::new(&b, "bob", vec![], Time::ZERO, Duration::from_secs(3600)).unwrap();
    let (mut va, mut vb) = (VerifiedCards::new(16), VerifiedCards::new(16));

    let handshake = |seed: u64, fresh: bool| {
        if fresh {
            va = VerifiedCards::new(16);
            vb = VerifiedCards::new(16);
        }
        let mut la = LocalParty {
            identity: &a,
            card: &ca,
            verified: &mut va,
        };
        let (hs, init) = Handshake::initiate(
            &la,
            b.key(),
            Some(b.static_key()),
            seed,
            [seed as u8; 32],
            Time::ZERO,
        )
        .unwrap();
        let Envelope::Init {
            sender_index,
            pattern,
            noise,
        } = init
        else {
            unreachable!()
        };
        let mut lb = LocalParty {
            identity: &b,
            card: &cb,
            verified: &mut vb,
        };
        let Ok(Responded::Session { session, reply, .. }) = Handshake::respond(
            &mut lb,
            (sender_index, pattern, &noise),
            seed + 1,
            [7; 32],
            Time::ZERO,
        ) else {
            unreachable!()
        };
        let Envelope::Response {
            sender_index,
            noise,
            ..
        } = reply
        else {
            unreachable!()
        };
        let (mine, _) = hs
            .on_response(&mut la, sender_index, &noise, Time::ZERO)
            .unwrap();
        black_box((mine, session));
    };

    let mut scalar = [0u8; 32];
    let mut point = x25519_dalek::X25519_BASEPOINT_BYTES;
    let mut x25519 = || {
        rng.fill_bytes(&mut scalar);
        point = x25519_dalek::x25519(black_box(scalar), black_box(point));
    };

    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6.0);
    let mut seed = 0u64;
    let handshake = std::cell::RefCell::new(handshake);
    let mut known = || {
        seed += 2;
        (handshake.borrow_mut())(seed, false)
    };
    // Warm up caches and the allocator.
    for _ in 0..50 {
        known();
    }
    let mut seed2 = 1u64 << 40;
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let mut fresh = || {
            seed2 += 2;
            (handshake.borrow_mut())(seed2, true)
        };
        let [x, h, first] = interleaved(
            secs,
            [100, 10, 10],
            &mut [&mut x25519, &mut known, &mut fresh],
        );
        rounds.push((x, h, first));
    }
    println!(
        "round  x25519 ops/s  DH-bound hs/s  IK hs/s (known card)  ratio  IK hs/s (new card)  ratio"
    );
    for (i, (x, h, first)) in rounds.iter().enumerate() {
        let bound = x / X25519_PER_HANDSHAKE;
        println!(
            "{:>5}  {:>12.0}  {:>13.0}  {:>20.0}  {:>5.3}  {:>18.0}  {:>5.3}",
            i + 1,
            x,
            bound,
            h,
            h / bound,
            first,
            first / bound
        );
    }
    let mut ratios: Vec<f64> = rounds
        .iter()
        .map(|(x, h, _)| h / (x / X25519_PER_HANDSHAKE))
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!("median ratio, known card: {:.3} (goal >= 0.9)", ratios[1]);
}
