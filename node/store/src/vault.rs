//! Encryption at rest: keys derived from the passphrase, records sealed with
//! XChaCha20-Poly1305, and table keys blinded so the file does not even show
//! which identity a row belongs to.
//!
//! Key schedule: `master = Argon2id(passphrase, salt, m, t, p)`; the record key
//! and the blinding key are keyed BLAKE2b of `master` with distinct labels. A
//! sealed record is `nonce(24) ‖ AEAD(len:u32 ‖ record ‖ zero padding)` with the
//! table name and row key as associated data, so rows cannot be swapped, and
//! the padding rounds lengths up to a few sizes.

use argon2::{Algorithm, Argon2, Params, Version};
use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::{U16, U32};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// Padded record sizes, before the tag.
const BUCKETS: [usize; 6] = [64, 256, 1024, 4096, 16384, 65536];
const CHECK_PLAINTEXT: &[u8] = b"cairn store key check v1";

/// The most memory a stored KDF setting may ask for (1 GiB, 16× the
/// default): the parameters sit in the clear in the file, and anyone who can
/// edit it could otherwise demand any amount at unlock.
pub const MAX_KDF_MEMORY_KIB: u32 = 1024 * 1024;
/// The most Argon2 passes a stored setting may ask for.
pub const MAX_KDF_ITERATIONS: u32 = 32;
/// The most lanes a stored setting may ask for.
pub const MAX_KDF_PARALLELISM: u32 = 16;

/// Argon2id cost and salt, stored in the clear beside the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfParams {
    pub salt: [u8; 16],
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// OWASP's Argon2id recommendation with a wide margin: 64 MiB, 3 passes.
    pub fn generate() -> Self {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Self {
            salt,
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.salt.to_vec();
        out.extend_from_slice(&self.memory_kib.to_be_bytes());
        out.extend_from_slice(&self.iterations.to_be_bytes());
        out.extend_from_slice(&self.parallelism.to_be_bytes());
        out
    }

    /// Reads stored parameters; `None` for anything malformed or past the
    /// bounds above.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 28 {
            return None;
        }
        let word =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[..16]);
        let params = Self {
            salt,
            memory_kib: word(16),
            iterations: word(20),
            parallelism: word(24),
        };
        let bounded = (1..=MAX_KDF_MEMORY_KIB).contains(&params.memory_kib)
            && (1..=MAX_KDF_ITERATIONS).contains(&params.iterations)
            && (1..=MAX_KDF_PARALLELISM).contains(&params.parallelism);
        bounded.then_some(params)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    #[error("key derivation failed: {0}")]
    Kdf(String),
    #[error("a record does not decrypt: wrong passphrase or a damaged store")]
    Open,
}

/// The keys that open one profile's store.
pub struct Vault {
    cipher: XChaCha20Poly1305,
    blind_key: Zeroizing<[u8; 32]>,
}

pub(crate) fn derive(master: &[u8], label: &[u8]) -> Zeroizing<[u8; 32]> {
    // A 32-byte key is always acceptable to keyed BLAKE2b.
    #[allow(clippy::expect_used)]
    let mut mac = <Blake2bMac<U32> as Mac>::new_from_slice(master).expect("32-byte key");
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// `Argon2id(passphrase, salt, m, t, p)`: the root every key of a store (or
/// a backup) is derived from with a label.
pub(crate) fn master_key(
    passphrase: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| VaultError::Kdf(e.to_string()))?;
    let mut master = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase, &params.salt, master.as_mut())
        .map_err(|e| VaultError::Kdf(e.to_string()))?;
    Ok(master)
}

impl Vault {
    /// Derives the keys from a passphrase. Deliberately slow (Argon2id).
    pub fn derive(passphrase: &[u8], params: &KdfParams) -> Result<Self, VaultError> {
        let master = master_key(passphrase, params)?;
        let record_key = derive(master.as_ref(), b"cairn/store/records");
        let blind_key = derive(master.as_ref(), b"cairn/store/blind");
        Ok(Self {
            cipher: XChaCha20Poly1305::new(record_key.as_ref().into()),
            blind_key,
        })
    }

    /// A vault under fresh random keys, for stores that never touch a disk.
    pub fn random() -> Self {
        let mut master = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(master.as_mut());
        Self {
            cipher: XChaCha20Poly1305::new(
                derive(master.as_ref(), b"cairn/store/records")
                    .as_ref()
                    .into(),
            ),
            blind_key: derive(master.as_ref(), b"cairn/store/blind"),
        }
    }

