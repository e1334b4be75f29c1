//! The profile's store: one redb file, every secret and every message sealed
//! by the [`Vault`], implementing the core's [`Store`] trait.
//!
//! Tables (all values sealed, all keys blinded or plain counters):
//!
//! | table      | key                              | value                   |
//! |------------|----------------------------------|-------------------------|
//! | `meta`     | name                             | format, KDF params, key check (clear) |
//! | `secrets`  | name                             | identity keys, profile name |
//! | `contacts` | blind(peer)                      | `Contact` record        |
//! | `messages` | blind(peer) ‖ seq:u64            | `MessageRecord`         |
//! | `msg_index`| blind(peer, message id)          | messages key            |
//! | `msg_ops`  | blind("ops", peer, target id) ‖ messages key | empty: an operation (reaction, edit, deletion) applied to the target |
//! | `msg_waiting` | as `msg_ops`                  | empty: an operation waiting for its target (kept apart so a new message finds none at the cost of a length read) |
//! | `states`   | messages key                     | latest delivery state (1 byte) |
//! | `pending`  | seq:u64                          | messages key (outgoing, undelivered) |
//! | `carried`  | blind("carried", envelope id)    | a carried envelope and whose it is |
//! | `groups`   | blind("group", group id)         | group id and metadata (flags, signatures, refusals) |
//! | `group_log`| blind("group", group id) ‖ seq:u64 | a document snapshot or increment |
//! | `settings` | blind("setting", name)           | name and value (a gateway's users, bridged contacts) |
//! | `files`    | blind("file", peer, message id)  | `FileRecord`: a transfer and where it stands |
//! | `file_chunks` | blind("file", peer, message id) ‖ index:u32 | one chunk of its content |
//! | `group_file_chunks` | blind("group-file", group id, file id) ‖ index:u32 | one chunk of a group's file |
//!
//! Opening checks the passphrase through a read-only handle first, so a wrong
//! passphrase leaves the file byte-for-byte as it was.

use std::path::Path;
use std::sync::Arc;

use cairn_protocol::file::FileRecord;
use cairn_protocol::mesh::carrier::CarriedRecord;
use cairn_protocol::{
    Contact, DeliveryState, Direction, GroupId, Identity, IdentityKey, MessageId, MessageRecord,
    Store, StoreError, StoreOp, StoredGroup, WriteBatch, identity::IDENTITY_SECRET_LEN,
    message::OpKind,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use zeroize::Zeroizing;

use crate::vault::{KdfParams, Vault};

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");
pub(crate) const CONTACTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("contacts");
pub(crate) const MESSAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("messages");
pub(crate) const MSG_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("msg_index");
pub(crate) const MSG_OPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("msg_ops");
pub(crate) const MSG_WAITING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("msg_waiting");
pub(crate) const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
pub(crate) const STATES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("states");
pub(crate) const CARRIED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("carried");
pub(crate) const GROUPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("groups");
pub(crate) const GROUP_LOG: TableDefinition<&[u8], &[u8]> = TableDefinition::new("group_log");
pub(crate) const SETTINGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("settings");
pub(crate) const FILES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("files");
pub(crate) const FILE_CHUNKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("file_chunks");
pub(crate) const GROUP_FILE_CHUNKS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("group_file_chunks");
/// A gateway's index: the id a message passed on from another network had
/// there (so operations on it can name it there).
pub(crate) const BRIDGE_IDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bridge_ids");
/// The longest foreign id kept (XMPP ids are short; anything longer is not
/// indexed, and operations on that message cannot be passed on).
pub const MAX_FOREIGN_ID: usize = 256;

const FORMAT: &[u8] = b"cairn-store-1";
/// redb's page cache; a messenger's working set is small.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The page cache of an in-memory store (simulations run thousands).
const MEMORY_CACHE_BYTES: usize = 0;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreOpenError {
    #[error("wrong passphrase for this profile")]
    WrongPassphrase,
    #[error("no profile store at {0}; create one with `cairn init`")]
    Missing(String),
    #[error("a profile already exists at {0}")]
    Exists(String),
    #[error("the profile is in use by another process (is `cairn run` already running?)")]
    InUse,
    #[error("{0} is not a Cairn store (or from an incompatible version)")]
    NotAStore(String),
    #[error("the store is damaged: {0}")]
    Damaged(String),
    #[error("store I/O failed: {0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> StoreOpenError {
    StoreOpenError::Io(e.to_string())
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(e))
}

/// What `open` returns besides the store.
pub struct Opened {
    pub store: RedbStore,
    pub identity: Identity,
    pub name: String,
}

/// A handle to the store. Clones share the database: the runtime reads
/// through one while a committer thread writes through another.
#[derive(Clone)]
pub struct RedbStore {
    pub(crate) db: Arc<Database>,
    pub(crate) vault: Arc<Vault>,
}

impl RedbStore {
    /// Creates a new store file holding `identity` and `name`.
    pub fn create(
        path: &Path,
        passphrase: &[u8],
        identity: &Identity,
        name: &str,
    ) -> Result<Opened, StoreOpenError> {
        if path.exists() {
            return Err(StoreOpenError::Exists(path.display().to_string()));
        }
        let params = KdfParams::generate();
        let vault = Vault::derive(passphrase, &params).map_err(io)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(io)?;
        initialise(&db, &vault, Some(&params), identity, name)?;
        drop(db);
        Self::open(path, passphrase)
    }

    /// A store that lives in memory only (redb over [`crate::paged`]), under
    /// a random key: for tests, benchmarks and the simulator.
    pub fn in_memory(identity: &Identity, name: &str) -> Result<Self, StoreOpenError> {
        // The data already lives in memory: a page cache would only copy it.
        let db = Database::builder()
            .set_cache_size(MEMORY_CACHE_BYTES)
            .create_with_backend(crate::paged::PagedMemory::default())
            .map_err(io)?;
        let vault = Vault::random();
        initialise(&db, &vault, None, identity, name)?;
        Ok(Self {
            db: Arc::new(db),
            vault: Arc::new(vault),
        })
    }

