//! Links as the engine sees them: an id the driver numbers, the medium, who
//! is at the other end, and why the engine may ask for one to close. A leaf:
//! it imports nothing of the crate but identities and time.

use crate::identity::IdentityKey;
use crate::time::Time;

/// The frame size a link must carry for the largest session message (a
/// full padded payload, sealed, in its envelope) to fit.
pub const MIN_LINK_MTU: usize = 66 * 1024;

/// Names one link of one transport, as the driver numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// The medium a link runs over; cheaper media are preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Medium {
    Memory,
    Lan,
    Ble,
    Tor,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Memory => "memory",
            Medium::Lan => "lan",
            Medium::Ble => "ble",
            Medium::Tor => "tor",
        }
    }
}

/// A link as the transport announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub id: LinkId,
    pub medium: Medium,
    /// The identity the transport authenticated at the hop.
    pub peer: IdentityKey,
    /// Largest frame the link carries; at least [`MIN_LINK_MTU`] for every
    /// message to fit (small-MTU media fragment inside their transport).
    pub mtu: usize,
    pub since: Time,
}

/// Why the engine asked for a link to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A frame or payload that does not decode.
    Malformed,
    /// A handshake or message that fails authentication.
    BadCrypto,
    /// A message seen before.
    Replay,
    /// More handshakes or unknown-session frames than any honest peer sends.
    Flooding,
    /// The node holds as many links as it is allowed.
    TooManyLinks,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Malformed => "malformed frame",
            CloseReason::BadCrypto => "authentication failed",
            CloseReason::Replay => "replayed message",
            CloseReason::Flooding => "flooding",
            CloseReason::TooManyLinks => "too many links",
        }
    }

    /// Whether the peer misbehaved (and may be kept away for a while).
    pub fn is_misbehaviour(self) -> bool {
        !matches!(self, CloseReason::TooManyLinks)
    }
}
