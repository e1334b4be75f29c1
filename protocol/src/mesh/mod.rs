//! Store and forward: envelopes that hop across nodes which are not the
//! recipient and wait in them until someone carries them on.
//!
//! Neighbours exchange [`Summary`] frames — a Bloom filter of the envelope ids
//! each holds, and one of the recipient tags it wants (its own, for the
//! epochs an envelope can live) — and then push each other what the other
//! lacks, as the [`Policy`] allows:
//!
//! - `Epidemic`: everything, until the hop limit runs out (the flooding
//!   baseline, what bitchat does).
//! - `SprayAndWait { copies }`: an envelope starts with `copies`; a holder
//!   with more than one hands half to each new neighbour; with one left it
//!   waits to meet the recipient.
//! - `Direct`: only the sender's own copy, only to the recipient (baseline).
//! - `Prophet`: a copy to a neighbour more likely to meet the recipient, by
//!   encounter history ([`prophet`]; a baseline for the simulator that tells
//!   neighbours what Cairn's routing keeps to itself).
//!
//! Whatever the policy, an envelope goes to a neighbour whose interest filter
//! matches its tag, or who is known to be its recipient. Delivery proofs
//! (`Acks`: the secret whose hash the envelope carries) travel back and make
//! holders drop their copies.
//!
//! This module is sans-I/O like the rest of the crate: the engine feeds it
//! link events and frames, drains [`Mesh::poll_output`] after each, and wakes
//! it at [`Mesh::poll_timeout`].

pub mod bloom;
pub mod carried;
pub mod carrier;
pub mod prophet;
pub mod tag;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::identity::IdentityKey;
use crate::ids::MessageId;
use crate::link::LinkId;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};
use bloom::Bloom;
use carried::{Carried, EnvelopeId};
use carrier::{Carrier, CarrierLimits, Held, Origin, Refusal};
use tag::{Tag, TagKey, epoch_of, tag};

/// Most delivery proofs in one frame.
pub const MAX_ACKS: usize = 256;

/// How envelopes spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Epidemic,
    SprayAndWait {
        copies: u16,
    },
    Direct,
    /// Baseline only: its summaries tell neighbours which tags this node has
    /// seen and how often it meets them.
    Prophet,
}

impl Policy {
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Epidemic => "epidemic",
            Policy::SprayAndWait { .. } => "spray-and-wait",
            Policy::Direct => "direct",
            Policy::Prophet => "prophet",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MeshConfig {
    pub enabled: bool,
    pub policy: Policy,
    /// Send and honour delivery proofs (off only for the flooding baseline).
    pub acks: bool,
    /// Tell neighbours which recipient tags are ours, so they can hand over
    /// what they hold for us. Off means we get mail only by flooding or from
    /// contacts.
    pub announce_interest: bool,
    pub carrier: CarrierLimits,
    /// Lifetime of an envelope we create.
    pub ttl: Duration,
    pub hop_limit: u8,
    /// How often recipient tags change.
    pub epoch: Duration,
    /// How often a long-lived link re-exchanges summaries.
    pub summary_interval: Duration,
    /// Envelopes accepted per minute from a neighbour that is not a contact.
    pub strangers_per_minute: u32,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Chosen on shutdown-square against flooding (docs/PERFORMANCE.md):
            // 256 copies deliver 0.966 of what flooding delivers, 512 give
            // 0.991 at 0.05 of its transmissions.
            policy: Policy::SprayAndWait { copies: 512 },
            acks: true,
            announce_interest: true,
            carrier: CarrierLimits::default(),
            ttl: Duration::from_secs(24 * 3600),
            hop_limit: 16,
            epoch: Duration::from_secs(3600),
            summary_interval: Duration::from_secs(30),
            strangers_per_minute: 120,
        }
    }
}

/// What neighbours tell each other they hold and want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub have: Bloom,
    pub interest: Bloom,
    /// Only under [`Policy::Prophet`] (a baseline): the sender's delivery
    /// predictabilities, `P · 255`, at most [`prophet::MAX_SHARED`], in tag
    /// order. Empty otherwise, and then not on the wire at all.
    pub predictions: Vec<(Tag, u8)>,
}

