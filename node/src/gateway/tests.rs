//! The gateway with a room open, driven stanza by stanza (rooms are in
//! `muc.rs`, the rest of the gateway in `core.rs`).

use cairn_protocol::{GroupId, MessageId, Time};
use tokio_xmpp::minidom::Element;

use super::core::{Gateway, Policy};
use super::muc::*;
use super::stanza::*;

const ROOM: &str = "walkers@cairn.example";

fn group() -> GroupId {
    GroupId([7; 16])
}

/// A gateway with the room `walkers` holding Cairn members alice (an
/// admin) and bob, and two lines of history.
fn gateway() -> Gateway {
    let mut policy = Policy::new("cairn.example");
    policy.allow = vec!["example.org".to_owned()];
    let mut g = Gateway::new(policy);
    let _ = g.on_connected();
    let history = (0..2)
        .map(|i| Line {
            nick: "alice".to_owned(),
            id: MessageId([i; 16]),
            text: format!("old {i}"),
            at: Time::from_millis(1_000),
        })
        .collect();
    let _ = g.set_room("walkers", spec(&[("alice", true), ("bob", false)]), history);
    g
}

fn spec(members: &[(&str, bool)]) -> RoomSpec {
    RoomSpec {
        group: group(),
        name: "Walkers".to_owned(),
        members: members.iter().map(|(n, a)| (n.to_string(), *a)).collect(),
    }
}

fn el(xml: &str) -> Element {
    xml.parse().unwrap()
}

fn join(g: &mut Gateway, full: &str, nick: &str) -> Vec<Element> {
    sent(g.on_stanza(
        Time::from_millis(5_000),
        &el(&format!(
            "<presence xmlns='{NS_CLIENT}' from='{full}' to='{ROOM}/{nick}' id='j1'>\
             <x xmlns='{NS_MUC}'/></presence>"
        )),
    ))
}

fn sent(actions: Vec<Action>) -> Vec<Element> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Send(el) => Some(el),
            _ => None,
        })
        .collect()
}

fn statuses(el: &Element) -> Vec<String> {
    el.get_child("x", NS_MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn condition(el: &Element) -> Option<String> {
    el.get_child("error", NS_CLIENT)
        .and_then(|e| e.children().next())
        .map(|c| c.name().to_owned())
}

#[test]
fn a_join_gets_the_others_then_itself_then_history_then_the_subject() {
    let mut g = gateway();
    let out = join(&mut g, "juliet@example.org/phone", "juliet");
    let from: Vec<&str> = out.iter().map(|e| e.attr("from").unwrap()).collect();
    assert_eq!(
        from,
        [
            "walkers@cairn.example/alice",
            "walkers@cairn.example/bob",
            "walkers@cairn.example/juliet",
            "walkers@cairn.example/alice",
            "walkers@cairn.example/alice",
            "walkers@cairn.example",
        ]
    );
    assert!(
        out.iter()
            .all(|e| e.attr("to") == Some("juliet@example.org/phone"))
    );
    assert_eq!(statuses(&out[2]), ["110"], "self-presence");
    assert_eq!(out[2].attr("id"), Some("j1"), "the join's id comes back");
    let item = out[0]
        .get_child("x", NS_MUC_USER)
        .and_then(|x| x.get_child("item", NS_MUC_USER))
        .unwrap();
    assert_eq!(item.attr("affiliation"), Some("owner"), "alice is an admin");
    assert_eq!(item.attr("jid"), None, "no real addresses: semi-anonymous");
    assert!(out[3].has_child("delay", NS_DELAY), "history is delayed");
    assert!(out[5].has_child("subject", NS_CLIENT));
    assert!(!out[5].has_child("body", NS_CLIENT));
}

/// THREAT_MODEL.md "Attacks tried" 3: a member's clock past year 9999
/// used to panic the gateway on every join (the line sorts last and is
/// sent as history with a delay stamp).
#[test]
fn history_from_past_year_9999_is_sent_with_a_valid_stamp() {
    let mut g = gateway();
    let far = Line {
        nick: "bob".to_owned(),
        id: MessageId([0xff; 16]),
        text: "from the far future".to_owned(),
        at: Time::from_millis(u64::MAX),
    };
    let _ = g.room_line(&group(), far);
    for nick in ["juliet", "romeo"] {
        let out = join(&mut g, &format!("{nick}@example.org/phone"), nick);
        let delay = out
            .iter()
            .filter(|e| {
                e.get_child("body", NS_CLIENT)
                    .is_some_and(|b| b.text() == "from the far future")
            })
            .find_map(|e| e.get_child("delay", NS_DELAY))
            .expect("the history line");
        assert_eq!(delay.attr("stamp"), Some("9999-12-31T23:59:59.999Z"));
    }
}

#[test]
fn nicks_of_members_and_of_other_users_are_refused_with_conflict() {
    let mut g = gateway();
    join(&mut g, "juliet@example.org/phone", "juliet");
    for (full, nick) in [
        ("romeo@example.org/x", "Alice"),
        ("romeo@example.org/x", "juliet"),
    ] {
        let out = join(&mut g, full, nick);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].attr("type"), Some("error"));
        assert!(out[0].has_child("x", NS_MUC), "clients need the MUC child");
        assert_eq!(condition(&out[0]).as_deref(), Some("conflict"));
    }
    // Juliet's second device may use her nick.
    let out = join(&mut g, "juliet@example.org/laptop", "juliet");
    assert!(out.iter().all(|e| e.attr("type") != Some("error")));
}

