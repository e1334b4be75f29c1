//! The hop handshake and record layer, for media whose own security does not
//! tell us who the peer is (a Tor stream reaching our onion service is
//! anonymous by design; BLE has no identity at all; on the LAN the libp2p
//! key is a throwaway).
//!
//! **A device learns who we are only if it already knows our key.** Both
//! sides speak with a fresh X25519 key per handshake (`hop_s`), so nothing a
//! stranger sees repeats from one link to the next. Each side then sends,
//! for every key it *looks for* (its contacts' static keys), a lookup tag
//! only that key's owner can recompute, and reveals its identity only to a
//! peer whose tags include one for it:
//!
//! ```text
//! -> e
//! <- e, ee, s, es, { lookups_R }
//! -> s, se,        { lookups_I ‖ proof_I }
//! <- transport(0): { proof_R }
//!
//! lookups   = n:u16 tag[8]·n, n ∈ {16, 64, 256, 1024, 4096}, random tags as padding
//! tag(c)    = HMAC-SHA-256(X25519(hop_s, S_c), "cairn hop lookup v1" ‖ role)[..8]
//!             role = b'R' in the responder's lookups, b'I' in the initiator's
//! proof     = 1 ‖ identity:[32] ‖ Ed25519(identity, "cairn hop static v1" ‖ hop_s public)
//!           | 0 ‖ [0; 96]       (same length: an observer cannot tell which)
//! ```
//!
//! A side reveals (`proof` = 1) exactly when the peer's lookups hold
//! `tag(X25519(S_self, hop_s_peer), peer's role)`. Two contacts reveal to
//! each other; someone holding our invite (or who learnt our key in a group)
//! makes us reveal to them, and reveals itself later inside the end-to-end
//! session; two strangers learn nothing of each other but a pseudonym made
//! up for the one link. The tags are keyed by a DH with a key fresh to the
//! handshake, so they never repeat and say nothing to anyone but their
//! target; the padding hides how many contacts one has to within a bucket.
//! A peer whose fresh key is of small order (which would make the DH a
//! constant anyone can compute) is refused.
//!
//! Afterwards each frame travels as one or more records:
//!
//! ```text
//! record = len:u16 ciphertext[len]      (len ≤ 65 535, a Noise message)
//! plaintext = more:u8 (0 last, 1 more follows) data
//! ```
//!
//! The opener refuses a frame longer than the link's MTU before it grows
//! past it, so one peer can make us hold at most one MTU plus one record.
//! Everything here is sans I/O; [`crate::stream::handshake`] drives it over
//! a byte stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::framing::{FrameReader, FrameWriter};
use crate::link::DownReason;

const PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE: &[u8] = b"cairn hop v2";
const SIG_CONTEXT: &[u8] = b"cairn hop static v1";
const LOOKUP_CONTEXT: &[u8] = b"cairn hop lookup v1";
/// The largest Noise message.
pub const MAX_RECORD: usize = 65_535;
const TAG_LEN: usize = 16;
/// Frame bytes carried by one full record.
const CHUNK: usize = MAX_RECORD - TAG_LEN - 1;
/// Bytes of one lookup tag.
pub const LOOKUP_LEN: usize = 8;
/// How many lookups a handshake carries: the smallest of these that holds
/// every key looked for, the rest random.
pub const LOOKUP_BUCKETS: [usize; 5] = [16, 64, 256, 1024, 4096];
/// Keys looked for at most; beyond this the first ones are kept.
pub const MAX_LOOKUPS: usize = LOOKUP_BUCKETS[LOOKUP_BUCKETS.len() - 1];
const PROOF_LEN: usize = 1 + 32 + 64;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HopError {
    #[error("hop handshake failed: {0}")]
    Noise(String),
    #[error("the peer's identity proof is invalid")]
    BadIdentity,
    #[error("the peer broke the handshake: {0}")]
    Protocol(&'static str),
    #[error("the stream failed during the handshake: {0}")]
    Io(String),
    /// We did not learn who the peer is, and whom we look for changed
    /// while we met: meet again with the new list (a contact added just
    /// then would otherwise stay a stranger for as long as the link lasts).
    #[error("whom we look for changed during the handshake; meeting again")]
    Stale,
}

impl From<snow::Error> for HopError {
    fn from(e: snow::Error) -> Self {
        HopError::Noise(e.to_string())
    }
}

/// Which end of the hop we are: the one that opened the stream initiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Initiator => b'I',
            Role::Responder => b'R',
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        }
    }
}

