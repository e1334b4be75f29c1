//! Who a device is: an Ed25519 identity key and an X25519 static key for Noise,
//! the latter signed by the former.
//!
//! The identity key *is* the identity: contacts, safety numbers and the libp2p
//! peer id all derive from it. The static key only has meaning together with a
//! [`StaticBinding`], the identity's signature over it.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::wire::{DecodeError, Reader, Writer};

/// Domain separator for the identity's signature over its static key.
const STATIC_BINDING_DOMAIN: &[u8] = b"cairn/static-binding/v1";

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("not a valid Ed25519 public key")]
    InvalidIdentityKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("not a valid identity id (expected 52 base32 characters)")]
    BadIdentityText,
}

/// An Ed25519 public key that identifies a device. Always a valid curve point.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityKey([u8; 32]);

impl IdentityKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidIdentityKey)?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies `signature` over `domain || message`.
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidIdentityKey)?;
        let mut signed = Vec::with_capacity(domain.len() + message.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(message);
        key.verify_strict(&signed, &Signature::from_bytes(signature))
            .map_err(|_| KeyError::BadSignature)
    }

    /// The first characters of the textual id: enough for a human to tell
    /// contacts apart in a list, not enough to authenticate anyone.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_owned()
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_bytes(r.array("identity key")?).map_err(|_| DecodeError::Invalid("identity key"))
    }
}

/// Lower-case base32 without padding: 52 characters.
impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.short())
    }
}

impl IdentityKey {
    /// The key bytes a textual id spells, not yet checked to be a valid key.
    fn text_bytes(s: &str) -> Result<[u8; 32], KeyError> {
        if s.len() != 52 {
            return Err(KeyError::BadIdentityText);
        }
        let raw = BASE32_NOPAD
            .decode(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| KeyError::BadIdentityText)?;
        raw.try_into().map_err(|_| KeyError::BadIdentityText)
    }

    /// Looks a textual id up among keys already known to be valid, without
    /// the cost of validating it again (a curve point decompression).
    pub fn find_in<'a, V>(
        s: &str,
        known: &'a std::collections::BTreeMap<IdentityKey, V>,
    ) -> Option<&'a IdentityKey> {
        let bytes = Self::text_bytes(s).ok()?;
        known.get_key_value(&IdentityKey(bytes)).map(|(k, _)| k)
    }
}

impl FromStr for IdentityKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_bytes(Self::text_bytes(s)?)
    }
}

/// An X25519 public key used as a Noise static key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StaticKey(pub [u8; 32]);

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticKey({})", &BASE32_NOPAD.encode(&self.0)[..8])
    }
}

/// An identity's signed statement "this X25519 key is mine".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticBinding {
    pub identity: IdentityKey,
    pub static_key: StaticKey,
    pub signature: [u8; 64],
}

impl StaticBinding {
    pub fn verify(&self) -> Result<(), KeyError> {
        self.identity
            .verify(STATIC_BINDING_DOMAIN, &self.static_key.0, &self.signature)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.raw(self.identity.as_bytes())
            .raw(&self.static_key.0)
            .raw(&self.signature);
    }

    /// Decodes, and verifies unless the caller already has.
    pub(crate) fn decode(r: &mut Reader<'_>, verify: bool) -> Result<Self, DecodeError> {
        let binding = Self {
            identity: IdentityKey::decode(r)?,
            static_key: StaticKey(r.array("static key")?),
            signature: r.array("static key signature")?,
        };
        if verify {
            binding
                .verify()
                .map_err(|_| DecodeError::Invalid("static key signature"))?;
        }
        Ok(binding)
    }
}

/// The secret half of a device: both private keys. Never printed, zeroed on drop.
pub struct Identity {
    signing: SigningKey,
    static_secret: x25519_dalek::StaticSecret,
    binding: StaticBinding,
}

/// Length of [`Identity::to_secret_bytes`].
pub const IDENTITY_SECRET_LEN: usize = 64;

impl Identity {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let signing = SigningKey::generate(rng);
        let mut static_bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(static_bytes.as_mut());
        Self::from_parts(signing, x25519_dalek::StaticSecret::from(*static_bytes))
    }

    /// Restores an identity from [`Identity::to_secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8; IDENTITY_SECRET_LEN]) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[..32]);
        let mut static_bytes = Zeroizing::new([0u8; 32]);
        static_bytes.copy_from_slice(&bytes[32..]);
        Self::from_parts(
            SigningKey::from_bytes(&seed),
            x25519_dalek::StaticSecret::from(*static_bytes),
        )
    }

    fn from_parts(signing: SigningKey, static_secret: x25519_dalek::StaticSecret) -> Self {
        let identity = IdentityKey(signing.verifying_key().to_bytes());
        let static_key = StaticKey(x25519_dalek::PublicKey::from(&static_secret).to_bytes());
        let signature = sign_with(&signing, STATIC_BINDING_DOMAIN, &static_key.0);
        Self {
            signing,
            static_secret,
            binding: StaticBinding {
                identity,
                static_key,
                signature,
            },
        }
    }

    /// Ed25519 seed followed by the X25519 secret. Handle as the secret it is.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; IDENTITY_SECRET_LEN]> {
        let mut out = Zeroizing::new([0u8; IDENTITY_SECRET_LEN]);
        out[..32].copy_from_slice(&self.signing.to_bytes());
        out[32..].copy_from_slice(&self.static_secret.to_bytes());
        out
    }

    /// The Ed25519 seed, for deriving the libp2p keypair of the same identity.
    pub fn ed25519_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    pub fn key(&self) -> IdentityKey {
        self.binding.identity
    }

    pub fn static_key(&self) -> StaticKey {
        self.binding.static_key
    }

    pub fn binding(&self) -> &StaticBinding {
        &self.binding
    }

    pub(crate) fn static_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.static_secret.to_bytes())
    }

    /// Signs `domain || message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        sign_with(&self.signing, domain, message)
    }
}

fn sign_with(key: &SigningKey, domain: &[u8], message: &[u8]) -> [u8; 64] {
    let mut signed = Vec::with_capacity(domain.len() + message.len());
    signed.extend_from_slice(domain);
    signed.extend_from_slice(message);
    key.sign(&signed).to_bytes()
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("key", &self.key())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn secret_bytes_restore_the_same_identity() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let back = Identity::from_secret_bytes(&id.to_secret_bytes());
        assert_eq!(back.key(), id.key());
        assert_eq!(back.static_key(), id.static_key());
        back.binding().verify().unwrap();
    }

    #[test]
    fn binding_of_another_static_key_does_not_verify() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let a = Identity::generate(&mut rng);
        let b = Identity::generate(&mut rng);
        let mut forged = a.binding().clone();
        forged.static_key = b.static_key();
        assert_eq!(forged.verify(), Err(KeyError::BadSignature));
    }

    #[test]
    fn identity_text_round_trips_and_rejects_garbage() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(3)).key();
        let text = id.to_string();
        assert_eq!(text.len(), 52);
        assert_eq!(text.parse::<IdentityKey>().unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<IdentityKey>().unwrap(), id);
        assert!("not-an-id".parse::<IdentityKey>().is_err());
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(4));
        let shown = format!("{id:?}");
        let secret = BASE32_NOPAD
            .encode(&id.to_secret_bytes()[..])
            .to_ascii_lowercase();
        assert!(!shown.contains(&secret[..12]));
    }
}
