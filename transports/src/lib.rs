//! # cairn-transports
//!
//! Turns each medium into *links*: a link comes up with the identity its
//! transport authenticated at the hop and an MTU, carries whole frames, and
//! goes down ([`link`]). Transports know nothing of messages, contacts or
//! groups; they move opaque frames and keep their own hop secure.
//!
//! - [`lan`]: libp2p over TCP and QUIC with Noise and yamux, found by mDNS.
//! - [`memory`]: in-process links for tests and benchmarks.
//!
//! Each transport runs its own task(s) and reports through one bounded
//! channel of [`LinkEvent`]s that the node drains.

pub mod framing;
pub mod lan;
pub mod link;
pub mod memory;

pub use link::{DownReason, LinkEvent, LinkId, LinkIds, LinkSender, Medium, SendError};
