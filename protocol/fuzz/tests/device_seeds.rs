//! The fuzz seeds for one person's several devices (docs/DEVICES.md) and for
//! chat operations (docs/WIRE.md, payload kind 16) are exactly what the code
//! encodes today: the four payloads between devices
//! (`seeds/payload/devices-*`), a device's contact record and a link code
//! (`seeds/records/`); every operation (`seeds/payload/op-*`) and stored
//! records with operations and changes (`seeds/records/op-*`).
//! `CAIRN_WRITE_SEEDS=1` writes them afresh.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_protocol::devices::{DeviceList, LinkCode};
use cairn_protocol::payload::Payload;
use cairn_protocol::{Contact, ContactCard, ContactOrigin, Identity, MessageId, Time};
use rand_core::SeedableRng;

fn check(dir: &str, name: &str, bytes: &[u8]) {
    let path = format!("{}/seeds/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("CAIRN_WRITE_SEEDS").is_some() {
        std::fs::write(&path, bytes).unwrap();
    }
    assert_eq!(
        std::fs::read(&path).expect("the seed exists (CAIRN_WRITE_SEEDS=1 writes it)"),
        bytes,
        "{path} is stale: CAIRN_WRITE_SEEDS=1 rewrites it"
    );
}

#[test]
fn the_device_seeds_are_current() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let alice = Identity::generate(&mut rng);
    let phone = Identity::generate(&mut rng);
    let mut list = DeviceList::first(&alice, "laptop").unwrap();
    list.add(&alice, phone.binding().clone(), "phone", true)
        .unwrap();
    let card = ContactCard::new(
        &phone,
        "alice",
        vec![],
        Time::from_secs(1),
        Duration::from_secs(60),
    )
    .unwrap();
    let mut contact = Contact::new(card, Some("Al".into()), ContactOrigin::Invite, Time::ZERO);
    contact.verified = true;
    let payloads = [
        Payload::Devices(Box::new(list)),
        Payload::Copy {
            peer: alice.key(),
            id: MessageId([1; 16]),
            sent_at: Time::from_secs(9),
            incoming: true,
            history: true,
            op: None,
            text: "held for you".into(),
        },
        Payload::LinkRequest {
            secret: [7; 16],
            name: "phone".into(),
            mailbox: true,
        },
        Payload::LinkContact(Box::new(contact.clone())),
    ];
    for (n, p) in payloads.iter().enumerate() {
        check("payload", &format!("devices-{n}"), &p.encode_padded());
    }
    let mut device = contact;
    device.origin = ContactOrigin::Device;
    device.account = Some(alice.key());
    check("records", "device-contact", &device.encode());
    let code = LinkCode {
        account: alice.key(),
        secret: [3; 16],
        card: device.card.clone(),
    };
    check("records", "link-code", code.to_uri().as_bytes());
}

#[test]
fn the_chat_operation_seeds_are_current() {
    use cairn_protocol::message::{Changes, MessageOp, OpKind};
    use cairn_protocol::{DeliveryState, Direction, MessageRecord};
    let op = |kind, text: &str, remote: Option<&str>| Payload::Op {
        id: MessageId([1; 16]),
        sent_at: Time::from_secs(9),
        op: MessageOp {
            kind,
            target: MessageId(if kind == OpKind::Timer {
                [0; 16]
            } else {
                [2; 16]
            }),
        },
        text: text.into(),
        remote: remote.map(Into::into),
    };
    let payloads = [
        op(OpKind::Reply, "yes, at six", None),
        op(OpKind::React, "👩🏽‍💻", None),
        op(OpKind::Edit, "meet at seven", Some("juliet@x.example")),
        op(OpKind::Delete, "", None),
        op(OpKind::Timer, "86400", None),
    ];
    for (n, p) in payloads.iter().enumerate() {
        check("payload", &format!("op-{n}"), &p.encode_padded());
    }
    let bob = Identity::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(6)).key();
    let message = MessageRecord {
        peer: bob,
        id: MessageId([2; 16]),
        direction: Direction::Outgoing,
        text: "meet at seven".into(),
        sent_at: Time::from_secs(1),
        local_at: Time::from_secs(1),
        state: DeliveryState::Delivered,
        remote: None,
        file: None,
        op: None,
        changes: Changes {
            earlier: vec![(Time::from_secs(1), "meet at six".into())],
            edited_at: Some(Time::from_secs(5)),
            reactions: vec![(Direction::Incoming, Time::from_secs(6), "👍".into())],
            deleted: false,
        },
    };
    check("records", "op-changed", &message.encode());
    let reaction = MessageRecord {
        id: MessageId([3; 16]),
        text: "👍".into(),
        op: Some(MessageOp {
            kind: OpKind::React,
            target: MessageId([2; 16]),
        }),
        changes: Changes::default(),
        ..message
    };
    check("records", "op-reaction", &reaction.encode());
}
