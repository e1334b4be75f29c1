//! Files in a conversation.
//!
//! A file is a message like a text: its *offer* (name, size, type, SHA-256
//! of the content) goes through the outbox, is stored and receipted, and is
//! what the conversation shows. The content follows in chunks that the
//! *receiver* pulls, a window at a time, over whatever session is up — LAN,
//! Bluetooth, Tor, anything that carries a session:
//!
//! ```text
//! receiver → sender   FileWant  { file, have, from, count }   "I hold `have` chunks; send [from, from+count)"
//! sender → receiver   FileChunk { file, index, data }         one per chunk asked for
//! receiver → sender   FileWant  { file, have = chunks, count = 0 }   "all here, and the hash matches"
//! ```
//!
//! - **Resumable**: the receiver asks again, from what it has stored, every
//!   time a session with the sender comes up, and when a window stalls. A
//!   broken link loses at most the window in flight.
//! - **Durable before acknowledged**: a chunk counts (`have`) only once it is
//!   committed; wants are sent after the commit.
//! - **Integrity**: chunks are authenticated by the session; the whole file
//!   must hash to the offer's SHA-256 or it is fetched again (at most
//!   [`MAX_ATTEMPTS`] times, then the transfer is marked failed).
//! - **Through the mesh**: a file of at most [`MAX_INLINE`] bytes travels
//!   whole inside its offer, so it can be carried sealed by strangers like a
//!   text (the carriers' own bounds apply). Bigger files wait for a session:
//!   nobody carries megabytes for others.
//!
//! Bounds: files of at most [`MAX_FILE_LEN`]; at most [`MAX_WINDOW`] chunks
//! asked for at once; at most [`MAX_INCOMING`] unfinished incoming transfers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sha2::{Digest, Sha256};

use crate::identity::IdentityKey;
use crate::ids::MessageId;
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

/// Bytes per chunk: a chunk payload fills the largest padding bucket.
pub const CHUNK_LEN: usize = 60 * 1024;
/// Largest file.
pub const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;
/// Largest file sent whole inside its offer (and so through the mesh).
pub const MAX_INLINE: usize = 12 * 1024;
/// Longest file name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Longest media type.
pub const MAX_MIME_LEN: usize = 100;
/// Most chunks asked for at once.
pub const MAX_WINDOW: u16 = 16;
/// Unfinished incoming transfers kept (beyond this, new offers are stored
/// as messages but their content is not fetched until others finish).
pub const MAX_INCOMING: usize = 64;
/// Bytes the files being fetched may take together (their full sizes): an
/// offer past it waits until earlier ones finish (THREAT_MODEL.md, "Attacks
/// tried" 5).
pub const MAX_INCOMING_BYTES: u64 = 512 * 1024 * 1024;
/// Times a file whose hash does not match is fetched again.
pub const MAX_ATTEMPTS: u8 = 3;
/// A window with no chunk for this long is asked for again.
pub const STALL_MS: u64 = 20_000;
/// A sender that heard nothing of an unfinished file for this long asks the
/// receiver where it stands (the receiver's last word may have been lost);
/// the wait doubles with every unanswered probe, up to [`MAX_PROBE_MS`].
pub const PROBE_MS: u64 = STALL_MS;
pub const MAX_PROBE_MS: u64 = 10 * 60 * 1000;
/// How often stalled windows and quiet receivers are looked at.
pub const TICK_MS: u64 = 30_000;

const RECORD_VERSION: u8 = 1;

/// What an offer says about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub name: String,
    /// A media type such as `image/png`, or empty.
    pub mime: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

impl FileMeta {
    /// Describes `data` as `name`. The name is reduced to its last path
    /// component without control characters.
    pub fn of(name: &str, mime: &str, data: &[u8]) -> Result<Self, FileError> {
        if data.len() as u64 > MAX_FILE_LEN {
            return Err(FileError::TooLarge(data.len() as u64));
        }
        let name = clean_name(name).ok_or(FileError::BadName)?;
        let mime: String = mime.chars().filter(|c| !c.is_control()).collect();
        if mime.len() > MAX_MIME_LEN {
            return Err(FileError::BadName);
        }
        Ok(Self {
            name,
            mime,
            size: data.len() as u64,
            sha256: Sha256::digest(data).into(),
        })
    }

    pub fn chunks(&self) -> u32 {
        (self.size.div_ceil(CHUNK_LEN as u64)) as u32
    }