    /// Seals `plaintext`, bound to `table` and `key`.
    pub fn seal(&self, table: &str, key: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut padded = Zeroizing::new(Vec::with_capacity(plaintext.len() + 4));
        padded.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
        padded.extend_from_slice(plaintext);
        let bucket = BUCKETS
            .iter()
            .copied()
            .find(|b| *b >= padded.len())
            .unwrap_or(padded.len());
        padded.resize(bucket, 0);
        let mut nonce = [0u8; 24];
        // A CSPRNG seeded from the OS, without a system call per record.
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = aad(table, key);
        // Encryption only fails for inputs beyond 2^38 bytes.
        #[allow(clippy::expect_used)]
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &padded,
                    aad: &aad,
                },
            )
            .expect("record within AEAD limits");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a record sealed by [`Vault::seal`] for the same `table` and `key`.
    pub fn open(
        &self,
        table: &str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if sealed.len() < 24 + 16 + 4 {
            return Err(VaultError::Open);
        }
        let (nonce, body) = sealed.split_at(24);
        let aad = aad(table, key);
        let padded = Zeroizing::new(
            self.cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: &aad,
                    },
                )
                .map_err(|_| VaultError::Open)?,
        );
        let len = u32::from_be_bytes([padded[0], padded[1], padded[2], padded[3]]) as usize;
        if len > padded.len() - 4 {
            return Err(VaultError::Open);
        }
        Ok(Zeroizing::new(padded[4..4 + len].to_vec()))
    }

    /// A 16-byte keyed hash of `parts`: a row key that reveals nothing
    /// without the passphrase.
    pub fn blind(&self, parts: &[&[u8]]) -> [u8; 16] {
        #[allow(clippy::expect_used)]
        let mut mac =
            <Blake2bMac<U16> as Mac>::new_from_slice(self.blind_key.as_ref()).expect("32-byte key");
        for part in parts {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A value that only this vault opens, to tell a wrong passphrase.
    pub fn check_value(&self) -> Vec<u8> {
        self.seal("meta", b"check", CHECK_PLAINTEXT)
    }

    pub fn verify_check(&self, value: &[u8]) -> bool {
        self.open("meta", b"check", value)
            .is_ok_and(|v| v.as_slice() == CHECK_PLAINTEXT)
    }
}

fn aad(table: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(table.len() + key.len() + 1);
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> KdfParams {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            ..KdfParams::generate()
        }
    }

    #[test]
    fn sealed_records_open_only_in_place_and_with_the_right_key() {
        let params = quick();
        let vault = Vault::derive(b"pass", &params).unwrap();
        let sealed = vault.seal("messages", b"k1", b"hello");
        assert_eq!(
            vault.open("messages", b"k1", &sealed).unwrap().as_slice(),
            b"hello"
        );
        assert!(vault.open("messages", b"k2", &sealed).is_err());
        assert!(vault.open("contacts", b"k1", &sealed).is_err());
        let wrong = Vault::derive(b"other", &params).unwrap();
        assert!(wrong.open("messages", b"k1", &sealed).is_err());
        assert!(!wrong.verify_check(&vault.check_value()));
        assert!(vault.verify_check(&vault.check_value()));
    }

    #[test]
    fn lengths_are_padded_to_buckets() {
        let vault = Vault::derive(b"p", &quick()).unwrap();
        let a = vault.seal("t", b"k", b"a");
        let b = vault.seal("t", b"k", &[7u8; 50]);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn kdf_params_round_trip() {
        let p = KdfParams::generate();
        assert_eq!(KdfParams::decode(&p.encode()), Some(p));
        assert_eq!(KdfParams::decode(&[1, 2]), None);
    }

    /// THREAT_MODEL.md "Attacks tried" 11: an edited file cannot demand
    /// unbounded memory or time at unlock.
    #[test]
    fn stored_kdf_costs_past_the_bounds_are_refused() {
        let p = KdfParams::generate();
        let edit = |at: usize, v: u32| {
            let mut b = p.encode();
            b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            KdfParams::decode(&b)
        };
        assert!(edit(16, MAX_KDF_MEMORY_KIB).is_some());
        assert_eq!(edit(16, MAX_KDF_MEMORY_KIB + 1), None);
        assert_eq!(edit(16, u32::MAX), None);
        assert_eq!(edit(20, MAX_KDF_ITERATIONS + 1), None);
        assert_eq!(edit(20, 0), None);
        assert_eq!(edit(24, MAX_KDF_PARALLELISM + 1), None);
    }
}
