//! A profile in one encrypted file, and back: `cairn backup` / `cairn restore`.
//!
//! What a backup holds: the identity and the profile's name, contacts (with
//! their verification marks), every message and its latest state, groups
//! (metadata and document log), settings, and — unless left out — files.
//! What it never holds: the forward-secrecy state (`fs/` settings: signed and
//! one-time prekeys, Double Ratchet sessions) and the envelopes carried for
//! others. A restored profile makes fresh prekeys; contacts start new
//! sessions with it at the next meeting (docs/WIRE.md, "Backup file").
//!
//! ```text
//! file   = magic:"CAIRNBAK" version:u8 (=1) kdf:[28] nonce_prefix:[16] check:[16] chunk*
//! chunk  = last:u8 (0|1) len:u32 (≤ CHUNK + 16) XChaCha20-Poly1305(key,
//!            nonce = nonce_prefix ‖ index:u64, ad = header ‖ last, plaintext)
//! plaintext of all chunks in order = record* ; the last chunk ends with the end record
//! record = kind:u8 len:u32 (≤ MAX_RECORD) body
//! ```
//!
//! The key is `BLAKE2b(Argon2id(passphrase, kdf), "cairn/backup/v1")`; `check`
//! is a keyed hash of the header under a second label, so a wrong passphrase
//! is told apart from a damaged file before anything is decrypted. Chunks are
//! numbered in the nonce and the last one is marked under the tag: chunks
//! cannot be reordered, dropped or cut off without the restore noticing.

use std::io::{Read, Write};
use std::path::Path;

use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::U16;
use cairn_protocol::file::{CHUNK_LEN, FileRecord};
use cairn_protocol::group::files::{FILE_SETTING_PREFIX, parse_file_setting};
use cairn_protocol::identity::IDENTITY_SECRET_LEN;
use cairn_protocol::prekeys::STORE_PREFIX as FORWARD_SECRECY_PREFIX;
use cairn_protocol::wire::{Reader, Writer};
use cairn_protocol::{
    Contact, GroupId, Identity, IdentityKey, MessageId, MessageRecord, Store, StoreOp, WriteBatch,
};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use redb::{ReadableDatabase, ReadableTable};
use zeroize::Zeroizing;

use crate::store::{MESSAGES, Opened, RedbStore, StoreOpenError};
use crate::vault::{KdfParams, derive, master_key};

const MAGIC: &[u8; 8] = b"CAIRNBAK";
/// The format this code writes; it reads this one and every older one.
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 28 + 16;
/// Plaintext per chunk.
pub const CHUNK: usize = 64 * 1024;
/// The largest record (a group's document snapshot is the largest thing).
pub const MAX_RECORD: usize = 64 * 1024 * 1024;
/// Records per committed batch while restoring.
const BATCH_OPS: usize = 2000;
/// Bytes per committed batch while restoring.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

const KIND_PROFILE: u8 = 1;
const KIND_CONTACT: u8 = 2;
const KIND_MESSAGE: u8 = 3;
const KIND_GROUP: u8 = 4;
const KIND_GROUP_LOG: u8 = 5;
const KIND_SETTING: u8 = 6;
const KIND_FILE: u8 = 7;
const KIND_FILE_CHUNK: u8 = 8;
const KIND_GROUP_CHUNK: u8 = 9;
const KIND_END: u8 = 255;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("wrong passphrase for this backup (or its header is damaged)")]
    WrongPassphrase,
    #[error("not a Cairn backup file")]
    NotABackup,
    #[error("this backup was made by a newer Cairn (format {0}); update Cairn to restore it")]
    Newer(u8),
    #[error("the backup file is damaged: {0}")]
    Damaged(String),
    #[error("the backup file is cut short: {0}")]
    Truncated(String),
    #[error("a backup needs a passphrase")]
    EmptyPassphrase,
    #[error("reading or writing the backup failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the profile's store failed: {0}")]
    Store(String),
    #[error(transparent)]
    Open(#[from] StoreOpenError),
}

fn store_err(e: impl std::fmt::Display) -> BackupError {
    BackupError::Store(e.to_string())
}

fn damaged(e: impl std::fmt::Display) -> BackupError {
    BackupError::Damaged(e.to_string())
}

/// What to put in a backup.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Include the content of files sent and received.
    pub files: bool,
    /// The key derivation's cost and salt (fresh by default).
    pub kdf: KdfParams,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            files: true,
            kdf: KdfParams::generate(),
        }
    }
}

/// How much a backup holds (counted while writing or while restoring).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub contacts: u64,
    pub messages: u64,
    pub groups: u64,
    pub settings: u64,
    pub files: u64,
    /// Bytes of file content.
    pub file_bytes: u64,
}

struct Keys {
    cipher: XChaCha20Poly1305,
    check_key: Zeroizing<[u8; 32]>,
}

