//! The XMPP gateway: a node that attaches to an XMPP server as an external
//! component (XEP-0114) and bridges the Cairn users who opted in. The logic
//! is in [`core`]; this module keeps the component connection up (reconnect
//! with backoff, keepalive pings) and carries stanzas between it and the
//! node's loop.

pub mod core;
pub mod extensions;
pub mod fetch;
pub mod muc;
pub mod stanza;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Component, Stanza};
use tracing::{info, warn};

use cairn_protocol::group::GroupMessage;
use cairn_protocol::message::{MessageOp, OpKind};
use cairn_protocol::{
    DeliveryState, Direction, Engine, EngineError, Event, GroupId, IdentityKey, MessageId,
    MessageRecord,
};

use self::extensions::{Reference, Target};

use crate::profile::GatewaySettings;
use crate::store::RedbStore;

/// What the connection task reports to the node.
#[derive(Debug)]
pub enum XmppEvent {
    Connected,
    Disconnected(String),
    Stanza(Element),
    /// A file shared from XMPP was fetched (or not).
    Fetched(Box<FetchDone>),
    /// A Cairn user's file was uploaded for XMPP (or not).
    Uploaded(Box<UploadDone>),
}

/// An upload's outcome: the user's file message and its address on XMPP.
#[derive(Debug)]
pub struct UploadDone {
    user: IdentityKey,
    id: MessageId,
    get: String,
    result: Result<(), String>,
}

/// A fetch's outcome, with what is needed to pass the file on.
#[derive(Debug)]
pub struct FetchDone {
    user: IdentityKey,
    remote: String,
    receipt: Option<(String, String)>,
    foreign: Option<String>,
    markable: bool,
    sender: String,
    result: Result<fetch::Fetched, String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("the gateway needs a component domain (`[gateway] domain` or --domain)")]
    NoDomain,
    #[error(
        "the gateway needs the component secret (CAIRN_GATEWAY_SECRET, `secret_file` or --secret-file)"
    )]
    NoSecret,
    #[error("cannot read the component secret from {path}: {reason}")]
    SecretFile { path: String, reason: String },
}

