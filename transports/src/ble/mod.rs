//! Bluetooth LE: links between nodes in radio range, with no network at all.
//!
//! - [`arq`]: a reliable byte stream over lossy packets of one ATT MTU
//!   (sequence numbers, selective acks, retransmission, a bounded reassembly
//!   table with a timeout). Sans I/O.
//! - [`link`]: one link — the ARQ, then the hop handshake ([`crate::hop`]) so
//!   the peer is authenticated before anything else flows, then frames as
//!   Noise records. Sans I/O; what the bus, the adapter and the simulator drive.
//! - [`bus`]: two link cores and a modelled radio on a virtual clock.
//! - [`driver`]: the async task that runs one link against a radio.
//! - [`memory`]: an in-memory radio between nodes of one process.
//! - `bluez` (Linux): the adapter layer — bluer as peripheral, btleplug as
//!   central, against BlueZ over D-Bus.
//!
//! On the wire (docs/WIRE.md, "Bluetooth LE"): a Cairn GATT service with one
//! characteristic written without response; every node is both peripheral
//! and central.

pub mod arq;
#[cfg(all(target_os = "linux", feature = "bluez"))]
pub mod bluez;
pub mod bus;
#[cfg(feature = "runtime")]
pub mod driver;
pub mod link;
#[cfg(feature = "runtime")]
pub mod memory;

pub use link::{BLE_FRAME_MTU, BleEvent, BleLink};
