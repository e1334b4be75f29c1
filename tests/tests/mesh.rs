//! Store and forward between real `cairn` processes: three hosts on two
//! bridges, where alice and carol share no network and bob, a stranger to
//! both, sits on both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::{Lab, Peer, wait_until};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(60);

fn mesh(p: &Peer) -> Value {
    p.json(&["status"])["mesh"].clone()
}

fn carried(p: &Peer) -> u64 {
    mesh(p)["carried"].as_u64().unwrap_or(0)
}

#[test]
fn a_stranger_in_the_middle_carries_messages_and_holds_them_while_the_recipient_is_away() {
    // alice: bridge 0 only; bob: both; carol: bridge 1 only.
    let lab = Lab::with_bridges(&[vec![0], vec![0, 1], vec![1]]);
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(1)));
    let mut carol = Peer::new("carol", Some(lab.host(2)));
    // alice and carol know each other; neither knows bob.
    alice.add(&carol);
    carol.add(&alice);
    for p in [&mut alice, &mut bob, &mut carol] {
        p.start();
    }
    assert!(
        wait_until(PATIENCE, || alice.links() == 1
            && bob.links() == 2
            && carol.links() == 1),
        "bob did not link to both sides (alice {}, bob {}, carol {})",
        alice.links(),
        bob.links(),
        carol.links()
    );

    // 1. Through bob while everyone is up.
    alice.send("carol", "hello through the middle");
    assert!(
        wait_until(PATIENCE, || carol
            .received("alice")
            .contains(&"hello through the middle".to_owned())),
        "carol never got alice's message through bob"
    );
    // carol's receipt travels back the same way.
    assert!(
        wait_until(PATIENCE, || alice
            .state_of("carol", "hello through the middle")
            .as_deref()
            == Some("delivered")),
        "alice never learned of the delivery"
    );
    // Delivery proofs clear what bob carried.
    assert!(
        wait_until(PATIENCE, || carried(&bob) == 0),
        "bob still carries delivered envelopes: {}",
        mesh(&bob)
    );
    // bob never learns who talks to whom: neither is among his contacts, and
    // he was never told.
    assert!(bob.json(&["contacts"]).as_array().unwrap().is_empty());

    // 2. carol goes away; bob takes the message and holds it.
    carol.stop();
    assert!(
        wait_until(PATIENCE, || bob.links() == 1),
        "bob still sees carol"
    );
    alice.send("carol", "written while you were away");
    assert!(
        wait_until(PATIENCE, || carried(&bob) >= 1),
        "bob did not take the envelope: {}",
        mesh(&bob)
    );
    assert!(
        wait_until(PATIENCE, || alice
            .state_of("carol", "written while you were away")
            .as_deref()
            == Some("sent")),
        "alice does not show the message handed on"
    );
    // alice leaves too: only bob can deliver now.
    alice.stop();
    carol.start();
    assert!(
        wait_until(PATIENCE, || carol
            .received("alice")
            .contains(&"written while you were away".to_owned())),
        "bob did not deliver when carol came back"
    );
    assert_eq!(
        carol.received("alice"),
        vec!["hello through the middle", "written while you were away"],
        "each message exactly once, in order"
    );
    // When alice returns, the receipt bob carried for her arrives.
    alice.start();
    assert!(
        wait_until(PATIENCE, || alice
            .state_of("carol", "written while you were away")
            .as_deref()
            == Some("delivered")),
        "alice never learned of the second delivery"
    );
}
