//! Two BLE link cores joined by a modelled radio on a virtual clock: packets
//! of one ATT MTU, each taking `air` to send, arriving `latency` later or lost
//! with probability `loss`. Deterministic for a seed. The property tests, the
//! framing benchmark and the simulator's BLE links run on it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::link::{BleEvent, BleLink};
use crate::hop::Role;
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

pub struct Pair {
    pub ends: [BleLink; 2],
    pub up: [Option<[u8; 32]>; 2],
    /// Frames each end received, in order.
    pub received: [Vec<Bytes>; 2],
    /// Frames waiting for room in each end's link.
    pending: [VecDeque<Bytes>; 2],
    radio: Radio,
    rng: StdRng,
    now: Duration,
    /// When each end's radio is free again.
    busy: [Duration; 2],
    in_air: BinaryHeap<Reverse<InAir>>,
    serial: u64,
    pub counters: [Counters; 2],
}

impl Pair {
    /// End 0 connects (initiates) to end 1.
    pub fn new(
        radio: Radio,
        a: &SigningKey,
        b: &SigningKey,
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
            rng: StdRng::seed_from_u64(radio.seed),
            radio,
            now,
            busy: [Duration::ZERO; 2],
            in_air: BinaryHeap::new(),
            serial: 0,
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
        for end in 0..2 {
            while let Some(frame) = self.pending[end].front() {
                if self.ends[end].send_frame(frame)? {
                    self.pending[end].pop_front();
                } else {
                    break;
                }
            }
            // The radio takes one packet at a time.
            while self.busy[end] <= self.now {
                let Some(p) = self.ends[end].poll_transmit(self.now)? else {
                    break;
                };
                let start = self.busy[end].max(self.now);
                self.busy[end] = start + self.radio.air;
                self.counters[end].packets += 1;
                self.counters[end].packet_bytes += p.len() as u64;
                self.counters[end].largest = self.counters[end].largest.max(p.len());
                if self.rng.gen_bool(self.radio.loss.clamp(0.0, 1.0)) {
                    self.counters[end].lost += 1;
                    continue;
                }
                self.serial += 1;
                let at = start + self.radio.air + self.radio.latency;
                self.in_air.push(Reverse((at, self.serial, 1 - end, p)));
            }
        }
        // The next thing to happen: a packet landing, a radio freeing up, a timer.
        let mut next = [
            self.in_air.peek().map(|Reverse((at, ..))| *at),
            self.ends[0].poll_timeout(),
            self.ends[1].poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        for end in 0..2 {
            if self.busy[end] > self.now {
                next = Some(next.map_or(self.busy[end], |n| n.min(self.busy[end])));
            }
        }
        let next = next.unwrap_or(self.now + Duration::from_millis(10));
        self.now = next.max(self.now + Duration::from_micros(1));
        while let Some(Reverse((at, _, to, _))) = self.in_air.peek() {
            if *at > self.now {
                break;
            }
            let to = *to;
            let Some(Reverse((_, _, _, p))) = self.in_air.pop() else {
                break;
            };
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
        Ok(())
    }
}
