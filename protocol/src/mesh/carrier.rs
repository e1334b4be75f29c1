//! What a node carries for others (and its own envelopes in flight), with
//! the bounds that keep a relay from being used as free storage.
//!
//! Bounds: envelopes carried for others take at most `capacity_bytes`; any
//! one neighbour's share of that is at most `max_share_percent`; an envelope
//! must expire within `max_ttl` and have hops left. When full, the envelope
//! expiring soonest goes first — the newcomer itself if it would be that one.
//! The node's own envelopes never count against the capacity and are never
//! evicted. Envelopes proven delivered leave a tombstone (bounded) so they are
//! not taken again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::identity::IdentityKey;
use crate::mesh::envelope::{Carried, EnvelopeId, ack_hash};
use crate::payload::MessageId;
use crate::time::Time;

#[derive(Debug, Clone, Copy)]
pub struct CarrierLimits {
    pub capacity_bytes: usize,
    pub max_share_percent: u8,
    pub max_ttl: Duration,
    pub max_hops: u8,
    pub max_tombstones: usize,
}

impl Default for CarrierLimits {
    fn default() -> Self {
        Self {
            capacity_bytes: 8 * 1024 * 1024,
            max_share_percent: 25,
            max_ttl: Duration::from_secs(7 * 24 * 3600),
            max_hops: 32,
            max_tombstones: 65536,
        }
    }
}

/// Whose an envelope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Ours: the message it seals, to whom.
    Own {
        peer: IdentityKey,
        message: MessageId,
    },
    /// Handed to us by this neighbour (its hop identity).
    Relayed { from: IdentityKey },
}

#[derive(Debug, Clone)]
pub struct Held {
    pub env: Carried,
    pub origin: Origin,
    pub size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Duplicate,
    AlreadyDelivered,
    Expired,
    TooFarAhead,
    NoHopsLeft,
    OverShare,
    Full,
}

#[derive(Debug, Default)]
pub struct Carrier {
    limits: CarrierLimits,
    held: BTreeMap<EnvelopeId, Held>,
    /// Relayed envelopes by expiry, for eviction.
    by_expiry: BTreeSet<(Time, EnvelopeId)>,
    relayed_bytes: usize,
    by_neighbour: BTreeMap<IdentityKey, usize>,
    tombstones: BTreeMap<EnvelopeId, Time>,
    tombstones_by_expiry: BTreeSet<(Time, EnvelopeId)>,
    /// Own envelopes by expiry.
    own_by_expiry: BTreeSet<(Time, EnvelopeId)>,
    /// Changes whenever the set of held envelopes changes.
    generation: u64,
}