impl Keys {
    fn derive(passphrase: &[u8], kdf: &KdfParams) -> Result<Self, BackupError> {
        let master = master_key(passphrase, kdf).map_err(store_err)?;
        let key = derive(master.as_ref(), b"cairn/backup/v1");
        Ok(Self {
            cipher: XChaCha20Poly1305::new(key.as_ref().into()),
            check_key: derive(master.as_ref(), b"cairn/backup/check"),
        })
    }

    fn check(&self, header: &[u8]) -> [u8; 16] {
        #[allow(clippy::expect_used)]
        let mut mac =
            <Blake2bMac<U16> as Mac>::new_from_slice(self.check_key.as_ref()).expect("32-byte key");
        mac.update(header);
        mac.finalize().into_bytes().into()
    }
}

fn nonce(prefix: &[u8; 16], index: u64) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(&index.to_be_bytes());
    n
}

fn ad(header: &[u8], last: bool) -> Vec<u8> {
    let mut ad = header.to_vec();
    ad.push(u8::from(last));
    ad
}

/// Writes records, sealed a chunk at a time.
struct Sealer<'a> {
    out: &'a mut dyn Write,
    keys: Keys,
    header: Vec<u8>,
    prefix: [u8; 16],
    index: u64,
    buf: Zeroizing<Vec<u8>>,
    records: u64,
}

impl Sealer<'_> {
    fn record(&mut self, kind: u8, body: &[u8]) -> Result<(), BackupError> {
        if body.len() > MAX_RECORD {
            return Err(BackupError::Store(format!(
                "a record of {} bytes is larger than a backup holds",
                body.len()
            )));
        }
        self.buf.push(kind);
        self.buf
            .extend_from_slice(&(body.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(body);
        self.records += 1;
        while self.buf.len() > CHUNK {
            let rest = Zeroizing::new(self.buf.split_off(CHUNK));
            let chunk = std::mem::replace(&mut self.buf, rest);
            self.seal(&chunk, false)?;
        }
        Ok(())
    }

    fn seal(&mut self, plaintext: &[u8], last: bool) -> Result<(), BackupError> {
        let ad = ad(&self.header, last);
        #[allow(clippy::expect_used)]
        let sealed = self
            .keys
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce(&self.prefix, self.index)),
                Payload {
                    msg: plaintext,
                    aad: &ad,
                },
            )
            .expect("chunk within AEAD limits");
        self.index += 1;
        self.out.write_all(&[u8::from(last)])?;
        self.out.write_all(&(sealed.len() as u32).to_be_bytes())?;
        self.out.write_all(&sealed)?;
        Ok(())
    }

    fn finish(mut self) -> Result<(), BackupError> {
        let count = self.records;
        let mut end = Writer::with_capacity(8);
        end.u64(count);
        self.record(KIND_END, &end.into_vec())?;
        let rest = std::mem::take(&mut *self.buf);
        let rest = Zeroizing::new(rest);
        self.seal(&rest, true)?;
        self.out.flush()?;
        Ok(())
    }
}

