//! The Double Ratchet (Signal's specification, revision 1, sections 3.2–3.5)
//! over X25519, HKDF-SHA-256, HMAC-SHA-256 and ChaCha20-Poly1305.
//!
//! Written here rather than taken from vodozemac (Matrix's audited Olm)
//! because the core must be deterministic under a seed: every key it makes
//! comes from the engine's RNG, so one seed replays a simulated week byte for
//! byte. vodozemac draws its keys from the thread RNG with no way to pass one
//! in. The construction is the textbook one, step for step; the tests below
//! follow the specification's properties (out of order, skipped, replayed,
//! tampered, a compromise that heals).
//!
//! ```text
//! KDF_RK(rk, dh) = HKDF-SHA-256(salt = rk, ikm = dh, info = "cairn/ratchet/root")[64] → (rk', ck)
//! KDF_CK(ck)     = (HMAC(ck, 0x01) → mk, HMAC(ck, 0x02) → ck')
//! ENCRYPT(mk)    = ChaCha20-Poly1305(HKDF(mk, info = "cairn/ratchet/message"), nonce 0, ad ‖ header)
//! header         = dh:[32] pn:u32 n:u32
//! ```
//!
//! Headers are not encrypted here: every ratchet message travels inside a
//! sealed envelope (`sealed.rs`) that hides them from everyone but the
//! recipient.
//!
//! Decryption is transactional: a message that fails authentication leaves
//! the state as it was. Skipped message keys are kept for messages that come
//! out of order (at most [`MAX_SKIP`] per chain step, [`MAX_SKIPPED`] in all)
//! and forgotten once older than the caller says (`forget_skipped_before`):
//! a skipped key is the one thing a seized device could still open a recorded
//! message with.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

/// Most message keys one step may skip.
pub const MAX_SKIP: u32 = 256;
/// Most skipped message keys kept in all.
pub const MAX_SKIPPED: usize = 256;
/// Length of an encoded [`Header`].
pub const HEADER_LEN: usize = 40;
/// What the AEAD adds.
pub const TAG_LEN: usize = 16;

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RatchetError {
    #[error("a key agreement gave the all-zero value (a low-order public key)")]
    LowOrder,
    #[error("message does not authenticate")]
    Decrypt,
    #[error("message is {0} steps ahead of its chain; at most {MAX_SKIP} may be skipped")]
    TooFarAhead(u32),
    #[error("this session cannot send yet")]
    CannotSend,
    #[error("this session cannot receive on that chain")]
    NoChain,
    #[error("stored ratchet malformed: {0}")]
    Decode(#[from] DecodeError),
}

type Secret = Zeroizing<[u8; 32]>;

/// An X25519 key pair; the secret is zeroed on drop.
#[derive(Clone)]
pub struct KeyPair {
    secret: Secret,
    public: [u8; 32],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self::from_secret(secret)
    }

    pub fn from_secret(secret: Secret) -> Self {
        let public = x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES);
        Self { secret, public }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// X25519 with `public`, refusing the all-zero result of a low-order point.
    pub fn dh(&self, public: &[u8; 32]) -> Result<Secret, RatchetError> {
        dh(&self.secret, public)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.raw(self.secret.as_ref());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::from_secret(Zeroizing::new(r.array("key")?)))
    }
}

/// X25519, refusing the all-zero output (contributory behaviour).
pub fn dh(secret: &[u8; 32], public: &[u8; 32]) -> Result<Secret, RatchetError> {
    let out = Zeroizing::new(x25519_dalek::x25519(*secret, *public));
    if out.iter().all(|b| *b == 0) {
        return Err(RatchetError::LowOrder);
    }
    Ok(out)
}

fn kdf_rk(rk: &[u8; 32], dh_out: &[u8; 32]) -> (Secret, Secret) {
    let hk = Hkdf::<Sha256>::new(Some(rk), dh_out);
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF-SHA-256's limit of 8160.
    #[allow(clippy::expect_used)]
    hk.expand(b"cairn/ratchet/root", okm.as_mut())
        .expect("64 bytes fit HKDF");
    let mut root = Zeroizing::new([0u8; 32]);
    let mut chain = Zeroizing::new([0u8; 32]);
    root.copy_from_slice(&okm[..32]);
    chain.copy_from_slice(&okm[32..]);
    (root, chain)
}