/// The component's connection settings, checked.
#[derive(Clone)]
pub struct Attach {
    pub server: String,
    pub domain: String,
    secret: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attach")
            .field("server", &self.server)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Attach {
    pub fn from_settings(s: &GatewaySettings) -> Result<Self, GatewayError> {
        if s.domain.trim().is_empty() {
            return Err(GatewayError::NoDomain);
        }
        let secret = match (
            &s.secret_file,
            crate::secrets::get("CAIRN_GATEWAY_SECRET"),
            &s.secret,
        ) {
            (Some(path), _, _) => {
                let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    GatewayError::SecretFile {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    }
                })?);
                zeroize::Zeroizing::new(text.trim().to_owned())
            }
            (None, Some(secret), _) => secret,
            (None, None, Some(secret)) => zeroize::Zeroizing::new(secret.clone()),
            (None, None, None) => return Err(GatewayError::NoSecret),
        };
        if secret.is_empty() {
            return Err(GatewayError::NoSecret);
        }
        Ok(Self {
            server: s.server.clone(),
            domain: s.domain.trim().to_lowercase(),
            secret,
        })
    }
}

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Keeps the component attached until `outgoing` closes. Stanzas queued
/// while detached are dropped: the gateway core re-sends what matters when
/// it hears `Connected`.
pub async fn run(
    attach: Attach,
    mut outgoing: mpsc::UnboundedReceiver<Element>,
    events: mpsc::Sender<XmppEvent>,
) {
    let mut backoff = BACKOFF_START;
    let mut keepalives = 0u64;
    loop {
        let timeouts = Timeouts {
            read_timeout: KEEPALIVE * 3,
            response_timeout: KEEPALIVE * 2,
        };
        let attempt = Component::new_plaintext(
            &attach.domain,
            &attach.secret,
            DnsConfig::addr(&attach.server),
            timeouts,
        );
        match tokio::time::timeout(Duration::from_secs(20), attempt).await {
            Ok(Ok(mut component)) => {
                info!(server = %attach.server, domain = %attach.domain, "attached to the XMPP server");
                backoff = BACKOFF_START;
                if events.send(XmppEvent::Connected).await.is_err() {
                    return;
                }
                let mut tick = tokio::time::interval(KEEPALIVE);
                tick.tick().await;
                let reason = loop {
                    tokio::select! {
                        stanza = component.next() => match stanza {
                            Some(stanza) => {
                                if events.send(XmppEvent::Stanza(Element::from(&stanza))).await.is_err() {
                                    return;
                                }
                            }
                            None => break "the stream ended or sent something unreadable".to_owned(),
                        },
                        el = outgoing.recv() => match el {
                            Some(el) => match Stanza::try_from(el) {
                                Ok(stanza) => {
                                    if let Err(e) = component.send_stanza(stanza).await {
                                        break format!("sending failed: {e}");
                                    }
                                }
                                Err(e) => warn!(error = %e, "a stanza the gateway built is not valid; dropped"),
                            },
                            None => {
                                let _ = component.send_end().await;
                                return;
                            }
                        },
                        _ = tick.tick() => {
                            keepalives += 1;
                            if let Ok(ping) = Stanza::try_from(core::keepalive(&attach.domain, keepalives))
                                && let Err(e) = component.send_stanza(ping).await
                            {
                                break format!("keepalive failed: {e}");
                            }
                        }
                    }
                };
                warn!(%reason, "detached from the XMPP server; reconnecting");
                if events.send(XmppEvent::Disconnected(reason)).await.is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                let hint = match &e {
                    tokio_xmpp::Error::Auth(_) => " (the server refused the component secret)",
                    _ => "",
                };
                warn!(server = %attach.server, error = %e, "could not attach to the XMPP server{hint}; retrying in {}s", backoff.as_secs());
            }
            Err(_) => {
                warn!(server = %attach.server, "attaching to the XMPP server timed out; retrying")
            }
        }
        // Detached: drop what was queued meanwhile, wait, try again.
        let until = tokio::time::Instant::now() + backoff;
        loop {
            tokio::select! {
                el = outgoing.recv() => if el.is_none() { return },
                () = tokio::time::sleep_until(until) => break,
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The gateway inside a running node: the core, and the way to the
/// connection task.
pub struct GatewayRun {
    core: core::Gateway,
    to_xmpp: mpsc::UnboundedSender<Element>,
    last_presence_check: std::time::Instant,
    /// Per group shown as a room: the messages already passed on, and the
    /// nick each member has there.
    rooms: HashMap<GroupId, RoomState>,
    /// Where fetched files come back (the connection task's channel).
    events: mpsc::Sender<XmppEvent>,
    fetch_policy: fetch::FetchPolicy,
    /// Fetches under way.
    fetching: usize,
}

#[derive(Default)]
struct RoomState {
    seen: HashSet<(IdentityKey, MessageId)>,
    nicks: HashMap<IdentityKey, String>,
}

/// Setting: `gw/room/<group id>` → the room's local part.
const ROOM_PREFIX: &str = "gw/room/";

/// How many recent messages per user are searched, at start, for texts
/// that never reached XMPP.
const RESUME_WINDOW: usize = 2000;

impl GatewayRun {
    /// Starts the connection task and restores users, subscriptions and the
    /// texts that were on their way to XMPP when the gateway stopped.
    pub fn start(
        settings: &GatewaySettings,
        engine: &mut Engine<RedbStore>,
    ) -> Result<(Self, mpsc::Receiver<XmppEvent>), GatewayError> {
        let attach = Attach::from_settings(settings)?;
        let mut policy = core::Policy::new(attach.domain.clone());
        policy.allow = settings.allow.iter().map(|a| a.to_lowercase()).collect();
        policy.rate_per_minute = settings.rate_per_minute;
        policy.burst = settings.burst;
        let mut core = core::Gateway::new(policy);
        match engine.settings("gw/") {
            Ok(saved) => core.load(&saved, |id| {
                engine.contact(id).map(|c| c.display_name().to_owned())
            }),
            Err(e) => warn!(error = %e, "could not read the gateway's users"),
        }
        // Unbounded on purpose. The node's loop must not wait on the XMPP
        // server, and must not drop a stanza either: texts settle when the
        // server answers a *later* ping, so a dropped text could be
        // confirmed by one. What enters is bounded by its sources — texts
        // from Cairn users (each stored by the engine first, at most the
        // outbox window per user in flight) and answers to XMPP stanzas
        // (rate-limited per sender, `rate_per_minute`/`burst`) — and the
        // task writes them as fast as the server takes them. The one way it
        // grows is a server that accepts the connection and stops reading:
        // the gateway's operator runs that server (docs/GATEWAY.md), and
        // docs/THREAT_MODEL.md lists it among the known limits.
        let (to_xmpp, outgoing) = mpsc::unbounded_channel();
        let (events, from_xmpp) = mpsc::channel(4096);
        let fetch_policy = fetch::FetchPolicy::new(&attach.domain, &settings.files_from);
        tokio::spawn(run(attach, outgoing, events.clone()));
        let mut this = Self {
            core,
            to_xmpp,
            last_presence_check: std::time::Instant::now(),
            rooms: HashMap::new(),
            events,
            fetch_policy,
            fetching: 0,
        };
        let groups: Vec<GroupId> = engine.groups().map(|g| g.id).collect();
        for group in groups {
            this.refresh_room(engine, &group);
        }
        let users: Vec<IdentityKey> = this.core.users().map(|(id, _)| *id).collect();
        let mut resumed = 0;
        for user in users {
            let history = match engine.store().history(&user, Some(RESUME_WINDOW)) {
                Ok(h) => h,
                Err(e) => {
                    warn!(error = %e, "could not read a user's pending texts");
                    continue;
                }
            };
            for record in history {
                if record.direction == Direction::Incoming
                    && record.state == DeliveryState::Received
                    && record.remote.is_some()
                {
                    resumed += 1;
                    let actions = match (&record.file, engine.file(&user, &record.id)) {
                        // A file: uploaded if it is whole, else fetched on.
                        (Some(meta), Some(f))
                            if f.state == cairn_protocol::file::TransferState::Complete =>
                        {
                            this.core.request_slot(
                                user,
                                record.remote.as_deref().unwrap_or_default(),
                                record.id,
                                &meta.name,
                                meta.size,
                                &meta.mime,
                            )
                        }
                        (Some(_), _) => {
                            engine.accept_files_from(crate::timestamp::now(), &user);
                            Vec::new()
                        }
                        (None, _) => {
                            let target = target_of(engine, &record);
                            this.core.on_cairn_text(&record, target)
                        }
                    };
                    this.apply(engine, actions);
                }
            }
        }
        if resumed > 0 {
            info!(
                resumed,
                "texts for XMPP from before the restart will be sent"
            );
        }
        Ok((this, from_xmpp))
    }

    pub fn info(&self) -> crate::api::GatewayInfo {
        crate::api::GatewayInfo {
            enabled: true,
            domain: self.core.domain().to_owned(),
            connected: self.core.connected(),
            users: self
                .core
                .users()
                .map(|(id, address)| format!("{address} ({})", id.short()))
                .collect(),
            rooms: self
                .core
                .rooms()
                .into_iter()
                .map(|(address, name)| format!("{address} ({name})"))
                .collect(),
            unconfirmed: self.core.unconfirmed(),
        }
    }

    pub fn is_user(&self, id: &IdentityKey) -> bool {
        self.core.is_user(id)
    }

    pub fn on_xmpp(&mut self, engine: &mut Engine<RedbStore>, event: XmppEvent) {
        let actions = match event {
            XmppEvent::Connected => self.core.on_connected(),
            XmppEvent::Disconnected(_) => {
                self.core.on_disconnected();
                Vec::new()
            }
            XmppEvent::Stanza(stanza) => self.core.on_stanza(crate::timestamp::now(), &stanza),
            XmppEvent::Fetched(done) => {
                self.fetching = self.fetching.saturating_sub(1);
                self.fetched(engine, *done)
            }
            XmppEvent::Uploaded(done) => self.uploaded(engine, *done),
        };
        self.apply(engine, actions);
    }

    /// Core events that concern the gateway. Returns true when the event was
    /// the gateway's (a signal from one of its users).
    pub fn on_event(&mut self, engine: &mut Engine<RedbStore>, event: &Event) -> bool {
        let actions = match event {
            // A file waits until it is whole (`FileProgress`, below); a
            // user's offers are fetched like a contact's (users write
            // first, so the engine holds them as a stranger's).
            Event::MessageReceived(record)
                if record.remote.is_some()
                    && record.file.is_some()
                    && self.core.is_user(&record.peer) =>
            {
                engine.accept_files_from(crate::timestamp::now(), &record.peer);
                return false;
            }
            Event::MessageReceived(record) | Event::BridgedOp(record)
                if record.remote.is_some() && record.file.is_none() =>
            {
                let target = target_of(engine, record);
                self.core.on_cairn_text(record, target)
            }
            Event::MessageState { peer, id, state }
                if *state >= DeliveryState::Delivered && self.core.is_user(peer) =>
            {
                let mut actions = self.core.on_delivered(peer, id);
                if *state == DeliveryState::Read
                    && let Ok(Some(record)) = engine.store().message(peer, id)
                    && let (Direction::Outgoing, Some(remote)) = (record.direction, &record.remote)
                    && let Ok(Some((foreign, true))) = engine.store().foreign_id(peer, id)
                {
                    actions.extend(self.core.on_read(peer, remote, &foreign));
                }
                actions
            }
            // A user's file for XMPP arrived whole: it goes up with HTTP
            // upload (XEP-0363), then its address to the XMPP contact.
            Event::FileProgress(file)
                if !file.outgoing
                    && file.state == cairn_protocol::file::TransferState::Complete
                    && self.core.is_user(&file.peer) =>
            {
                match engine.store().message(&file.peer, &file.id) {
                    Ok(Some(record)) => match &record.remote {
                        Some(remote) => self.core.request_slot(
                            file.peer,
                            remote,
                            file.id,
                            &file.meta.name,
                            file.meta.size,
                            &file.meta.mime,
                        ),
                        None => return false,
                    },
                    _ => return false,
                }
            }
            Event::GroupChanged { group } => {
                self.refresh_room(engine, group);
                return false;
            }
            Event::Bridge { peer, signal } => {
                let name = engine
                    .contact(peer)
                    .map(|c| c.display_name().to_owned())
                    .unwrap_or_else(|| peer.short());
                let joining = matches!(signal, cairn_protocol::bridge::BridgeSignal::Join { .. });
                let actions = self.core.on_signal(*peer, name, signal.clone());
                self.apply(engine, actions);
                if joining {
                    // Groups this user brought us into before we knew them.
                    let groups: Vec<GroupId> = engine.groups().map(|g| g.id).collect();
                    for group in groups {
                        self.refresh_room(engine, &group);
                    }
                }
                let online = engine.has_link(peer);
                let actions = self.core.set_online(peer, online);
                self.apply(engine, actions);
                return true;
            }
            _ => return false,
        };
        self.apply(engine, actions);
        false
    }

    /// Presence follows whether each user has a session with us; checked at
    /// most once a second.
    pub fn check_presence(&mut self, engine: &mut Engine<RedbStore>) {
        if self.last_presence_check.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_presence_check = std::time::Instant::now();
        let users: Vec<IdentityKey> = self.core.users().map(|(id, _)| *id).collect();
        for user in users {
            let online = engine.has_link(&user);
            let actions = self.core.set_online(&user, online);
            self.apply(engine, actions);
        }
    }

    fn apply(&mut self, engine: &mut Engine<RedbStore>, actions: Vec<core::Action>) {
        let now = crate::timestamp::now();
        for action in actions {
            match action {
                core::Action::Send(stanza) => {
                    let _ = self.to_xmpp.send(stanza);
                }
                core::Action::ToCairn {
                    user,
                    remote,
                    text,
                    receipt,
                    foreign,
                    markable,
                    op,
                    sender,
                } => {
                    let op = match op.map(|r| resolve(engine, &user, &remote, &r)) {
                        None => None,
                        Some(Ok(op)) => Some(op),
                        Some(Err(why)) => {
                            let refusal = self.refusal(
                                &user,
                                &sender,
                                receipt.as_ref(),
                                foreign.as_deref(),
                                "item-not-found",
                                why,
                            );
                            self.apply(engine, refusal);
                            continue;
                        }
                    };
                    let id = match &foreign {
                        Some(f) => engine.store().bridged_id(&user, &remote, f),
                        None => MessageId(rand::random()),
                    };
                    // A message others can refer to later: its XMPP id is
                    // kept before it is queued.
                    if let (Some(f), false) = (&foreign, op.is_some_and(|o| o.kind.is_change()))
                        && let Err(e) = engine.store().put_foreign_id(&user, &id, f, markable)
                    {
                        warn!(error = %e, "could not index a message from XMPP");
                    }
                    match engine.send_bridged(now, &user, &remote, id, op, &text) {
                        Ok(id) => self.core.queued(user, id, receipt),
                        Err(EngineError::Duplicate) => {
                            tracing::debug!("a message from XMPP passed on before came again")
                        }
                        Err(e) => {
                            warn!(user = %user.short(), error = %e, "a text from XMPP could not be queued")
                        }
                    }
                }
                core::Action::FetchFile {
                    user,
                    remote,
                    url,
                    receipt,
                    foreign,
                    markable,
                    sender,
                } => {
                    let refused =
                        self.fetch_policy.check(&url).err().or((self.fetching
                            >= fetch::MAX_FETCHES)
                            .then_some("the gateway is fetching other files; send it again later"));
                    if let Some(why) = refused {
                        info!(%why, "a file shared from XMPP was not fetched");
                        let refusal = self.refusal(
                            &user,
                            &sender,
                            receipt.as_ref(),
                            foreign.as_deref(),
                            "not-acceptable",
                            why,
                        );
                        self.apply(engine, refusal);
                        continue;
                    }
                    self.fetching += 1;
                    let events = self.events.clone();
                    tokio::spawn(async move {
                        let result = tokio::task::spawn_blocking(move || fetch::fetch(&url))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                        let done = FetchDone {
                            user,
                            remote,
                            receipt,
                            foreign,
                            markable,
                            sender,
                            result,
                        };
                        let _ = events.send(XmppEvent::Fetched(Box::new(done))).await;
                    });
                }
                core::Action::Upload {
                    user,
                    id,
                    put,
                    headers,
                    get,
                } => {
                    let (data, mime) = match (engine.file_data(&user, &id), engine.file(&user, &id))
                    {
                        (Ok(Some(data)), Some(f)) => (data, f.meta.mime.clone()),
                        _ => {
                            warn!("a file for XMPP was gone before its upload");
                            continue;
                        }
                    };
                    let events = self.events.clone();
                    tokio::spawn(async move {
                        let result = tokio::task::spawn_blocking(move || {
                            fetch::upload(&put, &headers, &mime, &data)
                        })
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                        let done = UploadDone {
                            user,
                            id,
                            get,
                            result,
                        };
                        let _ = events.send(XmppEvent::Uploaded(Box::new(done))).await;
                    });
                }
                core::Action::Signal { user, signal } => {
                    engine.send_bridge(now, &user, signal);
                }
                core::Action::Settle { user, id } => engine.settle(&user, &id),
                core::Action::ToGroup {
                    group,
                    nick,
                    text,
                    stanza_id,
                } => match engine.group_send_bridged(now, &group, &nick, &text) {
                    Ok(id) => self.core.room_posted(&group, id, stanza_id),
                    Err(e) => {
                        warn!(%group, error = %e, "a room's message could not be posted to its group")
                    }
                },
                core::Action::PutSetting(key, value) => engine.put_setting(&key, value),
                core::Action::DeleteSetting(key) => engine.delete_setting(&key),
            }
        }
    }

    /// An upload ended: the XMPP contact gets the file's address, or the
    /// user is told why not.
    fn uploaded(&mut self, engine: &mut Engine<RedbStore>, done: UploadDone) -> Vec<core::Action> {
        let Ok(Some(mut record)) = engine.store().message(&done.user, &done.id) else {
            return Vec::new();
        };
        let Some(remote) = record.remote.clone() else {
            return Vec::new();
        };
        match done.result {
            Ok(()) => {
                record.text = done.get;
                self.core.on_cairn_text(&record, None)
            }
            Err(why) => {
                info!(%why, "a file for XMPP could not be uploaded");
                self.core.upload_failed(done.user, &remote, done.id, &why)
            }
        }
    }

    /// The error answer to what `sender` sent `user` (named by the stanza
    /// id its receipt request, or else its own id, gave).
    fn refusal(
        &self,
        user: &IdentityKey,
        sender: &str,
        receipt: Option<&(String, String)>,
        foreign: Option<&str>,
        condition: &str,
        why: &str,
    ) -> Vec<core::Action> {
        let stanza_id = receipt.map(|(_, id)| id.as_str());
        self.core
            .refuse(user, sender, stanza_id.or(foreign), condition, why)
            .into_iter()
            .collect()
    }

    /// A file shared from XMPP came back from its fetch: passed on to the
    /// user as a file from its sender, or the sender is told why not.
    fn fetched(&mut self, engine: &mut Engine<RedbStore>, done: FetchDone) -> Vec<core::Action> {
        let FetchDone {
            user,
            remote,
            receipt,
            foreign,
            markable,
            sender,
            result,
        } = done;
        let file = match result {
            Ok(file) => file,
            Err(e) => {
                info!(error = %e, "a file shared from XMPP could not be fetched");
                let why = format!("the gateway could not fetch the file: {e}");
                return self.refusal(
                    &user,
                    &sender,
                    receipt.as_ref(),
                    foreign.as_deref(),
                    "not-acceptable",
                    &why,
                );
            }
        };
        let now = crate::timestamp::now();
        let id = match &foreign {
            Some(f) => engine.store().bridged_id(&user, &remote, f),
            None => MessageId(rand::random()),
        };
        if let Some(f) = &foreign
            && let Err(e) = engine.store().put_foreign_id(&user, &id, f, markable)
        {
            warn!(error = %e, "could not index a file from XMPP");
        }
        match engine.send_bridged_file(now, &user, &remote, id, &file.name, &file.mime, &file.data)
        {
            Ok(id) => {
                self.core.queued(user, id, receipt);
                Vec::new()
            }
            Err(EngineError::Duplicate) => Vec::new(),
            Err(e) => {
                warn!(user = %user.short(), error = %e, "a file from XMPP could not be queued");
                self.refusal(
                    &user,
                    &sender,
                    receipt.as_ref(),
                    foreign.as_deref(),
                    "not-acceptable",
                    &e.to_string(),
                )
            }
        }
    }

    /// Brings a group's room up to what the group holds: opens it (the
    /// first time with a notice to the group's members), shows who is in it,
    /// passes on new messages, or closes it when we are no longer a member.
    fn refresh_room(&mut self, engine: &mut Engine<RedbStore>, id: &GroupId) {
        let me = engine.identity_key();
        let Some(group) = engine.group(id) else {
            return;
        };
        // Only groups a user of the gateway brought it into are bridged: a
        // stranger cannot make the gateway expose a group of theirs.
        let brought_by_user = group
            .members()
            .into_iter()
            .find(|m| m.identity == me)
            .and_then(|m| m.added_by)
            .is_some_and(|by| self.core.is_user(&by));
        if group.left || !group.doc.is_member(&me) || !brought_by_user {
            if self.rooms.remove(id).is_some() {
                let actions = self.core.close_room(id);
                self.apply(engine, actions);
            }
            return;
        }
        let name = group.name();
        // Nicks: members' names, made unique; the gateway itself is not shown.
        let mut nicks: HashMap<IdentityKey, String> = HashMap::new();
        let mut members: BTreeMap<String, bool> = BTreeMap::new();
        for m in group.members() {
            if m.identity == me {
                continue;
            }
            let base = engine
                .contact(&m.identity)
                .map(|c| c.card.name().to_owned())
                .unwrap_or(m.name)
                .trim()
                .to_owned();
            let base = if base.is_empty() {
                m.identity.short()
            } else {
                base
            };
            let nick = if members.keys().any(|n| n.eq_ignore_ascii_case(&base)) {
                format!("{base} ({})", &m.identity.short()[..6])
            } else {
                base
            };
            members.insert(nick.clone(), m.role == cairn_protocol::group::Role::Admin);
            nicks.insert(m.identity, nick);
        }
        let messages = group.messages();
        let spec = muc::RoomSpec {
            group: *id,
            name: name.clone(),
            members,
        };
        let line_of =
            |m: &GroupMessage, nicks: &HashMap<IdentityKey, String>| -> Option<muc::Line> {
                if m.bridged_as.is_some() {
                    return None; // notices are for the Cairn side
                }
                let author = nicks.get(&m.author).cloned();
                let nick = match (&m.via, author) {
                    (Some(via), _) if m.author == me => via.clone(),
                    (Some(via), Some(a)) => format!("{via} (via {a})"),
                    (None, Some(a)) => a,
                    (_, None) => return None, // by a former member, or us
                };
                Some(muc::Line {
                    nick,
                    id: m.id,
                    text: m.text.clone(),
                    at: m.sent_at,
                })
            };
        match self.rooms.get_mut(id) {
            None => {
                let saved = engine
                    .settings(&format!("{ROOM_PREFIX}{id}"))
                    .ok()
                    .and_then(|s| s.into_iter().next())
                    .map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
                let local = match saved {
                    Some(local) => local,
                    None => {
                        let local = self.core.room_local_for(&name, id);
                        engine
                            .put_setting(&format!("{ROOM_PREFIX}{id}"), local.as_bytes().to_vec());
                        let address = format!("{local}@{}", self.core.domain());
                        let notice = format!(
                            "This group is bridged to XMPP as {address}: people on XMPP \
                             (Conversations, Gajim, Dino…) can join it there. What is written \
                             here passes through this gateway and is only as private as XMPP."
                        );
                        if let Err(e) = engine.group_bridge_notice(
                            crate::timestamp::now(),
                            id,
                            &address,
                            &notice,
                        ) {
                            warn!(group = %id, error = %e, "could not tell the group it is bridged");
                        }
                        local
                    }
                };
                let history: Vec<muc::Line> = messages
                    .iter()
                    .rev()
                    .filter_map(|m| line_of(m, &nicks))
                    .take(muc::HISTORY)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let state = RoomState {
                    seen: messages.iter().map(|m| (m.author, m.id)).collect(),
                    nicks,
                };
                self.rooms.insert(*id, state);
                let actions = self.core.set_room(&local, spec, history);
                self.apply(engine, actions);
            }
            Some(state) => {
                state.nicks = nicks;
                let fresh: Vec<muc::Line> = messages
                    .iter()
                    .filter(|m| state.seen.insert((m.author, m.id)))
                    .filter_map(|m| line_of(m, &state.nicks))
                    .collect();
                let Some(local) = self.core.room_of(id).map(str::to_owned) else {
                    return;
                };
                let mut actions = self.core.set_room(&local, spec, Vec::new());
                for line in fresh {
                    actions.extend(self.core.room_line(id, line));
                }
                self.apply(engine, actions);
            }
        }
    }
}

/// The message a user's operation for XMPP (`record`) is about, as XMPP
/// knows it: the user's own under its Cairn id, one from XMPP under the id
/// it came with. `None` when it is not a message of that conversation or
/// came without an id.
fn target_of(engine: &Engine<RedbStore>, record: &MessageRecord) -> Option<Target> {
    let op = record.op?;
    let target = engine.store().message(&record.peer, &op.target).ok()??;
    if target.remote != record.remote {
        return None;
    }
    let quote = if target.changes.deleted || target.file.is_some() {
        String::new()
    } else {
        target.text.clone()
    };
    match target.direction {
        // The gateway received it from the user: theirs.
        Direction::Incoming => Some(Target {
            id: target.id.to_string(),
            author: String::new(),
            quote,
        }),
        Direction::Outgoing => {
            let (id, _) = engine.store().foreign_id(&record.peer, &target.id).ok()??;
            Some(Target {
                id,
                author: target.remote?,
                quote,
            })
        }
    }
}

/// The Cairn message an operation from `remote` on XMPP is about: one of
/// the user's (named by its Cairn id) or one `remote` sent (named by its
/// XMPP id). Edits and retractions only of `remote`'s own.
fn resolve(
    engine: &Engine<RedbStore>,
    user: &IdentityKey,
    remote: &str,
    reference: &Reference,
) -> Result<MessageOp, &'static str> {
    let found = |id: &MessageId| {
        engine
            .store()
            .message(user, id)
            .ok()
            .flatten()
            .filter(|m| m.remote.as_deref() == Some(remote))
    };
    let users_own = reference
        .of
        .parse::<MessageId>()
        .ok()
        .and_then(|id| found(&id))
        .filter(|m| m.direction == Direction::Incoming);
    let target = match users_own {
        Some(m) => m,
        None => found(&engine.store().bridged_id(user, remote, &reference.of))
            .ok_or("no message with that id in this conversation")?,
    };
    if matches!(reference.kind, OpKind::Edit | OpKind::Delete)
        && target.direction != Direction::Outgoing
    {
        return Err("only its author can correct or retract a message");
    }
    Ok(MessageOp {
        kind: reference.kind,
        target: target.id,
    })
}
