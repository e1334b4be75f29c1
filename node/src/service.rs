//! Answers API requests against the core and the store. Used by the running
//! node and, when no node runs, by the CLI directly on the profile.

use cairn_protocol::message::OpKind;
use cairn_protocol::{
    ContactCard, ContactOrigin, DeliveryState, Direction, Engine, IdentityKey, MessageId,
    MessageRecord, SafetyNumber,
};

use cairn_protocol::GroupId;
use cairn_protocol::group::groups::{Group, GroupOp};
use cairn_protocol::prekeys::Secrecy;

use crate::api::{
    ApiError, ContactInfo, DeviceInfo, DevicesInfo, ErrorKind, FileInfo, GroupInfo,
    GroupMemberInfo, GroupMessageInfo, MessageInfo, ReactionInfo, Reply, Request, SafetyInfo,
};
use crate::store::RedbStore;
use crate::user_bridge;

/// How far back `MarkRead` looks for unread messages.
const MARK_READ_WINDOW: usize = 500;

pub use crate::timestamp::now;

pub fn contact_info(engine: &Engine<RedbStore>, peer: &IdentityKey) -> Option<ContactInfo> {
    let c = engine.contact(peer)?;
    let links = engine
        .links()
        .filter(|l| &l.peer == peer)
        .map(|l| l.medium.as_str().to_owned())
        .collect();
    Some(ContactInfo {
        id: c.identity.to_string(),
        name: c.card.name().to_owned(),
        alias: c.alias.clone(),
        verified: c.verified,
        key_changed: c.key_changed,
        origin: match c.origin {
            ContactOrigin::Invite => "invite",
            ContactOrigin::Request => "request",
            ContactOrigin::Device => "device",
        }
        .to_owned(),
        links,
        kind: "cairn".to_owned(),
        via: None,
        presence: None,
        offline: match engine.offline_secrecy(peer, now()) {
            Some(Secrecy::Forward) => "forward-secret",
            Some(Secrecy::SignedPrekeyOnly) => "signed-prekey-only",
            None => "none",
        }
        .to_owned(),
        devices: engine.devices_of(peer).len(),
        disappear_after: engine.disappearing(peer),
    })
}

pub fn group_info(engine: &Engine<RedbStore>, g: &Group) -> GroupInfo {
    let me = engine.identity_key();
    GroupInfo {
        id: g.id.to_string(),
        name: g.name(),
        topic: g.doc.topic(),
        members: g.members().len(),
        // What the group shows (reactions and deletions fold into posts).
        messages: g.messages().len(),
        role: g.doc.role_of(&me).map(|r| r.as_str().to_owned()),
        left: g.left,
        epoch: g.doc.epoch(),
        bridged_as: g.bridged_as(),
        timer: g.timer(),
    }
}

fn group_reply(engine: &Engine<RedbStore>, id: &GroupId) -> Result<Reply, ApiError> {
    engine
        .group(id)
        .map(|g| Reply::Group(group_info(engine, g)))
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "group vanished"))
}

/// A member of `group` named by contact alias/name/id, or by the name or id
/// prefix the group records (members need not be our contacts).
fn resolve_member(
    engine: &Engine<RedbStore>,
    group: &GroupId,
    query: &str,
) -> Result<IdentityKey, ApiError> {
    if let Ok(peer) = engine.resolve(query) {
        return Ok(peer);
    }
    let g = engine
        .group(group)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no such group"))?;
    let q = query.trim();
    let hits: Vec<IdentityKey> = g
        .members()
        .into_iter()
        .filter(|m| m.name == q || (q.len() >= 8 && m.identity.to_string().starts_with(q)))
        .map(|m| m.identity)
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no member of the group matches {q:?}"),
        )),
        _ => Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{q:?} matches several members; use their id"),
        )),
    }
}

