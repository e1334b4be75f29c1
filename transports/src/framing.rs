//! Frames over a byte stream: a 4-byte big-endian length, then the frame.
//!
//! Used by every stream transport (LAN streams, Tor streams). The reader
//! refuses a length above the link's MTU before allocating anything.

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use crate::link::{DownReason, LinkEvent, LinkId, LinkQueue};

/// Frames coalesced into one write when more are already waiting.
const WRITE_BATCH: usize = 64;

/// Reads one frame; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Bytes>, DownReason> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(DownReason::Lost(e.to_string())),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(DownReason::Violation(format!(
            "frame of {len} bytes exceeds the {max}-byte limit"
        )));
    }
    let mut buf = BytesMut::zeroed(len);
    r.read_exact(&mut buf)
        .await
        .map_err(|e| DownReason::Lost(e.to_string()))?;
    Ok(Some(buf.freeze()))
}

fn put_frame(out: &mut Vec<u8>, frame: &[u8]) {
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
}

/// Runs one link over a stream until either side ends it, then reports `Down`.
pub async fn run_link<S>(
    link: LinkId,
    stream: S,
    mut queue: LinkQueue,
    events: mpsc::Sender<LinkEvent>,
    mtu: usize,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = stream.split();
    let read_events = events.clone();
    let reading = async move {
        loop {
            match read_frame(&mut reader, mtu).await {
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
            put_frame(&mut buf, &first);
            for _ in 1..WRITE_BATCH {
                match queue.frames.try_recv() {
                    Ok(frame) => put_frame(&mut buf, &frame),
                    Err(_) => break,
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
        assert!(matches!(
            read_frame(&mut r, 1024).await,
            Err(DownReason::Violation(_))
        ));
    }

    #[tokio::test]
    async fn frames_round_trip_and_eof_is_clean() {
        let mut buf = Vec::new();
        put_frame(&mut buf, b"abc");
        put_frame(&mut buf, b"");
        let mut r = futures::io::Cursor::new(buf);
        assert_eq!(read_frame(&mut r, 10).await.unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(read_frame(&mut r, 10).await.unwrap().unwrap(), &b""[..]);
        assert_eq!(read_frame(&mut r, 10).await.unwrap(), None);
    }
}