/// Who we are at the hop, and whom we look for. Shared by every handshake
/// of a node; the node updates the keys looked for when its contacts change.
pub struct HopKeys {
    signing: SigningKey,
    /// The long-term X25519 key contacts know us by (the end-to-end static).
    secret: StaticSecret,
    looking_for: RwLock<Arc<[[u8; 32]]>>,
    /// Bumped by every [`HopKeys::look_for`].
    generation: AtomicU64,
}

impl std::fmt::Debug for HopKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopKeys").finish_non_exhaustive()
    }
}

impl HopKeys {
    /// From the identity's Ed25519 seed and its X25519 static secret.
    pub fn new(ed25519_seed: &[u8; 32], x25519_secret: &[u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            signing: SigningKey::from_bytes(ed25519_seed),
            secret: StaticSecret::from(*x25519_secret),
            looking_for: RwLock::new(Arc::from(Vec::new())),
            generation: AtomicU64::new(0),
        })
    }

    /// From an identity's 64 secret bytes: the Ed25519 seed, then the
    /// X25519 secret (the layout of the core's `Identity::to_secret_bytes`).
    pub fn from_secret_bytes(secret: &[u8; 64]) -> Arc<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut x25519 = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&secret[..32]);
        x25519.copy_from_slice(&secret[32..]);
        Self::new(&seed, &x25519)
    }

    /// Our Ed25519 identity, as a revealed peer sees it.
    pub fn identity(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Our X25519 static public key.
    pub fn static_key(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }

    /// The static keys (X25519) of the devices we would reveal ourselves
    /// to: from the next handshake on. At most [`MAX_LOOKUPS`] are used.
    pub fn look_for(&self, mut statics: Vec<[u8; 32]>) {
        statics.sort_unstable();
        statics.dedup();
        statics.truncate(MAX_LOOKUPS);
        let mut slot = self.looking_for.write().unwrap_or_else(|e| e.into_inner());
        *slot = Arc::from(statics);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times the list of whom we look for changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn targets(&self) -> Arc<[[u8; 32]]> {
        self.looking_for
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Who is at the other end of a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// It proved this Ed25519 identity (it knew our key, or we knew its).
    Known([u8; 32]),
    /// It did not reveal itself: a pseudonym made up for this one link, a
    /// valid Ed25519 key nobody holds the secret of.
    Stranger([u8; 32]),
}

impl Peer {
    /// The key to report the link under: the identity, or the pseudonym.
    pub fn key(&self) -> [u8; 32] {
        match self {
            Peer::Known(k) | Peer::Stranger(k) => *k,
        }
    }

    pub fn known(&self) -> Option<[u8; 32]> {
        match self {
            Peer::Known(k) => Some(*k),
            Peer::Stranger(_) => None,
        }
    }

    fn pseudonym() -> Self {
        Peer::Stranger(SigningKey::generate(&mut OsRng).verifying_key().to_bytes())
    }
}

/// The lookup tag `role` sends for the owner of `target`, from the DH of
/// one side's secret with the other side's public key; `None` when the DH
/// is the small-order constant.
fn lookup_tag(secret: &StaticSecret, public: &[u8; 32], role: Role) -> Option<[u8; LOOKUP_LEN]> {
    let shared = Zeroizing::new(secret.diffie_hellman(&PublicKey::from(*public)));
    if !shared.was_contributory() {
        return None;
    }
    let mut mac = <HmacSha256 as Mac>::new_from_slice(shared.as_bytes()).ok()?;
    mac.update(LOOKUP_CONTEXT);
    mac.update(&[role.byte()]);
    let full = mac.finalize().into_bytes();
    let mut tag = [0u8; LOOKUP_LEN];
    tag.copy_from_slice(&full[..LOOKUP_LEN]);
    Some(tag)
}

/// A hop handshake in progress, sans I/O: ask for the next message to send
/// with [`Handshake::write`], hand over what arrived with [`Handshake::read`].
pub struct Handshake {
    role: Role,
    keys: Arc<HopKeys>,
    noise: Option<snow::HandshakeState>,
    transport: Option<Arc<snow::StatelessTransportState>>,
    hop_secret: StaticSecret,
    hop_public: [u8; 32],
    /// Whom we looked for when the handshake began ([`HopKeys::generation`]).
    generation: u64,
    targets: Arc<[[u8; 32]]>,
    /// Messages done, of four.
    step: u8,
    /// Whether the peer's lookups asked for us, so we reveal ourselves.
    reveal: bool,
    /// The peer's fresh key, once it came.
    peer_hop: Option<[u8; 32]>,
    peer: Option<[u8; 32]>,
}

impl Handshake {
    pub fn new(role: Role, keys: &Arc<HopKeys>) -> Result<Self, HopError> {
        let params = PATTERN
            .parse()
            .map_err(|e: snow::Error| HopError::Noise(e.to_string()))?;
        let hop_secret = StaticSecret::random_from_rng(OsRng);
        let hop_public = PublicKey::from(&hop_secret).to_bytes();
        let private = Zeroizing::new(hop_secret.to_bytes());
        let builder = snow::Builder::new(params)
            .local_private_key(private.as_ref())?
            .prologue(PROLOGUE)?;
        let noise = match role {
            Role::Initiator => builder.build_initiator()?,
            Role::Responder => builder.build_responder()?,
        };
        Ok(Self {
            role,
            keys: keys.clone(),
            noise: Some(noise),
            transport: None,
            hop_secret,
            hop_public,
            generation: keys.generation(),
            targets: keys.targets(),
            step: 0,
            reveal: false,
            peer_hop: None,
            peer: None,
        })
    }

    /// Whether the next message is ours to send.
    pub fn our_turn(&self) -> bool {
        match self.step {
            0 | 2 => self.role == Role::Initiator,
            1 | 3 => self.role == Role::Responder,
            _ => false,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.step >= 4
    }

    /// Whether the peer asked for us (so we reveal, or have revealed,
    /// ourselves). Known once its lookups arrived.
    pub fn revealing(&self) -> bool {
        self.reveal
    }

    fn lookups(&self) -> Vec<u8> {
        let tags: Vec<[u8; LOOKUP_LEN]> = self
            .targets
            .iter()
            .filter_map(|target| lookup_tag(&self.hop_secret, target, self.role))
            .collect();
        let n = LOOKUP_BUCKETS
            .iter()
            .copied()
            .find(|b| *b >= tags.len())
            .unwrap_or(MAX_LOOKUPS);
        let mut out = Vec::with_capacity(2 + n * LOOKUP_LEN);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        for tag in &tags {
            out.extend_from_slice(tag);
        }
        let start = out.len();
        out.resize(2 + n * LOOKUP_LEN, 0);
        OsRng.fill_bytes(&mut out[start..]);
        // Sorted, so the real tags are not the first ones.
        let mut sorted: Vec<&[u8]> = out[2..].chunks(LOOKUP_LEN).collect();
        sorted.sort_unstable();
        let mut shuffled = out[..2].to_vec();
        for tag in sorted {
            shuffled.extend_from_slice(tag);
        }
        shuffled
    }

    fn proof(&self) -> [u8; PROOF_LEN] {
        let mut out = [0u8; PROOF_LEN];
        if self.reveal {
            let mut signed = SIG_CONTEXT.to_vec();
            signed.extend_from_slice(&self.hop_public);
            out[0] = 1;
            out[1..33].copy_from_slice(&self.keys.identity());
            out[33..].copy_from_slice(&self.keys.signing.sign(&signed).to_bytes());
        }
        out
    }

    /// The next handshake message.
    pub fn write(&mut self) -> Result<Vec<u8>, HopError> {
        if !self.our_turn() {
            return Err(HopError::Protocol("not our turn"));
        }
        let payload = match self.step {
            0 => Vec::new(),
            1 => self.lookups(),
            2 => {
                let mut p = self.lookups();
                p.extend_from_slice(&self.proof());
                p
            }
            _ => self.proof().to_vec(),
        };
        self.write_payload(&payload)
    }

    /// The next message carrying `payload` as its content, whatever it is:
    /// [`Handshake::write`] builds the honest one; fuzzing uses this to
    /// hand the peer's parser content that passes authentication.
    #[doc(hidden)]
    pub fn write_payload(&mut self, payload: &[u8]) -> Result<Vec<u8>, HopError> {
        if !self.our_turn() {
            return Err(HopError::Protocol("not our turn"));
        }
        let mut out = vec![0u8; MAX_RECORD];
        let n = if self.step == 3 {
            let transport = self
                .transport
                .as_ref()
                .ok_or(HopError::Protocol("handshake not finished"))?;
            transport.write_message(0, payload, &mut out)?
        } else {
            let noise = self
                .noise
                .as_mut()
                .ok_or(HopError::Protocol("handshake over"))?;
            noise.write_message(payload, &mut out)?
        };
        out.truncate(n);
        self.step += 1;
        self.after_noise()?;
        Ok(out)
    }

    /// Once the Noise pattern is done, its keys become the record layer.
    fn after_noise(&mut self) -> Result<(), HopError> {
        if self.step == 3 {
            let noise = self
                .noise
                .take()
                .ok_or(HopError::Protocol("handshake over"))?;
            self.transport = Some(Arc::new(noise.into_stateless_transport_mode()?));
        }
        Ok(())
    }

    /// Takes the peer's handshake message: its lookups (do they ask for
    /// us?) and its proof, checked, when it reveals itself.
    pub fn read(&mut self, message: &[u8]) -> Result<(), HopError> {
        if self.our_turn() || self.is_finished() {
            return Err(HopError::Protocol("a message out of turn"));
        }
        if message.len() > MAX_RECORD {
            return Err(HopError::Protocol("oversize handshake message"));
        }
        let mut payload = vec![0u8; MAX_RECORD];
        let n = if self.step == 3 {
            let transport = self
                .transport
                .as_ref()
                .ok_or(HopError::Protocol("handshake not finished"))?;
            transport.read_message(0, message, &mut payload)?
        } else {
            let noise = self
                .noise
                .as_mut()
                .ok_or(HopError::Protocol("handshake over"))?;
            noise.read_message(message, &mut payload)?
        };
        let payload = &payload[..n];
        match self.step {
            0 => {
                if !payload.is_empty() {
                    return Err(HopError::Protocol("payload before the static key"));
                }
            }
            1 => {
                let rest = self.take_lookups(payload)?;
                if !rest.is_empty() {
                    return Err(HopError::Protocol("trailing bytes after the lookups"));
                }
            }
            2 => {
                let rest = self.take_lookups(payload)?;
                self.take_proof(rest)?;
            }
            _ => self.take_proof(payload)?,
        }
        self.step += 1;
        self.after_noise()
    }

    fn remote_static(&self) -> Result<[u8; 32], HopError> {
        let key = self
            .noise
            .as_ref()
            .and_then(|n| n.get_remote_static())
            .ok_or(HopError::Protocol("no static key yet"))?;
        key.try_into()
            .map_err(|_| HopError::Protocol("static key has the wrong length"))
    }

    /// Reads the peer's lookups and decides whether we reveal ourselves.
    fn take_lookups<'a>(&mut self, payload: &'a [u8]) -> Result<&'a [u8], HopError> {
        let (count, rest) = payload
            .split_first_chunk::<2>()
            .ok_or(HopError::Protocol("lookups cut short"))?;
        let count = usize::from(u16::from_be_bytes(*count));
        if !LOOKUP_BUCKETS.contains(&count) {
            return Err(HopError::Protocol("lookup count is not a bucket size"));
        }
        let len = count * LOOKUP_LEN;
        if rest.len() < len {
            return Err(HopError::Protocol("lookups cut short"));
        }
        let (tags, rest) = rest.split_at(len);
        let peer_hop = self.remote_static()?;
        self.peer_hop = Some(peer_hop);
        let ours = lookup_tag(&self.keys.secret, &peer_hop, self.role.other())
            .ok_or(HopError::Protocol("a small-order key"))?;
        self.reveal = tags.chunks_exact(LOOKUP_LEN).any(|t| t == ours);
        Ok(rest)
    }

    fn take_proof(&mut self, payload: &[u8]) -> Result<(), HopError> {
        if payload.len() != PROOF_LEN {
            return Err(HopError::Protocol("proof has the wrong length"));
        }
        let peer_hop = self.peer_hop.ok_or(HopError::Protocol("no static key"))?;
        match payload[0] {
            0 => {
                if payload[1..].iter().any(|b| *b != 0) {
                    return Err(HopError::Protocol("bytes in an empty proof"));
                }
                Ok(())
            }
            1 => {
                let identity: [u8; 32] = payload[1..33]
                    .try_into()
                    .map_err(|_| HopError::BadIdentity)?;
                let signature: [u8; 64] = payload[33..]
                    .try_into()
                    .map_err(|_| HopError::BadIdentity)?;
                let key = VerifyingKey::from_bytes(&identity).map_err(|_| HopError::BadIdentity)?;
                let mut signed = SIG_CONTEXT.to_vec();
                signed.extend_from_slice(&peer_hop);
                key.verify_strict(&signed, &Signature::from_bytes(&signature))
                    .map_err(|_| HopError::BadIdentity)?;
                self.peer = Some(identity);
                Ok(())
            }
            _ => Err(HopError::Protocol("bad proof flag")),
        }
    }

    /// The peer (its identity, or a pseudonym) and the record layer, once
    /// the handshake is done.
    pub fn finish(self) -> Result<Established, HopError> {
        if !self.is_finished() {
            return Err(HopError::Protocol("handshake not finished"));
        }
        let transport = self
            .transport
            .ok_or(HopError::Protocol("handshake not finished"))?;
        let peer = match self.peer {
            Some(identity) => Peer::Known(identity),
            None if self.keys.generation() != self.generation => return Err(HopError::Stale),
            None => Peer::pseudonym(),
        };
        // The responder's proof went as the first transport message.
        let (sent, received) = match self.role {
            Role::Initiator => (0, 1),
            Role::Responder => (1, 0),
        };
        Ok(Established {
            peer,
            writer: RecordWriter {
                transport: transport.clone(),
                nonce: sent,
            },
            reader: RecordReader {
                transport,
                nonce: received,
                buf: BytesMut::new(),
                frame: Vec::new(),
                max: 0,
            },
        })
    }
}

/// A finished handshake: who the peer is, and the record layer both ways.
pub struct Established {
    pub peer: Peer,
    pub writer: RecordWriter,
    pub reader: RecordReader,
}

/// Seals frames into records.
pub struct RecordWriter {
    transport: Arc<snow::StatelessTransportState>,
    nonce: u64,
}

impl RecordWriter {
    /// Seals one record around `plaintext` (flag byte included), at most
    /// [`MAX_RECORD`] − 16 bytes.
    pub fn seal_record(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), DownReason> {
        let start = out.len();
        out.resize(start + 2 + plaintext.len() + TAG_LEN, 0);
        let n = self
            .transport
            .write_message(self.nonce, plaintext, &mut out[start + 2..])
            .map_err(|e| DownReason::Lost(format!("sealing a record: {e}")))?;
        self.nonce += 1;
        out[start..start + 2].copy_from_slice(&(n as u16).to_be_bytes());
        out.truncate(start + 2 + n);
        Ok(())
    }
}

impl FrameWriter for RecordWriter {
    fn put(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), DownReason> {
        let mut chunks = frame.chunks(CHUNK).peekable();
        let mut plain = Vec::with_capacity(CHUNK.min(frame.len()) + 1);
        loop {
            let chunk = chunks.next().unwrap_or(&[]);
            plain.clear();
            plain.push(u8::from(chunks.peek().is_some()));
            plain.extend_from_slice(chunk);
            self.seal_record(&plain, out)?;
            if chunks.peek().is_none() {
                return Ok(());
            }
        }
    }
}

/// Opens records and joins them into frames of at most the link's MTU.
pub struct RecordReader {
    transport: Arc<snow::StatelessTransportState>,
    nonce: u64,
    buf: BytesMut,
    frame: Vec<u8>,
    max: usize,
}

impl RecordReader {
    /// Frames longer than `mtu` end the link as a violation.
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.max = mtu;
        self
    }
}