    /// The length chunk `index` must have.
    pub fn chunk_len(&self, index: u32) -> usize {
        let start = u64::from(index) * CHUNK_LEN as u64;
        (self.size.saturating_sub(start)).min(CHUNK_LEN as u64) as usize
    }

    /// Bytes in the first `chunks` chunks.
    pub fn bytes_in(&self, chunks: u32) -> u64 {
        (u64::from(chunks) * CHUNK_LEN as u64).min(self.size)
    }

    pub fn encode(&self, w: &mut Writer) {
        w.short_bytes(self.name.as_bytes())
            .short_bytes(self.mime.as_bytes())
            .u64(self.size)
            .raw(&self.sha256);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = r.short_str(MAX_NAME_LEN, "file name")?;
        if clean_name(name).as_deref() != Some(name) {
            return Err(DecodeError::Invalid("file name"));
        }
        let mime = r.short_str(MAX_MIME_LEN, "media type")?;
        if mime.chars().any(char::is_control) {
            return Err(DecodeError::Invalid("media type"));
        }
        let size = r.u64("file size")?;
        if size > MAX_FILE_LEN {
            return Err(DecodeError::TooLong {
                field: "file",
                len: size as usize,
                max: MAX_FILE_LEN as usize,
            });
        }
        Ok(Self {
            name: name.to_owned(),
            mime: mime.to_owned(),
            size,
            sha256: r.array("file hash")?,
        })
    }

    pub fn encoded_len(&self) -> usize {
        2 + self.name.len() + self.mime.len() + 8 + 32
    }
}

/// The last path component of `name`, without control characters, at most
/// [`MAX_NAME_LEN`] bytes; `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut out = String::new();
    for c in base.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_NAME_LEN {
            break;
        }
        out.push(c);
    }
    let out = out.trim().to_owned();
    (!out.is_empty() && out != "." && out != "..").then_some(out)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error("the file is {0} bytes; at most 64 MiB can be sent")]
    TooLarge(u64),
    #[error("a file needs a name (at most 200 bytes, no control characters)")]
    BadName,
}

/// Where a transfer stands, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub peer: IdentityKey,
    pub id: MessageId,
    /// True for a file we sent.
    pub outgoing: bool,
    pub meta: FileMeta,
    /// Chunks the receiver holds: ours when receiving; what the receiver
    /// last told us when sending.
    pub have: u32,
    pub state: TransferState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// Chunks still to come.
    Going,
    /// All there, and the hash matched.
    Complete,
    /// The content never hashed right; given up.
    Failed,
}

impl FileRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.meta.encoded_len());
        w.u8(RECORD_VERSION)
            .raw(self.peer.as_bytes())
            .raw(&self.id.0)
            .u8(u8::from(self.outgoing))
            .u32(self.have)
            .u8(match self.state {
                TransferState::Going => 0,
                TransferState::Complete => 1,
                TransferState::Failed => 2,
            });
        self.meta.encode(&mut w);
        w.into_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("file record version")?;
        if version != RECORD_VERSION {
            return Err(DecodeError::Version {
                field: "file record",
                version,
            });
        }
        let peer = IdentityKey::decode(&mut r)?;
        let id = MessageId(r.array("file id")?);
        let outgoing = r.u8("file direction")? != 0;
        let have = r.u32("chunks held")?;
        let state = match r.u8("transfer state")? {
            0 => TransferState::Going,
            1 => TransferState::Complete,
            2 => TransferState::Failed,
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "transfer state",
                    kind,
                });
            }
        };
        let meta = FileMeta::decode(&mut r)?;
        r.finish()?;
        if have > meta.chunks() {
            return Err(DecodeError::Invalid("chunks held"));
        }
        Ok(Self {
            peer,
            id,
            outgoing,
            meta,
            have,
            state,
        })
    }
}

/// What the transfers want the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutput {
    /// Send in the session with `peer`, now: chunks asked for.
    Chunk {
        peer: IdentityKey,
        id: MessageId,
        index: u32,
    },
    /// Ask `peer` (after the next commit: it acknowledges what we hold).
    Want {
        peer: IdentityKey,
        id: MessageId,
        have: u32,
        from: u32,
        count: u16,
    },
    /// Store a chunk we received (with the next commit).
    StoreChunk {
        peer: IdentityKey,
        id: MessageId,
        index: u32,
        data: Vec<u8>,
    },
    /// Store the transfer's state (with the next commit).
    Record(FileRecord),
    /// Tell the user how far it got (after the commit).
    Progress(FileRecord),
}

