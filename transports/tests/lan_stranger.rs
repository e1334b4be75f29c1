//! The LAN transport as a stranger meets it: real libp2p on loopback, the
//! hop handshake on the link stream. THREAT_MODEL "Attacks tried" 25.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_transports::hop::HopKeys;
use cairn_transports::lan::{LanConfig, LanTransport};
use cairn_transports::{LinkEvent, LinkIds, LinkSender};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(20);

fn keys(seed: u8) -> Arc<HopKeys> {
    HopKeys::new(&[seed; 32], &[seed.wrapping_add(100); 32])
}

fn start(
    keys: &Arc<HopKeys>,
    bootstrap: Vec<Multiaddr>,
) -> (LanTransport, mpsc::Receiver<LinkEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let mut cfg = LanConfig::new(keys.clone());
    cfg.mdns = false;
    cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    cfg.bootstrap = bootstrap;
    (
        LanTransport::start(cfg, LinkIds::default(), tx).unwrap(),
        rx,
    )
}

async fn address(t: &LanTransport) -> Multiaddr {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(a) = t.status().listen_addrs.first() {
                return a.parse().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("listening")
}

/// The next link to come up: who it says is there, and its sender.
async fn link_up(rx: &mut mpsc::Receiver<LinkEvent>) -> ([u8; 32], LinkSender) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(LinkEvent::Up { peer, sender, .. }) = rx.recv().await {
                return (peer, sender);
            }
        }
    })
    .await
    .expect("a link comes up")
}

async fn frame(rx: &mut mpsc::Receiver<LinkEvent>) -> Bytes {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(LinkEvent::Frame { frame, .. }) = rx.recv().await {
                return frame;
            }
        }
    })
    .await
    .expect("a frame arrives")
}

/// The libp2p peer id the identity would have if the LAN used it.
fn identity_peer_id(identity: &[u8; 32]) -> PeerId {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(identity).unwrap();
    libp2p::identity::PublicKey::from(key).to_peer_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_on_the_lan_learns_no_identity_and_nothing_stable_across_a_restart() {
    let (node, friend, stranger) = (keys(1), keys(2), keys(3));
    node.look_for(vec![friend.static_key()]);
    friend.look_for(vec![node.static_key()]);
    // The stranger looks for others, not for the node.
    stranger.look_for(vec![keys(9).static_key()]);
    let mut peer_ids = Vec::new();
    let mut pseudonyms = Vec::new();
    for _run in 0..2 {
        let (lan, mut node_rx) = start(&node, vec![]);
        let addr = address(&lan).await;
        let status = lan.status();
        assert_ne!(
            lan.local_peer_id(),
            identity_peer_id(&node.identity()),
            "the peer id is the identity"
        );
        peer_ids.push(status.peer_id.clone());

        // The stranger connects and does everything a link allows.
        let (s_lan, mut s_rx) = start(&stranger, vec![addr.clone()]);
        let (sees, s_send) = link_up(&mut s_rx).await;
        let (node_sees, node_send) = link_up(&mut node_rx).await;
        for secret in [node.identity(), node.static_key(), friend.identity()] {
            assert_ne!(sees, secret, "the stranger learnt a key");
        }
        assert_ne!(
            node_sees,
            stranger.identity(),
            "the node learnt the stranger's"
        );
        s_send
            .send(Bytes::from_static(b"from a stranger"))
            .await
            .unwrap();
        assert_eq!(frame(&mut node_rx).await, "from a stranger");
        node_send
            .send(Bytes::from_static(b"relayed for you"))
            .await
            .unwrap();
        assert_eq!(frame(&mut s_rx).await, "relayed for you");
        pseudonyms.push(sees);

        // A friend on the same LAN is told who the node is, and it whom.
        let (f_lan, mut f_rx) = start(&friend, vec![addr]);
        assert_eq!(link_up(&mut f_rx).await.0, node.identity());
        assert_eq!(link_up(&mut node_rx).await.0, friend.identity());
        for t in [&lan, &s_lan, &f_lan] {
            t.shutdown();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(peer_ids[0], peer_ids[1], "the peer id survived a restart");
    assert_ne!(pseudonyms[0], pseudonyms[1], "the stranger's view repeated");
}