fn kdf_ck(ck: &[u8; 32]) -> (Secret, Secret) {
    let step = |byte: u8| {
        // HMAC takes keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(ck).expect("any key length");
        mac.update(&[byte]);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    };
    (step(2), step(1))
}

fn aead(mk: &[u8; 32]) -> ChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::from_prk(mk);
    let mut key = Zeroizing::new([0u8; 32]);
    match hk {
        Ok(hk) => {
            // 32 bytes always fit.
            #[allow(clippy::expect_used)]
            hk.expand(b"cairn/ratchet/message", key.as_mut())
                .expect("32 bytes fit HKDF");
        }
        // A 32-byte PRK is always long enough.
        Err(_) => unreachable!("a 32-byte PRK is valid"),
    }
    ChaCha20Poly1305::new((&*key).into())
}

/// What travels beside each ratchet message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The sender's current ratchet public key.
    pub dh: [u8; 32],
    /// How many messages the sender's previous sending chain had.
    pub pn: u32,
    /// This message's number in its chain.
    pub n: u32,
}

impl Header {
    pub fn encode(&self, w: &mut Writer) {
        w.raw(&self.dh).u32(self.pn).u32(self.n);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            dh: r.array("ratchet key")?,
            pn: r.u32("previous chain length")?,
            n: r.u32("message number")?,
        })
    }

    fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut w = Writer::with_capacity(HEADER_LEN);
        self.encode(&mut w);
        let mut out = [0u8; HEADER_LEN];
        out.copy_from_slice(&w.into_vec());
        out
    }
}

/// One side of a Double Ratchet session.
#[derive(Clone)]
pub struct Ratchet {
    rk: Secret,
    dhs: KeyPair,
    dhr: Option<[u8; 32]>,
    cks: Option<Secret>,
    ckr: Option<Secret>,
    ns: u32,
    nr: u32,
    pn: u32,
    /// Keys of messages skipped over, by (ratchet key, number), with when.
    skipped: BTreeMap<([u8; 32], u32), (Secret, Time)>,
}

impl std::fmt::Debug for Ratchet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ratchet")
            .field("ns", &self.ns)
            .field("nr", &self.nr)
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

impl Ratchet {
    /// The side that starts (Alice): knows the other's first ratchet key.
    pub fn init_sender<R: RngCore + CryptoRng>(
        sk: &[u8; 32],
        their_dh: [u8; 32],
        rng: &mut R,
    ) -> Result<Self, RatchetError> {
        let dhs = KeyPair::generate(rng);
        let (rk, cks) = kdf_rk(sk, &*dhs.dh(&their_dh)?);
        Ok(Self {
            rk,
            dhs,
            dhr: Some(their_dh),
            cks: Some(cks),
            ckr: None,
            ns: 0,
            nr: 0,
            pn: 0,
            skipped: BTreeMap::new(),
        })
    }

    /// The side that answers (Bob): its first ratchet key is the prekey the
    /// sender used.
    pub fn init_receiver(sk: &[u8; 32], ours: KeyPair) -> Self {
        Self {
            rk: Zeroizing::new(*sk),
            dhs: ours,
            dhr: None,
            cks: None,
            ckr: None,
            ns: 0,
            nr: 0,
            pn: 0,
            skipped: BTreeMap::new(),
        }
    }

    pub fn can_send(&self) -> bool {
        self.cks.is_some()
    }