struct Incoming {
    record: FileRecord,
    /// Chunks asked for so far (`have` ≤ `asked`).
    asked: u32,
    /// SHA-256 over chunks `0..have`, in order.
    hasher: Sha256,
    attempts: u8,
    /// When a chunk last arrived or a window was asked for.
    last: Time,
}

/// Every transfer of a node.
#[derive(Default)]
pub struct Transfers {
    incoming: BTreeMap<(IdentityKey, MessageId), Incoming>,
    /// Every file we know, finished or not (for what the user is shown).
    records: BTreeMap<(IdentityKey, MessageId), FileRecord>,
    /// Files we send that are not known finished: when to probe the
    /// receiver next, and the wait after that.
    probes: BTreeMap<(IdentityKey, MessageId), Probe>,
    /// Peers whose offers are kept but not fetched: contact requests, until
    /// the user accepts them.
    held: BTreeSet<IdentityKey>,
    /// What the engine is to do, in order ([`Transfers::poll_output`]).
    out: VecDeque<FileOutput>,
    /// When [`Transfers::tick`] is next due.
    next_tick: Option<Time>,
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    next: Time,
    wait_ms: u64,
}

impl Probe {
    fn after_hearing(now: Time) -> Self {
        Self {
            next: now + std::time::Duration::from_millis(PROBE_MS),
            wait_ms: PROBE_MS,
        }
    }
}

impl Transfers {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next thing for the engine to do; every input queues its outputs
    /// here, in order.
    pub fn poll_output(&mut self) -> Option<FileOutput> {
        self.out.pop_front()
    }

