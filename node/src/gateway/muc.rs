//! Cairn groups as XMPP rooms (XEP-0045), without I/O.
//!
//! A group the gateway is a member of is a room `LOCAL@DOMAIN`. Its Cairn
//! members are occupants the gateway shows (they are always "in" the room);
//! XMPP users join with a nick and become occupants by their full JID. What
//! an XMPP occupant writes is posted into the group by the gateway, marked
//! with the occupant's nick; once it is committed it comes back as a line and
//! is reflected to every occupant, the sender included, with the id the
//! sender gave it. What Cairn members write is sent to every occupant from
//! `LOCAL@DOMAIN/THEIR-NAME`.
//!
//! The room is semi-anonymous (nobody is shown another occupant's real JID),
//! open (anyone the gateway's policy allows may join), unmoderated and
//! persistent. Occupants live in memory: after a gateway restart XMPP
//! clients join again (they do when their messages come back as errors, or
//! through self-pings, XEP-0410).
//!
//! Bounds: at most [`MAX_OCCUPANTS`] XMPP occupants per room and
//! [`HISTORY`] lines of history kept for newcomers.

use std::collections::{BTreeMap, HashMap, VecDeque};

use cairn_protocol::payload::MAX_TEXT_LEN;
use cairn_protocol::{GroupId, MessageId, Time};
use tokio_xmpp::minidom::Element;
use tracing::{debug, info};

use super::stanza::{Action, NS_CLIENT, NS_STANZAS, build, error_reply, esc};

pub(super) const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub(super) const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub(super) const NS_DELAY: &str = "urn:xmpp:delay";
pub(super) const NS_SID: &str = "urn:xmpp:sid:0";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const NS_PING: &str = "urn:xmpp:ping";

/// XMPP occupants one room takes.
pub const MAX_OCCUPANTS: usize = 500;
/// Lines kept for newcomers.
pub const HISTORY: usize = 50;
/// Lines a newcomer is sent.
const HISTORY_SENT: usize = 20;
/// Longest nick taken.
const MAX_NICK: usize = 64;
/// Posts waiting to be reflected, per room.
const MAX_PENDING: usize = 10_000;

/// What the gateway knows of a group, to show it as a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSpec {
    pub group: GroupId,
    /// The group's name: the room's name and subject.
    pub name: String,
    /// Cairn members as they appear in the room: nick → admin.
    pub members: BTreeMap<String, bool>,
}

/// One line of a room's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub nick: String,
    pub id: MessageId,
    pub text: String,
    pub at: Time,
}

struct Occupant {
    nick: String,
    bare: String,
}

struct Room {
    spec: RoomSpec,
    /// XMPP occupants by full JID.
    occupants: BTreeMap<String, Occupant>,
    history: VecDeque<(Line, String)>,
    /// Posts from XMPP not yet reflected: Cairn id → the sender's stanza id.
    pending: HashMap<MessageId, String>,
}

impl Room {
    fn nick_taken(&self, nick: &str, bare: &str) -> bool {
        self.spec
            .members
            .keys()
            .any(|m| m.eq_ignore_ascii_case(nick))
            || self
                .occupants
                .values()
                .any(|o| o.nick.eq_ignore_ascii_case(nick) && o.bare != bare)
    }

    /// Full JIDs of occupants other than those of `nick`.
    fn others(&self, nick: &str) -> Vec<String> {
        self.occupants
            .iter()
            .filter(|(_, o)| o.nick != nick)
            .map(|(j, _)| j.clone())
            .collect()
    }

    fn has_nick(&self, nick: &str) -> bool {
        self.occupants.values().any(|o| o.nick == nick)
    }
}

/// The rooms of a gateway.
pub struct Rooms {
    domain: String,
    rooms: HashMap<String, Room>,
    by_group: HashMap<GroupId, String>,
}

/// Why a room could not be joined, as XMPP says it.
struct Refusal {
    kind: &'static str,
    condition: &'static str,
    text: &'static str,
}

