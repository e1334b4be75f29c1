//! snow, fed with our RNG instead of the operating system's.
//!
//! snow draws ephemeral keys from its resolver's RNG. The default resolver reads
//! the OS; ours hands out a ChaCha20 stream seeded by the caller, so the core
//! stays deterministic under a seed (and the simulator can replay a run).

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};

use crate::envelope::Pattern;

struct SeededRandom(ChaCha20Rng);

impl Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

struct SeededResolver {
    seed: [u8; 32],
}

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(self.seed))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

pub(crate) fn params(pattern: Pattern) -> NoiseParams {
    let name = match pattern {
        Pattern::Ik => "Noise_IK_25519_ChaChaPoly_BLAKE2s",
        Pattern::Xx => "Noise_XX_25519_ChaChaPoly_BLAKE2s",
    };
    // Both names are constants that snow is known to parse.
    #[allow(clippy::expect_used)]
    name.parse().expect("valid Noise parameter string")
}

/// The one-way pattern for messages sealed to a static key: the sender's
/// static key travels encrypted and is authenticated (`X`).
pub(crate) fn one_way_builder<'a>(seed: [u8; 32]) -> snow::Builder<'a> {
    // A constant that snow is known to parse.
    #[allow(clippy::expect_used)]
    let params = "Noise_X_25519_ChaChaPoly_BLAKE2s"
        .parse()
        .expect("valid Noise parameter string");
    snow::Builder::with_resolver(params, Box::new(SeededResolver { seed }))
}

/// A snow builder whose ephemeral keys come from `seed`.
pub(crate) fn builder<'a>(pattern: Pattern, seed: [u8; 32]) -> snow::Builder<'a> {
    snow::Builder::with_resolver(params(pattern), Box::new(SeededResolver { seed }))
}
