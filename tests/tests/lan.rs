//! Real `cairn` processes in network namespaces joined by a bridge: discovery
//! by mDNS alone, chat both ways, restarts and crashes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::{Lab, Peer, befriend, two_friends, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn three_hosts_find_each_other_by_mdns_and_chat_both_ways() {
    let lab = Lab::new(3);
    let mut peers: Vec<Peer> = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, name)| Peer::new(name, Some(lab.host(i))))
        .collect();
    for p in &mut peers {
        p.start();
    }
    // No addresses are given to anyone: links come from mDNS alone. Each
    // is linked to both others (TCP and QUIC to one peer count once) — as
    // strangers: the hop names no one to a device that does not know its
    // key (THREAT_MODEL "Attacks tried" 25).
    let ids: Vec<String> = peers.iter().map(Peer::id).collect();
    let others = |i: usize| -> std::collections::BTreeSet<String> {
        ids.iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.clone())
            .collect()
    };
    assert!(
        wait_until(PATIENCE, || peers.iter().all(|p| p.links() >= 2)),
        "nodes did not discover each other"
    );
    for (i, p) in peers.iter().enumerate() {
        let seen = p.linked_peers();
        assert!(
            seen.is_disjoint(&others(i)) && !seen.contains(&ids[i]),
            "{} learnt an identity from a stranger: {seen:?}",
            p.name
        );
    }
    for i in 0..3 {
        for j in i + 1..3 {
            befriend(&peers[i], &peers[j]);
        }
    }
    // Friends now: the links are met again and each names the others.
    assert!(
        wait_until(PATIENCE, || peers
            .iter()
            .enumerate()
            .all(|(i, p)| p.linked_peers() == others(i))),
        "friends did not recognise each other"
    );
    let mut sent = Vec::new();
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                let text = format!("{} to {}", peers[i].name, peers[j].name);
                peers[i].send(&peers[j].name, &text);
                sent.push((i, j, text));
            }
        }
    }
    for (i, j, text) in &sent {
        let (from, to) = (&peers[*i], &peers[*j]);
        assert!(
            wait_until(PATIENCE, || to.received(&from.name).contains(text)),
            "{} never got {text:?}",
            to.name
        );
        assert!(
            wait_until(PATIENCE, || from.state_of(&to.name, text).as_deref()
                == Some("delivered")),
            "{text:?} not shown delivered on the sender"
        );
    }
}

#[test]
fn reading_a_conversation_tells_the_sender() {
    let lab = Lab::new(2);
    let (alice, bob) = two_friends(&lab);
    alice.send("bob", "did you see this?");
    assert!(wait_until(PATIENCE, || alice
        .state_of("bob", "did you see this?")
        .as_deref()
        == Some("delivered")));
    // Stored on bob's side as received, not read, until bob looks.
    let stored = bob.messages("alice");
    assert_eq!(stored.last().unwrap()["state"], "received");
    bob.ok(&["messages", "alice"]);
    assert_eq!(bob.messages("alice").last().unwrap()["state"], "read");
    assert!(
        wait_until(PATIENCE, || alice
            .state_of("bob", "did you see this?")
            .as_deref()
            == Some("read")),
        "alice never saw her message read"
    );
}

/// Lines a child writes to stdout, as they come.
fn lines_of(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

#[test]
fn cairn_watch_follows_the_node_without_showing_what_was_written() {
    let lab = Lab::new(2);
    let (alice, mut bob) = two_friends(&lab);
    let mut watch = bob.spawn_cli(&["watch"]);
    let mut json = bob.spawn_cli(&["watch", "--json"]);
    let (lines, notices) = (lines_of(&mut watch), lines_of(&mut json));
    // Watching starts before the message: give the connections a moment.
    std::thread::sleep(Duration::from_millis(500));
    alice.send("bob", "the secret is under the third stone");
    let heard = wait_until(PATIENCE, || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.ends_with("new message from alice"))
    });
    assert!(heard, "watch said: {:?}", lines.lock().unwrap());
    let id = bob.messages("alice").last().unwrap()["id"].clone();
    assert!(
        wait_until(PATIENCE, || notices.lock().unwrap().iter().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event"] == "message" && v["from"] == alice.id() && v["id"] == id
        })),
        "watch --json said: {:?}",
        notices.lock().unwrap()
    );
    let all = [
        lines.lock().unwrap().clone(),
        notices.lock().unwrap().clone(),
    ]
    .concat();
    assert!(
        !all.iter().any(|l| l.contains("secret")),
        "no message text: {all:?}"
    );
    // When the node stops, watching ends by itself.
    bob.stop();
    assert!(
        wait_until(PATIENCE, || watch.try_wait().unwrap().is_some()
            && json.try_wait().unwrap().is_some()),
        "watch outlived the node"
    );
    assert!(watch.wait().unwrap().success());
}

