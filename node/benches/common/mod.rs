//! What the node benchmarks share: a node on loopback (no mDNS, dialled
//! by address), and two of them as contacts.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cairn_node::api::{Reply, Request};
use cairn_node::{NodeConfig, NodeHandle, Profile, RunOptions};
use cairn_transports::lan::{LanConfig, LanTransport};
use cairn_transports::{LinkEvent, LinkIds};
use tokio::sync::mpsc;

pub struct Pair {
    pub a: NodeHandle,
    pub b: NodeHandle,
    pub b_id: String,
    pub _dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub async fn node(
    name: &str,
    bootstrap: Vec<String>,
    in_memory: bool,
) -> (NodeHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::at(dir.path());
    let opened = if in_memory {
        let identity = cairn_protocol::Identity::generate(&mut rand::rngs::OsRng);
        let store = cairn_node::store::RedbStore::in_memory(&identity, name).unwrap();
        cairn_node::store::Opened {
            store,
            identity,
            name: name.to_owned(),
        }
    } else {
        profile.create(name, b"bench").unwrap()
    };
    let mut config = NodeConfig::default();
    config.ble.enabled = false;
    config.lan.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.lan.mdns = false;
    config.lan.bootstrap = bootstrap;
    let options = RunOptions {
        config,
        control_socket: false,
    };
    let (handle, _task) = cairn_node::runtime::start(&profile, opened, options)
        .await
        .unwrap();
    (handle, dir)
}

pub async fn status(h: &NodeHandle) -> cairn_node::api::StatusInfo {
    match h.call(Request::Status).await.unwrap() {
        Reply::Status(s) => *s,
        _ => unreachable!(),
    }
}

pub async fn invite(h: &NodeHandle) -> String {
    match h.call(Request::Invite).await.unwrap() {
        Reply::Invite { uri } => uri,
        _ => unreachable!(),
    }
}

pub async fn pair(in_memory: bool) -> Pair {
    let (b, db) = node("bob", vec![], in_memory).await;
    let addr = loop {
        let s = status(&b).await;
        if let Some(a) = s.lan.listen_addrs.first() {
            break format!("{a}/p2p/{}", s.lan.peer_id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (a, da) = node("alice", vec![addr], in_memory).await;
    let (ia, ib) = (invite(&a).await, invite(&b).await);
    a.call(Request::Add {
        invite: ib,
        alias: Some("bob".into()),
    })
    .await
    .unwrap();
    b.call(Request::Add {
        invite: ia,
        alias: Some("alice".into()),
    })
    .await
    .unwrap();
    // Linked as contacts: the hop names each to the other (a link made
    // before they were contacts is met again once they are).
    let b_id = status(&b).await.id;
    while !status(&a).await.links.iter().any(|l| l.peer == b_id) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Pair {
        a,
        b,
        b_id,
        _dirs: (da, db),
    }
}

/// Sends `count` messages of `text` from a to b with `parallel` callers and
/// waits until every one is shown delivered. Returns the elapsed time.
pub async fn burst(p: &Pair, count: usize, parallel: usize, text: Arc<String>) -> Duration {
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..parallel {
        let (a, next, text, to) = (p.a.clone(), next.clone(), text.clone(), p.b_id.clone());
        senders.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < count {
                a.call(Request::Send {
                    contact: to.clone(),
                    text: (*text).clone(),
                })
                .await
                .unwrap();
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    // A message leaves the outbox when its delivery receipt is committed.
    let deadline = Instant::now() + Duration::from_secs(600);
    while status(&p.a).await.outbox > 0 {
        assert!(Instant::now() < deadline, "messages not delivered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

pub type RawLink = (
    cairn_transports::LinkSender,
    mpsc::Receiver<LinkEvent>,
    (Vec<LanTransport>, cairn_transports::LinkSender),
);

/// Two bare LAN transports with one link between them.
pub async fn raw_link() -> RawLink {
    let make = |bootstrap: Vec<libp2p::Multiaddr>| {
        let id = cairn_protocol::Identity::generate(&mut rand::rngs::OsRng);
        let (tx, rx) = mpsc::channel(4096);
        let mut cfg = LanConfig::new(cairn_transports::hop::HopKeys::from_secret_bytes(
            &id.to_secret_bytes(),
        ));
        cfg.mdns = false;
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        cfg.bootstrap = bootstrap;
        (
            LanTransport::start(cfg, LinkIds::default(), tx).unwrap(),
            rx,
        )
    };
    let (server, mut server_rx) = make(vec![]);
    let addr = loop {
        if let Some(a) = server.status().listen_addrs.first() {
            break format!("{a}/p2p/{}", server.local_peer_id())
                .parse()
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let (client, mut client_rx) = make(vec![addr]);
    let up = |rx: &mut mpsc::Receiver<LinkEvent>| match rx.try_recv() {
        Ok(LinkEvent::Up { sender, .. }) => Some(sender),
        _ => None,
    };
    let (mut server_up, mut client_up) = (None, None);
    while server_up.is_none() || client_up.is_none() {
        server_up = server_up.or_else(|| up(&mut server_rx));
        client_up = client_up.or_else(|| up(&mut client_rx));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Dropping a link's sender closes the link: keep the server's too.
    (
        client_up.unwrap(),
        server_rx,
        (vec![server, client], server_up.unwrap()),
    )
}
