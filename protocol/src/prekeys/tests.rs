use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Side {
    id: Identity,
    keys: Prekeys,
    rng: ChaCha20Rng,
}

impl Side {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Self {
            id: Identity::generate(&mut rng),
            keys: Prekeys::default(),
            rng,
        }
    }

    /// The complete state, as an attacker who seized the device has it.
    fn seize(&mut self) -> Side {
        let mut stored: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // Everything ever written, replayed in order: the store as it stands.
        for (k, v) in self.keys.take_changes_all() {
            stored.insert(k, v);
        }
        let keys = Prekeys::load(stored.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).unwrap();
        Side {
            id: Identity::from_secret_bytes(&self.id.to_secret_bytes()),
            keys,
            rng: ChaCha20Rng::seed_from_u64(12345),
        }
    }
}

impl Prekeys {
    /// Every record, as if all were changed.
    fn take_changes_all(&mut self) -> Vec<(String, Vec<u8>)> {
        self.dirty_spk = true;
        self.dirty.extend(self.peers.keys().copied());
        self.take_changes()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

const T0: Time = Time::from_secs(1_000_000);

/// `b` hands `a` a bundle, as it would inside a live session.
fn meet(a: &mut Side, b: &mut Side, now: Time) {
    let bundle = b.keys.bundle_for(&b.id, &a.id.key(), now, &mut b.rng);
    a.keys.on_bundle(&b.id.key(), bundle, now).unwrap();
}

fn send(a: &mut Side, b: &Side, text: &[u8], now: Time) -> (RatchetMessage, Secrecy) {
    a.keys
        .seal(
            &a.id,
            b"card",
            &b.id.key(),
            &b.id.static_key(),
            text,
            now,
            &mut a.rng,
        )
        .unwrap()
        .expect("a bundle or session")
}

fn open(b: &mut Side, a: &Side, msg: &RatchetMessage, now: Time) -> Result<Vec<u8>, PrekeyError> {
    b.keys
        .open(&b.id, &a.id.key(), &a.id.static_key(), msg, now, &mut b.rng)
}

#[test]
fn without_a_bundle_nothing_is_sealed() {
    let (mut a, b) = (Side::new(1), Side::new(2));
    let sealed = a
        .keys
        .seal(
            &a.id,
            b"card",
            &b.id.key(),
            &b.id.static_key(),
            b"x",
            T0,
            &mut a.rng,
        )
        .unwrap();
    assert!(sealed.is_none());
    assert!(!a.keys.can_seal(&b.id.key(), T0));
}

#[test]
fn first_messages_out_of_order_then_replies_turn_the_ratchet() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (m1, s1) = send(&mut a, &b, b"one", T0);
    let (m2, _) = send(&mut a, &b, b"two", T0);
    assert_eq!(s1, Secrecy::Forward);
    assert!(m1.init.is_some() && m2.init == m1.init);
    assert_eq!(open(&mut b, &a, &m2, T0).unwrap(), b"two");
    assert_eq!(open(&mut b, &a, &m1, T0).unwrap(), b"one");
    // Bob answers through the mesh too: no bundle of Alice's needed.
    let (r, _) = send(&mut b, &a, b"back", T0);
    assert!(r.init.is_none());
    assert_eq!(open(&mut a, &b, &r, T0).unwrap(), b"back");
    // Alice has heard back: her init is no longer repeated.
    let (m3, _) = send(&mut a, &b, b"three", T0);
    assert!(m3.init.is_none());
    assert_eq!(open(&mut b, &a, &m3, T0).unwrap(), b"three");
}

#[test]
fn a_seized_device_cannot_open_what_it_already_received() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (captured, _) = send(&mut a, &b, b"before the raid", T0);
    let (later, _) = send(&mut a, &b, b"also before", T0);
    assert_eq!(open(&mut b, &a, &captured, T0).unwrap(), b"before the raid");
    assert_eq!(open(&mut b, &a, &later, T0).unwrap(), b"also before");
    let mut seized = b.seize();
    for m in [&captured, &later] {
        assert!(open(&mut seized, &a, m, T0).is_err());
    }
    // The seized state is whole: it still opens what comes next.
    let (next, _) = send(&mut a, &b, b"after", T0);
    assert_eq!(open(&mut seized, &a, &next, T0).unwrap(), b"after");
}

#[test]
fn meeting_again_heals_a_compromise() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (m, _) = send(&mut a, &b, b"one", T0);
    open(&mut b, &a, &m, T0).unwrap();
    let mut stolen = b.seize();
    // The same session: the copy keeps reading.
    let (m, _) = send(&mut a, &b, b"two", T0);
    assert!(open(&mut stolen, &a, &m, T0).is_ok());
    open(&mut b, &a, &m, T0).unwrap();
    // They meet (a live session): a new bundle, so a new session next time.
    meet(&mut a, &mut b, T0);
    let (m, _) = send(&mut a, &b, b"three", T0);
    assert!(open(&mut stolen, &a, &m, T0).is_err());
    assert_eq!(open(&mut b, &a, &m, T0).unwrap(), b"three");
}

#[test]
fn a_spent_one_time_prekey_degrades_and_says_so() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (m, _) = send(&mut a, &b, b"one", T0);
    open(&mut b, &a, &m, T0).unwrap();
    // Alice loses her sessions (a reinstall that kept the bundle).
    a.keys.peers.get_mut(&b.id.key()).unwrap().sessions.clear();
    let (m, secrecy) = send(&mut a, &b, b"two", T0);
    assert_eq!(secrecy, Secrecy::SignedPrekeyOnly);
    assert_eq!(m.init.unwrap().opk_id, None);
    assert_eq!(open(&mut b, &a, &m, T0).unwrap(), b"two");
}

