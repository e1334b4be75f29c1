//! Disappearing messages: a timer per conversation, set by either side and
//! agreed by both (the later setting wins), after which every message of the
//! conversation — text, operations, a file's content — is erased from the
//! store, counted from when this device stored it.
//!
//! A sub-machine of the engine: it knows each conversation's timer and when
//! the next messages fall due; the engine turns what falls due into
//! [`crate::store::StoreOp::Expire`] writes.

use std::collections::{BTreeMap, BTreeSet};

use crate::identity::IdentityKey;
use crate::time::Time;

/// Shortest timer: long enough to read a message.
pub const MIN_SECS: u64 = 5;
/// Longest timer: a year.
pub const MAX_SECS: u64 = 366 * 24 * 3600;
/// Where a conversation's timer is kept among the settings.
pub const SETTING_PREFIX: &str = "disappear/";

/// Whether `secs` is a timer (0 turns it off).
pub fn valid(secs: u64) -> bool {
    secs == 0 || (MIN_SECS..=MAX_SECS).contains(&secs)
}

/// A conversation's timer as stored: seconds (0 off) and when it was set,
/// by the clock of whoever set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub secs: u64,
    pub set_at: Time,
}

impl Timer {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.secs.to_be_bytes().to_vec();
        out.extend_from_slice(&self.set_at.as_millis().to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let secs = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let at = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        (bytes.len() == 16 && valid(secs)).then_some(Self {
            secs,
            set_at: Time::from_millis(at),
        })
    }
}

/// Every conversation's timer, and when messages next fall due.
#[derive(Debug, Default)]
pub struct Disappearing {
    timers: BTreeMap<IdentityKey, Timer>,
    /// When some messages of a conversation fall due (at most one entry per
    /// conversation and stored message time; stale ones are skipped).
    due: BTreeSet<(Time, IdentityKey)>,
}

