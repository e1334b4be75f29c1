//! Two BLE link cores joined by a modelled radio on a virtual clock: packets
//! of one ATT MTU, each taking `air` to send, arriving `latency` later or lost
//! with probability `loss`. Deterministic for a seed. The property tests, the
//! framing benchmark and the simulator's BLE links run on it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::arq::Arq;
use super::link::{BleEvent, BleLink};
use crate::hop::{HopKeys, Peer, Role};
use crate::link::DownReason;

/// How the radio between the two behaves.
#[derive(Debug, Clone)]
pub struct Radio {
    pub att_mtu: usize,
    /// Probability that a packet is lost.
    pub loss: f64,
    pub latency: Duration,
    /// Time one packet occupies the sender's radio.
    pub air: Duration,
    pub seed: u64,
}

impl Radio {
    pub fn new(att_mtu: usize) -> Self {
        Self {
            att_mtu,
            loss: 0.0,
            latency: Duration::from_millis(15),
            air: Duration::from_micros(800),
            seed: 1,
        }
    }
}

/// What crossed the radio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub packet_bytes: u64,
    pub lost: u64,
    /// The largest packet sent.
    pub largest: usize,
}

/// A packet on its way: (arrival, serial, to which end, bytes).
type InAir = (Duration, u64, usize, Vec<u8>);

/// The modelled radio between two ends: one packet at a time per sender,
/// each lost or landing `air + latency` after it starts.
struct Air {
    radio: Radio,
    rng: StdRng,
    /// When each end's radio is free again.
    busy: [Duration; 2],
    in_air: BinaryHeap<Reverse<InAir>>,
    serial: u64,
    counters: [Counters; 2],
}

impl Air {
    fn new(radio: Radio) -> Self {
        Self {
            rng: StdRng::seed_from_u64(radio.seed),
            radio,
            busy: [Duration::ZERO; 2],
            in_air: BinaryHeap::new(),
            serial: 0,
            counters: [Counters::default(); 2],
        }
    }

    fn free(&self, end: usize, now: Duration) -> bool {
        self.busy[end] <= now
    }

    /// End `end` sends `p` now.
    /// Puts on the air what `end` has to send, one packet at a time, while
    /// its radio is free.
    fn transmit<E>(
        &mut self,
        end: usize,
        now: Duration,
        mut poll: impl FnMut() -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        while self.free(end, now) {
            let Some(p) = poll()? else {
                break;
            };
            self.put(end, now, p);
        }
        Ok(())
    }

    fn put(&mut self, end: usize, now: Duration, p: Vec<u8>) {
        let start = self.busy[end].max(now);
        self.busy[end] = start + self.radio.air;
        let c = &mut self.counters[end];
        c.packets += 1;
        c.packet_bytes += p.len() as u64;
        c.largest = c.largest.max(p.len());
        if self.rng.gen_bool(self.radio.loss.clamp(0.0, 1.0)) {
            c.lost += 1;
            return;
        }
        self.serial += 1;
        let at = start + self.radio.air + self.radio.latency;
        self.in_air.push(Reverse((at, self.serial, 1 - end, p)));
    }

    /// A packet that has landed by `now`: (to which end, bytes).
    fn landed(&mut self, now: Duration) -> Option<(usize, Vec<u8>)> {
        match self.in_air.peek() {
            Some(Reverse((at, ..))) if *at <= now => {
                self.in_air.pop().map(|Reverse((_, _, to, p))| (to, p))
            }
            _ => None,
        }
    }

