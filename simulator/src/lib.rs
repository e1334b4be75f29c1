//! # cairn-sim
//!
//! A deterministic discrete-event simulator that runs Cairn's *real* protocol
//! cores — the same `Engine` and redb store code the node runs, on redb's
//! in-memory backend — for hundreds to tens of thousands of people, with
//! modelled links (BLE range, LAN hotspots, a Tor-like internet; bandwidth,
//! latency, loss), mobility (random waypoint, groups), churn and partitions.
//!
//! Driven by scenario files (`scenarios/*.toml`); one seed replays a run
//! exactly. It is how Cairn's routing was chosen: by measurement against
//! flooding and direct delivery on the same seed.

pub mod metrics;
pub mod mobility;
pub mod plot;
pub mod routing;
pub mod scenario;
pub mod world;

pub use metrics::Metrics;
pub use routing::Routing;
pub use scenario::Scenario;
pub use world::{Progress, World};
