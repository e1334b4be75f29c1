//! # cairn-transports
//!
//! Turns each medium into *links*: a link comes up with the identity its
//! transport authenticated at the hop and an MTU, carries whole frames, and
//! goes down ([`link`]). Transports know nothing of messages, contacts or
//! groups; they move opaque frames and keep their own hop secure.
//!
//! - [`lan`]: libp2p over TCP and QUIC with Noise and yamux, found by mDNS.
//! - [`tor`]: arti in-process; the node's own onion service and its
//!   contacts' onion addresses, with the [`hop`] handshake on every stream.
//! - [`ble`]: Bluetooth LE — every node a peripheral (bluer) and a central
//!   (btleplug); a sans-I/O link core with its own ARQ and the [`hop`]
//!   handshake.
//! - [`memory`]: in-process links for tests and benchmarks.
//!
//! Features: `lan`, `tor` and `bluez` (all default) each bring their medium
//! and the tokio `runtime` they run on. With none of them the crate is the
//! sans-I/O half only — link ids and bounds, [`hop`], frame decoding and the
//! BLE link core and radio model — which is what the simulator links.
//!
//! Each transport runs its own task(s) and reports through one bounded
//! channel of [`LinkEvent`]s that the node drains.

pub mod ble;
pub mod framing;
pub mod hop;
#[cfg(feature = "lan")]
pub mod lan;
pub mod link;
#[cfg(feature = "runtime")]
pub mod memory;
#[cfg(feature = "runtime")]
pub mod stream;
#[cfg(feature = "tor")]
pub mod tor;

pub use link::{DownReason, LinkId, LinkIds, Medium};
#[cfg(feature = "runtime")]
pub use link::{LinkEvent, LinkSender, SendError};
