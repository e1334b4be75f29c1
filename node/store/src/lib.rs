//! # cairn-store
//!
//! The node's store, apart from its network stack so that the simulator can
//! run thousands of real stores without linking tokio, libp2p or arti.
//!
//! - [`store`]: [`RedbStore`], the protocol's [`cairn_protocol::Store`] on one
//!   redb file per profile (or in memory, for tests and the simulator).
//! - [`vault`]: sealing at rest — XChaCha20-Poly1305 under a key derived from
//!   the passphrase with Argon2id, and keyed blinding of row keys.
//! - [`backup`]: a whole profile in one encrypted file, and back.
//! - `paged`: a redb backend in memory that holds only the pages written.

pub mod backup;
mod paged;
pub mod store;
pub mod vault;

pub use store::{Opened, RedbStore, StoreOpenError};
