//! A Bloom filter over 16-byte random values (envelope ids, tags), for the
//! summaries neighbours exchange.
//!
//! ```text
//! bloom = k:u8 (1..=16) bits:bytes16 (1..=MAX_BLOOM_BYTES)
//! ```
//! The values are uniformly random already, so the k probe positions come
//! from the value's own bytes by double hashing; no hash function is needed.

use crate::wire::{DecodeError, Reader, Writer};

/// The largest filter: 8 KiB, enough for ~6 500 entries at 1 % false positives.
pub const MAX_BLOOM_BYTES: usize = 8192;
const MAX_K: u8 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    k: u8,
    bits: Vec<u8>,
}

impl Bloom {
    /// A filter sized for `items` entries at about 1 % false positives (less
    /// when the size bound is not reached, more when it is).
    pub fn for_items(items: usize) -> Self {
        let bits = (items.max(1) * 10).div_ceil(8).clamp(8, MAX_BLOOM_BYTES);
        let per_item = (bits * 8) as f64 / items.max(1) as f64;
        let k = (per_item * std::f64::consts::LN_2)
            .round()
            .clamp(1.0, f64::from(MAX_K)) as u8;
        Self {
            k,
            bits: vec![0; bits],
        }
    }

    fn positions(&self, value: &[u8; 16]) -> impl Iterator<Item = usize> + '_ {
        let mut h1 = [0u8; 8];
        let mut h2 = [0u8; 8];
        h1.copy_from_slice(&value[..8]);
        h2.copy_from_slice(&value[8..]);
        let (h1, h2) = (u64::from_le_bytes(h1), u64::from_le_bytes(h2) | 1);
        let m = (self.bits.len() * 8) as u64;
        (0..u64::from(self.k)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    pub fn insert(&mut self, value: &[u8; 16]) {
        let positions: Vec<usize> = self.positions(value).collect();
        for p in positions {
            self.bits[p / 8] |= 1 << (p % 8);
        }
    }

    pub fn contains(&self, value: &[u8; 16]) -> bool {
        self.positions(value)
            .all(|p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }

    pub fn encoded_len(&self) -> usize {
        3 + self.bits.len()
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.k).bytes(&self.bits);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let k = r.u8("bloom k")?;
        if k == 0 || k > MAX_K {
            return Err(DecodeError::Invalid("bloom k"));
        }
        let bits = r.bytes(MAX_BLOOM_BYTES, "bloom")?;
        if bits.is_empty() {
            return Err(DecodeError::Invalid("empty bloom"));
        }
        Ok(Self {
            k,
            bits: bits.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted_and_rarely_more() {
        let mut b = Bloom::for_items(1000);
        let value = |i: u32| {
            let mut v = [0u8; 16];
            v[..4].copy_from_slice(&i.to_le_bytes());
            v[4..8].copy_from_slice(&i.wrapping_mul(2654435761).to_le_bytes());
            v[8..12].copy_from_slice(&i.wrapping_mul(40503).to_le_bytes());
            v[12..].copy_from_slice(&i.rotate_left(7).to_le_bytes());
            v
        };
        for i in 0..1000 {
            b.insert(&value(i));
        }
        assert!((0..1000).all(|i| b.contains(&value(i))));
        let false_positives = (1000..11000).filter(|i| b.contains(&value(*i))).count();
        assert!(
            false_positives < 300,
            "{false_positives} false positives in 10 000"
        );
    }
}
