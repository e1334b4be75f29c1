//! Forward secrecy for what travels without a live session: prekeys, the
//! X3DH-style first message, and a Double Ratchet per contact.
//!
//! Each node keeps a signed prekey (rotated every [`SPK_ROTATE`], its secret
//! deleted [`SPK_KEEP`] after it was made) and gives each contact, inside
//! every live session, a [`Bundle`]: the current signed prekey and one fresh
//! one-time prekey reserved for that contact (at most [`OPKS_PER_PEER`]
//! outstanding; the oldest is dropped). A message for a contact who is away
//! starts a ratchet session from the newest bundle (X3DH: `DH(IK_a, SPK_b) ‖
//! DH(EK_a, IK_b) ‖ DH(EK_a, SPK_b) ‖ DH(EK_a, OPK_b)`, the identity keys
//! being the static X25519 keys) and continues in it; the first messages carry
//! the [`InitBlock`] until the other side is heard from in that session. A
//! newer bundle (the two met again) starts a new session at the next message,
//! so a compromise heals at the next meeting even if no message comes back
//! through the mesh; messages that do come back turn the ratchet as well.
//!
//! Once a message has been opened, the one-time prekey it named is deleted and
//! the ratchet has moved past its key: the complete state of the recipient's
//! device no longer opens it. Without a one-time prekey (the sender used the
//! bundle's already), a first message is protected only by the signed prekey
//! until that is deleted; [`Secrecy::SignedPrekeyOnly`] says so.
//!
//! ```text
//! bundle  = spk_id:u32 spk:[32] created:u64 signature:[64] opk?:(id:u32 key:[32])
//!           signature = Ed25519(identity, "cairn/prekey/v1" ‖ spk_id ‖ spk ‖ created)
//! message = init?:(ek:[32] spk_id:u32 opk_id?:u32 card:bytes16) header:[40] ciphertext:bytes16
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::identity::{Identity, IdentityKey, StaticKey};
use crate::ratchet::{Header, KeyPair, Ratchet, RatchetError, dh};
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

/// How often the signed prekey is replaced.
pub const SPK_ROTATE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long after it was made a sender still uses a contact's signed prekey.
pub const SPK_USABLE: Duration = Duration::from_secs(21 * 24 * 3600);
/// How long after it was made a signed prekey's secret is kept: its last use
/// ([`SPK_USABLE`]) plus a week for clocks and envelopes in flight.
pub const SPK_KEEP: Duration = Duration::from_secs(28 * 24 * 3600);
/// One-time prekeys outstanding per contact.
pub const OPKS_PER_PEER: usize = 3;
/// Ratchet sessions kept per contact (newest used first).
pub const SESSIONS_PER_PEER: usize = 3;
/// How long keys of skipped messages are kept: an envelope lives at most a day.
pub const SKIPPED_KEEP: Duration = Duration::from_secs(25 * 3600);
/// How often two contacts in reach of each other open a session just to
/// exchange bundles (when they have something to say they do anyway).
pub const BUNDLE_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Largest sender card beside an init (`invite::MAX_CARD_LEN` is below it).
pub const MAX_CARD_BYTES: usize = 2048;
/// Largest ratchet ciphertext.
pub const MAX_CIPHERTEXT: usize = 65535;

const BUNDLE_DOMAIN: &[u8] = b"cairn/prekey/v1";
/// Settings keys the state is stored under.
pub const STORE_PREFIX: &str = "fs/";
const SPK_KEY: &str = "fs/spk";
const PEER_PREFIX: &str = "fs/peer/";

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrekeyError {
    #[error("prekey bundle signature does not verify")]
    BadSignature,
    #[error("message names a prekey this device does not hold (used, deleted or never made)")]
    UnknownPrekey,
    #[error("no session with this contact opens the message")]
    NoSession,
    #[error(transparent)]
    Ratchet(#[from] RatchetError),
    #[error("prekey data malformed: {0}")]
    Decode(#[from] DecodeError),
}

/// How well a message sealed for the mesh is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// A ratchet session that began with a one-time prekey.
    Forward,
    /// A first message without a one-time prekey: readable with the device's
    /// state until the signed prekey is deleted ([`SPK_KEEP`]).
    SignedPrekeyOnly,
}

/// What a node hands a contact so the contact can write to it while it is away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub spk_id: u32,
    pub spk: [u8; 32],
    pub created: Time,
    pub signature: [u8; 64],
    pub opk: Option<(u32, [u8; 32])>,
}

