//! Two real nodes over the LAN transport on loopback (libp2p, the hop, durable
//! stores): a group whose first sync is larger than a link's send queue
//! still reaches a new member.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use cairn_node::NodeHandle;
use cairn_node::api::{Reply, Request};
use rand::Rng;

async fn messages(h: &NodeHandle, group: &str) -> usize {
    match h
        .call(Request::GroupMessages {
            group: group.into(),
            limit: None,
        })
        .await
    {
        Ok(Reply::GroupMessages { messages, .. }) => messages.len(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_larger_than_the_link_queue_reaches_a_new_member() {
    let p = common::pair(false).await;
    p.a.call(Request::GroupCreate { name: "big".into() })
        .await
        .unwrap();
    // Texts of random letters: the document does not compress below the
    // 4 MiB a stream link queues.
    const TEXTS: usize = 150;
    let mut rng = rand::thread_rng();
    for _ in 0..TEXTS {
        let text: String = (0..50_000)
            .map(|_| char::from(b'a' + rng.gen_range(0..26)))
            .collect();
        p.a.call(Request::GroupSend {
            group: "big".into(),
            text,
        })
        .await
        .unwrap();
    }
    p.a.call(Request::GroupAdd {
        group: "big".into(),
        contact: "bob".into(),
    })
    .await
    .unwrap();
    // A first sync lost to a full queue was tried again at the next
    // periodic nudge (30 s) and lost again the same way: bob never got it.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got = 0;
    while Instant::now() < deadline {
        got = messages(&p.b, "big").await;
        if got == TEXTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = common::status(&p.a).await.dropped_frames;
    assert_eq!(
        got, TEXTS,
        "bob has {got} of {TEXTS}; {refused} frames refused"
    );
    assert_eq!(refused, 0, "the sync waited for room instead");
}
