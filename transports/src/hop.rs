//! The hop handshake and record layer, for media whose own security does not
//! tell us who the peer is (a Tor stream reaching our onion service is
//! anonymous by design; BLE has no identity at all).
//!
//! A Noise XX handshake (`Noise_XX_25519_ChaChaPoly_BLAKE2s`) with a fresh
//! static key per handshake; each side's handshake payload carries its Ed25519
//! identity and a signature over that static key, so the link comes up with an
//! authenticated identity exactly as a libp2p link does:
//!
//! ```text
//! -> e
//! <- e, ee, s, es, { identity:[32] sig:[64] }
//! -> s, se,        { identity:[32] sig:[64] }
//!    sig = Ed25519(identity, "cairn hop static v1" ‖ noise static public key)
//! ```
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
//! Everything here is sans I/O; [`handshake`] drives it over a byte stream.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use crate::framing::{FrameReader, FrameWriter};
use crate::link::DownReason;

const PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE: &[u8] = b"cairn hop v1";
const SIG_CONTEXT: &[u8] = b"cairn hop static v1";
/// The largest Noise message.
pub const MAX_RECORD: usize = 65_535;
const TAG_LEN: usize = 16;
/// Frame bytes carried by one full record.
const CHUNK: usize = MAX_RECORD - TAG_LEN - 1;
const PAYLOAD_LEN: usize = 32 + 64;

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

/// A hop handshake in progress, sans I/O: ask for the next message to send
/// with [`Handshake::write`], hand over what arrived with [`Handshake::read`].
pub struct Handshake {
    state: snow::HandshakeState,
    payload: [u8; PAYLOAD_LEN],
    peer: Option<[u8; 32]>,
}

impl Handshake {
    pub fn new(role: Role, identity: &SigningKey) -> Result<Self, HopError> {
        let params = PATTERN
            .parse()
            .map_err(|e: snow::Error| HopError::Noise(e.to_string()))?;
        let keypair = snow::Builder::new(PATTERN.parse()?).generate_keypair()?;
        let private = Zeroizing::new(keypair.private);
        let builder = snow::Builder::new(params)
            .local_private_key(&private)?
            .prologue(PROLOGUE)?;
        let state = match role {
            Role::Initiator => builder.build_initiator()?,
            Role::Responder => builder.build_responder()?,
        };
        let mut signed = SIG_CONTEXT.to_vec();
        signed.extend_from_slice(&keypair.public);
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..32].copy_from_slice(identity.verifying_key().as_bytes());
        payload[32..].copy_from_slice(&identity.sign(&signed).to_bytes());
        Ok(Self {
            state,
            payload,
            peer: None,
        })
    }

    /// Whether the next message is ours to send.
    pub fn our_turn(&self) -> bool {
        !self.state.is_handshake_finished() && self.state.is_my_turn()
    }

    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    /// The next handshake message. Only the messages that carry our static
    /// key carry our identity proof.
    pub fn write(&mut self) -> Result<Vec<u8>, HopError> {
        // The initiator's first message (`-> e`) goes out in the clear, before
        // it knows anything of the peer: it carries nothing.
        let first = self.state.is_initiator() && self.state.get_remote_static().is_none();
        let payload: &[u8] = if first { &[] } else { &self.payload };
        let mut out = vec![0u8; MAX_RECORD];
        let n = self.state.write_message(payload, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Takes the peer's handshake message; checks its identity proof when it
    /// carries one.
    pub fn read(&mut self, message: &[u8]) -> Result<(), HopError> {
        if message.len() > MAX_RECORD {
            return Err(HopError::Protocol("oversize handshake message"));
        }
        let mut payload = vec![0u8; MAX_RECORD];
        let n = self.state.read_message(message, &mut payload)?;
        let Some(remote_static) = self.state.get_remote_static() else {
            return if n == 0 {
                Ok(())
            } else {
                Err(HopError::Protocol("payload before the static key"))
            };
        };
        if self.peer.is_some() {
            return Err(HopError::Protocol("identity sent twice"));
        }
        if n != PAYLOAD_LEN {
            return Err(HopError::Protocol("identity proof has the wrong length"));
        }
        let identity: [u8; 32] = payload[..32]
            .try_into()
            .map_err(|_| HopError::BadIdentity)?;
        let signature: [u8; 64] = payload[32..PAYLOAD_LEN]
            .try_into()
            .map_err(|_| HopError::BadIdentity)?;
        let key = VerifyingKey::from_bytes(&identity).map_err(|_| HopError::BadIdentity)?;
        let mut signed = SIG_CONTEXT.to_vec();
        signed.extend_from_slice(remote_static);
        key.verify(&signed, &Signature::from_bytes(&signature))
            .map_err(|_| HopError::BadIdentity)?;
        self.peer = Some(identity);
        Ok(())
    }

    /// The authenticated peer and the record layer, once the handshake is done.
    pub fn finish(self) -> Result<Established, HopError> {
        if !self.state.is_handshake_finished() {
            return Err(HopError::Protocol("handshake not finished"));
        }
        let peer = self
            .peer
            .ok_or(HopError::Protocol("no identity received"))?;
        let transport = Arc::new(self.state.into_stateless_transport_mode()?);
        Ok(Established {
            peer,
            writer: RecordWriter {
                transport: transport.clone(),
                nonce: 0,
            },
            reader: RecordReader {
                transport,
                nonce: 0,
                buf: BytesMut::new(),
                frame: Vec::new(),
                max: 0,
            },
        })
    }
}

/// A finished handshake: who the peer is, and the record layer both ways.
pub struct Established {
    pub peer: [u8; 32],
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

/// Runs a whole handshake between two identities in memory: for tests,
/// fuzzing and in-memory media.
pub fn in_memory(
    initiator: &SigningKey,
    responder: &SigningKey,
) -> Result<(Established, Established), HopError> {
    let mut a = Handshake::new(Role::Initiator, initiator)?;
    let mut b = Handshake::new(Role::Responder, responder)?;
    while !(a.is_finished() && b.is_finished()) {
        if a.our_turn() {
            b.read(&a.write()?)?;
        } else {
            a.read(&b.write()?)?;
        }
    }
    Ok((a.finish()?, b.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    fn pair() -> (Established, Established) {
        in_memory(&key(1), &key(2)).unwrap()
    }

    #[test]
    fn each_side_learns_the_others_identity() {
        let (a, b) = pair();
        let (a_sees, b_sees) = (a.peer, b.peer);
        assert_eq!(a_sees, *key(2).verifying_key().as_bytes());
        assert_eq!(b_sees, *key(1).verifying_key().as_bytes());
    }

    #[test]
    fn frames_of_every_size_round_trip_split_anywhere() {
        let (Established { writer: mut w, .. }, Established { reader: r, .. }) = pair();
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
    fn a_proof_for_another_static_key_is_refused() {
        // The responder signs a static key that is not the one it uses.
        let mut a = Handshake::new(Role::Initiator, &key(1)).unwrap();
        let mut b = Handshake::new(Role::Responder, &key(2)).unwrap();
        let other = Handshake::new(Role::Responder, &key(2)).unwrap();
        b.payload = other.payload;
        b.read(&a.write().unwrap()).unwrap();
        assert!(matches!(
            a.read(&b.write().unwrap()),
            Err(HopError::BadIdentity)
        ));
    }
}
