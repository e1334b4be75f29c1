//! Sizes the wire and the sub-machines agree on, with nothing of the crate
//! below them (so that no two modules import each other for a constant).

/// Longest text message, in UTF-8 bytes.
pub const MAX_TEXT_LEN: usize = 60_000;
/// Most message ids one receipt acknowledges.
pub const MAX_RECEIPT_IDS: usize = 1024;
/// Bytes of a group blob per fragment: fits the largest payload bucket.
pub const FRAGMENT_LEN: usize = 65_000;
/// Largest group blob (a first sync of a very large group).
pub const MAX_BLOB: usize = 64 * 1024 * 1024;
/// Most fragments one group blob may have.
pub const MAX_PARTS: usize = MAX_BLOB.div_ceil(FRAGMENT_LEN);
