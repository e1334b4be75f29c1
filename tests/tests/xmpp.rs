//! The XMPP gateway against a real Prosody and an independent client
//! (slixmpp): opt-in, presence, 1:1 messages both ways with receipts, chat
//! states, vCard and disco, store-and-forward while the Cairn user is away,
//! and restarts of the gateway and of Prosody that lose nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::xmpp::{COMPONENT, XmppClient, XmppNet};
use cairn_tests::{Peer, wait_until};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(45);
const GATEWAY_ADDR: &str = "/ip4/127.0.0.1/tcp/4701";
const ALICE_ADDR: &str = "/ip4/127.0.0.1/tcp/4702";

fn peer_id(p: &Peer) -> String {
    p.json(&["status"])["lan"]["peer_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn gateway_args(net: &XmppNet, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--domain",
        COMPONENT,
        "--secret-file",
        net.secret_file().to_str().unwrap(),
        "--listen",
        GATEWAY_ADDR,
        "--no-mdns",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The gateway and alice, linked over loopback in the namespace, alice
/// joined as alice@cairn.localhost.
fn gateway_and_alice(net: &XmppNet, extra: &[&str]) -> (Peer, Peer, String, String) {
    let mut gateway =
        Peer::new("gateway", Some(net.netns())).as_gateway(&as_strs(&gateway_args(net, extra)));
    gateway.start();
    let gw_dial = format!("{GATEWAY_ADDR}/p2p/{}", peer_id(&gateway));
    let mut alice = Peer::new("alice", Some(net.netns())).with_run_args(&[
        "--no-mdns",
        "--listen",
        ALICE_ADDR,
        "--bootstrap",
        &gw_dial,
    ]);
    alice.start();
    let alice_dial = format!("{ALICE_ADDR}/p2p/{}", peer_id(&alice));
    alice.add(&gateway);
    alice.ok(&["bridge", "join", "gateway", "--alias", "Alice"]);
    let joined = wait_until(PATIENCE, || {
        alice.json(&["status"])["bridges"][0]["address"] == "alice@cairn.localhost"
    });
    assert!(
        joined,
        "alice never got her XMPP address: {}\n{}",
        alice.json(&["status"]),
        gateway.all_logs()
    );
    (gateway, alice, gw_dial, alice_dial)
}

fn xmpp_contact(alice: &Peer, jid: &str) -> Option<Value> {
    alice
        .json(&["contacts"])
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == format!("xmpp:{jid}"))
        .cloned()
}

fn bridged_texts(alice: &Peer, jid: &str) -> Vec<String> {
    alice
        .json(&["messages", &format!("xmpp:{jid}"), "--peek"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_xmpp_user_and_a_cairn_user_chat_through_the_gateway_and_nothing_is_lost() {
    let mut net = XmppNet::start();
    net.register("juliet", "juliet-pass");
    let (mut gateway, mut alice, gw_dial, alice_dial) = gateway_and_alice(&net, &[]);
    let alice_jid = "alice@cairn.localhost";
    let mut juliet = net.client("juliet", "juliet-pass");

    // Presence: juliet subscribes; the gateway answers for alice, who is
    // online, and asks back, so alice sees juliet too.
    juliet.command(json!({"cmd": "subscribe", "to": alice_jid}));
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "subscribed"
                && e["from"] == alice_jid)
            .is_some(),
        "no subscription answer: {:?}\n{}",
        juliet.events(),
        gateway.all_logs()
    );
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "presence"
                && e["from"] == alice_jid
                && e["type"] == "available")
            .is_some(),
        "alice not shown available: {:?}",
        juliet.events()
    );
    assert!(
        wait_until(PATIENCE, || xmpp_contact(&alice, "juliet@localhost")
            .is_some_and(
                |c| c["presence"] == "available" && c["kind"] == "xmpp"
            )),
        "alice does not see juliet's presence: {:?}",
        alice.json(&["contacts"])
    );
    let shown = alice.ok(&["contacts"]);
    assert!(
        shown.contains("only as private as XMPP"),
        "bridged contact not marked: {shown}"
    );

    // XMPP → Cairn, with a delivery receipt back to juliet.
    juliet.command(json!({"cmd": "send", "to": alice_jid, "body": "hello from xmpp"}));
    let sent = juliet.wait_for(PATIENCE, |e| e["event"] == "sent").unwrap();
    assert!(
        wait_until(PATIENCE, || bridged_texts(&alice, "juliet@localhost")
            == ["hello from xmpp"]),
        "alice did not get juliet's message:\n{}",
        gateway.all_logs()
    );
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "receipt"
                && e["id"] == sent["id"])
            .is_some(),
        "no delivery receipt for juliet: {:?}",
        juliet.events()
    );

    // Cairn → XMPP: juliet's client acknowledges, so alice sees "delivered".
    alice.ok(&["send", "xmpp:juliet@localhost", "hi juliet, from cairn"]);
    assert!(
        wait_until(PATIENCE, || juliet.bodies_from(alice_jid)
            == ["hi juliet, from cairn"]),
        "juliet did not get alice's message: {:?}\n{}",
        juliet.events(),
        gateway.all_logs()
    );
    assert!(
        wait_until(PATIENCE, || alice
            .state_of("xmpp:juliet@localhost", "hi juliet, from cairn")
            .as_deref()
            == Some("delivered")),
        "alice's message never showed delivered: {:?}",
        alice.messages("xmpp:juliet@localhost")
    );

    // Chat states, vCard, disco.
    juliet.command(json!({"cmd": "composing", "to": alice_jid}));
    assert!(
        wait_until(PATIENCE, || xmpp_contact(&alice, "juliet@localhost")
            .is_some_and(|c| c["presence"] == "typing")),
        "alice does not see juliet typing"
    );
    juliet.command(json!({"cmd": "vcard", "to": alice_jid}));
    let vcard = juliet
        .wait_for(PATIENCE, |e| e["event"] == "vcard")
        .expect("vcard answer");
    assert_eq!(vcard["fn"], "alice");
    juliet.command(json!({"cmd": "disco", "to": COMPONENT}));
    let disco = juliet
        .wait_for(PATIENCE, |e| e["event"] == "disco")
        .expect("disco answer");
    // Identities come in no particular order (XEP-0030): the component is
    // a gateway to Cairn and the MUC service for bridged groups.
    let categories: Vec<&str> = disco["identities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i[0].as_str())
        .collect();
    assert!(
        categories.contains(&"gateway") && categories.contains(&"conference"),
        "{disco}"
    );
    assert!(
        disco["features"]
            .as_array()
            .unwrap()
            .contains(&json!("http://jabber.org/protocol/disco#info"))
    );

    // Alice goes away: juliet sees it, writes anyway; the gateway keeps the
    // text, even across its own restart, until alice is back.
    alice.stop();
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "presence"
                && e["from"] == alice_jid
                && e["type"] == "unavailable")
            .is_some(),
        "alice not shown away: {:?}",
        juliet.events()
    );
    juliet.command(json!({"cmd": "send", "to": alice_jid, "body": "while you were away"}));
    assert!(
        wait_until(PATIENCE, || gateway.json(&["status"])["outbox"] == 1),
        "the gateway did not queue the text"
    );
    gateway.stop();
    // Restarted, it dials alice (her address is known in this test).
    let mut gateway =
        gateway.as_gateway(&as_strs(&gateway_args(&net, &["--bootstrap", &alice_dial])));
    gateway.start();
    alice = alice.with_run_args(&["--no-mdns", "--listen", ALICE_ADDR, "--bootstrap", &gw_dial]);
    alice.start();
    assert!(
        wait_until(PATIENCE, || bridged_texts(&alice, "juliet@localhost")
            == ["hello from xmpp", "while you were away"]),
        "the text written while alice was away was lost: {:?}\n{}",
        bridged_texts(&alice, "juliet@localhost"),
        gateway.all_logs()
    );

    // Prosody restarts while alice writes: the gateway holds the text and
    // sends it once it is attached again.
    drop(juliet);
    net.stop_prosody();
    alice.ok(&[
        "send",
        "xmpp:juliet@localhost",
        "sent while the server was down",
    ]);
    net.start_prosody();
    let juliet = net.client("juliet", "juliet-pass");
    assert!(
        wait_until(Duration::from_secs(90), || juliet
            .bodies_from(alice_jid)
            .contains(&"sent while the server was down".to_owned())),
        "the text sent during the Prosody restart was lost: {:?}\n{}",
        juliet.events(),
        gateway.all_logs()
    );
    alice.stop();
    gateway.stop();
}

