//! The protocol core of one node: contacts, sessions, outbox and links, driven
//! by inputs and drained for outputs.
//!
//! The driver (the node's runtime, a test, the simulator) follows one loop:
//! feed one input (`link_up`, `link_down`, `handle_frame`, a user command,
//! `handle_timeout`), call [`Engine::flush`] to commit staged writes in one
//! batch, then drain [`Engine::poll_output`] and sleep until
//! [`Engine::poll_timeout`]. Feeding several inputs before one `flush` is
//! group commit. A driver that wants the disk and the CPU busy at once takes
//! the batch with [`Engine::begin_commit`], commits it elsewhere while it goes
//! on feeding inputs, and reports back with [`Engine::end_commit`].
//!
//! Inside, the engine is rooms around three sub-machines that are driven
//! the same way (quinn-proto's `Connection` and its parts): the groups
//! ([`crate::group::groups::Groups`]), the file transfers
//! ([`crate::file::Transfers`]) and the mesh ([`crate::mesh::Mesh`]) each
//! take inputs, queue what they want done, and are drained with
//! `poll_output` and woken at `poll_timeout`. Every public input ends with
//! one private `pump` that drains all three until none asks for more, so no
//! input re-enters another. The session table answers each envelope
//! directly (a handshake reply is the answer to the envelope that came).
//!
//! Rooms: `types` (what the engine reports, its errors and settings; a
//! leaf), `commit` (the batch, what waits for it, the one path out for
//! frames), `links`, `inbound` (frames to sessions and payloads to rooms),
//! `messages` (outbox and receipts), `contacts`, `files`, `groups`, `mesh`.
//!
//! Invariants:
//! - A message is sent only after the write that queued it is committed, and a
//!   receipt only after the write that stored the received message is
//!   committed: nothing acknowledged is ever lost.
//! - A peer that sends something undecodable, wrongly keyed or replayed has the
//!   link it came on closed; nothing it sends can make the engine panic or grow
//!   without bound.

mod commit;
mod contacts;
mod devices;
mod disappear;
mod files;
mod groups;
mod inbound;
mod links;
mod mesh;
mod messages;
mod types;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tracing::warn;

use crate::contact::{Contact, ContactOrigin};
use crate::disappear::{Disappearing, SETTING_PREFIX};
use crate::file::Transfers;
use crate::group::groups::Groups;
use crate::identity::{Identity, IdentityKey};
use crate::invite::ContactCard;
use crate::mesh::Mesh;
use crate::mesh::carrier::{Held, Origin};
use crate::outbox::Outbox;
use crate::payload::MessageId;
use crate::prekeys::{Prekeys, STORE_PREFIX};
use crate::session_table::SessionTable;
use crate::store::{Store, WriteBatch};
use crate::time::Time;

pub use crate::link::{CloseReason, LinkId, LinkInfo, MIN_LINK_MTU, Medium};
use types::{AfterCommit, Devices, InFlight, LinkState, RATE_WINDOW};
pub use types::{Commit, Config, EngineError, Event, Output};

pub struct Engine<S: Store> {
    config: Config,
    identity: Identity,
    card: ContactCard,
    store: S,
    rng: ChaCha20Rng,
    contacts: BTreeMap<IdentityKey, Contact>,
    /// Bumped whenever the contacts (or a contact's key) change.
    contacts_generation: u64,
    links: BTreeMap<LinkId, LinkState>,
    /// The link a peer's session traffic last arrived on, for replies when the
    /// transport's hop identity is not the session's.
    reply_links: BTreeMap<IdentityKey, LinkId>,
    sessions: SessionTable,
    outbox: Outbox,
    batch: WriteBatch,
    after_commit: Vec<AfterCommit>,
    /// Incoming messages staged in the current batch.
    staged: BTreeSet<(IdentityKey, MessageId)>,
    /// Where in the current batch a message's `Sent` state was staged, so a
    /// receipt arriving before the commit replaces it instead of adding a write.
    staged_sent: BTreeMap<(IdentityKey, MessageId), usize>,
    /// Batches taken by the driver and not yet reported committed.
    in_flight: VecDeque<InFlight>,
    next_ticket: u64,
    receipts: BTreeMap<IdentityKey, Vec<MessageId>>,
    outputs: VecDeque<Output>,
    /// Group writes are in the current batch (redone if it fails).
    groups_in_batch: bool,
    mesh: Mesh,
    /// Signed and one-time prekeys, and a ratchet session per contact, for
    /// what travels through the mesh (`prekeys.rs`).
    prekeys: Prekeys,
    /// Which recipient-tag slot each contact's envelopes reached this epoch.
    tag_slots: BTreeMap<IdentityKey, (u32, u8)>,
    groups: Groups,
    /// Every setting, as staged: what was put is seen at once, not only once
    /// its batch is committed (a reply can come back before that).
    settings: BTreeMap<String, Vec<u8>>,
    /// Files sent and received, and the transfers under way.
    files: Transfers,
    /// This account's devices, and contacts' (docs/DEVICES.md).
    devices: Devices,
    /// Each conversation's disappearing-messages timer, and what falls due.
    disappearing: Disappearing,
}