impl FrameReader for RecordReader {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn next_frame(&mut self) -> Result<Option<Bytes>, DownReason> {
        loop {
            if self.buf.len() < 2 {
                return Ok(None);
            }
            let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
            if len < TAG_LEN + 1 {
                return Err(DownReason::Violation("record too short".into()));
            }
            if self.buf.len() < 2 + len {
                return Ok(None);
            }
            let record = self.buf.split_to(2 + len);
            let mut plain = vec![0u8; len];
            let n = self
                .transport
                .read_message(self.nonce, &record[2..], &mut plain)
                .map_err(|_| DownReason::Violation("a record failed authentication".into()))?;
            self.nonce += 1;
            let (more, data) = (plain[0], &plain[1..n]);
            if self.frame.len() + data.len() > self.max {
                return Err(DownReason::Violation(format!(
                    "frame exceeds the {}-byte limit",
                    self.max
                )));
            }
            self.frame.extend_from_slice(data);
            match more {
                0 => return Ok(Some(Bytes::from(std::mem::take(&mut self.frame)))),
                1 => continue,
                _ => return Err(DownReason::Violation("bad record flag".into())),
            }
        }
    }

    fn buffered(&self) -> usize {
        self.buf.len() + self.frame.len()
    }
}

/// Runs a whole handshake between two nodes in memory: for tests, fuzzing
/// and in-memory media. Returns each side's result and the wire messages.
pub fn in_memory(
    initiator: &Arc<HopKeys>,
    responder: &Arc<HopKeys>,
) -> Result<(Established, Established), HopError> {
    in_memory_wire(initiator, responder).map(|(a, b, _)| (a, b))
}