/// What juliet saw from alice: the first event `what` that `f` accepts.
fn saw(juliet: &XmppClient, nodes: [&Peer; 2], what: &str, f: &dyn Fn(&Value) -> bool) -> Value {
    juliet
        .wait_for(PATIENCE, |e| {
            e["event"] == what && e["from"] == "alice@cairn.localhost" && f(e)
        })
        .unwrap_or_else(|| {
            panic!(
                "juliet never saw the {what}: {:?}\n{}\n{}",
                juliet.events(),
                nodes[0].all_logs(),
                nodes[1].all_logs()
            )
        })
}

/// The message of alice's conversation with `jid` whose text is `text`
/// (`None` too while `jid` is not yet her contact).
fn bridged(alice: &Peer, jid: &str, text: &str) -> Option<Value> {
    xmpp_contact(alice, jid)?;
    alice
        .messages(&format!("xmpp:{jid}"))
        .into_iter()
        .find(|m| m["text"] == text)
}

#[test]
fn replies_reactions_corrections_retractions_and_markers_cross_the_gateway_both_ways() {
    let net = XmppNet::start();
    net.register("juliet", "juliet-pass");
    let (mut gateway, mut alice, _, _) = gateway_and_alice(&net, &[]);
    let alice_jid = "alice@cairn.localhost";
    let juliet_addr = "xmpp:juliet@localhost";
    let mut juliet = net.client("juliet", "juliet-pass");
    // Juliet writes (asking for chat markers, as Conversations does).
    juliet.command(
        json!({"cmd": "send", "to": alice_jid, "body": "where are you?", "markable": true}),
    );
    let asked = juliet.wait_for(PATIENCE, |e| e["event"] == "sent").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        wait_until(PATIENCE, || bridged(
            &alice,
            "juliet@localhost",
            "where are you?"
        )
        .is_some()),
        "alice did not get juliet's message:\n{}",
        gateway.all_logs()
    );
    let theirs = bridged(&alice, "juliet@localhost", "where are you?").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Cairn → XMPP: each operation arrives as its extension, naming
    // juliet's message by the id her client gave it.
    alice.ok(&["react", juliet_addr, &theirs[..8], "👍"]);
    saw(&juliet, [&gateway, &alice], "reaction", &|e| {
        e["id"] == asked && e["values"] == json!(["👍"])
    });
    alice.ok(&["reply", juliet_addr, &theirs, "at the market"]);
    let reply = saw(&juliet, [&gateway, &alice], "reply", &|e| e["id"] == asked);
    assert_eq!(reply["body"], "at the market", "{reply}");
    assert_eq!(reply["to"], "juliet@localhost", "{reply}");
    assert!(
        reply["full"]
            .as_str()
            .unwrap()
            .starts_with("> where are you?\n"),
        "no quote for clients without replies: {reply}"
    );
    let mine = alice.send(juliet_addr, "see you at five");
    saw(&juliet, [&gateway, &alice], "message", &|e| {
        e["body"] == "see you at five" && e["id"] == mine
    });
    alice.ok(&["edit", juliet_addr, &mine, "see you at six"]);
    saw(&juliet, [&gateway, &alice], "correction", &|e| {
        e["id"] == mine && e["body"] == "see you at six"
    });
    alice.ok(&["react", juliet_addr, &theirs, ""]);
    saw(&juliet, [&gateway, &alice], "reaction", &|e| {
        e["id"] == asked && e["values"] == json!([])
    });
    let gone = alice.send(juliet_addr, "wrong chat, sorry");
    saw(&juliet, [&gateway, &alice], "message", &|e| e["id"] == gone);
    alice.ok(&["delete", juliet_addr, &gone]);
    saw(&juliet, [&gateway, &alice], "retraction", &|e| {
        e["id"] == gone
    });
    // Reading juliet's message sends her the marker she asked for.
    alice.ok(&["messages", juliet_addr]);
    saw(&juliet, [&gateway, &alice], "displayed", &|e| {
        e["id"] == asked
    });
    let timer = alice.cli(&["disappear", juliet_addr, "1d"]);
    assert!(
        !timer.status.success(),
        "a timer cannot be agreed with XMPP"
    );

    // XMPP → Cairn: juliet reacts to, replies to and marks alice's message
    // (by the id it reached her with), corrects and retracts her own.
    juliet.command(json!({"cmd": "react", "to": alice_jid, "id": mine, "emoji": "❤️"}));
    assert!(
        wait_until(PATIENCE, || alice.message(juliet_addr, &mine).is_some_and(
            |m| cairn_tests::reactions(&m) == [("in".to_owned(), "❤️".to_owned())]
        )),
        "juliet's reaction never showed: {:?}\n{}",
        alice.message(juliet_addr, &mine),
        gateway.all_logs()
    );
    juliet.command(
        json!({"cmd": "reply", "to": alice_jid, "id": mine, "author": alice_jid,
                          "quote": "see you at six", "body": "six is fine"}),
    );
    assert!(
        wait_until(PATIENCE, || bridged(
            &alice,
            "juliet@localhost",
            "six is fine"
        )
        .is_some_and(
            |m| m["reply_to"] == mine.as_str() && m["quote"] == "see you at six"
        )),
        "juliet's reply did not arrive as a reply (without its quote): {:?}",
        alice.messages(juliet_addr)
    );
    juliet.command(json!({"cmd": "displayed", "to": alice_jid, "id": mine}));
    assert!(
        wait_until(PATIENCE, || alice
            .message(juliet_addr, &mine)
            .is_some_and(|m| m["state"] == "read")),
        "juliet's displayed marker did not mark alice's message read: {:?}",
        alice.message(juliet_addr, &mine)
    );
    juliet.command(
        json!({"cmd": "correct", "to": alice_jid, "id": asked, "body": "where are you now?"}),
    );
    assert!(
        wait_until(PATIENCE, || alice
            .message(juliet_addr, &theirs)
            .is_some_and(|m| {
                m["text"] == "where are you now?" && m["edited"] == true
            })),
        "juliet's correction never showed: {:?}",
        alice.message(juliet_addr, &theirs)
    );
    juliet.command(json!({"cmd": "retract", "to": alice_jid, "id": asked}));
    assert!(
        wait_until(PATIENCE, || alice
            .message(juliet_addr, &theirs)
            .is_some_and(|m| m["deleted"] == true && m["text"] == "")),
        "juliet's retraction never showed: {:?}",
        alice.message(juliet_addr, &theirs)
    );

    // The same stanza twice (a client resending after a reconnection) is
    // one message: by the time a later one arrives, there is one copy.
    for _ in 0..2 {
        juliet.command(json!({"cmd": "raw", "xml": format!(
            "<message xmlns='jabber:client' to='{alice_jid}' type='chat' id='resent-1'><body>only once</body></message>"
        )}));
    }
    juliet.command(json!({"cmd": "send", "to": alice_jid, "body": "after the resend"}));
    assert!(
        wait_until(PATIENCE, || bridged(
            &alice,
            "juliet@localhost",
            "after the resend"
        )
        .is_some()),
        "juliet's later message never came"
    );
    let copies = alice
        .messages(juliet_addr)
        .iter()
        .filter(|m| m["text"] == "only once")
        .count();
    assert_eq!(copies, 1, "{:?}", alice.messages(juliet_addr));

    // Hostile: juliet cannot correct or retract alice's message, nor react
    // to one that does not exist; each gets an error, nothing changes.
    juliet.command(json!({"cmd": "correct", "to": alice_jid, "id": mine, "body": "forged"}));
    juliet.command(json!({"cmd": "retract", "to": alice_jid, "id": mine}));
    juliet
        .command(json!({"cmd": "react", "to": alice_jid, "id": "no-such-message", "emoji": "👎"}));
    assert!(
        wait_until(PATIENCE, || juliet
            .events()
            .iter()
            .filter(|e| e["event"] == "error" && e["condition"] == "item-not-found")
            .count()
            == 3),
        "forged operations were not refused: {:?}",
        juliet.events()
    );
    let kept = alice.message(juliet_addr, &mine).unwrap();
    assert_eq!(kept["text"], "see you at six");
    assert_eq!(kept["deleted"], false);
    assert_eq!(
        cairn_tests::reactions(&kept),
        [("in".to_owned(), "❤️".to_owned())]
    );
    alice.stop();
    gateway.stop();
}