    /// Opens an existing store. A wrong passphrase is found before the file
    /// is opened for writing.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<Opened, StoreOpenError> {
        if !path.exists() {
            return Err(StoreOpenError::Missing(path.display().to_string()));
        }
        let read_only = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .open_read_only(path);
        let vault = match read_only {
            Ok(ro) => {
                let vault = check_passphrase(&ro, path, passphrase)?;
                drop(ro);
                vault
            }
            // Not shut down cleanly: redb must repair it before anyone reads,
            // which the writable open below does.
            Err(redb::DatabaseError::RepairAborted) => None,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreOpenError::InUse),
            Err(e) => {
                return Err(StoreOpenError::NotAStore(format!(
                    "{}: {e}",
                    path.display()
                )));
            }
        };
        let db = match Database::builder().set_cache_size(CACHE_BYTES).open(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreOpenError::InUse),
            Err(e) => return Err(StoreOpenError::Damaged(e.to_string())),
        };
        let vault = match vault {
            Some(v) => v,
            None => {
                check_passphrase(&db, path, passphrase)?.ok_or(StoreOpenError::WrongPassphrase)?
            }
        };
        let txn = db.begin_read().map_err(io)?;
        let secrets = txn.open_table(SECRETS).map_err(io)?;
        let read_secret = |name: &str| -> Result<Zeroizing<Vec<u8>>, StoreOpenError> {
            let sealed = secrets
                .get(name)
                .map_err(io)?
                .ok_or_else(|| StoreOpenError::Damaged(format!("{name} missing")))?;
            vault
                .open("secrets", name.as_bytes(), sealed.value())
                .map_err(|e| StoreOpenError::Damaged(e.to_string()))
        };
        let secret = read_secret("identity")?;
        let secret: &[u8; IDENTITY_SECRET_LEN] = secret
            .as_slice()
            .try_into()
            .map_err(|_| StoreOpenError::Damaged("identity has the wrong length".into()))?;
        let identity = Identity::from_secret_bytes(secret);
        let name = String::from_utf8(read_secret("name")?.to_vec())
            .map_err(|_| StoreOpenError::Damaged("profile name is not UTF-8".into()))?;
        drop((secrets, txn));
        Ok(Opened {
            store: Self {
                db: Arc::new(db),
                vault: Arc::new(vault),
            },
            identity,
            name,
        })
    }

    /// How many chunks of group files the store holds, over all groups
    /// (what erasing a group's file must bring down).
    pub fn group_chunks_stored(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        match txn.open_table(GROUP_FILE_CHUNKS) {
            Ok(t) => t.len().map_err(backend),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(backend(e)),
        }
    }

    /// Messages exchanged with `peer`, oldest first; at most the last `limit`.
    pub fn history(
        &self,
        peer: &IdentityKey,
        limit: Option<usize>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let prefix = self.vault.blind(&[peer.as_bytes()]);
        let (lo, hi) = (message_key(&prefix, 0), message_key(&prefix, u64::MAX));
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(MESSAGES).map_err(backend)?;
        let range = table
            .range(lo.as_slice()..=hi.as_slice())
            .map_err(backend)?;
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let take = limit.unwrap_or(usize::MAX);
        for row in range.rev() {
            if rows.len() >= take {
                break;
            }
            let (k, v) = row.map_err(backend)?;
            rows.push((k.value().to_vec(), v.value().to_vec()));
        }
        rows.reverse();
        rows.iter()
            .map(|(k, v)| self.load_message(&txn, k, v))
            .collect()
    }

    /// One message by its id, with its latest state.
    pub fn message(
        &self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let index_key = self.vault.blind(&[peer.as_bytes(), &id.0]);
        let txn = self.db.begin_read().map_err(backend)?;
        let index = txn.open_table(MSG_INDEX).map_err(backend)?;
        let Some(key) = index
            .get(index_key.as_slice())
            .map_err(backend)?
            .map(|v| v.value().to_vec())
        else {
            return Ok(None);
        };
        let table = txn.open_table(MESSAGES).map_err(backend)?;
        let Some(sealed) = table.get(key.as_slice()).map_err(backend)? else {
            return Ok(None);
        };
        self.load_message(&txn, &key, sealed.value()).map(Some)
    }

    /// The id under which a gateway passes on to `user` a message `remote`
    /// sent with the id `foreign` on their network: the same every time (a
    /// message passed on twice is stored once), and keyed with this store's
    /// secret, so nobody on the other network can choose it.
    pub fn bridged_id(&self, user: &IdentityKey, remote: &str, foreign: &str) -> MessageId {
        MessageId(self.vault.blind(&[
            b"bridged-id",
            user.as_bytes(),
            remote.as_bytes(),
            foreign.as_bytes(),
        ]))
    }

    /// Remembers the foreign id of the message `id` passed on to `user`, and
    /// whether its sender asked to hear when it is read (XEP-0333
    /// `markable`). Its own transaction: written before the message is queued.
    pub fn put_foreign_id(
        &self,
        user: &IdentityKey,
        id: &MessageId,
        foreign: &str,
        markable: bool,
    ) -> Result<(), StoreError> {
        if foreign.len() > MAX_FOREIGN_ID {
            return Ok(());
        }
        let key = self.vault.blind(&[b"bridge-ids", user.as_bytes(), &id.0]);
        let mut plain = Vec::with_capacity(foreign.len() + 1);
        plain.push(u8::from(markable));
        plain.extend_from_slice(foreign.as_bytes());
        let sealed = self.vault.seal("bridge_ids", &key, &plain);
        let txn = self.db.begin_write().map_err(backend)?;
        {
            let mut table = txn.open_table(BRIDGE_IDS).map_err(backend)?;
            table
                .insert(key.as_slice(), sealed.as_slice())
                .map_err(backend)?;
        }
        txn.commit().map_err(backend)
    }

    /// The foreign id (and `markable`) kept by [`RedbStore::put_foreign_id`].
    pub fn foreign_id(
        &self,
        user: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<(String, bool)>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(BRIDGE_IDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let key = self.vault.blind(&[b"bridge-ids", user.as_bytes(), &id.0]);
        let Some(sealed) = table.get(key.as_slice()).map_err(backend)? else {
            return Ok(None);
        };
        let plain = self
            .vault
            .open("bridge_ids", &key, sealed.value())
            .map_err(backend)?;
        let Some((&markable, foreign)) = plain.split_first() else {
            return Ok(None);
        };
        Ok(std::str::from_utf8(foreign)
            .ok()
            .map(|f| (f.to_owned(), markable != 0)))
    }

    fn decode_message(&self, key: &[u8], sealed: &[u8]) -> Result<MessageRecord, StoreError> {
        let plain = self.vault.open("messages", key, sealed).map_err(backend)?;
        MessageRecord::decode(&plain).map_err(backend)
    }

    /// Writes the record's body (and whether it is still to be sent),
    /// applying nothing: [`cairn_protocol::store::put_message`] decides.
    /// `known_new`: the caller just found no record with this id.
    fn write_message(
        &self,
        t: &mut MessageTables<'_>,
        m: &MessageRecord,
        known_new: bool,
    ) -> Result<(), StoreError> {
        let index_key = self.vault.blind(&[m.peer.as_bytes(), &m.id.0]);
        let existing = if known_new {
            None
        } else {
            t.index
                .get(index_key.as_slice())
                .map_err(backend)?
                .map(|v| v.value().to_vec())
        };
        let key = match existing {
            Some(key) => key,
            None => {
                let seq = t.next_seq;
                t.next_seq += 1;
                let key = message_key(&self.vault.blind(&[m.peer.as_bytes()]), seq);
                t.index
                    .insert(index_key.as_slice(), key.as_slice())
                    .map_err(backend)?;
                key
            }
        };
        t.messages
            .insert(
                key.as_slice(),
                self.vault.seal("messages", &key, &m.encode()).as_slice(),
            )
            .map_err(backend)?;
        let seq = seq_of(&key);
        if m.direction == Direction::Outgoing && m.state.is_pending() {
            t.pending.insert(seq, key.as_slice()).map_err(backend)?;
        } else {
            t.pending.remove(seq).map_err(backend)?;
        }
        Ok(())
    }

    /// Moves a message's state forward. States live in their own small
    /// table, so a receipt never rewrites (or even reads) a message body.
    fn set_state(
        &self,
        t: &mut MessageTables<'_>,
        peer: &IdentityKey,
        id: &MessageId,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        let index_key = self.vault.blind(&[peer.as_bytes(), &id.0]);
        let Some(key) = t
            .index
            .get(index_key.as_slice())
            .map_err(backend)?
            .map(|v| v.value().to_vec())
        else {
            return Ok(());
        };
        let current = match t.states.get(key.as_slice()).map_err(backend)? {
            Some(sealed) => Some(self.open_state(&key, sealed.value())?),
            None => None,
        };
        if current.is_some_and(|c| state <= c) {
            return Ok(());
        }
        t.states
            .insert(
                key.as_slice(),
                self.vault
                    .seal("states", &key, &[state_code(state)])
                    .as_slice(),
            )
            .map_err(backend)?;
        if !state.is_pending() {
            t.pending.remove(seq_of(&key)).map_err(backend)?;
        }
        Ok(())
    }

    fn open_state(&self, key: &[u8], sealed: &[u8]) -> Result<DeliveryState, StoreError> {
        let plain = self.vault.open("states", key, sealed).map_err(backend)?;
        plain
            .first()
            .and_then(|c| state_from_code(*c))
            .ok_or_else(|| StoreError::msg("damaged message state"))
    }

    /// The stored record with its latest state applied.
    pub(crate) fn load_message(
        &self,
        txn: &redb::ReadTransaction,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<MessageRecord, StoreError> {
        let mut record = self.decode_message(key, sealed)?;
        let states = txn.open_table(STATES).map_err(backend)?;
        if let Some(s) = states.get(key).map_err(backend)? {
            record.state = record.state.max(self.open_state(key, s.value())?);
        }
        Ok(record)
    }
}

/// A state's code in the `states` table. A match, so that a new state
/// cannot be stored as some other one (an unlisted state once read back
/// as "queued").
fn state_code(state: DeliveryState) -> u8 {
    match state {
        DeliveryState::Queued => 0,
        DeliveryState::Sent => 1,
        DeliveryState::Delivered => 2,
        DeliveryState::Read => 3,
        DeliveryState::Received => 4,
        DeliveryState::Relayed => 5,
        DeliveryState::Held => 6,
    }
}

fn state_from_code(code: u8) -> Option<DeliveryState> {
    Some(match code {
        0 => DeliveryState::Queued,
        1 => DeliveryState::Sent,
        2 => DeliveryState::Delivered,
        3 => DeliveryState::Read,
        4 => DeliveryState::Received,
        5 => DeliveryState::Relayed,
        6 => DeliveryState::Held,
        _ => return None,
    })
}

/// The tables a batch touching messages writes. Opened only when a batch has
/// such writes: opening a table costs page reads, and most batches on a busy
/// relay only touch `carried`.
struct MessageTables<'txn> {
    meta: redb::Table<'txn, &'static str, &'static [u8]>,
    messages: redb::Table<'txn, &'static [u8], &'static [u8]>,
    index: redb::Table<'txn, &'static [u8], &'static [u8]>,
    ops: redb::Table<'txn, &'static [u8], &'static [u8]>,
    waiting: redb::Table<'txn, &'static [u8], &'static [u8]>,
    states: redb::Table<'txn, &'static [u8], &'static [u8]>,
    pending: redb::Table<'txn, u64, &'static [u8]>,
    next_seq: u64,
}

