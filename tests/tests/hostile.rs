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
use cairn_transports::hop::HopKeys;
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
        Self::connect_within(target, PATIENCE).await
    }

    /// Connects, waiting up to `patience` for the node to take the link.
    async fn connect_within(target: &Multiaddr, patience: Duration) -> Raw {
        let identity = Identity::generate(&mut rand::rngs::OsRng);
        let (tx, mut events) = mpsc::channel(64);
        // It looks for no one at the hop: both ends see a pseudonym there,
        // and the raw peer names itself in its end-to-end handshake.
        let mut cfg = LanConfig::new(HopKeys::from_secret_bytes(&identity.to_secret_bytes()));
        cfg.mdns = false;
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        cfg.bootstrap = vec![target.clone()];
        let lan = LanTransport::start(cfg, LinkIds::default(), tx).unwrap();
        let link = tokio::time::timeout(patience, async {
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

/// A libp2p peer that opens a link stream, completes the hop handshake and
/// then trickles one record a byte a second (slow-loris), trying again, as an attacker would, until the
/// node lets it in. Returns how long the node kept it once the frame began.
async fn slow_loris(target: Multiaddr, node: libp2p::PeerId) -> Duration {
    use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
    // An id below the node's, so that by the protocol's rule it is this
    // peer that opens the link (the node then opens none of its own).
    let key = loop {
        let key = libp2p::identity::Keypair::generate_ed25519();
        if key.public().to_peer_id() < node {
            break key;
        }
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    let mut control = swarm.behaviour().new_control();
    // Links the node opens to it are taken and held, silent.
    let mut incoming = control.accept(cairn_transports::lan::PROTOCOL).unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(stream) = incoming.next().await {
            held.push(stream);
        }
    });
    let (dial_tx, mut dial_rx) = mpsc::channel::<()>(1);
    let driver = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = swarm.select_next_some() => {}
                Some(()) = dial_rx.recv() => {
                    if !swarm.is_connected(&node) {
                        let _ = swarm.dial(target.clone());
                    }
                }
            }
        }
    });
    // A node under a flood turns some connections and streams away (64
    // handshakes at most at once; libp2p drops streams it cannot hand on).
    let (stream, began) = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let _ = dial_tx.try_send(());
            if let Ok(mut stream) = control
                .open_stream(node, cairn_transports::lan::PROTOCOL)
                .await
            {
                // Turned away, the stream ends at once and the hop
                // handshake fails; let in, it completes (as a stranger).
                let keys = HopKeys::from_secret_bytes(
                    &Identity::generate(&mut rand::rngs::OsRng).to_secret_bytes(),
                );
                let hop = cairn_transports::stream::handshake(
                    &mut stream,
                    cairn_transports::hop::Role::Initiator,
                    &keys,
                    cairn_transports::lan::LAN_MTU,
                );
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(10), hop).await {
                    // A full record is announced; its bytes come one a second.
                    let announced = async {
                        stream.write_all(&u16::MAX.to_be_bytes()).await?;
                        stream.flush().await
                    };
                    let began = std::time::Instant::now();
                    // The node may still turn the link away once the hop is
                    // up (no room among its links): the stream then ends at
                    // once; let in, the node speaks (its mesh summary) or
                    // stays quiet.
                    let mut first = [0u8; 1];
                    let let_in = announced.await.is_ok()
                        && !matches!(
                            tokio::time::timeout(Duration::from_secs(3), stream.read(&mut first))
                                .await,
                            Ok(Ok(0) | Err(_))
                        );
                    if let_in {
                        return (stream, began);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("the node never let the slow-loris peer in");
    let (mut reader, mut writer) = stream.split();
    let trickle = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer.write_all(&[0]).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    };
    let hear_the_end = async move {
        let mut buf = [0u8; 4096];
        while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let held = tokio::time::timeout(Duration::from_secs(90), async {
        tokio::select! {
            () = trickle => {},
            () = hear_the_end => {},
        }
    })
    .await;
    driver.abort();
    holder.abort();
    assert!(held.is_ok(), "a slow-loris peer kept its link for 90 s");
    began.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_hostile_peers_at_once_leave_memory_bounded_and_friends_on_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let (node, friend, addr, _) = setup();
    honest_chat_still_works(&node, &friend, "start");
    let mut late = Peer::new("late", None).with_run_args(&[
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--bootstrap",
        &addr.to_string(),
    ]);
    node.add(&late);
    late.add(&node);
    let node_id: libp2p::PeerId = node.json(&["status"])["lan"]["peer_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let pid = node.pid().expect("running");
    let before = cairn_tests::rss_kib(pid);
    let done = Arc::new(AtomicBool::new(false));
    // RSS sampled all through the flood, not just before and after.
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
    // The honest friend writes twice a second all through it.
    let friend = Arc::new(friend);
    let honest = {
        let (done, friend) = (done.clone(), friend.clone());
        std::thread::spawn(move || {
            let mut sent = Vec::new();
            while !done.load(SeqCst) {
                let text = format!("honest {}", sent.len());
                friend.send("target", &text);
                sent.push(text);
                std::thread::sleep(Duration::from_millis(500));
            }
            sent
        })
    };
    // How many links the node holds, and with how many peers, sampled all
    // through.
    let link_counts = {
        let done = done.clone();
        let profile = node.profile().to_owned();
        std::thread::spawn(move || {
            let mut counts = Vec::new();
            while !done.load(SeqCst) {
                counts.extend(links_of(&profile));
                std::thread::sleep(Duration::from_millis(500));
            }
            counts
        })
    };
    // A contact who comes by once the node's links are all taken still gets
    // in (the node closes a stranger's link for it) and is heard.
    let latecomer = {
        let profile = node.profile().to_owned();
        std::thread::spawn(move || {
            let full = wait_until(Duration::from_secs(60), || {
                links_of(&profile).is_some_and(|(links, _)| links >= 250)
            });
            late.start();
            late.send("target", "let me in");
            (late, full)
        })
    };
    // 310 hostile peers at once: 260 trickle a frame a byte a second
    // (slow-loris) — more than the node's 256 links —, 25 send large frames
    // that decode to nothing as fast as their links take them, 25 announce
    // frames over the MTU. Each tries again until the node lets it in.
    let junk = (0..25u32).map(|i| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut raw = Raw::connect_within(&addr, Duration::from_secs(90)).await;
            for _ in 0..8 {
                raw.send(vec![i as u8; 100 * 1024]).await;
            }
            raw.dropped().await
        })
    });
    let oversize = (0..25).map(|_| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut raw = Raw::connect_within(&addr, Duration::from_secs(90)).await;
            raw.send(vec![1; 200 * 1024]).await;
            raw.dropped().await
        })
    });
    let slow = (0..260).map(|_| tokio::spawn(slow_loris(addr.clone(), node_id)));
    let (junk, oversize, slow) = futures::join!(
        futures::future::join_all(junk),
        futures::future::join_all(oversize),
        futures::future::join_all(slow),
    );
    for dropped in junk.into_iter().chain(oversize) {
        assert!(dropped.unwrap(), "a hostile peer kept its link");
    }
    let held: Vec<Duration> = slow.into_iter().map(Result::unwrap).collect();
    done.store(true, SeqCst);
    let samples = sampler.join().unwrap();
    let sent = honest.join().unwrap();
    let links = link_counts.join().unwrap();
    let (latecomer, full) = latecomer.join().unwrap();
    assert!(full, "the node never held 250 links: {links:?}");
    assert!(
        wait_until(PATIENCE, || node
            .received("late")
            .contains(&"let me in".to_owned())),
        "a contact found no room among the strangers"
    );
    // The node held links with at least 200 hostile peers at once (and the
    // friend); it has room for 256 links.
    let most = links.iter().map(|(_, peers)| *peers).max().unwrap_or(0);
    assert!(most > 200, "at most {most} peers linked at once: {links:?}");

    // Slow-loris peers are cut at the frame deadline (20 s) and not much
    // after; before it only the one whose link made room for the contact.
    let longest = held.iter().max().unwrap();
    let early = held
        .iter()
        .filter(|h| **h < Duration::from_secs(20))
        .count();
    assert!(
        *longest <= Duration::from_secs(40) && early <= 1,
        "slow-loris peers held for {held:?}"
    );
    let log = node.log(1);
    assert!(log.contains("a frame still incomplete"), "{log}");

    // Every honest message arrived, each within 2 s of being written.
    assert!(sent.len() >= 20, "the flood was over too soon: {sent:?}");
    let mut late = Vec::new();
    assert!(
        wait_until(PATIENCE, || {
            let got = node.messages("friend");
            late = got
                .iter()
                .filter(|m| m["direction"] == "in")
                .filter(|m| sent.iter().any(|t| m["text"] == t.as_str()))
                .map(|m| {
                    let (sent_at, local_at) = (
                        m["sent_at"].as_u64().unwrap(),
                        m["local_at"].as_u64().unwrap(),
                    );
                    (
                        m["text"].as_str().unwrap().to_owned(),
                        local_at.saturating_sub(sent_at),
                    )
                })
                .collect();
            late.len() == sent.len()
        }),
        "the node got {} of {} honest messages",
        late.len(),
        sent.len()
    );
    let slowest = late.iter().map(|(_, ms)| *ms).max().unwrap();
    assert!(
        slowest <= 2000,
        "an honest message took {slowest} ms: {late:?}"
    );

    // Memory stays within 48 MiB of where it started, and levels off: the
    // last half of the run peaks no higher than the first (plus slack for
    // allocator noise).
    assert!(samples.len() > 100, "too few samples: {}", samples.len());
    let peak = samples.iter().copied().max().unwrap();
    assert!(
        peak < before + 48 * 1024,
        "RSS grew from {before} KiB to a peak of {peak} KiB under the flood"
    );
    let (first, last) = samples.split_at(samples.len() / 2);
    let (p1, p2) = (
        first.iter().copied().max().unwrap(),
        last.iter().copied().max().unwrap(),
    );
    assert!(
        p2 <= p1 + 8 * 1024,
        "RSS still climbing: first half peaked at {p1} KiB, second at {p2} KiB"
    );
    eprintln!(
        "RSS {before} KiB before, peak {peak} KiB; {most} peers linked at most; \
         slowest honest message {slowest} ms of {}",
        sent.len()
    );
    drop((node, latecomer));
}

/// How many links the node at `profile` holds, and with how many distinct
/// peers (a peer may hold two).
fn links_of(profile: &std::path::Path) -> Option<(usize, usize)> {
    let out = std::process::Command::new(cairn_tests::cairn_bin())
        .arg("--profile")
        .arg(profile)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let links = status["links"].as_array()?;
    let peers: std::collections::BTreeSet<&str> =
        links.iter().filter_map(|l| l["peer"].as_str()).collect();
    Some((links.len(), peers.len()))
}
