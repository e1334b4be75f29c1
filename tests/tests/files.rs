//! Files between real `cairn` processes over the LAN: `cairn send-file` with
//! its progress, `cairn save-file`, and a transfer that survives the
//! receiver being killed in the middle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::{Lab, Peer, stderr, two_friends, wait_until};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(90);

fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

fn file_message(p: &Peer, with: &str) -> Option<Value> {
    p.messages(with).into_iter().find(|m| !m["file"].is_null())
}

#[test]
fn a_file_sent_with_send_file_is_saved_intact_by_the_other_side() {
    let lab = Lab::new(2);
    let (alice, bob) = two_friends(&lab);
    assert!(wait_until(PATIENCE, || alice.links() >= 1 && bob.links() >= 1));
    let data = content(3 * 1024 * 1024 + 17);
    let path = alice.profile().join("holiday.jpg");
    std::fs::write(&path, &data).unwrap();
    let out = alice.cli(&["send-file", "bob", path.to_str().unwrap()]);
    assert!(out.status.success(), "send-file failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("holiday.jpg sent: bob has all of it"),
        "{}",
        stderr(&out)
    );
    let offer = file_message(&bob, "alice").expect("bob has the file message");
    assert_eq!(offer["text"], "holiday.jpg");
    assert_eq!(offer["file"]["mime"], "image/jpeg");
    assert_eq!(offer["file"]["state"], "complete");
    assert!(
        bob.ok(&["messages", "alice", "--peek"])
            .contains("[file] holiday.jpg (3.0 MiB, complete)")
    );
    let saved = bob.profile().join("saved.jpg");
    let id = offer["id"].as_str().unwrap();
    bob.ok(&["save-file", "alice", id, saved.to_str().unwrap()]);
    assert!(std::fs::read(&saved).unwrap() == data, "saved intact");
    // Never over an existing file.
    let again = bob.cli(&["save-file", "alice", id, saved.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("cannot create"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_transfer_survives_the_receiver_being_killed_mid_way() {
    let lab = Lab::new(2);
    let (alice, mut bob) = two_friends(&lab);
    assert!(wait_until(PATIENCE, || alice.links() >= 1 && bob.links() >= 1));
    let data = content(40 * 1024 * 1024);
    let path = alice.profile().join("archive.zip");
    std::fs::write(&path, &data).unwrap();
    alice.ok(&["send-file", "bob", path.to_str().unwrap(), "--no-wait"]);
    // Kill bob once part of it is stored.
    let have = |p: &Peer| {
        file_message(p, "alice")
            .and_then(|m| m["file"]["have"].as_u64())
            .unwrap_or(0)
    };
    assert!(
        wait_until(PATIENCE, || have(&bob) > 1024 * 1024),
        "no progress: {:?}",
        file_message(&bob, "alice")
    );
    bob.kill9();
    let held = have(&bob);
    assert!(held < data.len() as u64, "killed before the end ({held})");
    bob.start();
    let id = file_message(&bob, "alice").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        wait_until(PATIENCE, || file_message(&bob, "alice")
            .is_some_and(|m| m["file"]["state"] == "complete")),
        "the transfer did not resume: {:?}",
        file_message(&bob, "alice")
    );
    let saved = bob.profile().join("archive.zip");
    bob.ok(&["save-file", "alice", &id, saved.to_str().unwrap()]);
    assert!(std::fs::read(&saved).unwrap() == data, "saved intact");
    assert!(
        wait_until(PATIENCE, || file_message(&alice, "bob")
            .is_some_and(|m| m["file"]["state"] == "complete")),
        "alice never learnt bob has it all"
    );
    let log = bob.log(2);
    assert!(!log.contains("archive"), "file names are not logged");
}