impl<'txn> MessageTables<'txn> {
    fn open(txn: &'txn redb::WriteTransaction) -> Result<Self, StoreError> {
        let meta = txn.open_table(META).map_err(backend)?;
        let next_seq = meta
            .get("next_seq")
            .map_err(backend)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
            .ok_or_else(|| StoreError::msg("sequence counter missing"))?;
        Ok(Self {
            meta,
            messages: txn.open_table(MESSAGES).map_err(backend)?,
            index: txn.open_table(MSG_INDEX).map_err(backend)?,
            ops: txn.open_table(MSG_OPS).map_err(backend)?,
            waiting: txn.open_table(MSG_WAITING).map_err(backend)?,
            states: txn.open_table(STATES).map_err(backend)?,
            pending: txn.open_table(PENDING).map_err(backend)?,
            next_seq,
        })
    }
}

/// Writes the tables and secrets of a new store.
fn initialise(
    db: &Database,
    vault: &Vault,
    kdf: Option<&KdfParams>,
    identity: &Identity,
    name: &str,
) -> Result<(), StoreOpenError> {
    let txn = db.begin_write().map_err(io)?;
    {
        let mut meta = txn.open_table(META).map_err(io)?;
        meta.insert("format", FORMAT).map_err(io)?;
        if let Some(params) = kdf {
            meta.insert("kdf", params.encode().as_slice()).map_err(io)?;
        }
        meta.insert("check", vault.check_value().as_slice())
            .map_err(io)?;
        meta.insert("next_seq", 0u64.to_be_bytes().as_slice())
            .map_err(io)?;
        let mut secrets = txn.open_table(SECRETS).map_err(io)?;
        let secret = identity.to_secret_bytes();
        secrets
            .insert(
                "identity",
                vault
                    .seal("secrets", b"identity", secret.as_ref())
                    .as_slice(),
            )
            .map_err(io)?;
        secrets
            .insert(
                "name",
                vault.seal("secrets", b"name", name.as_bytes()).as_slice(),
            )
            .map_err(io)?;
        for table in [CONTACTS, MESSAGES, MSG_INDEX, STATES, CARRIED] {
            txn.open_table(table).map_err(io)?;
        }
        txn.open_table(PENDING).map_err(io)?;
    }
    txn.commit().map_err(io)
}

