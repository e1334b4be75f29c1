//! Linking a device to a profile with history, between real nodes: the
//! LAN transport on loopback, durable (encrypted, fsynced) stores on both
//! sides (docs/PERFORMANCE.md, "Several devices").
//!
//! Alice's laptop first sends bob `BENCH_HISTORY` messages (10 000 by
//! default, all delivered); then a new device joins with a link code, and
//! the time runs from its join request until it holds the whole history.
//!
//! Run: `cargo bench -p cairn-node --bench link`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_node::api::{Reply, Request, Secret};
use common::{burst, node, pair, status};

#[tokio::main]
async fn main() {
    let history: usize = std::env::var("BENCH_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let p = pair(false).await;
    let t = burst(
        &p,
        history,
        64,
        Arc::new("a line of ordinary chat, about this long".into()),
    )
    .await;
    println!(
        "history made: {history} messages in {:.2} s",
        t.as_secs_f64()
    );
    let s = status(&p.a).await;
    let addr = format!("{}/p2p/{}", s.lan.listen_addrs[0], s.lan.peer_id);
    let Reply::LinkCode { uri, .. } = p.a.call(Request::DeviceLink).await.unwrap() else {
        unreachable!()
    };
    let (phone, _dir) = node("alice", vec![addr], false).await;
    let start = Instant::now();
    phone
        .call(Request::DeviceJoin {
            code: Secret(zeroize::Zeroizing::new(uri)),
            name: "phone".into(),
            mailbox: false,
        })
        .await
        .unwrap();
    let mut linked = None;
    let deadline = start + Duration::from_secs(600);
    loop {
        assert!(Instant::now() < deadline, "the history never arrived");
        if linked.is_none()
            && let Ok(Reply::Devices(d)) = phone.call(Request::Devices).await
            && !d.joining
        {
            linked = Some(start.elapsed());
        }
        let got = match phone
            .call(Request::Messages {
                contact: p.b_id.clone(),
                limit: None,
            })
            .await
        {
            Ok(Reply::Messages { messages, .. }) => messages.len(),
            _ => 0,
        };
        if got >= history {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    println!(
        "link a device with {history} messages of history over the LAN (loopback, durable stores): \
         linked in {:.2} s, whole history in {:.2} s ({:.0} messages/s)",
        linked.unwrap_or(took).as_secs_f64(),
        took.as_secs_f64(),
        history as f64 / took.as_secs_f64()
    );
}
