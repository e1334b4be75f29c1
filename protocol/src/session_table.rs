//! Every handshake and session this node holds, by local index and by peer.
//!
//! Envelopes name the receiver's *local index* (chosen at random by the
//! receiver, like WireGuard's), so a message finds its session whichever link
//! or path it took. A peer may hold several sessions at once — both sides may
//! have started a handshake, or a rekey is under way — and a receiver accepts
//! any of them; a sender uses the newest *confirmed* one.
//!
//! Bounds: at most `max_pending` handshakes, `max_sessions` sessions and
//! `per_peer` sessions per peer; the oldest goes first when one is exceeded.

use std::collections::BTreeMap;
use std::time::Duration;

use rand_core::RngCore;

use crate::envelope::{Envelope, Pattern};
use crate::identity::{Identity, IdentityKey, StaticKey};
use crate::invite::{ContactCard, VerifiedCards};
use crate::session::{Handshake, LocalParty, Responded, Session, SessionError};
use crate::time::Time;

#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub max_pending: usize,
    pub max_sessions: usize,
    pub per_peer: usize,
    /// A handshake not finished by then is dropped (and may be retried).
    pub handshake_timeout: Duration,
    /// Start a fresh handshake once the current session is this old…
    pub rekey_after: Duration,
    /// …or has sealed this many messages.
    pub rekey_after_messages: u64,
    /// How long a superseded session still opens late messages.
    pub grace: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_pending: 1024,
            max_sessions: 4096,
            per_peer: 4,
            handshake_timeout: Duration::from_secs(10),
            rekey_after: Duration::from_secs(3600),
            rekey_after_messages: 1 << 20,
            grace: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Default)]
struct PeerState {
    /// Local indexes, oldest first.
    sessions: Vec<u64>,
    /// Our handshake towards this peer, if one is under way.
    initiating: Option<u64>,
    /// Newest timestamp of an accepted IK `Init`: older ones are replays.
    last_init: Time,
    /// Sessions from IK inits that were already old when they came: maybe a
    /// replay (the guard above is in memory only, so a restart forgets it).
    /// They never hold off our own handshake (THREAT_MODEL.md, "Attacks
    /// tried" 12).
    stale_inits: Vec<u64>,
}

/// What handling an envelope produced.
pub enum Outcome {
    /// A handshake step to send back; nothing established yet.
    Reply(Envelope),
    /// A session is up with `peer`; `reply` (if any) must be sent to it.
    Established {
        peer: Box<ContactCard>,
        local_index: u64,
        reply: Option<Envelope>,
    },
    /// A message decrypted in the session `local_index`.
    Data {
        peer: IdentityKey,
        plaintext: Vec<u8>,
        /// This message was the first proof that the peer holds the session.
        newly_confirmed: bool,
    },
}

