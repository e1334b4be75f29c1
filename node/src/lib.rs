//! # cairn-node
//!
//! The only place where Cairn's pieces meet. It opens the profile's encrypted
//! store ([`store`], [`vault`]), starts the transports the config enables,
//! feeds their link events into the protocol core and carries out the core's
//! outputs ([`runtime`]), and serves the local API ([`api`]) over an
//! owner-only Unix socket ([`control`]). The CLI and the app reach a node
//! through one [`Client`]: in-process, attached over the socket, or — for
//! the CLI when no node runs — the profile opened for one call.
//!
//! Invariant: an API call that changes state is answered only after the store
//! committed it; an incoming message is acknowledged only after it is stored.

pub mod api;
pub mod audio;
pub mod client;
pub mod control;
pub mod gateway;
pub mod i18n;
pub mod profile;
pub mod runtime;
pub mod secrets;
pub mod service;
pub mod terminal;
pub mod timestamp;
pub mod user_bridge;
pub mod voice;

/// The encrypted store lives in its own crate (the simulator uses it without
/// the network stack); these names keep `crate::store` and `crate::vault`.
pub use cairn_store::{backup, store, vault};

pub use api::{ApiError, Reply, Request, Response};
pub use client::{Client, ClientError};
pub use profile::{NodeConfig, Profile};
pub use runtime::{NodeHandle, RunOptions};