/// Handles the requests that need only the core and the store. Returns
/// `None` for requests that need a running node (its transports).
pub fn handle(
    engine: &mut Engine<RedbStore>,
    request: &Request,
) -> Option<Result<Reply, ApiError>> {
    let now = now();
    Some(match request {
        Request::Invite => engine
            .invite(now)
            .map(|c| Reply::Invite { uri: c.to_uri() })
            .map_err(Into::into),
        Request::Add { invite, alias } => (|| {
            let card = ContactCard::from_uri(invite)
                .map_err(|e| ApiError::new(ErrorKind::Invalid, e.to_string()))?;
            let peer = engine.add_contact(now, card, alias.clone())?;
            contact_info(engine, &peer)
                .map(|c| Reply::Contact(Box::new(c)))
                .ok_or_else(|| ApiError::new(ErrorKind::Internal, "contact vanished"))
        })(),
        Request::Contacts => (|| {
            // A person once: their other devices (and ours) are not
            // contacts of their own.
            let mut contacts: Vec<ContactInfo> = engine
                .contacts()
                .filter(|c| c.origin != ContactOrigin::Device)
                .map(|c| c.identity)
                .collect::<Vec<_>>()
                .iter()
                .filter_map(|p| contact_info(engine, p))
                .collect();
            contacts.extend(
                user_bridge::contacts(engine)?
                    .iter()
                    .map(|c| user_bridge::contact_info(engine, c)),
            );
            Ok(Reply::Contacts { contacts })
        })(),
        Request::Send { contact, text } => (|| {
            let id = match user_bridge::find(engine, contact)? {
                Some(b) => engine.send_remote_text(now, &b.gateway, &b.jid, text)?,
                None => {
                    let peer = engine.resolve(contact)?;
                    engine.send_text(now, &peer, text)?
                }
            };
            Ok(Reply::Sent { id: id.to_string() })
        })(),
        Request::Messages { contact, limit } => (|| {
            let (peer, remote) = match user_bridge::find(engine, contact)? {
                Some(b) => (b.gateway, Some(b.jid)),
                None => (engine.resolve(contact)?, None),
            };
            let history = if remote.is_some() {
                let mut all: Vec<_> = engine
                    .store()
                    .history(&peer, None)?
                    .into_iter()
                    .filter(|m| m.remote == remote)
                    .collect();
                let skip = limit.map_or(0, |l| all.len().saturating_sub(l));
                all.drain(..skip);
                all
            } else {
                engine
                    .store()
                    .history(&peer, *limit)?
                    .into_iter()
                    .filter(|m| m.remote.is_none())
                    .collect()
            };
            Ok(Reply::Messages {
                contact: match &remote {
                    Some(jid) => format!("xmpp:{jid}"),
                    None => peer.to_string(),
                },
                messages: message_infos(engine, history),
            })
        })(),
        Request::MessageOp {
            contact,
            id,
            op,
            text,
        } => (|| {
            let kind = match op.as_str() {
                "reply" => OpKind::Reply,
                "timer" => {
                    return Err(ApiError::new(
                        ErrorKind::Invalid,
                        "set a timer with the disappear request",
                    ));
                }
                "react" => OpKind::React,
                "edit" => OpKind::Edit,
                "delete" => OpKind::Delete,
                other => {
                    return Err(ApiError::new(
                        ErrorKind::Invalid,
                        format!("{other:?} is not an operation (reply, react, edit, delete)"),
                    ));
                }
            };
            // On XMPP contacts the gateway maps them to XMPP's extensions
            // (replies, reactions, corrections, retractions).
            let (peer, remote) = match user_bridge::find(engine, contact)? {
                Some(b) => (b.gateway, Some(b.jid)),
                None => (engine.resolve(contact)?, None),
            };
            let target = find_message(engine, &peer, remote.as_deref(), id)?;
            if target.changes.deleted {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    "that message was deleted",
                ));
            }
            if matches!(kind, OpKind::Edit | OpKind::Delete)
                && target.direction != Direction::Outgoing
            {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    format!("only its author can {} a message", kind.as_str()),
                ));
            }
            if kind == OpKind::Edit && target.file.is_some() {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    "a file cannot be edited (delete it and send another)",
                ));
            }
            let id = engine.send_op(now, &target.peer, remote.as_deref(), kind, target.id, text)?;
            Ok(Reply::Sent { id: id.to_string() })
        })(),
        Request::Disappear { contact, secs } => (|| {
            if user_bridge::find(engine, contact)?.is_some() {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    "disappearing messages need a Cairn contact (XMPP has no timer to agree on)",
                ));
            }
            let peer = engine.resolve(contact)?;
            let id = engine.set_disappearing(now, &peer, *secs)?;
            Ok(Reply::Sent { id: id.to_string() })
        })(),
        Request::MarkRead { contact } => (|| {
            let (peer, remote) = match user_bridge::find(engine, contact)? {
                Some(b) => (b.gateway, Some(b.jid)),
                None => (engine.resolve(contact)?, None),
            };
            // Unread messages are the newest ones; look no further back than
            // the last few hundred.
            let unread: Vec<_> = engine
                .store()
                .history(&peer, Some(MARK_READ_WINDOW))?
                .into_iter()
                .filter(|m| m.state == DeliveryState::Received && m.remote == remote)
                .map(|m| m.id)
                .collect();
            engine.mark_read(now, &peer, &unread);
            Ok(Reply::Done)
        })(),
        Request::Verify { contact, confirm } => (|| {
            let peer = engine.resolve(contact)?;
            if *confirm {
                engine.set_verified(&peer, true)?;
            }
            let own = engine.identity_key();
            let c = engine
                .contact(&peer)
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "unknown contact"))?;
            Ok(Reply::Safety(SafetyInfo {
                contact: peer.to_string(),
                name: c.display_name().to_owned(),
                safety_number: SafetyNumber::new(&own, &peer).to_string(),
                verified: c.verified,
                key_changed: c.key_changed,
            }))
        })(),
        Request::GroupCreate { name } => (|| {
            let id = engine.group_create(now, name)?;
            group_reply(engine, &id)
        })(),
        Request::GroupAdd { group, contact } => (|| {
            let id = engine.resolve_group(group)?;
            let peer = engine.resolve(contact)?;
            engine.group_add(now, &id, &peer)?;
            group_reply(engine, &id)
        })(),
        Request::GroupRemove { group, member } => (|| {
            let id = engine.resolve_group(group)?;
            let peer = resolve_member(engine, &id, member)?;
            engine.group_remove(now, &id, &peer)?;
            group_reply(engine, &id)
        })(),
        Request::GroupRole {
            group,
            member,
            role,
        } => (|| {
            let id = engine.resolve_group(group)?;
            let peer = resolve_member(engine, &id, member)?;
            let role = cairn_protocol::group::Role::parse(role).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Invalid,
                    format!("no role {role:?}: say admin or member"),
                )
            })?;
            engine.group_set_role(now, &id, &peer, role)?;
            group_reply(engine, &id)
        })(),
        Request::GroupSend { group, text } => (|| {
            let id = engine.resolve_group(group)?;
            let msg = engine.group_send(now, &id, text)?;
            Ok(Reply::Sent {
                id: msg.to_string(),
            })
        })(),
        Request::GroupLeave { group } => (|| {
            let id = engine.resolve_group(group)?;
            engine.group_leave(now, &id)?;
            group_reply(engine, &id)
        })(),
        Request::GroupList => Ok(Reply::Groups {
            groups: engine.groups().map(|g| group_info(engine, g)).collect(),
        }),
        Request::GroupMembers { group } => (|| {
            let id = engine.resolve_group(group)?;
            let g = engine
                .group(&id)
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no such group"))?;
            Ok(Reply::GroupMembers {
                group: id.to_string(),
                members: g
                    .members()
                    .into_iter()
                    .map(|m| GroupMemberInfo {
                        id: m.identity.to_string(),
                        name: m.name,
                        role: m.role.as_str().to_owned(),
                        added_by: m.added_by.map(|k| k.to_string()),
                        added_at: m.added_at.as_millis(),
                        devices: m.devices.len(),
                    })
                    .collect(),
            })
        })(),
        Request::GroupMessages { group, limit } => (|| {
            let id = engine.resolve_group(group)?;
            let g = engine
                .group(&id)
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no such group"))?;
            // Ours from any of our devices.
            let me = engine.account_key();
            let names: std::collections::HashMap<IdentityKey, String> = g
                .members()
                .into_iter()
                .map(|m| (m.identity, m.name))
                .collect();
            let all = g.messages();
            let skip = limit.map_or(0, |l| all.len().saturating_sub(l));
            Ok(Reply::GroupMessages {
                group: id.to_string(),
                messages: all
                    .into_iter()
                    .skip(skip)
                    .map(|m| GroupMessageInfo {
                        id: m.id.to_string(),
                        author: m.author.to_string(),
                        author_name: engine
                            .contact(&m.author)
                            .map(|c| c.display_name().to_owned())
                            .or_else(|| names.get(&m.author).cloned())
                            .unwrap_or_else(|| m.author.short()),
                        mine: m.author == me,
                        text: m.text,
                        sent_at: m.sent_at.as_millis(),
                        via: m.via,
                        reply_to: m.reply_to.map(|r| r.to_string()),
                        quote: m.quote.map(|q| q.chars().take(QUOTE_CHARS).collect()),
                        edited: m.edited,
                        deleted: m.deleted,
                        file: m.file.map(|f| FileInfo {
                            have: if m.file_held { f.size } else { 0 },
                            state: if m.file_held { "complete" } else { "going" }.to_owned(),
                            name: f.name,
                            mime: f.mime,
                            size: f.size,
                        }),
                        reactions: m
                            .reactions
                            .into_iter()
                            .map(|(who, emoji)| ReactionInfo {
                                by: if who == me {
                                    "you".to_owned()
                                } else {
                                    who.to_string()
                                },
                                emoji,
                            })
                            .collect(),
                    })
                    .collect(),
            })
        })(),
        Request::GroupOp {
            group,
            id: query,
            op,
            text,
        } => (|| {
            let id = engine.resolve_group(group)?;
            let to = find_group_message(engine, &id, query)?;
            let op = match op.as_str() {
                "reply" => GroupOp::Reply {
                    to,
                    text: text.clone(),
                },
                "react" => GroupOp::React {
                    to,
                    emoji: text.clone(),
                },
                "edit" => GroupOp::Edit {
                    to,
                    text: text.clone(),
                },
                "delete" => GroupOp::Delete { to },
                other => {
                    return Err(ApiError::new(
                        ErrorKind::Invalid,
                        format!("{other:?} is not an operation (reply, react, edit, delete)"),
                    ));
                }
            };
            let msg = engine.group_operate(now, &id, op)?;
            Ok(Reply::Sent {
                id: msg.to_string(),
            })
        })(),
        Request::GroupDisappear { group, secs } => (|| {
            let id = engine.resolve_group(group)?;
            if !cairn_protocol::disappear::valid(*secs) {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    "a timer is between 5 seconds and a year, or off",
                ));
            }
            let msg = engine.group_operate(now, &id, GroupOp::Timer(*secs))?;
            Ok(Reply::Sent {
                id: msg.to_string(),
            })
        })(),
        Request::GroupExport { group } => (|| {
            let id = engine.resolve_group(group)?;
            let (name, bytes) = engine
                .group_export(&id)
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no such group"))?;
            Ok(Reply::GroupExport {
                name,
                base64: data_encoding::BASE64.encode(&bytes),
            })
        })(),
        Request::BridgeJoin { gateway, alias } => (|| {
            let gw = engine.resolve(gateway)?;
            user_bridge::join(engine, now, &gw, alias)?;
            Ok(Reply::Done)
        })(),
        Request::BridgeLeave { gateway } => (|| {
            let gw = engine.resolve(gateway)?;
            user_bridge::leave(engine, now, &gw);
            Ok(Reply::Done)
        })(),
        Request::BridgeAdd { jid, via, name } => (|| {
            let gw = match via {
                Some(v) => engine.resolve(v)?,
                None => user_bridge::default_gateway(engine)?,
            };
            let b = user_bridge::add(engine, now, &gw, jid, name.as_deref())?;
            Ok(Reply::Contact(Box::new(user_bridge::contact_info(
                engine, &b,
            ))))
        })(),
        Request::SendFile { contact, path } => (|| {
            let bridged = user_bridge::find(engine, contact)?;
            let peer = match &bridged {
                Some(b) => b.gateway,
                None => engine.resolve(contact)?,
            };
            let data = read_file(path)?;
            let name = std::path::Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".to_owned());
            // To an XMPP contact the gateway uploads it (HTTP upload) once
            // it has it whole, and sends them its address.
            let id = match &bridged {
                Some(b) => {
                    engine.send_file_via(now, &peer, &b.jid, &name, mime_of(&name), &data)?
                }
                None => engine.send_file(now, &peer, &name, mime_of(&name), &data)?,
            };
            Ok(Reply::Sent { id: id.to_string() })
        })(),
        Request::FileStatus { contact, id } => (|| {
            let (peer, id) = file_target(engine, contact, id)?;
            let record = engine
                .file(&peer, &id)
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no file with that id"))?;
            Ok(Reply::File(file_info_of(record)))
        })(),
        Request::GroupSendFile { group, path } => (|| {
            let id = engine.resolve_group(group)?;
            let data = read_file(path)?;
            let name = std::path::Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".to_owned());
            let msg = engine.group_send_file(now, &id, &name, mime_of(&name), &data)?;
            Ok(Reply::Sent {
                id: msg.to_string(),
            })
        })(),
        Request::GroupSaveFile { group, id, path } => (|| {
            let (_, data) = group_file(engine, group, id, u64::MAX)?;
            write_new(path, &data)?;
            Ok(Reply::Done)
        })(),
        Request::GroupFileData { group, id, max } => (|| {
            let (meta, data) = group_file(engine, group, id, *max)?;
            Ok(Reply::FileData {
                name: meta.name,
                mime: meta.mime,
                base64: data_encoding::BASE64.encode(&data),
            })
        })(),
        Request::SaveFile { contact, id, path } => (|| {
            let (peer, id) = file_target(engine, contact, id)?;
            let data = complete_file(engine, &peer, &id)?;
            write_new(path, &data)?;
            Ok(Reply::Done)
        })(),
        Request::FileData { contact, id, max } => (|| {
            let (peer, id) = file_target(engine, contact, id)?;
            let record = engine
                .file(&peer, &id)
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no file with that id"))?;
            if record.meta.size > *max {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    format!("the file is {} bytes, more than {max}", record.meta.size),
                ));
            }
            let (name, mime) = (record.meta.name.clone(), record.meta.mime.clone());
            let data = complete_file(engine, &peer, &id)?;
            Ok(Reply::FileData {
                name,
                mime,
                base64: data_encoding::BASE64.encode(&data),
            })
        })(),
        Request::Backup {
            path,
            passphrase,
            files,
        } => backup(
            engine.store(),
            engine.identity(),
            engine.name(),
            path,
            passphrase.0.as_bytes(),
            *files,
        ),
        Request::Devices => Ok(Reply::Devices(devices_info(engine))),
        Request::DeviceRevoke { device } => (|| {
            let key = resolve_device(engine, device)?;
            engine.revoke_device(now, &key)?;
            Ok(Reply::Devices(devices_info(engine)))
        })(),
        Request::DeviceJoin {
            code,
            name,
            mailbox,
        } => (|| {
            let code = cairn_protocol::devices::LinkCode::from_uri(&code.0)
                .map_err(|e| ApiError::new(ErrorKind::Invalid, e.to_string()))?;
            engine.join_account(now, code, name, *mailbox)?;
            Ok(Reply::Devices(devices_info(engine)))
        })(),
        Request::Status
        | Request::Dial { .. }
        | Request::Watch
        | Request::Shutdown
        | Request::DeviceLink => return None,
    })
}