impl Bundle {
    fn signed_part(spk_id: u32, spk: &[u8; 32], created: Time) -> Vec<u8> {
        let mut w = Writer::with_capacity(44);
        w.u32(spk_id).raw(spk).u64(created.as_millis());
        w.into_vec()
    }

    pub fn verify(&self, signer: &IdentityKey) -> Result<(), PrekeyError> {
        let part = Self::signed_part(self.spk_id, &self.spk, self.created);
        signer
            .verify(BUNDLE_DOMAIN, &part, &self.signature)
            .map_err(|_| PrekeyError::BadSignature)
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.spk_id)
            .raw(&self.spk)
            .u64(self.created.as_millis())
            .raw(&self.signature);
        match &self.opk {
            Some((id, key)) => w.u8(1).u32(*id).raw(key),
            None => w.u8(0),
        };
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            spk_id: r.u32("prekey id")?,
            spk: r.array("signed prekey")?,
            created: Time::from_millis(r.u64("prekey created")?),
            signature: r.array("prekey signature")?,
            opk: match r.u8("one-time prekey present")? {
                0 => None,
                1 => Some((r.u32("one-time prekey id")?, r.array("one-time prekey")?)),
                _ => return Err(DecodeError::Invalid("one-time prekey flag")),
            },
        })
    }
}

/// What the first messages of a session carry so the recipient can start it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitBlock {
    pub ek: [u8; 32],
    pub spk_id: u32,
    pub opk_id: Option<u32>,
}

/// One message of a ratchet session, as it travels inside a sealed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetMessage {
    pub init: Option<InitBlock>,
    /// The sender's encoded card, beside an init without a one-time prekey
    /// (a session started from an invite): a recipient who does not know the
    /// sender yet learns who wrote, and X3DH proves it. Empty otherwise.
    pub card: Vec<u8>,
    pub header: Header,
    pub ciphertext: Vec<u8>,
}

impl RatchetMessage {
    pub fn encode(&self, w: &mut Writer) {
        match &self.init {
            Some(init) => {
                w.u8(1).raw(&init.ek).u32(init.spk_id);
                match init.opk_id {
                    Some(id) => w.u8(1).u32(id),
                    None => w.u8(0),
                };
                w.bytes(&self.card);
            }
            None => {
                w.u8(0);
            }
        }
        self.header.encode(w);
        w.bytes(&self.ciphertext);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut card = Vec::new();
        let init = match r.u8("init present")? {
            0 => None,
            1 => {
                let init = InitBlock {
                    ek: r.array("ephemeral key")?,
                    spk_id: r.u32("prekey id")?,
                    opk_id: match r.u8("one-time prekey present")? {
                        0 => None,
                        1 => Some(r.u32("one-time prekey id")?),
                        _ => return Err(DecodeError::Invalid("one-time prekey flag")),
                    },
                };
                card = r.bytes(MAX_CARD_BYTES, "sender card")?.to_vec();
                Some(init)
            }
            _ => return Err(DecodeError::Invalid("init flag")),
        };
        Ok(Self {
            init,
            card,
            header: Header::decode(r)?,
            ciphertext: r.bytes(MAX_CIPHERTEXT, "ratchet ciphertext")?.to_vec(),
        })
    }
}

#[derive(Clone)]
struct Session {
    /// The initiator's ephemeral key: names the session.
    ek: [u8; 32],
    ratchet: Ratchet,
    /// Ours to repeat while the other side has not answered in this session.
    init: Option<InitBlock>,
}

#[derive(Clone, Default)]
struct Peer {
    /// Their newest bundle, and whether its one-time prekey is spent.
    theirs: Option<(Bundle, bool)>,
    /// Their bundle is newer than our newest session with them.
    fresh: bool,
    /// When their newest bundle came.
    theirs_at: Time,
    /// One-time prekeys we gave them, oldest first.
    mine: Vec<(u32, KeyPair)>,
    /// Newest (last used) first.
    sessions: Vec<Session>,
}