impl RedbStore {
    /// Writes a backup of this store to `out`, encrypted under
    /// `passphrase`. Reads one snapshot: a node may keep running and
    /// committing meanwhile.
    pub fn backup(
        &self,
        identity: &Identity,
        name: &str,
        passphrase: &[u8],
        options: &BackupOptions,
        out: &mut dyn Write,
    ) -> Result<Summary, BackupError> {
        if passphrase.is_empty() {
            return Err(BackupError::EmptyPassphrase);
        }
        let keys = Keys::derive(passphrase, &options.kdf)?;
        let mut prefix = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        let mut header = MAGIC.to_vec();
        header.push(VERSION);
        header.extend_from_slice(&options.kdf.encode());
        header.extend_from_slice(&prefix);
        let check = keys.check(&header);
        out.write_all(&header)?;
        out.write_all(&check)?;
        let mut header_all = header;
        header_all.extend_from_slice(&check);
        let mut s = Sealer {
            out,
            keys,
            header: header_all,
            prefix,
            index: 0,
            buf: Zeroizing::new(Vec::with_capacity(CHUNK * 2)),
            records: 0,
        };
        let mut summary = Summary::default();

        let mut profile = Writer::with_capacity(128);
        profile
            .bytes(name.as_bytes())
            .raw(identity.to_secret_bytes().as_ref());
        s.record(KIND_PROFILE, &Zeroizing::new(profile.into_vec()))?;

        for contact in self.contacts().map_err(store_err)? {
            s.record(KIND_CONTACT, &contact.encode())?;
            summary.contacts += 1;
        }
        {
            let txn = self.db.begin_read().map_err(store_err)?;
            let table = txn.open_table(MESSAGES).map_err(store_err)?;
            for row in table.iter().map_err(store_err)? {
                let (k, v) = row.map_err(store_err)?;
                let record = self
                    .load_message(&txn, k.value(), v.value())
                    .map_err(store_err)?;
                s.record(KIND_MESSAGE, &Zeroizing::new(record.encode()))?;
                summary.messages += 1;
            }
        }
        for group in self.groups().map_err(store_err)? {
            let mut w = Writer::with_capacity(16 + group.meta.len());
            w.raw(&group.id.0).long_bytes(&group.meta);
            s.record(KIND_GROUP, &w.into_vec())?;
            for (seq, bytes) in &group.log {
                let mut w = Writer::with_capacity(32 + bytes.len());
                w.raw(&group.id.0).u64(*seq).long_bytes(bytes);
                s.record(KIND_GROUP_LOG, &w.into_vec())?;
            }
            summary.groups += 1;
        }
        let settings = self.settings().map_err(store_err)?;
        for (key, value) in &settings {
            // Forward secrecy: never in a backup (see the module's docs).
            // A group file held whole: only with its content (else it is
            // fetched again from the members).
            if key.starts_with(FORWARD_SECRECY_PREFIX)
                || (!options.files && key.starts_with(FILE_SETTING_PREFIX))
            {
                continue;
            }
            let mut w = Writer::with_capacity(8 + key.len() + value.len());
            w.bytes(key.as_bytes()).long_bytes(value);
            s.record(KIND_SETTING, &Zeroizing::new(w.into_vec()))?;
            summary.settings += 1;
        }
        if options.files {
            for file in self.files().map_err(store_err)? {
                s.record(KIND_FILE, &file.encode())?;
                summary.files += 1;
                let chunks = file.meta.size.div_ceil(CHUNK_LEN as u64);
                for index in 0..chunks.min(u64::from(u32::MAX)) as u32 {
                    let Some(data) = self
                        .file_chunk(&file.peer, &file.id, index)
                        .map_err(store_err)?
                    else {
                        continue;
                    };
                    let mut w = Writer::with_capacity(64 + data.len());
                    w.raw(file.peer.as_bytes())
                        .raw(&file.id.0)
                        .u32(index)
                        .long_bytes(&data);
                    s.record(KIND_FILE_CHUNK, &Zeroizing::new(w.into_vec()))?;
                    summary.file_bytes += data.len() as u64;
                }
            }
            for (key, value) in &settings {
                let Some((group, file, chunks)) = parse_file_setting(key, value) else {
                    continue;
                };
                summary.files += 1;
                for index in 0..chunks {
                    let Some(data) = self.group_chunk(&group, &file, index).map_err(store_err)?
                    else {
                        continue;
                    };
                    let mut w = Writer::with_capacity(64 + data.len());
                    w.raw(&group.0).raw(&file).u32(index).long_bytes(&data);
                    s.record(KIND_GROUP_CHUNK, &Zeroizing::new(w.into_vec()))?;
                    summary.file_bytes += data.len() as u64;
                }
            }
        }
        s.finish()?;
        Ok(summary)
    }
}

/// Reads records back, a chunk at a time, never holding more than a chunk
/// and one record.
struct Opener<'a> {
    input: &'a mut dyn Read,
    keys: Keys,
    header: Vec<u8>,
    prefix: [u8; 16],
    index: u64,
    buf: Zeroizing<Vec<u8>>,
    at: usize,
    last_seen: bool,
    read: u64,
}

impl Opener<'_> {
    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), BackupError> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.read += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(BackupError::Truncated(
                format!("it ends inside {what} at byte {}", self.read),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The next chunk's plaintext appended to the buffer; false at the end.
    fn next_chunk(&mut self) -> Result<bool, BackupError> {
        if self.last_seen {
            return Ok(false);
        }
        let mut head = [0u8; 5];
        self.read_exact(&mut head, "a chunk header")?;
        let last = match head[0] {
            0 => false,
            1 => true,
            _ => {
                return Err(damaged(format!(
                    "bad chunk marker at byte {}",
                    self.read - 5
                )));
            }
        };
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(16..=CHUNK + 16).contains(&len) {
            return Err(damaged(format!(
                "a chunk of {len} bytes at byte {}",
                self.read - 5
            )));
        }
        let mut sealed = vec![0u8; len];
        self.read_exact(&mut sealed, "a chunk")?;
        let ad = ad(&self.header, last);
        let plain = self
            .keys
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce(&self.prefix, self.index)),
                Payload {
                    msg: &sealed,
                    aad: &ad,
                },
            )
            .map_err(|_| {
                damaged(format!(
                    "chunk {} (byte {}) does not decrypt",
                    self.index,
                    self.read - len as u64 - 5
                ))
            })?;
        let plain = Zeroizing::new(plain);
        self.index += 1;
        self.last_seen = last;
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(&plain);
        Ok(true)
    }

    /// Ensures `n` unread plaintext bytes are buffered.
    fn fill(&mut self, n: usize, what: &str) -> Result<(), BackupError> {
        while self.buf.len() - self.at < n {
            if !self.next_chunk()? {
                return Err(BackupError::Truncated(format!(
                    "the last chunk ends inside {what}"
                )));
            }
        }
        Ok(())
    }

    fn record(&mut self) -> Result<(u8, Zeroizing<Vec<u8>>), BackupError> {
        self.fill(5, "a record header")?;
        let h = &self.buf[self.at..self.at + 5];
        let kind = h[0];
        let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
        if len > MAX_RECORD {
            return Err(damaged(format!("a record of {len} bytes")));
        }
        self.at += 5;
        self.fill(len, "a record")?;
        let body = Zeroizing::new(self.buf[self.at..self.at + len].to_vec());
        self.at += len;
        Ok((kind, body))
    }

    /// After the end record: nothing else may follow.
    fn finish(self) -> Result<(), BackupError> {
        if self.buf.len() > self.at || !self.last_seen {
            return Err(damaged("records after the end"));
        }
        let mut probe = [0u8; 1];
        match self.input.read(&mut probe)? {
            0 => Ok(()),
            _ => Err(damaged(format!(
                "bytes after the end, at byte {}",
                self.read
            ))),
        }
    }
}

