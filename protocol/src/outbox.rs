//! Outgoing messages that are durably stored but not yet acknowledged.
//!
//! Entries are queued per destination — the device a copy goes to; the
//! record's `peer` is the conversation it belongs to, which is the same
//! key unless the conversation is with someone who has several devices
//! (docs/DEVICES.md: a message fans out to each). Per destination,
//! entries keep the order they were queued in. An entry is sent when
//! a session is up, and sent again on a new session or after its
//! retransmission timeout, which doubles per attempt up to a cap. At most
//! `window` entries and `window_bytes` bytes of text per peer are in flight
//! at once: receipts clock new sends, which keeps a slow receiver (or a slow
//! link) from being flooded. (Entries alone let 512 texts of 60 000 bytes
//! go out at once: 30 MB into a link whose send queue holds 4 MiB, which
//! refused the rest, and bulk then waited on retransmission timers.)
//!
//! Bound: the whole outbox holds at most `limit` entries; `push` beyond that is
//! refused so the caller can tell the user, never silently dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::identity::IdentityKey;
use crate::ids::MessageId;
use crate::message::MessageRecord;
use crate::time::Time;

#[derive(Debug, Clone)]
struct Entry {
    record: MessageRecord,
    /// Committed to the store; only durable entries are ever sent.
    durable: bool,
    /// When and under which session (local index) it was last sent.
    last_sent: Option<(Time, u64)>,
    attempts: u32,
    /// Handed to the mesh (sealed one way) as well.
    meshed: bool,
    /// Past history handed to a newly linked device: sent in sessions
    /// only, never through the mesh.
    history: bool,
}

impl Entry {
    /// About what the entry takes on the link: its text and a payload's
    /// framing.
    fn wire_len(&self) -> usize {
        self.record.text.len() + 256
    }
}

#[derive(Debug, Default)]
struct PeerQueue {
    entries: BTreeMap<u64, Entry>,
    by_id: BTreeMap<MessageId, u64>,
    /// Every sent entry's retransmission deadline: (session, when, seq). The
    /// engine asks for the earliest on every turn of its loop; scanning the
    /// whole queue for it cost 4 % of the small-message benchmark.
    deadlines: BTreeSet<(u64, Time, u64)>,
}