#[test]
fn restart_keeps_contacts_and_history_and_delivers_what_waited() {
    let lab = Lab::new(2);
    let (mut alice, mut bob) = two_friends(&lab);
    alice.send("bob", "before the restart");
    assert!(wait_until(PATIENCE, || bob.received("alice") == ["before the restart"]));

    bob.stop();
    alice.send("bob", "while you were away");
    assert_eq!(
        alice.state_of("bob", "while you were away").as_deref(),
        Some("queued")
    );
    // History and contacts survive a restart of the sender too.
    alice.stop();
    alice.start();
    assert_eq!(
        alice.state_of("bob", "before the restart").as_deref(),
        Some("delivered")
    );

    bob.start();
    let contacts = bob.json(&["contacts"]);
    assert_eq!(contacts[0]["alias"], "alice");
    assert!(
        wait_until(PATIENCE, || bob.received("alice")
            == ["before the restart", "while you were away"]),
        "queued message not delivered after restart; bob has {:?}",
        bob.received("alice")
    );
    assert!(wait_until(PATIENCE, || {
        alice.state_of("bob", "while you were away").as_deref() == Some("delivered")
    }));
}

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_send() {
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let lab = Lab::new(2);
    let (mut alice, bob) = two_friends(&lab);

    // 32 senders in parallel; alice is killed five times, at points of the
    // burst drawn from a fixed seed. A send in flight at a kill may or may
    // not have been accepted; its exit code says. While alice is down the
    // senders wait (an offline `cairn send` would hold the store she needs).
    const SENDERS: usize = 32;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b11);
    let mut kills: Vec<usize> = (0..5).map(|_| rng.gen_range(20..400)).collect();
    kills.sort_unstable();
    let accepted = std::sync::Mutex::new(Vec::new());
    let (stop, down, in_flight) = (
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicUsize::new(0),
    );
    let profile = alice.profile().to_owned();
    std::thread::scope(|s| {
        for t in 0..SENDERS {
            let (accepted, stop, down, in_flight, profile) =
                (&accepted, &stop, &down, &in_flight, &profile);
            s.spawn(move || {
                for i in 0.. {
                    if stop.load(SeqCst) {
                        break;
                    }
                    if down.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    in_flight.fetch_add(1, SeqCst);
                    let text = format!("burst {t}-{i}");
                    let out = std::process::Command::new(cairn_tests::cairn_bin())
                        .arg("--profile")
                        .arg(profile)
                        .args(["send", "bob", &text])
                        .env("CAIRN_PASSPHRASE", cairn_tests::PASSPHRASE)
                        .output()
                        .expect("run cairn send");
                    if out.status.success() {
                        accepted.lock().unwrap().push(text);
                    }
                    in_flight.fetch_sub(1, SeqCst);
                }
            });
        }
        for &at in &kills {
            assert!(wait_until(PATIENCE, || accepted.lock().unwrap().len() >= at));
            down.store(true, SeqCst);
            alice.kill9();
            // Every send that raced the kill has its answer.
            assert!(wait_until(PATIENCE, || in_flight.load(SeqCst) == 0));
            alice.start();
            down.store(false, SeqCst);
        }
        assert!(wait_until(PATIENCE, || accepted.lock().unwrap().len() >= 450));
        stop.store(true, SeqCst);
    });
    let accepted = accepted.into_inner().unwrap();
    let all_there = wait_until(Duration::from_secs(180), || {
        let got = bob.received("alice");
        accepted.iter().all(|t| got.contains(t))
    });
    let got = bob.received("alice");
    assert!(
        all_there,
        "bob got {} of {} accepted sends",
        got.len(),
        accepted.len()
    );
    // Exactly once: nothing twice, accepted or not.
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a message was delivered twice");
    assert!(wait_until(PATIENCE, || {
        alice
            .messages("bob")
            .iter()
            .all(|m| m["state"] == "delivered")
    }));
}
