//! The gateway's logic, without I/O: stanzas from the XMPP server and facts
//! from the Cairn side go in, stanzas and Cairn actions come out. The runtime
//! ([`super`]) connects it to the component stream and the engine; the fuzz
//! target drives [`Gateway::on_stanza`] with arbitrary XML.
//!
//! Addresses: a Cairn user who joined is `LOCAL@DOMAIN`, where LOCAL is the
//! alias they asked for (lower-cased, escaped per XEP-0106) or else their
//! Cairn id. XMPP users are bare JIDs on the Cairn side.

use std::collections::{BTreeSet, HashMap, VecDeque};

use cairn_protocol::bridge::{BridgeSignal, ChatState, MAX_ALIAS_LEN, validate_remote};
use cairn_protocol::message::OpKind;
use cairn_protocol::payload::MAX_TEXT_LEN;
use cairn_protocol::{GroupId, IdentityKey, MessageId, MessageRecord, Time};
use tokio_xmpp::minidom::Element;
use tracing::{debug, info};

use super::extensions::{self, Target};
use super::muc::{self, Line, RoomSpec, Rooms};
pub use super::stanza::{
    Action, NS_CLIENT, bare_jid, build, error_reply, esc, escape_local, unescape_local,
};
use super::stanza::{NS_STANZAS, split_local};

const NS_RECEIPTS: &str = "urn:xmpp:receipts";
const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const NS_PING: &str = "urn:xmpp:ping";
const NS_VERSION: &str = "jabber:iq:version";
const NS_VCARD: &str = "vcard-temp";
const NS_NICK: &str = "http://jabber.org/protocol/nick";
/// The resource Cairn users appear with.
pub const RESOURCE: &str = "cairn";

/// Setting keys: `gw/user/<id>` → alias; `gw/sub/<id>/<jid>` → empty.
const USER_PREFIX: &str = "gw/user/";
const SUB_PREFIX: &str = "gw/sub/";
/// The local part a user was given, kept so a restart cannot hand it to
/// someone else (settings order would otherwise decide).
const LOCAL_PREFIX: &str = "gw/local/";

/// What the operator decides.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The component's domain, e.g. `cairn.example.org`.
    pub domain: String,
    /// Who on XMPP may write to Cairn users: domains (`example.org`, which
    /// includes subdomains) or bare JIDs. Empty: everyone.
    pub allow: Vec<String>,
    /// Messages and subscription requests per minute per XMPP account.
    pub rate_per_minute: u32,
    /// How many may come at once before the rate applies.
    pub burst: u32,
}

impl Policy {
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            allow: Vec::new(),
            rate_per_minute: 120,
            burst: 30,
        }
    }

    fn allows(&self, bare: &str) -> bool {
        if self.allow.is_empty() {
            return true;
        }
        let domain = bare.rsplit('@').next().unwrap_or(bare);
        self.allow.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            if a.contains('@') {
                a == bare
            } else {
                domain == a || domain.ends_with(&format!(".{a}"))
            }
        })
    }
}

#[derive(Debug)]
struct User {
    local: String,
    alias: String,
    name: String,
    online: bool,
    /// Bare JIDs that see this user's presence.
    subscribers: BTreeSet<String>,
}

struct Bucket {
    tokens: f64,
    at: Time,
}

/// A text on its way to XMPP: kept until the server has certainly taken it.
struct Outgoing {
    user: IdentityKey,
    id: MessageId,
    stanza: Element,
}

pub struct Gateway {
    policy: Policy,
    users: HashMap<IdentityKey, User>,
    by_local: HashMap<String, IdentityKey>,
    buckets: HashMap<String, Bucket>,
    connected: bool,
    /// Sent (or waiting for a connection), not yet confirmed.
    unconfirmed: VecDeque<Outgoing>,
    /// The marker ping in flight and what it confirms.
    marker: Option<(String, Vec<Outgoing>)>,
    next_marker: u64,
    /// Where to send XEP-0184 receipts once a Cairn user has a message.
    receipts: HashMap<(IdentityKey, MessageId), (String, String)>,
    /// Last presence each XMPP contact showed each user: (available, status).
    remote_presence: HashMap<(IdentityKey, String), (bool, String)>,
    /// Groups the gateway is in, as rooms.
    rooms: Rooms,
    /// Files from Cairn users waiting for an upload slot: iq id → file.
    slots: HashMap<String, SlotWait>,
    /// The server's HTTP upload service (XEP-0363).
    pub upload_service: String,
}

/// A Cairn user's file waiting for its HTTP upload slot.
struct SlotWait {
    user: IdentityKey,
    remote: String,
    id: MessageId,
    /// The request, sent again after a reconnection.
    stanza: Element,
}

/// Files waiting for a slot at once; more are bounced until one is given.
const MAX_SLOT_WAITS: usize = 64;
const NS_UPLOAD: &str = "urn:xmpp:http:upload:0";

/// Most buckets kept; beyond this, full ones are forgotten.
const MAX_BUCKETS: usize = 10_000;
const MAX_RECEIPTS: usize = 100_000;

impl Gateway {
    pub fn new(policy: Policy) -> Self {
        Self {
            rooms: Rooms::new(&policy.domain),
            slots: HashMap::new(),
            upload_service: format!("upload.{}", parent_domain(&policy.domain)),
            policy,
            users: HashMap::new(),
            by_local: HashMap::new(),
            buckets: HashMap::new(),
            connected: false,
            unconfirmed: VecDeque::new(),
            marker: None,
            next_marker: 0,
            receipts: HashMap::new(),
            remote_presence: HashMap::new(),
        }
    }

    pub fn domain(&self) -> &str {
        &self.policy.domain
    }

    /// Restores users and subscriptions from settings. `name` gives a
    /// user's display name.
    pub fn load(
        &mut self,
        settings: &[(String, Vec<u8>)],
        name: impl Fn(&IdentityKey) -> Option<String>,
    ) {
        let kept: HashMap<IdentityKey, String> = settings
            .iter()
            .filter_map(|(key, value)| {
                let user = key.strip_prefix(LOCAL_PREFIX)?.parse().ok()?;
                Some((user, String::from_utf8_lossy(value).into_owned()))
            })
            .collect();
        let mut joined: Vec<(IdentityKey, String)> = settings
            .iter()
            .filter_map(|(key, value)| {
                let user = key.strip_prefix(USER_PREFIX)?.parse().ok()?;
                Some((user, String::from_utf8_lossy(value).into_owned()))
            })
            .collect();
        // Those whose address was kept get it back first; the rest (stored
        // before addresses were kept) are resolved after them.
        joined.sort_by_key(|(user, _)| !kept.contains_key(user));
        for (user, alias) in joined {
            let display = name(&user).unwrap_or_else(|| user.short());
            let local = kept.get(&user).filter(|l| self.free_for(l, &user)).cloned();
            match local {
                Some(local) => self.insert_user(user, &alias, display, local),
                None => {
                    self.register(user, &alias, display);
                }
            }
        }
        for (key, _) in settings {
            if let Some(rest) = key.strip_prefix(SUB_PREFIX)
                && let Some((id, jid)) = rest.split_once('/')
                && let Ok(user) = id.parse::<IdentityKey>()
                && let Some(u) = self.users.get_mut(&user)
            {
                u.subscribers.insert(jid.to_owned());
            }
        }
    }

    /// The users who joined.
    pub fn users(&self) -> impl Iterator<Item = (&IdentityKey, String)> {
        self.users
            .iter()
            .map(|(id, u)| (id, format!("{}@{}", u.local, self.policy.domain)))
    }

    pub fn is_user(&self, id: &IdentityKey) -> bool {
        self.users.contains_key(id)
    }

    /// Gives `user` the local part its alias asks for, or its own id when
    /// that is taken. Id-shaped local parts are reserved for their owners,
    /// so the fallback never collides (THREAT_MODEL.md, "Attacks tried" 4).
    fn register(&mut self, user: IdentityKey, alias: &str, name: String) -> String {
        if let Some(old) = self.users.remove(&user) {
            self.by_local.remove(&old.local);
        }
        let wanted = escape_local(&alias.trim().to_lowercase());
        let local = if !alias.trim().is_empty() && self.free_for(&wanted, &user) {
            wanted
        } else {
            user.to_string()
        };
        self.insert_user(user, alias, name, local.clone());
        format!("{local}@{}", self.policy.domain)
    }