    /// Whether outputs wait to be polled.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn emit(&mut self, out: Vec<FileOutput>) {
        self.out.extend(out);
    }

    /// When [`Transfers::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next_tick
    }

    /// Runs [`Transfers::tick`] every [`TICK_MS`]; the first call only
    /// schedules it. `up` says whether a session with a peer is up.
    pub fn handle_timeout(&mut self, now: Time, up: impl Fn(&IdentityKey) -> bool) {
        match self.next_tick {
            Some(at) if now < at => {}
            Some(_) => {
                self.next_tick = Some(now + std::time::Duration::from_millis(TICK_MS));
                self.tick(now, up);
            }
            None => self.next_tick = Some(now + std::time::Duration::from_millis(TICK_MS)),
        }
    }

    /// Restores a stored transfer. An unfinished incoming one needs the
    /// chunks it holds, in order, to pick up its hash where it stopped.
    pub fn restore(&mut self, record: FileRecord, held: impl Iterator<Item = Vec<u8>>, now: Time) {
        let key = (record.peer, record.id);
        if !record.outgoing && record.state == TransferState::Going {
            let mut hasher = Sha256::new();
            let mut have = 0;
            for chunk in held.take(record.have as usize) {
                if chunk.len() != record.meta.chunk_len(have) {
                    break;
                }
                hasher.update(&chunk);
                have += 1;
            }
            let mut record = record.clone();
            record.have = have;
            if !self.may_fetch(&record) {
                self.records.insert(key, record);
                return;
            }
            self.incoming.insert(
                key,
                Incoming {
                    asked: have,
                    record,
                    hasher,
                    attempts: 0,
                    last: now,
                },
            );
        } else if record.outgoing && record.state == TransferState::Going {
            self.probes.insert(key, Probe::after_hearing(now));
        }
        self.records.insert(key, record);
    }

    /// Drops a file whose message was deleted: no more chunks are fetched,
    /// stored or served for it.
    pub fn forget(&mut self, peer: &IdentityKey, id: &MessageId) {
        let key = (*peer, *id);
        self.incoming.remove(&key);
        self.records.remove(&key);
        self.probes.remove(&key);
    }

    pub fn get(&self, peer: &IdentityKey, id: &MessageId) -> Option<&FileRecord> {
        self.incoming
            .get(&(*peer, *id))
            .map(|i| &i.record)
            .or_else(|| self.records.get(&(*peer, *id)))
    }

    /// A file we send: its chunks are stored with the same commit.
    pub fn start_outgoing(
        &mut self,
        now: Time,
        peer: IdentityKey,
        id: MessageId,
        meta: FileMeta,
    ) -> FileRecord {
        let record = FileRecord {
            peer,
            id,
            outgoing: true,
            have: 0,
            state: if meta.size == 0 {
                TransferState::Complete
            } else {
                TransferState::Going
            },
            meta,
        };
        if record.state == TransferState::Going {
            self.probes.insert((peer, id), Probe::after_hearing(now));
        }
        self.records.insert((peer, id), record.clone());
        record
    }

    /// A file offered to us (its offer is being stored). `inline` is the
    /// whole content when the offer carried it. `session` says whether we
    /// can ask for chunks now.
    pub fn offered(
        &mut self,
        now: Time,
        peer: IdentityKey,
        id: MessageId,
        meta: FileMeta,
        inline: Option<Vec<u8>>,
        session: bool,
    ) {
        let key = (peer, id);
        let mut out = Vec::new();
        if self.records.contains_key(&key) || self.incoming.contains_key(&key) {
            return self.emit(out);
        }
        let mut record = FileRecord {
            peer,
            id,
            outgoing: false,
            have: 0,
            state: TransferState::Going,
            meta,
        };
        let whole = inline.filter(|d| d.len() as u64 == record.meta.size);
        if record.meta.size == 0 {
            record.state = TransferState::Complete;
        } else if let Some(data) = whole {
            if <[u8; 32]>::from(Sha256::digest(&data)) == record.meta.sha256 {
                record.have = record.meta.chunks();
                record.state = TransferState::Complete;
                for (i, chunk) in data.chunks(CHUNK_LEN).enumerate() {
                    out.push(FileOutput::StoreChunk {
                        peer,
                        id,
                        index: i as u32,
                        data: chunk.to_vec(),
                    });
                }
            } else {
                record.state = TransferState::Failed;
            }
        }
        out.push(FileOutput::Record(record.clone()));
        if record.state == TransferState::Going {
            if !self.may_fetch(&record) {
                // Kept; fetched once there is room, or the peer is accepted.
                self.records.insert(key, record);
                return self.emit(out);
            }
            let mut incoming = Incoming {
                record,
                asked: 0,
                hasher: Sha256::new(),
                attempts: 0,
                last: now,
            };
            if session {
                out.push(ask(&mut incoming, now));
            }
            self.incoming.insert(key, incoming);
        } else {
            out.push(FileOutput::Progress(record.clone()));
            self.records.insert(key, record);
        }
        self.emit(out);
    }

    /// Offers from `peer` are kept but not fetched (a contact request).
    pub fn hold(&mut self, peer: IdentityKey) {
        self.held.insert(peer);
    }

    /// The user accepted `peer`: fetch what it offered.
    pub fn release(&mut self, now: Time, peer: &IdentityKey, up: impl Fn(&IdentityKey) -> bool) {
        self.held.remove(peer);
        let out = self.promote(now, up);
        self.emit(out);
    }

    /// Whether an incoming file may be fetched now: not from a held peer,
    /// and within [`MAX_INCOMING`] and [`MAX_INCOMING_BYTES`].
    fn may_fetch(&self, record: &FileRecord) -> bool {
        let reserved: u64 = self.incoming.values().map(|i| i.record.meta.size).sum();
        !self.held.contains(&record.peer)
            && self.incoming.len() < MAX_INCOMING
            && reserved.saturating_add(record.meta.size) <= MAX_INCOMING_BYTES
    }

    /// Starts fetching kept offers that now may be, oldest key first.
    fn promote(&mut self, now: Time, up: impl Fn(&IdentityKey) -> bool) -> Vec<FileOutput> {
        let mut kept: Vec<(IdentityKey, MessageId)> = self
            .records
            .iter()
            .filter(|(k, r)| {
                !r.outgoing && r.state == TransferState::Going && !self.incoming.contains_key(k)
            })
            .map(|(k, _)| *k)
            .collect();
        kept.sort();
        let mut out = Vec::new();
        for key in kept {
            let Some(record) = self.records.get(&key) else {
                continue;
            };
            if !self.may_fetch(record) {
                continue;
            }
            let Some(record) = self.records.remove(&key) else {
                continue;
            };
            let mut incoming = Incoming {
                asked: 0,
                // The hash needs every chunk in order: start afresh.
                record: FileRecord { have: 0, ..record },
                hasher: Sha256::new(),
                attempts: 0,
                last: now,
            };
            if up(&key.0) {
                out.push(ask(&mut incoming, now));
            }
            self.incoming.insert(key, incoming);
        }
        out
    }

    /// Whether we wait for content from `peer` (a session with it is worth
    /// starting even with nothing else to send).
    pub fn wants_session(&self, peer: &IdentityKey) -> bool {
        self.incoming.keys().any(|(p, _)| p == peer)
    }

    /// A session with `peer` is up: ask again for what we lack of theirs.
    pub fn session_up(&mut self, now: Time, peer: &IdentityKey) {
        let out = self
            .incoming
            .iter_mut()
            .filter(|((p, _), _)| p == peer)
            .map(|(_, inc)| {
                inc.asked = inc.record.have;
                ask(inc, now)
            })
            .collect();
        self.emit(out);
    }

    /// Windows that stalled (a chunk lost with a link that is up again, a
    /// sender that restarted) are asked for again; receivers of files we
    /// send that went quiet are asked where they stand. `up` says whether a
    /// session with a peer is up.
    pub fn tick(&mut self, now: Time, up: impl Fn(&IdentityKey) -> bool) {
        let mut out = self.promote(now, &up);
        out.extend(
            self.incoming
                .values_mut()
                .filter(|inc| {
                    now.since(inc.last).as_millis() as u64 >= STALL_MS && up(&inc.record.peer)
                })
                .map(|inc| {
                    inc.asked = inc.record.have;
                    ask(inc, now)
                }),
        );
        for ((peer, id), probe) in &mut self.probes {
            if probe.next > now || !up(peer) {
                continue;
            }
            let Some(record) = self.records.get(&(*peer, *id)) else {
                continue;
            };
            probe.next = now + std::time::Duration::from_millis(probe.wait_ms);
            probe.wait_ms = (probe.wait_ms * 2).min(MAX_PROBE_MS);
            // From the sender, a want of nothing means "where are you?".
            out.push(FileOutput::Want {
                peer: *peer,
                id: *id,
                have: record.have,
                from: 0,
                count: 0,
            });
        }
        self.emit(out);
    }

    /// A chunk from `peer`. Only the next one in order is taken.
    pub fn on_chunk(
        &mut self,
        now: Time,
        peer: IdentityKey,
        id: MessageId,
        index: u32,
        data: Vec<u8>,
    ) {
        let mut out = Vec::new();
        let Some(inc) = self.incoming.get_mut(&(peer, id)) else {
            return self.emit(out);
        };
        if index != inc.record.have || data.len() != inc.record.meta.chunk_len(index) {
            return self.emit(out);
        }
        inc.hasher.update(&data);
        inc.record.have += 1;
        inc.last = now;
        out.push(FileOutput::StoreChunk {
            peer,
            id,
            index,
            data,
        });
        let meta = &inc.record.meta;
        if inc.record.have == meta.chunks() {
            let hash: [u8; 32] = std::mem::take(&mut inc.hasher).finalize().into();
            if hash == meta.sha256 {
                inc.record.state = TransferState::Complete;
                out.push(FileOutput::Record(inc.record.clone()));
                out.push(FileOutput::Progress(inc.record.clone()));
                out.push(FileOutput::Want {
                    peer,
                    id,
                    have: inc.record.have,
                    from: inc.record.have,
                    count: 0,
                });
                if let Some(done) = self.incoming.remove(&(peer, id)) {
                    self.records.insert((peer, id), done.record);
                }
            } else {
                inc.attempts += 1;
                tracing::warn!(file = %id, "a received file did not match its hash");
                if inc.attempts >= MAX_ATTEMPTS {
                    inc.record.state = TransferState::Failed;
                    out.push(FileOutput::Record(inc.record.clone()));
                    out.push(FileOutput::Progress(inc.record.clone()));
                    if let Some(done) = self.incoming.remove(&(peer, id)) {
                        self.records.insert((peer, id), done.record);
                    }
                } else {
                    inc.record.have = 0;
                    inc.asked = 0;
                    out.push(FileOutput::Record(inc.record.clone()));
                    out.push(ask(inc, now));
                }
            }
            return self.emit(out);
        }
        out.push(FileOutput::Record(inc.record.clone()));
        out.push(FileOutput::Progress(inc.record.clone()));
        // Keep half a window ahead of what has arrived.
        if inc.asked - inc.record.have <= u32::from(MAX_WINDOW / 2) && inc.asked < meta.chunks() {
            out.push(ask(inc, now));
        }
        self.emit(out);
    }

    /// `peer` asks for chunks of a file we sent, and says how many it holds
    /// — or, for a file it sends us, asks where we stand.
    pub fn on_want(
        &mut self,
        now: Time,
        peer: IdentityKey,
        id: MessageId,
        have: u32,
        from: u32,
        count: u16,
    ) {
        let mut out = Vec::new();
        let key = (peer, id);
        if let Some(inc) = self.incoming.get_mut(&key) {
            // Our last ask was lost: ask again from what we hold.
            inc.asked = inc.record.have;
            out.push(ask(inc, now));
            return self.emit(out);
        }
        let Some(record) = self.records.get_mut(&key) else {
            return self.emit(out);
        };
        if !record.outgoing {
            if record.state == TransferState::Complete {
                // Our "all here" was lost: say it again.
                out.push(FileOutput::Want {
                    peer,
                    id,
                    have: record.have,
                    from: record.have,
                    count: 0,
                });
            }
            return self.emit(out);
        }
        if let Some(probe) = self.probes.get_mut(&key) {
            *probe = Probe::after_hearing(now);
        }
        let chunks = record.meta.chunks();
        let have = have.min(chunks);
        if have != record.have || (have == chunks && record.state != TransferState::Complete) {
            record.have = have;
            if have == chunks && count == 0 {
                record.state = TransferState::Complete;
                self.probes.remove(&key);
            }
            out.push(FileOutput::Record(record.clone()));
            out.push(FileOutput::Progress(record.clone()));
        }
        let end = from
            .saturating_add(u32::from(count.min(MAX_WINDOW)))
            .min(chunks);
        for index in from..end {
            out.push(FileOutput::Chunk { peer, id, index });
        }
        self.emit(out);
    }
}