/// Restores a backup into a new store at `store_path` (which must not
/// exist), sealed under `store_passphrase`. `progress` hears the bytes of
/// the backup read so far. On an error the caller removes what was written
/// at `store_path` (see `Profile::restore` in the node).
pub fn restore(
    input: &mut dyn Read,
    backup_passphrase: &[u8],
    store_path: &Path,
    store_passphrase: &[u8],
    progress: &mut dyn FnMut(u64),
) -> Result<(Opened, Summary), BackupError> {
    let mut header = vec![0u8; HEADER_LEN];
    let mut first = 0;
    while first < HEADER_LEN {
        match input.read(&mut header[first..])? {
            0 => break,
            n => first += n,
        }
    }
    if first < MAGIC.len() || &header[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup);
    }
    if first < HEADER_LEN {
        return Err(BackupError::Truncated("it ends inside the header".into()));
    }
    let version = header[8];
    if version > VERSION {
        return Err(BackupError::Newer(version));
    }
    if version == 0 {
        return Err(damaged("format version 0"));
    }
    let kdf = KdfParams::decode(&header[9..37])
        .ok_or_else(|| damaged("key derivation settings missing or out of bounds"))?;
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&header[37..53]);
    let mut check = [0u8; 16];
    input.read_exact(&mut check).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            BackupError::Truncated("it ends inside the header".into())
        }
        _ => e.into(),
    })?;
    let keys = Keys::derive(backup_passphrase, &kdf)?;
    let expected = keys.check(&header);
    if !bool::from(subtle_eq(&expected, &check)) {
        return Err(BackupError::WrongPassphrase);
    }
    header.extend_from_slice(&check);
    let mut r = Opener {
        input,
        keys,
        header,
        prefix,
        index: 0,
        buf: Zeroizing::new(Vec::with_capacity(CHUNK * 2)),
        at: 0,
        last_seen: false,
        read: (HEADER_LEN + 16) as u64,
    };

    let (kind, body) = r.record()?;
    if kind != KIND_PROFILE {
        return Err(damaged("the profile record is not first"));
    }
    let mut p = Reader::new(&body);
    let name = p.str(1024, "profile name").map_err(damaged)?.to_owned();
    let secret: [u8; IDENTITY_SECRET_LEN] = p.array("identity").map_err(damaged)?;
    p.finish().map_err(damaged)?;
    let secret = Zeroizing::new(secret);
    let identity = Identity::from_secret_bytes(&secret);

    let mut opened = RedbStore::create(store_path, store_passphrase, &identity, &name)?;
    let mut summary = Summary::default();
    let mut batch = WriteBatch::default();
    let mut batch_bytes = 0usize;
    let mut records = 1u64;
    loop {
        let (kind, body) = r.record()?;
        if kind == KIND_END {
            let mut e = Reader::new(&body);
            let count = e.u64("record count").map_err(damaged)?;
            e.finish().map_err(damaged)?;
            if count != records {
                return Err(damaged(format!(
                    "it names {count} records, {records} were read"
                )));
            }
            break;
        }
        records += 1;
        batch_bytes += body.len();
        batch.push(decode_record(kind, &body, &mut summary)?);
        if batch.len() >= BATCH_OPS || batch_bytes >= BATCH_BYTES {
            opened.store.commit(&batch).map_err(store_err)?;
            batch = WriteBatch::default();
            batch_bytes = 0;
            progress(r.read);
        }
    }
    let total = r.read;
    r.finish()?;
    opened.store.commit(&batch).map_err(store_err)?;
    progress(total);
    Ok((opened, summary))
}