struct SignedPrekey {
    id: u32,
    pair: KeyPair,
    created: Time,
    signature: [u8; 64],
}

/// A node's prekeys and ratchet sessions with every contact.
#[derive(Default)]
pub struct Prekeys {
    spks: Vec<SignedPrekey>,
    next_id: u32,
    peers: BTreeMap<IdentityKey, Peer>,
    dirty_spk: bool,
    dirty: BTreeSet<IdentityKey>,
}

fn x3dh(parts: &[&[u8; 32]]) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(vec![0xFFu8; 32]);
    for p in parts {
        ikm.extend_from_slice(&p[..]);
    }
    let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), &ikm);
    let mut sk = Zeroizing::new([0u8; 32]);
    // 32 bytes always fit.
    #[allow(clippy::expect_used)]
    hk.expand(b"cairn/x3dh/v1", sk.as_mut())
        .expect("32 bytes fit HKDF");
    sk
}

fn ad(from: &IdentityKey, to: &IdentityKey) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(from.as_bytes());
    out[32..].copy_from_slice(to.as_bytes());
    out
}

impl Prekeys {
    /// Makes the signed prekey, or a new one when the current is due for
    /// rotation ([`SPK_ROTATE`]).
    pub fn rotate_if_due<R: RngCore + CryptoRng>(&mut self, me: &Identity, now: Time, rng: &mut R) {
        if self
            .spks
            .last()
            .is_none_or(|s| now.since(s.created) >= SPK_ROTATE)
        {
            let pair = KeyPair::generate(rng);
            let id = self.take_id();
            let signature = me.sign(BUNDLE_DOMAIN, &Bundle::signed_part(id, &pair.public(), now));
            self.spks.push(SignedPrekey {
                id,
                pair,
                created: now,
                signature,
            });
            self.dirty_spk = true;
        }
    }

    /// The current signed prekey alone, for invites (which may reach many
    /// people, so carry no one-time prekey).
    pub fn invite_bundle(&self) -> Option<Bundle> {
        self.spks.last().map(|spk| Bundle {
            spk_id: spk.id,
            spk: spk.pair.public(),
            created: spk.created,
            signature: spk.signature,
            opk: None,
        })
    }

    /// A fresh bundle for `peer`: the current signed prekey (made or rotated
    /// as due) and a new one-time prekey reserved for them.
    pub fn bundle_for<R: RngCore + CryptoRng>(
        &mut self,
        me: &Identity,
        peer: &IdentityKey,
        now: Time,
        rng: &mut R,
    ) -> Bundle {
        self.rotate_if_due(me, now, rng);
        let opk = KeyPair::generate(rng);
        let opk_id = self.take_id();
        let opk_public = opk.public();
        let entry = self.peers.entry(*peer).or_default();
        entry.mine.push((opk_id, opk));
        if entry.mine.len() > OPKS_PER_PEER {
            entry.mine.remove(0);
        }
        self.dirty.insert(*peer);
        // Just made or kept above.
        #[allow(clippy::unwrap_used)]
        let spk = self.spks.last().unwrap();
        Bundle {
            spk_id: spk.id,
            spk: spk.pair.public(),
            created: spk.created,
            signature: spk.signature,
            opk: Some((opk_id, opk_public)),
        }
    }