/// Asks for the next window after what was asked.
fn ask(inc: &mut Incoming, now: Time) -> FileOutput {
    let chunks = inc.record.meta.chunks();
    let from = inc.asked;
    let count = (chunks - from).min(u32::from(if from == inc.record.have {
        MAX_WINDOW
    } else {
        MAX_WINDOW / 2
    })) as u16;
    inc.asked = from + u32::from(count);
    inc.last = now;
    FileOutput::Want {
        peer: inc.record.peer,
        id: inc.record.id,
        have: inc.record.have,
        from,
        count,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::identity::Identity;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn drain(t: &mut Transfers) -> Vec<FileOutput> {
        std::iter::from_fn(|| t.poll_output()).collect()
    }

    fn peer(seed: u64) -> IdentityKey {
        Identity::generate(&mut ChaCha20Rng::seed_from_u64(seed)).key()
    }

    fn big(n: u8) -> FileMeta {
        FileMeta {
            name: format!("f{n}"),
            mime: String::new(),
            size: MAX_FILE_LEN,
            sha256: [n; 32],
        }
    }

    fn asks(out: &[FileOutput]) -> usize {
        out.iter()
            .filter(|o| matches!(o, FileOutput::Want { count, .. } if *count > 0))
            .count()
    }

    /// THREAT_MODEL.md "Attacks tried" 5: offers past the total quota wait.
    #[test]
    fn offers_past_the_total_quota_wait_for_room() {
        let mut t = Transfers::new();
        let now = Time::from_secs(1);
        let fits = (MAX_INCOMING_BYTES / MAX_FILE_LEN) as u8;
        let mut asked = 0;
        for n in 0..fits + 3 {
            t.offered(
                now,
                peer(u64::from(n)),
                MessageId([n; 16]),
                big(n),
                None,
                true,
            );
            asked += asks(&drain(&mut t));
        }
        assert_eq!(asked, usize::from(fits), "only what fits is fetched");
        assert_eq!(t.incoming.len(), usize::from(fits));
        // One finishes (here: fails for good); the next kept offer starts.
        let first = *t.incoming.keys().next().unwrap();
        let mut done = t.incoming.remove(&first).unwrap().record;
        done.state = TransferState::Failed;
        t.records.insert(first, done);
        t.tick(now, |_| true);
        assert_eq!(asks(&drain(&mut t)), 1);
        assert_eq!(t.incoming.len(), usize::from(fits));
    }

    #[test]
    fn a_held_peer_s_offers_are_kept_until_released() {
        let mut t = Transfers::new();
        let now = Time::from_secs(1);
        let stranger = peer(9);
        t.hold(stranger);
        t.offered(now, stranger, MessageId([1; 16]), big(1), None, true);
        assert_eq!(asks(&drain(&mut t)), 0);
        t.tick(now, |_| true);
        assert_eq!(asks(&drain(&mut t)), 0, "not on a timer either");
        assert_eq!(t.get(&stranger, &MessageId([1; 16])).unwrap().have, 0);
        t.release(now, &stranger, |_| true);
        assert_eq!(asks(&drain(&mut t)), 1);
    }
}