    /// Whether `local` may be `user`'s: not another user's or a room's, and
    /// not shaped like someone else's id.
    fn free_for(&self, local: &str, user: &IdentityKey) -> bool {
        let id_shaped =
            local.parse::<IdentityKey>().is_ok() || local.len() == user.to_string().len();
        self.by_local.get(local).is_none_or(|u| u == user)
            && !self.rooms.is_room(local)
            && (!id_shaped || local == user.to_string())
    }

    fn insert_user(&mut self, user: IdentityKey, alias: &str, name: String, local: String) {
        if let Some(old) = self.users.remove(&user) {
            self.by_local.remove(&old.local);
        }
        self.by_local.insert(local.clone(), user);
        self.users.insert(
            user,
            User {
                local,
                alias: alias.to_owned(),
                name,
                online: false,
                subscribers: BTreeSet::new(),
            },
        );
    }

    fn jid_of(&self, user: &IdentityKey) -> Option<String> {
        self.users
            .get(user)
            .map(|u| format!("{}@{}", u.local, self.policy.domain))
    }

    // ---- rooms -----------------------------------------------------------

    /// The room address a group gets: its name made into a local part, or
    /// with the group's id added when a user or another room has that one.
    pub fn room_local_for(&self, name: &str, group: &GroupId) -> String {
        let slug: String = name
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_whitespace() { '-' } else { c })
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(48)
            .collect();
        let slug = if slug.is_empty() {
            "group".to_owned()
        } else {
            slug
        };
        if self.by_local.contains_key(&slug) || self.rooms.is_room(&slug) {
            format!("{slug}-{}", &group.to_string()[..8])
        } else {
            slug
        }
    }

    /// The local part of a group's room, if it has one.
    pub fn room_of(&self, group: &GroupId) -> Option<&str> {
        self.rooms.local_of(group)
    }

    /// Shows a group as the room `local` (new, or brought up to date).
    pub fn set_room(&mut self, local: &str, spec: RoomSpec, history: Vec<Line>) -> Vec<Action> {
        self.rooms.set(local, spec, history, self.connected)
    }

    /// The gateway left a group: its room closes.
    pub fn close_room(&mut self, group: &GroupId) -> Vec<Action> {
        self.rooms.remove(group, self.connected)
    }

    /// A post from a room went into its group as `id`.
    pub fn room_posted(&mut self, group: &GroupId, id: MessageId, stanza_id: String) {
        self.rooms.posted(group, id, stanza_id);
    }

    /// A line written in a group (committed): to the room's occupants.
    pub fn room_line(&mut self, group: &GroupId, line: Line) -> Vec<Action> {
        self.rooms.line(group, line, self.connected)
    }

    /// Rooms: (address, name).
    pub fn rooms(&self) -> Vec<(String, String)> {
        self.rooms.list()
    }

    /// XMPP users in a group's room, by nick.
    pub fn room_occupants(&self, group: &GroupId) -> Vec<String> {
        self.rooms.occupants(group)
    }

    // ---- the XMPP connection ------------------------------------------

    /// The component is attached: presence for who is online, then every
    /// text not yet confirmed, again.
    pub fn on_connected(&mut self) -> Vec<Action> {
        self.connected = true;
        let mut out = Vec::new();
        let ids: Vec<IdentityKey> = self.users.keys().copied().collect();
        for id in ids {
            self.broadcast_presence(&id, &mut out);
        }
        if let Some((_, items)) = self.marker.take() {
            for item in items.into_iter().rev() {
                self.unconfirmed.push_front(item);
            }
        }
        out.extend(
            self.unconfirmed
                .iter()
                .map(|o| Action::Send(o.stanza.clone())),
        );
        // Upload slots asked for while away, or never answered.
        out.extend(self.slots.values().map(|w| Action::Send(w.stanza.clone())));
        self.push_marker(&mut out);
        out
    }

    pub fn on_disconnected(&mut self) {
        self.connected = false;
        if let Some((_, items)) = self.marker.take() {
            for item in items.into_iter().rev() {
                self.unconfirmed.push_front(item);
            }
        }
    }

    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Texts on their way to XMPP, not yet confirmed by the server.
    pub fn unconfirmed(&self) -> usize {
        self.unconfirmed.len() + self.marker.as_ref().map_or(0, |(_, v)| v.len())
    }

    /// Asks the server for a reply that can only come after it handled
    /// every stanza sent so far: the texts before it are then settled.
    fn push_marker(&mut self, out: &mut Vec<Action>) {
        if !self.connected || self.marker.is_some() || self.unconfirmed.is_empty() {
            return;
        }
        self.next_marker += 1;
        let id = format!("cairn-marker-{}", self.next_marker);
        let server = parent_domain(&self.policy.domain);
        out.push(Action::Send(iq_ping(&self.policy.domain, server, &id)));
        self.marker = Some((id, self.unconfirmed.drain(..).collect()));
    }

    // ---- from the Cairn side --------------------------------------------

    /// A Cairn user wrote to an XMPP address (the record is stored): a text,
    /// or an operation on `target` (the message it is about, as XMPP knows
    /// it, with an empty `author` for the user's own; `None` when it cannot
    /// be named there).
    pub fn on_cairn_text(&mut self, record: &MessageRecord, target: Option<Target>) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(remote) = record.remote.as_deref() else {
            return out;
        };
        let user = record.peer;
        let Some(from) = self.jid_of(&user).map(|j| format!("{j}/{RESOURCE}")) else {
            out.push(bounce(user, remote, record.id, "join the gateway first"));
            out.push(Action::Settle {
                user,
                id: record.id,
            });
            return out;
        };
        let Some(to) = bare_jid(remote) else {
            out.push(bounce(user, remote, record.id, "not an XMPP address"));
            out.push(Action::Settle {
                user,
                id: record.id,
            });
            return out;
        };
        if !self.policy.allows(&to) {
            out.push(bounce(
                user,
                remote,
                record.id,
                "this gateway does not reach that address",
            ));
            out.push(Action::Settle {
                user,
                id: record.id,
            });
            return out;
        }
        let inner = match (record.op, target) {
            // A file, uploaded: its address as the body and as XEP-0066
            // out-of-band data (how XMPP clients show a file inline).
            (None, _) if record.file.is_some() => format!(
                "<body>{url}</body><x xmlns='{}'><url>{url}</url></x>\
                 <request xmlns='{NS_RECEIPTS}'/><markable xmlns='{}'/>",
                extensions::NS_OOB,
                extensions::NS_MARKERS,
                url = esc(&record.text),
            ),
            (None, _) => format!(
                "<body>{}</body><request xmlns='{NS_RECEIPTS}'/><active xmlns='{NS_CHATSTATES}'/>\
                 <markable xmlns='{}'/>",
                esc(&record.text),
                extensions::NS_MARKERS
            ),
            (Some(op), _) if op.kind == OpKind::Timer => {
                out.push(bounce(
                    user,
                    remote,
                    record.id,
                    "disappearing messages do not reach XMPP",
                ));
                out.push(Action::Settle {
                    user,
                    id: record.id,
                });
                return out;
            }
            (Some(op), Some(mut target)) => {
                if target.author.is_empty() {
                    target.author = from.split('/').next().unwrap_or_default().to_owned();
                }
                let request = if op.kind == OpKind::Reply {
                    format!("<request xmlns='{NS_RECEIPTS}'/>")
                } else {
                    String::new()
                };
                format!(
                    "{}{request}",
                    extensions::elements(op.kind, &target, &record.text)
                )
            }
            (Some(_), None) => {
                out.push(bounce(
                    user,
                    remote,
                    record.id,
                    "that message cannot be named on XMPP",
                ));
                out.push(Action::Settle {
                    user,
                    id: record.id,
                });
                return out;
            }
        };
        let stanza = build(&format!(
            "<message xmlns='{NS_CLIENT}' type='chat' from='{}' to='{}' id='{id}'>\
             <origin-id xmlns='{}' id='{id}'/>{inner}</message>",
            esc(&from),
            esc(&to),
            extensions::NS_SID,
            id = record.id,
        ));
        let Some(stanza) = stanza else {
            out.push(bounce(
                user,
                remote,
                record.id,
                "the text cannot go into XML",
            ));
            out.push(Action::Settle {
                user,
                id: record.id,
            });
            return out;
        };
        if self.connected {
            out.push(Action::Send(stanza.clone()));
        }
        self.unconfirmed.push_back(Outgoing {
            user,
            id: record.id,
            stanza,
        });
        self.push_marker(&mut out);
        out
    }

    /// A Cairn user's file for `remote` arrived whole: ask the server for an
    /// HTTP upload slot (XEP-0363) in the user's name. The upload and the
    /// message with its address follow ([`Gateway::on_uploaded`]).
    #[allow(clippy::too_many_arguments)]
    pub fn request_slot(
        &mut self,
        user: IdentityKey,
        remote: &str,
        id: MessageId,
        name: &str,
        size: u64,
        mime: &str,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let refuse = |out: &mut Vec<Action>, why: &str| {
            out.push(bounce(user, remote, id, why));
            out.push(Action::Settle { user, id });
        };
        let Some(from) = self.jid_of(&user).map(|j| format!("{j}/{RESOURCE}")) else {
            refuse(&mut out, "join the gateway first");
            return out;
        };
        let Some(to) = bare_jid(remote) else {
            refuse(&mut out, "not an XMPP address");
            return out;
        };
        if !self.policy.allows(&to) {
            refuse(&mut out, "this gateway does not reach that address");
            return out;
        }
        if self.slots.len() >= MAX_SLOT_WAITS {
            refuse(
                &mut out,
                "the gateway is uploading other files; send it again later",
            );
            return out;
        }
        let iq_id = format!("slot-{id}");
        let stanza = build(&format!(
            "<iq xmlns='{NS_CLIENT}' type='get' from='{}' to='{}' id='{}'>             <request xmlns='{NS_UPLOAD}' filename='{}' size='{size}' content-type='{}'/></iq>",
            esc(&from),
            esc(&self.upload_service),
            esc(&iq_id),
            esc(name),
            esc(mime),
        ));
        let Some(stanza) = stanza else {
            refuse(&mut out, "the file's name cannot go into XML");
            return out;
        };
        // Not connected: sent once the server is back (`on_connected`).
        if self.connected {
            out.push(Action::Send(stanza.clone()));
        }
        self.slots.insert(
            iq_id,
            SlotWait {
                user,
                remote: remote.to_owned(),
                id,
                stanza,
            },
        );
        out
    }

    /// The upload service answered a slot request (`result` or `error`).
    fn on_slot(&mut self, stanza: &Element, wait: SlotWait, out: &mut Vec<Action>) {
        let SlotWait {
            user, remote, id, ..
        } = wait;
        let slot = stanza.get_child("slot", NS_UPLOAD);
        let put = slot.and_then(|s| s.get_child("put", NS_UPLOAD));
        let get = slot
            .and_then(|s| s.get_child("get", NS_UPLOAD))
            .and_then(|g| g.attr("url"));
        match (stanza.attr("type"), put.and_then(|p| p.attr("url")), get) {
            (Some("result"), Some(put_url), Some(get_url)) => {
                // Only the headers XEP-0363 lets a slot ask for.
                let headers = put
                    .into_iter()
                    .flat_map(|p| p.children())
                    .filter(|h| h.is("header", NS_UPLOAD))
                    .filter_map(|h| {
                        let name = h.attr("name")?;
                        ["Authorization", "Cookie", "Expires"]
                            .iter()
                            .any(|n| n.eq_ignore_ascii_case(name))
                            .then(|| (name.to_owned(), h.text().replace(['\r', '\n'], "")))
                    })
                    .collect();
                out.push(Action::Upload {
                    user,
                    id,
                    put: put_url.to_owned(),
                    headers,
                    get: get_url.to_owned(),
                });
            }
            _ => {
                let why = stanza
                    .get_child("error", NS_CLIENT)
                    .and_then(|e| {
                        e.children()
                            .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
                    })
                    .map(|c| format!("the XMPP server refused the upload ({})", c.name()))
                    .unwrap_or_else(|| "the XMPP server gave no upload slot".to_owned());
                out.push(bounce(user, &remote, id, &why));
                out.push(Action::Settle { user, id });
            }
        }
    }

    /// An upload failed: the user is told, the file is settled.
    pub fn upload_failed(
        &mut self,
        user: IdentityKey,
        remote: &str,
        id: MessageId,
        why: &str,
    ) -> Vec<Action> {
        vec![
            bounce(user, remote, id, &format!("the upload failed: {why}")),
            Action::Settle { user, id },
        ]
    }

    /// A Cairn user's signal.
    pub fn on_signal(
        &mut self,
        user: IdentityKey,
        name: String,
        signal: BridgeSignal,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        match signal {
            BridgeSignal::Join { alias } => {
                let alias: String = alias.chars().take(MAX_ALIAS_LEN).collect();
                let same = self.users.get(&user).is_some_and(|u| u.alias == alias);
                let address = if same {
                    let u = self.users.get_mut(&user).map(|u| {
                        u.name = name;
                        u.local.clone()
                    });
                    format!("{}@{}", u.unwrap_or_default(), self.policy.domain)
                } else {
                    let subscribers = self
                        .users
                        .get(&user)
                        .map(|u| u.subscribers.clone())
                        .unwrap_or_default();
                    let address = self.register(user, &alias, name);
                    if let Some(u) = self.users.get_mut(&user) {
                        u.subscribers = subscribers;
                    }
                    out.push(Action::PutSetting(
                        format!("{USER_PREFIX}{user}"),
                        alias.into_bytes(),
                    ));
                    info!(user = %user.short(), "a Cairn user joined the gateway");
                    address
                };
                if let Some(u) = self.users.get(&user) {
                    out.push(Action::PutSetting(
                        format!("{LOCAL_PREFIX}{user}"),
                        u.local.clone().into_bytes(),
                    ));
                }
                out.push(Action::Signal {
                    user,
                    signal: BridgeSignal::Welcome { address },
                });
                // What their XMPP contacts showed while they were away.
                for ((u, remote), (available, status)) in &self.remote_presence {
                    if *u == user {
                        out.push(Action::Signal {
                            user,
                            signal: BridgeSignal::Presence {
                                remote: remote.clone(),
                                available: *available,
                                status: status.clone(),
                            },
                        });
                    }
                }
            }
            BridgeSignal::Leave => {
                if let Some(u) = self.users.remove(&user) {
                    self.by_local.remove(&u.local);
                    let from = format!("{}@{}/{RESOURCE}", u.local, self.policy.domain);
                    for sub in &u.subscribers {
                        if self.connected {
                            out.extend(build_presence(&from, sub, Some("unavailable"), None));
                        }
                        out.push(Action::DeleteSetting(format!("{SUB_PREFIX}{user}/{sub}")));
                    }
                    out.push(Action::DeleteSetting(format!("{USER_PREFIX}{user}")));
                    out.push(Action::DeleteSetting(format!("{LOCAL_PREFIX}{user}")));
                    info!(user = %user.short(), "a Cairn user left the gateway");
                }
            }
            BridgeSignal::Subscribe { remote, name } => {
                let (Some(jid), Some(to)) = (self.jid_of(&user), bare_jid(&remote)) else {
                    return out;
                };
                if self.connected && self.policy.allows(&to) {
                    let nick = (!name.is_empty())
                        .then(|| format!("<nick xmlns='{NS_NICK}'>{}</nick>", esc(&name)));
                    out.extend(
                        build(&format!(
                            "<presence xmlns='{NS_CLIENT}' type='subscribe' from='{}' to='{}'>{}</presence>",
                            esc(&jid),
                            esc(&to),
                            nick.unwrap_or_default()
                        ))
                        .map(Action::Send),
                    );
                }
            }
            BridgeSignal::ChatState { remote, state } => {
                let (Some(jid), Some(to)) = (self.jid_of(&user), bare_jid(&remote)) else {
                    return out;
                };
                if self.connected && self.policy.allows(&to) {
                    out.extend(
                        build(&format!(
                            "<message xmlns='{NS_CLIENT}' type='chat' from='{}/{RESOURCE}' to='{}'>\
                             <{} xmlns='{NS_CHATSTATES}'/><no-store xmlns='urn:xmpp:hints'/></message>",
                            esc(&jid),
                            esc(&to),
                            state.as_str()
                        ))
                        .map(Action::Send),
                    );
                }
            }
            // Gateway → user signals; a user sending them means nothing.
            BridgeSignal::Welcome { .. }
            | BridgeSignal::Presence { .. }
            | BridgeSignal::Received { .. }
            | BridgeSignal::Displayed { .. }
            | BridgeSignal::Bounced { .. }
            | BridgeSignal::Refused { .. } => {}
        }
        out
    }

    /// Whether a joined user is reachable now changed.
    pub fn set_online(&mut self, user: &IdentityKey, online: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(u) = self.users.get_mut(user)
            && u.online != online
        {
            u.online = online;
            self.broadcast_presence(user, &mut out);
        }
        out
    }

    fn broadcast_presence(&self, user: &IdentityKey, out: &mut Vec<Action>) {
        if !self.connected {
            return;
        }
        let Some(u) = self.users.get(user) else {
            return;
        };
        let from = format!("{}@{}/{RESOURCE}", u.local, self.policy.domain);
        for sub in &u.subscribers {
            out.extend(self.presence_of(u, &from, sub));
        }
    }

    fn presence_of(&self, u: &User, from: &str, to: &str) -> Option<Action> {
        if u.online {
            build_presence(from, to, None, Some(&u.name))
        } else {
            build_presence(from, to, Some("unavailable"), None)
        }
    }

    /// The engine queued an XMPP user's text for a Cairn user.
    pub fn queued(&mut self, user: IdentityKey, id: MessageId, receipt: Option<(String, String)>) {
        if let Some(r) = receipt {
            if self.receipts.len() >= MAX_RECEIPTS {
                self.receipts.clear();
            }
            self.receipts.insert((user, id), r);
        }
    }

    /// The Cairn user read a message `remote` sent from XMPP with the id
    /// `foreign`, which asked for markers: say it was shown (XEP-0333).
    pub fn on_read(&mut self, user: &IdentityKey, remote: &str, foreign: &str) -> Vec<Action> {
        let mut out = Vec::new();
        let (Some(jid), true) = (self.jid_of(user), self.connected) else {
            return out;
        };
        out.extend(
            build(&format!(
                "<message xmlns='{NS_CLIENT}' type='chat' from='{}/{RESOURCE}' to='{}'>\
                 <displayed xmlns='{}' id='{}'/><store xmlns='{}'/></message>",
                esc(&jid),
                esc(remote),
                extensions::NS_MARKERS,
                esc(foreign),
                extensions::NS_HINTS,
            ))
            .map(Action::Send),
        );
        out
    }

    /// An error answer to what `sender` sent `user` (with the stanza id
    /// `id`), when it cannot be passed on after all.
    pub fn refuse(
        &self,
        user: &IdentityKey,
        sender: &str,
        id: Option<&str>,
        condition: &str,
        text: &str,
    ) -> Option<Action> {
        let jid = self.jid_of(user)?;
        let id = id.map(|i| format!(" id='{}'", esc(i))).unwrap_or_default();
        build(&format!(
            "<message xmlns='{NS_CLIENT}' type='error' from='{}' to='{}'{id}>\
             <error type='cancel'><{condition} xmlns='{NS_STANZAS}'/>\
             <text xmlns='{NS_STANZAS}'>{}</text></error></message>",
            esc(&jid),
            esc(sender),
            esc(text),
        ))
        .map(Action::Send)
    }

    /// A text from XMPP reached the Cairn user: confirm it if asked to.
    pub fn on_delivered(&mut self, user: &IdentityKey, id: &MessageId) -> Vec<Action> {
        let mut out = Vec::new();
        let Some((to, xmpp_id)) = self.receipts.remove(&(*user, *id)) else {
            return out;
        };
        let Some(jid) = self.jid_of(user) else {
            return out;
        };
        if self.connected {
            out.extend(
                build(&format!(
                    "<message xmlns='{NS_CLIENT}' from='{}/{RESOURCE}' to='{}'>\
                     <received xmlns='{NS_RECEIPTS}' id='{}'/></message>",
                    esc(&jid),
                    esc(&to),
                    esc(&xmpp_id)
                ))
                .map(Action::Send),
            );
        }
        out
    }

    // ---- from the XMPP side ----------------------------------------------

    /// One stanza from the server. Never fails: what cannot be handled gets
    /// an error reply where XMPP has one, and a log line.
    pub fn on_stanza(&mut self, now: Time, stanza: &Element) -> Vec<Action> {
        let mut out = Vec::new();
        let (Some(from), Some(to)) = (stanza.attr("from"), stanza.attr("to")) else {
            debug!(kind = stanza.name(), "stanza without from or to dropped");
            return out;
        };
        let (Some(from_bare), Some((local, domain))) = (bare_jid(from), split_local(to)) else {
            debug!(
                kind = stanza.name(),
                "stanza with a malformed address dropped"
            );
            return out;
        };
        if !domain.eq_ignore_ascii_case(&self.policy.domain) {
            debug!("stanza for another domain dropped");
            return out;
        }
        if let Some(room) = local.filter(|l| self.rooms.is_room(l)) {
            let resource = to.split_once('/').map(|(_, r)| r);
            let allowed = self.policy.allows(&from_bare);
            // The rate check borrows the gateway: the rooms step aside.
            let mut rooms = std::mem::replace(&mut self.rooms, Rooms::new(""));
            let actions = {
                let mut rate = || self.rate_ok(now, &from_bare);
                rooms.on_stanza(stanza, from, &from_bare, room, resource, allowed, &mut rate)
            };
            self.rooms = rooms;
            return actions;
        }
        let user = local.and_then(|l| self.by_local.get(&l.to_lowercase()).copied());
        match stanza.name() {
            "message" => self.on_message(now, stanza, from, &from_bare, local, user, &mut out),
            "presence" => self.on_presence(now, stanza, from, &from_bare, user, &mut out),
            "iq" => self.on_iq(stanza, from, to, local, user, &mut out),
            other => debug!(kind = other, "unknown stanza dropped"),
        }
        out
    }

    fn rate_ok(&mut self, now: Time, bare: &str) -> bool {
        let rate = f64::from(self.policy.rate_per_minute) / 60_000.0;
        let burst = f64::from(self.policy.burst.max(1));
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(bare) {
            self.buckets
                .retain(|_, b| b.tokens + rate * now.since(b.at).as_millis() as f64 <= burst - 1.0);
            if self.buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let b = self.buckets.entry(bare.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + rate * now.since(b.at).as_millis() as f64).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &mut self,
        now: Time,
        stanza: &Element,
        from: &str,
        from_bare: &str,
        local: Option<&str>,
        user: Option<IdentityKey>,
        out: &mut Vec<Action>,
    ) {
        let kind = stanza.attr("type").unwrap_or("normal");
        if kind == "error" {
            self.on_message_error(stanza, from_bare, user, out);
            return;
        }
        let body = stanza
            .get_child("body", NS_CLIENT)
            .map(Element::text)
            .filter(|b| !b.trim().is_empty());
        if local.is_none() {
            // Written to the gateway itself: say what it is.
            if body.is_some() {
                let text = format!(
                    "This is a Cairn gateway. Cairn users who joined it are reachable as NAME@{}.",
                    self.policy.domain
                );
                out.extend(
                    build(&format!(
                        "<message xmlns='{NS_CLIENT}' type='chat' from='{}' to='{}'><body>{}</body></message>",
                        esc(&self.policy.domain),
                        esc(from),
                        esc(&text)
                    ))
                    .map(Action::Send),
                );
            }
            return;
        }
        let Some(user) = user else {
            out.extend(error_reply(
                stanza,
                "cancel",
                "service-unavailable",
                "no Cairn user by that name joined this gateway",
            ));
            return;
        };
        if kind == "groupchat" {
            out.extend(error_reply(
                stanza,
                "modify",
                "bad-request",
                "not a group chat",
            ));
            return;
        }
        if !self.policy.allows(from_bare) {
            info!("message from an XMPP address the gateway does not allow refused");
            out.extend(error_reply(
                stanza,
                "cancel",
                "not-allowed",
                "this gateway does not accept messages from your address",
            ));
            return;
        }
        // A receipt for a text a Cairn user sent.
        if let Some(received) = stanza.get_child("received", NS_RECEIPTS)
            && let Some(id) = received
                .attr("id")
                .and_then(|i| i.parse::<MessageId>().ok())
        {
            out.push(Action::Signal {
                user,
                signal: BridgeSignal::Received {
                    remote: from_bare.to_owned(),
                    ids: vec![id],
                },
            });
        }
        let state = stanza
            .children()
            .filter(|c| c.ns() == NS_CHATSTATES)
            .find_map(|c| ChatState::from_name(c.name()));
        // A chat marker: the Cairn user's message was shown.
        if let Some(id) = extensions::displayed(stanza).and_then(|i| i.parse::<MessageId>().ok()) {
            out.push(Action::Signal {
                user,
                signal: BridgeSignal::Displayed {
                    remote: from_bare.to_owned(),
                    ids: vec![id],
                },
            });
        }
        let op = match extensions::parse(stanza, body.as_deref()) {
            Ok(op) => op,
            Err(refusal) => {
                out.extend(error_reply(
                    stanza,
                    "modify",
                    "not-acceptable",
                    &refusal.to_string(),
                ));
                return;
            }
        };
        let (op, body) = match (op, body) {
            (Some((reference, text)), _) => (Some(reference), text),
            (None, Some(body)) => (None, body),
            (None, None) => match extensions::shared_file(stanza, None) {
                Some(url) => (None, url),
                None => {
                    if let Some(state) = state {
                        out.push(Action::Signal {
                            user,
                            signal: BridgeSignal::ChatState {
                                remote: from_bare.to_owned(),
                                state,
                            },
                        });
                    }
                    return;
                }
            },
        };
        if !self.rate_ok(now, from_bare) {
            info!("an XMPP account is writing faster than the gateway allows");
            out.extend(error_reply(
                stanza,
                "wait",
                "resource-constraint",
                "too many messages; slow down",
            ));
            return;
        }
        if body.len() > MAX_TEXT_LEN {
            out.extend(error_reply(
                stanza,
                "modify",
                "not-acceptable",
                &format!("messages through this gateway are at most {MAX_TEXT_LEN} bytes"),
            ));
            return;
        }
        if validate_remote(from_bare).is_err() {
            out.extend(error_reply(
                stanza,
                "modify",
                "jid-malformed",
                "your address is too long",
            ));
            return;
        }
        let receipt = match (stanza.has_child("request", NS_RECEIPTS), stanza.attr("id")) {
            (true, Some(id)) => Some((from.to_owned(), id.to_owned())),
            _ => None,
        };
        // A file shared with HTTP upload: fetched, then passed on as a file.
        if op.is_none()
            && let Some(url) = extensions::shared_file(stanza, Some(&body))
        {
            out.push(Action::FetchFile {
                user,
                remote: from_bare.to_owned(),
                url,
                receipt,
                foreign: extensions::message_id(stanza),
                markable: extensions::is_markable(stanza),
                sender: from.to_owned(),
            });
            return;
        }
        out.push(Action::ToCairn {
            user,
            remote: from_bare.to_owned(),
            text: body,
            receipt,
            foreign: extensions::message_id(stanza),
            markable: extensions::is_markable(stanza),
            op,
            sender: from.to_owned(),
        });
    }

    /// The far side refused a text a Cairn user sent: tell them.
    fn on_message_error(
        &mut self,
        stanza: &Element,
        from_bare: &str,
        user: Option<IdentityKey>,
        out: &mut Vec<Action>,
    ) {
        let (Some(user), Some(id)) = (
            user,
            stanza.attr("id").and_then(|i| i.parse::<MessageId>().ok()),
        ) else {
            debug!("XMPP error stanza dropped");
            return;
        };
        let reason = stanza
            .get_child("error", NS_CLIENT)
            .and_then(|e| {
                e.children()
                    .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
                    .map(|c| c.name().replace('-', " "))
            })
            .unwrap_or_else(|| "refused".to_owned());
        out.push(bounce(user, from_bare, id, &reason));
    }

    fn on_presence(
        &mut self,
        now: Time,
        stanza: &Element,
        from: &str,
        from_bare: &str,
        user: Option<IdentityKey>,
        out: &mut Vec<Action>,
    ) {
        let kind = stanza.attr("type").unwrap_or("available");
        let Some(user) = user else {
            if kind == "available" {
                out.extend(muc::no_such_room(stanza));
            }
            if kind == "subscribe" || kind == "probe" {
                let to = stanza.attr("to").unwrap_or_default();
                out.extend(build_presence(to, from_bare, Some("unsubscribed"), None));
            }
            return;
        };
        let Some(jid) = self.jid_of(&user) else {
            return;
        };
        // Presence from addresses the gateway does not serve, or faster than
        // its rate, reaches nobody (THREAT_MODEL.md, "Attacks tried" 9).
        if kind != "subscribe" && kind != "unsubscribe" {
            if !self.policy.allows(from_bare) {
                debug!("presence from an XMPP address the gateway does not allow dropped");
                return;
            }
            if !self.rate_ok(now, from_bare) {
                debug!("presence faster than the gateway allows dropped");
                return;
            }
        }
        match kind {
            "subscribe" => {
                if !self.policy.allows(from_bare) || !self.rate_ok(now, from_bare) {
                    out.extend(build_presence(&jid, from_bare, Some("unsubscribed"), None));
                    return;
                }
                let new = self
                    .users
                    .get_mut(&user)
                    .is_some_and(|u| u.subscribers.insert(from_bare.to_owned()));
                if new {
                    out.push(Action::PutSetting(
                        format!("{SUB_PREFIX}{user}/{from_bare}"),
                        Vec::new(),
                    ));
                    let nick = stanza
                        .get_child("nick", NS_NICK)
                        .map(Element::text)
                        .unwrap_or_default();
                    out.push(Action::Signal {
                        user,
                        signal: BridgeSignal::Subscribe {
                            remote: from_bare.to_owned(),
                            name: nick.chars().take(MAX_ALIAS_LEN).collect(),
                        },
                    });
                }
                let name = self.users.get(&user).map(|u| u.name.clone());
                out.extend(build_presence(&jid, from_bare, Some("subscribed"), None));
                // Ask back, so the Cairn user sees theirs too.
                if !self
                    .remote_presence
                    .contains_key(&(user, from_bare.to_owned()))
                {
                    let nick = name
                        .map(|n| format!("<nick xmlns='{NS_NICK}'>{}</nick>", esc(&n)))
                        .unwrap_or_default();
                    out.extend(
                        build(&format!(
                            "<presence xmlns='{NS_CLIENT}' type='subscribe' from='{}' to='{}'>{nick}</presence>",
                            esc(&jid),
                            esc(from_bare)
                        ))
                        .map(Action::Send),
                    );
                }
                if let Some(u) = self.users.get(&user) {
                    let full = format!("{jid}/{RESOURCE}");
                    out.extend(self.presence_of(u, &full, from_bare));
                }
            }
            "unsubscribe" => {
                let removed = self
                    .users
                    .get_mut(&user)
                    .is_some_and(|u| u.subscribers.remove(from_bare));
                if removed {
                    out.push(Action::DeleteSetting(format!(
                        "{SUB_PREFIX}{user}/{from_bare}"
                    )));
                }
                out.extend(build_presence(&jid, from_bare, Some("unsubscribed"), None));
            }
            "probe" => {
                if let Some(u) = self.users.get(&user) {
                    let full = format!("{jid}/{RESOURCE}");
                    if u.subscribers.contains(from_bare) {
                        out.extend(self.presence_of(u, &full, from));
                    } else {
                        out.extend(build_presence(&jid, from_bare, Some("unsubscribed"), None));
                    }
                }
            }
            "available" | "unavailable" => {
                let available = kind == "available";
                let status = stanza
                    .get_child("status", NS_CLIENT)
                    .map(Element::text)
                    .unwrap_or_default();
                let status: String = status.chars().take(200).collect();
                let key = (user, from_bare.to_owned());
                if self.remote_presence.get(&key) == Some(&(available, status.clone())) {
                    return;
                }
                if self.remote_presence.len() < 100_000 || self.remote_presence.contains_key(&key) {
                    self.remote_presence
                        .insert(key, (available, status.clone()));
                }
                out.push(Action::Signal {
                    user,
                    signal: BridgeSignal::Presence {
                        remote: from_bare.to_owned(),
                        available,
                        status,
                    },
                });
            }
            // subscribed / unsubscribed / error: nothing to keep.
            _ => {}
        }
    }

    fn on_iq(
        &mut self,
        stanza: &Element,
        from: &str,
        to: &str,
        local: Option<&str>,
        user: Option<IdentityKey>,
        out: &mut Vec<Action>,
    ) {
        let kind = stanza.attr("type").unwrap_or("");
        let id = stanza.attr("id").unwrap_or("");
        let from_bare = bare_jid(from).unwrap_or_default();
        let server = parent_domain(&self.policy.domain).to_ascii_lowercase();
        if kind == "result" || kind == "error" {
            // An upload slot, answered by the upload service only.
            if self
                .slots
                .get(id)
                .is_some_and(|_| from_bare.eq_ignore_ascii_case(&self.upload_service))
                && let Some(wait) = self.slots.remove(id)
            {
                self.on_slot(stanza, wait, out);
                return;
            }
            // Only the server answers our ping: a reply from anyone else
            // with the same id settles nothing (THREAT_MODEL.md, "Attacks
            // tried" 9).
            if let Some((marker, _)) = &self.marker
                && marker == id
                && from_bare == server
                && let Some((_, items)) = self.marker.take()
            {
                for item in items {
                    out.push(Action::Settle {
                        user: item.user,
                        id: item.id,
                    });
                }
                self.push_marker(out);
            }
            return;
        }
        if kind != "get" && kind != "set" {
            return;
        }
        let Some(query) = stanza.children().next() else {
            out.extend(error_reply(stanza, "modify", "bad-request", "empty iq"));
            return;
        };
        let result = |payload: String| {
            build(&format!(
                "<iq xmlns='{NS_CLIENT}' type='result' from='{}' to='{}' id='{}'>{payload}</iq>",
                esc(to),
                esc(from),
                esc(id)
            ))
            .map(Action::Send)
        };
        if local.is_some() && user.is_none() {
            out.extend(error_reply(
                stanza,
                "cancel",
                "item-not-found",
                "no Cairn user by that name joined this gateway",
            ));
            return;
        }
        let name = user
            .and_then(|u| self.users.get(&u))
            .map(|u| u.name.clone());
        // Who is here (users, rooms, names) is for the addresses the gateway
        // serves, and its server: others learn only that it is a gateway.
        let outsider = from_bare != server && !self.policy.allows(&from_bare);
        let harmless = matches!(
            (query.name(), query.ns().as_str(), &name),
            ("ping", NS_PING, _) | ("query", NS_VERSION, _) | ("query", NS_DISCO_INFO, None)
        );
        if outsider && !harmless {
            info!("a query from an XMPP address the gateway does not allow refused");
            out.extend(error_reply(
                stanza,
                "cancel",
                "not-allowed",
                "this gateway does not answer your address",
            ));
            return;
        }
        match (kind, query.name(), query.ns().as_str()) {
            ("get", "ping", NS_PING) => out.extend(result(String::new())),
            ("get", "query", NS_DISCO_INFO) => {
                let body = match &name {
                    None => format!(
                        "<identity category='gateway' type='cairn' name='Cairn gateway'/>\
                         <identity category='conference' type='text' name='Cairn groups'/>\
                         <feature var='{NS_DISCO_INFO}'/><feature var='{NS_DISCO_ITEMS}'/>\
                         <feature var='{NS_PING}'/><feature var='{NS_VERSION}'/>\
                         <feature var='{NS_VCARD}'/><feature var='http://jabber.org/protocol/muc'/>"
                    ),
                    Some(_) => format!(
                        "<identity category='account' type='registered'/>\
                         <identity category='client' type='pc' name='Cairn'/>\
                         <feature var='{NS_DISCO_INFO}'/><feature var='{NS_RECEIPTS}'/>\
                         <feature var='{NS_CHATSTATES}'/><feature var='{NS_VCARD}'/>\
                         <feature var='{NS_PING}'/>"
                    ),
                };
                let node = query
                    .attr("node")
                    .map(|n| format!(" node='{}'", esc(n)))
                    .unwrap_or_default();
                out.extend(result(format!(
                    "<query xmlns='{NS_DISCO_INFO}'{node}>{body}</query>"
                )));
            }
            ("get", "query", NS_DISCO_ITEMS) => {
                let items: String = if name.is_none() {
                    self.rooms
                        .list()
                        .iter()
                        .map(|(jid, n)| format!("<item jid='{}' name='{}'/>", esc(jid), esc(n)))
                        .collect()
                } else {
                    String::new()
                };
                out.extend(result(format!(
                    "<query xmlns='{NS_DISCO_ITEMS}'>{items}</query>"
                )));
            }
            ("get", "query", NS_VERSION) => out.extend(result(format!(
                "<query xmlns='{NS_VERSION}'><name>Cairn gateway</name><version>{}</version></query>",
                env!("CARGO_PKG_VERSION")
            ))),
            ("get", "vCard", NS_VCARD) => {
                let n = name.unwrap_or_else(|| "Cairn gateway".to_owned());
                out.extend(result(format!(
                    "<vCard xmlns='{NS_VCARD}'><FN>{0}</FN><NICKNAME>{0}</NICKNAME></vCard>",
                    esc(&n)
                )));
            }
            _ => out.extend(error_reply(
                stanza,
                "cancel",
                "service-unavailable",
                "not supported by this gateway",
            )),
        }
    }
}