/// [`in_memory`], also returning every handshake message as it crossed.
pub fn in_memory_wire(
    initiator: &Arc<HopKeys>,
    responder: &Arc<HopKeys>,
) -> Result<(Established, Established, Vec<Vec<u8>>), HopError> {
    let mut a = Handshake::new(Role::Initiator, initiator)?;
    let mut b = Handshake::new(Role::Responder, responder)?;
    let mut wire = Vec::new();
    while !(a.is_finished() && b.is_finished()) {
        if a.our_turn() {
            let m = a.write()?;
            b.read(&m)?;
            wire.push(m);
        } else {
            let m = b.write()?;
            a.read(&m)?;
            wire.push(m);
        }
    }
    Ok((a.finish()?, b.finish()?, wire))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node whose keys derive from one byte.
    fn node(byte: u8) -> Arc<HopKeys> {
        HopKeys::new(&[byte; 32], &[byte.wrapping_add(100); 32])
    }

    fn identity(byte: u8) -> [u8; 32] {
        node(byte).identity()
    }

    fn pair() -> (Established, Established) {
        in_memory(&node(1), &node(2)).unwrap()
    }

    #[test]
    fn strangers_learn_only_a_pseudonym_fresh_to_each_link() {
        let (a, b) = (node(1), node(2));
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (a_end, b_end) = in_memory(&a, &b).unwrap();
            let (Peer::Stranger(a_sees), Peer::Stranger(b_sees)) = (a_end.peer, b_end.peer) else {
                panic!("a stranger was told who is there");
            };
            assert_ne!(a_sees, identity(2));
            assert_ne!(b_sees, identity(1));
            assert!(VerifyingKey::from_bytes(&a_sees).is_ok(), "a usable key");
            seen.extend([a_sees, b_sees]);
        }
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "a pseudonym repeated across links"
        );
    }

    #[test]
    fn contacts_recognise_each_other() {
        let (a, b) = (node(1), node(2));
        a.look_for(vec![b.static_key(), node(7).static_key()]);
        b.look_for(vec![a.static_key()]);
        for (i, r) in [(&a, &b), (&b, &a)] {
            let (i_end, r_end) = in_memory(i, r).unwrap();
            assert_eq!(i_end.peer, Peer::Known(r.identity()));
            assert_eq!(r_end.peer, Peer::Known(i.identity()));
        }
    }

    #[test]
    fn a_contact_added_while_meeting_is_met_again_not_left_a_stranger() {
        // Both add each other while their link's handshake is under way
        // (two people scanning each other's codes on one Wi-Fi): the
        // handshake began with the old lists, so neither learns the other.
        let (a, b) = (node(1), node(2));
        let mut i = Handshake::new(Role::Initiator, &a).unwrap();
        let mut r = Handshake::new(Role::Responder, &b).unwrap();
        a.look_for(vec![b.static_key()]);
        b.look_for(vec![a.static_key()]);
        while !(i.is_finished() && r.is_finished()) {
            if i.our_turn() {
                r.read(&i.write().unwrap()).unwrap();
            } else {
                i.read(&r.write().unwrap()).unwrap();
            }
        }
        // Refused as stale (not as a violation), so the link is made again…
        assert!(matches!(i.finish(), Err(HopError::Stale)));
        assert!(matches!(r.finish(), Err(HopError::Stale)));
        // …with the new lists, and then they know each other.
        let (i_end, r_end) = in_memory(&a, &b).unwrap();
        assert_eq!(i_end.peer, Peer::Known(identity(2)));
        assert_eq!(r_end.peer, Peer::Known(identity(1)));
        // A stranger whose lists did not change meanwhile stays a stranger.
        let c = node(3);
        assert!(matches!(
            in_memory(&a, &c).unwrap().0.peer,
            Peer::Stranger(_)
        ));
    }

    #[test]
    fn only_the_side_that_knows_the_other_learns_who_it_is() {
        // The one holding the other's invite (or key) finds it; the other
        // learns who called only inside the end-to-end session.
        for knower_initiates in [true, false] {
            let (knower, known) = (node(1), node(2));
            knower.look_for(vec![known.static_key()]);
            let (knower_end, known_end) = if knower_initiates {
                in_memory(&knower, &known).unwrap()
            } else {
                let (i, r) = in_memory(&known, &knower).unwrap();
                (r, i)
            };
            assert_eq!(knower_end.peer, Peer::Known(known.identity()));
            assert!(matches!(known_end.peer, Peer::Stranger(_)));
        }
    }

    #[test]
    fn an_observer_cannot_tell_contacts_from_strangers_by_length() {
        let (a, b) = (node(1), node(2));
        let (_, _, strangers) = in_memory_wire(&a, &b).unwrap();
        a.look_for(vec![b.static_key()]);
        b.look_for(vec![a.static_key()]);
        let (a_end, _, contacts) = in_memory_wire(&a, &b).unwrap();
        assert!(matches!(a_end.peer, Peer::Known(_)));
        let lens = |w: &[Vec<u8>]| w.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(lens(&strangers), lens(&contacts));
        for message in strangers.iter().chain(&contacts) {
            for secret in [a.identity(), b.identity(), a.static_key(), b.static_key()] {
                assert!(
                    !message.windows(32).any(|w| w == secret),
                    "a key in the clear"
                );
            }
        }
    }

    #[test]
    fn lookups_pad_to_a_bucket_and_no_further() {
        let (a, b) = (node(1), node(2));
        let many: Vec<[u8; 32]> = (0..17u8).map(|i| node(i + 20).static_key()).collect();
        let (_, _, w0) = in_memory_wire(&a, &b).unwrap();
        a.look_for(many[..16].to_vec());
        let (_, _, w16) = in_memory_wire(&a, &b).unwrap();
        a.look_for(many.clone());
        let (_, _, w17) = in_memory_wire(&a, &b).unwrap();
        // The initiator's lookups ride in the third message.
        assert_eq!(w0[2].len(), w16[2].len());
        assert_eq!(w17[2].len(), w16[2].len() + (64 - 16) * LOOKUP_LEN);
        let too_many: Vec<[u8; 32]> = (0..MAX_LOOKUPS as u32 + 10)
            .map(|i| {
                let mut k = [9u8; 32];
                k[..4].copy_from_slice(&i.to_be_bytes());
                PublicKey::from(&StaticSecret::from(k)).to_bytes()
            })
            .collect();
        a.look_for(too_many);
        assert_eq!(a.targets().len(), MAX_LOOKUPS);
        let (_, _, big) = in_memory_wire(&a, &b).unwrap();
        assert!(big[2].len() <= MAX_RECORD);
    }

    #[test]
    fn a_small_order_key_yields_no_tag() {
        let secret = StaticSecret::from([5u8; 32]);
        assert!(lookup_tag(&secret, &[0u8; 32], Role::Initiator).is_none());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(lookup_tag(&secret, &one, Role::Responder).is_none());
    }

    #[test]
    fn a_tag_is_for_one_direction_only() {
        // A peer that sends our own tags back does not make us reveal: the
        // role is in the tag.
        let (hop, target) = (StaticSecret::from([3u8; 32]), StaticSecret::from([4u8; 32]));
        let target_pub = PublicKey::from(&target).to_bytes();
        let hop_pub = PublicKey::from(&hop).to_bytes();
        let sent = lookup_tag(&hop, &target_pub, Role::Initiator).unwrap();
        assert_eq!(lookup_tag(&target, &hop_pub, Role::Initiator), Some(sent));
        assert_ne!(lookup_tag(&target, &hop_pub, Role::Responder), Some(sent));
    }

    #[test]
    fn frames_of_every_size_round_trip_split_anywhere() {
        for (Established { writer: mut w, .. }, Established { reader: r, .. }) in [pair(), {
            let (a, b) = pair();
            (b, a)
        }] {
            let mut r = r.with_mtu(200_000);
            for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
                let frame: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut wire = Vec::new();
                w.put(&frame, &mut wire).unwrap();
                for piece in wire.chunks(7_919) {
                    r.push(piece);
                }
                assert_eq!(r.next_frame().unwrap().unwrap(), &frame[..]);
                assert_eq!(r.next_frame().unwrap(), None);
            }
        }
    }

    #[test]
    fn a_frame_over_the_mtu_is_refused() {
        let (Established { writer: mut w, .. }, Established { reader: r, .. }) = pair();
        let mut r = r.with_mtu(CHUNK + 10);
        let mut wire = Vec::new();
        w.put(&vec![7u8; CHUNK + 11], &mut wire).unwrap();
        r.push(&wire);
        assert!(matches!(r.next_frame(), Err(DownReason::Violation(_))));
    }

    #[test]
    fn a_tampered_record_is_refused() {
        let (Established { writer: mut w, .. }, Established { reader: r, .. }) = pair();
        let mut r = r.with_mtu(1000);
        let mut wire = Vec::new();
        w.put(b"hello", &mut wire).unwrap();
        wire[4] ^= 1;
        r.push(&wire);
        assert!(matches!(r.next_frame(), Err(DownReason::Violation(_))));
    }

    #[test]
    fn a_proof_for_another_hop_key_is_refused() {
        // The responder reveals with a signature over a key it does not use.
        let (a, b) = (node(1), node(2));
        a.look_for(vec![b.static_key()]);
        let mut i = Handshake::new(Role::Initiator, &a).unwrap();
        let mut r = Handshake::new(Role::Responder, &b).unwrap();
        r.read(&i.write().unwrap()).unwrap();
        i.read(&r.write().unwrap()).unwrap();
        r.read(&i.write().unwrap()).unwrap();
        assert!(r.revealing());
        r.hop_public = [8u8; 32];
        assert!(matches!(
            i.read(&r.write().unwrap()),
            Err(HopError::BadIdentity)
        ));
    }

    #[test]
    fn messages_out_of_turn_and_malformed_lookups_are_refused() {
        let (a, b) = (node(1), node(2));
        let mut i = Handshake::new(Role::Initiator, &a).unwrap();
        let mut r = Handshake::new(Role::Responder, &b).unwrap();
        assert!(r.write().is_err(), "the responder spoke first");
        let first = i.write().unwrap();
        assert!(i.read(&first).is_err(), "read while it is our turn");
        assert!(r.read(&vec![0u8; MAX_RECORD + 1]).is_err());
        r.read(&first).unwrap();
        // A lookup count that is no bucket, then one cut short.
        for payload in [vec![0u8, 17], {
            let mut p = 16u16.to_be_bytes().to_vec();
            p.extend_from_slice(&[0u8; 15 * LOOKUP_LEN]);
            p
        }] {
            let mut bad = Handshake::new(Role::Responder, &b).unwrap();
            let mut i2 = Handshake::new(Role::Initiator, &a).unwrap();
            bad.read(&i2.write().unwrap()).unwrap();
            let mut out = vec![0u8; MAX_RECORD];
            let n = bad
                .noise
                .as_mut()
                .unwrap()
                .write_message(&payload, &mut out)
                .unwrap();
            assert!(matches!(i2.read(&out[..n]), Err(HopError::Protocol(_))));
        }
        assert!(i.finish().is_err(), "finished early");
    }
}
