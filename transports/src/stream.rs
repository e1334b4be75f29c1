//! Links over byte streams (LAN and Tor), on tokio: the frame reader with
//! its deadline, the pump that runs one link, and the hop handshake over a
//! stream. The framing itself is sans I/O ([`crate::framing`]).
//!
//! A frame that has begun must be whole within the link's frame deadline
//! ([`LAN_FRAME_DEADLINE`] on the LAN): a peer that trickles a frame a byte
//! at a time (slow-loris) holds a connection and its buffer no longer than
//! that, and the link ends as a violation.

use std::time::Duration;

use bytes::Bytes;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use crate::framing::{FrameReader, FrameWriter};
use crate::hop::{Established, Handshake, HopError, HopKeys, Role};
use crate::link::{DownReason, LinkEvent, LinkId, LinkQueue};

/// Frames coalesced into one write when more are already waiting.
const WRITE_BATCH: usize = 64;

/// How long a LAN frame may take from its first byte to its last: the
/// largest (128 KiB) needs 20 s only below ~52 kbit/s, far under any Wi-Fi.
pub const LAN_FRAME_DEADLINE: Duration = Duration::from_secs(20);

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

/// Runs the hop handshake over a byte stream (messages as `len:u16 body`).
pub async fn handshake<S>(
    stream: &mut S,
    role: Role,
    keys: &std::sync::Arc<HopKeys>,
    mtu: usize,
) -> Result<Established, HopError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hs = Handshake::new(role, keys)?;
    while !hs.is_finished() {
        if hs.our_turn() {
            let msg = hs.write()?;
            let mut out = (msg.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&msg);
            stream
                .write_all(&out)
                .await
                .map_err(|e| HopError::Io(e.to_string()))?;
            stream
                .flush()
                .await
                .map_err(|e| HopError::Io(e.to_string()))?;
        } else {
            let mut len = [0u8; 2];
            stream
                .read_exact(&mut len)
                .await
                .map_err(|e| HopError::Io(e.to_string()))?;
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream
                .read_exact(&mut msg)
                .await
                .map_err(|e| HopError::Io(e.to_string()))?;
            hs.read(&msg)?;
        }
    }
    let mut done = hs.finish()?;
    done.reader = done.reader.with_mtu(mtu);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{FrameDecoder, put_frame};
    use crate::hop::Peer;

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

    #[tokio::test]
    async fn handshake_over_a_stream() {
        use tokio_util::compat::TokioAsyncReadCompatExt;
        let (x, y) = tokio::io::duplex(1024);
        let (mut x, mut y) = (x.compat(), y.compat());
        let (k3, k4) = (
            HopKeys::new(&[3; 32], &[5; 32]),
            HopKeys::new(&[4; 32], &[6; 32]),
        );
        k3.look_for(vec![k4.static_key()]);
        k4.look_for(vec![k3.static_key()]);
        let (a, b) = tokio::join!(
            handshake(&mut x, Role::Initiator, &k3, 1000),
            handshake(&mut y, Role::Responder, &k4, 1000)
        );
        assert_eq!(a.unwrap().peer, Peer::Known(k4.identity()));
        assert_eq!(b.unwrap().peer, Peer::Known(k3.identity()));
    }
}
