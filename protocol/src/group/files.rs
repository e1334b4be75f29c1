//! Files in groups (a voice note, a photo): the post says what the file is
//! (name, type, size, SHA-256, inside the post's encryption); the content
//! stays outside the document and is fetched, in chunks, from whichever
//! member holds it (docs/GROUPS.md, "Files").
//!
//! ```text
//! want  = version:u8(=2) kind:u8(=4) file:[16] from:u32 count:u16      "send chunks [from, from+count)"
//! chunk = version:u8(=2) kind:u8(=5) file:[16] index:u32 0             "I do not hold it"
//!       | version:u8(=2) kind:u8(=5) file:[16] index:u32 1 data:long_bytes (≤ 61 440)
//! held  = version:u8(=2) kind:u8(=6) file:[16]                         "I hold it now"
//! ```
//!
//! A member still fetching a file when another asks for it says "not held",
//! remembers who asked, and tells them "held" once it has the whole file: a
//! file crosses a chain of members without waiting for ticks.
//!
//! A file is named by its post's key id, so deleting the post (or its
//! expiry) erases the content with the key. Chunks are taken only from the
//! member asked, only in order and of the right length; the whole must hash
//! to the post's SHA-256, else it is fetched again from someone else (at
//! most [`MAX_ATTEMPTS`] times).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::file::{CHUNK_LEN, FileMeta};
use crate::identity::IdentityKey;
use crate::wire::{DecodeError, Reader, Writer};

/// Blob kinds beside sync (1), push (2) and keys (3).
pub const KIND_FILE_WANT: u8 = 4;
pub const KIND_FILE_CHUNK: u8 = 5;
pub const KIND_FILE_HELD: u8 = 6;
const BLOB_VERSION: u8 = 2;
/// Chunks asked for at once (a voice note of a minute is two).
pub const WINDOW: u32 = 4;
/// Members remembered per file as having asked while we fetched it.
pub const MAX_ASKED_BY: usize = 32;
/// Files of one group being fetched at once.
pub const MAX_FETCHING: usize = 4;
/// Files of one group waiting to be fetched (more are noted at a later
/// tick, as these are done): what a flood of file posts can make a member
/// keep in memory.
pub const MAX_QUEUED: usize = 1024;
/// Whole fetches that may fail their hash before the file is given up
/// (until the next start).
pub const MAX_ATTEMPTS: u8 = 3;
/// The stored name of a group file held whole: `<prefix><group>/<file id>`,
/// its value the number of chunks (u32, big-endian).
pub const FILE_SETTING_PREFIX: &str = "group-file/";

/// The stored name of a group file held whole.
pub fn file_setting(group: &crate::group::GroupId, file: &str) -> String {
    format!("{FILE_SETTING_PREFIX}{group}/{file}")
}

/// A group file held whole, as its setting names it: the group, the file's
/// id and its number of chunks.
pub fn parse_file_setting(
    key: &str,
    value: &[u8],
) -> Option<(crate::group::GroupId, [u8; 16], u32)> {
    let (group, file) = key.strip_prefix(FILE_SETTING_PREFIX)?.split_once('/')?;
    let group = group.parse().ok()?;
    let file: [u8; 16] = data_encoding::HEXLOWER
        .decode(file.as_bytes())
        .ok()?
        .try_into()
        .ok()?;
    let chunks = u32::from_be_bytes(value.try_into().ok()?);
    Some((group, file, chunks))
}

/// A file blob, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileBlob {
    Want {
        file: [u8; 16],
        from: u32,
        count: u16,
    },
    /// A chunk, or (`None`) "I do not hold this file".
    Chunk {
        file: [u8; 16],
        index: u32,
        data: Option<Vec<u8>>,
    },
    /// "I hold this file now" (to a member we told we did not).
    Held { file: [u8; 16] },
}

/// Whether a reassembled group blob is a file blob.
pub fn is_file_blob(blob: &[u8]) -> bool {
    matches!(
        blob.get(1),
        Some(&KIND_FILE_WANT | &KIND_FILE_CHUNK | &KIND_FILE_HELD)
    )
}

