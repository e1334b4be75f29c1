//! The store at rest: a wrong passphrase changes nothing, and the file holds
//! no message text or contact names in the clear.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::{Peer, stderr, wait_until};

fn file_bytes(peer: &Peer) -> Vec<u8> {
    std::fs::read(peer.store_path()).expect("store file")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn wrong_passphrase_fails_clearly_and_leaves_the_store_byte_identical() {
    let mut alice =
        Peer::new("alice", None).with_run_args(&["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    let mut bob =
        Peer::new("bob", None).with_run_args(&["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    alice.start();
    bob.start();
    let addr = {
        let s = bob.json(&["status"]);
        format!(
            "{}/p2p/{}",
            s["lan"]["listen_addrs"][0].as_str().unwrap(),
            s["lan"]["peer_id"].as_str().unwrap()
        )
    };
    alice.add(&bob);
    bob.add(&alice);
    assert!(alice.cli(&["status"]).status.success());
    let dial = alice.cli(&["--help"]);
    assert!(dial.status.success());
    // Connect them and talk, so the store holds a conversation.
    let _ = addr;
    alice.stop();
    let mut alice = alice.with_run_args(&[
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--bootstrap",
        &addr,
    ]);
    alice.start();
    let secret = "the eagle lands at dawn";
    alice.send("bob", secret);
    assert!(wait_until(Duration::from_secs(30), || bob
        .received("alice")
        == [secret]));
    alice.stop();
    bob.stop();

    let before = file_bytes(&alice);
    for args in [vec!["messages", "bob"], vec!["contacts"], vec!["run"]] {
        let out = alice.cli_with_env(&args, &[("CAIRN_PASSPHRASE", "not the passphrase")]);
        assert!(
            !out.status.success(),
            "`{}` succeeded with a wrong passphrase",
            args.join(" ")
        );
        assert!(
            stderr(&out).contains("wrong passphrase"),
            "unclear error: {}",
            stderr(&out)
        );
    }
    assert!(
        before == file_bytes(&alice),
        "store file changed after wrong passphrases"
    );

    // Nothing readable at rest, on either side.
    for (peer, other) in [(&alice, "bob"), (&bob, "alice")] {
        let bytes = file_bytes(peer);
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "message text in the clear"
        );
        assert!(!contains(&bytes, b"eagle"), "message text in the clear");
        assert!(
            !contains(&bytes, other.as_bytes()),
            "contact name in the clear"
        );
        assert!(
            !contains(&bytes, peer.name.as_bytes()),
            "own name in the clear"
        );
    }
    // The right passphrase still opens it.
    assert_eq!(alice.received("bob"), Vec::<String>::new());
    assert_eq!(alice.state_of("bob", secret).as_deref(), Some("delivered"));
}

#[test]
fn without_a_passphrase_and_without_a_terminal_the_cli_says_what_to_do() {
    let alice = Peer::new("alice", None);
    let out = alice.cli_with_env(&["contacts"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("CAIRN_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
}