fn group_texts(p: &Peer, group: &str) -> Vec<Value> {
    p.json(&["group", "messages", group])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn an_xmpp_user_joins_a_bridged_group_as_a_room_and_chats_with_its_members() {
    let net = XmppNet::start();
    net.register("juliet", "juliet-pass");
    net.register("romeo", "romeo-pass");
    let (gateway, alice, _, _) = gateway_and_alice(&net, &[]);
    let room = "walkers@cairn.localhost";

    // Alice brings the gateway into her group: it becomes a room, and the
    // group is told it is bridged.
    alice.ok(&["group", "create", "walkers"]);
    alice.ok(&["group", "add", "walkers", "gateway"]);
    assert!(
        wait_until(PATIENCE, || alice.json(&["group", "list"])[0]["bridged_as"]
            == room),
        "the group was never marked bridged: {}\n{}",
        alice.json(&["group", "list"]),
        gateway.all_logs()
    );
    alice.ok(&["group", "send", "walkers", "before anyone from xmpp came"]);
    assert!(
        wait_until(PATIENCE, || gateway.json(&["status"])["gateway"]["rooms"]
            [0]
        .as_str()
        .is_some_and(|r| r.starts_with(room))),
        "the gateway shows no room: {}",
        gateway.json(&["status"])
    );

    // Juliet joins: alice is there; the history and the subject come.
    let mut juliet = net.client("juliet", "juliet-pass");
    juliet.command(json!({"cmd": "join", "room": room, "nick": "juliet"}));
    let joined = juliet
        .wait_for(PATIENCE, |e| {
            e["event"] == "joined" || e["event"] == "join_error"
        })
        .expect("no answer to the join");
    assert_eq!(
        joined["event"],
        "joined",
        "{joined}\n{}",
        gateway.all_logs()
    );
    assert_eq!(joined["occupants"], json!(["alice", "juliet"]), "{joined}");
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "groupchat"
                && e["nick"] == "alice"
                && e["body"] == "before anyone from xmpp came"
                && e["delayed"] == true)
            .is_some(),
        "no history: {:?}",
        juliet.events()
    );

    // Both ways.
    alice.ok(&["group", "send", "walkers", "hello room"]);
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "groupchat"
                && e["nick"] == "alice"
                && e["body"] == "hello room"
                && e["delayed"] == false)
            .is_some(),
        "juliet did not get alice's group message: {:?}\n{}",
        juliet.events(),
        gateway.all_logs()
    );
    juliet.command(json!({"cmd": "groupchat", "room": room, "body": "hi from xmpp"}));
    assert!(
        wait_until(PATIENCE, || group_texts(&alice, "walkers")
            .iter()
            .any(|m| m["text"] == "hi from xmpp" && m["via"] == "juliet")),
        "alice did not get juliet's room message: {:?}\n{}",
        group_texts(&alice, "walkers"),
        gateway.all_logs()
    );
    let sent = juliet
        .wait_for(PATIENCE, |e| e["event"] == "sent")
        .expect("sent");
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "groupchat"
                && e["nick"] == "juliet"
                && e["id"] == sent["id"])
            .is_some(),
        "juliet's message was not reflected with her id: {:?}",
        juliet.events()
    );
    let shown = alice.ok(&["group", "messages", "walkers"]);
    assert!(
        shown.contains("juliet (XMPP, via gateway): hi from xmpp"),
        "{shown}"
    );
    assert!(
        alice
            .ok(&["group", "list"])
            .contains("only as private as XMPP"),
        "a bridged group is not marked"
    );

    // The room in service discovery.
    juliet.command(json!({"cmd": "disco", "to": room}));
    let disco = juliet
        .wait_for(PATIENCE, |e| e["event"] == "disco")
        .expect("disco answer");
    assert_eq!(disco["identities"][0][0], "conference", "{disco}");
    assert!(
        disco["features"]
            .as_array()
            .unwrap()
            .contains(&json!("http://jabber.org/protocol/muc"))
    );

    // Romeo cannot take alice's nick; with his own he sees juliet and alice.
    let mut romeo = net.client("romeo", "romeo-pass");
    romeo.command(json!({"cmd": "join", "room": room, "nick": "alice"}));
    let refused = romeo
        .wait_for(PATIENCE, |e| {
            e["event"] == "joined" || e["event"] == "join_error"
        })
        .expect("no answer to the join");
    assert_eq!(refused["event"], "join_error", "{refused}");
    assert_eq!(refused["condition"], "conflict", "{refused}");
    romeo.command(json!({"cmd": "join", "room": room, "nick": "romeo"}));
    let joined = romeo
        .wait_for(PATIENCE, |e| e["event"] == "joined")
        .expect("romeo could not join");
    assert_eq!(joined["occupants"], json!(["alice", "juliet", "romeo"]));
    assert!(
        romeo
            .wait_for(PATIENCE, |e| e["event"] == "groupchat"
                && e["nick"] == "juliet"
                && e["body"] == "hi from xmpp"
                && e["delayed"] == true)
            .is_some(),
        "romeo did not get juliet's line as history: {:?}",
        romeo.events()
    );
}