/// This account's devices as the API shows them.
pub fn devices_info(engine: &Engine<RedbStore>) -> DevicesInfo {
    let me = engine.identity_key();
    let devices = match engine.device_list() {
        Some(list) => list
            .devices()
            .iter()
            .map(|d| DeviceInfo {
                id: d.key().to_string(),
                name: d.name.clone(),
                mailbox: d.mailbox,
                this: d.key() == me,
            })
            .collect(),
        None if engine.is_joining() => Vec::new(),
        None => vec![DeviceInfo {
            id: me.to_string(),
            name: engine.name().to_owned(),
            mailbox: false,
            this: true,
        }],
    };
    DevicesInfo {
        account: engine.account_key().to_string(),
        this_device: me.to_string(),
        holder: engine.is_account_holder(),
        joining: engine.is_joining(),
        revoked: engine.device_list().map_or(0, |l| l.revoked().len()),
        devices,
    }
}

/// A device of this account by name, id or id prefix (8+ characters).
fn resolve_device(engine: &Engine<RedbStore>, query: &str) -> Result<IdentityKey, ApiError> {
    let q = query.trim();
    let list = engine
        .device_list()
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "this account has only this device"))?;
    let hits: Vec<IdentityKey> = list
        .devices()
        .iter()
        .filter(|d| {
            d.name.eq_ignore_ascii_case(q)
                || (q.len() >= 8 && d.key().to_string().starts_with(&q.to_ascii_lowercase()))
        })
        .map(|d| d.key())
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no device of this account matches {q:?}; `cairn device list` shows them"),
        )),
        _ => Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{q:?} matches several devices; use the id"),
        )),
    }
}