impl FileBlob {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(32);
        match self {
            FileBlob::Want { file, from, count } => {
                w.u8(BLOB_VERSION)
                    .u8(KIND_FILE_WANT)
                    .raw(file)
                    .u32(*from)
                    .u16(*count);
            }
            FileBlob::Chunk { file, index, data } => {
                w.u8(BLOB_VERSION).u8(KIND_FILE_CHUNK).raw(file).u32(*index);
                match data {
                    None => {
                        w.u8(0);
                    }
                    Some(d) => {
                        w.u8(1).long_bytes(d);
                    }
                }
            }
            FileBlob::Held { file } => {
                w.u8(BLOB_VERSION).u8(KIND_FILE_HELD).raw(file);
            }
        }
        w.into_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8("group blob version")? != BLOB_VERSION {
            return Err(DecodeError::Invalid("group blob version"));
        }
        let kind = r.u8("group blob kind")?;
        let file = r.array("group file id")?;
        let blob = match kind {
            KIND_FILE_WANT => FileBlob::Want {
                file,
                from: r.u32("chunk index")?,
                count: r.u16("chunk count")?,
            },
            KIND_FILE_CHUNK => {
                let index = r.u32("chunk index")?;
                let data = match r.u8("chunk flag")? {
                    0 => None,
                    1 => Some(r.long_bytes(CHUNK_LEN, "chunk")?.to_vec()),
                    _ => return Err(DecodeError::Invalid("chunk flag")),
                };
                FileBlob::Chunk { file, index, data }
            }
            KIND_FILE_HELD => FileBlob::Held { file },
            _ => return Err(DecodeError::Invalid("group blob kind")),
        };
        r.finish()?;
        Ok(blob)
    }
}

/// A file we are fetching.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub meta: FileMeta,
    /// Chunks stored, in order.
    pub have: u32,
    hasher: Sha256,
    /// The member asked (whose chunks we take), if any.
    pub peer: Option<IdentityKey>,
    /// Chunks asked for: [have, asked_to).
    pub asked_to: u32,
    /// A chunk came since the last tick (else the member asked is stalled).
    pub moved: bool,
    /// Members that said they do not hold it, or sent a corrupt file (asked
    /// again after the next tick).
    pub refused: BTreeSet<IdentityKey>,
    pub attempts: u8,
    /// Members that asked us for it while we fetched it: told once we hold
    /// it (at most [`MAX_ASKED_BY`]).
    pub asked_by: BTreeSet<IdentityKey>,
    /// The device that posted it: asked first when it is up (it surely
    /// holds it).
    pub author: Option<IdentityKey>,
}

/// What a chunk did to a fetch.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Not from the member asked, not the next chunk, or the wrong length.
    Ignored,
    /// Stored; ask for the next window if `Some`.
    Stored(Option<(u32, u16)>),
    /// The last chunk, and the whole hashes right.
    Complete,
    /// The whole hashes wrong: fetch again (or, `true`, give up).
    Corrupt(bool),
}

impl Fetch {
    pub fn new(meta: FileMeta) -> Self {
        Self {
            meta,
            have: 0,
            hasher: Sha256::new(),
            peer: None,
            asked_to: 0,
            moved: false,
            refused: BTreeSet::new(),
            attempts: 0,
            asked_by: BTreeSet::new(),
            author: None,
        }
    }

    /// Asks `peer` for the next window: (from, count).
    pub fn ask(&mut self, peer: IdentityKey) -> (u32, u16) {
        self.peer = Some(peer);
        self.asked_to = (self.have + WINDOW).min(self.meta.chunks());
        (self.have, (self.asked_to - self.have) as u16)
    }

    /// The length chunk `index` must have.
    fn chunk_len(&self, index: u32) -> usize {
        let start = u64::from(index) * CHUNK_LEN as u64;
        (self.meta.size.saturating_sub(start)).min(CHUNK_LEN as u64) as usize
    }

