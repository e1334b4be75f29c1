//! Real `cairn` nodes on a private Tor network (Debian's `tor`, three
//! authorities and five relays, in a namespace with only loopback): each
//! hosts its onion service through arti, they add each other by invite and
//! chat, a restart keeps the address, and `--tor-only` sends nothing but Tor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_tests::{
    Peer, TorNet, inet_destinations, mailbox_holds_and_hands_over, sockets_of, wait_until,
};
use serde_json::Value;

/// Tor circuits on a young private network can take a while.
const PATIENCE: Duration = Duration::from_secs(120);

fn tor_status(p: &Peer) -> Value {
    p.json(&["status"])["tor"].clone()
}

fn wait_published(p: &Peer) -> String {
    assert!(
        wait_until(PATIENCE, || tor_status(p)["stage"] == "ready"),
        "{}'s onion service was not published: {}",
        p.name,
        tor_status(p)
    );
    tor_status(p)["onion"]
        .as_str()
        .expect("onion address")
        .to_owned()
}

fn assert_only_tor_links(p: &Peer) {
    let links = p.json(&["status"])["links"].clone();
    assert!(
        links
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["medium"] == "tor"),
        "{}: links other than Tor: {links}",
        p.name
    );
}

/// Sockets of the node that are not a TCP connection to one of the Tor
/// network's relays: with `--tor-only` there must be none.
fn non_tor_sockets(net: &TorNet, p: &Peer) -> Vec<String> {
    let relays = net.relay_ports();
    sockets_of(net.netns(), p.pid().expect("running"))
        .into_iter()
        .filter(|(proto, state, _local, peer)| {
            let to_relay = peer
                .strip_prefix("127.0.0.1:")
                .and_then(|port| port.parse::<u16>().ok())
                .is_some_and(|port| relays.contains(&port));
            !(proto == "tcp" && state == "ESTAB" && to_relay)
        })
        .map(|s| format!("{s:?}"))
        .collect()
}

/// tcpdump on the namespace's loopback, for as long as it lives.
struct Capture {
    child: Child,
    file: tempfile::NamedTempFile,
}