fn file_info_of(r: &cairn_protocol::file::FileRecord) -> FileInfo {
    FileInfo {
        name: r.meta.name.clone(),
        mime: r.meta.mime.clone(),
        size: r.meta.size,
        have: r.meta.bytes_in(r.have),
        state: crate::api::transfer_state(r.state).to_owned(),
    }
}

/// How many of a conversation's latest messages an id prefix is looked up in.
const ID_PREFIX_WINDOW: usize = 5000;
/// The shortest id prefix taken.
const MIN_ID_PREFIX: usize = 6;
/// How much of the answered text a reply shows.
const QUOTE_CHARS: usize = 80;

/// The message of the conversation with `peer` (and `remote`) that `query`
/// names: its whole id, or a prefix of one that no other message shares.
fn find_message(
    engine: &Engine<RedbStore>,
    peer: &IdentityKey,
    remote: Option<&str>,
    query: &str,
) -> Result<MessageRecord, ApiError> {
    let query = query.trim().to_ascii_lowercase();
    if query.len() < MIN_ID_PREFIX || !query.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!(
                "a message id is hex digits, at least {MIN_ID_PREFIX} of them (`cairn messages` shows them)"
            ),
        ));
    }
    let in_conversation = |m: &MessageRecord| {
        m.remote.as_deref() == remote && !m.op.is_some_and(|o| o.kind.is_change())
    };
    if let Ok(id) = query.parse::<MessageId>()
        && let Some(m) = engine.store().message(peer, &id)?.filter(in_conversation)
    {
        return Ok(m);
    }
    let mut hits: Vec<MessageRecord> = engine
        .store()
        .history(peer, Some(ID_PREFIX_WINDOW))?
        .into_iter()
        .filter(|m| in_conversation(m) && m.id.to_string().starts_with(&query))
        .collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no message in this conversation has an id starting {query}"),
        )),
        _ => Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{query} starts several messages' ids; give more of it"),
        )),
    }
}

