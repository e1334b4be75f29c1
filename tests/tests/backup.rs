//! Backup, restore and export with real `cairn` processes: a profile moves
//! from one machine (network namespace) to another and carries on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use cairn_tests::{Lab, PASSPHRASE, Peer, stderr, wait_until};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(60);
const BACKUP_PASS: &str = "a long backup passphrase";

fn backup(p: &Peer, file: &Path, pass: &str) -> std::process::Output {
    p.cli_with_env(
        &["backup", file.to_str().unwrap()],
        &[
            ("CAIRN_PASSPHRASE", PASSPHRASE),
            ("CAIRN_BACKUP_PASSPHRASE", pass),
        ],
    )
}

fn restore(p: &Peer, file: &Path, pass: &str) -> std::process::Output {
    p.cli_with_env(
        &["restore", file.to_str().unwrap()],
        &[
            ("CAIRN_PASSPHRASE", PASSPHRASE),
            ("CAIRN_BACKUP_PASSPHRASE", pass),
        ],
    )
}

fn group_texts(p: &Peer, group: &str) -> Vec<String> {
    p.json(&["group", "messages", group])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything a profile shows that a restore must bring back: contacts,
/// the history with bob (id, direction, text), the group's texts, groups.
type Picture = (Value, Vec<(String, String, String)>, Vec<String>, Value);

fn picture(p: &Peer) -> Picture {
    let contacts: Vec<Value> = p.json(&["contacts"]).as_array().unwrap().clone();
    let contacts = Value::Array(
        contacts
            .into_iter()
            .map(|c| {
                serde_json::json!({
                    "id": c["id"], "name": c["name"], "alias": c["alias"],
                    "verified": c["verified"],
                })
            })
            .collect(),
    );
    let history = p
        .messages("bob")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["direction"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let groups: Vec<Value> = p.json(&["group", "list"]).as_array().unwrap().clone();
    let groups = Value::Array(
        groups
            .into_iter()
            .map(|g| serde_json::json!({"id": g["id"], "name": g["name"], "members": g["members"]}))
            .collect(),
    );
    (contacts, history, group_texts(p, "walkers"), groups)
}

/// Alice backs up while her node runs, her machine is wiped, and she
/// restores on another: contacts (with the verification mark), the group
/// and the history come back, and she and bob write to each other again —
/// 1:1 and in the group. A wrong passphrase and a damaged file are clear
/// errors that create nothing.
#[test]
fn a_profile_moves_to_another_machine_and_carries_on() {
    let lab = Lab::new(3);
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(2)));
    alice.start();
    bob.start();
    alice.add(&bob);
    bob.add(&alice);
    alice.ok(&["verify", "bob", "--confirm"]);
    for i in 0..5 {
        alice.send("bob", &format!("alice says {i}"));
        bob.send("alice", &format!("bob says {i} سلام"));
    }
    alice.ok(&["group", "create", "walkers"]);
    alice.ok(&["group", "add", "walkers", "bob"]);
    alice.ok(&["group", "send", "walkers", "hello walkers"]);
    assert!(
        wait_until(PATIENCE, || alice.received("bob").len() == 5
            && bob.received("alice").len() == 5
            && group_texts(&bob, "walkers").len() == 1),
        "the conversation never settled:\n{}\n{}",
        alice.all_logs(),
        bob.all_logs()
    );
    bob.ok(&["group", "send", "walkers", "hello from bob"]);
    assert!(
        wait_until(PATIENCE, || group_texts(&alice, "walkers").len() == 2),
        "bob's group message never reached alice"
    );
    let before = picture(&alice);
    assert_eq!(before.1.len(), 10);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alice.cairnbackup");
    // Made through the running node (its control socket).
    let out = backup(&alice, &file, BACKUP_PASS);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("1 contacts, 10 messages, 1 groups"),
        "{shown}"
    );
    let bytes = std::fs::read(&file).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("alice says"));
    // An existing file is never replaced.
    let again = backup(&alice, &file, BACKUP_PASS);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    // The laptop dies.
    alice.stop();
    std::fs::remove_dir_all(alice.profile()).unwrap();

    let mut restored = Peer::empty("alice", Some(lab.host(1)));
    let empty = |p: &Peer| std::fs::read_dir(p.profile()).unwrap().next().is_none();

    let wrong = restore(&restored, &file, "not the passphrase");
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("wrong passphrase for this backup"),
        "{}",
        stderr(&wrong)
    );
    assert!(empty(&restored), "a failed restore left files behind");

    let damaged = dir.path().join("damaged.cairnbackup");
    let mut b = bytes.clone();
    let middle = b.len() / 2;
    b[middle] ^= 0x01;
    std::fs::write(&damaged, &b).unwrap();
    let out = restore(&restored, &damaged, BACKUP_PASS);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    assert!(empty(&restored), "a failed restore left files behind");

    let out = restore(&restored, &file, BACKUP_PASS);
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    // Over an existing profile: refused, the profile untouched.
    let store = std::fs::read(restored.store_path()).unwrap();
    let twice = restore(&restored, &file, BACKUP_PASS);
    assert!(!twice.status.success());
    assert!(
        stderr(&twice).contains("already exists"),
        "{}",
        stderr(&twice)
    );
    assert_eq!(std::fs::read(restored.store_path()).unwrap(), store);

    assert_eq!(picture(&restored), before, "the restored profile differs");
    assert_eq!(
        restored.json(&["contacts"])[0]["verified"],
        Value::Bool(true),
        "the verification mark was lost"
    );

    // Messages flow again, both ways, 1:1 and in the group.
    restored.start();
    bob.send("alice", "welcome back");
    restored.send("bob", "back on a new machine");
    restored.ok(&["group", "send", "walkers", "restored and posting"]);
    assert!(
        wait_until(PATIENCE, || restored
            .received("bob")
            .contains(&"welcome back".to_owned())
            && bob
                .received("alice")
                .contains(&"back on a new machine".to_owned())
            && group_texts(&bob, "walkers")
                .contains(&"restored and posting".to_owned())),
        "the restored profile did not carry on:\n{}\n{}",
        restored.all_logs(),
        bob.all_logs()
    );
    // Exactly once each.
    let welcome = restored
        .received("bob")
        .iter()
        .filter(|t| *t == "welcome back")
        .count();
    assert_eq!(welcome, 1);
}

