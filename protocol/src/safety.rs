//! Safety numbers: 60 digits derived from two identity keys, the same on both
//! screens whichever side computes them.
//!
//! Each key yields 30 digits from an iterated SHA-512 (the iteration makes
//! grinding for a look-alike number expensive); the two halves are sorted and
//! joined, which is what makes the result independent of who asks.

use std::fmt;

use sha2::{Digest, Sha512};

use crate::identity::IdentityKey;

const VERSION: [u8; 2] = [0, 1];
const ITERATIONS: usize = 5200;

/// Sixty decimal digits, shown in twelve groups of five.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    pub fn new(a: &IdentityKey, b: &IdentityKey) -> Self {
        let mut halves = [digits_for(a), digits_for(b)];
        halves.sort();
        SafetyNumber(halves.concat())
    }

    /// The bare 60 digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// Twelve groups of five digits.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        (0..12).map(move |i| &self.0[i * 5..i * 5 + 5])
    }
}

fn digits_for(key: &IdentityKey) -> String {
    let mut hash = Sha512::new()
        .chain_update(VERSION)
        .chain_update(key.as_bytes())
        .chain_update(b"cairn/safety-number")
        .finalize();
    for _ in 0..ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key.as_bytes())
            .finalize();
    }
    hash[..30]
        .chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<&str> = self.groups().collect();
        write!(
            f,
            "{}\n{}\n{}",
            groups[..4].join(" "),
            groups[4..8].join(" "),
            groups[8..].join(" ")
        )
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn same_number_on_both_sides_and_different_for_other_pairs() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let a = Identity::generate(&mut rng).key();
        let b = Identity::generate(&mut rng).key();
        let c = Identity::generate(&mut rng).key();
        let ab = SafetyNumber::new(&a, &b);
        assert_eq!(ab, SafetyNumber::new(&b, &a));
        assert_eq!(ab.digits().len(), 60);
        assert!(ab.digits().bytes().all(|d| d.is_ascii_digit()));
        assert_ne!(ab, SafetyNumber::new(&a, &c));
        assert_eq!(ab.groups().count(), 12);
    }
}