pub struct SessionTable {
    limits: SessionLimits,
    handshakes: BTreeMap<u64, Handshake>,
    sessions: BTreeMap<u64, Session>,
    peers: BTreeMap<IdentityKey, PeerState>,
    /// Timestamp of our newest `Init`: each one must be later than the last,
    /// or the peer takes it for a replay.
    last_init_sent: Time,
    verified: VerifiedCards,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    #[error("no session or handshake with index {0:#x}")]
    UnknownIndex(u64),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl SessionTable {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            handshakes: BTreeMap::new(),
            sessions: BTreeMap::new(),
            peers: BTreeMap::new(),
            last_init_sent: Time::ZERO,
            verified: VerifiedCards::new(limits.max_sessions),
        }
    }

    pub fn limits(&self) -> &SessionLimits {
        &self.limits
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn fresh_index(&self, rng: &mut dyn RngCore) -> u64 {
        loop {
            let i = rng.next_u64();
            if !self.handshakes.contains_key(&i) && !self.sessions.contains_key(&i) {
                return i;
            }
        }
    }

    fn seed(rng: &mut dyn RngCore) -> [u8; 32] {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        seed
    }

    /// The session to send in: the newest confirmed one.
    pub fn current(&mut self, peer: &IdentityKey) -> Option<&mut Session> {
        let state = self.peers.get(peer)?;
        let index = state
            .sessions
            .iter()
            .rev()
            .find(|i| self.sessions.get(i).is_some_and(Session::is_confirmed))?;
        self.sessions.get_mut(index)
    }

    pub fn current_index(&self, peer: &IdentityKey) -> Option<u64> {
        let state = self.peers.get(peer)?;
        state
            .sessions
            .iter()
            .rev()
            .find(|i| self.sessions.get(i).is_some_and(Session::is_confirmed))
            .copied()
    }

    /// The card a peer presented in any session we hold with it.
    pub fn peer_card(&self, peer: &IdentityKey) -> Option<&ContactCard> {
        let state = self.peers.get(peer)?;
        state
            .sessions
            .iter()
            .rev()
            .find_map(|i| self.sessions.get(i))
            .map(Session::peer)
    }

    /// When the oldest pending handshake times out ([`Self::handle_timeout`]
    /// then has work; superseded sessions go at any call).
    pub fn poll_timeout(&self) -> Option<Time> {
        self.handshakes
            .values()
            .map(|h| h.started() + self.limits.handshake_timeout)
            .min()
    }

    /// Whether a new handshake towards `peer` should start now: there is no
    /// usable session (or it is due for rekeying) and nothing is under way.
    /// Whether a handshake we started towards `peer` is waiting for its answer.
    pub fn is_initiating(&self, peer: &IdentityKey) -> bool {
        self.peers.get(peer).is_some_and(|s| s.initiating.is_some())
    }

    pub fn needs_handshake(&self, peer: &IdentityKey, now: Time) -> bool {
        let Some(state) = self.peers.get(peer) else {
            return true;
        };
        if state.initiating.is_some() {
            return false;
        }
        let newest = state
            .sessions
            .iter()
            .rev()
            .filter_map(|i| self.sessions.get(i));
        for session in newest {
            let young = now.since(session.established()) < self.limits.handshake_timeout;
            let stale = state.stale_inits.contains(&session.local_index());
            if !session.is_confirmed() && young && !stale {
                // The peer started one; give it time to speak in it.
                return false;
            }
            if session.is_confirmed() {
                let old = now.since(session.established()) >= self.limits.rekey_after
                    || session.sent() >= self.limits.rekey_after_messages;
                return old;
            }
        }
        true
    }

    /// Starts a handshake towards `peer`.
    pub fn initiate(
        &mut self,
        identity: &Identity,
        own_card: &ContactCard,
        peer: IdentityKey,
        peer_static: Option<StaticKey>,
        rng: &mut dyn RngCore,
        now: Time,
    ) -> Result<Envelope, SessionError> {
        let index = self.fresh_index(rng);
        let stamp = now.max(self.last_init_sent + Duration::from_millis(1));
        self.last_init_sent = stamp;
        let local = LocalParty {
            identity,
            card: own_card,
            verified: &mut self.verified,
        };
        let (handshake, init) =
            Handshake::initiate(&local, peer, peer_static, index, Self::seed(rng), stamp)?;
        self.make_room_for_handshake();
        self.handshakes.insert(index, handshake);
        let state = self.peers.entry(peer).or_default();
        if let Some(old) = state.initiating.replace(index) {
            self.handshakes.remove(&old);
        }
        Ok(init)
    }

    /// Handles one envelope addressed to us.
    pub fn handle(
        &mut self,
        identity: &Identity,
        own_card: &ContactCard,
        envelope: Envelope,
        rng: &mut dyn RngCore,
        now: Time,
    ) -> Result<Outcome, TableError> {
        match envelope {
            Envelope::Init {
                sender_index,
                pattern,
                noise,
            } => {
                let index = self.fresh_index(rng);
                let mut local = LocalParty {
                    identity,
                    card: own_card,
                    verified: &mut self.verified,
                };
                let responded = Handshake::respond(
                    &mut local,
                    (sender_index, pattern, &noise),
                    index,
                    Self::seed(rng),
                    now,
                )?;
                match responded {
                    Responded::Session {
                        session,
                        reply,
                        timestamp,
                    } => {
                        let peer = Box::new(session.peer().clone());
                        let state = self.peers.entry(peer.identity()).or_default();
                        if timestamp <= state.last_init {
                            return Err(SessionError::Replay(timestamp.as_millis()).into());
                        }
                        state.last_init = timestamp;
                        // Written more than a handshake's time ago (by our
                        // clock): a replay, or a peer whose clock is off;
                        // either way, not worth waiting for.
                        if now.since(timestamp) >= self.limits.handshake_timeout {
                            state.stale_inits.push(index);
                        }
                        self.insert_session(*session);
                        debug_assert_eq!(pattern, Pattern::Ik);
                        Ok(Outcome::Established {
                            peer,
                            local_index: index,
                            reply: Some(reply),
                        })
                    }
                    Responded::Pending { handshake, reply } => {
                        self.make_room_for_handshake();
                        self.handshakes.insert(index, *handshake);
                        Ok(Outcome::Reply(reply))
                    }
                }
            }
            Envelope::Response {
                receiver_index,
                sender_index,
                noise,
            } => {
                let handshake = self.take_handshake(receiver_index, true)?;
                let expected = handshake.expected_peer();
                if let Some(peer) = expected.and_then(|p| self.peers.get_mut(&p))
                    && peer.initiating == Some(receiver_index)
                {
                    peer.initiating = None;
                }
                let mut local = LocalParty {
                    identity,
                    card: own_card,
                    verified: &mut self.verified,
                };
                let (session, finish) =
                    handshake.on_response(&mut local, sender_index, &noise, now)?;
                let peer = Box::new(session.peer().clone());
                self.insert_session(session);
                Ok(Outcome::Established {
                    peer,
                    local_index: receiver_index,
                    reply: finish,
                })
            }
            Envelope::Finish {
                receiver_index,
                noise,
            } => {
                let handshake = self.take_handshake(receiver_index, false)?;
                let mut local = LocalParty {
                    identity,
                    card: own_card,
                    verified: &mut self.verified,
                };
                let session = handshake.on_finish(&mut local, &noise, now)?;
                let peer = Box::new(session.peer().clone());
                self.insert_session(session);
                Ok(Outcome::Established {
                    peer,
                    local_index: receiver_index,
                    reply: None,
                })
            }
            Envelope::Data {
                receiver_index,
                nonce,
                ciphertext,
            } => {
                let session = self
                    .sessions
                    .get_mut(&receiver_index)
                    .ok_or(TableError::UnknownIndex(receiver_index))?;
                let was_confirmed = session.is_confirmed();
                let plaintext = session.open(nonce, &ciphertext)?;
                Ok(Outcome::Data {
                    peer: session.peer().identity(),
                    plaintext,
                    newly_confirmed: !was_confirmed,
                })
            }
        }
    }

    fn take_handshake(&mut self, index: u64, initiator: bool) -> Result<Handshake, TableError> {
        match self.handshakes.get(&index) {
            Some(h) if h.is_initiator() == initiator => {}
            _ => return Err(TableError::UnknownIndex(index)),
        }
        self.handshakes
            .remove(&index)
            .ok_or(TableError::UnknownIndex(index))
    }

    fn insert_session(&mut self, session: Session) {
        let peer = session.peer().identity();
        let index = session.local_index();
        if self.sessions.len() >= self.limits.max_sessions {
            self.evict_oldest_session();
        }
        self.sessions.insert(index, session);
        let state = self.peers.entry(peer).or_default();
        state.sessions.push(index);
        while state.sessions.len() > self.limits.per_peer {
            let old = state.sessions.remove(0);
            self.sessions.remove(&old);
        }
    }

    fn evict_oldest_session(&mut self) {
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.established())
            .map(|(i, s)| (*i, s.peer().identity()));
        if let Some((index, peer)) = oldest {
            self.remove_session(&peer, index);
        }
    }

    fn remove_session(&mut self, peer: &IdentityKey, index: u64) {
        self.sessions.remove(&index);
        if let Some(state) = self.peers.get_mut(peer) {
            state.sessions.retain(|i| *i != index);
            state.stale_inits.retain(|i| *i != index);
        }
    }

    fn make_room_for_handshake(&mut self) {
        if self.handshakes.len() < self.limits.max_pending {
            return;
        }
        if let Some(oldest) = self
            .handshakes
            .iter()
            .min_by_key(|(_, h)| h.started())
            .map(|(i, _)| *i)
        {
            self.handshakes.remove(&oldest);
        }
    }

    /// Drops timed-out handshakes and sessions that were superseded long
    /// enough ago.
    pub fn handle_timeout(&mut self, now: Time) {
        let timeout = self.limits.handshake_timeout;
        self.handshakes
            .retain(|_, h| now.since(h.started()) < timeout);
        for state in self.peers.values_mut() {
            if state
                .initiating
                .is_some_and(|i| !self.handshakes.contains_key(&i))
            {
                state.initiating = None;
            }
        }
        let mut doomed = Vec::new();
        let hard_max = self.limits.rekey_after * 2 + self.limits.grace;
        for (peer, state) in &self.peers {
            let newest_confirmed = state
                .sessions
                .iter()
                .rev()
                .filter_map(|i| self.sessions.get(i))
                .find(|s| s.is_confirmed())
                .map(|s| (s.local_index(), s.established()));
            for index in &state.sessions {
                let Some(s) = self.sessions.get(index) else {
                    continue;
                };
                let age = now.since(s.established());
                let superseded = newest_confirmed.is_some_and(|(i, at)| {
                    i != *index && at >= s.established() && now.since(at) >= self.limits.grace
                });
                let stale_unconfirmed = !s.is_confirmed() && age >= self.limits.grace;
                if superseded || stale_unconfirmed || age >= hard_max {
                    doomed.push((*peer, *index));
                }
            }
        }
        for (peer, index) in doomed {
            self.remove_session(&peer, index);
        }
        // Replay protection of IK inits lasts as long as the peer holds a
        // session with us, which is when a replayed init could do harm; keeping
        // it longer would let strangers grow this map without bound.
        self.peers
            .retain(|_, s| !s.sessions.is_empty() || s.initiating.is_some());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    fn party(seed: u64) -> (Identity, ContactCard) {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed));
        let card = ContactCard::new(
            &id,
            "n",
            vec![],
            Time::from_secs(1),
            Duration::from_secs(1 << 30),
        )
        .unwrap();
        (id, card)
    }

    /// THREAT_MODEL.md "Attacks tried" 12: an IK init recorded earlier and
    /// replayed after the responder restarted (its replay guard is in
    /// memory) makes a session nobody can use; it must not hold off the
    /// responder's own handshake.
    #[test]
    fn an_init_replayed_after_a_restart_does_not_hold_off_our_handshake() {
        let (alice, alice_card) = party(1);
        let (bob, bob_card) = party(2);
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let start = Time::from_secs(1_000);
        let mut a = SessionTable::new(SessionLimits::default());
        let init = a
            .initiate(
                &alice,
                &alice_card,
                bob.key(),
                Some(bob.static_key()),
                &mut rng,
                start,
            )
            .unwrap();
        // A fresh init: bob waits for alice to speak in it, as before.
        let mut b = SessionTable::new(SessionLimits::default());
        let fresh = b
            .handle(&bob, &bob_card, init.clone(), &mut rng, start)
            .unwrap();
        assert!(matches!(fresh, Outcome::Established { .. }));
        assert!(!b.needs_handshake(&alice.key(), start));
        // Bob restarts; a minute later the recorded init comes again.
        let later = start + Duration::from_secs(60);
        let mut b = SessionTable::new(SessionLimits::default());
        let replayed = b.handle(&bob, &bob_card, init, &mut rng, later).unwrap();
        assert!(matches!(replayed, Outcome::Established { .. }));
        assert!(
            b.needs_handshake(&alice.key(), later),
            "a replayed init must not hold off bob's own handshake"
        );
    }
}
