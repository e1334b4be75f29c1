//! Property tests of every codec: values round-trip, and arbitrary bytes
//! never panic (they decode or give a typed error).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_protocol::envelope::{Envelope, Pattern};
use cairn_protocol::file::{CHUNK_LEN, FileMeta, FileRecord, MAX_WINDOW, TransferState};
use cairn_protocol::frame::Frame;
use cairn_protocol::invite::{MAX_HINT_LEN, MAX_NAME_LEN};
use cairn_protocol::message::{MessageOp, OpKind};
use cairn_protocol::payload::{MAX_RECEIPT_IDS, Payload, ReceiptKind};
use cairn_protocol::{
    Contact, ContactCard, ContactOrigin, DeliveryState, Direction, Hint, Identity, MessageId,
    MessageRecord, Time,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn identity(seed: u64) -> Identity {
    Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 éü漢-]{1,20}"
        .prop_filter("fits", |s| !s.trim().is_empty() && s.len() <= MAX_NAME_LEN)
}

fn file_meta() -> impl Strategy<Value = FileMeta> {
    (
        "[a-zA-Z0-9 ._é-]{1,40}",
        "[a-z]{0,10}(/[a-z]{1,10})?",
        0u64..=cairn_protocol::file::MAX_FILE_LEN,
        any::<[u8; 32]>(),
    )
        .prop_filter_map("a clean name", |(name, mime, size, sha256)| {
            let name = cairn_protocol::file::clean_name(&name)?;
            Some(FileMeta {
                name,
                mime,
                size,
                sha256,
            })
        })
}

fn hint() -> impl Strategy<Value = Hint> {
    prop_oneof![
        "[a-z2-7]{56}\\.onion".prop_map(Hint::Onion),
        "/ip4/[0-9.]{7,15}/tcp/[0-9]{1,5}".prop_map(Hint::Addr),
        (
            any::<u32>(),
            any::<[u8; 32]>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 64)
        )
            .prop_map(|(spk_id, spk, created, sig)| {
                Hint::Prekey(Box::new(cairn_protocol::prekeys::Bundle {
                    spk_id,
                    spk,
                    created: Time::from_millis(created),
                    signature: sig.try_into().unwrap(),
                    opk: None,
                }))
            }),
        // Kinds 1–3 are known (onion, multiaddr, signed prekey).
        (
            4u8..=255,
            proptest::collection::vec(any::<u8>(), 0..MAX_HINT_LEN)
        )
            .prop_map(|(kind, bytes)| Hint::Unknown { kind, bytes }),
    ]
}

fn card() -> impl Strategy<Value = ContactCard> {
    (
        any::<u64>(),
        name(),
        proptest::collection::vec(hint(), 0..4),
        any::<u32>(),
    )
        .prop_map(|(seed, name, hints, created)| {
            ContactCard::new(
                &identity(seed),
                &name,
                hints,
                Time::from_secs(u64::from(created)),
                Duration::from_secs(3600),
            )
            .unwrap()
        })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let noise = || proptest::collection::vec(any::<u8>(), 0..2000);
    prop_oneof![
        (any::<u64>(), any::<bool>(), noise()).prop_map(|(sender_index, ik, noise)| {
            Envelope::Init {
                sender_index,
                pattern: if ik { Pattern::Ik } else { Pattern::Xx },
                noise,
            }
        }),
        (any::<u64>(), any::<u64>(), noise()).prop_map(|(receiver_index, sender_index, noise)| {
            Envelope::Response {
                receiver_index,
                sender_index,
                noise,
            }
        }),
        (any::<u64>(), noise()).prop_map(|(receiver_index, noise)| Envelope::Finish {
            receiver_index,
            noise
        }),
        (any::<u64>(), any::<u64>(), noise()).prop_map(|(receiver_index, nonce, ciphertext)| {
            Envelope::Data {
                receiver_index,
                nonce,
                ciphertext,
            }
        }),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            ".{0,300}",
            proptest::option::of("[a-z0-9.]{1,20}@[a-z0-9.]{1,20}")
        )
            .prop_map(|(id, at, text, remote)| Payload::Text {
                id: MessageId(id),
                sent_at: Time::from_millis(at),
                text,
                remote,
            }),
        (
            any::<bool>(),
            proptest::collection::vec(any::<[u8; 16]>(), 0..MAX_RECEIPT_IDS)
        )
            .prop_map(|(read, ids)| {
                Payload::Receipt {
                    kind: if read {
                        ReceiptKind::Read
                    } else {
                        ReceiptKind::Delivered
                    },
                    ids: ids.into_iter().map(MessageId).collect(),
                }
            }),
        card().prop_map(|c| Payload::Card(Box::new(c))),
        Just(Payload::Keepalive),
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            file_meta(),
            proptest::collection::vec(any::<u8>(), 0..2000),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(id, at, mut meta, data, inline, bridged)| {
                if inline {
                    meta.size = data.len() as u64;
                }
                Payload::File {
                    id: MessageId(id),
                    sent_at: Time::from_millis(at),
                    meta: Box::new(meta),
                    inline: inline.then_some(data),
                    remote: bridged.then(|| "juliet@xmpp.example".to_owned()),
                }
            }),
        (
            any::<[u8; 16]>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..CHUNK_LEN)
        )
            .prop_map(|(id, index, data)| Payload::FileChunk {
                id: MessageId(id),
                index,
                data
            }),
        (
            any::<[u8; 16]>(),
            any::<u32>(),
            any::<u32>(),
            0..=MAX_WINDOW
        )
            .prop_map(|(id, have, from, count)| Payload::FileWant {
                id: MessageId(id),
                have,
                from,
                count
            }),
        ("[a-z]{1,10}@[a-z]{1,10}", any::<bool>(), ".{0,100}").prop_map(
            |(remote, available, status)| {
                Payload::Bridge(Box::new(cairn_protocol::bridge::BridgeSignal::Presence {
                    remote,
                    available,
                    status,
                }))
            }
        ),
    ]
}