impl Capture {
    fn start(net: &TorNet) -> Self {
        let file = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                net.netns(),
                "tcpdump",
                "-i",
                "lo",
                "-n",
                "-U",
                "-w",
            ])
            .arg(file.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump");
        std::thread::sleep(Duration::from_millis(500));
        Capture { child, file }
    }

    /// One line per packet (`tcpdump -nn -q`), after stopping the capture.
    fn packets(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let out = Command::new("tcpdump")
            .args(["-nn", "-q", "-r"])
            .arg(self.file.path())
            .output()
            .expect("tcpdump -r");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The ports at both ends of a `tcpdump -nn -q` line (`IP a.b.c.d.P > e.f.g.h.Q: tcp N`).
fn packet_ports(line: &str) -> Option<(String, u16, u16)> {
    let mut f = line.split_whitespace();
    let _time = f.next()?;
    let _ip = f.next()?;
    let src = f.next()?;
    let _gt = f.next()?;
    let dst = f.next()?.trim_end_matches(':');
    let proto = f.next()?.to_owned();
    let port = |a: &str| a.rsplit('.').next()?.parse().ok();
    Some((proto, port(src)?, port(dst)?))
}

#[test]
fn two_nodes_chat_over_their_onion_services_and_tor_only_sends_nothing_else() {
    let net = TorNet::start();
    let capture = Capture::start(&net);
    let config = net.arti_config();
    let args = ["--tor-only", "--tor-config", config.to_str().unwrap()];
    let mut alice = Peer::new("alice", Some(net.netns())).with_run_args(&args);
    let mut bob = Peer::new("bob", Some(net.netns())).with_run_args(&args);
    alice.start();
    bob.start();
    let alice_onion = wait_published(&alice);
    let bob_onion = wait_published(&bob);
    assert_ne!(alice_onion, bob_onion);
    assert!(alice_onion.ends_with(".onion") && alice_onion.len() == 62);

    // The invite carries the onion address: that is all bob needs.
    alice.add(&bob);
    bob.add(&alice);
    alice.send("bob", "hello over tor");
    assert!(
        wait_until(PATIENCE, || bob
            .received("alice")
            .contains(&"hello over tor".into())),
        "bob never got alice's message"
    );
    bob.send("alice", "hello back");
    assert!(
        wait_until(PATIENCE, || alice
            .received("bob")
            .contains(&"hello back".into())),
        "alice never got bob's answer"
    );
    assert!(wait_until(PATIENCE, || alice
        .state_of("bob", "hello over tor")
        .as_deref()
        == Some("delivered")));
    assert_only_tor_links(&alice);

    // --tor-only: no listening socket, no UDP, nothing but connections to
    // the Tor network's relays.
    for p in [&alice, &bob] {
        let extra = non_tor_sockets(&net, p);
        assert!(
            extra.is_empty(),
            "{} holds non-Tor sockets: {extra:?}",
            p.name
        );
    }

    // A restart keeps the onion address, and the chat resumes; a message
    // written while alice is away waits in bob's outbox. From this start on
    // alice runs under strace: every address she tries to reach is seen,
    // even one no packet could get to.
    alice.stop();
    bob.send("alice", "while you were away");
    let alice_trace = net.dir().join("alice.strace");
    alice.trace_sockets_to(&alice_trace);
    alice.start();
    assert_eq!(
        wait_published(&alice),
        alice_onion,
        "the onion address changed"
    );
    assert!(
        wait_until(PATIENCE, || alice
            .received("bob")
            .contains(&"while you were away".into())),
        "the queued message never reached alice after her restart"
    );
    alice.send("bob", "back again");
    assert!(
        wait_until(PATIENCE, || bob
            .received("alice")
            .contains(&"back again".into())),
        "bob never got alice's message after her restart"
    );

    // Every internet address alice's process tried — connect, sendto,
    // sendmsg — was a relay of the private network, and she bound none.
    alice.stop();
    let tried = inet_destinations(&std::fs::read_to_string(&alice_trace).unwrap());
    // The trace must have seen her reach Tor at all (an empty trace would
    // pass the checks below). After a restart arti goes back to its guards
    // with its cached directory, so two relays may be all it dials; the
    // chat both ways after the restart, asserted above, went through them.
    assert!(
        tried.iter().filter(|(call, _)| call == "connect").count() >= 2,
        "the trace saw too little: {tried:?}"
    );
    let relay_addresses = |relays: &[u16]| -> Vec<String> {
        relays.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    };
    let outside = |tried: &[(String, String)], relays: &[String]| -> Vec<(String, String)> {
        tried
            .iter()
            .filter(|(call, to)| call == "bind" || !relays.contains(to))
            .cloned()
            .collect()
    };
    let relays_at = relay_addresses(&net.relay_ports());
    let stray = outside(&tried, &relays_at);
    assert!(
        stray.is_empty(),
        "alice tried to reach beyond Tor: {stray:?}"
    );

    // Every packet the capture saw went to or from a Tor relay's port: the
    // nodes' only traffic was Tor's.
    let relays = net.relay_ports();
    let packets = capture.packets();
    assert!(
        packets.len() > 100,
        "the capture saw too little: {packets:?}"
    );
    let stray: Vec<&String> = packets
        .iter()
        .filter(|line| match packet_ports(line) {
            Some((proto, a, b)) => proto != "tcp" || !(relays.contains(&a) || relays.contains(&b)),
            None => true,
        })
        .collect();
    assert!(stray.is_empty(), "packets outside Tor: {stray:?}");

    // A Tor network that cannot be reached: the node runs on, says where it
    // is stuck, and keeps what is written for later.
    let dead = net.dir().join("unreachable.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&dead, text.replace("\"127.0.0.1:", "\"127.0.0.2:")).unwrap();
    let mut dave = Peer::new("dave", Some(net.netns())).with_run_args(&[
        "--tor-only",
        "--tor-config",
        dead.to_str().unwrap(),
    ]);
    dave.start();
    dave.add(&alice);
    dave.send("alice", "waiting for Tor");
    std::thread::sleep(Duration::from_secs(5));
    let stuck = tor_status(&dave);
    assert_eq!(stuck["stage"], "bootstrapping", "{stuck}");
    assert!(stuck["progress"].as_u64().unwrap() < 100, "{stuck}");
    assert!(!stuck["detail"].as_str().unwrap().is_empty(), "{stuck}");
    assert_eq!(
        dave.state_of("alice", "waiting for Tor").as_deref(),
        Some("queued")
    );
    let shown = dave.ok(&["status"]);
    assert!(shown.contains("tor: bootstrapping"), "{shown}");
    eprintln!("an unreachable Tor network shows as: {stuck}");

    // The check has teeth: a node with Tor *and* the LAN transport holds
    // sockets that the check reports.
    let mut carol = Peer::new("carol", Some(net.netns())).with_run_args(&[
        "--tor",
        "--tor-config",
        config.to_str().unwrap(),
    ]);
    carol.start();
    assert!(!non_tor_sockets(&net, &carol).is_empty());
    // And the trace check too: under strace, carol's LAN transport binds and
    // announces itself, which the same check reports.
    carol.stop();
    let carol_trace = net.dir().join("carol.strace");
    carol.trace_sockets_to(&carol_trace);
    carol.start();
    assert!(
        wait_until(PATIENCE, || {
            let tried =
                inet_destinations(&std::fs::read_to_string(&carol_trace).unwrap_or_default());
            !outside(&tried, &relays_at).is_empty()
        }),
        "the trace check saw nothing outside Tor from a node with the LAN on"
    );
    carol.stop();
}

