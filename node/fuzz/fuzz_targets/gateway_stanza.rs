//! Stanzas from the XMPP server into the gateway: arbitrary XML, parsed as
//! the component stream would, then handled with a joined user present.
//! The gateway must answer or drop, never panic; rooms (XEP-0045) too.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::OnceLock;

use cairn_node::gateway::core::{Gateway, Policy};
use cairn_node::gateway::muc::RoomSpec;
use cairn_protocol::{GroupId, IdentityKey, Time};
use libfuzzer_sys::fuzz_target;
use tokio_xmpp::minidom::Element;

fn user() -> IdentityKey {
    static USER: OnceLock<IdentityKey> = OnceLock::new();
    *USER.get_or_init(|| {
        use rand_core::SeedableRng;
        cairn_protocol::Identity::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7)).key()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut gateway = Gateway::new(Policy::new("cairn.example"));
    gateway.load(
        &[(format!("gw/user/{}", user()), b"alice".to_vec())],
        |_| Some("Alice".to_owned()),
    );
    let _ = gateway.on_connected();
    let _ = gateway.set_room(
        "walkers",
        RoomSpec {
            group: GroupId([7; 16]),
            name: "Walkers".to_owned(),
            members: [("bob".to_owned(), true)].into_iter().collect(),
        },
        Vec::new(),
    );
    let join = "<presence xmlns='jabber:component:accept' from='j@x.example/r' to='walkers@cairn.example/j'><x xmlns='http://jabber.org/protocol/muc'/></presence>";
    if let Ok(el) = join.parse::<Element>() {
        let _ = gateway.on_stanza(Time::from_millis(1), &el);
    }
    // One stanza, then the same wrapped as the server would address it.
    for xml in [
        text.to_owned(),
        format!(
            "<message xmlns='jabber:component:accept' from='j@x.example/r' to='alice@cairn.example' type='chat' id='1'>{text}</message>"
        ),
        format!(
            "<presence xmlns='jabber:component:accept' from='j@x.example/r' to='alice@cairn.example'>{text}</presence>"
        ),
        format!(
            "<iq xmlns='jabber:component:accept' from='j@x.example/r' to='cairn.example' type='get' id='2'>{text}</iq>"
        ),
        format!(
            "<message xmlns='jabber:component:accept' from='j@x.example/r' to='walkers@cairn.example' type='groupchat' id='3'>{text}</message>"
        ),
        format!(
            "<presence xmlns='jabber:component:accept' from='j@x.example/r' to='walkers@cairn.example/j'>{text}</presence>"
        ),
        format!(
            "<iq xmlns='jabber:component:accept' from='j@x.example/r' to='walkers@cairn.example/j' type='get' id='4'>{text}</iq>"
        ),
    ] {
        if let Ok(el) = xml.parse::<Element>() {
            let _ = gateway.on_stanza(Time::from_millis(1), &el);
        }
    }
});
