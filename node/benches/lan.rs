//! Two nodes over the LAN transport on loopback, in one process, with durable
//! (encrypted, fsynced) storage on both sides — beside a raw libp2p stream
//! between two bare transports measured in the same run.
//!
//! Reports: small-message rate (group commit), bulk throughput against the raw
//! stream, and the latency a message adds over a raw frame (p50/p99).
//!
//! Run: `cargo bench -p cairn-node --bench lan` (`BENCH_SMALL`, `BENCH_BULK`,
//! `BENCH_PINGS` set the counts; `BENCH_RAW_FRAME` the raw stream's frame
//! size, 60 000 bytes by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_node::api::Request;
use cairn_protocol::Event;
use cairn_transports::LinkEvent;
use common::{burst, pair, raw_link, status};

/// How fast this disk takes `bytes` of durable writes, in the stores' directory.
fn disk_write_rate(dir: &std::path::Path, bytes: usize) -> f64 {
    use std::io::Write;
    let path = dir.join("disk-rate.tmp");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 1 << 20];
    let start = Instant::now();
    let mut written = 0;
    while written < bytes {
        f.write_all(&chunk).unwrap();
        f.sync_data().unwrap();
        written += chunk.len();
    }
    let rate = written as f64 / start.elapsed().as_secs_f64() / 1e6;
    std::fs::remove_file(path).unwrap();
    rate
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let small = env("BENCH_SMALL", 50_000);
    let bulk_msgs = env("BENCH_BULK", 1000);
    let pings = env("BENCH_PINGS", 1000);

    let p = pair(false).await;
    // Warm-up: session established, caches hot.
    burst(&p, 200, 8, Arc::new("warm".into())).await;
    let memory = pair(true).await;
    burst(&memory, 200, 8, Arc::new("warm".into())).await;

    let t = burst(&p, small, 256, Arc::new("a short message".into())).await;
    let small_rate = small as f64 / t.as_secs_f64();
    println!(
        "small messages: {small} in {:.2} s = {small_rate:.0} msg/s (durable, group commit)",
        t.as_secs_f64()
    );

    const BULK_TEXT: usize = 60_000;
    let bulk_bytes = (bulk_msgs * BULK_TEXT) as f64;
    let dropped = status(&p.a).await.dropped_frames;
    let t = burst(&p, bulk_msgs, 128, Arc::new("x".repeat(BULK_TEXT))).await;
    let node_mbps = bulk_bytes / t.as_secs_f64() / 1e6;
    let dropped = status(&p.a).await.dropped_frames - dropped;
    let t = burst(&memory, bulk_msgs, 128, Arc::new("x".repeat(BULK_TEXT))).await;
    let memory_mbps = bulk_bytes / t.as_secs_f64() / 1e6;
    let disk_mbps = disk_write_rate(p._dirs.0.path(), bulk_bytes as usize);

    let (sender, mut rx, _keep) = raw_link().await;
    let frame = Bytes::from(vec![0x5a; env("BENCH_RAW_FRAME", BULK_TEXT)]);
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..bulk_msgs {
            sender.send(frame.clone()).await.unwrap();
        }
        sender
    });
    let mut got = 0usize;
    while got < bulk_msgs * env("BENCH_RAW_FRAME", BULK_TEXT) {
        if let Some(LinkEvent::Frame { frame, .. }) = rx.recv().await {
            got += frame.len();
        }
    }
    let raw_mbps = bulk_bytes / start.elapsed().as_secs_f64() / 1e6;
    let sender = writer.await.unwrap();
    println!("bulk, raw libp2p stream:              {raw_mbps:.1} MB/s");
    println!(
        "bulk, nodes with stores on disk:       {node_mbps:.1} MB/s of message text, ratio {:.2} (goal >= 0.8); {dropped} frames refused by a full link queue",
        node_mbps / raw_mbps
    );
    println!(
        "bulk, nodes with in-memory stores:     {memory_mbps:.1} MB/s, ratio {:.2}",
        memory_mbps / raw_mbps
    );
    println!(
        "disk, fdatasync'd writes in 1 MiB:     {disk_mbps:.1} MB/s (both nodes write every byte once: bound {:.1} MB/s)",
        disk_mbps / 2.0
    );

    // Latency: one message at a time, from the call to the receiver's
    // "stored" event; beside one raw frame's trip over the same kind of link.
    let mut b_events = p.b.subscribe();
    let mut node_lat = Vec::with_capacity(pings);
    for i in 0..pings {
        let start = Instant::now();
        p.a.call(Request::Send {
            contact: p.b_id.clone(),
            text: format!("ping {i}"),
        })
        .await
        .unwrap();
        while !matches!(b_events.recv().await, Ok(Event::MessageReceived(_))) {}
        node_lat.push(start.elapsed());
    }
    let mut raw_lat = Vec::with_capacity(pings);
    for _ in 0..pings {
        let start = Instant::now();
        sender.send(Bytes::from_static(&[0u8; 300])).await.unwrap();
        while !matches!(rx.recv().await, Some(LinkEvent::Frame { .. })) {}
        raw_lat.push(start.elapsed());
    }
    node_lat.sort();
    raw_lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        let (n, r) = (percentile(&node_lat, q), percentile(&raw_lat, q));
        println!(
            "latency {label}: message {:.2} ms, raw frame {:.2} ms, added {:.2} ms",
            ms(n),
            ms(r),
            ms(n.saturating_sub(r))
        );
    }
}
