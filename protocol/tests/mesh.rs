//! Store and forward in the core: envelopes hop across relays that are not
//! the recipient, wait in them, and are cleared by delivery proofs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use cairn_protocol::mesh::{MeshConfig, Policy};
use cairn_protocol::{DeliveryState, Direction};
use harness::Net;

fn received(net: &Net, n: usize, from: usize) -> Vec<String> {
    net.history(n, from)
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming)
        .map(|m| m.text)
        .collect()
}

fn state(net: &Net, n: usize, peer: usize, text: &str) -> DeliveryState {
    net.history(n, peer)
        .into_iter()
        .find(|m| m.text == text)
        .unwrap()
        .state
}

#[test]
fn a_message_hops_through_a_relay_that_is_not_a_contact() {
    // alice — bob — carol: alice and carol know each other; bob knows nobody.
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    net.connect(0, 1);
    net.connect(1, 2);
    net.send(0, 2, "via bob");
    assert_eq!(received(&net, 2, 0), vec!["via bob"]);
    // The receipt found its way back the same way.
    assert_eq!(state(&net, 0, 2, "via bob"), DeliveryState::Delivered);
    // Bob learned nothing he can read and keeps nothing once it is delivered.
    assert!(net.nodes[1].engine.contacts().next().is_none());
    assert_eq!(
        net.nodes[1].engine.mesh_stats().carried,
        0,
        "delivery proofs clear relays"
    );
}

#[test]
fn a_relay_carries_while_the_recipient_is_away_and_delivers_when_it_comes() {
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    let (ab, _) = net.connect(0, 1);
    net.send(0, 2, "wait for carol");
    net.disconnect(ab); // alice walks away
    assert_eq!(
        net.nodes[1].engine.mesh_stats().carried,
        1,
        "bob carries it"
    );
    net.advance(Duration::from_secs(600));
    net.connect(1, 2); // carol comes in range of bob
    assert_eq!(received(&net, 2, 0), vec!["wait for carol"]);
    // Alice learns of the delivery when she meets anyone who carries the receipt.
    assert_eq!(state(&net, 0, 2, "wait for carol"), DeliveryState::Sent);
    net.connect(0, 1);
    assert_eq!(
        state(&net, 0, 2, "wait for carol"),
        DeliveryState::Delivered
    );
}

#[test]
fn spray_and_wait_hands_out_at_most_its_copies() {
    // alice meets many strangers one after another; none is the recipient.
    let names: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    let mut all: Vec<&str> = vec!["alice", "carol"];
    all.extend(names.iter().map(String::as_str));
    let mut net = Net::new(&all);
    net.befriend(0, 1);
    net.send(0, 1, "sprayed");
    for i in 2..all.len() {
        let (l, _) = net.connect(0, i);
        net.disconnect(l);
    }
    let holders = (2..all.len())
        .filter(|i| net.nodes[*i].engine.mesh_stats().carried > 0)
        .count();
    // L copies, halved at each hand-over: alice gives away L/2, L/4, … 1,
    // then waits with her last one.
    let Policy::SprayAndWait { copies } = MeshConfig::default().policy else {
        panic!("the default policy is spray and wait");
    };
    assert!(all.len() - 2 > copies.ilog2() as usize, "enough strangers");
    assert_eq!(holders, copies.ilog2() as usize);
}

#[test]
fn carried_envelopes_survive_a_restart_of_the_relay() {
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    let (ab, _) = net.connect(0, 1);
    net.send(0, 2, "kept on disk");
    net.disconnect(ab);
    net.restart(1);
    assert_eq!(net.nodes[1].engine.mesh_stats().carried, 1);
    net.connect(1, 2);
    assert_eq!(received(&net, 2, 0), vec!["kept on disk"]);
}

#[test]
fn a_direct_link_still_wins_when_there_is_one() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "direct");
    assert_eq!(received(&net, 1, 0), vec!["direct"]);
    assert_eq!(
        net.nodes[0].engine.mesh_stats().carried,
        0,
        "nothing sealed for the mesh"
    );
}
