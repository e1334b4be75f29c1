//! A bounded binary codec: big-endian integers and length-prefixed fields.
//!
//! Every decoder in this crate reads through [`Reader`], which checks each length
//! against the bytes that are actually left *before* touching them, so a hostile
//! length prefix can never make us allocate or read beyond the input.

use thiserror::Error;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended in the middle of a field.
    #[error("input truncated while reading {field}")]
    Truncated { field: &'static str },
    /// A length prefix or count exceeded the field's bound.
    #[error("{field} is {len} long; at most {max} is allowed")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// Bytes were left over after a complete value.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A version this implementation does not speak.
    #[error("unsupported {field} version {version}")]
    Version { field: &'static str, version: u8 },
    /// A type tag this implementation does not know.
    #[error("unknown {field} kind {kind:#04x}")]
    UnknownKind { field: &'static str, kind: u8 },
    /// Text that is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    Utf8 { field: &'static str },
    /// A value that is structurally readable but not allowed.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Reads fields from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if len > self.buf.len() {
            return Err(DecodeError::Truncated { field });
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `u8`-length-prefixed byte string of at most `max` bytes.
    pub fn short_bytes(
        &mut self,
        max: usize,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u8(field)?);
        check_len(len, max, field)?;
        self.take(len, field)
    }

    /// A `u16`-length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(field)?);
        check_len(len, max, field)?;
        self.take(len, field)
    }

    /// A `u32`-length-prefixed byte string of at most `max` bytes.
    pub fn long_bytes(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.u32(field)?).unwrap_or(usize::MAX);
        check_len(len, max, field)?;
        self.take(len, field)
    }

    /// A `u8`-length-prefixed UTF-8 string of at most `max` bytes.
    pub fn short_str(&mut self, max: usize, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.short_bytes(max, field)?).map_err(|_| DecodeError::Utf8 { field })
    }

    /// A `u16`-length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str(&mut self, max: usize, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(max, field)?).map_err(|_| DecodeError::Utf8 { field })
    }

    /// A `u32`-length-prefixed UTF-8 string of at most `max` bytes.
    pub fn long_str(&mut self, max: usize, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.long_bytes(max, field)?).map_err(|_| DecodeError::Utf8 { field })
    }

    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

fn check_len(len: usize, max: usize, field: &'static str) -> Result<(), DecodeError> {
    if len > max {
        return Err(DecodeError::TooLong { field, len, max });
    }
    Ok(())
}

/// Appends fields to a byte vector. Lengths are checked by the caller's types:
/// every `put_*_bytes` panics in debug builds if handed more than its prefix can
/// express, which would be a bug in this crate, never a result of input.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            buf: Vec::with_capacity(cap),
        }
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    pub fn short_bytes(&mut self, v: &[u8]) -> &mut Self {
        debug_assert!(v.len() <= usize::from(u8::MAX));
        self.u8(v.len() as u8).raw(v)
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        debug_assert!(v.len() <= usize::from(u16::MAX));
        self.u16(v.len() as u16).raw(v)
    }

    pub fn long_bytes(&mut self, v: &[u8]) -> &mut Self {
        debug_assert!(u32::try_from(v.len()).is_ok());
        self.u32(v.len() as u32).raw(v)
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_length_prefix_is_refused_before_reading() {
        let mut r = Reader::new(&[0xff, 0xff, 1, 2, 3]);
        assert_eq!(
            r.bytes(10, "x"),
            Err(DecodeError::TooLong {
                field: "x",
                len: 0xffff,
                max: 10
            })
        );
        let mut r = Reader::new(&[0, 9, 1, 2, 3]);
        assert_eq!(
            r.bytes(100, "x"),
            Err(DecodeError::Truncated { field: "x" })
        );
    }

    #[test]
    fn round_trip_of_every_field_kind() {
        let mut w = Writer::default();
        w.u8(7)
            .u16(300)
            .u32(70_000)
            .u64(1 << 40)
            .short_bytes(b"ab")
            .bytes(b"cd")
            .long_bytes(b"ef");
        let v = w.into_vec();
        let mut r = Reader::new(&v);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("a").unwrap(), 300);
        assert_eq!(r.u32("a").unwrap(), 70_000);
        assert_eq!(r.u64("a").unwrap(), 1 << 40);
        assert_eq!(r.short_bytes(2, "a").unwrap(), b"ab");
        assert_eq!(r.bytes(2, "a").unwrap(), b"cd");
        assert_eq!(r.long_bytes(2, "a").unwrap(), b"ef");
        r.finish().unwrap();
    }
}