/// The group message an id names — or its last [`MIN_ID_PREFIX`]+ hex
/// digits (as `cairn group messages` shows them; a group message id starts
/// with its author's clock, so its start is shared) or a prefix.
fn find_group_message(
    engine: &Engine<RedbStore>,
    group: &cairn_protocol::group::GroupId,
    query: &str,
) -> Result<MessageId, ApiError> {
    let query = query.trim().to_ascii_lowercase();
    if query.len() < MIN_ID_PREFIX || !query.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!(
                "a message id is hex digits, at least {MIN_ID_PREFIX} of them (`cairn group messages` shows them)"
            ),
        ));
    }
    let g = engine
        .group(group)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no such group"))?;
    let mut hits: Vec<MessageId> = g
        .messages()
        .into_iter()
        .map(|m| m.id)
        .filter(|id| {
            let id = id.to_string();
            id.starts_with(&query) || id.ends_with(&query)
        })
        .collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no message in this group has an id starting {query}"),
        )),
        _ => Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{query} starts several messages' ids; give more of it"),
        )),
    }
}

/// What a conversation shows: its messages (operations folded into the
/// messages they changed), replies with the start of what they answer.
pub fn message_infos(engine: &Engine<RedbStore>, history: Vec<MessageRecord>) -> Vec<MessageInfo> {
    let texts: std::collections::HashMap<MessageId, String> = history
        .iter()
        .filter(|m| !m.changes.deleted && m.op.is_none_or(|o| !o.kind.is_change()))
        .map(|m| (m.id, m.text.chars().take(QUOTE_CHARS).collect()))
        .collect();
    history
        .into_iter()
        .filter(|m| m.op.is_none_or(|o| !o.kind.is_change()))
        .map(|m| {
            let timer =
                m.op.filter(|o| o.kind == OpKind::Timer)
                    .and_then(|_| cairn_protocol::message::timer_secs(&m.text));
            let reply_to = m.op.filter(|o| o.kind == OpKind::Reply).map(|o| o.target);
            let reactions = m
                .changes
                .shown_reactions()
                .map(|(by, emoji)| ReactionInfo {
                    by: direction_str(by).to_owned(),
                    emoji: emoji.to_owned(),
                })
                .collect();
            MessageInfo {
                id: m.id.to_string(),
                direction: direction_str(m.direction).to_owned(),
                file: file_info(engine, &m),
                quote: reply_to.and_then(|t| texts.get(&t).cloned()),
                reply_to: reply_to.map(|t| t.to_string()),
                edited: m.changes.edited_at.is_some(),
                earlier: m.changes.earlier.iter().map(|(_, t)| t.clone()).collect(),
                deleted: m.changes.deleted,
                reactions,
                timer,
                text: if timer.is_some() {
                    String::new()
                } else {
                    m.text
                },
                sent_at: m.sent_at.as_millis(),
                local_at: m.local_at.as_millis(),
                state: m.state.as_str().to_owned(),
            }
        })
        .collect()
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
    }
}

