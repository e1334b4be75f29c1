//! The link interface every transport offers the node.
//!
//! A link comes up with the identity the transport authenticated at the hop
//! (an Ed25519 public key) and an MTU, carries whole frames both ways, and goes
//! down. Frames are opaque bytes here: no transport knows about messages,
//! contacts or groups. Media with small packets (BLE) fragment inside the
//! transport, so every link's MTU is a whole frame.
//!
//! Bounds: each link has a send queue of [`SEND_QUEUE`] frames; a full queue
//! refuses the frame (`SendError::Full`) and the core retransmits later. The
//! event channel into the node is bounded by whoever creates it; a link's
//! reader waits when it is full, which pushes back on the peer.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

/// Frames waiting to be written on one link.
pub const SEND_QUEUE: usize = 1024;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("link send queue is full")]
    Full,
    #[error("link is closed")]
    Closed,
}

/// The sending half of a link, held by the node.
#[derive(Debug, Clone)]
pub struct LinkSender {
    link: LinkId,
    frames: mpsc::Sender<Bytes>,
    close: Arc<Notify>,
}

impl LinkSender {
    pub fn id(&self) -> LinkId {
        self.link
    }

    /// Queues a frame without waiting.
    pub fn try_send(&self, frame: Bytes) -> Result<(), SendError> {
        self.frames.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queues a frame, waiting for room.
    pub async fn send(&self, frame: Bytes) -> Result<(), SendError> {
        self.frames.send(frame).await.map_err(|_| SendError::Closed)
    }

    /// Asks the transport to take the link down.
    pub fn close(&self) {
        self.close.notify_one();
    }
}

/// The transport's half of a link.
pub struct LinkQueue {
    pub frames: mpsc::Receiver<Bytes>,
    pub close: Arc<Notify>,
}

/// Makes the two halves of a new link's send path.
pub fn channel(link: LinkId) -> (LinkSender, LinkQueue) {
    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    let close = Arc::new(Notify::new());
    (
        LinkSender {
            link,
            frames: tx,
            close: close.clone(),
        },
        LinkQueue { frames: rx, close },
    )
}
