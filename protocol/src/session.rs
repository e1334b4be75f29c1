//! End-to-end Noise sessions between two identities.
//!
//! A [`Handshake`] runs IK (the initiator knows the responder's static key from
//! an invite) or XX (it does not). Each side's handshake payload is its signed
//! [`ContactCard`] and a timestamp; a card whose static key is not the one the
//! Noise handshake authenticated is refused, so a session's peer is always an
//! identity, never a bare key.
//!
//! A finished handshake becomes a [`Session`]: snow's stateless transport with
//! an explicit 64-bit nonce per message, so messages may arrive out of order or
//! over different links, and a sliding [`ReplayWindow`] refuses duplicates
//! before anything is decrypted twice. Sessions are rekeyed by running a fresh
//! handshake (new ephemeral keys, so forward secrecy per session) once they are
//! old or have carried many messages; see `SessionTable`.

use thiserror::Error;

use crate::envelope::{Envelope, MAX_NOISE_LEN, Pattern};
use crate::identity::{Identity, IdentityKey, StaticKey};
use crate::invite::{ContactCard, InviteError, MAX_CARD_LEN, VerifiedCards};
use crate::noise;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

/// Noise's authentication tag.
pub const TAG_LEN: usize = 16;
/// Largest plaintext one transport message can carry.
pub const MAX_PLAINTEXT: usize = MAX_NOISE_LEN - TAG_LEN;
/// Nonces this far behind the newest are refused as too old.
pub const REPLAY_WINDOW: u64 = 1024;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("noise handshake failed: {0}")]
    Noise(#[from] snow::Error),
    #[error("handshake payload malformed: {0}")]
    Payload(#[from] DecodeError),
    #[error("peer card refused: {0}")]
    Card(#[from] InviteError),
    #[error("peer card does not match the key the handshake authenticated")]
    CardMismatch,
    #[error("handshake answered by {got:?}, expected {expected:?}")]
    WrongPeer {
        expected: IdentityKey,
        got: IdentityKey,
    },
    #[error("message replayed or too old (nonce {0})")]
    Replay(u64),
    #[error("message does not decrypt under this session")]
    Decrypt,
    #[error("envelope does not belong to this handshake state")]
    Unexpected,
    #[error("plaintext of {0} bytes does not fit one message")]
    TooLarge(usize),
}

/// What each side says about itself inside the handshake.
struct HandshakePayload {
    card: ContactCard,
    timestamp: Time,
}

impl HandshakePayload {
    fn encode(card: &ContactCard, now: Time) -> Vec<u8> {
        let mut w = Writer::with_capacity(MAX_CARD_LEN + 10);
        w.bytes(&card.encode()).u64(now.as_millis());
        w.into_vec()
    }

    fn decode(
        bytes: &[u8],
        authenticated: Option<&[u8]>,
        verified: &mut VerifiedCards,
    ) -> Result<Self, SessionError> {
        let mut r = Reader::new(bytes);
        let card = verified.decode(r.bytes(MAX_CARD_LEN, "card")?)?;
        let timestamp = Time::from_millis(r.u64("timestamp")?);
        r.finish()?;
        if authenticated != Some(&card.static_key().0[..]) {
            return Err(SessionError::CardMismatch);
        }
        Ok(Self { card, timestamp })
    }
}

/// Room for the handshake's keys and tags around a payload.
const HANDSHAKE_OVERHEAD: usize = 32 + 48 + 16 + 16;

/// Writes one handshake message carrying `payload`.
fn write_handshake(
    state: &mut snow::HandshakeState,
    payload: &[u8],
) -> Result<Vec<u8>, SessionError> {
    let mut buf = vec![0u8; payload.len() + HANDSHAKE_OVERHEAD];
    let n = state.write_message(payload, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Reads one handshake message; returns its payload.
fn read_handshake(
    state: &mut snow::HandshakeState,
    message: &[u8],
) -> Result<Vec<u8>, SessionError> {
    let mut buf = vec![0u8; message.len()];
    let n = state.read_message(message, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// This side of a handshake: who we are, and the cards we already checked.
pub struct LocalParty<'a> {
    pub identity: &'a Identity,
    pub card: &'a ContactCard,
    pub verified: &'a mut VerifiedCards,
}

/// A handshake in progress, on either side.
pub struct Handshake {
    state: snow::HandshakeState,
    pattern: Pattern,
    local_index: u64,
    /// For an initiator: who it meant to reach.
    expected: Option<IdentityKey>,
    /// For a responder: the initiator's index, named on our Data envelopes.
    remote_index: u64,
    started: Time,
}

/// What answering an `Init` produced.
pub enum Responded {
    /// IK: the session is ready (unconfirmed until the initiator speaks in it).
    Session {
        session: Box<Session>,
        reply: Envelope,
        timestamp: Time,
    },
    /// XX: waiting for the initiator's `Finish`.
    Pending {
        handshake: Box<Handshake>,
        reply: Envelope,
    },
}

impl Handshake {
    /// Starts a handshake towards `peer`: IK when its static key is known,
    /// XX otherwise.
    pub fn initiate(
        local: &LocalParty<'_>,
        peer: IdentityKey,
        peer_static: Option<StaticKey>,
        local_index: u64,
        seed: [u8; 32],
        now: Time,
    ) -> Result<(Self, Envelope), SessionError> {
        let secret = local.identity.static_secret_bytes();
        let pattern = if peer_static.is_some() {
            Pattern::Ik
        } else {
            Pattern::Xx
        };
        let builder = noise::builder(pattern, seed).local_private_key(&secret[..])?;
        let mut state = match &peer_static {
            Some(key) => builder.remote_public_key(&key.0)?.build_initiator()?,
            None => builder.build_initiator()?,
        };
        // XX sends its first message in the clear: nothing about us goes in it.
        let payload = match pattern {
            Pattern::Ik => HandshakePayload::encode(local.card, now),
            Pattern::Xx => Vec::new(),
        };
        let noise = write_handshake(&mut state, &payload)?;
        let handshake = Self {
            state,
            pattern,
            local_index,
            expected: Some(peer),
            remote_index: 0,
            started: now,
        };
        let init = Envelope::Init {
            sender_index: local_index,
            pattern,
            noise,
        };
        Ok((handshake, init))
    }

    /// Answers an `Init` that carried `sender_index`, `pattern` and `noise_msg`.
    pub fn respond(
        local: &mut LocalParty<'_>,
        (sender_index, pattern, noise_msg): (u64, Pattern, &[u8]),
        local_index: u64,
        seed: [u8; 32],
        now: Time,
    ) -> Result<Responded, SessionError> {
        let secret = local.identity.static_secret_bytes();
        let mut state = noise::builder(pattern, seed)
            .local_private_key(&secret[..])?
            .build_responder()?;
        let payload = read_handshake(&mut state, noise_msg)?;
        let peer = match pattern {
            Pattern::Ik => Some(HandshakePayload::decode(
                &payload,
                state.get_remote_static(),
                local.verified,
            )?),
            Pattern::Xx => None,
        };
        let reply = Envelope::Response {
            receiver_index: sender_index,
            sender_index: local_index,
            noise: write_handshake(&mut state, &HandshakePayload::encode(local.card, now))?,
        };
        match peer {
            Some(peer) => Ok(Responded::Session {
                session: Box::new(Session::new(
                    state,
                    peer.card,
                    local_index,
                    sender_index,
                    false,
                    now,
                )?),
                reply,
                timestamp: peer.timestamp,
            }),
            None => Ok(Responded::Pending {
                handshake: Box::new(Self {
                    state,
                    pattern,
                    local_index,
                    expected: None,
                    remote_index: sender_index,
                    started: now,
                }),
                reply,
            }),
        }
    }

    /// Initiator: takes the responder's answer. XX also returns the `Finish`
    /// envelope to send.
    pub fn on_response(
        mut self,
        local: &mut LocalParty<'_>,
        sender_index: u64,
        noise_msg: &[u8],
        now: Time,
    ) -> Result<(Session, Option<Envelope>), SessionError> {
        if !self.state.is_initiator()
            || self.state.is_my_turn()
            || self.state.is_handshake_finished()
        {
            return Err(SessionError::Unexpected);
        }
        let payload = read_handshake(&mut self.state, noise_msg)?;
        let peer =
            HandshakePayload::decode(&payload, self.state.get_remote_static(), local.verified)?;
        if let Some(expected) = self.expected
            && expected != peer.card.identity()
        {
            return Err(SessionError::WrongPeer {
                expected,
                got: peer.card.identity(),
            });
        }
        let finish = match self.pattern {
            Pattern::Ik => None,
            Pattern::Xx => Some(Envelope::Finish {
                receiver_index: sender_index,
                noise: write_handshake(
                    &mut self.state,
                    &HandshakePayload::encode(local.card, now),
                )?,
            }),
        };
        let session = Session::new(
            self.state,
            peer.card,
            self.local_index,
            sender_index,
            true,
            now,
        )?;
        Ok((session, finish))
    }

    /// XX responder: takes the initiator's `Finish`.
    pub fn on_finish(
        mut self,
        local: &mut LocalParty<'_>,
        noise_msg: &[u8],
        now: Time,
    ) -> Result<Session, SessionError> {
        if self.state.is_initiator() || self.pattern != Pattern::Xx {
            return Err(SessionError::Unexpected);
        }
        let payload = read_handshake(&mut self.state, noise_msg)?;
        let peer =
            HandshakePayload::decode(&payload, self.state.get_remote_static(), local.verified)?;
        let mut session = Session::new(
            self.state,
            peer.card,
            self.local_index,
            self.remote_index,
            false,
            now,
        )?;
        // The initiator proved itself in the last handshake message.
        session.confirmed = true;
        Ok(session)
    }

    pub fn local_index(&self) -> u64 {
        self.local_index
    }

    pub fn started(&self) -> Time {
        self.started
    }

    pub fn expected_peer(&self) -> Option<IdentityKey> {
        self.expected
    }

    pub fn is_initiator(&self) -> bool {
        self.state.is_initiator()
    }
}

/// An established end-to-end session.
pub struct Session {
    peer: ContactCard,
    local_index: u64,
    remote_index: u64,
    transport: snow::StatelessTransportState,
    next_nonce: u64,
    replay: ReplayWindow,
    established: Time,
    confirmed: bool,
    initiator: bool,
}

impl Session {
    fn new(
        state: snow::HandshakeState,
        peer: ContactCard,
        local_index: u64,
        remote_index: u64,
        initiator: bool,
        now: Time,
    ) -> Result<Self, SessionError> {
        Ok(Self {
            peer,
            local_index,
            remote_index,
            transport: state.into_stateless_transport_mode()?,
            next_nonce: 0,
            replay: ReplayWindow::default(),
            established: now,
            // The responder of IK cannot know the initiator finished until it
            // hears from it in this session; the initiator knows at once.
            confirmed: initiator,
            initiator,
        })
    }

    /// Encrypts one message under the next nonce.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Envelope, SessionError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(SessionError::TooLarge(plaintext.len()));
        }
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        let mut buf = vec![0u8; plaintext.len() + TAG_LEN];
        let n = self.transport.write_message(nonce, plaintext, &mut buf)?;
        buf.truncate(n);
        Ok(Envelope::Data {
            receiver_index: self.remote_index,
            nonce,
            ciphertext: buf,
        })
    }

    /// Decrypts one message; a nonce seen before (or older than the window) is
    /// refused without decrypting.
    pub fn open(&mut self, nonce: u64, ciphertext: &[u8]) -> Result<Vec<u8>, SessionError> {
        if !self.replay.is_fresh(nonce) {
            return Err(SessionError::Replay(nonce));
        }
        let mut buf = vec![0u8; ciphertext.len()];
        let n = self
            .transport
            .read_message(nonce, ciphertext, &mut buf)
            .map_err(|_| SessionError::Decrypt)?;
        buf.truncate(n);
        self.replay.mark(nonce);
        self.confirmed = true;
        Ok(buf)
    }

    pub fn peer(&self) -> &ContactCard {
        &self.peer
    }

    pub fn local_index(&self) -> u64 {
        self.local_index
    }

    pub fn established(&self) -> Time {
        self.established
    }

    /// Whether the other side is known to hold this session too.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// How many messages this side has sealed.
    pub fn sent(&self) -> u64 {
        self.next_nonce
    }
}

/// Remembers which of the last [`REPLAY_WINDOW`] nonces were seen.
#[derive(Debug, Default, Clone)]
pub struct ReplayWindow {
    /// One past the highest nonce seen; 0 when none was.
    top: u64,
    bits: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl ReplayWindow {
    pub fn is_fresh(&self, nonce: u64) -> bool {
        if nonce >= self.top {
            return true;
        }
        let age = self.top - 1 - nonce;
        age < REPLAY_WINDOW && !self.bit(nonce)
    }

    /// Records `nonce`; call only after `is_fresh` and successful decryption.
    pub fn mark(&mut self, nonce: u64) {
        if nonce >= self.top {
            let shift = nonce + 1 - self.top;
            if shift >= REPLAY_WINDOW {
                self.bits = Default::default();
            } else {
                for n in self.top..=nonce {
                    self.clear_bit(n);
                }
            }
            self.top = nonce + 1;
        }
        self.set_bit(nonce);
    }

    fn slot(nonce: u64) -> (usize, u64) {
        let i = nonce % REPLAY_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn bit(&self, nonce: u64) -> bool {
        let (w, m) = Self::slot(nonce);
        self.bits[w] & m != 0
    }

    fn set_bit(&mut self, nonce: u64) {
        let (w, m) = Self::slot(nonce);
        self.bits[w] |= m;
    }

    fn clear_bit(&mut self, nonce: u64) {
        let (w, m) = Self::slot(nonce);
        self.bits[w] &= !m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invite::DEFAULT_VALIDITY;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    struct Party {
        id: Identity,
        card: ContactCard,
        cache: VerifiedCards,
    }

    impl Party {
        fn local(&mut self) -> LocalParty<'_> {
            LocalParty {
                identity: &self.id,
                card: &self.card,
                verified: &mut self.cache,
            }
        }
    }

    fn party(seed: u64, name: &str) -> Party {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        let card = ContactCard::new(&id, name, vec![], Time::ZERO, DEFAULT_VALIDITY).unwrap();
        Party {
            id,
            card,
            cache: VerifiedCards::new(8),
        }
    }

    fn init_parts(init: Envelope) -> (u64, Pattern, Vec<u8>) {
        match init {
            Envelope::Init {
                sender_index,
                pattern,
                noise,
            } => (sender_index, pattern, noise),
            _ => panic!("not an init"),
        }
    }

    fn establish(a: &mut Party, b: &mut Party, ik: bool) -> (Session, Session) {
        let now = Time::from_secs(5);
        let known = ik.then(|| b.id.static_key());
        let (hs, init) =
            Handshake::initiate(&a.local(), b.id.key(), known, 11, [1; 32], now).unwrap();
        let (index, pattern, noise) = init_parts(init);
        let responded =
            Handshake::respond(&mut b.local(), (index, pattern, &noise), 22, [2; 32], now).unwrap();
        let (reply, pending, b_session) = match responded {
            Responded::Session { session, reply, .. } => (reply, None, Some(*session)),
            Responded::Pending { handshake, reply } => (reply, Some(*handshake), None),
        };
        let Envelope::Response {
            sender_index,
            noise,
            ..
        } = reply
        else {
            panic!("not a response")
        };
        let (a_session, finish) = hs
            .on_response(&mut a.local(), sender_index, &noise, now)
            .unwrap();
        let b_session = match (b_session, pending, finish) {
            (Some(s), None, None) => s,
            (None, Some(hs), Some(Envelope::Finish { noise, .. })) => {
                hs.on_finish(&mut b.local(), &noise, now).unwrap()
            }
            _ => panic!("pattern produced the wrong shape"),
        };
        (a_session, b_session)
    }

    fn data(env: Envelope) -> (u64, u64, Vec<u8>) {
        match env {
            Envelope::Data {
                receiver_index,
                nonce,
                ciphertext,
            } => (receiver_index, nonce, ciphertext),
            _ => panic!("not data"),
        }
    }

    #[test]
    fn ik_and_xx_both_authenticate_both_identities() {
        let (mut a, mut b) = (party(1, "a"), party(2, "b"));
        for ik in [true, false] {
            let (mut sa, mut sb) = establish(&mut a, &mut b, ik);
            assert_eq!(sa.peer().identity(), b.id.key());
            assert_eq!(sb.peer().identity(), a.id.key());
            let (idx, nonce, ct) = data(sa.seal(b"hello").unwrap());
            assert_eq!(idx, 22);
            assert_eq!(sb.open(nonce, &ct).unwrap(), b"hello");
            let (idx, nonce, ct) = data(sb.seal(b"back").unwrap());
            assert_eq!(idx, 11);
            assert_eq!(sa.open(nonce, &ct).unwrap(), b"back");
        }
    }

    #[test]
    fn ik_towards_the_wrong_static_key_fails() {
        let (a, mut b, c) = (party(1, "a"), party(2, "b"), party(3, "c"));
        let mut a = a;
        let (_, init) = Handshake::initiate(
            &a.local(),
            b.id.key(),
            Some(c.id.static_key()),
            1,
            [0; 32],
            Time::ZERO,
        )
        .unwrap();
        let (index, pattern, noise) = init_parts(init);
        assert!(
            Handshake::respond(
                &mut b.local(),
                (index, pattern, &noise),
                2,
                [0; 32],
                Time::ZERO
            )
            .is_err()
        );
    }

    #[test]
    fn a_card_for_another_key_is_refused_in_the_handshake() {
        // Mallory runs the handshake with her own static key but presents Bob's card.
        let (mut a, b, mut m) = (party(1, "a"), party(2, "b"), party(3, "m"));
        m.card = b.card.clone();
        let (_, init) = Handshake::initiate(
            &m.local(),
            a.id.key(),
            Some(a.id.static_key()),
            1,
            [0; 32],
            Time::ZERO,
        )
        .unwrap();
        let (index, pattern, noise) = init_parts(init);
        assert!(matches!(
            Handshake::respond(
                &mut a.local(),
                (index, pattern, &noise),
                2,
                [0; 32],
                Time::ZERO
            ),
            Err(SessionError::CardMismatch)
        ));
    }

    #[test]
    fn replayed_and_tampered_messages_are_refused() {
        let (mut a, mut b) = (party(1, "a"), party(2, "b"));
        let (mut sa, mut sb) = establish(&mut a, &mut b, true);
        let (_, nonce, ct) = data(sa.seal(b"once").unwrap());
        sb.open(nonce, &ct).unwrap();
        assert!(matches!(sb.open(nonce, &ct), Err(SessionError::Replay(_))));
        let (_, nonce, mut ct) = data(sa.seal(b"twice").unwrap());
        ct[0] ^= 1;
        assert!(matches!(sb.open(nonce, &ct), Err(SessionError::Decrypt)));
    }

    #[test]
    fn out_of_order_delivery_within_the_window_is_accepted() {
        let (mut a, mut b) = (party(1, "a"), party(2, "b"));
        let (mut sa, mut sb) = establish(&mut a, &mut b, true);
        let msgs: Vec<_> = (0..100)
            .map(|i| data(sa.seal(&[i as u8]).unwrap()))
            .collect();
        for (_, nonce, ct) in msgs.iter().rev() {
            assert_eq!(sb.open(*nonce, ct).unwrap(), vec![*nonce as u8]);
        }
    }

    #[test]
    fn replay_window_forgets_only_what_fell_out() {
        let mut w = ReplayWindow::default();
        for n in [0, 5, 3, 2000, 1999] {
            assert!(w.is_fresh(n));
            w.mark(n);
            assert!(!w.is_fresh(n));
        }
        assert!(!w.is_fresh(5), "fell out of the window, so too old");
        assert!(w.is_fresh(1998));
        assert!(!w.is_fresh(2000 - REPLAY_WINDOW));
    }
}
