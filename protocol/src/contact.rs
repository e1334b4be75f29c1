//! A contact as this node remembers it.

use crate::identity::{IdentityKey, StaticKey};
use crate::invite::{ContactCard, MAX_CARD_LEN, MAX_NAME_LEN, validate_name};
use crate::time::Time;
use crate::wire::{DecodeError, Reader, Writer};

const VERSION: u8 = 1;

/// How a contact came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOrigin {
    /// The user added their invite.
    Invite,
    /// They wrote first; we learned their card from their session.
    Request,
    /// Another device of someone's account (theirs or our own), learned from
    /// the account's signed device list. Not shown as a contact of its own.
    Device,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub identity: IdentityKey,
    /// Their latest card, with their static key and chosen name.
    pub card: ContactCard,
    /// What the user calls them, if not their own name.
    pub alias: Option<String>,
    /// The user compared safety numbers and confirmed.
    pub verified: bool,
    /// Their key changed since the user last acknowledged it.
    pub key_changed: bool,
    pub origin: ContactOrigin,
    pub added_at: Time,
    /// A device of this account (a [`ContactOrigin::Device`]): the
    /// conversation is with the account, never with the device.
    pub account: Option<IdentityKey>,
}

impl Contact {
    pub fn new(card: ContactCard, alias: Option<String>, origin: ContactOrigin, now: Time) -> Self {
        Self {
            identity: card.identity(),
            card,
            alias,
            verified: false,
            key_changed: false,
            origin,
            added_at: now,
            account: None,
        }
    }

    /// The conversation this contact's messages belong to: its account's,
    /// or its own when it is an account.
    pub fn conversation(&self) -> IdentityKey {
        self.account.unwrap_or(self.identity)
    }

    /// The name to show: the alias if set, else their own.
    pub fn display_name(&self) -> &str {
        self.alias.as_deref().unwrap_or_else(|| self.card.name())
    }

    pub fn static_key(&self) -> StaticKey {
        self.card.static_key()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(512);
        w.u8(if self.account.is_some() { 2 } else { VERSION })
            .bytes(&self.card.encode())
            .short_bytes(self.alias.as_deref().unwrap_or("").as_bytes())
            .u8(u8::from(self.verified) | (u8::from(self.key_changed) << 1))
            .u8(match self.origin {
                ContactOrigin::Invite => 1,
                ContactOrigin::Request => 2,
                ContactOrigin::Device => 3,
            })
            .u64(self.added_at.as_millis());
        if let Some(account) = &self.account {
            w.raw(account.as_bytes());
        }
        w.into_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("contact version")?;
        if !(VERSION..=2).contains(&version) {
            return Err(DecodeError::Version {
                field: "contact",
                version,
            });
        }
        let card = ContactCard::decode(r.bytes(MAX_CARD_LEN, "card")?)
            .map_err(|_| DecodeError::Invalid("card"))?;
        let alias = r.short_str(MAX_NAME_LEN, "alias")?;
        let alias = if alias.is_empty() {
            None
        } else {
            validate_name(alias).map_err(|_| DecodeError::Invalid("alias"))?;
            Some(alias.to_owned())
        };
        let flags = r.u8("flags")?;
        let origin = match r.u8("origin")? {
            1 => ContactOrigin::Invite,
            2 => ContactOrigin::Request,
            3 => ContactOrigin::Device,
            kind => {
                return Err(DecodeError::UnknownKind {
                    field: "origin",
                    kind,
                });
            }
        };
        let added_at = Time::from_millis(r.u64("added at")?);
        let account = if version == 2 {
            Some(IdentityKey::decode(&mut r)?)
        } else {
            None
        };
        r.finish()?;
        Ok(Self {
            identity: card.identity(),
            card,
            alias,
            verified: flags & 1 != 0,
            key_changed: flags & 2 != 0,
            origin,
            added_at,
            account,
        })
    }
}
