//! PRoPHET (Lindgren, Doria and Schelén, 2003; RFC 6693) over recipient
//! tags: the standard encounter-history baseline of the DTN literature, here
//! so the simulator can set Cairn's routing beside it
//! ([`super::Policy::Prophet`]). **Not for real use**: a node running it
//! tells every neighbour which tags it has seen and how often it meets them
//! (the summary's `predictions`), which is exactly what Cairn's own routing
//! keeps to itself.
//!
//! Each node keeps a delivery predictability `P` per tag (and per neighbour
//! it meets), in [0, 1]:
//!
//! ```text
//! met the tag's recipient    P = P + (1 − P) · P_INIT
//! time passes (k units)      P = P · GAMMA^k
//! neighbour b, P(b, t)       P = max(P, P(a, b) · P(b, t) · BETA)
//! ```
//!
//! and hands a copy of an envelope to a neighbour whose `P` for its tag is
//! higher than its own (GRTR: the holder keeps its copy). The constants are
//! the RFC's and The ONE simulator's.
//!
//! PRoPHET needs destinations that stay the same from one encounter to the
//! next, and Cairn's tags change with every epoch, contact and slot so that
//! nobody can tell two envelopes to one person apart. Under this policy an
//! envelope's tag is therefore [`stable_tag`] of its recipient — anyone who
//! knows the recipient's public key can compute it — and a node announces
//! its own among its interests; the recipient opens such envelopes as it
//! opens any it does not recognise (trying once).

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::tag::Tag;
use crate::identity::IdentityKey;
use crate::time::Time;

pub const P_INIT: f64 = 0.75;
pub const BETA: f64 = 0.25;
pub const GAMMA: f64 = 0.98;
/// One unit of ageing.
pub const UNIT: Duration = Duration::from_secs(30);
/// Tags (and neighbours) remembered; the least likely go first.
pub const MAX_ENTRIES: usize = 4096;
/// Most predictions one summary carries (the likeliest).
pub const MAX_SHARED: usize = 256;

/// The tag every envelope to `recipient` carries under PRoPHET: public,
/// the same forever.
pub fn stable_tag(recipient: &IdentityKey) -> Tag {
    let digest = Sha256::new()
        .chain_update(b"cairn/prophet-baseline/v1")
        .chain_update(recipient.as_bytes())
        .finalize();
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&digest[..16]);
    Tag(tag)
}

/// One predictability and when it was last aged.
#[derive(Debug, Clone, Copy)]
struct Entry {
    p: f64,
    at: Time,
}

impl Entry {
    fn aged(self, now: Time) -> Self {
        let units = now.since(self.at).as_millis() / UNIT.as_millis();
        if units == 0 {
            return self;
        }
        let p = self.p * GAMMA.powi(units.min(i32::MAX as u128) as i32);
        Self {
            p,
            at: self.at + UNIT * units.min(u32::MAX as u128) as u32,
        }
    }
}

/// A node's delivery predictabilities.
#[derive(Debug, Default)]
pub struct Predictions {
    tags: BTreeMap<Tag, Entry>,
    peers: BTreeMap<IdentityKey, Entry>,
}

/// A predictability on the wire: `P · 255`, rounded down.
pub fn quantize(p: f64) -> u8 {
    (p.clamp(0.0, 1.0) * 255.0) as u8
}

pub fn dequantize(q: u8) -> f64 {
    f64::from(q) / 255.0
}

impl Predictions {
    /// Our predictability for `tag` now.
    pub fn of(&self, tag: &Tag, now: Time) -> f64 {
        self.tags.get(tag).map_or(0.0, |e| e.aged(now).p)
    }

    /// Our predictability for meeting `peer` now.
    pub fn of_peer(&self, peer: &IdentityKey, now: Time) -> f64 {
        self.peers.get(peer).map_or(0.0, |e| e.aged(now).p)
    }

    /// We met `peer`: raises P(us, peer) and returns it.
    pub fn met_peer(&mut self, peer: IdentityKey, now: Time) -> f64 {
        let e = self
            .peers
            .get(&peer)
            .map_or(Entry { p: 0.0, at: now }, |e| e.aged(now));
        let p = e.p + (1.0 - e.p) * P_INIT;
        self.peers.insert(peer, Entry { p, at: e.at });
        bound(&mut self.peers);
        p
    }

    /// We met the recipient of `tag`.
    pub fn met_recipient(&mut self, tag: Tag, now: Time) {
        let e = self
            .tags
            .get(&tag)
            .map_or(Entry { p: 0.0, at: now }, |e| e.aged(now));
        self.tags.insert(
            tag,
            Entry {
                p: e.p + (1.0 - e.p) * P_INIT,
                at: e.at,
            },
        );
        bound(&mut self.tags);
    }

    /// A neighbour we meet with predictability `p_peer` meets the recipient
    /// of `tag` with `p_theirs`.
    pub fn through(&mut self, tag: Tag, p_peer: f64, p_theirs: f64, now: Time) {
        let e = self
            .tags
            .get(&tag)
            .map_or(Entry { p: 0.0, at: now }, |e| e.aged(now));
        let p = e.p.max(p_peer * p_theirs * BETA);
        if p > 0.0 {
            self.tags.insert(tag, Entry { p, at: e.at });
            bound(&mut self.tags);
        }
    }

    /// The tags we know, for checking against a neighbour's interest.
    pub fn tags(&self) -> impl Iterator<Item = &Tag> {
        self.tags.keys()
    }