fn subtle_eq(a: &[u8; 16], b: &[u8; 16]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

/// One record as the write that restores it.
fn decode_record(kind: u8, body: &[u8], summary: &mut Summary) -> Result<StoreOp, BackupError> {
    Ok(match kind {
        KIND_CONTACT => {
            summary.contacts += 1;
            StoreOp::PutContact(Box::new(Contact::decode(body).map_err(damaged)?))
        }
        KIND_MESSAGE => {
            summary.messages += 1;
            StoreOp::PutMessage(Box::new(MessageRecord::decode(body).map_err(damaged)?))
        }
        KIND_GROUP => {
            let mut r = Reader::new(body);
            let group = GroupId(r.array("group id").map_err(damaged)?);
            let meta = r.long_bytes(MAX_RECORD, "group meta").map_err(damaged)?;
            let op = StoreOp::PutGroup {
                group,
                meta: meta.to_vec(),
            };
            r.finish().map_err(damaged)?;
            summary.groups += 1;
            op
        }
        KIND_GROUP_LOG => {
            let mut r = Reader::new(body);
            let group = GroupId(r.array("group id").map_err(damaged)?);
            let seq = r.u64("group log seq").map_err(damaged)?;
            let bytes = r.long_bytes(MAX_RECORD, "group log").map_err(damaged)?;
            let op = StoreOp::AppendGroupLog {
                group,
                seq,
                bytes: bytes.to_vec(),
            };
            r.finish().map_err(damaged)?;
            op
        }
        KIND_SETTING => {
            let mut r = Reader::new(body);
            let key = r.str(u16::MAX as usize, "setting name").map_err(damaged)?;
            if key.starts_with(FORWARD_SECRECY_PREFIX) {
                return Err(damaged("it holds forward-secrecy state"));
            }
            let value = r.long_bytes(MAX_RECORD, "setting").map_err(damaged)?;
            let op = StoreOp::PutSetting {
                key: key.to_owned(),
                value: value.to_vec(),
            };
            r.finish().map_err(damaged)?;
            summary.settings += 1;
            op
        }
        KIND_FILE => {
            summary.files += 1;
            StoreOp::PutFile(Box::new(FileRecord::decode(body).map_err(damaged)?))
        }
        KIND_FILE_CHUNK => {
            let mut r = Reader::new(body);
            let peer =
                IdentityKey::from_bytes(r.array("file peer").map_err(damaged)?).map_err(damaged)?;
            let id = MessageId(r.array("file id").map_err(damaged)?);
            let index = r.u32("chunk index").map_err(damaged)?;
            let data = r.long_bytes(CHUNK_LEN, "chunk").map_err(damaged)?;
            summary.file_bytes += data.len() as u64;
            let op = StoreOp::PutFileChunk {
                peer,
                id,
                index,
                data: data.to_vec(),
            };
            r.finish().map_err(damaged)?;
            op
        }
        KIND_GROUP_CHUNK => {
            let mut r = Reader::new(body);
            let group = GroupId(r.array("group id").map_err(damaged)?);
            let file = r.array("group file id").map_err(damaged)?;
            let index = r.u32("chunk index").map_err(damaged)?;
            let data = r.long_bytes(CHUNK_LEN, "chunk").map_err(damaged)?;
            summary.file_bytes += data.len() as u64;
            let op = StoreOp::PutGroupChunk {
                group,
                file,
                index,
                data: data.to_vec(),
            };
            r.finish().map_err(damaged)?;
            op
        }
        KIND_PROFILE => return Err(damaged("a second profile record")),
        other => return Err(damaged(format!("unknown record kind {other}"))),
    })
}

/// For fuzz targets only: the record layer alone (what the chunks'
/// plaintext holds), as restoring reads it. Returns the records read.
#[doc(hidden)]
pub fn fuzz_records(plaintext: &[u8]) -> Result<u64, BackupError> {
    let mut r = Reader::new(plaintext);
    let mut summary = Summary::default();
    let mut n = 0;
    while r.remaining() > 0 {
        let kind = r.u8("record kind").map_err(damaged)?;
        let body = r.long_bytes(MAX_RECORD, "record").map_err(damaged)?;
        if kind == KIND_END {
            break;
        }
        decode_record(kind, body, &mut summary)?;
        n += 1;
    }
    Ok(n)
}

/// For fuzz targets only: `chunks` behind a valid header for the passphrase
/// "fuzz" (the cheapest key derivation), restored into `store_path`.
#[doc(hidden)]
pub fn fuzz_file(chunks: &[u8], store_path: &Path) -> Result<Summary, BackupError> {
    let kdf = KdfParams {
        salt: [7; 16],
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let keys = Keys::derive(b"fuzz", &kdf)?;
    let mut file = MAGIC.to_vec();
    file.push(VERSION);
    file.extend_from_slice(&kdf.encode());
    file.extend_from_slice(&[0; 16]);
    let check = keys.check(&file);
    file.extend_from_slice(&check);
    file.extend_from_slice(chunks);
    restore(&mut &file[..], b"fuzz", store_path, b"", &mut |_| {}).map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_protocol::file::{FileMeta, TransferState};
    use cairn_protocol::invite::DEFAULT_VALIDITY;
    use cairn_protocol::{ContactCard, ContactOrigin, DeliveryState, Direction, Time};
    use rand_core::SeedableRng;

    fn quick() -> BackupOptions {
        BackupOptions {
            files: true,
            kdf: KdfParams {
                memory_kib: 64,
                iterations: 1,
                ..KdfParams::generate()
            },
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: RedbStore,
        identity: Identity,
        bob: IdentityKey,
        file_data: Vec<u8>,
        dir: std::path::PathBuf,
    }

    /// A store with a verified contact, messages both ways (one still
    /// pending), a group, settings (one of them forward-secrecy state) and
    /// a file of three chunks.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.redb");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let identity = Identity::generate(&mut rng);
        let bob_id = Identity::generate(&mut rng);
        let mut opened = RedbStore::create(&path, b"store pass", &identity, "alice").unwrap();
        let card = ContactCard::new(
            &bob_id,
            "bob",
            vec![],
            Time::from_millis(1),
            DEFAULT_VALIDITY,
        )
        .unwrap();
        let mut contact = Contact::new(
            card,
            Some("Bobby".into()),
            ContactOrigin::Invite,
            Time::ZERO,
        );
        contact.verified = true;
        let bob = bob_id.key();
        let mut batch = WriteBatch::default();
        batch.push(StoreOp::PutContact(Box::new(contact)));
        for i in 0..300u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            batch.push(StoreOp::PutMessage(Box::new(MessageRecord {
                peer: bob,
                id: MessageId(id),
                direction: if i % 2 == 0 {
                    Direction::Outgoing
                } else {
                    Direction::Incoming
                },
                text: format!("message {i} سلام"),
                sent_at: Time::from_millis(u64::from(i)),
                local_at: Time::from_millis(u64::from(i)),
                state: if i == 298 {
                    DeliveryState::Queued
                } else if i % 2 == 0 {
                    DeliveryState::Sent
                } else {
                    DeliveryState::Received
                },
                remote: None,
                file: None,
                op: None,
                changes: Default::default(),
            })));
        }
        batch.push(StoreOp::SetState {
            peer: bob,
            id: MessageId([0; 16]),
            state: DeliveryState::Read,
        });
        // Operations: an edit and a reaction applied, a deletion, a reply,
        // and an edit still waiting for a message that never came. A
        // restore must give the same history, applying nothing twice.
        let op = |id: u8, direction, kind, target: u32, text: &str| {
            let mut target_id = [0u8; 16];
            target_id[..4].copy_from_slice(&target.to_be_bytes());
            StoreOp::PutMessage(Box::new(MessageRecord {
                peer: bob,
                id: MessageId([id; 16]),
                direction,
                text: text.into(),
                sent_at: Time::from_millis(1000 + u64::from(id)),
                local_at: Time::from_millis(1000 + u64::from(id)),
                state: DeliveryState::Delivered,
                remote: None,
                file: None,
                op: Some(cairn_protocol::message::MessageOp {
                    kind,
                    target: MessageId(target_id),
                }),
                changes: Default::default(),
            }))
        };
        use cairn_protocol::message::OpKind;
        batch.push(op(
            0xa1,
            Direction::Outgoing,
            OpKind::Edit,
            0,
            "message 0, edited",
        ));
        batch.push(op(0xa2, Direction::Incoming, OpKind::React, 0, "👍"));
        batch.push(op(0xa3, Direction::Outgoing, OpKind::Delete, 2, ""));
        batch.push(op(0xa4, Direction::Incoming, OpKind::Reply, 4, "a reply"));
        batch.push(op(0xa5, Direction::Incoming, OpKind::Edit, 9999, "waiting"));
        let group = GroupId([9; 16]);
        batch.push(StoreOp::PutGroup {
            group,
            meta: b"meta".to_vec(),
        });
        batch.push(StoreOp::AppendGroupLog {
            group,
            seq: 0,
            bytes: vec![1; 200_000],
        });
        batch.push(StoreOp::AppendGroupLog {
            group,
            seq: 1,
            bytes: b"increment".to_vec(),
        });
        batch.push(StoreOp::PutSetting {
            key: "bridge/gw".into(),
            value: b"alias".to_vec(),
        });
        batch.push(StoreOp::PutSetting {
            key: format!("{FORWARD_SECRECY_PREFIX}spk"),
            value: b"SECRET-PREKEY".to_vec(),
        });
        let file_data: Vec<u8> = (0..CHUNK_LEN * 2 + 100).map(|i| i as u8).collect();
        let meta = FileMeta::of("photo.jpg", "image/jpeg", &file_data).unwrap();
        let file_id = MessageId([7; 16]);
        batch.push(StoreOp::PutFile(Box::new(FileRecord {
            peer: bob,
            id: file_id,
            outgoing: false,
            meta,
            have: 3,
            state: TransferState::Complete,
        })));
        for (index, chunk) in file_data.chunks(CHUNK_LEN).enumerate() {
            batch.push(StoreOp::PutFileChunk {
                peer: bob,
                id: file_id,
                index: index as u32,
                data: chunk.to_vec(),
            });
        }
        opened.store.commit(&batch).unwrap();
        Fixture {
            store: opened.store,
            identity,
            bob,
            file_data,
            dir: dir.path().to_owned(),
            _dir: dir,
        }
    }

    fn backup_of(f: &Fixture, options: &BackupOptions) -> Vec<u8> {
        let mut out = Vec::new();
        f.store
            .backup(&f.identity, "alice", b"backup pass", options, &mut out)
            .unwrap();
        out
    }

    fn restore_into(
        bytes: &[u8],
        pass: &[u8],
        path: &Path,
    ) -> Result<(Opened, Summary), BackupError> {
        restore(&mut &bytes[..], pass, path, b"new store pass", &mut |_| {})
    }

    #[test]
    fn a_backup_restores_everything_but_forward_secrecy_state() {
        let f = fixture();
        let bytes = backup_of(&f, &quick());
        let path = f.dir.join("restored.redb");
        let (opened, summary) = restore_into(&bytes, b"backup pass", &path).unwrap();
        assert_eq!(opened.identity.key(), f.identity.key());
        assert_eq!(opened.name, "alice");
        assert_eq!(
            summary,
            Summary {
                contacts: 1,
                messages: 305, // 300 texts and 5 operations
                groups: 1,
                settings: 1,
                files: 1,
                file_bytes: f.file_data.len() as u64,
            }
        );
        let s = &opened.store;
        assert_eq!(s.contacts().unwrap(), f.store.contacts().unwrap());
        assert!(s.contacts().unwrap()[0].verified);
        let first = &s.history(&f.bob, None).unwrap()[0];
        assert_eq!(first.text, "message 0, edited");
        assert_eq!(first.changes.earlier.len(), 1, "the edit applied once");
        assert_eq!(first.changes.reactions.len(), 1);
        assert!(s.history(&f.bob, None).unwrap()[2].changes.deleted);
        assert_eq!(
            s.history(&f.bob, None).unwrap(),
            f.store.history(&f.bob, None).unwrap()
        );
        assert_eq!(
            s.history(&f.bob, None).unwrap()[0].state,
            DeliveryState::Read
        );
        // What was not delivered is sent again by the restored profile.
        assert_eq!(
            s.pending_outgoing().unwrap(),
            f.store.pending_outgoing().unwrap()
        );
        assert_eq!(s.pending_outgoing().unwrap().len(), 149);
        assert_eq!(s.groups().unwrap(), f.store.groups().unwrap());
        assert_eq!(
            s.settings().unwrap(),
            vec![("bridge/gw".to_owned(), b"alias".to_vec())]
        );
        assert_eq!(s.files().unwrap(), f.store.files().unwrap());
        let mut data = Vec::new();
        for i in 0..3 {
            data.extend(
                s.file_chunk(&f.bob, &MessageId([7; 16]), i)
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(data, f.file_data);
        // The restored store opens with its own passphrase only.
        drop(opened);
        assert!(matches!(
            RedbStore::open(&path, b"backup pass"),
            Err(StoreOpenError::WrongPassphrase)
        ));
        RedbStore::open(&path, b"new store pass").unwrap();
    }

    #[test]
    fn the_backup_file_shows_nothing_in_the_clear() {
        let f = fixture();
        let bytes = backup_of(&f, &quick());
        let text = String::from_utf8_lossy(&bytes);
        for needle in [
            "message 1",
            "Bobby",
            "bob",
            "alice",
            "photo.jpg",
            "increment",
        ] {
            assert!(!text.contains(needle), "{needle} in the clear");
        }
        let secret = f.identity.to_secret_bytes();
        assert!(!bytes.windows(32).any(|w| w == &secret[..32]));
    }

    #[test]
    fn without_files_the_content_is_left_out() {
        let f = fixture();
        let options = BackupOptions {
            files: false,
            ..quick()
        };
        let with = backup_of(&f, &quick());
        let without = backup_of(&f, &options);
        assert!(without.len() + f.file_data.len() <= with.len() + 1024);
        let (opened, summary) =
            restore_into(&without, b"backup pass", &f.dir.join("r.redb")).unwrap();
        assert_eq!((summary.files, summary.file_bytes), (0, 0));
        assert!(opened.store.files().unwrap().is_empty());
        assert_eq!(opened.store.history(&f.bob, None).unwrap().len(), 305);
    }

    #[test]
    fn a_group_file_held_whole_is_restored_with_its_content_or_fetched_again() {
        let mut f = fixture();
        let group = GroupId([9; 16]);
        let data: Vec<u8> = (0..CHUNK_LEN + 500).map(|i| (i % 7) as u8).collect();
        let mut batch = WriteBatch::default();
        batch.push(StoreOp::PutSetting {
            key: format!("{FILE_SETTING_PREFIX}{group}/{}", "ab".repeat(16)),
            value: 2u32.to_be_bytes().to_vec(),
        });
        for (index, chunk) in data.chunks(CHUNK_LEN).enumerate() {
            batch.push(StoreOp::PutGroupChunk {
                group,
                file: [0xab; 16],
                index: index as u32,
                data: chunk.to_vec(),
            });
        }
        f.store.commit(&batch).unwrap();
        let (opened, summary) = restore_into(
            &backup_of(&f, &quick()),
            b"backup pass",
            &f.dir.join("a.redb"),
        )
        .unwrap();
        assert_eq!(summary.file_bytes, (f.file_data.len() + data.len()) as u64);
        let mut back = Vec::new();
        for i in 0..2 {
            back.extend(
                opened
                    .store
                    .group_chunk(&group, &[0xab; 16], i)
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(back, data);
        assert_eq!(opened.store.group_chunks_stored().unwrap(), 2);
        // Without files: neither the content nor the mark that it is held
        // (the restored profile fetches it again from the members).
        let options = BackupOptions {
            files: false,
            ..quick()
        };
        let (opened, _) = restore_into(
            &backup_of(&f, &options),
            b"backup pass",
            &f.dir.join("b.redb"),
        )
        .unwrap();
        assert_eq!(opened.store.group_chunks_stored().unwrap(), 0);
        assert!(
            opened
                .store
                .settings()
                .unwrap()
                .iter()
                .all(|(k, _)| !k.starts_with(FILE_SETTING_PREFIX))
        );
    }

    #[test]
    fn a_wrong_passphrase_is_told_and_creates_nothing() {
        let f = fixture();
        let bytes = backup_of(&f, &quick());
        let path = f.dir.join("r.redb");
        assert!(matches!(
            restore_into(&bytes, b"guess", &path),
            Err(BackupError::WrongPassphrase)
        ));
        assert!(!path.exists());
    }

    #[test]
    fn an_empty_backup_passphrase_is_refused() {
        let f = fixture();
        let err = f
            .store
            .backup(&f.identity, "alice", b"", &quick(), &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, BackupError::EmptyPassphrase));
    }

    /// THREAT_MODEL.md, "Attacks tried": every byte of the file flipped in
    /// turn (sampled), cut short anywhere, chunks dropped, swapped or
    /// appended — each is an error, never a partial profile passed as whole.
    #[test]
    fn a_damaged_cut_or_reordered_backup_is_refused() {
        let f = fixture();
        let bytes = backup_of(&f, &quick());
        assert!(bytes.len() > 3 * CHUNK, "several chunks: {}", bytes.len());
        let fails = |b: &[u8], what: &str| {
            let path = f.dir.join(format!("r-{}.redb", rand::random::<u64>()));
            let result = restore_into(b, b"backup pass", &path);
            assert!(result.is_err(), "{what} was accepted");
            result.err().unwrap()
        };
        let step = bytes.len() / 37;
        for at in (0..bytes.len()).step_by(step.max(1)) {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            fails(&b, &format!("a flip at {at}"));
        }
        for cut in [
            10,
            HEADER_LEN + 8,
            HEADER_LEN + 40,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let e = fails(&bytes[..cut], &format!("a cut at {cut}"));
            let shown = e.to_string();
            assert!(
                shown.contains("cut short")
                    || shown.contains("damaged")
                    || shown.contains("not a Cairn backup"),
                "{shown}"
            );
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&bytes[HEADER_LEN + 16..HEADER_LEN + 16 + 100]);
        fails(&longer, "bytes appended");
        // The second chunk removed: the numbering in the nonce notices.
        let first_len =
            u32::from_be_bytes(bytes[HEADER_LEN + 17..HEADER_LEN + 21].try_into().unwrap())
                as usize;
        let second = HEADER_LEN + 16 + 5 + first_len;
        let second_len =
            u32::from_be_bytes(bytes[second + 1..second + 5].try_into().unwrap()) as usize;
        let mut dropped = bytes[..second].to_vec();
        dropped.extend_from_slice(&bytes[second + 5 + second_len..]);
        fails(&dropped, "a chunk dropped");
        // The last chunk marker cleared: the file then has no end.
        let mut b = bytes.clone();
        b[second] = 1;
        fails(&b, "a middle chunk marked last");
        fails(b"not a backup at all", "garbage");
        fails(b"", "nothing");
    }

    #[test]
    fn a_newer_format_is_named() {
        let f = fixture();
        let mut bytes = backup_of(&f, &quick());
        bytes[8] = VERSION + 1;
        let err = restore_into(&bytes, b"backup pass", &f.dir.join("r.redb"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("newer Cairn"), "{err}");
    }

    #[test]
    fn kdf_costs_past_the_bounds_are_refused_before_deriving() {
        let f = fixture();
        let mut bytes = backup_of(&f, &quick());
        bytes[9 + 16..9 + 20].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = restore_into(&bytes, b"backup pass", &f.dir.join("r.redb"))
            .err()
            .unwrap();
        assert!(matches!(err, BackupError::Damaged(_)), "{err}");
    }

    #[test]
    fn restoring_never_overwrites_a_store() {
        let f = fixture();
        let bytes = backup_of(&f, &quick());
        let path = f.dir.join("cairn.redb");
        drop(f.store.clone());
        let err = restore_into(&bytes, b"backup pass", &path).err().unwrap();
        assert!(
            matches!(err, BackupError::Open(StoreOpenError::Exists(_))),
            "{err}"
        );
    }
}