fn file_info(engine: &Engine<RedbStore>, m: &cairn_protocol::MessageRecord) -> Option<FileInfo> {
    let meta = m.file.as_ref()?;
    Some(match engine.file(&m.peer, &m.id) {
        Some(r) => file_info_of(r),
        None => FileInfo {
            name: meta.name.clone(),
            mime: meta.mime.clone(),
            size: meta.size,
            have: 0,
            state: "going".to_owned(),
        },
    })
}

fn file_target(
    engine: &Engine<RedbStore>,
    contact: &str,
    id: &str,
) -> Result<(IdentityKey, cairn_protocol::MessageId), ApiError> {
    // A file from an XMPP contact came through (and is kept under) their
    // gateway.
    let peer = match user_bridge::find(engine, contact)? {
        Some(b) => b.gateway,
        None => engine.resolve(contact)?,
    };
    let id = id
        .parse()
        .map_err(|_| ApiError::new(ErrorKind::Invalid, "a file id is 32 hex digits"))?;
    Ok((peer, id))
}

fn complete_file(
    engine: &Engine<RedbStore>,
    peer: &IdentityKey,
    id: &cairn_protocol::MessageId,
) -> Result<Vec<u8>, ApiError> {
    match engine.file_data(peer, id)? {
        Some(data) => Ok(data),
        None => {
            let how_far = engine
                .file(peer, id)
                .map(|r| match r.state {
                    cairn_protocol::file::TransferState::Failed => {
                        "it failed its integrity check".to_owned()
                    }
                    _ => format!(
                        "{}% so far",
                        (r.meta.bytes_in(r.have) * 100)
                            .checked_div(r.meta.size)
                            .unwrap_or(100)
                    ),
                })
                .unwrap_or_else(|| "no such file".to_owned());
            Err(ApiError::new(
                ErrorKind::NotFound,
                format!("the file is not complete: {how_far}"),
            ))
        }
    }
}