    fn take_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.dirty_spk = true;
        self.next_id
    }

    /// A contact's bundle, from inside a live session with them.
    pub fn on_bundle(
        &mut self,
        peer: &IdentityKey,
        bundle: Bundle,
        now: Time,
    ) -> Result<(), PrekeyError> {
        bundle.verify(peer)?;
        let entry = self.peers.entry(*peer).or_default();
        entry.theirs = Some((bundle, false));
        entry.fresh = true;
        entry.theirs_at = now;
        self.dirty.insert(*peer);
        Ok(())
    }

    /// The signed prekey from a contact's invite: kept only if nothing
    /// better came from them (a live session's bundle has a one-time prekey).
    /// Returns whether it was kept.
    pub fn on_invite_bundle(&mut self, peer: &IdentityKey, bundle: Bundle, now: Time) -> bool {
        if self.peers.get(peer).is_some_and(|p| p.theirs.is_some()) {
            return false;
        }
        let kept = self.on_bundle(peer, bundle, now).is_ok();
        if let Some(p) = self.peers.get_mut(peer) {
            // Not a meeting: a live session for a bundle with a one-time
            // prekey is still wanted.
            p.theirs_at = Time::ZERO;
        }
        kept
    }

    /// Whether it is time to meet `peer` in a live session for a new bundle:
    /// none yet, or the last is older than [`BUNDLE_REFRESH`].
    pub fn wants_bundle(&self, peer: &IdentityKey, now: Time) -> bool {
        self.peers
            .get(peer)
            .is_none_or(|p| p.theirs.is_none() || now.since(p.theirs_at) >= BUNDLE_REFRESH)
    }

    /// From when a new bundle from `peer` is wanted ([`Prekeys::wants_bundle`]).
    pub fn bundle_wanted_from(&self, peer: &IdentityKey) -> Time {
        match self.peers.get(peer) {
            Some(p) if p.theirs.is_some() => p.theirs_at + BUNDLE_REFRESH,
            _ => Time::ZERO,
        }
    }

    /// How the next message to `peer` through the mesh would be protected:
    /// `None` if it would go by Noise X to their static key (no forward
    /// secrecy; nothing from them yet, not even an invite with a prekey).
    pub fn secrecy_for(&self, peer: &IdentityKey, now: Time) -> Option<Secrecy> {
        let p = self.peers.get(peer)?;
        let usable = p
            .theirs
            .as_ref()
            .filter(|(b, _)| now.since(b.created) < SPK_USABLE);
        let current = p.sessions.first().filter(|s| s.ratchet.can_send());
        match (usable, current) {
            (Some((b, spent)), c) if p.fresh || c.is_none() => Some(if b.opk.is_some() && !spent {
                Secrecy::Forward
            } else {
                Secrecy::SignedPrekeyOnly
            }),
            (_, Some(s)) => Some(if s.init.is_some_and(|i| i.opk_id.is_none()) {
                Secrecy::SignedPrekeyOnly
            } else {
                Secrecy::Forward
            }),
            _ => None,
        }
    }

    /// Whether a message to `peer` can go by a ratchet session now.
    pub fn can_seal(&self, peer: &IdentityKey, now: Time) -> bool {
        self.peers.get(peer).is_some_and(|p| {
            p.sessions.first().is_some_and(|s| s.ratchet.can_send())
                || p.theirs
                    .as_ref()
                    .is_some_and(|(b, _)| now.since(b.created) < SPK_USABLE)
        })
    }

    /// Encrypts `plaintext` for `peer` in the newest session, starting one
    /// from their bundle if there is none or the bundle is newer. `None` if
    /// neither a session nor a usable bundle exists. `card` (ours, encoded)
    /// travels beside the init while the session has one.
    #[allow(clippy::too_many_arguments)]
    pub fn seal<R: RngCore + CryptoRng>(
        &mut self,
        me: &Identity,
        card: &[u8],
        peer: &IdentityKey,
        peer_static: &StaticKey,
        plaintext: &[u8],
        now: Time,
        rng: &mut R,
    ) -> Result<Option<(RatchetMessage, Secrecy)>, PrekeyError> {
        let Some(entry) = self.peers.get_mut(peer) else {
            return Ok(None);
        };
        let usable = entry
            .theirs
            .as_ref()
            .filter(|(b, _)| now.since(b.created) < SPK_USABLE)
            .cloned();
        let current = entry.sessions.first().is_some_and(|s| s.ratchet.can_send());
        let mut secrecy = Secrecy::Forward;
        if let Some((bundle, spent)) = usable
            && (entry.fresh || !current)
        {
            let ek = KeyPair::generate(rng);
            let secret = me.static_secret_bytes();
            let mut parts = vec![
                dh(&secret, &bundle.spk)?,
                ek.dh(&peer_static.0)?,
                ek.dh(&bundle.spk)?,
            ];
            let opk = bundle.opk.filter(|_| !spent);
            match opk {
                Some((_, key)) => parts.push(ek.dh(&key)?),
                None => secrecy = Secrecy::SignedPrekeyOnly,
            }
            let refs: Vec<&[u8; 32]> = parts.iter().map(|p| &**p).collect();
            let sk = x3dh(&refs);
            let ratchet = Ratchet::init_sender(&sk, bundle.spk, rng)?;
            entry.sessions.insert(
                0,
                Session {
                    ek: ek.public(),
                    ratchet,
                    init: Some(InitBlock {
                        ek: ek.public(),
                        spk_id: bundle.spk_id,
                        opk_id: opk.map(|(id, _)| id),
                    }),
                },
            );
            entry.sessions.truncate(SESSIONS_PER_PEER);
            entry.fresh = false;
            if let Some((_, spent)) = entry.theirs.as_mut() {
                *spent = true;
            }
        } else if !current {
            return Ok(None);
        }
        let session = &mut entry.sessions[0];
        if session.init.is_some_and(|i| i.opk_id.is_none()) {
            secrecy = Secrecy::SignedPrekeyOnly;
        }
        let (header, ciphertext) = session.ratchet.encrypt(plaintext, &ad(&me.key(), peer))?;
        self.dirty.insert(*peer);
        Ok(Some((
            RatchetMessage {
                init: session.init,
                // Only a session started from an invite (no one-time prekey)
                // may be with someone who does not know us yet; a live
                // bundle came from someone who does, and a card would lift
                // the envelope into a larger size.
                card: if session.init.is_some_and(|i| i.opk_id.is_none()) {
                    card.to_vec()
                } else {
                    Vec::new()
                },
                header,
                ciphertext,
            },
            secrecy,
        )))
    }

    /// Opens a message `peer` sealed for us. On failure nothing changes.
    pub fn open<R: RngCore + CryptoRng>(
        &mut self,
        me: &Identity,
        peer: &IdentityKey,
        peer_static: &StaticKey,
        msg: &RatchetMessage,
        now: Time,
        rng: &mut R,
    ) -> Result<Vec<u8>, PrekeyError> {
        let ad = ad(peer, &me.key());
        // Work on a copy: nothing is kept for a sender whose message does
        // not open (anyone can send one).
        let mut entry = self.peers.get(peer).cloned().unwrap_or_default();
        // An existing session: the one the init names, or any that opens it.
        let named = msg
            .init
            .and_then(|init| entry.sessions.iter().position(|s| s.ek == init.ek));
        let candidates: Vec<usize> = match (msg.init, named) {
            (_, Some(i)) => vec![i],
            (None, None) => (0..entry.sessions.len()).collect(),
            (Some(_), None) => Vec::new(),
        };
        for i in candidates {
            let mut s = entry.sessions[i].clone();
            if let Ok(plain) = s
                .ratchet
                .decrypt(&msg.header, &msg.ciphertext, &ad, now, rng)
            {
                // Heard from them in this session: stop repeating our init.
                if msg.init.is_none() {
                    s.init = None;
                }
                entry.sessions.remove(i);
                entry.sessions.insert(0, s);
                self.peers.insert(*peer, entry);
                self.dirty.insert(*peer);
                return Ok(plain);
            }
        }
        let Some(init) = msg.init.filter(|_| named.is_none()) else {
            return Err(PrekeyError::NoSession);
        };
        // A new session they started from a bundle of ours.
        let spk = self
            .spks
            .iter()
            .find(|s| s.id == init.spk_id)
            .ok_or(PrekeyError::UnknownPrekey)?;
        let opk_at = match init.opk_id {
            Some(id) => Some(
                entry
                    .mine
                    .iter()
                    .position(|(i, _)| *i == id)
                    .ok_or(PrekeyError::UnknownPrekey)?,
            ),
            None => None,
        };
        let secret = me.static_secret_bytes();
        let mut parts = vec![
            spk.pair.dh(&peer_static.0)?,
            dh(&secret, &init.ek)?,
            spk.pair.dh(&init.ek)?,
        ];
        if let Some(at) = opk_at {
            parts.push(entry.mine[at].1.dh(&init.ek)?);
        }
        let refs: Vec<&[u8; 32]> = parts.iter().map(|p| &**p).collect();
        let sk = x3dh(&refs);
        let mut ratchet = Ratchet::init_receiver(&sk, spk.pair.clone());
        let plain = ratchet.decrypt(&msg.header, &msg.ciphertext, &ad, now, rng)?;
        if let Some(at) = opk_at {
            // Spent: deleting it is what makes the message unreadable later.
            entry.mine.remove(at);
        }
        entry.sessions.insert(
            0,
            Session {
                ek: init.ek,
                ratchet,
                init: None,
            },
        );
        entry.sessions.truncate(SESSIONS_PER_PEER);
        self.peers.insert(*peer, entry);
        self.dirty.insert(*peer);
        Ok(plain)
    }

    /// Deletes what its schedule says is due: signed prekeys older than
    /// [`SPK_KEEP`] (the newest is kept while it is all there is) and keys of
    /// skipped messages older than [`SKIPPED_KEEP`].
    pub fn handle_timeout(&mut self, now: Time) {
        let before = self.spks.len();
        let newest = self.spks.last().map(|s| s.id);
        self.spks
            .retain(|s| now.since(s.created) < SPK_KEEP || Some(s.id) == newest);
        if self.spks.len() != before {
            self.dirty_spk = true;
        }
        // Due at `noted + SKIPPED_KEEP`: what was noted at or before `now - KEEP` goes.
        let cutoff = Time::from_millis(
            (now.as_millis() + 1).saturating_sub(SKIPPED_KEEP.as_millis() as u64),
        );
        for (peer, entry) in &mut self.peers {
            for s in &mut entry.sessions {
                let had = s.ratchet.skipped();
                s.ratchet.forget_skipped_before(cutoff);
                if s.ratchet.skipped() != had {
                    self.dirty.insert(*peer);
                }
            }
        }
    }

    /// Rotates the signed prekey on schedule once there is one (so the old
    /// one can be deleted on its own schedule even if no contact asks).
    pub fn rotate_on_schedule<R: RngCore + CryptoRng>(
        &mut self,
        me: &Identity,
        now: Time,
        rng: &mut R,
    ) {
        if !self.spks.is_empty() {
            self.rotate_if_due(me, now, rng);
        }
    }

    /// When something next falls due: a rotation or a deletion.
    pub fn poll_timeout(&self) -> Option<Time> {
        let rotate = self.spks.last().map(|s| s.created + SPK_ROTATE);
        let spk = self
            .spks
            .iter()
            .rev()
            .skip(1)
            .map(|s| s.created + SPK_KEEP)
            .chain(rotate)
            .min();
        let skipped = self
            .peers
            .values()
            .flat_map(|p| &p.sessions)
            .filter(|s| s.ratchet.skipped() > 0)
            .map(|s| s.ratchet.oldest_skipped() + SKIPPED_KEEP)
            .min();
        spk.into_iter().chain(skipped).min()
    }

    /// Drops the ratchet sessions with a contact, keeping the prekeys (what
    /// an attacker holding the state can also do, to start over from them).
    pub fn forget_sessions(&mut self, peer: &IdentityKey) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.sessions.clear();
            self.dirty.insert(*peer);
        }
    }

    /// Forgets everything about a contact.
    pub fn forget(&mut self, peer: &IdentityKey) {
        if self.peers.remove(peer).is_some() {
            self.dirty.insert(*peer);
        }
    }

    /// The signed prekeys held, for status screens and tests.
    pub fn signed_prekeys(&self) -> usize {
        self.spks.len()
    }

    /// Records changed since the last call: (settings key, new value or
    /// `None` to delete).
    pub fn take_changes(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.dirty_spk) {
            out.push((SPK_KEY.to_owned(), Some(self.encode_spks())));
        }
        for peer in std::mem::take(&mut self.dirty) {
            let key = format!(
                "{PEER_PREFIX}{}",
                data_encoding::HEXLOWER.encode(peer.as_bytes())
            );
            out.push((key, self.peers.get(&peer).map(encode_peer)));
        }
        out
    }

    /// Restores the state from the stored records ([`STORE_PREFIX`]).
    pub fn load<'a>(
        records: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, PrekeyError> {
        let mut out = Self::default();
        for (key, value) in records {
            let mut r = Reader::new(value);
            if key == SPK_KEY {
                out.next_id = r.u32("next prekey id")?;
                let n = r.u8("signed prekeys")?;
                for _ in 0..n {
                    out.spks.push(SignedPrekey {
                        id: r.u32("prekey id")?,
                        pair: KeyPair::decode(&mut r)?,
                        created: Time::from_millis(r.u64("created")?),
                        signature: r.array("signature")?,
                    });
                }
            } else if let Some(hex) = key.strip_prefix(PEER_PREFIX) {
                let bytes = data_encoding::HEXLOWER
                    .decode(hex.as_bytes())
                    .map_err(|_| DecodeError::Invalid("prekey record key"))?;
                let bytes: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| DecodeError::Invalid("prekey record key"))?;
                let peer = IdentityKey::from_bytes(bytes)
                    .map_err(|_| DecodeError::Invalid("prekey record key"))?;
                out.peers.insert(peer, decode_peer(&mut r)?);
            } else {
                continue;
            }
            r.finish()?;
        }
        Ok(out)
    }

    fn encode_spks(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(8 + self.spks.len() * 140);
        w.u32(self.next_id).u8(self.spks.len() as u8);
        for s in &self.spks {
            w.u32(s.id);
            s.pair.encode(&mut w);
            w.u64(s.created.as_millis()).raw(&s.signature);
        }
        w.into_vec()
    }
}