/// Retransmission timing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    fn timeout(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug)]
pub struct Outbox {
    peers: BTreeMap<IdentityKey, PeerQueue>,
    next_seq: u64,
    len: usize,
    limit: usize,
    backoff: Backoff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxFull;

impl Outbox {
    pub fn new(limit: usize, backoff: Backoff) -> Self {
        Self {
            peers: BTreeMap::new(),
            next_seq: 0,
            len: 0,
            limit,
            backoff,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn has_room(&self) -> bool {
        self.len < self.limit
    }

    /// Queues a record for the device `to`. `durable` says whether it is
    /// already committed.
    pub fn push(
        &mut self,
        to: IdentityKey,
        record: MessageRecord,
        durable: bool,
    ) -> Result<(), OutboxFull> {
        if !self.has_room() {
            return Err(OutboxFull);
        }
        let queue = self.peers.entry(to).or_default();
        if queue.by_id.contains_key(&record.id) {
            return Ok(());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        queue.by_id.insert(record.id, seq);
        queue.entries.insert(
            seq,
            Entry {
                record,
                durable,
                last_sent: None,
                attempts: 0,
                meshed: false,
                history: false,
            },
        );
        self.len += 1;
        Ok(())
    }

    /// Queues a stored message of the past for the newly linked device
    /// `to` (durable already; sent in sessions only).
    pub fn push_history(
        &mut self,
        to: IdentityKey,
        record: MessageRecord,
    ) -> Result<(), OutboxFull> {
        let id = record.id;
        self.push(to, record, true)?;
        if let Some(entry) = self.entry_mut(&to, &id) {
            entry.history = true;
        }
        Ok(())
    }

    /// Whether the entry for `to` under `id` is past history.
    pub fn is_history(&self, to: &IdentityKey, id: &MessageId) -> bool {
        self.peers
            .get(to)
            .and_then(|q| q.entries.get(q.by_id.get(id)?))
            .is_some_and(|e| e.history)
    }

    /// The record queued for `to` under `id`.
    pub fn record(&self, to: &IdentityKey, id: &MessageId) -> Option<&MessageRecord> {
        let queue = self.peers.get(to)?;
        queue.entries.get(queue.by_id.get(id)?).map(|e| &e.record)
    }

    /// The durable records queued for `to`, in order.
    pub fn durable_for(&self, to: &IdentityKey) -> Vec<MessageRecord> {
        self.peers
            .get(to)
            .map(|q| {
                q.entries
                    .values()
                    .filter(|e| e.durable)
                    .map(|e| e.record.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn mark_meshed(&mut self, peer: &IdentityKey, id: &MessageId) {
        if let Some(entry) = self.entry_mut(peer, id) {
            entry.meshed = true;
        }
    }

    /// Durable entries for `peer` not yet handed to the mesh.
    pub fn unmeshed(&self, peer: &IdentityKey) -> Vec<MessageRecord> {
        self.peers
            .get(peer)
            .map(|q| {
                q.entries
                    .values()
                    .filter(|e| e.durable && !e.meshed && !e.history)
                    .map(|e| e.record.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn mark_durable(&mut self, peer: &IdentityKey, id: &MessageId) {
        if let Some(entry) = self.entry_mut(peer, id) {
            entry.durable = true;
        }
    }

    /// Removes an entry; returns it if it was there.
    pub fn remove(&mut self, peer: &IdentityKey, id: &MessageId) -> Option<MessageRecord> {
        let queue = self.peers.get_mut(peer)?;
        let seq = queue.by_id.remove(id)?;
        let entry = queue.entries.remove(&seq)?;
        if let Some(key) = deadline(&self.backoff, &entry, seq) {
            queue.deadlines.remove(&key);
        }
        if queue.entries.is_empty() {
            self.peers.remove(peer);
        }
        self.len -= 1;
        Some(entry.record)
    }

    fn entry_mut(&mut self, peer: &IdentityKey, id: &MessageId) -> Option<&mut Entry> {
        let queue = self.peers.get_mut(peer)?;
        let seq = queue.by_id.get(id)?;
        queue.entries.get_mut(seq)
    }

    /// Forgets when `peer`'s entries were last sent, so they go out again at
    /// once: a new link often means the last one was already dead when they
    /// were handed to it.
    pub fn resend_now(&mut self, peer: &IdentityKey) {
        if let Some(queue) = self.peers.get_mut(peer) {
            for entry in queue.entries.values_mut() {
                entry.last_sent = None;
            }
            queue.deadlines.clear();
        }
    }

    pub fn contains(&self, peer: &IdentityKey, id: &MessageId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|q| q.by_id.contains_key(id))
    }

    pub fn is_meshed(&self, peer: &IdentityKey, id: &MessageId) -> bool {
        self.peers
            .get(peer)
            .and_then(|q| q.entries.get(q.by_id.get(id)?))
            .is_some_and(|e| e.meshed)
    }

    pub fn has_pending(&self, peer: &IdentityKey) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|q| q.entries.values().any(|e| e.durable))
    }

    pub fn peers(&self) -> impl Iterator<Item = &IdentityKey> {
        self.peers.keys()
    }

    /// Picks the entries to send to `peer` now under `session` — at most
    /// `window` entries and `window_bytes` bytes in flight, though one entry
    /// always goes when nothing is — marks them sent, and returns them with
    /// whether each was sent for the first time ever.
    pub fn take_due(
        &mut self,
        peer: &IdentityKey,
        session: u64,
        now: Time,
        window: usize,
        window_bytes: usize,
    ) -> Vec<(MessageRecord, bool)> {
        let backoff = self.backoff;
        let Some(queue) = self.peers.get_mut(peer) else {
            return Vec::new();
        };
        let in_flight = |e: &Entry| matches!(e.last_sent, Some((at, s)) if s == session && now < at + backoff.timeout(e.attempts));
        let mut budget =
            window.saturating_sub(queue.entries.values().filter(|e| in_flight(e)).count());
        let mut bytes: usize = queue
            .entries
            .values()
            .filter(|e| in_flight(e))
            .map(Entry::wire_len)
            .sum();
        let mut due = Vec::new();
        let PeerQueue {
            entries, deadlines, ..
        } = queue;
        for (&seq, entry) in entries.iter_mut() {
            if budget == 0 {
                break;
            }
            if !entry.durable || in_flight(entry) {
                continue;
            }
            let len = entry.wire_len();
            if bytes > 0 && bytes + len > window_bytes {
                break; // in order: the next waits for receipts
            }
            bytes += len;
            let first = entry.attempts == 0;
            if let Some(old) = deadline(&backoff, entry, seq) {
                deadlines.remove(&old);
            }
            entry.last_sent = Some((now, session));
            entry.attempts = entry.attempts.saturating_add(1);
            deadlines.extend(deadline(&backoff, entry, seq));
            due.push((entry.record.clone(), first));
            budget -= 1;
        }
        due
    }

    /// When the next entry of `peer` sent under `session` times out.
    pub fn next_timeout(&self, peer: &IdentityKey, session: u64) -> Option<Time> {
        self.peers
            .get(peer)?
            .deadlines
            .range((session, Time::ZERO, 0)..=(session, Time::MAX, u64::MAX))
            .next()
            .map(|(_, at, _)| *at)
    }
}

/// The key of a sent entry in its queue's deadlines.
fn deadline(backoff: &Backoff, entry: &Entry, seq: u64) -> Option<(u64, Time, u64)> {
    entry
        .last_sent
        .map(|(at, session)| (session, at + backoff.timeout(entry.attempts), seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::message::{DeliveryState, Direction};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn record(peer: IdentityKey, n: u8) -> MessageRecord {
        MessageRecord {
            peer,
            id: MessageId([n; 16]),
            direction: Direction::Outgoing,
            text: format!("m{n}"),
            sent_at: Time::ZERO,
            local_at: Time::ZERO,
            state: DeliveryState::Queued,
            remote: None,
            file: None,
            op: None,
            changes: Default::default(),
        }
    }

    fn outbox() -> Outbox {
        Outbox::new(
            3,
            Backoff {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(10),
            },
        )
    }

    #[test]
    fn window_limits_in_flight_and_timeouts_resend() {
        let peer = Identity::generate(&mut ChaCha20Rng::seed_from_u64(1)).key();
        let mut ob = outbox();
        for n in 0..3 {
            ob.push(peer, record(peer, n), true).unwrap();
        }
        let t0 = Time::from_secs(100);
        let first: Vec<_> = ob
            .take_due(&peer, 1, t0, 2, usize::MAX)
            .into_iter()
            .map(|(r, f)| (r.id, f))
            .collect();
        assert_eq!(
            first,
            vec![(MessageId([0; 16]), true), (MessageId([1; 16]), true)]
        );
        assert!(
            ob.take_due(&peer, 1, t0, 2, usize::MAX).is_empty(),
            "window is full"
        );
        ob.remove(&peer, &MessageId([0; 16]));
        assert_eq!(
            ob.take_due(&peer, 1, t0, 2, usize::MAX)[0].0.id,
            MessageId([2; 16])
        );
        assert_eq!(ob.next_timeout(&peer, 1), Some(t0 + Duration::from_secs(2)));
        let resent = ob.take_due(&peer, 1, t0 + Duration::from_secs(2), 2, usize::MAX);
        assert_eq!(resent.len(), 2);
        assert!(resent.iter().all(|(_, first)| !first));
        // A new session sends everything again at once.
        assert_eq!(
            ob.take_due(&peer, 2, t0 + Duration::from_secs(3), 5, usize::MAX)
                .len(),
            2
        );
    }

    /// The kept deadlines answer exactly what a scan of the whole queue
    /// would, through any mix of sends, resends, removals and sessions.
    #[test]
    fn the_next_timeout_is_what_a_scan_of_the_queue_finds() {
        use rand_core::RngCore;
        let peer = Identity::generate(&mut ChaCha20Rng::seed_from_u64(4)).key();
        let mut ob = Outbox::new(
            64,
            Backoff {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(60),
            },
        );
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut now = Time::from_secs(1000);
        let scan = |ob: &Outbox, session: u64| {
            ob.peers.get(&peer).and_then(|q| {
                q.entries
                    .values()
                    .filter_map(|e| match e.last_sent {
                        Some((at, s)) if s == session => Some(at + ob.backoff.timeout(e.attempts)),
                        _ => None,
                    })
                    .min()
            })
        };
        for step in 0..5000u32 {
            now = now + Duration::from_millis(rng.next_u64() % 3000);
            let session = 1 + rng.next_u64() % 3;
            match rng.next_u32() % 10 {
                0..=3 => {
                    let n = (rng.next_u32() % 200) as u8;
                    let _ = ob.push(peer, record(peer, n), rng.next_u32() % 4 != 0);
                }
                4..=6 => {
                    let window = 1 + (rng.next_u32() % 8) as usize;
                    ob.take_due(&peer, session, now, window, usize::MAX);
                }
                7 => {
                    let n = (rng.next_u32() % 200) as u8;
                    ob.remove(&peer, &MessageId([n; 16]));
                }
                8 => ob.resend_now(&peer),
                _ => {
                    let n = (rng.next_u32() % 200) as u8;
                    ob.mark_durable(&peer, &MessageId([n; 16]));
                }
            }
            for s in 1..=3 {
                assert_eq!(
                    ob.next_timeout(&peer, s),
                    scan(&ob, s),
                    "step {step}, session {s}"
                );
            }
        }
    }

    #[test]
    fn full_outbox_refuses_and_uncommitted_entries_wait() {
        let peer = Identity::generate(&mut ChaCha20Rng::seed_from_u64(2)).key();
        let mut ob = outbox();
        for n in 0..3 {
            ob.push(peer, record(peer, n), n != 1).unwrap();
        }
        assert_eq!(ob.push(peer, record(peer, 9), true), Err(OutboxFull));
        let due: Vec<_> = ob
            .take_due(&peer, 1, Time::ZERO, 10, usize::MAX)
            .into_iter()
            .map(|(r, _)| r.id)
            .collect();
        assert_eq!(due, vec![MessageId([0; 16]), MessageId([2; 16])]);
        ob.mark_durable(&peer, &MessageId([1; 16]));
        assert_eq!(ob.take_due(&peer, 1, Time::ZERO, 10, usize::MAX).len(), 1);
    }

    #[test]
    fn a_byte_window_holds_back_large_texts_until_receipts_come() {
        let mut ob = Outbox::new(
            100,
            Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(8),
            },
        );
        let peer = Identity::generate(&mut ChaCha20Rng::seed_from_u64(9)).key();
        for n in 0..10u8 {
            let mut r = record(peer, n);
            r.text = "x".repeat(60_000);
            ob.push(peer, r, true).unwrap();
        }
        // 200 000 bytes in flight at most: three of 60 256.
        let first = ob.take_due(&peer, 1, Time::ZERO, 512, 200_000);
        assert_eq!(first.len(), 3);
        assert!(ob.take_due(&peer, 1, Time::ZERO, 512, 200_000).is_empty());
        // One receipt: one more goes, in order.
        ob.remove(&peer, &MessageId([0; 16]));
        let next = ob.take_due(&peer, 1, Time::ZERO, 512, 200_000);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].0.id, MessageId([3; 16]));
        // A text larger than the window still goes alone.
        assert_eq!(ob.take_due(&peer, 2, Time::ZERO, 512, 1_000).len(), 1);
    }
}