#[test]
fn strangers_the_policy_refuses_cannot_join_or_write() {
    let mut g = gateway();
    let out = join(&mut g, "mallory@evil.example/x", "mallory");
    assert_eq!(condition(&out[0]).as_deref(), Some("forbidden"));
    let out = sent(g.on_stanza(
        Time::from_millis(5_000),
        &el(&format!(
            "<message xmlns='{NS_CLIENT}' type='groupchat' from='mallory@evil.example/x' \
             to='{ROOM}' id='m1'><body>hi</body></message>"
        )),
    ));
    assert_eq!(condition(&out[0]).as_deref(), Some("not-acceptable"));
}

#[test]
fn a_groupchat_message_is_posted_and_reflected_with_the_senders_id_after_the_commit() {
    let mut g = gateway();
    join(&mut g, "juliet@example.org/phone", "juliet");
    join(&mut g, "romeo@example.org/x", "romeo");
    let actions = g.on_stanza(
        Time::from_millis(6_000),
        &el(&format!(
            "<message xmlns='{NS_CLIENT}' type='groupchat' from='juliet@example.org/phone' \
             to='{ROOM}' id='abc'><body>hello</body></message>"
        )),
    );
    let [
        Action::ToGroup {
            nick,
            text,
            stanza_id,
            ..
        },
    ] = actions.as_slice()
    else {
        panic!("{actions:?}");
    };
    assert_eq!((nick.as_str(), text.as_str()), ("juliet", "hello"));
    // Nothing is reflected before the group has it.
    let id = MessageId([9; 16]);
    g.room_posted(&group(), id, stanza_id.clone());
    let out = sent(g.room_line(
        &group(),
        Line {
            nick: "juliet".to_owned(),
            id,
            text: "hello".to_owned(),
            at: Time::from_millis(6_000),
        },
    ));
    let to: Vec<&str> = out.iter().map(|e| e.attr("to").unwrap()).collect();
    assert_eq!(to, ["juliet@example.org/phone", "romeo@example.org/x"]);
    assert!(
        out.iter().all(|e| e.attr("id") == Some("abc")
            && e.attr("from") == Some("walkers@cairn.example/juliet"))
    );
}

#[test]
fn leaving_tells_the_leaver_and_the_others_and_a_bounce_removes_the_occupant() {
    let mut g = gateway();
    join(&mut g, "juliet@example.org/phone", "juliet");
    join(&mut g, "romeo@example.org/x", "romeo");
    let out = sent(g.on_stanza(
        Time::from_millis(7_000),
        &el(&format!(
            "<presence xmlns='{NS_CLIENT}' type='unavailable' from='romeo@example.org/x' to='{ROOM}/romeo'/>"
        )),
    ));
    assert_eq!(out.len(), 2);
    assert_eq!(statuses(&out[0]), ["110"]);
    assert_eq!(out[1].attr("to"), Some("juliet@example.org/phone"));
    assert_eq!(g.room_occupants(&group()), ["juliet"]);
    // Juliet's client is gone: a groupchat to it bounces.
    let _ = g.on_stanza(
        Time::from_millis(8_000),
        &el(&format!(
            "<message xmlns='{NS_CLIENT}' type='error' from='juliet@example.org/phone' to='{ROOM}/juliet'/>"
        )),
    );
    assert!(g.room_occupants(&group()).is_empty());
}

#[test]
fn members_coming_and_going_are_shown_and_a_closed_room_says_so() {
    let mut g = gateway();
    join(&mut g, "juliet@example.org/phone", "juliet");
    let out = sent(g.set_room(
        "walkers",
        spec(&[("alice", true), ("carol", false)]),
        vec![],
    ));
    let seen: Vec<(Option<&str>, &str)> = out
        .iter()
        .map(|e| (e.attr("type"), e.attr("from").unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (None, "walkers@cairn.example/carol"),
            (Some("unavailable"), "walkers@cairn.example/bob"),
        ]
    );
    let out = sent(g.close_room(&group()));
    assert_eq!(out.len(), 1);
    assert!(
        out[0]
            .get_child("x", NS_MUC_USER)
            .unwrap()
            .has_child("destroy", NS_MUC_USER)
    );
    let out = join(&mut g, "juliet@example.org/phone", "juliet");
    assert_eq!(out.len(), 1);
    assert_eq!(condition(&out[0]).as_deref(), Some("item-not-found"));
}

#[test]
fn rooms_and_users_never_share_an_address() {
    let mut g = gateway();
    let alice = cairn_protocol::Identity::generate(
        &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(3),
    )
    .key();
    g.load(&[(format!("gw/user/{alice}"), b"Walkers".to_vec())], |_| {
        None
    });
    assert_ne!(
        g.users().next().map(|(_, a)| a),
        Some(ROOM.to_owned()),
        "a user cannot take a room's address"
    );
    assert_eq!(
        g.room_local_for("Walkers", &GroupId([1; 16])),
        "walkers-01010101"
    );
    assert_eq!(
        g.room_local_for("Night Owls!", &GroupId([1; 16])),
        "night-owls"
    );
}