impl Summary {
    pub fn encode(&self, w: &mut Writer) {
        self.have.encode(w);
        self.interest.encode(w);
        if !self.predictions.is_empty() {
            w.u16(self.predictions.len() as u16);
            for (tag, p) in &self.predictions {
                w.raw(&tag.0).u8(*p);
            }
        }
    }

    pub fn encoded_len(&self) -> usize {
        let predictions = if self.predictions.is_empty() {
            0
        } else {
            2 + 17 * self.predictions.len()
        };
        self.have.encoded_len() + self.interest.encoded_len() + predictions
    }

    /// Reads a summary that runs to the end of `r`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let have = Bloom::decode(r)?;
        let interest = Bloom::decode(r)?;
        let mut predictions = Vec::new();
        if r.remaining() > 0 {
            let count = usize::from(r.u16("prediction count")?);
            if count == 0 || count > prophet::MAX_SHARED {
                return Err(DecodeError::TooLong {
                    field: "predictions",
                    len: count,
                    max: prophet::MAX_SHARED,
                });
            }
            predictions.reserve(count);
            for _ in 0..count {
                let tag = Tag(r.array("prediction tag")?);
                if predictions
                    .last()
                    .is_some_and(|(last, _): &(Tag, u8)| *last >= tag)
                {
                    return Err(DecodeError::Invalid("predictions out of order"));
                }
                predictions.push((tag, r.u8("prediction")?));
            }
        }
        Ok(Self {
            have,
            interest,
            predictions,
        })
    }
}

/// A frame the mesh wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshFrame {
    Summary(Summary),
    Carry(Box<Carried>),
    Acks(Vec<(EnvelopeId, [u8; 16])>),
}

/// What the mesh asks of the engine, in order ([`Mesh::poll_output`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshOutput {
    /// Send this frame on this link.
    Send { link: LinkId, frame: MeshFrame },
    /// An own envelope left on a link for the first time.
    OwnSent {
        peer: IdentityKey,
        message: MessageId,
    },
    /// Persist this envelope (added or changed).
    Stored(EnvelopeId),
    /// Forget this envelope.
    Removed(EnvelopeId),
}

#[derive(Debug)]
struct Neighbour {
    peer: IdentityKey,
    contact: bool,
    have: Option<Bloom>,
    interest: Option<Bloom>,
    /// Under [`Policy::Prophet`]: what its last summary predicted.
    predictions: BTreeMap<Tag, u8>,
    /// Envelopes already handed over on this link.
    given: BTreeSet<EnvelopeId>,
    /// Whether everything we hold was weighed for this neighbour already; after
    /// that, new envelopes reach it as they arrive (`spread`), and later
    /// summaries only refresh its filters and bring delivery proofs.
    weighed: bool,
    next_summary: Time,
    window_start: Time,
    taken_in_window: u32,
}

/// Counters, for status screens and the simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeshStats {
    pub carried: usize,
    pub relayed_bytes: usize,
    pub capacity_bytes: usize,
    pub refused: u64,
    pub transmissions: u64,
}

/// Our tags with every contact: tag → (epoch, contact).
type OwnTags = BTreeMap<Tag, (u32, IdentityKey)>;

pub struct Mesh {
    config: MeshConfig,
    carrier: Carrier,
    neighbours: BTreeMap<LinkId, Neighbour>,
    /// The tag keys we share with each contact.
    tag_keys: Vec<(TagKey, IdentityKey)>,
    /// Our tags with every contact, for the epochs an envelope can live:
    /// (current epoch, tag → (epoch, contact)).
    own: Option<(u32, OwnTags)>,
    /// Delivery proofs we know, to pass on: id → (secret, until).
    proofs: BTreeMap<EnvelopeId, ([u8; 16], Time)>,
    /// The "have" filter neighbours get, kept up to date by insertion.
    have: HaveFilter,
    /// The delivery secrets of our own envelopes still out.
    own_secrets: BTreeMap<EnvelopeId, ([u8; 16], Time)>,
    out: VecDeque<MeshOutput>,
    stats: MeshStats,
    /// Under [`Policy::Prophet`] only.
    prophet: prophet::Predictions,
}