#[test]
fn a_replayed_first_message_opens_nothing_new() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (m, _) = send(&mut a, &b, b"one", T0);
    open(&mut b, &a, &m, T0).unwrap();
    assert!(open(&mut b, &a, &m, T0).is_err());
    // From someone else, Alice's message does not open either.
    let c = Side::new(3);
    assert!(open(&mut b, &c, &m, T0).is_err());
}

#[test]
fn a_forged_bundle_is_refused() {
    let (mut a, mut b, c) = (Side::new(1), Side::new(2), Side::new(3));
    let mut bundle = b.keys.bundle_for(&b.id, &a.id.key(), T0, &mut b.rng);
    assert_eq!(
        a.keys.on_bundle(&c.id.key(), bundle.clone(), T0),
        Err(PrekeyError::BadSignature)
    );
    bundle.spk[0] ^= 1;
    assert_eq!(
        a.keys.on_bundle(&b.id.key(), bundle, T0),
        Err(PrekeyError::BadSignature)
    );
}

#[test]
fn signed_prekeys_rotate_and_are_deleted_on_schedule() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let old_id = b.keys.spks[0].id;
    let week = T0 + SPK_ROTATE;
    meet(&mut a, &mut b, week);
    assert_eq!(b.keys.signed_prekeys(), 2);
    assert!(b.keys.spks[1].id != old_id);
    assert_eq!(b.keys.poll_timeout(), Some(week + SPK_ROTATE));
    b.keys.handle_timeout(T0 + SPK_KEEP);
    assert_eq!(b.keys.signed_prekeys(), 1);
    // A sender that starts from a bundle past its use-by date falls back.
    let mut c = Side::new(3);
    meet(&mut c, &mut b, week);
    let late = week + SPK_USABLE;
    assert!(!c.keys.can_seal(&b.id.key(), late));
}

#[test]
fn the_state_survives_a_restart() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (m1, _) = send(&mut a, &b, b"one", T0);
    let (m2, _) = send(&mut a, &b, b"two", T0);
    open(&mut b, &a, &m2, T0).unwrap();
    let mut restarted = b.seize();
    assert_eq!(open(&mut restarted, &a, &m1, T0).unwrap(), b"one");
    let mut a2 = a.seize();
    let (m3, _) = send(&mut a2, &b, b"three", T0);
    assert_eq!(open(&mut restarted, &a, &m3, T0).unwrap(), b"three");
}

#[test]
fn skipped_keys_are_forgotten_after_a_day() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    meet(&mut a, &mut b, T0);
    let (lost, _) = send(&mut a, &b, b"lost", T0);
    let (m2, _) = send(&mut a, &b, b"two", T0);
    open(&mut b, &a, &m2, T0).unwrap();
    assert_eq!(
        b.keys.poll_timeout(),
        Some((T0 + SKIPPED_KEEP).min(T0 + SPK_ROTATE))
    );
    b.keys.handle_timeout(T0 + SKIPPED_KEEP);
    assert!(open(&mut b, &a, &lost, T0 + SKIPPED_KEEP).is_err());
}

#[test]
fn an_invite_prekey_starts_a_session_but_never_replaces_a_live_bundle() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    b.keys.rotate_if_due(&b.id, T0, &mut b.rng);
    let invite = b.keys.invite_bundle().unwrap();
    assert!(invite.opk.is_none());
    assert!(a.keys.on_invite_bundle(&b.id.key(), invite.clone(), T0));
    // Not a meeting: a live session is still wanted.
    assert!(a.keys.wants_bundle(&b.id.key(), T0));
    let (m, secrecy) = send(&mut a, &b, b"hello", T0);
    assert_eq!(secrecy, Secrecy::SignedPrekeyOnly);
    assert_eq!(open(&mut b, &a, &m, T0).unwrap(), b"hello");
    meet(&mut a, &mut b, T0);
    assert!(!a.keys.on_invite_bundle(&b.id.key(), invite, T0));
    let (_, secrecy) = send(&mut a, &b, b"better", T0);
    assert_eq!(secrecy, Secrecy::Forward);
}

#[test]
fn a_message_that_does_not_open_leaves_nothing_behind() {
    let (mut a, mut b, c) = (Side::new(1), Side::new(2), Side::new(3));
    meet(&mut a, &mut b, T0);
    let (mut m, _) = send(&mut a, &b, b"one", T0);
    m.ciphertext[0] ^= 1;
    assert!(open(&mut b, &a, &m, T0).is_err());
    assert!(open(&mut b, &c, &m, T0).is_err());
    assert!(!b.keys.peers.contains_key(&c.id.key()));
    // Bob's one-time prekey for Alice is still there for the real message.
    m.ciphertext[0] ^= 1;
    assert_eq!(open(&mut b, &a, &m, T0).unwrap(), b"one");
}

#[test]
fn what_the_next_message_would_get_is_told() {
    let (mut a, mut b) = (Side::new(1), Side::new(2));
    assert_eq!(a.keys.secrecy_for(&b.id.key(), T0), None);
    b.keys.rotate_if_due(&b.id, T0, &mut b.rng);
    a.keys
        .on_invite_bundle(&b.id.key(), b.keys.invite_bundle().unwrap(), T0);
    assert_eq!(
        a.keys.secrecy_for(&b.id.key(), T0),
        Some(Secrecy::SignedPrekeyOnly)
    );
    meet(&mut a, &mut b, T0);
    assert_eq!(a.keys.secrecy_for(&b.id.key(), T0), Some(Secrecy::Forward));
    let (m, s) = send(&mut a, &b, b"x", T0);
    assert_eq!(s, Secrecy::Forward);
    assert_eq!(a.keys.secrecy_for(&b.id.key(), T0), Some(Secrecy::Forward));
    open(&mut b, &a, &m, T0).unwrap();
}
