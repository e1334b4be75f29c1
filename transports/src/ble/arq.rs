//! A reliable, ordered byte stream over BLE packets, sans I/O.
//!
//! A GATT write without response carries at most ATT MTU − 3 bytes and may be
//! lost (a full controller queue drops it without telling anyone), so the
//! link runs a small selective-repeat ARQ over those packets:
//!
//! ```text
//! packet = kind:u8 …
//!   0x01 DATA  seq:u16 ack:u16 bytes…      stream bytes, with our cumulative ack
//!   0x02 ACK   ack:u16 sack:u32            ack = next seq expected; bit i: seq ack+1+i held
//!   0x03 CLOSE                             the peer is going away
//! ```
//!
//! - Sequence numbers are u16 and wrap; at most [`WINDOW`] packets are in
//!   flight, so comparisons within a window are unambiguous.
//! - The receiver holds out-of-order packets in a reassembly table of at most
//!   [`WINDOW`] entries. A gap that stays open for [`REASSEMBLY_TIMEOUT`]
//!   ends the link (the sender would have retransmitted long before).
//! - Retransmission: on timeout (RTO from a smoothed RTT, 200 ms … 4 s, doubled
//!   on each retry) and when an ack's selective bits show a hole (once per
//!   round trip). A packet sent [`MAX_RETRIES`] times without an ack ends the
//!   link. While a gap is open the receiver repeats its selective ack every
//!   200 ms, so a sender stuck behind a lost packet learns of it quickly.
//! - Acks are delayed by at most [`ACK_DELAY`] or sent after a quarter window,
//!   and ride on data going the other way.
//! - Congestion: a radio path can be much slower than the window (BlueZ over
//!   D-Bus, a busy controller), and packets queued behind it would time out
//!   and be sent again, and again. So the sender keeps a congestion window
//!   (slow start from 4 packets up to [`WINDOW`], halved on a timeout — not on
//!   a selective-ack hole, which is a radio drop) and backs its RTO off on
//!   every timeout until a fresh round-trip sample arrives (Karn).
//!
//! Time is passed in as a `Duration` since any fixed origin (the real clock's
//! start, or a simulation's zero).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Packets in flight, and the size of the reassembly table.
pub const WINDOW: u16 = 32;
/// Longest an out-of-order packet waits for the gap before it.
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(15);
/// Times one packet is sent before the link is given up.
pub const MAX_RETRIES: u8 = 20;
/// Longest an ack is held back.
pub const ACK_DELAY: Duration = Duration::from_millis(20);
/// Smallest ATT MTU (Bluetooth 4.0).
pub const MIN_ATT_MTU: usize = 23;
/// Largest ATT MTU.
pub const MAX_ATT_MTU: usize = 517;
/// Largest write we make, whatever the MTU. ATT allows attribute values of
/// 512 bytes, but BlueZ before 5.70 counts the attribute handle into the
/// length it checks (bluez/bluez#570) and silently drops writes of more than
/// 510 — as the first runs on real BlueZ (Debian's 5.66) found.
pub const MAX_VALUE: usize = 510;
/// Bytes a DATA packet spends on its header.
pub const DATA_HEADER: usize = 5;
/// Stream bytes queued for sending before [`Arq::write`] refuses more.
pub const MAX_QUEUED: usize = 512 * 1024;

const KIND_DATA: u8 = 0x01;
const KIND_ACK: u8 = 0x02;
const KIND_CLOSE: u8 = 0x03;
const RTO_INITIAL: Duration = Duration::from_millis(1000);
const RTO_MIN: Duration = Duration::from_millis(200);
const RTO_MAX: Duration = Duration::from_secs(4);
/// While out-of-order packets wait, the receiver repeats its selective ack
/// this often, so a sender whose window is stuck behind a hole hears of it.
const ACK_REPEAT: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArqError {
    #[error("a BLE packet is malformed: {0}")]
    Malformed(&'static str),
    #[error("the peer acknowledged data never sent")]
    BadAck,
    #[error("the peer stopped answering")]
    Unresponsive,
    #[error("a gap in what the peer sent stayed open")]
    Stalled,
    #[error("the peer closed the link")]
    Closed,
}

/// What a stream did so far, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArqStats {
    pub sent: u64,
    pub resent: u64,
    pub received: u64,
    pub duplicates: u64,
    pub acks_sent: u64,
}