fn message_key(prefix: &[u8; 16], seq: u64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn seq_of(key: &[u8]) -> u64 {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&key[16..24]);
    u64::from_be_bytes(seq)
}

/// Reads the KDF parameters and the key check through any handle. Returns
/// `None` when the check fails (wrong passphrase), so the caller can decide.
fn check_passphrase(
    db: &impl ReadableDatabase,
    path: &Path,
    passphrase: &[u8],
) -> Result<Option<Vault>, StoreOpenError> {
    let not_a_store = || StoreOpenError::NotAStore(path.display().to_string());
    let txn = db.begin_read().map_err(io)?;
    let meta = txn.open_table(META).map_err(|_| not_a_store())?;
    let format = meta.get("format").map_err(io)?.ok_or_else(not_a_store)?;
    if format.value() != FORMAT {
        return Err(not_a_store());
    }
    let params = meta
        .get("kdf")
        .map_err(io)?
        .and_then(|v| KdfParams::decode(v.value()))
        .ok_or_else(|| StoreOpenError::Damaged("KDF parameters missing or out of bounds".into()))?;
    let check = meta
        .get("check")
        .map_err(io)?
        .ok_or_else(|| StoreOpenError::Damaged("key check missing".into()))?
        .value()
        .to_vec();
    let vault = Vault::derive(passphrase, &params).map_err(io)?;
    if !vault.verify_check(&check) {
        return Err(StoreOpenError::WrongPassphrase);
    }
    Ok(Some(vault))
}