    /// What a summary tells neighbours: our likeliest tags, at most
    /// [`MAX_SHARED`], in tag order.
    pub fn shared(&self, now: Time) -> Vec<(Tag, u8)> {
        let mut all: Vec<(Tag, u8)> = self
            .tags
            .iter()
            .map(|(t, e)| (*t, quantize(e.aged(now).p)))
            .filter(|(_, q)| *q > 0)
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(MAX_SHARED);
        all.sort_by_key(|(t, _)| *t);
        all
    }
}

/// Keeps at most [`MAX_ENTRIES`], dropping the lowest (as last aged).
fn bound<K: Ord + Copy>(map: &mut BTreeMap<K, Entry>) {
    while map.len() > MAX_ENTRIES {
        let lowest = map
            .iter()
            .min_by(|a, b| a.1.p.total_cmp(&b.1.p))
            .map(|(k, _)| *k);
        match lowest {
            Some(k) => map.remove(&k),
            None => break,
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(n: u8) -> Tag {
        Tag([n; 16])
    }

    #[test]
    fn meeting_raises_time_lowers_and_neighbours_lend_a_quarter() {
        let mut p = Predictions::default();
        let now = Time::from_secs(1000);
        p.met_recipient(t(1), now);
        assert!((p.of(&t(1), now) - 0.75).abs() < 1e-9);
        p.met_recipient(t(1), now);
        assert!((p.of(&t(1), now) - 0.9375).abs() < 1e-9);
        // Ten units later: GAMMA^10.
        let later = now + UNIT * 10;
        assert!((p.of(&t(1), later) - 0.9375 * GAMMA.powi(10)).abs() < 1e-9);
        // Through a neighbour met once (0.75) that meets tag 2 surely.
        let neighbour = crate::identity::Identity::generate(
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(7),
        )
        .key();
        let via = p.met_peer(neighbour, now);
        p.through(t(2), via, 1.0, now);
        assert!((p.of(&t(2), now) - 0.75 * BETA).abs() < 1e-9);
        // Never lowered by a worse path.
        p.through(t(1), via, 0.1, now);
        assert!((p.of(&t(1), now) - 0.9375).abs() < 1e-9);
    }

    #[test]
    fn what_is_shared_and_kept_is_bounded_and_the_likeliest() {
        let mut p = Predictions::default();
        let now = Time::from_secs(1);
        for i in 0..(MAX_ENTRIES + 10) {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&(i as u64).to_be_bytes());
            p.through(Tag(b), 1.0, (i % 200) as f64 / 200.0 + 0.01, now);
        }
        assert_eq!(p.tags.len(), MAX_ENTRIES);
        let shared = p.shared(now);
        assert_eq!(shared.len(), MAX_SHARED);
        let lowest_shared = shared.iter().map(|(_, q)| *q).min().unwrap();
        assert!(
            p.tags
                .values()
                .filter(|e| quantize(e.p) > lowest_shared)
                .count()
                <= MAX_SHARED
        );
        assert!(shared.windows(2).all(|w| w[0].0 < w[1].0), "sorted by tag");
    }

    fn summary(predictions: Vec<(Tag, u8)>) -> super::super::Summary {
        let mut interest = super::super::bloom::Bloom::for_items(4);
        interest.insert(&[1; 16]);
        super::super::Summary {
            have: super::super::bloom::Bloom::for_items(4),
            interest,
            predictions,
        }
    }

    /// The section is on the wire only under PRoPHET; a summary without it
    /// is byte for byte what nodes have always sent.
    #[test]
    fn a_summary_carries_predictions_only_when_there_are_some() {
        use crate::frame::Frame;
        let plain = summary(Vec::new());
        let bytes = Frame::Summary(plain.clone()).encode();
        assert_eq!(
            bytes.len(),
            2 + plain.have.encoded_len() + plain.interest.encoded_len()
        );
        assert_eq!(Frame::decode(&bytes).unwrap(), Frame::Summary(plain));
        let with = summary(vec![(t(1), 200), (t(2), 3), (t(9), 255)]);
        let bytes = Frame::Summary(with.clone()).encode();
        assert_eq!(bytes.len(), 2 + with.encoded_len());
        assert_eq!(Frame::decode(&bytes).unwrap(), Frame::Summary(with));
    }

    /// Hostile lists: empty but announced, longer than the bound, out of
    /// order or repeated (which would let one tag count twice), cut short.
    #[test]
    fn hostile_prediction_lists_are_refused() {
        use crate::frame::Frame;
        let base = Frame::Summary(summary(Vec::new())).encode();
        let with_section = |count: u16, tags: &[(u8, u8)]| {
            let mut b = base.clone();
            b.extend_from_slice(&count.to_be_bytes());
            for (tag, p) in tags {
                b.extend_from_slice(&[*tag; 16]);
                b.push(*p);
            }
            b
        };
        assert!(Frame::decode(&with_section(0, &[])).is_err(), "empty");
        let many: Vec<(u8, u8)> = (0..=255u8).map(|i| (i, 1)).collect();
        assert!(
            Frame::decode(&with_section(256, &many)).is_ok(),
            "at the bound"
        );
        let mut too_many = with_section(257, &many);
        too_many.extend_from_slice(&[0xff; 17]);
        assert!(Frame::decode(&too_many).is_err(), "over the bound");
        assert!(
            Frame::decode(&with_section(2, &[(5, 1), (4, 1)])).is_err(),
            "out of order"
        );
        assert!(
            Frame::decode(&with_section(2, &[(5, 1), (5, 9)])).is_err(),
            "repeated"
        );
        let mut short = with_section(2, &[(1, 1), (2, 2)]);
        short.pop();
        assert!(Frame::decode(&short).is_err(), "cut short");
        let mut long = with_section(1, &[(1, 1)]);
        long.push(0);
        assert!(Frame::decode(&long).is_err(), "trailing byte");
    }
}