struct Sent {
    bytes: Vec<u8>,
    at: Duration,
    first: Duration,
    tries: u8,
    /// Asked to go again (a hole in a selective ack).
    again: bool,
}

/// One end of the stream.
pub struct Arq {
    /// Bytes per packet (ATT MTU − 3).
    packet: usize,
    // sending
    queued: VecDeque<u8>,
    next_seq: u16,
    /// Oldest unacknowledged seq.
    base: u16,
    inflight: BTreeMap<u16, Sent>,
    srtt: Option<Duration>,
    rto: Duration,
    /// Packets allowed in flight now, and the slow-start threshold.
    cwnd: u16,
    ssthresh: u16,
    /// Packets acknowledged since the window last grew (congestion avoidance).
    grown: u16,
    /// When the window was last cut (at most once per round trip).
    cut_at: Option<Duration>,
    // receiving
    expected: u16,
    table: BTreeMap<u16, (Vec<u8>, Duration)>,
    ready: Vec<u8>,
    unacked_in: u16,
    ack_at: Option<Duration>,
    ack_now: bool,
    closing: bool,
    stats: ArqStats,
}

/// Whether `a` comes before `b` in the wrapping sequence space.
fn before(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

impl Arq {
    /// A stream over packets of an ATT MTU of `att_mtu` (clamped to 23..=517):
    /// writes of MTU − 3 bytes, at most [`MAX_VALUE`].
    pub fn new(att_mtu: usize) -> Self {
        let att_mtu = att_mtu.clamp(MIN_ATT_MTU, MAX_ATT_MTU);
        Self {
            packet: (att_mtu - 3).min(MAX_VALUE),
            queued: VecDeque::new(),
            next_seq: 0,
            base: 0,
            inflight: BTreeMap::new(),
            srtt: None,
            rto: RTO_INITIAL,
            cwnd: 4,
            ssthresh: WINDOW,
            grown: 0,
            cut_at: None,
            expected: 0,
            table: BTreeMap::new(),
            ready: Vec::new(),
            unacked_in: 0,
            ack_at: None,
            ack_now: false,
            closing: false,
            stats: ArqStats::default(),
        }
    }

    /// Largest packet this stream sends.
    pub fn packet_len(&self) -> usize {
        self.packet
    }

    /// Queues stream bytes. Refuses (returns false) beyond [`MAX_QUEUED`]:
    /// the caller waits for [`Arq::room`].
    pub fn write(&mut self, bytes: &[u8]) -> bool {
        if self.queued.len() + bytes.len() > MAX_QUEUED {
            return false;
        }
        self.queued.extend(bytes);
        true
    }

    /// Bytes that [`Arq::write`] would still take.
    pub fn room(&self) -> usize {
        MAX_QUEUED - self.queued.len()
    }

    /// Everything sent was acknowledged and nothing waits.
    pub fn is_idle(&self) -> bool {
        self.queued.is_empty() && self.inflight.is_empty()
    }

    /// Takes the stream bytes that arrived, in order.
    pub fn read(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.ready)
    }

    /// Says goodbye: the next packet out is a CLOSE.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// One packet from the peer.
    pub fn on_packet(&mut self, now: Duration, packet: &[u8]) -> Result<(), ArqError> {
        let (&kind, rest) = packet
            .split_first()
            .ok_or(ArqError::Malformed("empty packet"))?;
        match kind {
            KIND_DATA => {
                if rest.len() < 4 {
                    return Err(ArqError::Malformed("short data header"));
                }
                if packet.len() > MAX_VALUE {
                    return Err(ArqError::Malformed(
                        "packet over the largest attribute value",
                    ));
                }
                let seq = u16::from_be_bytes([rest[0], rest[1]]);
                let ack = u16::from_be_bytes([rest[2], rest[3]]);
                self.on_ack(now, ack, 0)?;
                self.on_data(now, seq, &rest[4..])
            }
            KIND_ACK => {
                if rest.len() != 6 {
                    return Err(ArqError::Malformed("ack length"));
                }
                let ack = u16::from_be_bytes([rest[0], rest[1]]);
                let sack = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]);
                self.on_ack(now, ack, sack)
            }
            KIND_CLOSE => Err(ArqError::Closed),
            _ => Err(ArqError::Malformed("unknown packet kind")),
        }
    }

    fn on_data(&mut self, now: Duration, seq: u16, bytes: &[u8]) -> Result<(), ArqError> {
        self.stats.received += 1;
        let offset = seq.wrapping_sub(self.expected);
        if offset >= 0x8000 {
            self.stats.duplicates += 1;
            // Old: a retransmission of something we have. Our ack was lost.
            self.ack_now = true;
            return Ok(());
        }
        if offset >= WINDOW {
            return Err(ArqError::Malformed("data beyond the window"));
        }
        if offset == 0 {
            self.ready.extend_from_slice(bytes);
            self.expected = self.expected.wrapping_add(1);
            while let Some((b, _)) = self.table.remove(&self.expected) {
                self.ready.extend_from_slice(&b);
                self.expected = self.expected.wrapping_add(1);
            }
        } else {
            self.table
                .entry(seq)
                .or_insert_with(|| (bytes.to_vec(), now));
            // Out of order: tell the sender at once which ones we hold.
            self.ack_now = true;
        }
        self.unacked_in += 1;
        if self.unacked_in >= WINDOW / 4 {
            self.ack_now = true;
        }
        self.ack_at.get_or_insert(now + ACK_DELAY);
        Ok(())
    }

    fn on_ack(&mut self, now: Duration, ack: u16, sack: u32) -> Result<(), ArqError> {
        let acked = ack.wrapping_sub(self.base);
        let sent = self.next_seq.wrapping_sub(self.base);
        if acked > sent {
            // An ack from before our base is stale; one beyond what we sent is a lie.
            if acked >= 0x8000 {
                return Ok(());
            }
            return Err(ArqError::BadAck);
        }
        for _ in 0..acked {
            if let Some(s) = self.inflight.remove(&self.base) {
                if s.tries == 1 {
                    self.sample(now.saturating_sub(s.first));
                }
                self.grow();
            }
            self.base = self.base.wrapping_add(1);
        }
        if sack != 0 {
            let mut highest = None;
            for i in 0..32u16 {
                if sack & (1 << i) != 0 {
                    let seq = ack.wrapping_add(1 + i);
                    if let Some(s) = self.inflight.remove(&seq)
                        && s.tries == 1
                    {
                        self.sample(now.saturating_sub(s.first));
                    }
                    highest = Some(seq);
                }
            }
            // Holes below the highest held: send again, once per round trip.
            if let Some(h) = highest {
                let rtt = self.srtt.unwrap_or(RTO_MIN);
                // A hole with later packets through is a radio drop, not a
                // queue filling up: resend, but keep the window.
                for (seq, s) in self.inflight.iter_mut() {
                    if before(*seq, h) && now.saturating_sub(s.at) >= rtt {
                        s.again = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// An acknowledged packet opens the window: by one each in slow start,
    /// by one per window after.
    fn grow(&mut self) {
        if self.cwnd < self.ssthresh {
            self.cwnd += 1;
        } else {
            self.grown += 1;
            if self.grown >= self.cwnd {
                self.grown = 0;
                self.cwnd += 1;
            }
        }
        self.cwnd = self.cwnd.min(WINDOW);
    }

    /// A timeout: the path is slower than we thought (or gone). Halve the
    /// window and back the RTO off, at most once per round trip. (Holes that
    /// selective acks show are radio drops with later packets getting
    /// through: they are resent without cutting the window.)
    fn cut(&mut self, now: Duration) {
        let rtt = self.srtt.unwrap_or(self.rto);
        if self.cut_at.is_some_and(|t| now.saturating_sub(t) < rtt) {
            return;
        }
        self.cut_at = Some(now);
        self.ssthresh = (self.cwnd / 2).max(2);
        self.cwnd = self.ssthresh;
        self.grown = 0;
        self.rto = (self.rto * 2).min(RTO_MAX);
    }

    /// Packets allowed in flight now.
    pub fn window(&self) -> u16 {
        self.cwnd
    }

    fn sample(&mut self, rtt: Duration) {
        let srtt = match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        };
        self.srtt = Some(srtt);
        self.rto = (srtt * 3).clamp(RTO_MIN, RTO_MAX);
    }

    /// The next packet to send, if any is due now.
    pub fn poll_transmit(&mut self, now: Duration) -> Result<Option<Vec<u8>>, ArqError> {
        if self.closing {
            self.closing = false;
            return Ok(Some(vec![KIND_CLOSE]));
        }
        // Retransmissions first.
        let due = self
            .inflight
            .iter()
            .find(|(_, s)| s.again || now >= s.at + self.backoff(s.tries))
            .map(|(seq, _)| *seq);
        if let Some(seq) = due {
            let timed_out = self.inflight.get(&seq).is_some_and(|s| !s.again);
            if timed_out {
                self.cut(now);
            }
            let ack = self.expected;
            let s = self.inflight.get_mut(&seq).ok_or(ArqError::BadAck)?;
            if s.tries >= MAX_RETRIES {
                return Err(ArqError::Unresponsive);
            }
            s.tries += 1;
            s.at = now;
            s.again = false;
            self.stats.resent += 1;
            let mut p = s.bytes.clone();
            p[3..5].copy_from_slice(&ack.to_be_bytes());
            self.acked_out(now);
            return Ok(Some(p));
        }
        // New data, within the window.
        if !self.queued.is_empty() && self.next_seq.wrapping_sub(self.base) < self.cwnd.min(WINDOW)
        {
            let n = self.queued.len().min(self.packet - DATA_HEADER);
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            let mut p = Vec::with_capacity(DATA_HEADER + n);
            p.push(KIND_DATA);
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&self.expected.to_be_bytes());
            p.extend(self.queued.drain(..n));
            self.stats.sent += 1;
            self.inflight.insert(
                seq,
                Sent {
                    bytes: p.clone(),
                    at: now,
                    first: now,
                    tries: 1,
                    again: false,
                },
            );
            self.acked_out(now);
            return Ok(Some(p));
        }
        // An ack on its own.
        if self.ack_now || self.ack_at.is_some_and(|t| now >= t) {
            let mut sack = 0u32;
            for seq in self.table.keys() {
                let i = seq.wrapping_sub(self.expected).wrapping_sub(1);
                if i < 32 {
                    sack |= 1 << i;
                }
            }
            self.stats.acks_sent += 1;
            let mut p = vec![KIND_ACK];
            p.extend_from_slice(&self.expected.to_be_bytes());
            p.extend_from_slice(&sack.to_be_bytes());
            self.acked_out(now);
            return Ok(Some(p));
        }
        Ok(None)
    }

    /// An ack went out (alone or on data). While a gap is open, the next
    /// one (with the selective bits) follows after [`ACK_REPEAT`].
    fn acked_out(&mut self, now: Duration) {
        self.ack_now = false;
        self.ack_at = (!self.table.is_empty()).then_some(now + ACK_REPEAT);
        self.unacked_in = 0;
    }

    fn backoff(&self, tries: u8) -> Duration {
        (self.rto * 2u32.saturating_pow(u32::from(tries.saturating_sub(1)))).min(RTO_MAX)
    }

    /// When [`Arq::poll_transmit`] or [`Arq::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let retransmit = self
            .inflight
            .values()
            .map(|s| s.at + self.backoff(s.tries))
            .min();
        let stall = self
            .table
            .values()
            .map(|(_, at)| *at + REASSEMBLY_TIMEOUT)
            .min();
        [retransmit, self.ack_at, stall].into_iter().flatten().min()
    }

    /// Checks the reassembly table's timeouts.
    pub fn handle_timeout(&mut self, now: Duration) -> Result<(), ArqError> {
        if self
            .table
            .values()
            .any(|(_, at)| now >= *at + REASSEMBLY_TIMEOUT)
        {
            return Err(ArqError::Stalled);
        }
        Ok(())
    }

    pub fn stats(&self) -> ArqStats {
        self.stats
    }

    /// Smoothed round-trip time, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Packets sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Whether a packet opens a stream: the first DATA packet a link sends.
    pub fn starts_stream(packet: &[u8]) -> bool {
        packet.len() >= 5 && packet[0] == KIND_DATA && packet[1..5] == [0, 0, 0, 0]
    }

    /// Out-of-order packets held.
    pub fn held(&self) -> usize {
        self.table.len()
    }
}