impl Store for RedbStore {
    fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(CONTACTS).map_err(backend)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let plain = self
                .vault
                .open("contacts", k.value(), v.value())
                .map_err(backend)?;
            out.push(Contact::decode(&plain).map_err(backend)?);
        }
        Ok(out)
    }

    fn pending_outgoing(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let pending = txn.open_table(PENDING).map_err(backend)?;
        let messages = txn.open_table(MESSAGES).map_err(backend)?;
        let mut out = Vec::new();
        for row in pending.iter().map_err(backend)? {
            let (_, key) = row.map_err(backend)?;
            if let Some(sealed) = messages.get(key.value()).map_err(backend)? {
                out.push(self.load_message(&txn, key.value(), sealed.value())?);
            }
        }
        Ok(out)
    }

    fn carried(&self) -> Result<Vec<CarriedRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(CARRIED) {
            Ok(t) => t,
            // Stores made before the mesh existed: created at the first commit.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let plain = self
                .vault
                .open("carried", k.value(), v.value())
                .map_err(backend)?;
            out.push(CarriedRecord::decode(&plain).map_err(backend)?);
        }
        Ok(out)
    }

    fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let groups = match txn.open_table(GROUPS) {
            Ok(t) => t,
            // Stores made before groups existed: created at the first commit.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let log = txn.open_table(GROUP_LOG).map_err(backend)?;
        let mut out = Vec::new();
        for row in groups.iter().map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let plain = self
                .vault
                .open("groups", k.value(), v.value())
                .map_err(backend)?;
            if plain.len() < 16 {
                return Err(StoreError::msg("a group record is too short"));
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&plain[..16]);
            let prefix = k.value().to_vec();
            let mut end = prefix.clone();
            end.extend_from_slice(&[0xff; 8]);
            let mut entries = Vec::new();
            for row in log
                .range(prefix.as_slice()..=end.as_slice())
                .map_err(backend)?
            {
                let (lk, lv) = row.map_err(backend)?;
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&lk.value()[16..]);
                let bytes = self
                    .vault
                    .open("group_log", lk.value(), lv.value())
                    .map_err(backend)?;
                entries.push((u64::from_be_bytes(seq), bytes.to_vec()));
            }
            out.push(StoredGroup {
                id: GroupId(id),
                meta: plain[16..].to_vec(),
                log: entries,
            });
        }
        Ok(out)
    }

    fn settings(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(SETTINGS) {
            Ok(t) => t,
            // Stores made before settings existed: created at the first write.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let plain = self
                .vault
                .open("settings", k.value(), v.value())
                .map_err(backend)?;
            let mut r = cairn_protocol::wire::Reader::new(&plain);
            let name = r.str(u16::MAX as usize, "setting name").map_err(backend)?;
            let value = r.rest();
            out.push((name.to_owned(), value.to_vec()));
        }
        Ok(out)
    }

    fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(FILES) {
            Ok(t) => t,
            // Stores made before files existed: created at the first write.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let plain = self
                .vault
                .open("files", k.value(), v.value())
                .map_err(backend)?;
            out.push(FileRecord::decode(&plain).map_err(backend)?);
        }
        Ok(out)
    }

    fn file_chunk(
        &self,
        peer: &IdentityKey,
        id: &MessageId,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(FILE_CHUNKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let key = chunk_key(&self.vault, peer, id, index);
        let Some(sealed) = table.get(key.as_slice()).map_err(backend)? else {
            return Ok(None);
        };
        let plain = self
            .vault
            .open("file_chunks", &key, sealed.value())
            .map_err(backend)?;
        Ok(Some(plain.to_vec()))
    }

    fn group_chunk(
        &self,
        group: &GroupId,
        file: &[u8; 16],
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = match txn.open_table(GROUP_FILE_CHUNKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let key = group_chunk_key(&self.vault, group, file, index);
        let Some(sealed) = table.get(key.as_slice()).map_err(backend)? else {
            return Ok(None);
        };
        let plain = self
            .vault
            .open("group_file_chunks", &key, sealed.value())
            .map_err(backend)?;
        Ok(Some(plain.to_vec()))
    }

    fn has_message(&self, peer: &IdentityKey, id: &MessageId) -> Result<bool, StoreError> {
        let index_key = self.vault.blind(&[peer.as_bytes(), &id.0]);
        let txn = self.db.begin_read().map_err(backend)?;
        let index = txn.open_table(MSG_INDEX).map_err(backend)?;
        Ok(index.get(index_key.as_slice()).map_err(backend)?.is_some())
    }

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        {
            let touches = |f: fn(&StoreOp) -> bool| batch.ops.iter().any(f);
            let mut messages = if touches(|op| {
                matches!(
                    op,
                    StoreOp::PutMessage(_) | StoreOp::SetState { .. } | StoreOp::Expire { .. }
                )
            }) {
                Some(MessageTables::open(&txn)?)
            } else {
                None
            };
            let mut contacts = if touches(|op| matches!(op, StoreOp::PutContact(_))) {
                Some(txn.open_table(CONTACTS).map_err(backend)?)
            } else {
                None
            };
            let mut carried =
                if touches(|op| matches!(op, StoreOp::PutCarried(_) | StoreOp::DeleteCarried(_))) {
                    Some(txn.open_table(CARRIED).map_err(backend)?)
                } else {
                    None
                };
            let group_ops = touches(|op| {
                matches!(
                    op,
                    StoreOp::PutGroup { .. }
                        | StoreOp::AppendGroupLog { .. }
                        | StoreOp::CompactGroupLog { .. }
                )
            });
            let mut groups = if group_ops {
                Some((
                    txn.open_table(GROUPS).map_err(backend)?,
                    txn.open_table(GROUP_LOG).map_err(backend)?,
                ))
            } else {
                None
            };
            let mut settings = if touches(|op| {
                matches!(
                    op,
                    StoreOp::PutSetting { .. } | StoreOp::DeleteSetting { .. }
                )
            }) {
                Some(txn.open_table(SETTINGS).map_err(backend)?)
            } else {
                None
            };
            let mut files =
                if touches(|op| matches!(op, StoreOp::PutFile(_) | StoreOp::PutFileChunk { .. }))
                    || touches(|op| {
                        // A deletion or expiry may erase a file's content.
                        matches!(op, StoreOp::PutMessage(m)
                            if m.op.is_some_and(|o| o.kind == OpKind::Delete))
                            || matches!(op, StoreOp::Expire { .. })
                    })
                {
                    Some((
                        txn.open_table(FILES).map_err(backend)?,
                        txn.open_table(FILE_CHUNKS).map_err(backend)?,
                    ))
                } else {
                    None
                };
            let mut group_files = if touches(|op| {
                matches!(
                    op,
                    StoreOp::PutGroupChunk { .. } | StoreOp::EraseGroupFile { .. }
                )
            }) {
                Some(txn.open_table(GROUP_FILE_CHUNKS).map_err(backend)?)
            } else {
                None
            };
            let unopened = || StoreError::msg("table not opened for this batch");
            for op in &batch.ops {
                match op {
                    StoreOp::PutContact(c) => {
                        let key = self.vault.blind(&[c.identity.as_bytes()]);
                        contacts
                            .as_mut()
                            .ok_or_else(unopened)?
                            .insert(
                                key.as_slice(),
                                self.vault.seal("contacts", &key, &c.encode()).as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::PutMessage(m) => {
                        let mut table = Messages {
                            store: self,
                            t: messages.as_mut().ok_or_else(unopened)?,
                            files: files.as_mut(),
                        };
                        cairn_protocol::store::put_message(&mut table, m)?
                    }
                    StoreOp::Expire { peer, before } => {
                        let mut table = Messages {
                            store: self,
                            t: messages.as_mut().ok_or_else(unopened)?,
                            files: files.as_mut(),
                        };
                        cairn_protocol::store::expire(&mut table, peer, *before)?
                    }
                    StoreOp::SetState { peer, id, state } => {
                        self.set_state(messages.as_mut().ok_or_else(unopened)?, peer, id, *state)?
                    }
                    StoreOp::PutCarried(c) => {
                        let key = self.vault.blind(&[b"carried", &c.env.id.0]);
                        carried
                            .as_mut()
                            .ok_or_else(unopened)?
                            .insert(
                                key.as_slice(),
                                self.vault.seal("carried", &key, &c.encode()).as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::DeleteCarried(id) => {
                        let key = self.vault.blind(&[b"carried", &id.0]);
                        carried
                            .as_mut()
                            .ok_or_else(unopened)?
                            .remove(key.as_slice())
                            .map_err(backend)?;
                    }
                    StoreOp::PutGroup { group, meta } => {
                        let key = self.vault.blind(&[b"group", &group.0]);
                        let mut plain = group.0.to_vec();
                        plain.extend_from_slice(meta);
                        let (table, _) = groups.as_mut().ok_or_else(unopened)?;
                        table
                            .insert(
                                key.as_slice(),
                                self.vault.seal("groups", &key, &plain).as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::AppendGroupLog { group, seq, bytes } => {
                        let mut key = self.vault.blind(&[b"group", &group.0]).to_vec();
                        key.extend_from_slice(&seq.to_be_bytes());
                        let (_, log) = groups.as_mut().ok_or_else(unopened)?;
                        log.insert(
                            key.as_slice(),
                            self.vault.seal("group_log", &key, bytes).as_slice(),
                        )
                        .map_err(backend)?;
                    }
                    StoreOp::CompactGroupLog { group, before } => {
                        let prefix = self.vault.blind(&[b"group", &group.0]).to_vec();
                        let mut end = prefix.clone();
                        end.extend_from_slice(&before.to_be_bytes());
                        let (_, log) = groups.as_mut().ok_or_else(unopened)?;
                        log.retain_in(prefix.as_slice()..end.as_slice(), |_, _| false)
                            .map_err(backend)?;
                    }
                    StoreOp::PutSetting { key, value } => {
                        let k = self.vault.blind(&[b"setting", key.as_bytes()]);
                        let mut plain = cairn_protocol::wire::Writer::with_capacity(
                            2 + key.len() + value.len(),
                        );
                        plain.bytes(key.as_bytes()).raw(value);
                        settings
                            .as_mut()
                            .ok_or_else(unopened)?
                            .insert(
                                k.as_slice(),
                                self.vault
                                    .seal("settings", &k, &plain.into_vec())
                                    .as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::DeleteSetting { key } => {
                        let k = self.vault.blind(&[b"setting", key.as_bytes()]);
                        settings
                            .as_mut()
                            .ok_or_else(unopened)?
                            .remove(k.as_slice())
                            .map_err(backend)?;
                    }
                    StoreOp::PutFile(f) => {
                        let k = self.vault.blind(&[b"file", f.peer.as_bytes(), &f.id.0]);
                        let (table, _) = files.as_mut().ok_or_else(unopened)?;
                        table
                            .insert(
                                k.as_slice(),
                                self.vault.seal("files", &k, &f.encode()).as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::PutFileChunk {
                        peer,
                        id,
                        index,
                        data,
                    } => {
                        let k = chunk_key(&self.vault, peer, id, *index);
                        let (_, table) = files.as_mut().ok_or_else(unopened)?;
                        table
                            .insert(
                                k.as_slice(),
                                self.vault.seal("file_chunks", &k, data).as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::PutGroupChunk {
                        group,
                        file,
                        index,
                        data,
                    } => {
                        let k = group_chunk_key(&self.vault, group, file, *index);
                        group_files
                            .as_mut()
                            .ok_or_else(unopened)?
                            .insert(
                                k.as_slice(),
                                self.vault.seal("group_file_chunks", &k, data).as_slice(),
                            )
                            .map_err(backend)?;
                    }
                    StoreOp::EraseGroupFile { group, file } => {
                        let (lo, hi) = (
                            group_chunk_key(&self.vault, group, file, 0),
                            group_chunk_key(&self.vault, group, file, u32::MAX),
                        );
                        group_files
                            .as_mut()
                            .ok_or_else(unopened)?
                            .retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)
                            .map_err(backend)?;
                    }
                }
            }
            if let Some(t) = &mut messages {
                t.meta
                    .insert("next_seq", t.next_seq.to_be_bytes().as_slice())
                    .map_err(backend)?;
            }
        }
        // Returning early above drops `txn`, which aborts the whole batch.
        txn.commit().map_err(backend)
    }
}

/// The message tables of one write, as the core's rules for operations
/// see them.
struct Messages<'a, 'txn> {
    store: &'a RedbStore,
    t: &'a mut MessageTables<'txn>,
    files: Option<&'a mut FileTables<'txn>>,
}

type FileTables<'txn> = (
    redb::Table<'txn, &'static [u8], &'static [u8]>,
    redb::Table<'txn, &'static [u8], &'static [u8]>,
);

impl Messages<'_, '_> {
    fn key_of(&self, peer: &IdentityKey, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        let index_key = self.store.vault.blind(&[peer.as_bytes(), &id.0]);
        Ok(self
            .t
            .index
            .get(index_key.as_slice())
            .map_err(backend)?
            .map(|v| v.value().to_vec()))
    }

    fn load(&self, key: &[u8]) -> Result<Option<MessageRecord>, StoreError> {
        let Some(sealed) = self.t.messages.get(key).map_err(backend)? else {
            return Ok(None);
        };
        let mut record = self.store.decode_message(key, sealed.value())?;
        if let Some(s) = self.t.states.get(key).map_err(backend)? {
            record.state = record.state.max(self.store.open_state(key, s.value())?);
        }
        Ok(Some(record))
    }

    fn ops_prefix(&self, peer: &IdentityKey, target: &MessageId) -> [u8; 16] {
        self.store
            .vault
            .blind(&[b"ops", peer.as_bytes(), &target.0])
    }
}

impl cairn_protocol::store::MessageTable for Messages<'_, '_> {
    fn get(
        &mut self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        match self.key_of(peer, id)? {
            Some(key) => self.load(&key),
            None => Ok(None),
        }
    }

    fn write(&mut self, record: &MessageRecord) -> Result<(), StoreError> {
        self.store.write_message(self.t, record, false)
    }

    fn write_new(&mut self, record: &MessageRecord) -> Result<(), StoreError> {
        self.store.write_message(self.t, record, true)
    }

    fn waiting_on(
        &mut self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if self.t.waiting.is_empty().map_err(backend)? {
            return Ok(Vec::new());
        }
        let keys = op_keys(&self.t.waiting, &self.ops_prefix(peer, id))?;
        keys.iter()
            .map(|key| {
                self.load(key)?
                    .ok_or_else(|| StoreError::msg("an operation's record is missing"))
            })
            .collect()
    }

    fn arrived(&mut self, peer: &IdentityKey, id: &MessageId) -> Result<(), StoreError> {
        let prefix = self.ops_prefix(peer, id);
        for key in op_keys(&self.t.waiting, &prefix)? {
            let mut entry = prefix.to_vec();
            entry.extend_from_slice(&key);
            self.t.waiting.remove(entry.as_slice()).map_err(backend)?;
            self.t
                .ops
                .insert(entry.as_slice(), [].as_slice())
                .map_err(backend)?;
        }
        Ok(())
    }

    fn remove_op(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
        id: &MessageId,
    ) -> Result<(), StoreError> {
        let index_key = self.store.vault.blind(&[peer.as_bytes(), &id.0]);
        let Some(key) = self.key_of(peer, id)? else {
            return Ok(());
        };
        let mut entry = self.ops_prefix(peer, target).to_vec();
        entry.extend_from_slice(&key);
        self.t.ops.remove(entry.as_slice()).map_err(backend)?;
        self.t.waiting.remove(entry.as_slice()).map_err(backend)?;
        self.t.index.remove(index_key.as_slice()).map_err(backend)?;
        self.t.messages.remove(key.as_slice()).map_err(backend)?;
        self.t.states.remove(key.as_slice()).map_err(backend)?;
        self.t.pending.remove(seq_of(&key)).map_err(backend)?;
        Ok(())
    }

    fn ops_on(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let prefix = self.ops_prefix(peer, target);
        let mut keys = op_keys(&self.t.ops, &prefix)?;
        keys.extend(op_keys(&self.t.waiting, &prefix)?);
        keys.iter()
            .map(|key| {
                self.load(key)?
                    .ok_or_else(|| StoreError::msg("an operation's record is missing"))
            })
            .collect()
    }

    fn index_op(
        &mut self,
        peer: &IdentityKey,
        target: &MessageId,
        op: &MessageId,
        waiting: bool,
    ) -> Result<(), StoreError> {
        let Some(key) = self.key_of(peer, op)? else {
            return Ok(());
        };
        let mut entry = self.ops_prefix(peer, target).to_vec();
        entry.extend_from_slice(&key);
        let table = if waiting {
            &mut self.t.waiting
        } else {
            &mut self.t.ops
        };
        table
            .insert(entry.as_slice(), [].as_slice())
            .map_err(backend)?;
        Ok(())
    }

    fn erase_file(&mut self, peer: &IdentityKey, id: &MessageId) -> Result<(), StoreError> {
        let Some((files, chunks)) = self.files.as_deref_mut() else {
            return Err(StoreError::msg("file tables not opened for a deletion"));
        };
        let name = self.store.vault.blind(&[b"file", peer.as_bytes(), &id.0]);
        files.remove(name.as_slice()).map_err(backend)?;
        let (lo, hi) = (
            chunk_key(&self.store.vault, peer, id, 0),
            chunk_key(&self.store.vault, peer, id, u32::MAX),
        );
        chunks
            .retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)
            .map_err(backend)?;
        Ok(())
    }

    fn all_of(&mut self, peer: &IdentityKey) -> Result<Vec<MessageRecord>, StoreError> {
        let prefix = self.store.vault.blind(&[peer.as_bytes()]);
        let (lo, hi) = (message_key(&prefix, 0), message_key(&prefix, u64::MAX));
        let keys: Vec<Vec<u8>> = self
            .t
            .messages
            .range(lo.as_slice()..=hi.as_slice())
            .map_err(backend)?
            .map(|row| row.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.extend(self.load(&key)?);
        }
        Ok(out)
    }

    fn remove(&mut self, record: &MessageRecord) -> Result<(), StoreError> {
        let (peer, id) = (&record.peer, &record.id);
        let Some(key) = self.key_of(peer, id)? else {
            return Ok(());
        };
        if let Some(op) = record.op.filter(|o| o.kind.is_change()) {
            let mut entry = self.ops_prefix(peer, &op.target).to_vec();
            entry.extend_from_slice(&key);
            self.t.ops.remove(entry.as_slice()).map_err(backend)?;
            self.t.waiting.remove(entry.as_slice()).map_err(backend)?;
        }
        // Entries naming it as a target (their records are removed by the caller).
        let prefix = self.ops_prefix(peer, id);
        let (mut lo, mut hi) = (prefix.to_vec(), prefix.to_vec());
        lo.extend_from_slice(&[0; 24]);
        hi.extend_from_slice(&[0xff; 24]);
        for table in [&mut self.t.ops, &mut self.t.waiting] {
            table
                .retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)
                .map_err(backend)?;
        }
        let index_key = self.store.vault.blind(&[peer.as_bytes(), &id.0]);
        self.t.index.remove(index_key.as_slice()).map_err(backend)?;
        self.t.messages.remove(key.as_slice()).map_err(backend)?;
        self.t.states.remove(key.as_slice()).map_err(backend)?;
        self.t.pending.remove(seq_of(&key)).map_err(backend)?;
        Ok(())
    }
}

/// The `messages` keys of the operations under `prefix` (a target's) in an
/// operations table.
fn op_keys(
    table: &redb::Table<'_, &'static [u8], &'static [u8]>,
    prefix: &[u8; 16],
) -> Result<Vec<Vec<u8>>, StoreError> {
    let (mut lo, mut hi) = (prefix.to_vec(), prefix.to_vec());
    lo.extend_from_slice(&[0; 24]);
    hi.extend_from_slice(&[0xff; 24]);
    table
        .range(lo.as_slice()..=hi.as_slice())
        .map_err(backend)?
        .map(|row| row.map(|(k, _)| k.value()[16..].to_vec()))
        .collect::<Result<_, _>>()
        .map_err(backend)
}

/// Where a file's chunk is kept: the file's blinded name, then the index.
fn chunk_key(vault: &Vault, peer: &IdentityKey, id: &MessageId, index: u32) -> Vec<u8> {
    let mut key = vault.blind(&[b"file", peer.as_bytes(), &id.0]).to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn group_chunk_key(vault: &Vault, group: &GroupId, file: &[u8; 16], index: u32) -> Vec<u8> {
    let mut key = vault.blind(&[b"group-file", &group.0, file]).to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_protocol::{Direction, MessageId, Time};
    use rand_core::SeedableRng;

    /// Every state a message can reach is stored as itself, and the ones
    /// still to be sent stay pending (a state once missing from the table
    /// read back as "queued").
    #[test]
    fn every_state_is_stored_as_itself() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let me = Identity::generate(&mut rng);
        let bob = Identity::generate(&mut rng).key();
        let mut store = RedbStore::in_memory(&me, "me").unwrap();
        let all = [
            DeliveryState::Queued,
            DeliveryState::Sent,
            DeliveryState::Relayed,
            DeliveryState::Held,
            DeliveryState::Delivered,
            DeliveryState::Received,
            DeliveryState::Read,
        ];
        for (n, state) in all.into_iter().enumerate() {
            assert_eq!(state_from_code(state_code(state)), Some(state));
            let id = MessageId([n as u8; 16]);
            let mut batch = WriteBatch::default();
            batch.push(StoreOp::PutMessage(Box::new(MessageRecord {
                peer: bob,
                id,
                direction: Direction::Outgoing,
                text: "t".into(),
                sent_at: Time::ZERO,
                local_at: Time::ZERO,
                state: DeliveryState::Queued,
                remote: None,
                file: None,
                op: None,
                changes: Default::default(),
            })));
            batch.push(StoreOp::SetState {
                peer: bob,
                id,
                state,
            });
            store.commit(&batch).unwrap();
            let back = store.history(&bob, None).unwrap();
            assert_eq!(back.iter().find(|m| m.id == id).unwrap().state, state);
        }
        let pending: Vec<DeliveryState> = store
            .pending_outgoing()
            .unwrap()
            .iter()
            .map(|m| m.state)
            .collect();
        assert_eq!(
            pending,
            [
                DeliveryState::Queued,
                DeliveryState::Sent,
                DeliveryState::Held
            ]
        );
    }

    fn record(
        bob: IdentityKey,
        id: u8,
        at: u64,
        direction: Direction,
        text: &str,
    ) -> MessageRecord {
        MessageRecord {
            peer: bob,
            id: MessageId([id; 16]),
            direction,
            text: text.into(),
            sent_at: Time::from_millis(at),
            local_at: Time::from_millis(at),
            state: DeliveryState::Delivered,
            remote: None,
            file: None,
            op: None,
            changes: Default::default(),
        }
    }

    fn on(kind: OpKind, target: u8, mut r: MessageRecord) -> MessageRecord {
        r.op = Some(cairn_protocol::message::MessageOp {
            kind,
            target: MessageId([target; 16]),
        });
        r
    }

    fn rows(store: &RedbStore, table: TableDefinition<&[u8], &[u8]>) -> usize {
        let txn = store.db.begin_read().unwrap();
        let t = txn.open_table(table).unwrap();
        t.iter().unwrap().count()
    }

    /// The core's rules for operations hold in the real store: one that
    /// waits applies when its message comes, a flood of reactions leaves one
    /// record (and one index entry), and a deletion leaves no record, of any
    /// table, holding the text — the file's chunks included.
    #[test]
    fn operations_apply_here_as_the_core_says() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let me = Identity::generate(&mut rng);
        let bob = Identity::generate(&mut rng).key();
        let mut store = RedbStore::in_memory(&me, "me").unwrap();
        let put = |store: &mut RedbStore, records: Vec<MessageRecord>| {
            let mut batch = WriteBatch::default();
            for r in records {
                batch.push(StoreOp::PutMessage(Box::new(r)));
            }
            store.commit(&batch).unwrap();
        };
        // An edit before its message: it waits.
        put(
            &mut store,
            vec![on(
                OpKind::Edit,
                1,
                record(bob, 2, 20, Direction::Incoming, "meet at noon"),
            )],
        );
        assert_eq!(rows(&store, MSG_WAITING), 1);
        put(
            &mut store,
            vec![record(bob, 1, 10, Direction::Incoming, "meet at 11")],
        );
        let m = store.message(&bob, &MessageId([1; 16])).unwrap().unwrap();
        assert_eq!(m.text, "meet at noon");
        // A flood of reactions.
        for i in 0..100u8 {
            let mut r = on(
                OpKind::React,
                1,
                record(bob, 0, 100 + u64::from(i), Direction::Outgoing, "👍"),
            );
            r.id = MessageId([i.wrapping_add(100); 16]);
            put(&mut store, vec![r]);
        }
        assert_eq!(rows(&store, MESSAGES), 3, "message, edit, one reaction");
        assert_eq!(rows(&store, MSG_OPS), 2);
        assert_eq!(rows(&store, MSG_WAITING), 0, "the edit no longer waits");
        // A file, then deleting both.
        let mut file = record(bob, 7, 5, Direction::Incoming, "noon-plan.pdf");
        file.file =
            Some(cairn_protocol::file::FileMeta::of("noon-plan.pdf", "", b"at noon").unwrap());
        put(&mut store, vec![file]);
        store
            .commit(&WriteBatch {
                ops: vec![StoreOp::PutFileChunk {
                    peer: bob,
                    id: MessageId([7; 16]),
                    index: 0,
                    data: b"at noon".to_vec(),
                }],
            })
            .unwrap();
        put(
            &mut store,
            vec![
                on(
                    OpKind::Delete,
                    1,
                    record(bob, 50, 50, Direction::Incoming, ""),
                ),
                on(
                    OpKind::Delete,
                    7,
                    record(bob, 51, 51, Direction::Incoming, ""),
                ),
            ],
        );
        let txn = store.db.begin_read().unwrap();
        let messages = txn.open_table(MESSAGES).unwrap();
        for row in messages.iter().unwrap() {
            let (k, v) = row.unwrap();
            let m = store.decode_message(k.value(), v.value()).unwrap();
            assert!(!m.text.contains("noon") && !m.text.contains("11"), "{m:?}");
            assert!(m.changes.earlier.is_empty());
        }
        assert_eq!(rows(&store, FILE_CHUNKS), 0);
        assert!(store.files().unwrap().is_empty());
        assert!(
            store
                .message(&bob, &MessageId([7; 16]))
                .unwrap()
                .unwrap()
                .changes
                .deleted
        );
    }

    /// Expiry in the real store: old messages, the operations on them and
    /// their index entries, and a file's chunks go; the rest stays.
    #[test]
    fn expiry_leaves_nothing_of_old_messages() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let me = Identity::generate(&mut rng);
        let bob = Identity::generate(&mut rng).key();
        let mut store = RedbStore::in_memory(&me, "me").unwrap();
        let mut file = record(bob, 7, 5, Direction::Incoming, "map.png");
        file.file = Some(cairn_protocol::file::FileMeta::of("map.png", "", b"x marks").unwrap());
        let mut batch = WriteBatch::default();
        for r in [
            record(bob, 1, 10, Direction::Incoming, "the old password"),
            on(
                OpKind::React,
                1,
                record(bob, 2, 20, Direction::Outgoing, "👍"),
            ),
            file,
            record(bob, 3, 100, Direction::Outgoing, "a new day"),
        ] {
            batch.push(StoreOp::PutMessage(Box::new(r)));
        }
        batch.push(StoreOp::PutFileChunk {
            peer: bob,
            id: MessageId([7; 16]),
            index: 0,
            data: b"x marks".to_vec(),
        });
        store.commit(&batch).unwrap();
        store
            .commit(&WriteBatch {
                ops: vec![StoreOp::Expire {
                    peer: bob,
                    before: Time::from_millis(50),
                }],
            })
            .unwrap();
        let left: Vec<String> = store
            .history(&bob, None)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(left, vec!["a new day"]);
        assert_eq!(rows(&store, MESSAGES), 1);
        assert_eq!(rows(&store, MSG_INDEX), 1);
        assert_eq!(rows(&store, MSG_OPS), 0);
        assert_eq!(rows(&store, MSG_WAITING), 0);
        assert_eq!(rows(&store, FILE_CHUNKS), 0);
        assert!(store.files().unwrap().is_empty());
    }
}
