//! What a link carries: one frame per transport unit.
//!
//! ```text
//! frame = version:u8(=1) kind:u8 body
//!   kind 1 Envelope   envelope (to end of frame), addressed to the link peer
//! ```
//! Later kinds (mesh summaries, carried envelopes) extend this table; a node
//! that meets a kind it does not know drops the frame and keeps the link.

use crate::envelope::{Envelope, MAX_ENVELOPE_LEN};
use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;
/// The largest frame this version ever sends or accepts.
pub const MAX_FRAME_LEN: usize = 2 + MAX_ENVELOPE_LEN;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Envelope(Envelope),
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
        match r.u8("frame kind")? {
            1 => {
                let env = Envelope::decode_from(&mut r)?;
                r.finish()?;
                Ok(Frame::Envelope(env))
            }
            kind => Err(DecodeError::UnknownKind {
                field: "frame",
                kind,
            }),
        }
    }
}
