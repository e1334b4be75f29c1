//! A 64 MiB file between two nodes over the LAN transport on loopback, with
//! durable (encrypted, fsynced) stores on both sides — beside a raw libp2p
//! stream between two bare transports that writes the same bytes to a file
//! and fsyncs it at the end, measured in the same run, alternating.
//!
//! The node's time runs from the send call (which reads the file and stores
//! it, sealed, on the sender) until the receiver has every chunk committed
//! and the whole file hashed to the offer's SHA-256.
//!
//! Run: `cargo bench -p cairn-node --bench files` (`BENCH_FILE_MIB` sets the
//! size, 64 by default; `BENCH_ROUNDS` the rounds, 3 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_node::api::{Reply, Request};
use cairn_protocol::Event;
use cairn_protocol::file::{CHUNK_LEN, TransferState};
use cairn_transports::LinkEvent;
use common::{pair, raw_link};
use rand::RngCore;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One file from a to b; returns (seconds to store on the sender, seconds
/// until the receiver holds it complete).
async fn node_round(p: &common::Pair, path: &std::path::Path) -> (f64, f64) {
    let mut events = p.b.subscribe();
    let start = Instant::now();
    let reply =
        p.a.call(Request::SendFile {
            contact: p.b_id.clone(),
            path: path.display().to_string(),
        })
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Sent { .. }), "{reply:?}");
    let stored = start.elapsed().as_secs_f64();
    loop {
        match tokio::time::timeout(Duration::from_secs(600), events.recv()).await {
            Ok(Ok(Event::FileProgress(r))) if !r.outgoing => match r.state {
                TransferState::Complete => break,
                TransferState::Failed => panic!("the file failed to arrive"),
                TransferState::Going => {}
            },
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("events: {e}"),
            Err(_) => panic!("no file after 10 minutes"),
        }
    }
    (stored, start.elapsed().as_secs_f64())
}

/// The same bytes over a raw stream in chunk-sized frames, written to a file
/// as they come and fsynced at the end; returns seconds.
async fn raw_round(data: &Bytes, dir: &std::path::Path) -> f64 {
    let (sender, mut rx, _keep) = raw_link().await;
    let frames: Vec<Bytes> = (0..data.len())
        .step_by(CHUNK_LEN)
        .map(|at| data.slice(at..(at + CHUNK_LEN).min(data.len())))
        .collect();
    let path = dir.join("raw-received");
    let mut file = std::fs::File::create(&path).unwrap();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        for frame in frames {
            sender.send(frame).await.unwrap();
        }
        sender
    });
    let mut got = 0usize;
    while got < data.len() {
        if let Some(LinkEvent::Frame { frame, .. }) = rx.recv().await {
            file.write_all(&frame).unwrap();
            got += frame.len();
        }
    }
    file.sync_all().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    drop(writer.await.unwrap());
    std::fs::remove_file(path).unwrap();
    elapsed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mib = env("BENCH_FILE_MIB", 64);
    let rounds = env("BENCH_ROUNDS", 3);
    let mut data = vec![0u8; mib << 20];
    rand::rngs::OsRng.fill_bytes(&mut data);
    let data = Bytes::from(data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payload.bin");
    std::fs::write(&path, &data).unwrap();

    let p = pair(false).await;
    let (mut stored, mut node, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (s, n) = node_round(&p, &path).await;
        let r = raw_round(&data, p._dirs.1.path()).await;
        let mbps = |t: f64| data.len() as f64 / t / 1e6;
        println!(
            "round {round}: node {:.2} s ({:.1} MB/s; {:.2} s of it storing on the sender), raw {:.2} s ({:.1} MB/s), ratio {:.2}",
            n,
            mbps(n),
            s,
            r,
            mbps(r),
            r / n
        );
        stored.push(s);
        node.push(n);
        raw.push(r);
    }
    let (s, n, r) = (median(stored), median(node), median(raw));
    let mbps = |t: f64| data.len() as f64 / t / 1e6;
    println!(
        "{mib} MiB file, median of {rounds}: node {:.1} MB/s ({n:.2} s, of it {s:.2} s storing on the sender), raw stream + fsync {:.1} MB/s ({r:.2} s), ratio {:.2} (goal >= 0.8)",
        mbps(n),
        mbps(r),
        r / n
    );
}
