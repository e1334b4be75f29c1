//! Session transport against a model: under any interleaving of reordering,
//! duplication and loss, a receiver opens each message exactly once if it is
//! within the replay window, and refuses everything else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_protocol::envelope::Envelope;
use cairn_protocol::invite::VerifiedCards;
use cairn_protocol::session::{Handshake, LocalParty, REPLAY_WINDOW, Responded, Session};
use cairn_protocol::{ContactCard, Identity, Time};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn pair(seed: u64) -> (Session, Session) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (a, b) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let ca = ContactCard::new(&a, "a", vec![], Time::ZERO, Duration::from_secs(60)).unwrap();
    let cb = ContactCard::new(&b, "b", vec![], Time::ZERO, Duration::from_secs(60)).unwrap();
    let (mut va, mut vb) = (VerifiedCards::new(4), VerifiedCards::new(4));
    let mut la = LocalParty {
        identity: &a,
        card: &ca,
        verified: &mut va,
    };
    let mut lb = LocalParty {
        identity: &b,
        card: &cb,
        verified: &mut vb,
    };
    let (hs, init) =
        Handshake::initiate(&la, b.key(), Some(b.static_key()), 1, [1; 32], Time::ZERO).unwrap();
    let Envelope::Init {
        sender_index,
        pattern,
        noise,
    } = init
    else {
        unreachable!()
    };
    let Ok(Responded::Session { session, reply, .. }) = Handshake::respond(
        &mut lb,
        (sender_index, pattern, &noise),
        2,
        [2; 32],
        Time::ZERO,
    ) else {
        panic!("IK responder must finish at once")
    };
    let Envelope::Response {
        sender_index,
        noise,
        ..
    } = reply
    else {
        unreachable!()
    };
    let (sa, _) = hs
        .on_response(&mut la, sender_index, &noise, Time::ZERO)
        .unwrap();
    (sa, *session)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn receiver_opens_each_message_once_within_the_window(
        count in 1usize..1500,
        deliveries in proptest::collection::vec(any::<prop::sample::Index>(), 0..3000),
    ) {
        let (mut tx, mut rx) = pair(7);
        let sent: Vec<(u64, Vec<u8>)> = (0..count)
            .map(|i| match tx.seal(&(i as u32).to_be_bytes()).unwrap() {
                Envelope::Data { nonce, ciphertext, .. } => (nonce, ciphertext),
                _ => unreachable!(),
            })
            .collect();
        // Model: nonces accepted so far and the highest one.
        let mut seen = BTreeSet::new();
        let mut top: Option<u64> = None;
        for pick in deliveries {
            let (nonce, ct) = &sent[pick.index(sent.len())];
            let fresh = !seen.contains(nonce) && top.is_none_or(|t| *nonce > t || t - *nonce < REPLAY_WINDOW);
            let opened = rx.open(*nonce, ct);
            prop_assert_eq!(opened.is_ok(), fresh, "nonce {} top {:?}", nonce, top);
            if let Ok(plain) = opened {
                prop_assert_eq!(plain, (*nonce as u32).to_be_bytes().to_vec());
                seen.insert(*nonce);
                top = Some(top.map_or(*nonce, |t| t.max(*nonce)));
            }
        }
    }
}
