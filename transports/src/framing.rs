//! Frames over a byte stream: a 4-byte big-endian length, then the frame.
//!
//! LAN streams use this plain framing (libp2p's Noise already secures the
//! hop); Tor streams and BLE links use the hop record layer ([`crate::hop`])
//! through the same [`FrameReader`]/[`FrameWriter`] pair. Sans I/O: the
//! stream pump that drives them (and bounds how long a frame may take) is
//! `crate::stream`. The decoder refuses a length above the link's MTU
//! before allocating anything.

use bytes::{Bytes, BytesMut};

use crate::link::DownReason;

/// Turns what arrives on a stream into frames, sans I/O: push what arrived,
/// pop whole frames.
pub trait FrameReader: Send + 'static {
    fn push(&mut self, data: &[u8]);
    /// The next whole frame, `Ok(None)` if more bytes are needed.
    fn next_frame(&mut self) -> Result<Option<Bytes>, DownReason>;
    /// Bytes held that do not yet form a frame.
    fn buffered(&self) -> usize;
}

/// Turns frames into bytes for a stream.
pub trait FrameWriter: Send + 'static {
    fn put(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), DownReason>;
}

/// Length-prefixed frames in the clear.
#[derive(Debug, Default)]
pub struct PlainWriter;

impl FrameWriter for PlainWriter {
    fn put(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), DownReason> {
        put_frame(out, frame);
        Ok(())
    }
}

/// Splits a byte stream into frames, sans I/O: push what arrived, pop whole
/// frames. A length above `max` is refused as soon as its 4 bytes are in, so
/// the buffer never holds more than one maximal frame plus one read.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }
}

impl FrameReader for FrameDecoder {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn next_frame(&mut self) -> Result<Option<Bytes>, DownReason> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.max {
            return Err(DownReason::Violation(format!(
                "frame of {len} bytes exceeds the {}-byte limit",
                self.max
            )));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let _ = self.buf.split_to(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Appends `frame` with its length prefix.
pub fn put_frame(out: &mut Vec<u8>, frame: &[u8]) {
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_reassembles_frames_split_anywhere() {
        let mut stream = Vec::new();
        for f in [&b"one"[..], b"", b"three33"] {
            put_frame(&mut stream, f);
        }
        for split in 0..stream.len() {
            let mut d = FrameDecoder::new(16);
            let mut got = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, vec![&b"one"[..], b"", b"three33"]);
        }
    }
}