fn bounce(user: IdentityKey, remote: &str, id: MessageId, reason: &str) -> Action {
    Action::Signal {
        user,
        signal: BridgeSignal::Bounced {
            remote: remote.chars().take(1024).collect(),
            id,
            reason: reason.to_owned(),
        },
    }
}

fn build_presence(from: &str, to: &str, kind: Option<&str>, nick: Option<&str>) -> Option<Action> {
    let kind = kind.map(|k| format!(" type='{k}'")).unwrap_or_default();
    let nick = nick
        .map(|n| format!("<nick xmlns='{NS_NICK}'>{}</nick>", esc(n)))
        .unwrap_or_default();
    build(&format!(
        "<presence xmlns='{NS_CLIENT}' from='{}' to='{}'{kind}>{nick}</presence>",
        esc(from),
        esc(to)
    ))
    .map(Action::Send)
}

fn iq_ping(from: &str, to: &str, id: &str) -> Element {
    build(&format!(
        "<iq xmlns='{NS_CLIENT}' type='get' from='{}' to='{}' id='{}'><ping xmlns='{NS_PING}'/></iq>",
        esc(from),
        esc(to),
        esc(id)
    ))
    .unwrap_or_else(|| Element::bare("iq", NS_CLIENT))
}

/// A keepalive the runtime sends now and then.
pub fn keepalive(domain: &str, n: u64) -> Element {
    iq_ping(
        domain,
        parent_domain(domain),
        &format!("cairn-keepalive-{n}"),
    )
}