impl Carrier {
    pub fn new(limits: CarrierLimits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    pub fn limits(&self) -> &CarrierLimits {
        &self.limits
    }

    /// Takes an envelope in. Returns the ids evicted to make room.
    pub fn accept(
        &mut self,
        env: Carried,
        origin: Origin,
        now: Time,
    ) -> Result<Vec<EnvelopeId>, Refusal> {
        if self.held.contains_key(&env.id) {
            return Err(Refusal::Duplicate);
        }
        if self.tombstones.contains_key(&env.id) {
            return Err(Refusal::AlreadyDelivered);
        }
        if env.expiry <= now {
            return Err(Refusal::Expired);
        }
        let size = env.encoded_len();
        let Origin::Relayed { from } = origin else {
            self.generation += 1;
            self.own_by_expiry.insert((env.expiry, env.id));
            self.held.insert(env.id, Held { env, origin, size });
            return Ok(Vec::new());
        };
        if env.expiry > now + self.limits.max_ttl {
            return Err(Refusal::TooFarAhead);
        }
        if env.hop_limit == 0 {
            return Err(Refusal::NoHopsLeft);
        }
        let share = self.limits.capacity_bytes * usize::from(self.limits.max_share_percent) / 100;
        if self.by_neighbour.get(&from).copied().unwrap_or(0) + size > share {
            return Err(Refusal::OverShare);
        }
        if size > self.limits.capacity_bytes {
            return Err(Refusal::Full);
        }
        // Make room from the envelopes that expire before the newcomer, soonest
        // first; if they cannot free enough, the newcomer is refused and
        // nothing is evicted.
        let mut evicted = Vec::new();
        let mut free = self
            .limits
            .capacity_bytes
            .saturating_sub(self.relayed_bytes);
        for &(expiry, id) in &self.by_expiry {
            if free >= size {
                break;
            }
            if expiry >= env.expiry {
                return Err(Refusal::Full);
            }
            free += self.held.get(&id).map_or(0, |h| h.size);
            evicted.push(id);
        }
        if free < size {
            return Err(Refusal::Full);
        }
        for id in &evicted {
            self.remove(id);
        }
        self.generation += 1;
        self.relayed_bytes += size;
        *self.by_neighbour.entry(from).or_default() += size;
        self.by_expiry.insert((env.expiry, env.id));
        self.held.insert(env.id, Held { env, origin, size });
        Ok(evicted)
    }

    pub fn remove(&mut self, id: &EnvelopeId) -> Option<Held> {
        let held = self.held.remove(id)?;
        self.generation += 1;
        self.own_by_expiry.remove(&(held.env.expiry, *id));
        if let Origin::Relayed { from } = held.origin {
            self.relayed_bytes -= held.size;
            self.by_expiry.remove(&(held.env.expiry, *id));
            if let Some(b) = self.by_neighbour.get_mut(&from) {
                *b -= held.size;
                if *b == 0 {
                    self.by_neighbour.remove(&from);
                }
            }
        }
        Some(held)
    }

    /// Applies a delivery proof: if `secret` opens the envelope's ack hash,
    /// drops the envelope and remembers it was delivered.
    pub fn acknowledge(&mut self, id: &EnvelopeId, secret: &[u8; 16]) -> Option<Held> {
        let held = self.held.get(id)?;
        if held.env.ack_hash != ack_hash(secret) {
            return None;
        }
        let until = held.env.expiry;
        let held = self.remove(id)?;
        self.tombstone(*id, until);
        Some(held)
    }

    /// Remembers that `id` was delivered until it would have expired.
    pub fn tombstone(&mut self, id: EnvelopeId, until: Time) {
        if self.tombstones.insert(id, until).is_none() {
            self.tombstones_by_expiry.insert((until, id));
        }
        while self.tombstones.len() > self.limits.max_tombstones {
            let Some((t, old)) = self.tombstones_by_expiry.pop_first() else {
                break;
            };
            let _ = t;
            self.tombstones.remove(&old);
        }
    }

    pub fn is_tombstoned(&self, id: &EnvelopeId) -> bool {
        self.tombstones.contains_key(id)
    }

    /// When the next held envelope expires.
    pub fn earliest_expiry(&self) -> Option<Time> {
        let relayed = self.by_expiry.first().map(|(t, _)| *t);
        let own = self.own_by_expiry.first().map(|(t, _)| *t);
        relayed.into_iter().chain(own).min()
    }

    /// A number that changes whenever the held set does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Drops what expired; returns the envelopes dropped.
    pub fn expire(&mut self, now: Time) -> Vec<Held> {
        let due = |set: &BTreeSet<(Time, EnvelopeId)>| -> Vec<EnvelopeId> {
            set.iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, id)| *id)
                .collect()
        };
        let mut expired = due(&self.by_expiry);
        expired.extend(due(&self.own_by_expiry));
        while let Some(&(t, id)) = self.tombstones_by_expiry.first() {
            if t > now {
                break;
            }
            self.tombstones_by_expiry.pop_first();
            self.tombstones.remove(&id);
        }
        expired.iter().filter_map(|id| self.remove(id)).collect()
    }

    pub fn get(&self, id: &EnvelopeId) -> Option<&Held> {
        self.held.get(id)
    }

    pub fn get_mut(&mut self, id: &EnvelopeId) -> Option<&mut Held> {
        self.held.get_mut(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Held> {
        self.held.values()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Bytes carried for others.
    pub fn relayed_bytes(&self) -> usize {
        self.relayed_bytes
    }

    /// Bytes held in all, own envelopes included.
    pub fn total_bytes(&self) -> usize {
        self.held.values().map(|h| h.size).sum()
    }

    pub fn share_of(&self, neighbour: &IdentityKey) -> usize {
        self.by_neighbour.get(neighbour).copied().unwrap_or(0)
    }

    /// The own envelope sealing `message` to `peer`, if one is out.
    pub fn own_for(&self, peer: &IdentityKey, message: &MessageId) -> Option<EnvelopeId> {
        self.held.values().find_map(|h| match h.origin {
            Origin::Own {
                peer: p,
                message: m,
            } if &p == peer && &m == message => Some(h.env.id),
            _ => None,
        })
    }
}

/// How a held envelope is stored:
///
/// ```text
/// record = version:u8 (=1) origin:u8
///            1 own:     peer:[32] message:[16] secret:[16]
///            2 relayed: from:[32]
///          carried envelope
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedRecord {
    pub env: Carried,
    pub origin: Origin,
    /// For own envelopes: the delivery secret.
    pub secret: Option<[u8; 16]>,
}

impl CarriedRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = crate::wire::Writer::with_capacity(self.env.encoded_len() + 80);
        w.u8(1);
        match self.origin {
            Origin::Own { peer, message } => {
                w.u8(1)
                    .raw(peer.as_bytes())
                    .raw(&message.0)
                    .raw(&self.secret.unwrap_or([0; 16]));
            }
            Origin::Relayed { from } => {
                w.u8(2).raw(from.as_bytes());
            }
        }
        self.env.encode(&mut w);
        w.into_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, crate::wire::DecodeError> {
        use crate::wire::{DecodeError, Reader};
        let mut r = Reader::new(bytes);
        let version = r.u8("carried record version")?;
        if version != 1 {
            return Err(DecodeError::Version {
                field: "carried record",
                version,
            });
        }
        let key = |r: &mut Reader<'_>| {
            IdentityKey::from_bytes(r.array("identity key")?)
                .map_err(|_| DecodeError::Invalid("identity key"))
        };
        let (origin, secret) = match r.u8("origin")? {
            1 => {
                let peer = key(&mut r)?;
                let message = MessageId(r.array("message id")?);
                (Origin::Own { peer, message }, Some(r.array("secret")?))
            }
            2 => (Origin::Relayed { from: key(&mut r)? }, None),
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "origin",
                    kind,
                });
            }
        };
        let env = Carried::decode(&mut r)?;
        r.finish()?;
        Ok(Self {
            env,
            origin,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::mesh::tag::Tag;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn env(n: u8, life_s: u64, size: usize) -> Carried {
        Carried {
            id: EnvelopeId([n; 16]),
            epoch: 0,
            tag: Tag([0; 16]),
            expiry: Time::from_secs(100 + life_s),
            hop_limit: 4,
            copies: 1,
            ack_hash: ack_hash(&[n; 16]),
            sealed: vec![0; size],
        }
    }

    #[test]
    fn when_full_the_soonest_to_expire_goes_first_and_a_sooner_newcomer_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let from = |rng: &mut ChaCha20Rng| Origin::Relayed {
            from: Identity::generate(rng).key(),
        };
        let size = env(0, 0, 1000).encoded_len();
        let limits = CarrierLimits {
            capacity_bytes: size * 3,
            max_share_percent: 100,
            ..CarrierLimits::default()
        };
        let mut c = Carrier::new(limits);
        let now = Time::from_secs(100);
        for (n, life) in [(1, 50), (2, 10), (3, 30)] {
            c.accept(env(n, life, 1000), from(&mut rng), now).unwrap();
        }
        assert_eq!(
            c.accept(env(4, 40, 1000), from(&mut rng), now),
            Ok(vec![EnvelopeId([2; 16])])
        );
        assert_eq!(
            c.accept(env(5, 5, 1000), from(&mut rng), now),
            Err(Refusal::Full)
        );
        assert!(c.get(&EnvelopeId([1; 16])).is_some());
    }

    #[test]
    fn a_newcomer_that_needs_more_room_than_sooner_envelopes_free_evicts_nothing() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut from = || Origin::Relayed {
            from: Identity::generate(&mut rng).key(),
        };
        let size = env(0, 0, 1000).encoded_len();
        let limits = CarrierLimits {
            capacity_bytes: size * 2,
            max_share_percent: 100,
            ..CarrierLimits::default()
        };
        let mut c = Carrier::new(limits);
        let now = Time::from_secs(100);
        c.accept(env(1, 10, 1000), from(), now).unwrap();
        c.accept(env(2, 30, 1000), from(), now).unwrap();
        // Twice the size: it would need both out, but only the first expires
        // before it does.
        assert_eq!(c.accept(env(3, 20, 2000), from(), now), Err(Refusal::Full));
        assert!(c.get(&EnvelopeId([1; 16])).is_some());
        assert!(c.get(&EnvelopeId([2; 16])).is_some());
    }

    #[test]
    fn a_delivery_proof_must_match_and_then_keeps_the_envelope_out() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let origin = Origin::Relayed {
            from: Identity::generate(&mut rng).key(),
        };
        let mut c = Carrier::new(CarrierLimits::default());
        let now = Time::from_secs(100);
        c.accept(env(7, 60, 10), origin, now).unwrap();
        assert!(
            c.acknowledge(&EnvelopeId([7; 16]), &[8; 16]).is_none(),
            "wrong secret"
        );
        assert!(c.acknowledge(&EnvelopeId([7; 16]), &[7; 16]).is_some());
        assert_eq!(
            c.accept(env(7, 60, 10), origin, now),
            Err(Refusal::AlreadyDelivered)
        );
    }

    #[test]
    fn stored_records_round_trip() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let peer = Identity::generate(&mut rng).key();
        for (origin, secret) in [
            (
                Origin::Own {
                    peer,
                    message: MessageId([1; 16]),
                },
                Some([9; 16]),
            ),
            (Origin::Relayed { from: peer }, None),
        ] {
            let r = CarriedRecord {
                env: env(3, 5, 40),
                origin,
                secret,
            };
            assert_eq!(CarriedRecord::decode(&r.encode()).unwrap(), r);
        }
    }
}
