//! End-to-end envelopes: the unit that travels between two identities, over a
//! direct link today and through relays later. An envelope is either a Noise
//! handshake message or a transport message of an established session; nobody
//! but the two ends can read its contents.
//!
//! ```text
//! envelope = version:u8(=1) kind:u8 body
//!   kind 1 Init      sender_index:u64 pattern:u8 noise:bytes16
//!   kind 2 Response  receiver_index:u64 sender_index:u64 noise:bytes16
//!   kind 3 Finish    receiver_index:u64 noise:bytes16
//!   kind 4 Data      receiver_index:u64 nonce:u64 ciphertext:bytes16
//! ```

use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;
/// Noise caps every message at 65535 bytes.
pub const MAX_NOISE_LEN: usize = 65535;
/// The largest encoded envelope.
pub const MAX_ENVELOPE_LEN: usize = 2 + 8 + 8 + 2 + MAX_NOISE_LEN;

/// Which Noise handshake pattern an `Init` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// The initiator knows the responder's static key (from an invite).
    Ik,
    /// Neither side knows the other's static key in advance.
    Xx,
}

impl Pattern {
    fn code(self) -> u8 {
        match self {
            Pattern::Ik => 1,
            Pattern::Xx => 2,
        }
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        match code {
            1 => Ok(Pattern::Ik),
            2 => Ok(Pattern::Xx),
            kind => Err(DecodeError::UnknownKind {
                field: "handshake pattern",
                kind,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    Init {
        sender_index: u64,
        pattern: Pattern,
        noise: Vec<u8>,
    },
    Response {
        receiver_index: u64,
        sender_index: u64,
        noise: Vec<u8>,
    },
    Finish {
        receiver_index: u64,
        noise: Vec<u8>,
    },
    Data {
        receiver_index: u64,
        nonce: u64,
        ciphertext: Vec<u8>,
    },
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.encode_into(&mut w);
        w.into_vec()
    }

    /// An upper bound of the encoded size.
    pub fn encoded_len(&self) -> usize {
        self.body_len() + 20
    }

    pub(crate) fn encode_into(&self, w: &mut Writer) {
        w.u8(VERSION);
        match self {
            Envelope::Init {
                sender_index,
                pattern,
                noise,
            } => w.u8(1).u64(*sender_index).u8(pattern.code()).bytes(noise),
            Envelope::Response {
                receiver_index,
                sender_index,
                noise,
            } => w.u8(2).u64(*receiver_index).u64(*sender_index).bytes(noise),
            Envelope::Finish {
                receiver_index,
                noise,
            } => w.u8(3).u64(*receiver_index).bytes(noise),
            Envelope::Data {
                receiver_index,
                nonce,
                ciphertext,
            } => w.u8(4).u64(*receiver_index).u64(*nonce).bytes(ciphertext),
        };
    }

    fn body_len(&self) -> usize {
        match self {
            Envelope::Init { noise, .. }
            | Envelope::Response { noise, .. }
            | Envelope::Finish { noise, .. } => noise.len(),
            Envelope::Data { ciphertext, .. } => ciphertext.len(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let env = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(env)
    }

    pub(crate) fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("envelope version")?;
        if version != VERSION {
            return Err(DecodeError::Version {
                field: "envelope",
                version,
            });
        }
        let env = match r.u8("envelope kind")? {
            1 => Envelope::Init {
                sender_index: r.u64("sender index")?,
                pattern: Pattern::from_code(r.u8("pattern")?)?,
                noise: r.bytes(MAX_NOISE_LEN, "handshake")?.to_vec(),
            },
            2 => Envelope::Response {
                receiver_index: r.u64("receiver index")?,
                sender_index: r.u64("sender index")?,
                noise: r.bytes(MAX_NOISE_LEN, "handshake")?.to_vec(),
            },
            3 => Envelope::Finish {
                receiver_index: r.u64("receiver index")?,
                noise: r.bytes(MAX_NOISE_LEN, "handshake")?.to_vec(),
            },
            4 => Envelope::Data {
                receiver_index: r.u64("receiver index")?,
                nonce: r.u64("nonce")?,
                ciphertext: r.bytes(MAX_NOISE_LEN, "ciphertext")?.to_vec(),
            },
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "envelope",
                    kind,
                });
            }
        };
        Ok(env)
    }
}