#[test]
fn files_and_voice_notes_cross_the_gateway_both_ways_with_http_upload() {
    let net = XmppNet::start();
    net.register("juliet", "juliet-pass");
    let files_from = format!("127.0.0.1:{}", cairn_tests::xmpp::HTTP_PORT);
    let (mut gateway, mut alice, _, _) = gateway_and_alice(&net, &["--files-from", &files_from]);
    let alice_jid = "alice@cairn.localhost";
    let juliet_addr = "xmpp:juliet@localhost";
    let mut juliet = net.client("juliet", "juliet-pass");

    // Juliet shares a picture the way Conversations does: HTTP upload to
    // Prosody, then a message whose body and XEP-0066 URL are the file's.
    let photo: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let path = net.dir().join("market.jpg");
    std::fs::write(&path, &photo).unwrap();
    juliet.command(json!({"cmd": "share", "to": alice_jid,
                          "path": path.to_str().unwrap(), "type": "image/jpeg"}));
    let shared = juliet
        .wait_for(PATIENCE, |e| {
            e["event"] == "shared" || e["event"] == "command_failed"
        })
        .unwrap();
    assert_eq!(shared["event"], "shared", "{shared}");
    // Juliet becomes alice's contact when the offer arrives.
    assert!(
        wait_until(PATIENCE, || xmpp_contact(&alice, "juliet@localhost")
            .is_some()),
        "nothing from juliet reached alice:\n{}",
        gateway.all_logs()
    );
    let file = || {
        alice
            .messages(juliet_addr)
            .into_iter()
            .find(|m| !m["file"].is_null())
    };
    assert!(
        wait_until(PATIENCE, || file()
            .is_some_and(|m| m["file"]["state"] == "complete")),
        "the shared file never reached alice: {:?}\n{}",
        alice.messages(juliet_addr),
        gateway.all_logs()
    );
    let m = file().unwrap();
    assert_eq!(m["text"], "market.jpg", "{m}");
    assert_eq!(m["file"]["mime"], "image/jpeg", "{m}");
    assert!(
        bridged(&alice, "juliet@localhost", shared["url"].as_str().unwrap()).is_none(),
        "the URL was passed on as a text too"
    );
    let saved = alice.profile().join("from-juliet.jpg");
    alice.ok(&[
        "save-file",
        juliet_addr,
        m["id"].as_str().unwrap(),
        saved.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read(&saved).unwrap() == photo,
        "the file changed on the way"
    );
    assert!(
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "receipt"
                && e["id"] == shared["id"])
            .is_some(),
        "no receipt for the shared file: {:?}",
        juliet.events()
    );

    // Hostile: a URL anywhere but the upload service is not fetched (no
    // request leaves the gateway), and the sender is told.
    for url in [
        "http://127.0.0.1:5222/",
        "https://evil.example.com/a.jpg",
        "file:///etc/passwd",
    ] {
        juliet.command(json!({"cmd": "raw", "xml": format!(
            "<message xmlns='jabber:client' to='{alice_jid}' type='chat' id='bad-{}'>\
             <body>{url}</body><x xmlns='jabber:x:oob'><url>{url}</url></x></message>",
            url.len()
        )}));
    }
    assert!(
        wait_until(PATIENCE, || juliet
            .events()
            .iter()
            .filter(|e| e["event"] == "error" && e["condition"] == "not-acceptable")
            .count()
            == 3),
        "URLs off the upload service were not refused: {:?}",
        juliet.events()
    );
    assert_eq!(
        alice
            .messages(juliet_addr)
            .iter()
            .filter(|m| !m["file"].is_null())
            .count(),
        1
    );

    // And back: alice sends juliet a file and a voice note. The gateway
    // uploads each to Prosody's HTTP upload in alice's name and sends
    // juliet its address, as body and XEP-0066 URL; juliet fetches them.
    let doc: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let doc_path = alice.profile().join("minutes.pdf");
    std::fs::write(&doc_path, &doc).unwrap();
    let wav = net.dir().join("said.wav");
    cairn_tests::speak("the bakery opens at six", &wav);
    alice.ok(&["send-file", juliet_addr, doc_path.to_str().unwrap()]);
    alice.ok(&["send-voice", juliet_addr, wav.to_str().unwrap()]);
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = juliet
            .wait_for(PATIENCE, |e| {
                e["event"] == "message"
                    && e["oob"].as_str().is_some_and(|u| !u.is_empty())
                    && !got.contains(&e["oob"].as_str().unwrap_or("").to_owned())
            })
            .unwrap_or_else(|| {
                panic!(
                    "juliet got no file from alice: {:?}\nalice: {:?}\n{}",
                    juliet.events(),
                    alice.messages(juliet_addr),
                    gateway.all_logs()
                )
            });
        assert_eq!(m["body"], m["oob"], "the body is the file's address: {m}");
        assert_eq!(m["from"], alice_jid);
        got.push(m["oob"].as_str().unwrap().to_owned());
    }
    let mut fetched = |url: &str, name: &str| {
        let path = net.dir().join(name);
        juliet.command(json!({"cmd": "fetch", "url": url, "path": path.to_str().unwrap()}));
        juliet
            .wait_for(PATIENCE, |e| e["event"] == "fetched" && e["url"] == url)
            .unwrap_or_else(|| panic!("juliet could not fetch {url}: {:?}", juliet.events()));
        std::fs::read(path).unwrap()
    };
    let pdf = got
        .iter()
        .find(|u| u.ends_with("minutes.pdf"))
        .expect("the file's address names it");
    assert!(
        fetched(pdf, "minutes.pdf") == doc,
        "the file changed on the way"
    );
    let note = got
        .iter()
        .find(|u| u.ends_with(".opus"))
        .expect("the voice note's address");
    let note = fetched(note, "note.opus");
    let heard =
        cairn_node::voice::decode(&note).expect("an Opus voice note juliet's client can play");
    let said = cairn_node::voice::from_wav(&std::fs::read(&wav).unwrap()).unwrap();
    let (a, b) = (heard.len() as f64, said.len() as f64);
    assert!((a - b).abs() / b < 0.1, "{a} samples heard for {b} said");
    // Alice's side shows both as sent.
    assert!(
        wait_until(PATIENCE, || alice
            .messages(juliet_addr)
            .iter()
            .filter(|m| m["direction"] == "out" && m["file"]["state"] == "complete")
            .count()
            == 2),
        "{:?}",
        alice.messages(juliet_addr)
    );
    alice.stop();
    gateway.stop();
}
