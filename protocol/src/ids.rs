//! Identifiers shared across the crate, with nothing of the crate below them.

use std::fmt;

use crate::wire::DecodeError;

/// A random message id, chosen by the author; receivers deduplicate on it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub [u8; 16]);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl std::str::FromStr for MessageId {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, DecodeError> {
        if s.len() != 32 || !s.is_ascii() {
            return Err(DecodeError::Invalid("message id"));
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16)
                .map_err(|_| DecodeError::Invalid("message id"))?;
        }
        Ok(MessageId(out))
    }
}