/// The Bloom filter of what we hold (and hold proofs for), grown by
/// insertion as envelopes arrive instead of rebuilt for every summary. What
/// leaves (delivered, expired, evicted) keeps its bits until the next
/// rebuild: a neighbour then merely skips offering us something we no longer
/// want. Rebuilt from scratch, twice as large, once the insertions since the
/// last rebuild exceed what it was sized for.
#[derive(Debug)]
struct HaveFilter {
    bloom: Bloom,
    capacity: usize,
    inserted: usize,
}

impl Default for HaveFilter {
    fn default() -> Self {
        Self {
            bloom: Bloom::for_items(0),
            capacity: 0,
            inserted: 1,
        }
    }
}

impl HaveFilter {
    fn needs_rebuild(&self) -> bool {
        self.inserted > self.capacity
    }

    fn insert(&mut self, id: &EnvelopeId) {
        self.inserted += 1;
        if !self.needs_rebuild() {
            self.bloom.insert(&id.0);
        }
    }

    fn rebuild(&mut self, live: usize, ids: impl Iterator<Item = EnvelopeId>) {
        self.capacity = (live * 2).max(64);
        self.bloom = Bloom::for_items(self.capacity);
        self.inserted = 0;
        for id in ids {
            self.bloom.insert(&id.0);
            self.inserted += 1;
        }
    }
}

/// What a carried envelope means to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// Its tag is ours with this contact: try to open it.
    Mine {
        from: IdentityKey,
    },
    Other,
}

impl Mesh {
    pub fn new(config: MeshConfig) -> Self {
        Self {
            carrier: Carrier::new(config.carrier),
            config,
            neighbours: BTreeMap::new(),
            own: None,
            tag_keys: Vec::new(),
            proofs: BTreeMap::new(),
            own_secrets: BTreeMap::new(),
            have: HaveFilter::default(),
            out: VecDeque::new(),
            stats: MeshStats::default(),
            prophet: prophet::Predictions::default(),
        }
    }

    pub fn config(&self) -> &MeshConfig {
        &self.config
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn stats(&self) -> MeshStats {
        MeshStats {
            carried: self.carrier.len(),
            relayed_bytes: self.carrier.relayed_bytes(),
            capacity_bytes: self.config.carrier.capacity_bytes,
            ..self.stats
        }
    }

    pub fn carrier(&self) -> &Carrier {
        &self.carrier
    }

    /// The next thing for the engine to do; every input queues its outputs
    /// here, in order.
    pub fn poll_output(&mut self) -> Option<MeshOutput> {
        self.out.pop_front()
    }

    /// Whether outputs wait to be polled.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn send(&mut self, frames: Vec<(LinkId, MeshFrame)>) {
        self.out.extend(
            frames
                .into_iter()
                .map(|(link, frame)| MeshOutput::Send { link, frame }),
        );
    }

    /// The epochs an envelope made by a Cairn sender can still be alive in:
    /// its lifetime (`ttl`, a day), not the most a relay would keep
    /// (`max_ttl`, a week) — the interest filter holds every contact's tags in
    /// every slot for each of these epochs. Envelopes living longer than
    /// `ttl` still arrive, by spreading, not by interest.
    fn epochs_alive(&self) -> u32 {
        let e = self.config.epoch.as_millis().max(1);
        let ttl = self.config.ttl.min(self.config.carrier.max_ttl);
        u32::try_from(ttl.as_millis() / e + 1).unwrap_or(u32::MAX)
    }

