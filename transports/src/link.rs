//! The link interface every transport offers the node.
//!
//! A link comes up with the identity the transport authenticated at the hop
//! (an Ed25519 public key) and an MTU, carries whole frames both ways, and goes
//! down. Frames are opaque bytes here: no transport knows about messages,
//! contacts or groups. Media with small packets (BLE) fragment inside the
//! transport, so every link's MTU is a whole frame.
//!
//! Bounds: each link has a send queue of at most [`SEND_QUEUE`] frames and
//! [`SEND_QUEUE_BYTES`] bytes ([`BLE_SEND_QUEUE_BYTES`] on Bluetooth); a full
//! queue refuses the frame
//! (`SendError::Full`); the node then holds it in a bounded backlog of its
//! own and offers it again (or, past that bound, the core retransmits). (Frames alone bounded
//! it at 1 024 × 128 KiB: a peer that made the engine relay large envelopes
//! onto a slow radio could pile up a gigabyte across links.) The
//! event channel into the node is bounded by whoever creates it; a link's
//! reader waits when it is full, which pushes back on the peer.

use std::fmt;
use std::sync::Arc;
#[cfg(feature = "runtime")]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "runtime")]
use bytes::Bytes;
#[cfg(feature = "runtime")]
use tokio::sync::{Notify, mpsc};

/// Frames waiting to be written on one link.
pub const SEND_QUEUE: usize = 1024;
/// Bytes waiting to be written on a stream link (LAN, Tor, memory): a
/// window and a half of file chunks (the receiver asks ahead) fit.
pub const SEND_QUEUE_BYTES: usize = 4 << 20;
/// Bytes waiting on a Bluetooth link: about half a minute of a radio's
/// throughput, so what waits is still worth sending when it goes.
pub const BLE_SEND_QUEUE_BYTES: usize = 1 << 20;

/// Numbers links uniquely across every transport of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link#{}", self.0)
    }
}

/// Hands out link ids; shared by all transports of a node.
#[derive(Debug, Clone, Default)]
pub struct LinkIds(Arc<AtomicU64>);

impl LinkIds {
    pub fn next(&self) -> LinkId {
        LinkId(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Medium {
    Memory,
    Lan,
    Ble,
    Tor,
}

/// Why a link went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// Closed by us or cleanly by the peer.
    Closed,
    /// The medium failed (connection reset, out of range, …).
    Lost(String),
    /// The peer broke the framing (oversize frame, …): it may be kept away.
    Violation(String),
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Closed => f.write_str("closed"),
            DownReason::Lost(why) => write!(f, "lost: {why}"),
            DownReason::Violation(why) => write!(f, "protocol violation: {why}"),
        }
    }
}

#[cfg(feature = "runtime")]
#[derive(Debug)]
pub enum LinkEvent {
    Up {
        link: LinkId,
        medium: Medium,
        /// The Ed25519 public key the transport authenticated.
        peer: [u8; 32],
        mtu: usize,
        sender: LinkSender,
    },
    Frame {
        link: LinkId,
        frame: Bytes,
    },
    Down {
        link: LinkId,
        reason: DownReason,
    },
}

#[cfg(feature = "runtime")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("link send queue is full")]
    Full,
    #[error("link is closed")]
    Closed,
}

#[cfg(feature = "runtime")]
/// The sending half of a link, held by the node.
#[derive(Debug, Clone)]
pub struct LinkSender {
    link: LinkId,
    frames: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
    close: Arc<Notify>,
}

#[cfg(feature = "runtime")]
impl LinkSender {
    pub fn id(&self) -> LinkId {
        self.link
    }

    /// Queues a frame without waiting. Refused when the queue holds
    /// [`SEND_QUEUE`] frames or the frame would take it past the link's byte
    /// bound (a frame into an empty queue always fits).
    pub fn try_send(&self, frame: Bytes) -> Result<(), SendError> {
        let len = frame.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.max_bytes {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(SendError::Full);
        }
        self.frames.try_send(frame).map_err(|e| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::Full,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            }
        })
    }

    /// Queues a frame, waiting for a free slot (test peers and tools; the
    /// node uses [`Self::try_send`]). Its bytes count, but are not waited on.
    pub async fn send(&self, frame: Bytes) -> Result<(), SendError> {
        let len = frame.len();
        self.queued.fetch_add(len, Ordering::AcqRel);
        self.frames.send(frame).await.map_err(|_| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            SendError::Closed
        })
    }

    /// Asks the transport to take the link down.
    pub fn close(&self) {
        self.close.notify_one();
    }
}

#[cfg(feature = "runtime")]
/// Frames queued on a link, for the transport to write; taking one frees
/// its bytes in the queue.
#[derive(Debug)]
pub struct QueuedFrames {
    frames: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

#[cfg(feature = "runtime")]
impl QueuedFrames {
    pub async fn recv(&mut self) -> Option<Bytes> {
        let frame = self.frames.recv().await?;
        self.queued.fetch_sub(frame.len(), Ordering::AcqRel);
        Some(frame)
    }

    pub fn try_recv(&mut self) -> Option<Bytes> {
        let frame = self.frames.try_recv().ok()?;
        self.queued.fetch_sub(frame.len(), Ordering::AcqRel);
        Some(frame)
    }
}

#[cfg(feature = "runtime")]
/// The transport's half of a link.
pub struct LinkQueue {
    pub frames: QueuedFrames,
    pub close: Arc<Notify>,
}

#[cfg(feature = "runtime")]
/// Makes the two halves of a new link's send path, holding at most
/// `max_bytes` queued.
pub fn channel(link: LinkId, max_bytes: usize) -> (LinkSender, LinkQueue) {
    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    let close = Arc::new(Notify::new());
    let queued = Arc::new(AtomicUsize::new(0));
    (
        LinkSender {
            link,
            frames: tx,
            queued: queued.clone(),
            max_bytes,
            close: close.clone(),
        },
        LinkQueue {
            frames: QueuedFrames { frames: rx, queued },
            close,
        },
    )
}