fn encode_peer(p: &Peer) -> Vec<u8> {
    let mut w = Writer::with_capacity(1024);
    match &p.theirs {
        Some((b, spent)) => {
            w.u8(1);
            b.encode(&mut w);
            w.u8(u8::from(*spent));
        }
        None => {
            w.u8(0);
        }
    }
    w.u8(u8::from(p.fresh));
    w.u64(p.theirs_at.as_millis());
    w.u8(p.mine.len() as u8);
    for (id, pair) in &p.mine {
        w.u32(*id);
        pair.encode(&mut w);
    }
    w.u8(p.sessions.len() as u8);
    for s in &p.sessions {
        w.raw(&s.ek);
        match &s.init {
            Some(init) => {
                w.u8(1).u32(init.spk_id);
                match init.opk_id {
                    Some(id) => w.u8(1).u32(id),
                    None => w.u8(0),
                };
            }
            None => {
                w.u8(0);
            }
        }
        s.ratchet.encode(&mut w);
    }
    w.into_vec()
}

fn decode_peer(r: &mut Reader<'_>) -> Result<Peer, DecodeError> {
    let flag = |r: &mut Reader<'_>, field| match r.u8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid(field)),
    };
    let theirs = if flag(r, "bundle present")? {
        Some((Bundle::decode(r)?, flag(r, "bundle spent")?))
    } else {
        None
    };
    let fresh = flag(r, "bundle fresh")?;
    let theirs_at = Time::from_millis(r.u64("bundle received")?);
    let mut mine = Vec::new();
    for _ in 0..r.u8("one-time prekeys")?.min(OPKS_PER_PEER as u8 + 1) {
        mine.push((r.u32("one-time prekey id")?, KeyPair::decode(r)?));
    }
    let mut sessions = Vec::new();
    for _ in 0..r.u8("sessions")?.min(SESSIONS_PER_PEER as u8 + 1) {
        let ek = r.array("session key")?;
        let init = if flag(r, "init present")? {
            let spk_id = r.u32("prekey id")?;
            let opk_id = if flag(r, "one-time prekey present")? {
                Some(r.u32("one-time prekey id")?)
            } else {
                None
            };
            Some(InitBlock { ek, spk_id, opk_id })
        } else {
            None
        };
        sessions.push(Session {
            ek,
            ratchet: Ratchet::decode(r)?,
            init,
        });
    }
    Ok(Peer {
        theirs,
        fresh,
        theirs_at,
        mine,
        sessions,
    })
}

#[cfg(test)]
mod tests;