    /// Encrypts `plaintext`, binding `ad`.
    pub fn encrypt(
        &mut self,
        plaintext: &[u8],
        ad: &[u8],
    ) -> Result<(Header, Vec<u8>), RatchetError> {
        let cks = self.cks.as_ref().ok_or(RatchetError::CannotSend)?;
        let (next, mk) = kdf_ck(cks);
        let header = Header {
            dh: self.dhs.public,
            pn: self.pn,
            n: self.ns,
        };
        self.cks = Some(next);
        self.ns = self.ns.wrapping_add(1);
        let aad = [ad, &header.bytes()[..]].concat();
        let ciphertext = aead(&mk)
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| RatchetError::Decrypt)?;
        Ok((header, ciphertext))
    }

    /// Decrypts a message; on any failure the state is left as it was.
    pub fn decrypt<R: RngCore + CryptoRng>(
        &mut self,
        header: &Header,
        ciphertext: &[u8],
        ad: &[u8],
        now: Time,
        rng: &mut R,
    ) -> Result<Vec<u8>, RatchetError> {
        let mut next = self.clone();
        let plaintext = next.decrypt_in_place(header, ciphertext, ad, now, rng)?;
        *self = next;
        Ok(plaintext)
    }

    fn decrypt_in_place<R: RngCore + CryptoRng>(
        &mut self,
        header: &Header,
        ciphertext: &[u8],
        ad: &[u8],
        now: Time,
        rng: &mut R,
    ) -> Result<Vec<u8>, RatchetError> {
        let aad = [ad, &header.bytes()[..]].concat();
        let open = |mk: &[u8; 32]| {
            aead(mk)
                .decrypt(
                    &Nonce::default(),
                    Payload {
                        msg: ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| RatchetError::Decrypt)
        };
        if let Some((mk, _)) = self.skipped.remove(&(header.dh, header.n)) {
            return open(&mk);
        }
        if self.dhr != Some(header.dh) {
            self.skip(header.pn, now)?;
            self.dh_ratchet(header, rng)?;
        }
        self.skip(header.n, now)?;
        let ckr = self.ckr.as_ref().ok_or(RatchetError::NoChain)?;
        let (next, mk) = kdf_ck(ckr);
        self.ckr = Some(next);
        self.nr = self.nr.wrapping_add(1);
        open(&mk)
    }

    fn skip(&mut self, until: u32, now: Time) -> Result<(), RatchetError> {
        let Some(dhr) = self.dhr else {
            return Ok(());
        };
        if until > self.nr.saturating_add(MAX_SKIP) {
            return Err(RatchetError::TooFarAhead(until - self.nr));
        }
        while self.nr < until {
            let Some(ckr) = self.ckr.as_ref() else {
                return Ok(());
            };
            let (next, mk) = kdf_ck(ckr);
            self.ckr = Some(next);
            self.skipped.insert((dhr, self.nr), (mk, now));
            self.nr += 1;
        }
        while self.skipped.len() > MAX_SKIPPED {
            let oldest = self
                .skipped
                .iter()
                .min_by_key(|(k, (_, at))| (*at, **k))
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.skipped.remove(&k);
            }
        }
        Ok(())
    }

    fn dh_ratchet<R: RngCore + CryptoRng>(
        &mut self,
        header: &Header,
        rng: &mut R,
    ) -> Result<(), RatchetError> {
        self.pn = self.ns;
        self.ns = 0;
        self.nr = 0;
        self.dhr = Some(header.dh);
        let (rk, ckr) = kdf_rk(&self.rk, &*self.dhs.dh(&header.dh)?);
        self.dhs = KeyPair::generate(rng);
        let (rk, cks) = kdf_rk(&rk, &*self.dhs.dh(&header.dh)?);
        self.rk = rk;
        self.ckr = Some(ckr);
        self.cks = Some(cks);
        Ok(())
    }

    /// Forgets the keys of skipped messages noted before `before`.
    pub fn forget_skipped_before(&mut self, before: Time) {
        self.skipped.retain(|_, (_, at)| *at >= before);
    }

    /// When the oldest skipped key was noted (`Time::MAX` if none).
    pub fn oldest_skipped(&self) -> Time {
        self.skipped
            .values()
            .map(|(_, at)| *at)
            .min()
            .unwrap_or(Time::MAX)
    }

    pub fn skipped(&self) -> usize {
        self.skipped.len()
    }

    pub fn encode(&self, w: &mut Writer) {
        w.raw(self.rk.as_ref());
        self.dhs.encode(w);
        opt_key(w, self.dhr.as_ref());
        opt_key(w, self.cks.as_deref());
        opt_key(w, self.ckr.as_deref());
        w.u32(self.ns).u32(self.nr).u32(self.pn);
        w.u16(self.skipped.len() as u16);
        for ((dh, n), (mk, at)) in &self.skipped {
            w.raw(dh).u32(*n).raw(mk.as_ref()).u64(at.as_millis());
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let rk = Zeroizing::new(r.array("root key")?);
        let dhs = KeyPair::decode(r)?;
        let dhr = read_opt_key(r)?;
        let cks = read_opt_key(r)?.map(Zeroizing::new);
        let ckr = read_opt_key(r)?.map(Zeroizing::new);
        let (ns, nr, pn) = (r.u32("ns")?, r.u32("nr")?, r.u32("pn")?);
        let count = usize::from(r.u16("skipped")?);
        if count > MAX_SKIPPED {
            return Err(DecodeError::TooLong {
                field: "skipped keys",
                len: count,
                max: MAX_SKIPPED,
            });
        }
        let mut skipped = BTreeMap::new();
        for _ in 0..count {
            let dh = r.array("skipped key")?;
            let n = r.u32("skipped number")?;
            let mk = Zeroizing::new(r.array("message key")?);
            let at = Time::from_millis(r.u64("skipped at")?);
            skipped.insert((dh, n), (mk, at));
        }
        Ok(Self {
            rk,
            dhs,
            dhr,
            cks,
            ckr,
            ns,
            nr,
            pn,
            skipped,
        })
    }
}

