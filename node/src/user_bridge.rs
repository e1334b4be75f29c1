//! The user's side of bridging: which gateways this node joined, and its
//! contacts of kind `xmpp` (an address on XMPP reached through a gateway).
//! Kept as settings in the store:
//!
//! | key                             | value                          |
//! |---------------------------------|--------------------------------|
//! | `bridge/gw/<gateway id>`        | the alias asked for            |
//! | `bridge/addr/<gateway id>`      | our address there (from its Welcome) |
//! | `bridge/contact/<gateway id>/<jid>` | the contact's name         |

use std::collections::HashMap;

use cairn_protocol::bridge::{BridgeSignal, MAX_ALIAS_LEN, validate_remote};
use cairn_protocol::{Engine, Event, IdentityKey, StoreError};
use tracing::{info, warn};

use crate::api::{ApiError, ContactInfo, ErrorKind};
use crate::store::RedbStore;

const GW: &str = "bridge/gw/";
const ADDR: &str = "bridge/addr/";
const CONTACT: &str = "bridge/contact/";

/// A gateway this node joined.
#[derive(Debug, Clone)]
pub struct Joined {
    pub gateway: IdentityKey,
    pub alias: String,
    /// Our address on XMPP, once the gateway said.
    pub address: Option<String>,
}

/// A contact on XMPP.
#[derive(Debug, Clone)]
pub struct Bridged {
    pub gateway: IdentityKey,
    pub jid: String,
    pub name: String,
}

pub fn joined(engine: &Engine<RedbStore>) -> Result<Vec<Joined>, StoreError> {
    let addresses = engine.settings(ADDR)?;
    Ok(engine
        .settings(GW)?
        .into_iter()
        .filter_map(|(k, v)| {
            let gateway = k.strip_prefix(GW)?.parse().ok()?;
            let address = addresses
                .iter()
                .find(|(a, _)| a.strip_prefix(ADDR) == k.strip_prefix(GW))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
            Some(Joined {
                gateway,
                alias: String::from_utf8_lossy(&v).into_owned(),
                address,
            })
        })
        .collect())
}

pub fn contacts(engine: &Engine<RedbStore>) -> Result<Vec<Bridged>, StoreError> {
    Ok(engine
        .settings(CONTACT)?
        .into_iter()
        .filter_map(|(k, v)| {
            let (gw, jid) = k.strip_prefix(CONTACT)?.split_once('/')?;
            Some(Bridged {
                gateway: gw.parse().ok()?,
                jid: jid.to_owned(),
                name: String::from_utf8_lossy(&v).into_owned(),
            })
        })
        .collect())
}

/// Whether `query` names a contact on XMPP: `xmpp:jid` or a bare `jid`
/// with an `@` that is one of ours.
pub fn find(engine: &Engine<RedbStore>, query: &str) -> Result<Option<Bridged>, StoreError> {
    let jid = query.strip_prefix("xmpp:").unwrap_or(query).to_lowercase();
    if !jid.contains('@') {
        return Ok(None);
    }
    Ok(contacts(engine)?.into_iter().find(|c| c.jid == jid))
}

pub fn is_joined(engine: &Engine<RedbStore>, gateway: &IdentityKey) -> bool {
    engine
        .settings(&format!("{GW}{gateway}"))
        .is_ok_and(|s| !s.is_empty())
}

/// Opts in to `gateway`: it makes us reachable from XMPP.
pub fn join(
    engine: &mut Engine<RedbStore>,
    now: cairn_protocol::Time,
    gateway: &IdentityKey,
    alias: &str,
) -> Result<(), ApiError> {
    if alias.len() > MAX_ALIAS_LEN || alias.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!("an alias is at most {MAX_ALIAS_LEN} bytes of printable text"),
        ));
    }
    engine.put_setting(&format!("{GW}{gateway}"), alias.as_bytes().to_vec());
    engine.send_bridge(
        now,
        gateway,
        BridgeSignal::Join {
            alias: alias.to_owned(),
        },
    );
    Ok(())
}

pub fn leave(engine: &mut Engine<RedbStore>, now: cairn_protocol::Time, gateway: &IdentityKey) {
    engine.delete_setting(&format!("{GW}{gateway}"));
    engine.delete_setting(&format!("{ADDR}{gateway}"));
    engine.send_bridge(now, gateway, BridgeSignal::Leave);
}

/// Adds a contact on XMPP, reached through `gateway`, and asks to see their
/// presence.
pub fn add(
    engine: &mut Engine<RedbStore>,
    now: cairn_protocol::Time,
    gateway: &IdentityKey,
    jid: &str,
    name: Option<&str>,
) -> Result<Bridged, ApiError> {
    let jid = jid.strip_prefix("xmpp:").unwrap_or(jid).to_lowercase();
    let valid = validate_remote(&jid).is_ok()
        && jid.contains('@')
        && crate::gateway::core::bare_jid(&jid).as_deref() == Some(jid.as_str());
    if !valid {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            format!("{jid:?} is not an XMPP address (name@server.example)"),
        ));
    }
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| jid.split('@').next().unwrap_or(&jid).to_owned());
    engine.put_setting(
        &format!("{CONTACT}{gateway}/{jid}"),
        name.as_bytes().to_vec(),
    );
    let own = engine.name().to_owned();
    engine.send_bridge(
        now,
        gateway,
        BridgeSignal::Subscribe {
            remote: jid.clone(),
            name: own.chars().take(MAX_ALIAS_LEN).collect(),
        },
    );
    Ok(Bridged {
        gateway: *gateway,
        jid,
        name,
    })
}