impl Disappearing {
    /// Starts from the stored settings; every conversation with a timer is
    /// swept at once (what fell due while the node was off).
    pub fn load<'a>(settings: impl Iterator<Item = (&'a str, &'a [u8])>, now: Time) -> Self {
        let mut this = Self::default();
        for (key, value) in settings {
            let Some(peer) = key.strip_prefix(SETTING_PREFIX) else {
                continue;
            };
            let (Ok(peer), Some(timer)) = (peer.parse::<IdentityKey>(), Timer::decode(value))
            else {
                continue;
            };
            if timer.secs > 0 {
                this.due.insert((now, peer));
            }
            this.timers.insert(peer, timer);
        }
        this
    }

    pub fn setting_key(peer: &IdentityKey) -> String {
        format!("{SETTING_PREFIX}{peer}")
    }

    /// The timer of the conversation with `peer`, in seconds, if one is on.
    pub fn timer(&self, peer: &IdentityKey) -> Option<u64> {
        self.timers
            .get(peer)
            .map(|t| t.secs)
            .filter(|secs| *secs > 0)
    }

    /// Takes `timer` for `peer` if it is later than the one in force (the
    /// later setting wins at both ends whatever the order of arrival; at
    /// the same millisecond, the shorter timer). Returns whether it was taken.
    pub fn set(&mut self, peer: IdentityKey, timer: Timer, now: Time) -> bool {
        if !valid(timer.secs) {
            return false;
        }
        if let Some(old) = self.timers.get(&peer)
            && (old.set_at, std::cmp::Reverse(old.secs))
                >= (timer.set_at, std::cmp::Reverse(timer.secs))
        {
            return false;
        }
        self.timers.insert(peer, timer);
        if timer.secs > 0 {
            self.due.insert((now, peer));
        }
        true
    }

    /// A message of the conversation with `peer` was stored at `at`.
    pub fn stored(&mut self, peer: IdentityKey, at: Time) {
        if let Some(secs) = self.timer(&peer) {
            self.due
                .insert((at + std::time::Duration::from_secs(secs), peer));
        }
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.due.first().map(|(at, _)| *at)
    }

    /// The conversations with messages due by `now`, each with the time
    /// before which its messages go.
    pub fn take_due(&mut self, now: Time) -> Vec<(IdentityKey, Time)> {
        let mut out: Vec<(IdentityKey, Time)> = Vec::new();
        while let Some(&(at, peer)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            let Some(secs) = self.timer(&peer) else {
                continue;
            };
            if out.iter().any(|(p, _)| *p == peer) {
                continue;
            }
            let before = Time::from_millis(
                now.as_millis()
                    .saturating_sub(secs.saturating_mul(1000))
                    .saturating_add(1),
            );
            out.push((peer, before));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::time::Duration;

    fn peer(seed: u64) -> IdentityKey {
        Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed)).key()
    }

    #[test]
    fn the_later_setting_wins_whatever_the_order() {
        let now = Time::from_secs(1000);
        let (a, b) = (
            Timer {
                secs: 3600,
                set_at: Time::from_secs(10),
            },
            Timer {
                secs: 60,
                set_at: Time::from_secs(20),
            },
        );
        let mut x = Disappearing::default();
        let mut y = Disappearing::default();
        assert!(x.set(peer(1), a, now) && x.set(peer(1), b, now));
        assert!(y.set(peer(1), b, now) && !y.set(peer(1), a, now));
        assert_eq!(x.timer(&peer(1)), Some(60));
        assert_eq!(y.timer(&peer(1)), Some(60));
        // Off is a setting like any other.
        assert!(x.set(
            peer(1),
            Timer {
                secs: 0,
                set_at: Time::from_secs(30)
            },
            now
        ));
        assert_eq!(x.timer(&peer(1)), None);
        // Out of bounds is refused.
        assert!(!x.set(
            peer(1),
            Timer {
                secs: 1,
                set_at: Time::from_secs(40)
            },
            now
        ));
        assert!(!x.set(
            peer(1),
            Timer {
                secs: MAX_SECS + 1,
                set_at: Time::from_secs(40)
            },
            now
        ));
    }

    #[test]
    fn messages_fall_due_a_timer_after_they_were_stored() {
        let start = Time::from_secs(1000);
        let mut d = Disappearing::default();
        d.set(
            peer(1),
            Timer {
                secs: 60,
                set_at: start,
            },
            start,
        );
        // The sweep at setting time finds nothing old yet…
        assert_eq!(
            d.take_due(start),
            vec![(
                peer(1),
                start - Duration::from_secs(60) + Duration::from_millis(1)
            )]
        );
        d.stored(peer(1), start + Duration::from_secs(5));
        d.stored(peer(2), start); // no timer there
        assert_eq!(d.poll_timeout(), Some(start + Duration::from_secs(65)));
        assert!(d.take_due(start + Duration::from_secs(64)).is_empty());
        let due = d.take_due(start + Duration::from_secs(65));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, peer(1));
        assert_eq!(d.poll_timeout(), None);
        // Turned off: what was due no longer is.
        d.stored(peer(1), start + Duration::from_secs(70));
        d.set(
            peer(1),
            Timer {
                secs: 0,
                set_at: start + Duration::from_secs(71),
            },
            start,
        );
        assert!(d.take_due(start + Duration::from_secs(1000)).is_empty());
    }

    #[test]
    fn stored_timers_load_and_damaged_ones_are_skipped() {
        let t = Timer {
            secs: 86_400,
            set_at: Time::from_secs(5),
        };
        let key = Disappearing::setting_key(&peer(1));
        let bad_key = Disappearing::setting_key(&peer(2));
        let settings = [
            (key.as_str(), t.encode()),
            (bad_key.as_str(), vec![1, 2, 3]),
            ("disappear/not-a-key", t.encode()),
        ];
        let d = Disappearing::load(
            settings.iter().map(|(k, v)| (*k, v.as_slice())),
            Time::from_secs(9),
        );
        assert_eq!(d.timer(&peer(1)), Some(86_400));
        assert_eq!(d.timer(&peer(2)), None);
        assert_eq!(d.poll_timeout(), Some(Time::from_secs(9)));
    }
}
