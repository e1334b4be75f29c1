//! What a link carries: one frame per transport unit.
//!
//! ```text
//! frame = version:u8(=1) kind:u8 body
//!   kind 1 Envelope   envelope (to end of frame), addressed to the link peer
//!   kind 2 Summary    have:bloom interest:bloom         (mesh/mod.rs)
//!                     [count:u16 (1..=256) { tag:[16] p:u8 }*]  (PRoPHET baseline only)
//!   kind 3 Carry      carried envelope                  (mesh/carried.rs)
//!   kind 4 Acks       count:u16 (≤ 256) { id:[16] secret:[16] }*
//! ```

use crate::envelope::{Envelope, MAX_ENVELOPE_LEN};
use crate::mesh::carried::{Carried, EnvelopeId, MAX_CARRIED_LEN};
use crate::mesh::{MAX_ACKS, Summary};
use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;
/// The largest frame this version ever sends or accepts.
pub const MAX_FRAME_LEN: usize = 2 + if MAX_ENVELOPE_LEN > MAX_CARRIED_LEN {
    MAX_ENVELOPE_LEN
} else {
    MAX_CARRIED_LEN
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Envelope(Envelope),
    Summary(Summary),
    Carry(Box<Carried>),
    Acks(Vec<(EnvelopeId, [u8; 16])>),
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Envelope(env) => {
                let mut w = Writer::with_capacity(2 + env.encoded_len());
                w.u8(VERSION).u8(1);
                env.encode_into(&mut w);
                w.into_vec()
            }
            Frame::Summary(s) => {
                let mut w = Writer::with_capacity(2 + s.encoded_len());
                w.u8(VERSION).u8(2);
                s.encode(&mut w);
                w.into_vec()
            }
            Frame::Carry(c) => {
                let mut w = Writer::with_capacity(2 + c.encoded_len());
                w.u8(VERSION).u8(3);
                c.encode(&mut w);
                w.into_vec()
            }
            Frame::Acks(acks) => {
                let mut w = Writer::with_capacity(4 + 32 * acks.len());
                w.u8(VERSION).u8(4).u16(acks.len() as u16);
                for (id, secret) in acks {
                    w.raw(&id.0).raw(secret);
                }
                w.into_vec()
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(DecodeError::TooLong {
                field: "frame",
                len: bytes.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("frame version")?;
        if version != VERSION {
            return Err(DecodeError::Version {
                field: "frame",
                version,
            });
        }
        let frame = match r.u8("frame kind")? {
            1 => Frame::Envelope(Envelope::decode_from(&mut r)?),
            2 => Frame::Summary(Summary::decode(&mut r)?),
            3 => Frame::Carry(Box::new(Carried::decode(&mut r)?)),
            4 => {
                let count = usize::from(r.u16("ack count")?);
                if count > MAX_ACKS {
                    return Err(DecodeError::TooLong {
                        field: "acks",
                        len: count,
                        max: MAX_ACKS,
                    });
                }
                Frame::Acks(
                    (0..count)
                        .map(|_| Ok((EnvelopeId(r.array("envelope id")?), r.array("ack secret")?)))
                        .collect::<Result<_, DecodeError>>()?,
                )
            }
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "frame",
                    kind,
                });
            }
        };
        r.finish()?;
        Ok(frame)
    }
}
