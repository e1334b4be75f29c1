//! A raw libp2p peer that speaks the link protocol but not honestly:
//! malformed, oversize, replayed and wrongly keyed frames, and floods. Each
//! gets its link dropped while an honest peer keeps chatting, and the node's
//! memory stays bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use cairn_protocol::envelope::Envelope;
use cairn_protocol::frame::Frame;
use cairn_protocol::invite::VerifiedCards;
use cairn_protocol::payload::Payload;
use cairn_protocol::session::{Handshake, LocalParty};
use cairn_protocol::{ContactCard, Identity, Time};
use cairn_tests::{Peer, wait_until};
use cairn_transports::lan::{LanConfig, LanTransport};
use cairn_transports::{LinkEvent, LinkIds, LinkSender};
use libp2p::Multiaddr;
use rand::RngCore;
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(30);

/// A peer with its own identity and a single link to the node.
struct Raw {
    identity: Identity,
    _lan: LanTransport,
    events: mpsc::Receiver<LinkEvent>,
    link: LinkSender,
}

impl Raw {
    async fn connect(target: &Multiaddr) -> Raw {
        let identity = Identity::generate(&mut rand::rngs::OsRng);
        let (tx, mut events) = mpsc::channel(64);
        let mut cfg = LanConfig::new(identity.ed25519_seed());
        cfg.mdns = false;
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        cfg.bootstrap = vec![target.clone()];
        let lan = LanTransport::start(cfg, LinkIds::default(), tx).unwrap();
        let link = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(LinkEvent::Up { sender, .. }) = events.recv().await {
                    return sender;
                }
            }
        })
        .await
        .expect("link to the node comes up");
        Raw {
            identity,
            _lan: lan,
            events,
            link,
        }
    }

    async fn send(&self, frame: Vec<u8>) {
        // The link may already be gone; that is what some tests wait for.
        let _ = self.link.send(Bytes::from(frame)).await;
    }

    /// The next frame from the node, if the link stays up that long.
    async fn recv(&mut self) -> Option<Bytes> {
        let next = tokio::time::timeout(PATIENCE, async {
            loop {
                match self.events.recv().await? {
                    LinkEvent::Frame { frame, .. } => return Some(frame),
                    LinkEvent::Down { .. } => return None,
                    LinkEvent::Up { .. } => {}
                }
            }
        });
        next.await.ok().flatten()
    }

    /// Whether the node drops the link within the patience.
    async fn dropped(&mut self) -> bool {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match self.events.recv().await {
                    Some(LinkEvent::Down { .. }) | None => return true,
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Runs a real IK handshake with the node; returns the session.
    async fn handshake(&mut self, node: &ContactCard) -> cairn_protocol::session::Session {
        let own = ContactCard::new(
            &self.identity,
            "raw",
            vec![],
            now(),
            Duration::from_secs(3600),
        )
        .unwrap();
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        let me = Identity::from_secret_bytes(&self.identity.to_secret_bytes());
        let mut cache = VerifiedCards::new(4);
        let mut local = LocalParty {
            identity: &me,
            card: &own,
            verified: &mut cache,
        };
        let (hs, init) = Handshake::initiate(
            &local,
            node.identity(),
            Some(node.static_key()),
            7,
            seed,
            now(),
        )
        .unwrap();
        self.send(Frame::Envelope(init).encode()).await;
        // The node may speak first (its mesh summary); wait for the answer.
        let (sender_index, noise) = loop {
            let reply = self.recv().await.expect("handshake response");
            if let Ok(Frame::Envelope(Envelope::Response {
                sender_index,
                noise,
                ..
            })) = Frame::decode(&reply)
            {
                break (sender_index, noise);
            }
        };
        hs.on_response(&mut local, sender_index, &noise, now())
            .unwrap()
            .0
    }
}

fn now() -> Time {
    cairn_node::service::now()
}

/// A node on loopback with an honest friend, and the node's dialable address.
fn setup() -> (Peer, Peer, Multiaddr, ContactCard) {
    let mut node =
        Peer::new("target", None).with_run_args(&["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    node.start();
    let status = node.json(&["status"]);
    let addr = format!(
        "{}/p2p/{}",
        status["lan"]["listen_addrs"][0].as_str().unwrap(),
        status["lan"]["peer_id"].as_str().unwrap()
    );
    let mut friend = Peer::new("friend", None).with_run_args(&[
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--bootstrap",
        &addr,
    ]);
    friend.start();
    node.add(&friend);
    friend.add(&node);
    let card = ContactCard::from_uri(&node.invite()).unwrap();
    (node, friend, addr.parse().unwrap(), card)
}

fn honest_chat_still_works(node: &Peer, friend: &Peer, tag: &str) {
    let text = format!("still here after {tag}");
    friend.send("target", &text);
    assert!(
        wait_until(PATIENCE, || node.received("friend").contains(&text)),
        "honest peer was cut off after {tag}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_raw_peers_are_dropped_and_honest_peers_keep_talking() {
    let (node, friend, addr, card) = setup();
    honest_chat_still_works(&node, &friend, "start");

    // Bytes that are no frame at all.
    let mut raw = Raw::connect(&addr).await;
    raw.send(vec![0xde, 0xad, 0xbe, 0xef]).await;
    assert!(raw.dropped().await, "malformed frame not dropped");
    honest_chat_still_works(&node, &friend, "malformed");

    // A frame over the link's MTU: refused by length, before it is read.
    let mut raw = Raw::connect(&addr).await;
    raw.send(vec![1; 200 * 1024]).await;
    assert!(raw.dropped().await, "oversize frame not dropped");
    honest_chat_still_works(&node, &friend, "oversize");

    // A valid message, then the same frame again.
    let mut raw = Raw::connect(&addr).await;
    let mut session = raw.handshake(&card).await;
    let data = Frame::Envelope(session.seal(&Payload::Keepalive.encode_padded()).unwrap()).encode();
    raw.send(data.clone()).await;
    raw.send(data).await;
    assert!(raw.dropped().await, "replayed frame not dropped");
    honest_chat_still_works(&node, &friend, "replay");

    // A message in a real session whose ciphertext is not under its key.
    let mut raw = Raw::connect(&addr).await;
    let mut session = raw.handshake(&card).await;
    let Envelope::Data {
        receiver_index,
        nonce,
        ..
    } = session.seal(b"x").unwrap()
    else {
        unreachable!()
    };
    let forged = Envelope::Data {
        receiver_index,
        nonce: nonce + 1,
        ciphertext: vec![0x42; 300],
    };
    raw.send(Frame::Envelope(forged).encode()).await;
    assert!(raw.dropped().await, "wrongly keyed frame not dropped");
    honest_chat_still_works(&node, &friend, "wrong key");

    // A handshake aimed at a static key that is not the node's.
    let mut raw = Raw::connect(&addr).await;
    let other = Identity::generate(&mut rand::rngs::OsRng);
    let own =
        ContactCard::new(&raw.identity, "raw", vec![], now(), Duration::from_secs(60)).unwrap();
    let mut cache = VerifiedCards::new(4);
    let local = LocalParty {
        identity: &raw.identity,
        card: &own,
        verified: &mut cache,
    };
    let (_, init) = Handshake::initiate(
        &local,
        card.identity(),
        Some(other.static_key()),
        1,
        [3; 32],
        now(),
    )
    .unwrap();
    raw.send(Frame::Envelope(init).encode()).await;
    assert!(
        raw.dropped().await,
        "handshake under a wrong key not dropped"
    );
    honest_chat_still_works(&node, &friend, "wrong handshake key");

    // Frames naming sessions that do not exist, over and over.
    let mut raw = Raw::connect(&addr).await;
    for i in 0..200u64 {
        let env = Envelope::Data {
            receiver_index: i,
            nonce: 0,
            ciphertext: vec![0; 64],
        };
        raw.send(Frame::Envelope(env).encode()).await;
    }
    assert!(raw.dropped().await, "unknown-session flood not dropped");
    honest_chat_still_works(&node, &friend, "flood");
    let log = node.log(1);
    for reason in [
        "malformed frame",
        "replayed message",
        "authentication failed",
        "flooding",
    ] {
        assert!(
            log.contains(reason),
            "no link closed for {reason:?}:\n{log}"
        );
    }
    assert!(
        log.contains("violation"),
        "oversize frame not seen as a violation:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_flood_of_hostile_peers() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let (node, friend, addr, _) = setup();
    honest_chat_still_works(&node, &friend, "start");
    let pid = node.pid().expect("running");
    let before = cairn_tests::rss_kib(pid);
    // RSS sampled all through the flood, not just before and after.
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(SeqCst) {
                samples.push(cairn_tests::rss_kib(pid));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    // 200 hostile peers in four waves of 50 at once, each sending large
    // frames that decode to nothing as fast as its link takes them.
    for wave in 0..4u8 {
        let peers = (0..50u8).map(|i| {
            let addr = addr.clone();
            async move {
                let mut raw = Raw::connect(&addr).await;
                for _ in 0..8 {
                    raw.send(vec![wave ^ i; 100 * 1024]).await;
                }
                raw.dropped().await
            }
        });
        let dropped = futures::future::join_all(peers).await;
        assert!(dropped.iter().all(|d| *d), "a hostile peer kept its link");
        honest_chat_still_works(&node, &friend, &format!("wave {wave}"));
    }
    done.store(true, SeqCst);
    let samples = sampler.join().unwrap();
    assert!(samples.len() > 10, "too few samples: {samples:?}");
    let peak = samples.iter().copied().max().unwrap();
    assert!(
        peak < before + 32 * 1024,
        "RSS grew from {before} KiB to a peak of {peak} KiB under the flood"
    );
    // It levels off: the last half of the flood peaks no higher than the
    // first half did (plus slack for allocator noise).
    let (first, last) = samples.split_at(samples.len() / 2);
    let (p1, p2) = (
        first.iter().copied().max().unwrap(),
        last.iter().copied().max().unwrap(),
    );
    assert!(
        p2 <= p1 + 8 * 1024,
        "RSS still climbing: first half peaked at {p1} KiB, second at {p2} KiB"
    );
}