impl<S: Store> Engine<S> {
    /// Starts the core from what `store` holds. `seed` drives every random
    /// choice the engine makes.
    pub fn new(
        config: Config,
        identity: Identity,
        store: S,
        seed: [u8; 32],
        now: Time,
    ) -> Result<Self, EngineError> {
        let card = ContactCard::new(
            &identity,
            &config.name,
            config.hints.clone(),
            now,
            config.invite_validity,
        )?;
        let contacts: BTreeMap<IdentityKey, Contact> = store
            .contacts()?
            .into_iter()
            .map(|c| (c.identity, c))
            .collect();
        let outbox = Outbox::new(config.max_outbox, config.backoff);
        let pending = store.pending_outgoing()?;
        let mut meshed = Vec::new();
        let mut mesh = Mesh::new(config.mesh.clone());
        for record in store.carried()? {
            if let Origin::Own { peer, message } = record.origin {
                meshed.push((peer, message));
            }
            let size = record.env.encoded_len();
            mesh.restore(
                Held {
                    env: record.env,
                    origin: record.origin,
                    size,
                },
                record.secret,
                now,
            );
        }
        let mut settings: BTreeMap<String, Vec<u8>> = store.settings()?.into_iter().collect();
        let prekeys = Prekeys::load(
            settings
                .range(STORE_PREFIX.to_owned()..)
                .take_while(|(k, _)| k.starts_with(STORE_PREFIX))
                .map(|(k, v)| (k.as_str(), v.as_slice())),
        )
        .unwrap_or_else(|e| {
            // Sessions are rebuilt when contacts next meet; envelopes already
            // sealed to the lost keys cannot be opened.
            warn!(error = %e, "stored prekeys could not be read; starting afresh");
            Prekeys::default()
        });
        let disappearing = Disappearing::load(
            settings
                .range(SETTING_PREFIX.to_owned()..)
                .take_while(|(k, _)| k.starts_with(SETTING_PREFIX))
                .map(|(k, v)| (k.as_str(), v.as_slice())),
            now,
        );
        let mut files = Transfers::new();
        for c in contacts.values() {
            if c.origin == ContactOrigin::Request {
                files.hold(c.identity);
            }
        }
        for record in store.files()? {
            let (peer, id) = (record.peer, record.id);
            let held =
                (0..record.have).map_while(|i| store.file_chunk(&peer, &id, i).ok().flatten());
            files.restore(record, held, now);
        }
        let mut group_seed = seed;
        group_seed[0] ^= 0x47; // distinct from the engine's own stream
        let mut groups = Groups::new(&identity, config.mesh.enabled, group_seed);
        for stored in store.groups()? {
            let id = stored.id;
            if let Err(e) = groups.restore(stored) {
                warn!(group = %id, error = %e, "a stored group could not be read");
            }
        }
        // Post keys and files held live with the groups, not among the
        // engine's settings.
        for prefix in [
            crate::group::groups::KEY_SETTING_PREFIX,
            crate::group::files::FILE_SETTING_PREFIX,
        ] {
            groups.restore_keys(
                settings
                    .range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.as_str(), v.as_slice())),
            );
            settings.retain(|k, _| !k.starts_with(prefix));
        }
        // Their periodic work starts its clock now.
        groups.handle_timeout(now);
        files.handle_timeout(now, |_| false);
        let mut engine = Self {
            groups,
            settings,
            files,
            mesh,
            prekeys,
            tag_slots: BTreeMap::new(),
            sessions: SessionTable::new(config.sessions),
            config,
            identity,
            card,
            store,
            rng: ChaCha20Rng::from_seed(seed),
            contacts,
            links: BTreeMap::new(),
            reply_links: BTreeMap::new(),
            contacts_generation: 0,
            outbox,
            batch: WriteBatch::default(),
            after_commit: Vec::new(),
            staged: BTreeSet::new(),
            staged_sent: BTreeMap::new(),
            in_flight: VecDeque::new(),
            next_ticket: 0,
            receipts: BTreeMap::new(),
            outputs: VecDeque::new(),
            groups_in_batch: false,
            devices: Devices::default(),
            disappearing,
        };
        engine.load_devices();
        'pending: for record in pending {
            for to in engine.destinations(&record.peer) {
                // Everything in the store is durable; a full outbox at
                // start-up can only mean the limit was lowered, and the rest
                // waits on disk.
                if engine.outbox.push(to, record.clone(), true).is_err() {
                    break 'pending;
                }
            }
        }
        for (peer, message) in meshed {
            engine.outbox.mark_meshed(&peer, &message);
        }
        engine.contacts_changed();
        Ok(engine)
    }

    pub fn identity_key(&self) -> IdentityKey {
        self.identity.key()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.session_count()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.sessions.handle_timeout(now);
        self.mesh.handle_timeout(&self.identity.key(), now);
        self.prekeys
            .rotate_on_schedule(&self.identity, now, &mut self.rng);
        self.prekeys.handle_timeout(now);
        self.persist_prekeys();
        self.bundle_sessions(now);
        for state in self.links.values_mut() {
            if now.since(state.window_start) >= RATE_WINDOW {
                state.window_start = now;
                state.inits = 0;
                state.unknown = 0;
            }
        }
        let mut peers: Vec<IdentityKey> = self.outbox.peers().copied().collect();
        peers.extend(self.devices.joining.as_ref().map(|j| j.holder));
        peers.extend(self.unannounced());
        for peer in peers {
            self.service_peer(now, &peer);
        }
        self.groups.handle_timeout(now);
        let up = self.session_peers();
        self.files.handle_timeout(now, |p| up.contains(p));
        self.expire_due(now);
        self.pump(now);
    }

    /// Carries out what the sub-machines (groups, transfers, mesh) asked
    /// for, until none asks for more. Every public input ends here: one
    /// input, then drain (str0m's rule), so no input re-enters another.
    fn pump(&mut self, now: Time) {
        let mut refused = BTreeSet::new();
        loop {
            let mut moved = false;
            let mut groups_changed = false;
            while let Some(out) = self.groups.poll_output() {
                moved = true;
                groups_changed |= self.on_group_output(now, out);
            }
            while let Some(out) = self.files.poll_output() {
                moved = true;
                self.on_file_output(out, &mut refused);
            }
            while let Some(out) = self.mesh.poll_output() {
                moved = true;
                self.on_mesh_output(out);
            }
            if groups_changed {
                // A group made, joined or grown while links were up.
                self.group_sessions(now);
            }
            if !moved {
                break;
            }
        }
    }

    /// Whether every sub-machine's outputs were carried out (every input
    /// ends with the pump).
    fn pumped(&self) -> bool {
        !self.groups.has_output() && !self.files.has_output() && !self.mesh.has_output()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        debug_assert!(self.pumped(), "an input ended without the pump");
        self.outputs.pop_front()
    }

    /// When [`Engine::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        // Only peers we can reach now: a timeout with no link to send on
        // would wake us again and again for nothing.
        let retransmit = self
            .outbox
            .peers()
            .filter(|p| self.best_link(p).is_some())
            .filter_map(|p| self.outbox.next_timeout(p, self.sessions.current_index(p)?))
            .min();
        [
            retransmit,
            self.sessions.poll_timeout(),
            self.mesh.poll_timeout(),
            self.groups.poll_timeout(),
            self.files.poll_timeout(),
            self.prekeys.poll_timeout(),
            self.bundle_timeout(),
            self.disappearing.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