fn opt_key(w: &mut Writer, key: Option<&[u8; 32]>) {
    match key {
        Some(k) => w.u8(1).raw(k),
        None => w.u8(0),
    };
}

fn read_opt_key(r: &mut Reader<'_>) -> Result<Option<[u8; 32]>, DecodeError> {
    match r.u8("key present")? {
        0 => Ok(None),
        1 => Ok(Some(r.array("key")?)),
        _ => Err(DecodeError::Invalid("key presence flag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn pair(seed: u64) -> (Ratchet, Ratchet, ChaCha20Rng) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let sk = [9u8; 32];
        let bob_key = KeyPair::generate(&mut rng);
        let alice = Ratchet::init_sender(&sk, bob_key.public(), &mut rng).unwrap();
        let bob = Ratchet::init_receiver(&sk, bob_key);
        (alice, bob, rng)
    }

    const AD: &[u8] = b"alice|bob";
    const T: Time = Time::from_secs(1);

    #[test]
    fn messages_flow_both_ways_and_out_of_order() {
        let (mut a, mut b, mut rng) = pair(1);
        let m: Vec<_> = (0..4u8).map(|i| a.encrypt(&[i; 5], AD).unwrap()).collect();
        for i in [2usize, 0, 3, 1] {
            let (h, c) = &m[i];
            assert_eq!(b.decrypt(h, c, AD, T, &mut rng).unwrap(), vec![i as u8; 5]);
        }
        assert_eq!(b.skipped(), 0);
        let (h, c) = b.encrypt(b"back", AD).unwrap();
        assert_eq!(a.decrypt(&h, &c, AD, T, &mut rng).unwrap(), b"back");
        let (h, c) = a.encrypt(b"again", AD).unwrap();
        assert_eq!(b.decrypt(&h, &c, AD, T, &mut rng).unwrap(), b"again");
    }

    #[test]
    fn a_replay_tamper_or_wrong_ad_is_refused_and_changes_nothing() {
        let (mut a, mut b, mut rng) = pair(2);
        let (h, c) = a.encrypt(b"once", AD).unwrap();
        let mut bad = c.clone();
        bad[0] ^= 1;
        assert_eq!(
            b.decrypt(&h, &bad, AD, T, &mut rng),
            Err(RatchetError::Decrypt)
        );
        assert_eq!(
            b.decrypt(&h, &c, b"other", T, &mut rng),
            Err(RatchetError::Decrypt)
        );
        let forged = Header { n: 7, ..h };
        assert!(b.decrypt(&forged, &c, AD, T, &mut rng).is_err());
        // None of that moved the state: the real message still opens, once.
        assert_eq!(b.decrypt(&h, &c, AD, T, &mut rng).unwrap(), b"once");
        assert!(b.decrypt(&h, &c, AD, T, &mut rng).is_err());
    }

    #[test]
    fn a_header_too_far_ahead_is_refused() {
        let (mut a, mut b, mut rng) = pair(3);
        let (h, c) = a.encrypt(b"x", AD).unwrap();
        let far = Header {
            n: MAX_SKIP + 1,
            ..h
        };
        assert_eq!(
            b.decrypt(&far, &c, AD, T, &mut rng),
            Err(RatchetError::TooFarAhead(MAX_SKIP + 1))
        );
    }

    #[test]
    fn a_low_order_ratchet_key_is_refused() {
        let (mut a, mut b, mut rng) = pair(4);
        let (h, c) = a.encrypt(b"x", AD).unwrap();
        let zero = Header { dh: [0; 32], ..h };
        assert_eq!(
            b.decrypt(&zero, &c, AD, T, &mut rng),
            Err(RatchetError::LowOrder)
        );
    }

    #[test]
    fn skipped_keys_are_bounded_and_forgotten_on_schedule() {
        let (mut a, mut b, mut rng) = pair(5);
        let m: Vec<_> = (0..200).map(|_| a.encrypt(b"m", AD).unwrap()).collect();
        let (h, c) = &m[199];
        b.decrypt(h, c, AD, T, &mut rng).unwrap();
        assert_eq!(b.skipped(), 199);
        b.forget_skipped_before(Time::from_secs(2));
        assert_eq!(b.skipped(), 0);
        let (h, c) = &m[5];
        assert!(b.decrypt(h, c, AD, T, &mut rng).is_err());
    }

    #[test]
    fn a_copied_state_reads_on_until_the_ratchet_turns_twice() {
        let (mut a, mut b, mut rng) = pair(6);
        let (h, c) = a.encrypt(b"first", AD).unwrap();
        b.decrypt(&h, &c, AD, T, &mut rng).unwrap();
        // The attacker copies Bob's whole state and then sees every message
        // Alice sends, feeding each to the copy (with its own randomness).
        let mut stolen = b.clone();
        let mut theirs = ChaCha20Rng::seed_from_u64(99);
        let mut bobs = ChaCha20Rng::seed_from_u64(98);
        let mut both = |a: &mut Ratchet, b: &mut Ratchet, stolen: &mut Ratchet, text: &[u8]| {
            let (h, c) = a.encrypt(text, AD).unwrap();
            let seen = stolen.decrypt(&h, &c, AD, T, &mut theirs).is_ok();
            assert_eq!(b.decrypt(&h, &c, AD, T, &mut bobs).unwrap(), text);
            seen
        };
        // The same chain: the copy reads it.
        assert!(both(&mut a, &mut b, &mut stolen, b"second"));
        // Bob answers with the ratchet key the attacker holds; Alice's next
        // message is still readable to the copy.
        let (h, c) = b.encrypt(b"reply", AD).unwrap();
        a.decrypt(&h, &c, AD, T, &mut rng).unwrap();
        assert!(both(&mut a, &mut b, &mut stolen, b"after"));
        // Bob answers again with a key made after the copy: healed.
        let (h, c) = b.encrypt(b"healed", AD).unwrap();
        a.decrypt(&h, &c, AD, T, &mut rng).unwrap();
        assert!(!both(&mut a, &mut b, &mut stolen, b"secret again"));
        assert!(!both(&mut a, &mut b, &mut stolen, b"and after"));
    }

    #[test]
    fn the_state_survives_encoding() {
        let (mut a, mut b, mut rng) = pair(7);
        let m: Vec<_> = (0..3).map(|_| a.encrypt(b"m", AD).unwrap()).collect();
        b.decrypt(&m[2].0, &m[2].1, AD, T, &mut rng).unwrap();
        let mut w = Writer::with_capacity(256);
        b.encode(&mut w);
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        let mut back = Ratchet::decode(&mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(back.skipped(), 2);
        assert_eq!(
            back.decrypt(&m[0].0, &m[0].1, AD, T, &mut rng).unwrap(),
            b"m"
        );
    }
}