/// The multi-device issue's mailbox scenario over the private Tor network,
/// every node `--tor-only`: the laptop links its mailbox with a code (which
/// names the laptop's onion service), bob writes while the laptop is off,
/// the mailbox holds it ("held"), the laptop comes back and gets it exactly
/// once, and bob sees it delivered.
#[test]
fn a_mailbox_holds_for_the_laptop_over_tor_only() {
    let net = TorNet::start();
    let config = net.arti_config();
    let args = ["--tor-only", "--tor-config", config.to_str().unwrap()];
    let mut laptop = Peer::new("alice", Some(net.netns())).with_run_args(&args);
    let mut bob = Peer::new("bob", Some(net.netns())).with_run_args(&args);
    laptop.start();
    bob.start();
    wait_published(&laptop);
    wait_published(&bob);
    laptop.add(&bob);
    bob.add(&laptop);

    let code = laptop
        .ok(&["device", "link"])
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let mut mailbox = Peer::empty("mailbox", Some(net.netns())).with_run_args(&args);
    mailbox.ok(&[
        "init",
        "--link",
        &code,
        "--device-name",
        "mailbox",
        "--mailbox",
    ]);
    mailbox.start();
    assert!(
        wait_until(PATIENCE, || mailbox.json(&["device", "list"])["joining"]
            == false),
        "the mailbox did not link over Tor:\n{}",
        mailbox.all_logs()
    );
    assert!(
        wait_until(PATIENCE, || bob.json(&["contacts"])[0]["devices"] == 2),
        "bob never heard of the mailbox: {}",
        bob.json(&["contacts"])
    );
    wait_published(&mailbox);

    mailbox_holds_and_hands_over(&mut laptop, &mailbox, &bob, PATIENCE);
    for p in [&laptop, &mailbox, &bob] {
        assert_only_tor_links(p);
    }
    mailbox.stop();
    laptop.stop();
    bob.stop();
}
