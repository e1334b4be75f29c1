//! Answers API requests against the core and the store. Used by the running
//! node and, when no node runs, by the CLI directly on the profile.

use std::time::{SystemTime, UNIX_EPOCH};

use cairn_protocol::{
    ContactCard, ContactOrigin, Direction, Engine, IdentityKey, SafetyNumber, Time,
};

use crate::api::{ApiError, ContactInfo, ErrorKind, MessageInfo, Reply, Request, SafetyInfo};
use crate::store::RedbStore;

/// The wall clock, as the core wants it.
pub fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Time::from_millis(ms)
}

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
        }
        .to_owned(),
        links,
    })
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
                .map(Reply::Contact)
                .ok_or_else(|| ApiError::new(ErrorKind::Internal, "contact vanished"))
        })(),
        Request::Contacts => Ok(Reply::Contacts {
            contacts: engine
                .contacts()
                .map(|c| c.identity)
                .collect::<Vec<_>>()
                .iter()
                .filter_map(|p| contact_info(engine, p))
                .collect(),
        }),
        Request::Send { contact, text } => (|| {
            let peer = engine.resolve(contact)?;
            let id = engine.send_text(now, &peer, text)?;
            Ok(Reply::Sent { id: id.to_string() })
        })(),
        Request::Messages { contact, limit } => (|| {
            let peer = engine.resolve(contact)?;
            let history = engine.store().history(&peer, *limit)?;
            Ok(Reply::Messages {
                contact: peer.to_string(),
                messages: history
                    .into_iter()
                    .map(|m| MessageInfo {
                        id: m.id.to_string(),
                        direction: match m.direction {
                            Direction::Incoming => "in",
                            Direction::Outgoing => "out",
                        }
                        .to_owned(),
                        text: m.text,
                        sent_at: m.sent_at.as_millis(),
                        local_at: m.local_at.as_millis(),
                        state: m.state.as_str().to_owned(),
                    })
                    .collect(),
            })
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
        Request::Status | Request::Dial { .. } | Request::Shutdown => return None,
    })
}