impl Rooms {
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.to_owned(),
            rooms: HashMap::new(),
            by_group: HashMap::new(),
        }
    }

    pub fn is_room(&self, local: &str) -> bool {
        self.rooms.contains_key(&local.to_lowercase())
    }

    pub fn local_of(&self, group: &GroupId) -> Option<&str> {
        self.by_group.get(group).map(String::as_str)
    }

    pub fn address(&self, local: &str) -> String {
        format!("{local}@{}", self.domain)
    }

    /// (address, name) of every room, for service discovery.
    pub fn list(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .rooms
            .iter()
            .map(|(local, r)| (self.address(local), r.spec.name.clone()))
            .collect();
        all.sort();
        all
    }

    /// XMPP occupants of the room of `group`, as nicks.
    pub fn occupants(&self, group: &GroupId) -> Vec<String> {
        let Some(room) = self.by_group.get(group).and_then(|l| self.rooms.get(l)) else {
            return Vec::new();
        };
        let mut nicks: Vec<String> = room.occupants.values().map(|o| o.nick.clone()).collect();
        nicks.dedup();
        nicks
    }

    /// Opens the room `local` for a group, or brings it up to date: members
    /// who came or went are shown coming or going. `history` seeds a new
    /// room's history.
    pub fn set(
        &mut self,
        local: &str,
        spec: RoomSpec,
        history: Vec<Line>,
        connected: bool,
    ) -> Vec<Action> {
        let local = local.to_lowercase();
        let mut out = Vec::new();
        let room_jid = self.address(&local);
        match self.rooms.get_mut(&local) {
            Some(room) => {
                if room.spec == spec {
                    return out;
                }
                if connected {
                    for (nick, admin) in &spec.members {
                        if room.spec.members.get(nick) != Some(admin) {
                            for to in room.others(nick) {
                                out.extend(member_presence(&room_jid, nick, *admin, &to, None));
                            }
                        }
                    }
                    for nick in room.spec.members.keys() {
                        if !spec.members.contains_key(nick) {
                            for to in room.others(nick) {
                                out.extend(presence(
                                    &room_jid,
                                    nick,
                                    &to,
                                    Some("unavailable"),
                                    ("member", "none"),
                                    &[],
                                    None,
                                ));
                            }
                        }
                    }
                    if room.spec.name != spec.name {
                        for to in room.occupants.keys() {
                            out.extend(subject(&room_jid, &spec.name, to));
                        }
                    }
                }
                room.spec = spec;
            }
            None => {
                info!(room = %room_jid, "a group is open as an XMPP room");
                self.by_group.insert(spec.group, local.clone());
                let mut history: VecDeque<(Line, String)> = history
                    .into_iter()
                    .map(|l| {
                        let id = l.id.to_string();
                        (l, id)
                    })
                    .collect();
                while history.len() > HISTORY {
                    history.pop_front();
                }
                self.rooms.insert(
                    local,
                    Room {
                        spec,
                        occupants: BTreeMap::new(),
                        history,
                        pending: HashMap::new(),
                    },
                );
            }
        }
        out
    }

    /// The gateway is no longer in the group: the room is gone.
    pub fn remove(&mut self, group: &GroupId, connected: bool) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(local) = self.by_group.remove(group) else {
            return out;
        };
        let room_jid = self.address(&local);
        if let Some(room) = self.rooms.remove(&local)
            && connected
        {
            for (to, o) in &room.occupants {
                out.extend(
                    build(&format!(
                        "<presence xmlns='{NS_CLIENT}' type='unavailable' from='{}/{}' to='{}'>\
                     <x xmlns='{NS_MUC_USER}'><item affiliation='none' role='none'/>\
                     <destroy><reason>The group is no longer bridged</reason></destroy>\
                     <status code='110'/></x></presence>",
                        esc(&room_jid),
                        esc(&o.nick),
                        esc(to)
                    ))
                    .map(Action::Send),
                );
            }
        }
        out
    }

    /// A post from XMPP went into the group as `id`: reflect it with the
    /// sender's `stanza_id` when it comes back.
    pub fn posted(&mut self, group: &GroupId, id: MessageId, stanza_id: String) {
        if let Some(room) = self.by_group.get(group).and_then(|l| self.rooms.get_mut(l))
            && room.pending.len() < MAX_PENDING
        {
            room.pending.insert(id, stanza_id);
        }
    }

    /// A new line in a group (committed): every occupant gets it.
    pub fn line(&mut self, group: &GroupId, line: Line, connected: bool) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(local) = self.by_group.get(group).cloned() else {
            return out;
        };
        let room_jid = self.address(&local);
        let Some(room) = self.rooms.get_mut(&local) else {
            return out;
        };
        let stanza_id = room
            .pending
            .remove(&line.id)
            .unwrap_or_else(|| line.id.to_string());
        if connected {
            for to in room.occupants.keys() {
                out.extend(groupchat(&room_jid, &line, &stanza_id, to, false));
            }
        }
        room.history.push_back((line, stanza_id));
        while room.history.len() > HISTORY {
            room.history.pop_front();
        }
        out
    }

    /// A stanza for `local@domain[/resource]`, a room. `allowed` says whether
    /// the operator's policy lets the sender in; `rate_ok` whether it is
    /// within its rate.
    #[allow(clippy::too_many_arguments)]
    pub fn on_stanza(
        &mut self,
        stanza: &Element,
        from: &str,
        from_bare: &str,
        local: &str,
        resource: Option<&str>,
        allowed: bool,
        rate_ok: &mut dyn FnMut() -> bool,
    ) -> Vec<Action> {
        let local = local.to_lowercase();
        let mut out = Vec::new();
        match stanza.name() {
            "presence" => {
                self.on_presence(stanza, from, from_bare, &local, resource, allowed, &mut out)
            }
            "message" => self.on_message(stanza, from, &local, resource, rate_ok, &mut out),
            "iq" => self.on_iq(stanza, from, &local, resource, &mut out),
            other => debug!(kind = other, "unknown stanza for a room dropped"),
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn on_presence(
        &mut self,
        stanza: &Element,
        from: &str,
        from_bare: &str,
        local: &str,
        resource: Option<&str>,
        allowed: bool,
        out: &mut Vec<Action>,
    ) {
        let room_jid = self.address(local);
        let Some(room) = self.rooms.get_mut(local) else {
            return;
        };
        match stanza.attr("type") {
            Some("unavailable") => {
                if let Some(o) = room.occupants.remove(from) {
                    debug!(room = %room_jid, "an occupant left");
                    out.extend(presence(
                        &room_jid,
                        &o.nick,
                        from,
                        Some("unavailable"),
                        ("none", "none"),
                        &[110],
                        None,
                    ));
                    if !room.has_nick(&o.nick) {
                        for to in room.others(&o.nick) {
                            out.extend(presence(
                                &room_jid,
                                &o.nick,
                                &to,
                                Some("unavailable"),
                                ("none", "none"),
                                &[],
                                None,
                            ));
                        }
                    }
                }
                return;
            }
            Some("error") => {
                // A bounce: that client is gone.
                room.occupants.remove(from);
                return;
            }
            None => {}
            // subscribe, probe, …: not for rooms.
            Some(_) => return,
        }
        let nick = resource.map(str::trim).unwrap_or_default();
        let refusal =
            if nick.is_empty() || nick.len() > MAX_NICK || nick.chars().any(char::is_control) {
                Some(Refusal {
                    kind: "modify",
                    condition: "jid-malformed",
                    text: "join with a nick: ROOM@SERVICE/NICK (at most 64 bytes)",
                })
            } else if !allowed {
                Some(Refusal {
                    kind: "auth",
                    condition: "forbidden",
                    text: "this gateway does not accept your address",
                })
            } else if room.nick_taken(nick, from_bare) {
                Some(Refusal {
                    kind: "cancel",
                    condition: "conflict",
                    text: "that nick is taken in this room",
                })
            } else if !room.occupants.contains_key(from) && room.occupants.len() >= MAX_OCCUPANTS {
                Some(Refusal {
                    kind: "wait",
                    condition: "service-unavailable",
                    text: "the room is full",
                })
            } else {
                None
            };
        if let Some(r) = refusal {
            out.extend(join_error(stanza, &r));
            return;
        }
        let nick = nick.to_owned();
        let rejoin = room.occupants.get(from).map(|o| o.nick.clone());
        if rejoin.as_deref() == Some(nick.as_str()) && !stanza.has_child("x", NS_MUC) {
            return; // a status update: nothing to pass on
        }
        if let Some(old) = rejoin.filter(|old| *old != nick) {
            // A nick change, done as leaving and joining.
            room.occupants.remove(from);
            if !room.has_nick(&old) {
                for to in room.others(&old) {
                    out.extend(presence(
                        &room_jid,
                        &old,
                        &to,
                        Some("unavailable"),
                        ("none", "none"),
                        &[],
                        None,
                    ));
                }
            }
        }
        let newcomer = !room.has_nick(&nick);
        room.occupants.insert(
            from.to_owned(),
            Occupant {
                nick: nick.clone(),
                bare: from_bare.to_owned(),
            },
        );
        // XEP-0045 §7.2.3: others first, then the newcomer to the others,
        // then the newcomer's own presence, history and subject.
        for (m, admin) in &room.spec.members {
            out.extend(member_presence(&room_jid, m, *admin, from, None));
        }
        let mut shown = Vec::new();
        for o in room.occupants.values() {
            if o.nick != nick && !shown.contains(&o.nick) {
                shown.push(o.nick.clone());
                out.extend(presence(
                    &room_jid,
                    &o.nick,
                    from,
                    None,
                    ("none", "participant"),
                    &[],
                    None,
                ));
            }
        }
        if newcomer {
            for to in room.others(&nick) {
                out.extend(presence(
                    &room_jid,
                    &nick,
                    &to,
                    None,
                    ("none", "participant"),
                    &[],
                    None,
                ));
            }
        }
        out.extend(presence(
            &room_jid,
            &nick,
            from,
            None,
            ("none", "participant"),
            &[110],
            stanza.attr("id"),
        ));
        let skip = room.history.len().saturating_sub(HISTORY_SENT);
        for (line, id) in room.history.iter().skip(skip) {
            out.extend(groupchat(&room_jid, line, id, from, true));
        }
        out.extend(subject(&room_jid, &room.spec.name, from));
        info!(room = %room_jid, "an XMPP user joined a room");
    }

    fn on_message(
        &mut self,
        stanza: &Element,
        from: &str,
        local: &str,
        resource: Option<&str>,
        rate_ok: &mut dyn FnMut() -> bool,
        out: &mut Vec<Action>,
    ) {
        let Some(room) = self.rooms.get_mut(local) else {
            return;
        };
        let kind = stanza.attr("type").unwrap_or("normal");
        if kind == "error" {
            // A groupchat message bounced: that client is gone.
            if room.occupants.remove(from).is_some() {
                debug!("an occupant's client is gone");
            }
            return;
        }
        if resource.is_some() {
            out.extend(error_reply(
                stanza,
                "cancel",
                "feature-not-implemented",
                "private messages in bridged rooms are not supported",
            ));
            return;
        }
        if kind != "groupchat" {
            out.extend(error_reply(
                stanza,
                "modify",
                "bad-request",
                "send type='groupchat' to the room",
            ));
            return;
        }
        let Some(nick) = room.occupants.get(from).map(|o| o.nick.clone()) else {
            out.extend(error_reply(
                stanza,
                "modify",
                "not-acceptable",
                "join the room first",
            ));
            return;
        };
        let body = stanza
            .get_child("body", NS_CLIENT)
            .map(Element::text)
            .filter(|b| !b.trim().is_empty());
        let Some(body) = body else {
            if stanza.has_child("subject", NS_CLIENT) {
                out.extend(error_reply(
                    stanza,
                    "auth",
                    "forbidden",
                    "the subject is the Cairn group's name",
                ));
            }
            return; // chat states and the like: not passed on
        };
        if body.len() > MAX_TEXT_LEN {
            out.extend(error_reply(
                stanza,
                "modify",
                "not-acceptable",
                &format!("messages through this gateway are at most {MAX_TEXT_LEN} bytes"),
            ));
            return;
        }
        if !rate_ok() {
            out.extend(error_reply(
                stanza,
                "wait",
                "resource-constraint",
                "too many messages; slow down",
            ));
            return;
        }
        out.push(Action::ToGroup {
            group: room.spec.group,
            nick,
            text: body,
            stanza_id: stanza.attr("id").unwrap_or_default().to_owned(),
        });
    }

    fn on_iq(
        &mut self,
        stanza: &Element,
        from: &str,
        local: &str,
        resource: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        let Some(room) = self.rooms.get(local) else {
            return;
        };
        let kind = stanza.attr("type").unwrap_or("");
        if kind != "get" && kind != "set" {
            return;
        }
        let (Some(query), Some(to)) = (stanza.children().next(), stanza.attr("to")) else {
            out.extend(error_reply(stanza, "modify", "bad-request", "empty iq"));
            return;
        };
        let id = stanza.attr("id").unwrap_or("");
        let result = |payload: String| {
            build(&format!(
                "<iq xmlns='{NS_CLIENT}' type='result' from='{}' to='{}' id='{}'>{payload}</iq>",
                esc(to),
                esc(from),
                esc(id)
            ))
            .map(Action::Send)
        };
        match (kind, query.name(), query.ns().as_str(), resource) {
            ("get", "ping", NS_PING, None) => out.extend(result(String::new())),
            // XEP-0410: a client checks it is still in the room.
            ("get", "ping", NS_PING, Some(nick)) => {
                if room.occupants.get(from).is_some_and(|o| o.nick == nick) {
                    out.extend(result(String::new()));
                } else {
                    out.extend(error_reply(
                        stanza,
                        "cancel",
                        "not-acceptable",
                        "not in the room",
                    ));
                }
            }
            ("get", "query", NS_DISCO_INFO, None) => {
                let occupants = room.spec.members.len() + room.occupants.len();
                out.extend(result(format!(
                    "<query xmlns='{NS_DISCO_INFO}'>\
                     <identity category='conference' type='text' name='{}'/>\
                     <feature var='{NS_DISCO_INFO}'/><feature var='{NS_MUC}'/>\
                     <feature var='http://jabber.org/protocol/muc#stable_id'/>\
                     <feature var='{NS_SID}'/>\
                     <feature var='muc_persistent'/><feature var='muc_public'/>\
                     <feature var='muc_open'/><feature var='muc_unmoderated'/>\
                     <feature var='muc_semianonymous'/><feature var='muc_unsecured'/>\
                     <x xmlns='jabber:x:data' type='result'>\
                     <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roominfo</value></field>\
                     <field var='muc#roominfo_description'><value>A Cairn group, bridged: only as private as XMPP</value></field>\
                     <field var='muc#roominfo_occupants'><value>{occupants}</value></field>\
                     </x></query>",
                    esc(&room.spec.name)
                )));
            }
            ("get", "query", NS_DISCO_ITEMS, None) => {
                out.extend(result(format!("<query xmlns='{NS_DISCO_ITEMS}'/>")));
            }
            _ => out.extend(error_reply(
                stanza,
                "cancel",
                "service-unavailable",
                "not supported by this room",
            )),
        }
    }
}

fn member_presence(
    room: &str,
    nick: &str,
    admin: bool,
    to: &str,
    kind: Option<&str>,
) -> Option<Action> {
    let role = if admin {
        ("owner", "moderator")
    } else {
        ("member", "participant")
    };
    presence(room, nick, to, kind, role, &[], None)
}

fn presence(
    room: &str,
    nick: &str,
    to: &str,
    kind: Option<&str>,
    (affiliation, role): (&str, &str),
    statuses: &[u16],
    id: Option<&str>,
) -> Option<Action> {
    let kind = kind.map(|k| format!(" type='{k}'")).unwrap_or_default();
    let id = id.map(|i| format!(" id='{}'", esc(i))).unwrap_or_default();
    let statuses: String = statuses
        .iter()
        .map(|c| format!("<status code='{c}'/>"))
        .collect();
    build(&format!(
        "<presence xmlns='{NS_CLIENT}' from='{}/{}' to='{}'{kind}{id}>\
         <x xmlns='{NS_MUC_USER}'><item affiliation='{affiliation}' role='{role}'/>{statuses}</x>\
         </presence>",
        esc(room),
        esc(nick),
        esc(to)
    ))
    .map(Action::Send)
}

fn subject(room: &str, name: &str, to: &str) -> Option<Action> {
    build(&format!(
        "<message xmlns='{NS_CLIENT}' type='groupchat' from='{}' to='{}'><subject>{}</subject></message>",
        esc(room),
        esc(to),
        esc(name)
    ))
    .map(Action::Send)
}

fn groupchat(room: &str, line: &Line, id: &str, to: &str, delayed: bool) -> Option<Action> {
    let delay = if delayed {
        let stamp = crate::timestamp::rfc3339_millis(line.at.as_millis());
        format!(
            "<delay xmlns='{NS_DELAY}' from='{}' stamp='{stamp}'/>",
            esc(room)
        )
    } else {
        String::new()
    };
    build(&format!(
        "<message xmlns='{NS_CLIENT}' type='groupchat' from='{}/{}' to='{}' id='{}'>\
         <body>{}</body>{delay}<stanza-id xmlns='{NS_SID}' id='{}' by='{}'/></message>",
        esc(room),
        esc(&line.nick),
        esc(to),
        esc(id),
        esc(&line.text),
        line.id,
        esc(room)
    ))
    .map(Action::Send)
}

/// The answer to a join of a room that does not exist.
pub fn no_such_room(stanza: &Element) -> Option<Action> {
    stanza.has_child("x", NS_MUC).then_some(())?;
    join_error(
        stanza,
        &Refusal {
            kind: "cancel",
            condition: "item-not-found",
            text: "no such room: rooms are the Cairn groups this gateway is in",
        },
    )
}

/// A refused join: an error presence that carries the MUC element, which
/// clients look for to tell a join error from others.
fn join_error(stanza: &Element, r: &Refusal) -> Option<Action> {
    let (from, to) = (stanza.attr("from")?, stanza.attr("to")?);
    let id = stanza
        .attr("id")
        .map(|i| format!(" id='{}'", esc(i)))
        .unwrap_or_default();
    build(&format!(
        "<presence xmlns='{NS_CLIENT}' type='error' from='{}' to='{}'{id}>\
         <x xmlns='{NS_MUC}'/><error type='{}'><{} xmlns='{NS_STANZAS}'/>\
         <text xmlns='{NS_STANZAS}'>{}</text></error></presence>",
        esc(to),
        esc(from),
        r.kind,
        r.condition,
        esc(r.text)
    ))
    .map(Action::Send)
}
