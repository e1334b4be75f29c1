//! Two nodes in one process, joined by the in-memory transport, with
//! in-memory stores: the same runtime and API as `cairn run`, no network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_node::api::{Reply, Request};
use cairn_node::store::{Opened, RedbStore};
use cairn_node::{NodeConfig, NodeHandle, Profile, RunOptions};
use cairn_protocol::{Event, Identity};

async fn node(name: &str) -> NodeHandle {
    let identity = Identity::generate(&mut rand::rngs::OsRng);
    let store = RedbStore::in_memory(&identity, name).unwrap();
    let mut config = NodeConfig::default();
    config.lan.enabled = false;
    let options = RunOptions {
        config,
        control_socket: false,
    };
    let profile = Profile::at("/nonexistent/unused");
    let opened = Opened {
        store,
        identity,
        name: name.into(),
    };
    cairn_node::runtime::start(&profile, opened, options)
        .await
        .unwrap()
        .0
}

async fn invite(h: &NodeHandle) -> String {
    match h.call(Request::Invite).await.unwrap() {
        Reply::Invite { uri } => uri,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn in_process_nodes_chat_over_a_memory_link() {
    let (a, b) = (node("ada").await, node("bo").await);
    let (ia, ib) = (invite(&a).await, invite(&b).await);
    a.call(Request::Add {
        invite: ib,
        alias: None,
    })
    .await
    .unwrap();
    b.call(Request::Add {
        invite: ia,
        alias: None,
    })
    .await
    .unwrap();
    let mut b_events = b.subscribe();
    a.call(Request::Send {
        contact: "bo".into(),
        text: "over memory".into(),
    })
    .await
    .unwrap();
    // Nothing moves until a link exists: the message waits in the outbox.
    a.connect_memory(&b, 1 << 17).await;
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Event::MessageReceived(m)) = b_events.recv().await {
                return m.text;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(received, "over memory");
    let status = match a.call(Request::Status).await.unwrap() {
        Reply::Status(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(status.links.len(), 1);
    assert_eq!(status.links[0].medium, "memory");
}
