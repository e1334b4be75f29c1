//! Frames over a byte stream: a 4-byte big-endian length, then the frame.
//!
//! LAN streams use this plain framing (libp2p's Noise already secures the
//! hop); Tor streams use the hop record layer ([`crate::hop`]) through the
//! same [`FrameReader`]/[`FrameWriter`] pair and the same [`run_link`]. The
//! reader refuses a length above the link's MTU before allocating anything,
//! and a frame that has begun must be whole within the link's frame deadline
//! ([`LAN_FRAME_DEADLINE`] on the LAN): a peer that trickles a frame a byte at
//! a time (slow-loris) holds a connection and its buffer no longer than that,
//! and the link ends as a violation.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use crate::link::{DownReason, LinkEvent, LinkId, LinkQueue};

/// Frames coalesced into one write when more are already waiting.
const WRITE_BATCH: usize = 64;

/// How long a LAN frame may take from its first byte to its last: the
/// largest (128 KiB) needs 20 s only below ~52 kbit/s, far under any Wi-Fi.
pub const LAN_FRAME_DEADLINE: Duration = Duration::from_secs(20);

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

/// Reads one frame; `Ok(None)` on a clean end of stream. Once part of a
/// frame is in, the rest must follow within `deadline`.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    decoder: &mut impl FrameReader,
    deadline: Duration,
) -> Result<Option<Bytes>, DownReason> {
    let mut chunk = [0u8; 16 * 1024];
    let mut begun: Option<tokio::time::Instant> = None;
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(Some(frame));
        }
        if decoder.buffered() > 0 {
            begun.get_or_insert_with(tokio::time::Instant::now);
        }
        let read = r.read(&mut chunk);
        let read = match begun {
            None => read.await,
            Some(at) => match tokio::time::timeout_at(at + deadline, read).await {
                Ok(read) => read,
                Err(_) => {
                    return Err(DownReason::Violation(format!(
                        "a frame still incomplete after {} s",
                        deadline.as_secs_f32()
                    )));
                }
            },
        };
        match read {
            Ok(0) if decoder.buffered() == 0 => return Ok(None),
            Ok(0) => return Err(DownReason::Lost("stream ended inside a frame".into())),
            Ok(n) => decoder.push(&chunk[..n]),
            Err(e) => return Err(DownReason::Lost(e.to_string())),
        }
    }
}

fn put_frame(out: &mut Vec<u8>, frame: &[u8]) {
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
}

/// Runs one link over a stream until either side ends it, then reports `Down`.
/// `decoder` and `encoder` are the stream's framing (plain or hop records);
/// `frame_deadline` bounds how long a begun frame may take.
pub async fn run_link<S>(
    link: LinkId,
    stream: S,
    mut queue: LinkQueue,
    events: mpsc::Sender<LinkEvent>,
    (mut decoder, frame_deadline): (impl FrameReader, Duration),
    mut encoder: impl FrameWriter,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = stream.split();
    let read_events = events.clone();
    let reading = async move {
        loop {
            match read_frame(&mut reader, &mut decoder, frame_deadline).await {
                Ok(Some(frame)) => {
                    if read_events
                        .send(LinkEvent::Frame { link, frame })
                        .await
                        .is_err()
                    {
                        return DownReason::Closed;
                    }
                }
                Ok(None) => return DownReason::Closed,
                Err(reason) => return reason,
            }
        }
    };
    let writing = async move {
        let mut buf = Vec::new();
        loop {
            let Some(first) = queue.frames.recv().await else {
                return DownReason::Closed;
            };
            buf.clear();
            if let Err(reason) = encoder.put(&first, &mut buf) {
                return reason;
            }
            for _ in 1..WRITE_BATCH {
                let Some(frame) = queue.frames.try_recv() else {
                    break;
                };
                if let Err(reason) = encoder.put(&frame, &mut buf) {
                    return reason;
                }
            }
            let written = async {
                writer.write_all(&buf).await?;
                writer.flush().await
            };
            if let Err(e) = written.await {
                return DownReason::Lost(e.to_string());
            }
        }
    };
    let close = queue.close.clone();
    let reason = tokio::select! {
        r = reading => r,
        r = writing => r,
        () = close.notified() => DownReason::Closed,
    };
    debug!(%link, %reason, "link down");
    let _ = events.send(LinkEvent::Down { link, reason }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversize_length_is_refused_before_reading_the_body() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut r = futures::io::Cursor::new(&bytes[..]);
        let mut d = FrameDecoder::new(1024);
        assert!(matches!(
            read_frame(&mut r, &mut d, LAN_FRAME_DEADLINE).await,
            Err(DownReason::Violation(_))
        ));
    }

    #[tokio::test]
    async fn frames_round_trip_and_eof_is_clean() {
        let mut buf = Vec::new();
        put_frame(&mut buf, b"abc");
        put_frame(&mut buf, b"");
        let mut r = futures::io::Cursor::new(buf);
        let mut d = FrameDecoder::new(10);
        let limit = LAN_FRAME_DEADLINE;
        assert_eq!(
            read_frame(&mut r, &mut d, limit).await.unwrap().unwrap(),
            &b"abc"[..]
        );
        assert_eq!(
            read_frame(&mut r, &mut d, limit).await.unwrap().unwrap(),
            &b""[..]
        );
        assert_eq!(read_frame(&mut r, &mut d, limit).await.unwrap(), None);
    }

    /// Hands out its bytes one at a time, each `every` apart.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        every: Duration,
        next: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let every = self.every;
            let sleep = self
                .next
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            if sleep.as_mut().poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
            self.next = None;
            let Some(&b) = self.bytes.get(self.at) else {
                return std::task::Poll::Ready(Ok(0));
            };
            self.at += 1;
            buf[0] = b;
            std::task::Poll::Ready(Ok(1))
        }
    }

    use std::future::Future as _;

    fn trickle(frame: &[u8], every: Duration) -> Trickle {
        let mut bytes = Vec::new();
        put_frame(&mut bytes, frame);
        Trickle {
            bytes,
            at: 0,
            every,
            next: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_trickled_past_the_deadline_is_a_violation() {
        // 100 bytes at one a second: the first comes at 1 s, so by the 20 s
        // deadline 21 are in and 83 are still missing.
        let mut r = trickle(&[7; 100], Duration::from_secs(1));
        let mut d = FrameDecoder::new(1024);
        let started = tokio::time::Instant::now();
        let got = read_frame(&mut r, &mut d, LAN_FRAME_DEADLINE).await;
        assert!(matches!(got, Err(DownReason::Violation(_))), "{got:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(21));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_frame_within_the_deadline_arrives_and_the_clock_starts_anew() {
        let mut bytes = Vec::new();
        put_frame(&mut bytes, &[1; 60]);
        put_frame(&mut bytes, &[2; 60]);
        // 128 bytes 250 ms apart: 16 s per frame, 32 s for both.
        let mut r = Trickle {
            bytes,
            at: 0,
            every: Duration::from_millis(250),
            next: None,
        };
        let mut d = FrameDecoder::new(1024);
        for fill in [1, 2] {
            let frame = read_frame(&mut r, &mut d, LAN_FRAME_DEADLINE).await;
            assert_eq!(frame.unwrap().unwrap(), vec![fill; 60]);
        }
    }

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