/// Keeps a contact that wrote to us (or subscribed) from XMPP.
pub fn remember(engine: &mut Engine<RedbStore>, gateway: &IdentityKey, jid: &str, name: &str) {
    let key = format!("{CONTACT}{gateway}/{jid}");
    if engine.settings(&key).is_ok_and(|s| s.is_empty()) {
        let name = if name.is_empty() {
            jid.split('@').next().unwrap_or(jid)
        } else {
            name
        };
        engine.put_setting(&key, name.as_bytes().to_vec());
    }
}

pub fn set_address(engine: &mut Engine<RedbStore>, gateway: &IdentityKey, address: &str) {
    engine.put_setting(&format!("{ADDR}{gateway}"), address.as_bytes().to_vec());
}

/// The gateway to use when the user did not name one: the only one joined.
pub fn default_gateway(engine: &Engine<RedbStore>) -> Result<IdentityKey, ApiError> {
    let all = joined(engine)?;
    match all.as_slice() {
        [one] => Ok(one.gateway),
        [] => Err(ApiError::new(
            ErrorKind::Invalid,
            "join a gateway first: `cairn bridge join GATEWAY-CONTACT`",
        )),
        _ => Err(ApiError::new(
            ErrorKind::Invalid,
            "several gateways joined; say which with --via",
        )),
    }
}

pub fn contact_info(engine: &Engine<RedbStore>, c: &Bridged) -> ContactInfo {
    let via = engine
        .contact(&c.gateway)
        .map(|g| g.display_name().to_owned())
        .unwrap_or_else(|| c.gateway.short());
    ContactInfo {
        devices: 1,
        id: format!("xmpp:{}", c.jid),
        name: c.name.clone(),
        alias: None,
        verified: false,
        key_changed: false,
        origin: "xmpp".to_owned(),
        links: Vec::new(),
        kind: "xmpp".to_owned(),
        via: Some(via),
        presence: None,
        offline: String::new(),
        disappear_after: None,
    }
}

/// What a running node keeps about its XMPP contacts: presence and typing,
/// which are not stored.
#[derive(Debug, Default)]
pub struct UserBridge {
    presence: HashMap<(IdentityKey, String), (bool, String)>,
    typing: HashMap<(IdentityKey, String), bool>,
}

impl UserBridge {
    /// Follows the core's events: re-joins a gateway on every new session
    /// with it, keeps contacts who wrote from XMPP, and notes presence.
    pub fn on_event(&mut self, engine: &mut Engine<RedbStore>, event: &Event) {
        let now = crate::timestamp::now();
        match event {
            Event::SessionUp { peer } => {
                if let Ok(saved) = engine.settings(&format!("{GW}{peer}"))
                    && let Some((_, alias)) = saved.into_iter().next()
                {
                    let alias = String::from_utf8_lossy(&alias).into_owned();
                    engine.send_bridge(now, peer, BridgeSignal::Join { alias });
                }
            }
            Event::MessageReceived(record) => {
                if let Some(jid) = &record.remote
                    && is_joined(engine, &record.peer)
                {
                    self.typing.remove(&(record.peer, jid.clone()));
                    remember(engine, &record.peer, jid, "");
                }
            }
            Event::Bridge { peer, signal } if is_joined(engine, peer) => match signal {
                BridgeSignal::Welcome { address } => {
                    info!(gateway = %peer.short(), "joined the gateway");
                    set_address(engine, peer, address);
                }
                BridgeSignal::Presence {
                    remote,
                    available,
                    status,
                } => {
                    self.presence
                        .insert((*peer, remote.clone()), (*available, status.clone()));
                }
                BridgeSignal::ChatState { remote, state } => {
                    self.typing.insert(
                        (*peer, remote.clone()),
                        *state == cairn_protocol::bridge::ChatState::Composing,
                    );
                }
                BridgeSignal::Subscribe { remote, name } => remember(engine, peer, remote, name),
                BridgeSignal::Bounced { id, reason, .. } => {
                    warn!(gateway = %peer.short(), %id, %reason, "XMPP refused a message");
                }
                BridgeSignal::Refused { reason } => {
                    warn!(gateway = %peer.short(), %reason, "the gateway refused to bridge us");
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// "typing", "available", "available: STATUS", "unavailable", or None
    /// when nothing was heard.
    pub fn presence(&self, gateway: &IdentityKey, jid: &str) -> Option<String> {
        let key = (*gateway, jid.to_owned());
        if self.typing.get(&key) == Some(&true) {
            return Some("typing".to_owned());
        }
        self.presence
            .get(&key)
            .map(|(available, status)| match (available, status.is_empty()) {
                (true, true) => "available".to_owned(),
                (true, false) => format!("available: {status}"),
                (false, _) => "unavailable".to_owned(),
            })
    }

    /// Fills in presence for the `xmpp` contacts of a reply.
    pub fn annotate(&self, engine: &Engine<RedbStore>, contacts: &mut [ContactInfo]) {
        let Ok(all) = self::contacts(engine) else {
            return;
        };
        for info in contacts.iter_mut().filter(|c| c.kind == "xmpp") {
            let jid = info.id.strip_prefix("xmpp:").unwrap_or(&info.id);
            if let Some(b) = all.iter().find(|b| b.jid == jid) {
                info.presence = self.presence(&b.gateway, jid);
            }
        }
    }
}