    /// Our tags for every epoch an envelope made now or earlier may carry,
    /// with every contact.
    fn own_tags(&mut self, me: &IdentityKey, now: Time) -> &OwnTags {
        let epoch = epoch_of(now, self.config.epoch);
        if self.own.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let span = self.epochs_alive().min(24 * 8);
            let mut tags = BTreeMap::new();
            for e in epoch.saturating_sub(span)..=epoch.saturating_add(1) {
                for (key, from) in &self.tag_keys {
                    for slot in 0..tag::SLOTS {
                        tags.insert(tag(key, me, e, slot), (e, *from));
                    }
                }
            }
            self.own = Some((epoch, tags));
        }
        // Just set above when missing.
        #[allow(clippy::unwrap_used)]
        &self.own.as_ref().unwrap().1
    }

    /// Whether `env` is addressed to `me`, and by which contact.
    pub fn recognise(&mut self, me: &IdentityKey, env: &Carried, now: Time) -> Recognised {
        match self.own_tags(me, now).get(&env.tag) {
            Some((epoch, from)) if *epoch == env.epoch => Recognised::Mine { from: *from },
            _ => Recognised::Other,
        }
    }

    /// The tag keys shared with each contact changed (a contact came or went).
    pub fn set_tag_keys(&mut self, keys: Vec<(TagKey, IdentityKey)>) {
        self.tag_keys = keys;
        self.own = None;
    }

    fn summary(&mut self, me: &IdentityKey, now: Time) -> Summary {
        if self.have.needs_rebuild() {
            let ids = self
                .carrier
                .iter()
                .map(|h| h.env.id)
                .chain(self.proofs.keys().copied());
            self.have
                .rebuild(self.carrier.len() + self.proofs.len(), ids);
        }
        let have = self.have.bloom.clone();
        let announce = self.config.announce_interest;
        let tags: Vec<Tag> = self.own_tags(me, now).keys().copied().collect();
        let prophet = self.config.policy == Policy::Prophet;
        let mut interest = Bloom::for_items(tags.len() + usize::from(prophet));
        if announce {
            for t in &tags {
                interest.insert(&t.0);
            }
            if prophet {
                interest.insert(&prophet::stable_tag(me).0);
            }
        }
        let predictions = if prophet {
            self.prophet.shared(now)
        } else {
            Vec::new()
        };
        Summary {
            have,
            interest,
            predictions,
        }
    }

    pub fn link_up(
        &mut self,
        me: &IdentityKey,
        now: Time,
        link: LinkId,
        peer: IdentityKey,
        contact: bool,
    ) {
        if !self.config.enabled {
            return;
        }
        self.neighbours.insert(
            link,
            Neighbour {
                peer,
                contact,
                have: None,
                interest: None,
                predictions: BTreeMap::new(),
                given: BTreeSet::new(),
                weighed: false,
                next_summary: now + self.config.summary_interval,
                window_start: now,
                taken_in_window: 0,
            },
        );
        let summary = self.summary(me, now);
        self.send(vec![(link, MeshFrame::Summary(summary))]);
    }

    pub fn link_down(&mut self, link: LinkId) {
        self.neighbours.remove(&link);
    }

    /// A neighbour told us what it holds and wants: push what it lacks.
    pub fn on_summary(&mut self, now: Time, link: LinkId, summary: Summary) {
        let Some(n) = self.neighbours.get_mut(&link) else {
            return;
        };
        n.have = Some(summary.have);
        n.interest = Some(summary.interest);
        let first = !std::mem::replace(&mut n.weighed, true);
        let prophet = self.config.policy == Policy::Prophet;
        if prophet {
            n.predictions = summary.predictions.into_iter().collect();
            self.learn_predictions(now, link, first);
        }
        let mut out = self.acks_for(link);
        // Under PRoPHET what a neighbour should get changes with every
        // summary; otherwise new envelopes reach it as they come (`spread`).
        if !first && !prophet {
            return self.send(out);
        }
        // Most of what a relay holds waits for its recipient (one copy left):
        // pick out cheaply what this neighbour could get before weighing it.
        let ids = self.candidates_for(now, link);
        for id in ids {
            if let Some(frame) = self.offer(now, link, &id) {
                out.push((link, frame));
            }
        }
        self.send(out);
    }

    /// PRoPHET's updates from a neighbour's summary: the encounter (once per
    /// link), its recipients among the tags we know, and what it predicts.
    fn learn_predictions(&mut self, now: Time, link: LinkId, encounter: bool) {
        let Some(n) = self.neighbours.get(&link) else {
            return;
        };
        let p_peer = if encounter {
            self.prophet
                .met_recipient(prophet::stable_tag(&n.peer), now);
            self.prophet.met_peer(n.peer, now)
        } else {
            self.prophet.of_peer(&n.peer, now)
        };
        if encounter && let Some(interest) = &n.interest {
            let mut met: Vec<Tag> = self
                .prophet
                .tags()
                .chain(self.carrier.iter().map(|h| &h.env.tag))
                .filter(|t| interest.contains(&t.0))
                .copied()
                .collect();
            met.sort();
            met.dedup();
            for tag in met {
                self.prophet.met_recipient(tag, now);
            }
        }
        for (tag, q) in &n.predictions {
            self.prophet
                .through(*tag, p_peer, prophet::dequantize(*q), now);
        }
    }

    /// Under PRoPHET: whether the neighbour meets `tag`'s recipient more
    /// surely than we do.
    fn likelier(&self, n: &Neighbour, tag: &Tag, now: Time) -> bool {
        n.predictions
            .get(tag)
            .is_some_and(|q| prophet::dequantize(*q) > self.prophet.of(tag, now))
    }

    /// The envelopes `offer` might hand to the neighbour on `link`: those the
    /// policy still spreads, and those the neighbour is the recipient of.
    fn candidates_for(&self, now: Time, link: LinkId) -> Vec<EnvelopeId> {
        let Some(n) = self.neighbours.get(&link) else {
            return Vec::new();
        };
        let policy = self.config.policy;
        let peer = n.peer;
        self.carrier
            .iter()
            .filter(|h| {
                let spreads = match policy {
                    Policy::Epidemic => true,
                    Policy::Direct => false,
                    Policy::SprayAndWait { .. } => h.env.copies > 1,
                    Policy::Prophet => self.likelier(n, &h.env.tag, now),
                };
                spreads
                    || n.interest
                        .as_ref()
                        .is_some_and(|i| i.contains(&h.env.tag.0))
                    // A relay never knows whom it carries for; the sender
                    // knows its own recipient.
                    || matches!(h.origin, Origin::Own { peer: to, .. } if to == peer)
            })
            .map(|h| h.env.id)
            .collect()
    }

    /// Proofs for envelopes the neighbour says it holds.
    fn acks_for(&self, link: LinkId) -> Vec<(LinkId, MeshFrame)> {
        if !self.config.acks {
            return Vec::new();
        }
        let Some(have) = self.neighbours.get(&link).and_then(|n| n.have.as_ref()) else {
            return Vec::new();
        };
        let proofs: Vec<(EnvelopeId, [u8; 16])> = self
            .proofs
            .iter()
            .filter(|(id, _)| have.contains(&id.0))
            .map(|(id, (secret, _))| (*id, *secret))
            .collect();
        proofs
            .chunks(MAX_ACKS)
            .map(|c| (link, MeshFrame::Acks(c.to_vec())))
            .collect()
    }

    /// Decides whether to hand envelope `id` to the neighbour on `link`, and
    /// if so updates our copy and returns the frame.
    fn offer(&mut self, now: Time, link: LinkId, id: &EnvelopeId) -> Option<MeshFrame> {
        let policy = self.config.policy;
        let n = self.neighbours.get(&link)?;
        let held = self.carrier.get(id)?;
        if n.given.contains(id) || n.have.as_ref().is_some_and(|h| h.contains(&id.0)) {
            return None;
        }
        let (tag, copies, hop_limit, origin) = (
            held.env.tag,
            held.env.copies,
            held.env.hop_limit,
            held.origin,
        );
        let peer = n.peer;
        let wants = n.interest.as_ref().is_some_and(|i| i.contains(&tag.0));
        let is_recipient = wants || matches!(origin, Origin::Own { peer: to, .. } if to == peer);
        let own = matches!(origin, Origin::Own { .. });
        if hop_limit <= 1 && !own && !is_recipient {
            return None;
        }
        let give = is_recipient
            || match policy {
                Policy::Epidemic => true,
                Policy::Direct => false,
                Policy::SprayAndWait { .. } => copies > 1,
                Policy::Prophet => self.likelier(n, &tag, now),
            };
        if !give {
            return None;
        }
        let first_time = own && self.neighbours.values().all(|n| !n.given.contains(id));
        let h = self.carrier.get_mut(id)?;
        let mut sent = h.env.clone();
        sent.hop_limit = sent.hop_limit.saturating_sub(1);
        if !is_recipient && let Policy::SprayAndWait { .. } = policy {
            // Not persisted: after a restart an envelope starts again from the
            // copies it was stored with, which only spreads it a little more.
            let half = copies / 2;
            sent.copies = half;
            h.env.copies -= half;
        }
        if first_time && let Origin::Own { peer, message } = origin {
            self.out.push_back(MeshOutput::OwnSent { peer, message });
        }
        if let Some(n) = self.neighbours.get_mut(&link) {
            n.given.insert(*id);
        }
        self.stats.transmissions += 1;
        Some(MeshFrame::Carry(Box::new(sent)))
    }

    /// Offers one envelope to every current neighbour.
    fn spread(
        &mut self,
        now: Time,
        id: &EnvelopeId,
        except: Option<LinkId>,
    ) -> Vec<(LinkId, MeshFrame)> {
        let links: Vec<LinkId> = self
            .neighbours
            .keys()
            .copied()
            .filter(|l| Some(*l) != except)
            .collect();
        links
            .into_iter()
            .filter_map(|l| self.offer(now, l, id).map(|f| (l, f)))
            .collect()
    }

    /// Our own new envelope for `peer`: keep it and start it on its way.
    pub fn originate(
        &mut self,
        now: Time,
        mut env: Carried,
        peer: IdentityKey,
        message: MessageId,
        secret: [u8; 16],
    ) {
        env.copies = match self.config.policy {
            // The sender may start below the budget (so its first hop cannot
            // tell it from a relay), never above it.
            Policy::SprayAndWait { copies } => env.copies.clamp(1, copies.max(1)),
            _ => 1,
        };
        let id = env.id;
        let until = env.expiry;
        if self
            .carrier
            .accept(env, Origin::Own { peer, message }, now)
            .is_err()
        {
            return;
        }
        self.have.insert(&id);
        // The sender can prove delivery too, once it learns of it.
        self.own_secrets.insert(id, (secret, until));
        self.out.push_back(MeshOutput::Stored(id));
        let frames = self.spread(now, &id, None);
        self.send(frames);
    }

    /// An envelope a neighbour handed us, not addressed to us.
    pub fn on_carry(&mut self, now: Time, link: LinkId, env: Carried) {
        let Some(n) = self.neighbours.get_mut(&link) else {
            return;
        };
        let from = n.peer;
        // The sender has it; never offer it back.
        n.given.insert(env.id);
        if !n.contact {
            if now.since(n.window_start) >= Duration::from_secs(60) {
                n.window_start = now;
                n.taken_in_window = 0;
            }
            n.taken_in_window += 1;
            if n.taken_in_window > self.config.strangers_per_minute {
                self.stats.refused += 1;
                return;
            }
        }
        if env.hop_limit == 0 {
            self.stats.refused += 1;
            return;
        }
        let id = env.id;
        let frames = match self.carrier.accept(env, Origin::Relayed { from }, now) {
            Ok(evicted) => {
                self.have.insert(&id);
                for e in evicted {
                    self.out.push_back(MeshOutput::Removed(e));
                }
                self.out.push_back(MeshOutput::Stored(id));
                self.spread(now, &id, Some(link))
            }
            Err(Refusal::AlreadyDelivered) => {
                // Tell the neighbour so it drops its copy too.
                match self.proofs.get(&id) {
                    Some((secret, _)) if self.config.acks => {
                        vec![(link, MeshFrame::Acks(vec![(id, *secret)]))]
                    }
                    _ => Vec::new(),
                }
            }
            Err(_) => {
                self.stats.refused += 1;
                Vec::new()
            }
        };
        self.send(frames);
    }

    /// We are the recipient of `id` and opened it: prove it to whoever holds it.
    pub fn delivered_here(&mut self, link: LinkId, id: EnvelopeId, secret: [u8; 16], until: Time) {
        self.learn_proof(id, secret, until);
        if self.config.acks {
            self.send(vec![(link, MeshFrame::Acks(vec![(id, secret)]))]);
        }
    }

    /// Whether we hold this envelope or its delivery proof already.
    pub fn knows(&self, id: &EnvelopeId) -> bool {
        self.carrier.get(id).is_some() || self.proofs.contains_key(id)
    }

    /// An envelope we took to carry turned out to be ours: stop carrying it
    /// and prove delivery, as [`Mesh::delivered_here`].
    pub fn delivered_here_after_all(
        &mut self,
        link: LinkId,
        id: EnvelopeId,
        secret: [u8; 16],
        until: Time,
    ) {
        if self.carrier.remove(&id).is_some() {
            self.out.push_back(MeshOutput::Removed(id));
        }
        self.delivered_here(link, id, secret, until);
    }

    /// One of our messages was delivered (by any path): stop its envelope.
    pub fn delivered_own(&mut self, peer: &IdentityKey, message: &MessageId) {
        let Some(id) = self.carrier.own_for(peer, message) else {
            return;
        };
        let Some((secret, until)) = self.own_secrets.remove(&id) else {
            return;
        };
        if self.carrier.remove(&id).is_some() {
            self.out.push_back(MeshOutput::Removed(id));
        }
        self.learn_proof(id, secret, until);
        if !self.config.acks {
            return;
        }
        let links: Vec<LinkId> = self.neighbours.keys().copied().collect();
        let frames = links
            .into_iter()
            .filter(|l| {
                self.neighbours
                    .get(l)
                    .is_some_and(|n| n.given.contains(&id))
            })
            .map(|l| (l, MeshFrame::Acks(vec![(id, secret)])))
            .collect();
        self.send(frames);
    }

    fn learn_proof(&mut self, id: EnvelopeId, secret: [u8; 16], until: Time) {
        self.carrier.tombstone(id, until);
        self.proofs.insert(id, (secret, until));
        self.have.insert(&id);
        while self.proofs.len() > self.config.carrier.max_tombstones {
            self.proofs.pop_first();
        }
    }

    /// Delivery proofs from a neighbour.
    pub fn on_acks(&mut self, link: LinkId, acks: Vec<(EnvelopeId, [u8; 16])>) {
        if !self.config.acks {
            return;
        }
        let mut learned = Vec::new();
        for (id, secret) in acks.into_iter().take(MAX_ACKS) {
            if let Some(held) = self.carrier.acknowledge(&id, &secret) {
                self.out.push_back(MeshOutput::Removed(id));
                if let Origin::Own { .. } = held.origin {
                    self.own_secrets.remove(&id);
                }
                self.proofs.insert(id, (secret, held.env.expiry));
                self.have.insert(&id);
                learned.push((id, secret));
            }
        }
        // Pass proofs on to the other neighbours we gave those envelopes to.
        let mut out = Vec::new();
        for (l, n) in &self.neighbours {
            if *l == link {
                continue;
            }
            let relevant: Vec<_> = learned
                .iter()
                .filter(|(id, _)| n.given.contains(id))
                .copied()
                .collect();
            if !relevant.is_empty() {
                out.push((*l, MeshFrame::Acks(relevant)));
            }
        }
        self.send(out);
    }

    /// Expiry and periodic summaries.
    pub fn handle_timeout(&mut self, me: &IdentityKey, now: Time) {
        if !self.config.enabled {
            return;
        }
        for held in self.carrier.expire(now) {
            self.own_secrets.remove(&held.env.id);
            self.out.push_back(MeshOutput::Removed(held.env.id));
        }
        self.proofs.retain(|_, (_, until)| *until > now);
        let due: Vec<LinkId> = self
            .neighbours
            .iter()
            .filter(|(_, n)| n.next_summary <= now)
            .map(|(l, _)| *l)
            .collect();
        let mut out = Vec::new();
        for link in due {
            let summary = self.summary(me, now);
            if let Some(n) = self.neighbours.get_mut(&link) {
                n.next_summary = now + self.config.summary_interval;
                n.given.retain(|id| self.carrier.get(id).is_some());
            }
            out.push((link, MeshFrame::Summary(summary)));
        }
        self.send(out);
    }

    /// When [`Mesh::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        let summaries = self.neighbours.values().map(|n| n.next_summary).min();
        let expiry = self.carrier.earliest_expiry();
        summaries.into_iter().chain(expiry).min()
    }

    /// Restores an envelope from the store at start-up.
    pub fn restore(&mut self, held: Held, secret: Option<[u8; 16]>, now: Time) {
        let id = held.env.id;
        let until = held.env.expiry;
        let accepted = self.carrier.accept(held.env, held.origin, now).is_ok();
        if accepted {
            self.have.insert(&id);
        }
        if accepted && let Some(secret) = secret {
            self.own_secrets.insert(id, (secret, until));
        }
    }

    /// The own envelope's delivery secret, for persisting.
    pub fn own_secret(&self, id: &EnvelopeId) -> Option<[u8; 16]> {
        self.own_secrets.get(id).map(|(s, _)| *s)
    }
}
