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
    config.ble.enabled = false;
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

/// Alice and bob, each the other's contact.
async fn friends() -> (NodeHandle, NodeHandle) {
    let (a, b) = (node("ada").await, node("bo").await);
    let (ia, ib) = (invite(&a).await, invite(&b).await);
    for (h, i) in [(&a, ib), (&b, ia)] {
        h.call(Request::Add {
            invite: i,
            alias: None,
        })
        .await
        .unwrap();
    }
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_over_a_lossy_ble_radio_exchange_a_mebibyte_intact() {
    let (a, b) = friends().await;
    // The real BLE link core on both sides: hop handshake, ARQ over packets
    // of ATT MTU 185, one packet in twenty lost.
    a.connect_ble_memory(&b, 185, 0.05, 42).await;
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut ids = Vec::new();
    for (from, to, name) in [(&a, "bo", "a.bin"), (&b, "ada", "b.bin")] {
        let path = dir.path().join(name);
        std::fs::write(&path, &data).unwrap();
        let Reply::Sent { id } = from
            .call(Request::SendFile {
                contact: to.into(),
                path: path.to_str().unwrap().into(),
            })
            .await
            .unwrap()
        else {
            panic!()
        };
        ids.push(id);
    }
    for (node, from, id, name) in [(&b, "ada", &ids[0], "got-a"), (&a, "bo", &ids[1], "got-b")] {
        let complete = tokio::time::timeout(Duration::from_secs(240), async {
            loop {
                if let Ok(Reply::File(f)) = node
                    .call(Request::FileStatus {
                        contact: from.into(),
                        id: id.clone(),
                    })
                    .await
                    && f.state == "complete"
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        assert!(complete.is_ok(), "the file never completed over BLE");
        let out = dir.path().join(name);
        node.call(Request::SaveFile {
            contact: from.into(),
            id: id.clone(),
            path: out.to_str().unwrap().into(),
        })
        .await
        .unwrap();
        assert!(std::fs::read(&out).unwrap() == data, "intact");
    }
    let Reply::Status(status) = a.call(Request::Status).await.unwrap() else {
        panic!()
    };
    assert_eq!(status.links.len(), 1);
    assert_eq!(status.links[0].medium, "ble");
}

async fn status(h: &NodeHandle) -> cairn_node::api::StatusInfo {
    match h.call(Request::Status).await.unwrap() {
        Reply::Status(s) => *s,
        other => panic!("{other:?}"),
    }
}

/// The peers `h` holds links to, once it holds `n`.
async fn linked(h: &NodeHandle, n: usize) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = status(h).await;
            if s.links.len() >= n {
                return s.links.into_iter().map(|l| l.peer).collect();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the link comes up")
}

/// THREAT_MODEL "Attacks tried" 25, with whole nodes over the in-memory
/// radio (the real BLE link core and hop handshake): a stranger's node
/// meets ours twice, and neither learns the other's identity or anything
/// the second link shares with the first; friends on the same radio still
/// know each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_over_the_radio_learns_no_identity_and_nothing_stable() {
    let (a, b) = friends().await;
    let s = node("stranger").await;
    let (a_id, b_id, s_id) = (
        status(&a).await.id,
        status(&b).await.id,
        status(&s).await.id,
    );
    let mut seen = Vec::new();
    for round in 0..2 {
        s.connect_ble_memory(&a, 185, 0.0, round).await;
        let s_sees = linked(&s, round as usize + 1).await;
        let a_sees = linked(&a, round as usize + 1).await;
        for peer in &s_sees {
            assert!(*peer != a_id && *peer != b_id, "the stranger learnt {peer}");
        }
        assert!(
            !a_sees.contains(&s_id),
            "the node learnt the stranger's identity"
        );
        seen.extend(s_sees);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        2,
        "the stranger saw the same name on both links"
    );
    a.connect_ble_memory(&b, 185, 0.0, 7).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        while !status(&a).await.links.iter().any(|l| l.peer == b_id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("friends know each other over the radio");
}