/// Reads a file to send, within the size limit, with a clear error.
/// A group file we hold whole, found by its message's id; refused beyond
/// `max` bytes.
fn group_file(
    engine: &Engine<RedbStore>,
    group: &str,
    query: &str,
    max: u64,
) -> Result<(cairn_protocol::file::FileMeta, Vec<u8>), ApiError> {
    let gid = engine.resolve_group(group)?;
    let msg = find_group_message(engine, &gid, query)?;
    let Some((_, meta, held)) = engine.group(&gid).and_then(|g| g.file_of(&msg)) else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "that message is not a file",
        ));
    };
    if meta.size > max {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!("the file is {} bytes, more than {max}", meta.size),
        ));
    }
    if !held {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "the file has not arrived yet: it comes from whichever member holds it",
        ));
    }
    match engine.group_file_data(&gid, &msg)? {
        Some(whole) => Ok(whole),
        None => Err(ApiError::new(
            ErrorKind::Storage,
            "the file's content is missing from the store",
        )),
    }
}

fn read_file(path: &str) -> Result<Vec<u8>, ApiError> {
    let max = cairn_protocol::file::MAX_FILE_LEN;
    let meta = std::fs::metadata(path)
        .map_err(|e| ApiError::new(ErrorKind::Invalid, format!("cannot read {path}: {e}")))?;
    if !meta.is_file() {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{path} is not a file"),
        ));
    }
    if meta.len() > max {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!(
                "{path} is {} MiB; at most {} MiB can be sent",
                meta.len() / (1024 * 1024),
                max / (1024 * 1024)
            ),
        ));
    }
    std::fs::read(path)
        .map_err(|e| ApiError::new(ErrorKind::Invalid, format!("cannot read {path}: {e}")))
}

