//! # cairn-protocol
//!
//! The sans-I/O heart of Cairn. It owns identity and invites, safety numbers,
//! end-to-end Noise sessions, the envelope and payload encodings, the outbox
//! with acknowledgements and deduplication, and the [`Engine`] that ties them
//! to links.
//!
//! It performs no I/O: no sockets, no files, no clock, no global randomness.
//! Every entry point takes `now` ([`Time`]) and randomness comes from a seed
//! the driver passes in, so one seed replays a run exactly. Storage is reached
//! through the narrow [`Store`] trait; the node implements it on redb.
//!
//! Driving it: feed inputs to [`Engine`], call [`Engine::flush`] to commit,
//! drain [`Engine::poll_output`], wake at [`Engine::poll_timeout`].
//!
//! Every decoder reads through [`wire::Reader`], which bounds each length by
//! the input actually present before allocating.

pub mod bridge;
pub mod contact;
pub mod devices;
pub mod disappear;
pub mod engine;
pub mod envelope;
pub mod file;
pub mod frame;
pub mod group;
pub mod identity;
pub mod ids;
pub mod invite;
pub mod limits;
pub mod link;
pub mod mesh;
pub mod message;
mod noise;
pub mod outbox;
pub mod payload;
pub mod prekeys;
pub mod ratchet;
pub mod safety;
pub mod sealed;
pub mod session;
pub mod session_table;
pub mod store;
pub mod time;
pub mod wire;

pub use contact::{Contact, ContactOrigin};
pub use engine::{
    CloseReason, Commit, Config, Engine, EngineError, Event, LinkId, LinkInfo, MIN_LINK_MTU,
    Medium, Output,
};
pub use group::GroupId;
pub use identity::{Identity, IdentityKey, StaticKey};
pub use ids::MessageId;
pub use invite::{ContactCard, Hint, InviteError};
pub use message::{DeliveryState, Direction, MessageRecord};
pub use safety::SafetyNumber;
pub use store::{MemoryStore, Store, StoreError, StoreOp, StoredGroup, WriteBatch};
pub use time::Time;
