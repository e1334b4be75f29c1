//! A small in-process network of engines on a virtual clock, for scenario
//! tests of the core. Links deliver frames in order, instantly, unless cut.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use cairn_protocol::{
    Config, ContactCard, Engine, Event, Identity, IdentityKey, LinkId, LinkInfo, Medium,
    MemoryStore, Output, Time,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub struct Node {
    pub engine: Engine<MemoryStore>,
    pub events: Vec<Event>,
    pub closed: Vec<(LinkId, cairn_protocol::CloseReason)>,
    seed: u64,
}

pub struct Net {
    pub now: Time,
    pub nodes: Vec<Node>,
    /// link id -> (owner node, peer node, peer's link id)
    links: BTreeMap<LinkId, (usize, usize, LinkId)>,
    next_link: u64,
    queue: VecDeque<(LinkId, Vec<u8>)>,
    /// Every frame that crossed any link, for tests that replay them.
    pub wire_log: Vec<(LinkId, Vec<u8>)>,
    pub config: fn(&str) -> Config,
    dead: std::collections::BTreeSet<LinkId>,
}

pub fn identity(seed: u64) -> Identity {
    Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

impl Net {
    pub fn new(names: &[&str]) -> Self {
        Self::with_config(names, |n| Config::new(n))
    }

    pub fn with_config(names: &[&str], config: fn(&str) -> Config) -> Self {
        let now = Time::from_secs(1_700_000_000);
        let nodes = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let seed = i as u64 + 1;
                let engine = Engine::new(
                    config(name),
                    identity(seed),
                    MemoryStore::default(),
                    [seed as u8; 32],
                    now,
                )
                .unwrap();
                Node {
                    engine,
                    events: vec![],
                    closed: vec![],
                    seed,
                }
            })
            .collect();
        Self {
            now,
            nodes,
            links: BTreeMap::new(),
            next_link: 1,
            queue: VecDeque::new(),
            wire_log: vec![],
            config,
            dead: Default::default(),
        }
    }

    pub fn key(&self, n: usize) -> IdentityKey {
        self.nodes[n].engine.identity_key()
    }

    /// `n`'s invite (its signed prekey made and committed if it had none).
    pub fn invite(&mut self, n: usize) -> ContactCard {
        let card = self.nodes[n].engine.invite(self.now).unwrap();
        self.nodes[n].engine.flush(self.now).unwrap();
        card
    }

    /// `a` adds `b`'s invite.
    pub fn add(&mut self, a: usize, b: usize) {
        let card = self.invite(b);
        self.nodes[a]
            .engine
            .add_contact(self.now, card, None)
            .unwrap();
        self.nodes[a].engine.flush(self.now).unwrap();
        self.pump();
    }

    pub fn befriend(&mut self, a: usize, b: usize) {
        self.add(a, b);
        self.add(b, a);
    }

    /// Connects `a` and `b`; returns (a's link, b's link).
    pub fn connect(&mut self, a: usize, b: usize) -> (LinkId, LinkId) {
        let la = LinkId(self.next_link);
        let lb = LinkId(self.next_link + 1);
        self.next_link += 2;
        self.links.insert(la, (a, b, lb));
        self.links.insert(lb, (b, a, la));
        let (ka, kb) = (self.key(a), self.key(b));
        let now = self.now;
        self.nodes[a].engine.link_up(
            now,
            LinkInfo {
                id: la,
                medium: Medium::Memory,
                peer: kb,
                mtu: 1 << 17,
                since: now,
            },
        );
        self.nodes[b].engine.link_up(
            now,
            LinkInfo {
                id: lb,
                medium: Medium::Memory,
                peer: ka,
                mtu: 1 << 17,
                since: now,
            },
        );
        self.pump();
        (la, lb)
    }

    pub fn disconnect(&mut self, link: LinkId) {
        if let Some((a, b, peer_link)) = self.links.remove(&link) {
            self.links.remove(&peer_link);
            let now = self.now;
            self.nodes[a].engine.link_down(now, link);
            self.nodes[b].engine.link_down(now, peer_link);
        }
    }

    pub fn send(&mut self, from: usize, to: usize, text: &str) -> cairn_protocol::MessageId {
        let peer = self.key(to);
        let now = self.now;
        let id = self.nodes[from].engine.send_text(now, &peer, text).unwrap();
        self.nodes[from].engine.flush(now).unwrap();
        self.pump();
        id
    }

    /// Makes frames sent on `link` (either direction) vanish without either
    /// side noticing, like a peer that died without closing its connection.
    pub fn blackhole(&mut self, link: LinkId) {
        if let Some(&(_, _, peer_link)) = self.links.get(&link) {
            self.dead.insert(link);
            self.dead.insert(peer_link);
        }
    }

    /// Loses every frame on the wire right now (a radio that dropped them).
    pub fn lose_in_flight(&mut self) -> usize {
        self.drain_outputs();
        let lost = self.queue.len();
        self.queue.clear();
        lost
    }

    /// Injects raw bytes as if `from`'s side of `link` had sent them.
    pub fn inject(&mut self, link: LinkId, bytes: Vec<u8>) {
        self.queue.push_back((link, bytes));
        self.pump();
    }

    /// Delivers every queued frame and output until nothing moves.
    pub fn pump(&mut self) {
        assert!(self.pump_some(100_000), "network did not settle");
    }

    /// Delivers at most `max` queued frames (a link that breaks mid-way);
    /// true when nothing was left to deliver.
    pub fn pump_some(&mut self, max: usize) -> bool {
        for _ in 0..max {
            self.drain_outputs();
            let Some((link, frame)) = self.queue.pop_front() else {
                return true;
            };
            let Some(&(_, to, to_link)) = self.links.get(&link) else {
                continue;
            };
            if self.dead.contains(&link) {
                continue;
            }
            self.wire_log.push((link, frame.clone()));
            let now = self.now;
            let node = &mut self.nodes[to];
            node.engine.handle_frame(now, to_link, &frame);
            node.engine.flush(now).unwrap();
        }
        self.drain_outputs();
        self.queue.is_empty()
    }

    fn drain_outputs(&mut self) {
        for n in 0..self.nodes.len() {
            while let Some(out) = self.nodes[n].engine.poll_output() {
                match out {
                    Output::Transmit { link, frame } => self.queue.push_back((link, frame)),
                    Output::Close { link, reason } => {
                        self.nodes[n].closed.push((link, reason));
                        self.disconnect(link);
                    }
                    Output::Event(e) => self.nodes[n].events.push(e),
                }
            }
        }
    }

    /// Advances the clock, firing timers on the way.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.engine.poll_timeout())
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = t.max(self.now);
            let now = self.now;
            for node in &mut self.nodes {
                if node.engine.poll_timeout().is_some_and(|d| d <= now) {
                    node.engine.handle_timeout(now);
                    node.engine.flush(now).unwrap();
                    // A timer still due right after it was handled would
                    // wake the engine again and again (a busy loop).
                    assert!(
                        node.engine.poll_timeout().is_none_or(|d| d > now),
                        "still due at {now:?} after handle_timeout"
                    );
                }
            }
            self.pump();
            if self.now == end {
                break;
            }
        }
        self.now = end;
    }

    /// Rebuilds node `n` from its store, as after a crash: sessions, links and
    /// anything unflushed are gone.
    pub fn restart(&mut self, n: usize) {
        let links: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, (owner, _, _))| *owner == n)
            .map(|(l, _)| *l)
            .collect();
        for l in links {
            self.disconnect(l);
        }
        let old = &self.nodes[n];
        let store = old.engine.store().clone();
        let name = old.engine.name().to_owned();
        let seed = old.seed + 1000;
        let engine = Engine::new(
            (self.config)(&name),
            identity(old.seed),
            store,
            [seed as u8; 32],
            self.now,
        )
        .unwrap();
        self.nodes[n] = Node {
            engine,
            events: vec![],
            closed: vec![],
            seed: old.seed,
        };
    }

    pub fn history(&self, n: usize, peer: usize) -> Vec<cairn_protocol::MessageRecord> {
        let key = self.key(peer);
        self.nodes[n]
            .engine
            .store()
            .history(&key)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The texts `n` holds in its conversation with `peer`, one way.
    pub fn texts(&self, n: usize, peer: usize, dir: cairn_protocol::Direction) -> Vec<String> {
        self.history(n, peer)
            .into_iter()
            .filter(|m| m.direction == dir)
            .map(|m| m.text)
            .collect()
    }

    /// `holder` shows a link code; the fresh `device` joins with it (as a
    /// mailbox or not) and the two are connected.
    pub fn link_device(
        &mut self,
        holder: usize,
        device: usize,
        name: &str,
        mailbox: bool,
    ) -> (LinkId, LinkId) {
        let now = self.now;
        let code = self.nodes[holder]
            .engine
            .link_offer(now, Duration::from_secs(600))
            .unwrap();
        self.nodes[device]
            .engine
            .join_account(now, code, name, mailbox)
            .unwrap();
        self.nodes[device].engine.flush(now).unwrap();
        self.connect(holder, device)
    }
}