/// Writes `data` to a new file at `path` (never over an existing one).
/// Writes a backup beside `path` and moves it there once it is complete and
/// on disk: a failed backup leaves no half file behind, and an existing
/// file is never replaced.
pub fn backup(
    store: &RedbStore,
    identity: &cairn_protocol::Identity,
    name: &str,
    path: &str,
    passphrase: &[u8],
    files: bool,
) -> Result<Reply, ApiError> {
    use cairn_store::backup::{BackupError, BackupOptions};
    use std::os::unix::fs::OpenOptionsExt;
    let target = std::path::Path::new(path);
    if target.exists() {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{path} exists already; choose another name or remove it first"),
        ));
    }
    let part = target.with_extension(format!("part-{}", std::process::id()));
    let invalid =
        |e: std::io::Error| ApiError::new(ErrorKind::Invalid, format!("cannot write {path}: {e}"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&part)
        .map_err(invalid)?;
    let mut out = std::io::BufWriter::new(file);
    let options = BackupOptions {
        files,
        ..BackupOptions::default()
    };
    let written = store
        .backup(identity, name, passphrase, &options, &mut out)
        .and_then(|summary| {
            let file = out
                .into_inner()
                .map_err(|e| BackupError::Io(e.into_error()))?;
            file.sync_all()?;
            Ok((summary, file.metadata()?.len()))
        })
        .and_then(|done| {
            // Never over a file that appeared meanwhile.
            std::fs::hard_link(&part, target)?;
            Ok(done)
        });
    let _ = std::fs::remove_file(&part);
    let (summary, bytes) = written.map_err(|e| match e {
        BackupError::EmptyPassphrase => ApiError::new(ErrorKind::Invalid, e.to_string()),
        BackupError::Io(io) => invalid(io),
        other => ApiError::new(ErrorKind::Storage, other.to_string()),
    })?;
    if let Some(dir) = target.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(Reply::BackedUp(crate::api::BackupInfo {
        contacts: summary.contacts,
        messages: summary.messages,
        groups: summary.groups,
        files: summary.files,
        file_bytes: summary.file_bytes,
        bytes,
    }))
}

fn write_new(path: &str, data: &[u8]) -> Result<(), ApiError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| ApiError::new(ErrorKind::Invalid, format!("cannot create {path}: {e}")))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| ApiError::new(ErrorKind::Storage, format!("cannot write {path}: {e}")))
}

/// A media type from a file name's extension (what receivers use to show
/// images inline).
pub fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "ogg" | "opus" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}