/// `cairn export --json` names every message of the conversation once, with
/// its text, both directions, and the group's too.
#[test]
fn export_names_every_message_once() {
    let lab = Lab::new(2);
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(1)));
    alice.start();
    bob.start();
    alice.add(&bob);
    bob.add(&alice);
    let mut ids = std::collections::BTreeMap::new();
    for i in 0..20 {
        let text = format!("from alice {i}\nline two \"quoted\"");
        ids.insert(alice.send("bob", &text), text);
        let text = format!("from bob {i} 🎉");
        ids.insert(bob.send("alice", &text), text);
    }
    alice.ok(&["group", "create", "walkers"]);
    alice.ok(&["group", "add", "walkers", "bob"]);
    alice.ok(&["group", "send", "walkers", "one"]);
    alice.ok(&["group", "send", "walkers", "two"]);
    assert!(
        wait_until(PATIENCE, || alice.received("bob").len() == 20),
        "bob's messages never arrived"
    );
    let export: Value = serde_json::from_str(&alice.ok(&["export", "bob", "--json"])).unwrap();
    assert_eq!(export["format"], "cairn-export-1");
    assert_eq!(export["kind"], "contact");
    let messages = export["messages"].as_array().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for m in messages {
        let id = m["id"].as_str().unwrap().to_owned();
        assert!(
            seen.insert(id.clone(), m["text"].as_str().unwrap().to_owned())
                .is_none(),
            "{id} twice"
        );
    }
    assert_eq!(seen, ids, "the export is not the conversation");
    // Exporting marked nothing read.
    assert!(messages.iter().any(|m| m["state"] == "received"));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("walkers.json");
    alice.ok(&[
        "export",
        "walkers",
        "--group",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let group: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let texts: Vec<&str> = group["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    // --out never overwrites.
    let again = alice.cli(&[
        "export",
        "walkers",
        "--group",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let text = alice.ok(&["export", "bob"]);
    assert!(text.contains("from bob 19 🎉"), "{text}");
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backup-v1.cairnbackup")
}

/// Writes the fixture: alice, offline, with a verified contact, queued
/// messages, a file and a group. Run by hand when the format version
/// changes (keep the old fixtures):
/// `CAIRN_WRITE_FIXTURE=1 cargo nextest run -p cairn-tests a_backup_from_an_older_version`
fn write_fixture(path: &Path) {
    let alice = Peer::new("alice", None);
    let bob = Peer::new("bob", None);
    alice.add(&bob);
    alice.ok(&["verify", "bob", "--confirm"]);
    alice.send("bob", "a message from format 1");
    alice.send("bob", "سلام from format 1");
    let dir = tempfile::tempdir().unwrap();
    let note = dir.path().join("note.txt");
    std::fs::write(&note, "a file kept in a backup\n").unwrap();
    alice.ok(&["send-file", "bob", note.to_str().unwrap(), "--no-wait"]);
    alice.ok(&["group", "create", "walkers"]);
    alice.ok(&["group", "add", "walkers", "bob"]);
    alice.ok(&["group", "send", "walkers", "a group message from format 1"]);
    let out = backup(&alice, path, "fixture passphrase");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A backup made by an earlier Cairn (format 1, kept in tests/fixtures)
/// restores in this one: contact, verification, history, file, group.
#[test]
fn a_backup_from_an_older_version_restores() {
    let path = fixture();
    if std::env::var_os("CAIRN_WRITE_FIXTURE").is_some() {
        let _ = std::fs::remove_file(&path);
        write_fixture(&path);
    }
    let alice = Peer::empty("alice", None);
    let out = restore(&alice, &path, "fixture passphrase");
    assert!(out.status.success(), "{}", stderr(&out));
    let contacts = alice.json(&["contacts"]);
    assert_eq!(contacts[0]["alias"], "bob");
    assert_eq!(contacts[0]["verified"], true);
    let texts: Vec<String> = alice
        .messages("bob")
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        ["a message from format 1", "سلام from format 1", "note.txt"]
    );
    assert_eq!(
        group_texts(&alice, "walkers"),
        ["a group message from format 1"]
    );
    let messages = alice.messages("bob");
    let file_id = messages[2]["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("note.txt");
    alice.ok(&["save-file", "bob", file_id, saved.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(saved).unwrap(),
        "a file kept in a backup\n"
    );
    // Queued, never sent: still waiting to go out after the restore.
    assert!(
        messages.iter().all(|m| m["state"] == "queued"),
        "{messages:?}"
    );
}
