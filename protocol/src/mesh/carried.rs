//! The envelope a relay carries: an id, where and how long it may travel, the
//! recipient tag, and the sealed message. There is no sender field.
//!
//! ```text
//! carried = version:u8 (=1) id:[16] epoch:u32 tag:[16] expiry:u64 (ms)
//!           hop_limit:u8 copies:u16 ack_hash:[16] sealed:bytes16
//! ```
//! `hop_limit` and `copies` change at every hop and are not protected; every
//! node bounds what it accepts (expiry horizon, hop limit) on its own.
//! `ack_hash` is `SHA-256(ack_secret)[..16]`; the secret is inside the sealed
//! message, so only the recipient (or the sender) can prove delivery and make
//! relays drop their copies.

use sha2::{Digest, Sha256};

use crate::mesh::tag::Tag;
use crate::sealed::MAX_SEALED_LEN;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;
/// Largest encoded carried envelope.
pub const MAX_CARRIED_LEN: usize = 1 + 16 + 4 + 16 + 8 + 1 + 2 + 16 + 2 + MAX_SEALED_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvelopeId(pub [u8; 16]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub id: EnvelopeId,
    pub epoch: u32,
    pub tag: Tag,
    pub expiry: Time,
    pub hop_limit: u8,
    pub copies: u16,
    pub ack_hash: [u8; 16],
    pub sealed: Vec<u8>,
}

pub fn ack_hash(secret: &[u8; 16]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(b"cairn/ack/v1")
        .chain_update(secret)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

impl Carried {
    pub fn encoded_len(&self) -> usize {
        1 + 16 + 4 + 16 + 8 + 1 + 2 + 16 + 2 + self.sealed.len()
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u8(VERSION)
            .raw(&self.id.0)
            .u32(self.epoch)
            .raw(&self.tag.0)
            .u64(self.expiry.as_millis())
            .u8(self.hop_limit)
            .u16(self.copies)
            .raw(&self.ack_hash)
            .bytes(&self.sealed);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("carried version")?;
        if version != VERSION {
            return Err(DecodeError::Version {
                field: "carried envelope",
                version,
            });
        }
        Ok(Self {
            id: EnvelopeId(r.array("envelope id")?),
            epoch: r.u32("epoch")?,
            tag: Tag(r.array("tag")?),
            expiry: Time::from_millis(r.u64("expiry")?),
            hop_limit: r.u8("hop limit")?,
            copies: r.u16("copies")?,
            ack_hash: r.array("ack hash")?,
            sealed: r.bytes(MAX_SEALED_LEN, "sealed")?.to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.encode(&mut w);
        w.into_vec()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let c = Self::decode(&mut r)?;
        r.finish()?;
        Ok(c)
    }
}
