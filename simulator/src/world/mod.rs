//! The discrete-event simulator: a virtual clock, one seeded RNG, and one real
//! protocol core per person (`cairn_protocol::Engine` over redb's in-memory
//! backend, the same code `cairn run` uses), joined by modelled links.
//!
//! Events sit in an ordered map keyed by (time, sequence), so ties resolve the
//! same way every run; every collection iterated is ordered. One seed and one
//! scenario give one result, byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use cairn_protocol::mesh::MeshConfig;
use cairn_protocol::{
    Config, Engine, Event, Identity, IdentityKey, LinkId, LinkInfo, Medium, MessageId, Output, Time,
};
use cairn_store::RedbStore;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::metrics::{Metrics, Tally};
use crate::mobility::{self, Walker};
pub use crate::routing::Routing;
use crate::scenario::Scenario;

mod traffic;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ble,
    Lan(usize),
    Internet,
}

struct SimLink {
    owner: usize,
    peer_link: LinkId,
    busy_until: u64,
    /// When each frame handed to the link and not yet on the air will have
    /// gone out, and its size: the real link's send queue holds at most
    /// [`cairn_transports::link::SEND_QUEUE`] frames and
    /// [`cairn_transports::link::SEND_QUEUE_BYTES`] bytes
    /// ([`cairn_transports::link::BLE_SEND_QUEUE_BYTES`] on Bluetooth) and
    /// refuses more.
    queued: std::collections::VecDeque<(u64, usize)>,
    queued_bytes: usize,
    max_queued_bytes: usize,
    bandwidth_bps: f64,
    latency_ms: f64,
    loss: f64,
    /// Bluetooth links: the real link core's ARQ over a modelled radio
    /// times each frame (writes of one ATT MTU, lost one by one and sent
    /// again), instead of a whole-frame loss and a bandwidth.
    ble: Option<Box<cairn_transports::ble::bus::Channel>>,
}

enum Ev {
    Tick,
    /// An attacker pushes junk into its neighbours.
    Flood(usize),
    /// An attacker takes a fresh identity.
    Rotate(usize),
    Timer(usize),
    Deliver {
        link: LinkId,
        frame: Vec<u8>,
    },
    Send {
        from: usize,
        to: usize,
        n: usize,
    },
    Churn(usize),
    Commit(usize),
    SendFile {
        from: usize,
        to: usize,
        n: usize,
    },
    GroupPost {
        group: usize,
        n: usize,
    },
    GroupRemove(usize),
}

/// Milliseconds since the epoch at virtual time zero.
const BASE_MS: u64 = 1_800_000_000_000;

pub struct World {
    sc: Scenario,
    seed: u64,
    routing: Routing,
    rng: ChaCha20Rng,
    now: u64,
    engines: Vec<Engine<RedbStore>>,
    keys: Vec<IdentityKey>,
    walkers: Vec<Walker>,
    online: Vec<bool>,
    internet: Vec<bool>,
    contacts: Vec<Vec<usize>>,
    timer_at: Vec<Option<u64>>,
    committing: Vec<bool>,
    events: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    links: BTreeMap<LinkId, SimLink>,
    pairs: BTreeMap<(usize, usize, Kind), (LinkId, LinkId)>,
    next_link: u64,
    tally: Tally,
    sent: HashMap<(IdentityKey, MessageId), u64>,
    progress: Option<Box<dyn FnMut(Progress)>>,
    /// Who attacks (`[attack]`), and the identity each shows its neighbours now.
    attackers: Vec<bool>,
    shown: Vec<IdentityKey>,
    /// Everything random about the attackers and their links, apart from the
    /// world's RNG, so a run with the flood walks and links exactly like the
    /// same run without it.
    attack_rng: ChaCha20Rng,
    /// Files and groups (`world/traffic.rs`).
    extra: traffic::Extra,
    /// Every frame put on a link, in order, with when and where (and its
    /// ends, see [`Self::transmit`]): one seed and one scenario must give
    /// the same digest.
    wire: Blake2b<U32>,
}

/// Where a run is, reported every virtual minute to [`World::on_progress`].
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub virtual_s: u64,
    pub duration_s: u64,
    pub events: u64,
    pub delivered: usize,
    pub sent: usize,
}

