//! What a node carries for others (and its own envelopes in flight), with
//! the bounds that keep a relay from being used as free storage.
//!
//! Bounds: envelopes carried for others take at most `capacity_bytes`; any
//! one neighbour's share of that is at most `max_share_percent`; an envelope
//! must expire within `max_ttl` and have hops left. The node's own envelopes
//! never count against the capacity and are never evicted. Envelopes proven
//! delivered leave a tombstone (bounded) so they are not taken again.
//!
//! When full, room is made from the neighbour who handed us the most bytes
//! (the newcomer counted with its sender), that neighbour's oldest envelope
//! first; if the newcomer's own sender is the heaviest and holds nothing
//! more, the newcomer is refused and nothing is evicted ("longest queue
//! drop"). What an envelope claims about itself — its expiry, its copies —
//! buys it nothing here: a flooder pushes out its own envelopes before an
//! honest neighbour's, and a far expiry no longer outranks a near one (it
//! did: soonest-expiring-first let 7-day junk evict honest 24-hour mail).
//! Fresh identities each start with nothing held, so an attacker who rotates
//! them gains room only while each of its identities holds less than the
//! honest neighbours do (docs/THREAT_MODEL.md, "carrier flooding").

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ops::Bound;
use std::time::Duration;

use crate::identity::IdentityKey;
use crate::ids::MessageId;
use crate::mesh::carried::{Carried, EnvelopeId, ack_hash};
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
    /// Bytes held for each neighbour, and the same ordered by bytes.
    by_neighbour: BTreeMap<IdentityKey, usize>,
    loads: BTreeSet<(usize, IdentityKey)>,
    /// Each neighbour's envelopes in the order they arrived.
    queues: BTreeMap<IdentityKey, BTreeSet<(u64, EnvelopeId)>>,
    arrived: BTreeMap<EnvelopeId, u64>,
    arrivals: u64,
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
        if self.share_of(&from) + size > share {
            return Err(Refusal::OverShare);
        }
        if size > self.limits.capacity_bytes {
            return Err(Refusal::Full);
        }
        let free = self
            .limits
            .capacity_bytes
            .saturating_sub(self.relayed_bytes);
        let evicted = self.make_room(from, size, size.saturating_sub(free))?;
        for id in &evicted {
            self.remove(id);
        }
        self.generation += 1;
        self.relayed_bytes += size;
        self.add_load(from, size);
        self.arrivals += 1;
        self.queues
            .entry(from)
            .or_default()
            .insert((self.arrivals, env.id));
        self.arrived.insert(env.id, self.arrivals);
        self.by_expiry.insert((env.expiry, env.id));
        self.held.insert(env.id, Held { env, origin, size });
        Ok(evicted)
    }

    /// Which envelopes to evict so `need` more bytes fit for a newcomer of
    /// `size` from `from`: repeatedly the oldest envelope of whoever holds
    /// the most (the newcomer counted with `from`). Refused, with nothing
    /// chosen, when the newcomer itself would be the one to go.
    fn make_room(
        &self,
        from: IdentityKey,
        size: usize,
        mut need: usize,
    ) -> Result<Vec<EnvelopeId>, Refusal> {
        let mut evicted = Vec::new();
        if need == 0 {
            return Ok(evicted);
        }
        // Loads only fall as envelopes are chosen, so the heaviest are taken
        // from `loads` lazily, as they can outrank what is in the heap. At
        // equal loads the newcomer's sender goes first: a fresh identity
        // cannot push out a neighbour holding as much as it would.
        let mut heap = BinaryHeap::from([(self.share_of(&from) + size, true, from)]);
        let mut heaviest = self
            .loads
            .iter()
            .rev()
            .filter(|(_, k)| *k != from)
            .map(|&(load, k)| (load, false, k))
            .peekable();
        // The last envelope chosen from each neighbour's queue.
        let mut taken: BTreeMap<IdentityKey, (u64, EnvelopeId)> = BTreeMap::new();
        while need > 0 {
            while let Some(&next) = heaviest.peek() {
                if heap.peek().is_some_and(|top| *top >= next) {
                    break;
                }
                heap.push(next);
                heaviest.next();
            }
            let Some((load, newcomer_s, who)) = heap.pop() else {
                return Err(Refusal::Full);
            };
            let after = match taken.get(&who) {
                Some(last) => Bound::Excluded(*last),
                None => Bound::Unbounded,
            };
            let Some(&(seq, id)) = self
                .queues
                .get(&who)
                .and_then(|q| q.range((after, Bound::Unbounded)).next())
            else {
                // Only the newcomer is left of the heaviest sender's: it goes.
                return Err(Refusal::Full);
            };
            taken.insert(who, (seq, id));
            let freed = self.held.get(&id).map_or(0, |h| h.size);
            evicted.push(id);
            need = need.saturating_sub(freed);
            if load > freed {
                heap.push((load - freed, newcomer_s, who));
            }
        }
        Ok(evicted)
    }

    fn add_load(&mut self, who: IdentityKey, size: usize) {
        let old = self.share_of(&who);
        self.loads.remove(&(old, who));
        let new = old + size;
        self.by_neighbour.insert(who, new);
        self.loads.insert((new, who));
    }

    fn sub_load(&mut self, who: IdentityKey, size: usize) {
        let old = self.share_of(&who);
        self.loads.remove(&(old, who));
        let new = old.saturating_sub(size);
        if new == 0 {
            self.by_neighbour.remove(&who);
        } else {
            self.by_neighbour.insert(who, new);
            self.loads.insert((new, who));
        }
    }

    pub fn remove(&mut self, id: &EnvelopeId) -> Option<Held> {
        let held = self.held.remove(id)?;
        self.generation += 1;
        self.own_by_expiry.remove(&(held.env.expiry, *id));
        if let Origin::Relayed { from } = held.origin {
            self.relayed_bytes -= held.size;
            self.by_expiry.remove(&(held.env.expiry, *id));
            self.sub_load(from, held.size);
            if let Some(seq) = self.arrived.remove(id)
                && let Some(q) = self.queues.get_mut(&from)
            {
                q.remove(&(seq, *id));
                if q.is_empty() {
                    self.queues.remove(&from);
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

    fn relayed(rng: &mut ChaCha20Rng) -> Origin {
        Origin::Relayed {
            from: Identity::generate(rng).key(),
        }
    }

    fn room_for(envelopes: usize, share: u8) -> CarrierLimits {
        CarrierLimits {
            capacity_bytes: env(0, 0, 1000).encoded_len() * envelopes,
            max_share_percent: share,
            ..CarrierLimits::default()
        }
    }

    #[test]
    fn when_full_the_heaviest_sender_loses_its_oldest_envelope_first() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (heavy, light) = (relayed(&mut rng), relayed(&mut rng));
        let mut c = Carrier::new(room_for(4, 100));
        let now = Time::from_secs(100);
        // The light sender's envelope expires soonest: it still stays.
        c.accept(env(1, 10, 1000), light, now).unwrap();
        for n in 2..=4 {
            c.accept(env(n, 50, 1000), heavy, now).unwrap();
        }
        assert_eq!(
            c.accept(env(5, 40, 1000), relayed(&mut rng), now),
            Ok(vec![EnvelopeId([2; 16])])
        );
        assert!(c.get(&EnvelopeId([1; 16])).is_some());
        assert_eq!(c.relayed_bytes(), c.limits().capacity_bytes);
    }

    #[test]
    fn a_far_expiry_buys_a_flooder_no_room_over_an_honest_neighbour() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let (honest, flooder) = (relayed(&mut rng), relayed(&mut rng));
        let mut c = Carrier::new(room_for(4, 100));
        let now = Time::from_secs(100);
        let day = 24 * 3600;
        c.accept(env(1, day, 1000), honest, now).unwrap();
        for n in 2..=4 {
            c.accept(env(n, 7 * day - 1, 1000), flooder, now).unwrap();
        }
        // Soonest-expiring-first evicted the honest 24-hour envelope here.
        for n in 5..=20 {
            let evicted = c.accept(env(n, 7 * day - 1, 1000), flooder, now).unwrap();
            assert_eq!(evicted, vec![EnvelopeId([n - 3; 16])]);
            assert!(c.get(&EnvelopeId([1; 16])).is_some(), "after {n}");
        }
    }

    #[test]
    fn fresh_identities_each_holding_more_than_an_honest_neighbour_push_out_only_their_own() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let honest = relayed(&mut rng);
        let mut c = Carrier::new(room_for(8, 100));
        let now = Time::from_secs(100);
        c.accept(env(0, 3600, 1000), honest, now).unwrap();
        // Rotating identities, two envelopes each, far more than fit.
        for n in 1..=100u8 {
            let sybil = relayed(&mut rng);
            for k in 0..2 {
                let _ = c.accept(
                    env(n.wrapping_mul(2).wrapping_add(k), 7 * 86400 - 1, 1000),
                    sybil,
                    now,
                );
            }
            assert!(c.get(&EnvelopeId([0; 16])).is_some(), "identity {n}");
        }
    }

    #[test]
    fn the_heaviest_sender_s_newcomer_replaces_its_own_oldest_or_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (a, b) = (relayed(&mut rng), relayed(&mut rng));
        let mut c = Carrier::new(room_for(2, 100));
        let now = Time::from_secs(100);
        c.accept(env(1, 10, 1000), a, now).unwrap();
        c.accept(env(2, 30, 1000), b, now).unwrap();
        // a would hold two, b holds one: a's own oldest makes the room.
        assert_eq!(
            c.accept(env(3, 20, 1000), a, now),
            Ok(vec![EnvelopeId([1; 16])])
        );
        // A newcomer larger than anything a neighbour holds: its sender
        // would be the heaviest with nothing else to give up, so it is
        // refused and nothing is evicted.
        assert_eq!(
            c.accept(env(4, 20, 1500), relayed(&mut rng), now),
            Err(Refusal::Full)
        );
        // As much as each neighbour holds: at the tie the newcomer goes.
        assert_eq!(
            c.accept(env(5, 20, 1000), relayed(&mut rng), now),
            Err(Refusal::Full)
        );
        assert!(c.get(&EnvelopeId([2; 16])).is_some());
        assert!(c.get(&EnvelopeId([3; 16])).is_some());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn loads_and_queues_follow_every_removal() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let a = relayed(&mut rng);
        let Origin::Relayed { from } = a else {
            unreachable!()
        };
        let mut c = Carrier::new(room_for(4, 100));
        let now = Time::from_secs(100);
        c.accept(env(1, 10, 1000), a, now).unwrap();
        c.accept(env(2, 20, 1000), a, now).unwrap();
        c.acknowledge(&EnvelopeId([1; 16]), &[1; 16]).unwrap();
        assert_eq!(c.share_of(&from), env(0, 0, 1000).encoded_len());
        c.expire(Time::from_secs(200));
        assert_eq!(c.share_of(&from), 0);
        assert!(c.loads.is_empty() && c.queues.is_empty() && c.arrived.is_empty());
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

    proptest::proptest! {
        /// Whatever arrives, leaves, expires or is proven delivered, in any
        /// order: the bytes held, each neighbour's load and queue, and the
        /// expiry index agree, capacity and share hold, and nothing is
        /// evicted for a refused newcomer.
        #[test]
        fn bookkeeping_holds_under_any_sequence(
            ops in proptest::collection::vec((0u8..4, 0usize..6, 1usize..3000, 1u64..500), 1..300)
        ) {
            let mut rng = ChaCha20Rng::seed_from_u64(9);
            let who: Vec<Origin> = (0..6).map(|_| relayed(&mut rng)).collect();
            let mut c = Carrier::new(room_for(6, 40));
            let mut now = Time::from_secs(100);
            let mut n = 0u8;
            for (op, from, size, life) in ops {
                match op {
                    0 | 1 => {
                        n = n.wrapping_add(1);
                        let before = c.len();
                        let mut e = env(n, life, size);
                        e.expiry = now + std::time::Duration::from_secs(life);
                        match c.accept(e, who[from], now) {
                            Ok(evicted) => proptest::prop_assert_eq!(c.len(), before + 1 - evicted.len()),
                            Err(_) => proptest::prop_assert_eq!(c.len(), before),
                        }
                    }
                    2 => {
                        let id = EnvelopeId([n.wrapping_sub(size as u8 % 8); 16]);
                        c.remove(&id);
                    }
                    _ => {
                        now = now + std::time::Duration::from_secs(life);
                        c.expire(now);
                    }
                }
                let held: usize = c.held.values().filter(|h| matches!(h.origin, Origin::Relayed { .. })).map(|h| h.size).sum();
                proptest::prop_assert_eq!(held, c.relayed_bytes());
                proptest::prop_assert!(c.relayed_bytes() <= c.limits().capacity_bytes);
                let loads: usize = c.by_neighbour.values().sum();
                proptest::prop_assert_eq!(loads, held);
                proptest::prop_assert_eq!(c.loads.len(), c.by_neighbour.len());
                let share = c.limits().capacity_bytes * 40 / 100;
                for (k, load) in &c.by_neighbour {
                    proptest::prop_assert!(*load <= share);
                    proptest::prop_assert!(c.loads.contains(&(*load, *k)));
                    let queued: usize = c.queues.get(k).map_or(0, |q| q.iter().map(|(_, id)| c.held[id].size).sum());
                    proptest::prop_assert_eq!(queued, *load);
                }
                proptest::prop_assert_eq!(c.arrived.len(), c.by_expiry.len());
            }
        }
    }
}