    /// The next time after `now` that a packet lands or a radio frees up,
    /// or that one of `timers` is due.
    fn next(&self, now: Duration, timers: [Option<Duration>; 2]) -> Option<Duration> {
        [
            self.in_air.peek().map(|Reverse((at, ..))| *at),
            Some(self.busy[0]),
            Some(self.busy[1]),
            timers[0],
            timers[1],
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
    }
}

pub struct Pair {
    pub ends: [BleLink; 2],
    pub up: [Option<Peer>; 2],
    /// Frames each end received, in order.
    pub received: [Vec<Bytes>; 2],
    /// Frames waiting for room in each end's link.
    pending: [VecDeque<Bytes>; 2],
    air: Air,
    now: Duration,
    pub counters: [Counters; 2],
}

impl Pair {
    /// End 0 connects (initiates) to end 1.
    pub fn new(
        radio: Radio,
        a: &Arc<HopKeys>,
        b: &Arc<HopKeys>,
        frame_mtu: usize,
    ) -> Result<Self, DownReason> {
        let now = Duration::ZERO;
        Ok(Self {
            ends: [
                BleLink::new(now, Role::Initiator, a, radio.att_mtu, frame_mtu)?,
                BleLink::new(now, Role::Responder, b, radio.att_mtu, frame_mtu)?,
            ],
            up: [None, None],
            received: [Vec::new(), Vec::new()],
            pending: [VecDeque::new(), VecDeque::new()],
            air: Air::new(radio),
            now,
            counters: [Counters::default(); 2],
        })
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    /// Queues a frame at end `from` (sent when the link is up and has room).
    pub fn send(&mut self, from: usize, frame: Bytes) {
        self.pending[from].push_back(frame);
    }

    /// Frames not yet taken by their link.
    pub fn backlog(&self) -> usize {
        self.pending.iter().map(VecDeque::len).sum()
    }

    /// Runs until `done` holds or the clock passes `limit`.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<(), DownReason> {
        while self.now <= limit {
            if done(self) {
                return Ok(());
            }
            self.step()?;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), DownReason> {
        while let Some((to, p)) = self.air.landed(self.now) {
            for event in self.ends[to].on_packet(self.now, &p)? {
                match event {
                    BleEvent::Up { peer } => self.up[to] = Some(peer),
                    BleEvent::Frame(f) => self.received[to].push(f),
                }
            }
        }
        for end in &mut self.ends {
            end.handle_timeout(self.now)?;
        }
        for end in 0..2 {
            while let Some(frame) = self.pending[end].front() {
                if self.ends[end].send_frame(frame)? {
                    self.pending[end].pop_front();
                } else {
                    break;
                }
            }
            // The radio takes one packet at a time.
            let (now, link) = (self.now, &mut self.ends[end]);
            self.air.transmit(end, now, || link.poll_transmit(now))?;
        }
        self.counters = self.air.counters;
        let timers = [self.ends[0].poll_timeout(), self.ends[1].poll_timeout()];
        self.now = self
            .air
            .next(self.now, timers)
            .unwrap_or(self.now + Duration::from_millis(10));
        Ok(())
    }
}

/// One direction of a BLE link, for models that move frame sizes rather
/// than frames (the simulator): the link core's ARQ on both ends of the
/// modelled radio, kept from frame to frame (its window and round-trip
/// estimate carry over), acks going back over the same radio. No hop
/// handshake or Noise: only their bytes would differ, and those are in the
/// frame sizes the caller passes.
pub struct Channel {
    ends: [Arq; 2],
    air: Air,
    now: Duration,
    /// Stream bytes queued at end 0, and taken in by end 1.
    queued: u64,
    delivered: u64,
    waiting: u64,
    pub counters: [Counters; 2],
}

/// Longest a frame may take over a [`Channel`] before the link counts as
/// broken.
pub const CHANNEL_GIVE_UP: Duration = Duration::from_secs(120);

impl Channel {
    pub fn new(radio: Radio) -> Self {
        Self {
            ends: [Arq::new(radio.att_mtu), Arq::new(radio.att_mtu)],
            air: Air::new(radio),
            now: Duration::ZERO,
            queued: 0,
            delivered: 0,
            waiting: 0,
            counters: [Counters::default(); 2],
        }
    }

    /// Sends `len` bytes from `start` on (at or after the previous call's
    /// start). Returns when the last of them reached the other end, or
    /// `None` when the link gave up (the peer stopped answering).
    pub fn send(&mut self, start: Duration, len: usize) -> Option<Duration> {
        self.run_until(start).ok()?;
        self.waiting += len as u64;
        let target = self.queued + self.waiting;
        let limit = self.now + CHANNEL_GIVE_UP;
        while self.delivered < target {
            if self.now > limit || !self.step(None).ok()? {
                return None;
            }
        }
        Some(self.now)
    }

    /// Lets time pass (acks in the air land, timers fire) up to `t`.
    fn run_until(&mut self, t: Duration) -> Result<(), super::arq::ArqError> {
        while self.now < t {
            if !self.step(Some(t))? {
                break;
            }
        }
        self.now = self.now.max(t);
        Ok(())
    }

    /// One round: what landed is taken in, timers fire, radios send; then
    /// the clock moves to the next thing that will happen. With `until`,
    /// stops short of it; returns whether the clock moved.
    fn step(&mut self, until: Option<Duration>) -> Result<bool, super::arq::ArqError> {
        while let Some((to, p)) = self.air.landed(self.now) {
            self.ends[to].on_packet(self.now, &p)?;
            let got = self.ends[to].read().len() as u64;
            if to == 1 {
                self.delivered += got;
            }
        }
        for end in &mut self.ends {
            end.handle_timeout(self.now)?;
        }
        // Hand the ARQ what waits, as it has room.
        if self.waiting > 0 {
            let n = (self.waiting as usize)
                .min(self.ends[0].room())
                .min(64 * 1024);
            if n > 0 && self.ends[0].write(&vec![0; n]) {
                self.waiting -= n as u64;
                self.queued += n as u64;
            }
        }
        for end in 0..2 {
            let (now, arq) = (self.now, &mut self.ends[end]);
            self.air.transmit(end, now, || arq.poll_transmit(now))?;
        }
        self.counters = self.air.counters;
        // Only what lies ahead: a timer already due waits for its radio.
        let timers = [self.ends[0].poll_timeout(), self.ends[1].poll_timeout()];
        let Some(next) = self.air.next(self.now, timers) else {
            return Ok(false);
        };
        if until.is_some_and(|u| next > u) {
            return Ok(false);
        }
        self.now = next;
        Ok(true)
    }
}