fn record() -> impl Strategy<Value = MessageRecord> {
    (
        any::<u64>(),
        any::<[u8; 16]>(),
        any::<bool>(),
        ".{0,200}",
        any::<u64>(),
        any::<u64>(),
        0usize..5,
        proptest::option::of("[a-z0-9.]{1,20}@[a-z0-9.]{1,20}"),
        proptest::option::of(file_meta()),
        proptest::option::of((1u8..=4, any::<[u8; 16]>())),
    )
        .prop_map(
            |(seed, id, incoming, text, sent, local, state, remote, file, op)| MessageRecord {
                remote,
                file,
                op: op.map(|(kind, target)| MessageOp {
                    kind: OpKind::from_code(kind).unwrap(),
                    target: MessageId(target),
                }),
                changes: Default::default(),
                peer: identity(seed).key(),
                id: MessageId(id),
                direction: if incoming {
                    Direction::Incoming
                } else {
                    Direction::Outgoing
                },
                text,
                sent_at: Time::from_millis(sent),
                local_at: Time::from_millis(local),
                state: [
                    DeliveryState::Queued,
                    DeliveryState::Sent,
                    DeliveryState::Delivered,
                    DeliveryState::Read,
                    DeliveryState::Received,
                ][state],
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn cards_round_trip_as_bytes_and_uris(card in card()) {
        prop_assert_eq!(&ContactCard::decode(&card.encode()).unwrap(), &card);
        prop_assert_eq!(&ContactCard::from_uri(&card.to_uri()).unwrap(), &card);
    }

    #[test]
    fn envelopes_and_frames_round_trip(env in envelope()) {
        prop_assert_eq!(&Envelope::decode(&env.encode()).unwrap(), &env);
        let frame = Frame::Envelope(env);
        prop_assert_eq!(Frame::decode(&frame.encode()).unwrap(), frame);
    }

    #[test]
    fn payloads_round_trip_padded_to_a_bucket(p in payload()) {
        let padded = p.encode_padded();
        prop_assert!(cairn_protocol::payload::BUCKETS.contains(&padded.len()));
        prop_assert_eq!(Payload::decode_padded(&padded).unwrap(), p);
    }

    #[test]
    fn stored_records_round_trip(m in record(), card in card(), alias in proptest::option::of(name()), flags in 0u8..4) {
        prop_assert_eq!(MessageRecord::decode(&m.encode()).unwrap(), m);
        let mut c = Contact::new(card, alias, if flags & 1 == 0 { ContactOrigin::Invite } else { ContactOrigin::Request }, Time::ZERO);
        c.verified = flags & 2 != 0;
        prop_assert_eq!(Contact::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn file_records_round_trip(seed in any::<u64>(), id in any::<[u8; 16]>(), outgoing in any::<bool>(), meta in file_meta(), have in any::<u32>(), state in 0usize..3) {
        let r = FileRecord {
            peer: identity(seed).key(),
            id: MessageId(id),
            outgoing,
            have: have % (meta.chunks() + 1),
            meta,
            state: [TransferState::Going, TransferState::Complete, TransferState::Failed][state],
        };
        prop_assert_eq!(FileRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = Frame::decode(&bytes);
        let _ = Envelope::decode(&bytes);
        let _ = Payload::decode_padded(&bytes);
        let _ = ContactCard::decode(&bytes);
        let _ = Contact::decode(&bytes);
        let _ = MessageRecord::decode(&bytes);
        let _ = FileRecord::decode(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics_the_uri_decoder(s in ".{0,600}", tail in "[a-z2-7]{0,600}") {
        let _ = ContactCard::from_uri(&s);
        let _ = ContactCard::from_uri(&format!("cairn:{tail}"));
    }

    #[test]
    fn mutated_valid_frames_never_panic(env in envelope(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut bytes = Frame::Envelope(env).encode();
        for (i, b) in flips {
            let n = bytes.len();
            bytes[i % n] ^= b;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn mutated_cards_are_refused_not_accepted(card in card(), i in any::<usize>(), b in 1u8..) {
        let mut bytes = card.encode();
        let n = bytes.len();
        bytes[i % n] ^= b;
        prop_assert!(ContactCard::decode(&bytes).is_err());
    }
}