    /// A chunk from `peer`.
    pub fn take(&mut self, peer: &IdentityKey, index: u32, data: &[u8]) -> Taken {
        if self.peer.as_ref() != Some(peer)
            || index != self.have
            || index >= self.asked_to
            || data.len() != self.chunk_len(index)
        {
            return Taken::Ignored;
        }
        self.hasher.update(data);
        self.have += 1;
        self.moved = true;
        if self.have < self.meta.chunks() {
            if self.have < self.asked_to {
                return Taken::Stored(None);
            }
            return Taken::Stored(Some(self.ask(*peer)));
        }
        let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if digest == self.meta.sha256 {
            return Taken::Complete;
        }
        self.attempts += 1;
        self.have = 0;
        self.refused.insert(*peer);
        self.peer = None;
        Taken::Corrupt(self.attempts >= MAX_ATTEMPTS)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::Identity;
    use rand_core::SeedableRng;

    #[test]
    fn blobs_round_trip_and_hostile_ones_are_refused() {
        for blob in [
            FileBlob::Want {
                file: [1; 16],
                from: 3,
                count: 4,
            },
            FileBlob::Chunk {
                file: [2; 16],
                index: 9,
                data: None,
            },
            FileBlob::Chunk {
                file: [2; 16],
                index: 0,
                data: Some(vec![5; 100]),
            },
            FileBlob::Held { file: [3; 16] },
        ] {
            let bytes = blob.encode();
            assert!(is_file_blob(&bytes));
            assert_eq!(FileBlob::decode(&bytes).unwrap(), blob);
        }
        let mut long = FileBlob::Chunk {
            file: [2; 16],
            index: 0,
            data: Some(vec![5; CHUNK_LEN + 1]),
        }
        .encode();
        assert!(FileBlob::decode(&long).is_err(), "a chunk too long");
        long.truncate(30);
        assert!(FileBlob::decode(&long).is_err(), "cut short");
        let mut flag = FileBlob::Chunk {
            file: [2; 16],
            index: 0,
            data: None,
        }
        .encode();
        *flag.last_mut().unwrap() = 7;
        assert!(FileBlob::decode(&flag).is_err(), "an unknown flag");
    }

    #[test]
    fn chunks_are_taken_in_order_from_the_member_asked_and_the_hash_decides() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let (alice, mallory) = (
            Identity::generate(&mut rng).key(),
            Identity::generate(&mut rng).key(),
        );
        let data: Vec<u8> = (0..(CHUNK_LEN * 5 + 10)).map(|i| i as u8).collect();
        let meta = FileMeta::of("big.bin", "", &data).unwrap();
        let mut f = Fetch::new(meta.clone());
        assert_eq!(f.ask(alice), (0, 4));
        let chunk = |i: usize| &data[i * CHUNK_LEN..((i + 1) * CHUNK_LEN).min(data.len())];
        assert_eq!(f.take(&mallory, 0, chunk(0)), Taken::Ignored, "not asked");
        assert_eq!(f.take(&alice, 1, chunk(1)), Taken::Ignored, "out of order");
        assert_eq!(f.take(&alice, 0, &chunk(0)[1..]), Taken::Ignored, "short");
        assert_eq!(f.take(&alice, 0, chunk(0)), Taken::Stored(None));
        assert_eq!(f.take(&alice, 0, chunk(0)), Taken::Ignored, "replayed");
        for i in 1..3 {
            assert_eq!(f.take(&alice, i as u32, chunk(i)), Taken::Stored(None));
        }
        assert_eq!(f.take(&alice, 3, chunk(3)), Taken::Stored(Some((4, 2))));
        assert_eq!(f.take(&alice, 4, chunk(4)), Taken::Stored(None));
        assert_eq!(f.take(&alice, 5, chunk(5)), Taken::Complete);

        // The same chunks under a post that names another hash.
        let mut f = Fetch::new(FileMeta {
            sha256: [0; 32],
            ..meta
        });
        for attempt in 1..=MAX_ATTEMPTS {
            f.ask(alice);
            let mut last = Taken::Ignored;
            for i in 0..6 {
                last = f.take(&alice, i as u32, chunk(i));
            }
            assert_eq!(last, Taken::Corrupt(attempt == MAX_ATTEMPTS));
            assert!(f.refused.contains(&alice) && f.peer.is_none() && f.have == 0);
        }
    }
}