impl World {
    pub fn new(sc: Scenario, routing: Routing, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = sc.nodes.count;
        let t0 = Time::from_millis(BASE_MS);
        // Everything random is drawn here, in order, from the one RNG; the
        // expensive part (stores, engines, cards, contacts) then runs on all
        // cores, which changes nothing in the result.
        let mut identities = Vec::with_capacity(n);
        let mut seeds = Vec::with_capacity(n);
        for _ in 0..n {
            identities.push(Identity::generate(&mut rng));
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            seeds.push(seed);
        }
        let keys: Vec<IdentityKey> = identities.iter().map(Identity::key).collect();
        let mut attack_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x6174_7461_636b);
        let attackers: Vec<bool> = match &sc.attack {
            Some(a) => (0..n)
                .map(|_| attack_rng.gen_bool(a.fraction.clamp(0.0, 1.0)))
                .collect(),
            None => vec![false; n],
        };
        // A random contact graph: each person befriends a few others
        // (attackers are nobody's friends).
        let mut contacts: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        for a in 0..n {
            for _ in 0..sc.nodes.contacts.div_ceil(2) {
                let b = rng.gen_range(0..n);
                if a != b && !attackers[a] && !attackers[b] {
                    contacts[a].insert(b);
                    contacts[b].insert(a);
                }
            }
        }
        let mesh = routing.mesh(&sc);
        let build = |(i, (identity, seed)): (usize, (Identity, [u8; 32]))| {
            let name = format!("p{i}");
            // The store is redb over memory: nothing simulated ever touches
            // the disk.
            #[allow(clippy::expect_used)]
            let store = RedbStore::in_memory(&identity, &name).expect("in-memory store");
            let mut config = Config::new(&name);
            config.mesh = mesh.clone();
            #[allow(clippy::expect_used)]
            Engine::new(config, identity, store, seed, t0).expect("engine starts")
        };
        let mut engines: Vec<Engine<RedbStore>> = parallel_map(
            identities.into_iter().zip(seeds).enumerate().collect(),
            &build,
        );
        #[allow(clippy::expect_used)]
        let cards: Vec<_> = engines
            .iter_mut()
            .map(|e| e.invite(t0).expect("card"))
            .collect();
        let befriend = |(a, engine): (usize, &mut Engine<RedbStore>)| {
            for &b in &contacts[a] {
                let _ = engine.add_contact(t0, cards[b].clone(), None);
            }
            let _ = engine.flush(t0);
            while engine.poll_output().is_some() {}
        };
        parallel_each(engines.iter_mut().enumerate().collect(), &befriend);
        let walkers = mobility::place(n, &sc.area, &sc.mobility, &mut rng);
        let internet = (0..n)
            .map(|_| {
                sc.internet
                    .as_ref()
                    .is_some_and(|i| rng.gen_bool(i.fraction.clamp(0.0, 1.0)))
            })
            .collect();
        let mut world = Self {
            routing,
            rng,
            now: 0,
            engines,
            walkers,
            online: vec![true; n],
            internet,
            contacts: contacts
                .into_iter()
                .map(|s| s.into_iter().collect())
                .collect(),
            timer_at: vec![None; n],
            committing: vec![false; n],
            events: BTreeMap::new(),
            seq: 0,
            links: BTreeMap::new(),
            pairs: BTreeMap::new(),
            next_link: 1,
            tally: Tally::default(),
            sent: HashMap::new(),
            progress: None,
            shown: keys.clone(),
            keys,
            attackers,
            attack_rng,
            extra: traffic::Extra::default(),
            wire: Blake2b::new(),
            seed,
            sc,
        };
        world.schedule(0, Ev::Tick);
        world.plan_traffic();
        world.plan_churn();
        world.plan_attack();
        world.plan_files_and_groups();
        for i in 0..n {
            world.reschedule_timer(i);
        }
        world
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.insert((at, self.seq), ev);
    }

    fn time(&self) -> Time {
        Time::from_millis(BASE_MS + self.now)
    }

    /// Everyone who has someone to write to.
    fn senders(&self) -> Vec<usize> {
        (0..self.engines.len())
            .filter(|i| !self.contacts[*i].is_empty())
            .collect()
    }

    /// When, who and to whom, drawn in that order: a random time in the
    /// traffic window, a random sender, one of its contacts.
    fn draw_send(&mut self, senders: &[usize]) -> (u64, usize, usize) {
        let t = &self.sc.traffic;
        let at = self.rng.gen_range(t.start_s * 1000..=t.end_s * 1000);
        let from = senders[self.rng.gen_range(0..senders.len())];
        let to = self.contacts[from][self.rng.gen_range(0..self.contacts[from].len())];
        (at, from, to)
    }

    fn plan_traffic(&mut self) {
        let senders = self.senders();
        if senders.is_empty() {
            return;
        }
        for n in 0..self.sc.traffic.messages {
            let (at, from, to) = self.draw_send(&senders);
            self.schedule(at, Ev::Send { from, to, n });
        }
        self.tally.messages = self.sc.traffic.messages;
    }

    /// Whether node `i` floods (and so carries nothing and answers nothing).
    fn flooding(&self, i: usize) -> bool {
        self.attackers[i] && self.sc.attack.as_ref().is_some_and(|a| a.flood)
    }

    fn plan_attack(&mut self) {
        let Some(a) = self.sc.attack.clone() else {
            return;
        };
        if !a.flood {
            return;
        }
        for i in 0..self.engines.len() {
            if self.attackers[i] {
                let first = self.attack_rng.gen_range(0..60_000);
                self.schedule(first, Ev::Flood(i));
                let rotate = self.attack_rng.gen_range(1..=a.rotate_s * 1000);
                self.schedule(rotate, Ev::Rotate(i));
            }
        }
    }

    /// Attacker `i` hands one junk envelope to every neighbour whose link
    /// is free: the longest expiry and hop limit a relay takes, every copy
    /// it may spread, a tag nobody has.
    fn flood(&mut self, i: usize) {
        let Some(a) = self.sc.attack.clone() else {
            return;
        };
        let interval = (60_000 / u64::from(a.per_minute)).max(1);
        self.schedule(self.now + interval, Ev::Flood(i));
        if !self.online[i] {
            return;
        }
        let mine: Vec<LinkId> = self
            .pairs
            .iter()
            .filter_map(|((x, y, _), (lx, ly))| {
                (*x == i).then_some(*lx).or((*y == i).then_some(*ly))
            })
            .collect();
        let now = self.time();
        let epoch = cairn_protocol::mesh::tag::epoch_of(now, MeshConfig::default().epoch);
        for link in mine {
            if self
                .links
                .get(&link)
                .is_none_or(|l| l.busy_until > self.now)
            {
                continue;
            }
            let mut id = [0u8; 16];
            let mut tag = [0u8; 16];
            let mut ack = [0u8; 16];
            self.attack_rng.fill_bytes(&mut id);
            self.attack_rng.fill_bytes(&mut tag);
            self.attack_rng.fill_bytes(&mut ack);
            let env = cairn_protocol::mesh::carried::Carried {
                id: cairn_protocol::mesh::carried::EnvelopeId(id),
                epoch,
                tag: cairn_protocol::mesh::tag::Tag(tag),
                expiry: now + Duration::from_secs(a.ttl_s),
                hop_limit: cairn_protocol::mesh::carrier::CarrierLimits::default().max_hops,
                copies: u16::MAX,
                ack_hash: ack,
                sealed: vec![0; a.envelope_bytes],
            };
            let frame = cairn_protocol::frame::Frame::Carry(Box::new(env)).encode();
            self.tally.flood_envelopes += 1;
            self.transmit(link, frame);
        }
    }

    /// Attacker `i` drops its links; they come back at the next tick under a
    /// fresh identity.
    fn rotate(&mut self, i: usize) {
        let Some(a) = self.sc.attack.clone() else {
            return;
        };
        self.schedule(self.now + a.rotate_s * 1000, Ev::Rotate(i));
        self.shown[i] = Identity::generate(&mut self.attack_rng).key();
        let gone: Vec<_> = self
            .pairs
            .keys()
            .filter(|(x, y, _)| *x == i || *y == i)
            .copied()
            .collect();
        for p in gone {
            self.link_down(p);
        }
    }

    fn plan_churn(&mut self) {
        let Some(c) = self.sc.churn.clone() else {
            return;
        };
        for i in 0..self.engines.len() {
            if self.rng.gen_bool(c.fraction.clamp(0.0, 1.0)) {
                let first = self.exp(c.mean_online_s);
                self.schedule(first, Ev::Churn(i));
            }
        }
    }

    /// An exponentially distributed delay in ms with the given mean in seconds.
    fn exp(&mut self, mean_s: f64) -> u64 {
        let u: f64 = self.rng.gen_range(f64::MIN_POSITIVE..1.0);
        (-u.ln() * mean_s * 1000.0) as u64
    }

    /// Calls `f` once per virtual minute while running (for progress bars).
    pub fn on_progress(&mut self, f: impl FnMut(Progress) + 'static) {
        self.progress = Some(Box::new(f));
    }

    /// Runs to the scenario's end and returns the metrics.
    pub fn run(&mut self) -> Metrics {
        let started = Instant::now();
        let end = self.sc.duration_s * 1000;
        let mut next_report = 0;
        while let Some(((at, _), ev)) = self.events.pop_first() {
            if at > end {
                break;
            }
            if at >= next_report {
                next_report = at - at % 60_000 + 60_000;
                let p = Progress {
                    virtual_s: at / 1000,
                    duration_s: self.sc.duration_s,
                    events: self.tally.events,
                    delivered: self.tally.delivered.len(),
                    sent: self.tally.sent_at.len(),
                };
                if let Some(f) = self.progress.as_mut() {
                    f(p);
                }
            }
            self.now = at;
            self.tally.events += 1;
            match ev {
                Ev::Tick => self.tick(),
                Ev::Flood(i) => self.flood(i),
                Ev::Rotate(i) => self.rotate(i),
                Ev::Timer(i) => {
                    if self.timer_at[i] == Some(at) {
                        self.timer_at[i] = None;
                        // A switched-off phone's timers wait until it is back
                        // on (`churn` sets them again).
                        if self.online[i] {
                            let now = self.time();
                            self.engines[i].handle_timeout(now);
                            self.after(i);
                        }
                    }
                }
                Ev::Deliver { link, frame } => {
                    if let Some(l) = self.links.get(&link) {
                        let owner = l.owner;
                        if self.flooding(owner) {
                            continue; // it carries nothing for anyone
                        }
                        let now = self.time();
                        self.engines[owner].handle_frame(now, link, &frame);
                        self.after(owner);
                    }
                }
                Ev::Send { from, to, n } => {
                    if !self.online[from] {
                        // Typed when the phone is back on.
                        self.schedule(at + 60_000, Ev::Send { from, to, n });
                        continue;
                    }
                    let text = format!(
                        "m{n:06} {}",
                        "x".repeat(self.sc.traffic.text_bytes.saturating_sub(8))
                    );
                    let (peer, now) = (self.keys[to], self.time());
                    if let Ok(id) = self.engines[from].send_text(now, &peer, &text) {
                        self.sent.insert((self.keys[from], id), at);
                        self.tally.sent_at.push(at);
                    }
                    self.after(from);
                }
                Ev::Churn(i) => self.churn(i),
                Ev::SendFile { from, to, n } => self.send_file(from, to, n),
                Ev::GroupPost { group, n } => self.group_post(group, n),
                Ev::GroupRemove(group) => self.group_remove(group),
                Ev::Commit(i) => {
                    self.committing[i] = false;
                    let now = self.time();
                    let _ = self.engines[i].flush(now);
                    self.after(i);
                }
            }
        }
        self.tally.duration_ms = end;
        self.tally.max_store_bytes = self.tally.max_store_bytes.max(self.max_store());
        self.tally.files = self.extra.files_sent.len();
        self.tally.files_complete = self.extra.files_complete.len();
        self.tally.group_posts = self.extra.posts.len();
        (self.tally.group_reads, self.tally.group_reads_expected) = self.group_reads();
        self.tally.group_removals = self
            .extra
            .groups
            .iter()
            .filter(|g| g.removed.is_some())
            .count();
        self.tally.wire_digest =
            data_encoding::HEXLOWER.encode(&self.wire.clone().finalize()[..16]);
        Metrics::from_tally(
            &self.sc,
            self.routing,
            self.seed,
            &self.tally,
            started.elapsed().as_secs_f64(),
        )
    }

    fn max_store(&self) -> usize {
        self.engines
            .iter()
            .map(|e| e.mesh_stats().relayed_bytes)
            .max()
            .unwrap_or(0)
    }

    fn churn(&mut self, i: usize) {
        let Some(c) = self.sc.churn.clone() else {
            return;
        };
        self.online[i] = !self.online[i];
        if self.online[i] {
            self.reschedule_timer(i);
            let next = self.exp(c.mean_online_s);
            self.schedule(self.now + next, Ev::Churn(i));
        } else {
            let gone: Vec<_> = self
                .pairs
                .keys()
                .filter(|(a, b, _)| *a == i || *b == i)
                .copied()
                .collect();
            for p in gone {
                self.link_down(p);
            }
            let next = self.exp(c.mean_offline_s);
            self.schedule(self.now + next, Ev::Churn(i));
        }
    }

    fn tick(&mut self) {
        let dt = self.sc.mobility.tick_s;
        let now_s = self.now as f64 / 1000.0;
        mobility::step(
            &mut self.walkers,
            dt,
            now_s,
            &self.sc.area,
            &self.sc.mobility,
            &mut self.rng,
        );
        let wanted = self.wanted_links();
        let current: Vec<(usize, usize, Kind)> = self.pairs.keys().copied().collect();
        for p in current {
            if !wanted.contains(&p) {
                self.link_down(p);
            }
        }
        for p in wanted {
            if !self.pairs.contains_key(&p) {
                self.link_up(p);
            }
        }
        self.tally.ticks += 1;
        if self.tally.ticks.is_multiple_of(10) {
            self.tally.max_store_bytes = self.tally.max_store_bytes.max(self.max_store());
        }
        let next = self.now + (dt * 1000.0) as u64;
        self.schedule(next, Ev::Tick);
    }

    fn blocked(&self, a: usize, b: usize) -> bool {
        let t = self.now / 1000;
        self.sc.partition.iter().any(|p| {
            t >= p.start_s
                && t < p.end_s
                && ((self.walkers[a].pos.0 < p.x_m) != (self.walkers[b].pos.0 < p.x_m))
        })
    }

    /// Every link that should exist now.
    fn wanted_links(&self) -> BTreeSet<(usize, usize, Kind)> {
        let mut wanted = BTreeSet::new();
        let online: Vec<usize> = (0..self.engines.len())
            .filter(|i| self.online[*i])
            .collect();
        if let Some(ble) = &self.sc.ble {
            let r = ble.range_m;
            let mut grid: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
            for &i in &online {
                let (x, y) = self.walkers[i].pos;
                grid.entry(((x / r) as i64, (y / r) as i64))
                    .or_default()
                    .push(i);
            }
            for (&(cx, cy), members) in &grid {
                for dx in -1..=1 {
                    for dy in -1..=1 {
                        let Some(others) = grid.get(&(cx + dx, cy + dy)) else {
                            continue;
                        };
                        for &a in members {
                            for &b in others {
                                if a < b && self.dist(a, b) <= r && !self.blocked(a, b) {
                                    wanted.insert((a, b, Kind::Ble));
                                }
                            }
                        }
                    }
                }
            }
        }
        for (h, spot) in self.sc.hotspot.iter().enumerate() {
            let members: Vec<usize> = online
                .iter()
                .copied()
                .filter(|i| {
                    let (x, y) = self.walkers[*i].pos;
                    ((x - spot.x_m).powi(2) + (y - spot.y_m).powi(2)).sqrt() <= spot.radius_m
                })
                .collect();
            for (k, &a) in members.iter().enumerate() {
                for &b in &members[k + 1..] {
                    wanted.insert((a, b, Kind::Lan(h)));
                }
            }
        }
        if self.sc.internet.is_some() {
            for &a in &online {
                if !self.internet[a] {
                    continue;
                }
                for &b in &self.contacts[a] {
                    if a < b && self.online[b] && self.internet[b] {
                        wanted.insert((a, b, Kind::Internet));
                    }
                }
            }
        }
        wanted
    }

    fn dist(&self, a: usize, b: usize) -> f64 {
        let (ax, ay) = self.walkers[a].pos;
        let (bx, by) = self.walkers[b].pos;
        ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt()
    }

    fn model(&self, kind: Kind) -> (f64, f64, f64, Medium) {
        match kind {
            Kind::Ble => {
                let m = self.sc.ble.as_ref();
                (
                    m.map_or(1e5, |m| m.bandwidth_bps),
                    m.map_or(20.0, |m| m.latency_ms),
                    m.map_or(0.0, |m| m.loss),
                    Medium::Ble,
                )
            }
            Kind::Lan(h) => {
                let s = &self.sc.hotspot[h];
                (s.bandwidth_bps, s.latency_ms, s.loss, Medium::Lan)
            }
            Kind::Internet => {
                let m = self.sc.internet.as_ref();
                (
                    m.map_or(5e5, |m| m.bandwidth_bps),
                    m.map_or(500.0, |m| m.latency_ms),
                    m.map_or(0.0, |m| m.loss),
                    Medium::Tor,
                )
            }
        }
    }

    fn link_up(&mut self, p: (usize, usize, Kind)) {
        let (a, b, kind) = p;
        let (bw, latency, loss, medium) = self.model(kind);
        let la = LinkId(self.next_link);
        let lb = LinkId(self.next_link + 1);
        self.next_link += 2;
        for (owner, me, other) in [(a, la, lb), (b, lb, la)] {
            let ble = match (kind, &self.sc.ble) {
                (Kind::Ble, Some(m)) => {
                    let mut radio = cairn_transports::ble::bus::Radio::new(m.att_mtu);
                    radio.loss = loss;
                    radio.latency = std::time::Duration::from_secs_f64(latency / 1000.0);
                    // One write of a full MTU (plus the link layer's ~10 bytes).
                    radio.air = std::time::Duration::from_secs_f64(
                        (m.att_mtu as f64 + 10.0) * 8.0 / bw.max(1.0),
                    );
                    radio.seed = if self.attackers[a] || self.attackers[b] {
                        self.attack_rng.next_u64()
                    } else {
                        self.rng.next_u64()
                    };
                    Some(Box::new(cairn_transports::ble::bus::Channel::new(radio)))
                }
                _ => None,
            };
            self.links.insert(
                me,
                SimLink {
                    owner,
                    peer_link: other,
                    busy_until: 0,
                    queued: std::collections::VecDeque::new(),
                    queued_bytes: 0,
                    max_queued_bytes: if ble.is_some() {
                        cairn_transports::link::BLE_SEND_QUEUE_BYTES
                    } else {
                        cairn_transports::link::SEND_QUEUE_BYTES
                    },
                    bandwidth_bps: bw,
                    latency_ms: latency,
                    loss,
                    ble,
                },
            );
        }
        self.pairs.insert(p, (la, lb));
        self.tally.link_ups += 1;
        let now = self.time();
        for (owner, link, peer) in [(a, la, b), (b, lb, a)] {
            if self.flooding(owner) {
                continue;
            }
            let info = LinkInfo {
                id: link,
                medium,
                peer: self.shown[peer],
                mtu: 1 << 17,
                since: now,
            };
            self.engines[owner].link_up(now, info);
            self.after(owner);
        }
    }

    fn link_down(&mut self, p: (usize, usize, Kind)) {
        let Some((la, lb)) = self.pairs.remove(&p) else {
            return;
        };
        let now = self.time();
        for (owner, link) in [(p.0, la), (p.1, lb)] {
            self.links.remove(&link);
            if self.flooding(owner) {
                continue;
            }
            self.engines[owner].link_down(now, link);
            self.after(owner);
        }
    }

    /// Carries out node `i`'s outputs, plans the commit of what it staged,
    /// and sets its next timer.
    fn after(&mut self, i: usize) {
        if self.engines[i].has_staged() && !self.committing[i] {
            self.committing[i] = true;
            let at = self.now + self.sc.nodes.commit_ms;
            self.schedule(at, Ev::Commit(i));
        }
        while let Some(out) = self.engines[i].poll_output() {
            match out {
                Output::Transmit { link, frame } => self.transmit(link, frame),
                Output::Close { link, .. } => {
                    let pair = self
                        .pairs
                        .iter()
                        .find(|(_, (x, y))| *x == link || *y == link)
                        .map(|(p, _)| *p);
                    if let Some(p) = pair {
                        self.link_down(p);
                    }
                }
                Output::Event(event @ Event::FileProgress(_)) => self.on_event_extra(&event),
                Output::Event(Event::MessageReceived(m)) => {
                    if let Some(&sent_at) = self.sent.get(&(m.peer, m.id))
                        && self.tally.delivered.insert((m.peer, m.id))
                    {
                        self.tally.latencies_ms.push(self.now - sent_at);
                        self.tally.delivered_at.push(self.now);
                    }
                }
                Output::Event(_) => {}
            }
        }
        self.reschedule_timer(i);
    }

    fn transmit(&mut self, link: LinkId, frame: Vec<u8>) {
        let now = self.now;
        let lost = {
            let Some(l) = self.links.get(&link) else {
                return;
            };
            l.ble.is_none() && l.loss > 0.0 && self.rng.gen_bool(l.loss.clamp(0.0, 1.0))
        };
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        while let Some(&(_, bytes)) = l.queued.front().filter(|(t, _)| *t <= now) {
            l.queued.pop_front();
            l.queued_bytes -= bytes;
        }
        let full = l.queued.len() >= cairn_transports::link::SEND_QUEUE
            || (l.queued_bytes > 0 && l.queued_bytes + frame.len() > l.max_queued_bytes);
        if full {
            self.tally.refused_frames += 1;
            return;
        }
        self.tally.frames += 1;
        self.tally.bytes += frame.len() as u64;
        // When, where, how long, and the frame's two ends: the head says
        // what it is, and every sealed frame ends in an AEAD tag over all
        // of it. Hashing whole frames cost a flood run minutes (junk
        // envelopes of 64 KiB, gigabytes in all).
        let ends = frame.len().min(32);
        self.wire.update(now.to_be_bytes());
        self.wire.update(link.0.to_be_bytes());
        self.wire.update((frame.len() as u64).to_be_bytes());
        self.wire.update(&frame[..ends]);
        self.wire.update(&frame[frame.len() - ends..]);
        if carries_a_message(&frame) {
            self.tally.transmissions += 1;
        }
        let start = now.max(l.busy_until);
        let to = l.peer_link;
        let arrive = match &mut l.ble {
            Some(ch) => {
                // The frame, with the hop record's framing and tag.
                let at = ch.send(std::time::Duration::from_millis(start), frame.len() + 19);
                let Some(at) = at else {
                    return; // the link gave up on it
                };
                let arrive = (at.as_millis() as u64).max(start);
                l.busy_until = arrive.saturating_sub(l.latency_ms as u64).max(start);
                arrive
            }
            None => {
                let tx_ms = (frame.len() as f64 * 8.0 / l.bandwidth_bps * 1000.0).ceil() as u64;
                l.busy_until = start + tx_ms;
                start + tx_ms + l.latency_ms as u64
            }
        };
        l.queued.push_back((l.busy_until, frame.len()));
        l.queued_bytes += frame.len();
        if !lost {
            self.schedule(arrive, Ev::Deliver { link: to, frame });
        }
    }

    fn reschedule_timer(&mut self, i: usize) {
        if !self.online[i] {
            return;
        }
        let Some(t) = self.engines[i].poll_timeout() else {
            return;
        };
        let at = t.as_millis().saturating_sub(BASE_MS).max(self.now);
        if self.timer_at[i].is_none_or(|cur| at < cur) {
            self.timer_at[i] = Some(at);
            self.schedule(at, Ev::Timer(i));
        }
    }
}

/// Frames that carry a message copy: carried envelopes and session messages.
fn carries_a_message(frame: &[u8]) -> bool {
    match frame.get(1) {
        Some(3) => true,
        Some(1) => frame.get(3) == Some(&4),
        _ => false,
    }
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `f` over `items` on all cores, results in order.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: &(impl Fn(T) -> R + Sync)) -> Vec<R> {
    let per = items.len().div_ceil(workers()).max(1);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(per).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `f` on every item, on all cores.
fn parallel_each<T: Send>(items: Vec<T>, f: &(impl Fn(T) + Sync)) {
    parallel_map(items, f);
}