/// `cairn.example.org` → `example.org`: the server the component hangs off.
pub fn parent_domain(domain: &str) -> &str {
    domain.split_once('.').map_or(domain, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn key(n: u64) -> IdentityKey {
        cairn_protocol::Identity::generate(&mut ChaCha20Rng::seed_from_u64(n)).key()
    }

    fn gateway(allow: &[&str]) -> (Gateway, IdentityKey) {
        let mut policy = Policy::new("cairn.example");
        policy.allow = allow.iter().map(|s| s.to_string()).collect();
        policy.burst = 3;
        policy.rate_per_minute = 60;
        let mut g = Gateway::new(policy);
        let alice = key(1);
        g.load(
            &[(format!("gw/user/{alice}"), b"Alice Smith".to_vec())],
            |_| Some("Alice".to_owned()),
        );
        let _ = g.on_connected();
        (g, alice)
    }

    fn stanza(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    fn chat(to: &str, from: &str, body: &str) -> Element {
        stanza(&format!(
            "<message xmlns='{NS_CLIENT}' type='chat' from='{from}' to='{to}' id='m1'><body>{body}</body></message>"
        ))
    }

    fn errors(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(el) if el.attr("type") == Some("error") => el
                    .get_child("error", NS_CLIENT)
                    .and_then(|e| e.children().next())
                    .map(|c| c.name().to_owned()),
                _ => None,
            })
            .collect()
    }

    fn join(g: &mut Gateway, user: IdentityKey, alias: &str) -> (String, Vec<Action>) {
        let out = g.on_signal(
            user,
            "n".to_owned(),
            BridgeSignal::Join {
                alias: alias.to_owned(),
            },
        );
        let address = out
            .iter()
            .find_map(|a| match a {
                Action::Signal {
                    signal: BridgeSignal::Welcome { address },
                    ..
                } => Some(address.clone()),
                _ => None,
            })
            .unwrap();
        (address, out)
    }

    fn settings_of(actions: &[Action]) -> Vec<(String, Vec<u8>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::PutSetting(k, v) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    /// THREAT_MODEL.md "Attacks tried" 4: an alias that is a victim's id
    /// cannot take the victim's fallback address, and after a restart each
    /// user keeps the address it was given, whatever order settings load in.
    #[test]
    fn an_alias_cannot_squat_another_user_s_address() {
        let (mut g, _) = gateway(&[]);
        let (victim, mallory) = (key(7), key(8));
        let (m_addr, m_out) = join(&mut g, mallory, &victim.to_string());
        assert_ne!(
            m_addr,
            format!("{victim}@cairn.example"),
            "id-shaped alias refused"
        );
        assert_eq!(m_addr, format!("{mallory}@cairn.example"));
        // The victim asks for a name someone already has: its own id.
        let (first, f_out) = join(&mut g, key(9), "sam");
        assert_eq!(first, "sam@cairn.example");
        let (v_addr, v_out) = join(&mut g, victim, "sam");
        assert_eq!(v_addr, format!("{victim}@cairn.example"));
        // Restarts load settings in any order; addresses stay where they were.
        let mut all = settings_of(&m_out);
        all.extend(settings_of(&v_out));
        all.extend(settings_of(&f_out));
        for order in [all.clone(), all.iter().rev().cloned().collect()] {
            let mut h = Gateway::new(Policy::new("cairn.example"));
            h.load(&order, |_| None);
            assert_eq!(h.jid_of(&key(9)).unwrap(), "sam@cairn.example");
            assert_eq!(h.jid_of(&victim).unwrap(), v_addr);
            assert_eq!(h.jid_of(&mallory).unwrap(), m_addr);
        }
    }

    #[test]
    fn aliases_are_escaped_per_xep_0106_and_come_back() {
        let local = escape_local("alice smith@home");
        assert_eq!(local, "alice\\20smith\\40home");
        assert_eq!(unescape_local(&local), "alice smith@home");
        let (g, alice) = gateway(&[]);
        assert_eq!(
            g.jid_of(&alice).as_deref(),
            Some("alice\\20smith@cairn.example")
        );
    }

    #[test]
    fn a_shared_file_is_fetched_and_a_text_with_a_link_stays_a_text() {
        let (mut g, alice) = gateway(&[]);
        let to = "alice\\20smith@cairn.example";
        let url = "https://upload.x.example/s/abc/photo.jpg";
        let oob = format!("<x xmlns='jabber:x:oob'><url>{url}</url></x>");
        let shared = stanza(&format!(
            "<message xmlns='{NS_CLIENT}' type='chat' from='j@x.example/phone' to='{to}' id='f1'>\
             <body>{url}</body>{oob}</message>"
        ));
        assert_eq!(
            g.on_stanza(Time::from_secs(1), &shared),
            vec![Action::FetchFile {
                user: alice,
                remote: "j@x.example".into(),
                url: url.into(),
                receipt: None,
                foreign: Some("f1".into()),
                markable: false,
                sender: "j@x.example/phone".into(),
            }]
        );
        // A text that mentions a link is a text.
        let text = stanza(&format!(
            "<message xmlns='{NS_CLIENT}' type='chat' from='j@x.example/phone' to='{to}' id='f2'>\
             <body>look: {url}</body>{oob}</message>"
        ));
        assert!(matches!(
            g.on_stanza(Time::from_secs(2), &text).as_slice(),
            [Action::ToCairn { .. }]
        ));
    }

    #[test]
    fn an_upload_slot_is_taken_only_from_the_upload_service_and_only_its_headers() {
        let (mut g, alice) = gateway(&[]);
        let id = MessageId([5; 16]);
        let asked = g.request_slot(
            alice,
            "juliet@x.example",
            id,
            "a <b>.pdf",
            10,
            "application/pdf",
        );
        let [Action::Send(iq)] = asked.as_slice() else {
            panic!("{asked:?}")
        };
        assert_eq!(iq.attr("to"), Some("upload.example"));
        let request = iq.get_child("request", NS_UPLOAD).unwrap();
        assert_eq!(request.attr("filename"), Some("a <b>.pdf"));
        assert_eq!(request.attr("size"), Some("10"));
        let iq_id = iq.attr("id").unwrap().to_owned();
        let slot = |from: &str, headers: &str| {
            stanza(&format!(
                "<iq xmlns='{NS_CLIENT}' type='result' from='{from}' to='alice\\20smith@cairn.example/cairn' id='{iq_id}'>\
                 <slot xmlns='{NS_UPLOAD}'><put url='https://upload.example/p/1'>{headers}</put>\
                 <get url='https://upload.example/g/1'/></slot></iq>"
            ))
        };
        // Someone else answering with the same id is ignored.
        assert!(
            g.on_stanza(Time::from_secs(1), &slot("evil.example", ""))
                .is_empty()
        );
        // The service's answer: only the headers XEP-0363 allows, on one line.
        let out = g.on_stanza(
            Time::from_secs(2),
            &slot(
                "upload.example",
                "<header name='Authorization'>Basic x\ny</header><header name='Host'>evil</header>",
            ),
        );
        assert_eq!(
            out,
            vec![Action::Upload {
                user: alice,
                id,
                put: "https://upload.example/p/1".into(),
                headers: vec![("Authorization".into(), "Basic xy".into())],
                get: "https://upload.example/g/1".into(),
            }]
        );
        // Answered once: a second answer does nothing.
        assert!(
            g.on_stanza(Time::from_secs(3), &slot("upload.example", ""))
                .is_empty()
        );
        // A refusal tells the user and settles the file.
        let asked = g.request_slot(alice, "juliet@x.example", id, "big.iso", 1 << 30, "");
        let [Action::Send(iq)] = asked.as_slice() else {
            panic!("{asked:?}")
        };
        let refused = stanza(&format!(
            "<iq xmlns='{NS_CLIENT}' type='error' from='upload.example' to='alice\\20smith@cairn.example/cairn' id='{}'>\
             <error type='modify'><not-acceptable xmlns='{NS_STANZAS}'/></error></iq>",
            iq.attr("id").unwrap()
        ));
        let out = g.on_stanza(Time::from_secs(4), &refused);
        assert!(
            matches!(&out[..], [Action::Signal { signal: BridgeSignal::Bounced { reason, .. }, .. }, Action::Settle { .. }]
                if reason.contains("not-acceptable")),
            "{out:?}"
        );
        // Asked while the server is away: sent when it is back.
        g.on_disconnected();
        let later = MessageId([6; 16]);
        assert!(
            g.request_slot(alice, "juliet@x.example", later, "b", 1, "")
                .is_empty()
        );
        let back = g.on_connected();
        assert!(
            back.iter().any(|a| matches!(a, Action::Send(iq)
                if iq.attr("id") == Some(format!("slot-{later}").as_str()))),
            "{back:?}"
        );
        // Not to an address the gateway does not reach.
        let (mut g, alice) = gateway(&["x.example"]);
        assert!(matches!(
            g.request_slot(alice, "eve@y.example", id, "a", 1, "")
                .as_slice(),
            [Action::Signal { .. }, Action::Settle { .. }]
        ));
    }

    #[test]
    fn a_message_for_a_user_becomes_a_cairn_text_with_its_receipt() {
        let (mut g, alice) = gateway(&[]);
        let mut m = chat(
            "alice\\20smith@cairn.example",
            "juliet@x.example/phone",
            "hi",
        );
        m.append_child(Element::bare("request", NS_RECEIPTS));
        let out = g.on_stanza(Time::from_secs(1), &m);
        assert_eq!(
            out,
            vec![Action::ToCairn {
                user: alice,
                remote: "juliet@x.example".into(),
                text: "hi".into(),
                receipt: Some(("juliet@x.example/phone".into(), "m1".into())),
                foreign: Some("m1".into()),
                markable: false,
                op: None,
                sender: "juliet@x.example/phone".into(),
            }]
        );
    }

    #[test]
    fn unknown_users_disallowed_senders_and_floods_get_xmpp_errors() {
        let (mut g, _) = gateway(&["friends.example", "bob@other.example"]);
        let to = "alice\\20smith@cairn.example";
        let out = g.on_stanza(
            Time::ZERO,
            &chat("nobody@cairn.example", "x@friends.example", "hi"),
        );
        assert_eq!(errors(&out), ["service-unavailable"]);
        let out = g.on_stanza(Time::ZERO, &chat(to, "mallory@evil.example", "hi"));
        assert_eq!(errors(&out), ["not-allowed"]);
        // Subdomains of an allowed domain and listed JIDs may write.
        for from in ["x@chat.friends.example", "bob@other.example"] {
            let out = g.on_stanza(Time::ZERO, &chat(to, from, "hi"));
            assert!(errors(&out).is_empty(), "{from}: {out:?}");
        }
        // Three at once (the burst), then one a second.
        let from = "y@friends.example";
        for _ in 0..3 {
            assert!(errors(&g.on_stanza(Time::ZERO, &chat(to, from, "hi"))).is_empty());
        }
        assert_eq!(
            errors(&g.on_stanza(Time::ZERO, &chat(to, from, "hi"))),
            ["resource-constraint"]
        );
        assert!(errors(&g.on_stanza(Time::from_secs(1), &chat(to, from, "hi"))).is_empty());
    }

    #[test]
    fn an_oversize_body_is_refused_and_nothing_is_queued() {
        let (mut g, _) = gateway(&[]);
        let big = "x".repeat(MAX_TEXT_LEN + 1);
        let out = g.on_stanza(
            Time::ZERO,
            &chat("alice\\20smith@cairn.example", "j@x.example", &big),
        );
        assert_eq!(errors(&out), ["not-acceptable"]);
    }

    #[test]
    fn malformed_stanzas_are_dropped_or_answered_never_fatal() {
        let (mut g, _) = gateway(&[]);
        for xml in [
            format!("<message xmlns='{NS_CLIENT}'/>"),
            format!("<message xmlns='{NS_CLIENT}' from='@@' to='a@cairn.example'/>"),
            format!("<iq xmlns='{NS_CLIENT}' from='j@x' to='cairn.example' type='get' id='1'/>"),
            format!("<foo xmlns='{NS_CLIENT}' from='j@x' to='cairn.example'/>"),
            format!("<presence xmlns='{NS_CLIENT}' from='j@x' to='other.example'/>"),
        ] {
            let _ = g.on_stanza(Time::ZERO, &stanza(&xml));
        }
        let out = g.on_stanza(
            Time::ZERO,
            &stanza(&format!(
                "<iq xmlns='{NS_CLIENT}' from='j@x' to='cairn.example' type='get' id='1'><query xmlns='urn:unknown'/></iq>"
            )),
        );
        assert_eq!(errors(&out), ["service-unavailable"]);
    }

    #[test]
    fn texts_to_xmpp_settle_only_after_the_server_answers_a_later_ping() {
        let (mut g, alice) = gateway(&[]);
        let record = MessageRecord {
            peer: alice,
            id: MessageId([5; 16]),
            direction: cairn_protocol::Direction::Incoming,
            text: "to juliet <3".into(),
            sent_at: Time::ZERO,
            local_at: Time::ZERO,
            state: cairn_protocol::DeliveryState::Received,
            remote: Some("juliet@x.example".into()),
            file: None,
            op: None,
            changes: Default::default(),
        };
        let out = g.on_cairn_text(&record, None);
        let ping = out
            .iter()
            .find_map(|a| match a {
                Action::Send(el) if el.name() == "iq" => el.attr("id").map(str::to_owned),
                _ => None,
            })
            .expect("a marker ping");
        assert!(!out.iter().any(|a| matches!(a, Action::Settle { .. })));
        // Detached before the answer: sent again on the next attach.
        g.on_disconnected();
        let again = g.on_connected();
        assert!(
            again
                .iter()
                .any(|a| matches!(a, Action::Send(el) if el.name() == "message"))
        );
        let ping2 = again
            .iter()
            .find_map(|a| match a {
                Action::Send(el) if el.name() == "iq" => el.attr("id").map(str::to_owned),
                _ => None,
            })
            .expect("a new marker");
        assert_ne!(ping, ping2);
        let answer = stanza(&format!(
            "<iq xmlns='{NS_CLIENT}' type='result' from='example' to='cairn.example' id='{ping2}'/>"
        ));
        let out = g.on_stanza(Time::ZERO, &answer);
        assert_eq!(
            out,
            vec![Action::Settle {
                user: alice,
                id: MessageId([5; 16])
            }]
        );
    }

    /// THREAT_MODEL.md "Attacks tried" 9: a ping reply from anyone but the
    /// server settles nothing; presence, disco#items and vCards are for the
    /// addresses the gateway serves.
    #[test]
    fn outsiders_cannot_settle_texts_send_presence_or_list_who_is_here() {
        let (mut g, alice) = gateway(&["friends.example"]);
        let record = MessageRecord {
            peer: alice,
            id: MessageId([5; 16]),
            direction: cairn_protocol::Direction::Incoming,
            text: "to juliet".into(),
            sent_at: Time::ZERO,
            local_at: Time::ZERO,
            state: cairn_protocol::DeliveryState::Received,
            remote: Some("juliet@friends.example".into()),
            file: None,
            op: None,
            changes: Default::default(),
        };
        let out = g.on_cairn_text(&record, None);
        let ping = out
            .iter()
            .find_map(|a| match a {
                Action::Send(el) if el.name() == "iq" => el.attr("id").map(str::to_owned),
                _ => None,
            })
            .unwrap();
        for from in ["mallory@evil.example/x", "juliet@friends.example/phone"] {
            let forged = stanza(&format!(
                "<iq xmlns='{NS_CLIENT}' type='result' from='{from}' to='cairn.example' id='{ping}'/>"
            ));
            let out = g.on_stanza(Time::ZERO, &forged);
            assert!(
                !out.iter().any(|a| matches!(a, Action::Settle { .. })),
                "{from}"
            );
        }
        let to = "alice\\20smith@cairn.example";
        let presence = |from: &str| {
            stanza(&format!(
                "<presence xmlns='{NS_CLIENT}' from='{from}/r' to='{to}'/>"
            ))
        };
        let signals = |out: &[Action]| {
            out.iter()
                .filter(|a| matches!(a, Action::Signal { .. }))
                .count()
        };
        assert_eq!(
            signals(&g.on_stanza(Time::ZERO, &presence("m@evil.example"))),
            0
        );
        assert_eq!(
            signals(&g.on_stanza(Time::ZERO, &presence("j@friends.example"))),
            1
        );
        let query = |from: &str, to: &str, q: &str| {
            stanza(&format!(
                "<iq xmlns='{NS_CLIENT}' type='get' from='{from}' to='{to}' id='q'>{q}</iq>"
            ))
        };
        let items = format!("<query xmlns='{NS_DISCO_ITEMS}'/>");
        let vcard = format!("<vCard xmlns='{NS_VCARD}'/>");
        for (t, q) in [("cairn.example", &items), (to, &vcard)] {
            let out = g.on_stanza(Time::ZERO, &query("m@evil.example/x", t, q));
            assert_eq!(errors(&out), ["not-allowed"], "{q}");
            let out = g.on_stanza(Time::ZERO, &query("j@friends.example/x", t, q));
            assert!(errors(&out).is_empty(), "{q}: {out:?}");
        }
        // What it is stays public.
        let info = format!("<query xmlns='{NS_DISCO_INFO}'/>");
        let out = g.on_stanza(
            Time::ZERO,
            &query("m@evil.example/x", "cairn.example", &info),
        );
        assert!(errors(&out).is_empty());
    }
}
