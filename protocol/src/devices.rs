//! One person, several devices: the device list an account key signs, and
//! the view a contact folds from every list it sees (docs/DEVICES.md).
//!
//! The view is a two-phase set: a device counts if some validly signed list
//! names it and no list revokes it. Revocations are permanent, so a removal
//! wins over a concurrent re-add in whatever order the two arrive, and a
//! stale list replayed later cannot bring a revoked device back. The serial
//! only tells the owner which list is newest; it decides nothing.
//!
//! ```text
//! device_list = version:u8 (=1) account:[32] serial:u64
//!               count:u8 (1..=16) { binding:[128] name:bytes8 (≤ 64) flags:u8 (1 mailbox) }*
//!               revoked:u16 (≤ 1024) { device:[32] }*
//!               signature:[64] = Ed25519(account, "cairn/devices/v1" ‖ everything before it)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use data_encoding::BASE32_NOPAD;

use crate::identity::{Identity, IdentityKey, StaticBinding};
use crate::invite::{ContactCard, MAX_CARD_LEN};
use crate::wire::{DecodeError, Reader, Writer};

/// Devices on one list at most.
pub const MAX_DEVICES: usize = 16;
/// Revoked devices an account can have. Past it, start a new account.
pub const MAX_REVOKED: usize = 1024;
/// Longest device name, in bytes.
pub const MAX_DEVICE_NAME: usize = 64;
/// Devices a contact's view holds at most (named by some list, revoked or
/// not): bounded even if the account signs list after list.
pub const MAX_SEEN: usize = MAX_DEVICES + MAX_REVOKED;
/// Longest encoded list: every field at its bound.
pub const MAX_LIST_LEN: usize =
    1 + 32 + 8 + 1 + MAX_DEVICES * (128 + 1 + MAX_DEVICE_NAME + 1) + 2 + MAX_REVOKED * 32 + 64;

const DOMAIN: &[u8] = b"cairn/devices/v1";
const VERSION: u8 = 1;
const FLAG_MAILBOX: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeviceError {
    #[error(
        "a device list for {expected} signed by another account ({found}): refused; \
         compare safety numbers with them"
    )]
    WrongAccount { expected: String, found: String },
    #[error("the device list's signature does not verify: refused")]
    BadSignature,
    #[error("a device on the list does not own its static key")]
    BadBinding,
    #[error(
        "device {0} was revoked: a revoked device never comes back (link it again: it gets new keys)"
    )]
    Revoked(String),
    #[error("the account's own device cannot be revoked")]
    OwnDevice,
    #[error("device {0} is not on the list")]
    NotListed(String),
    #[error("at most {MAX_DEVICES} devices")]
    TooMany,
    #[error("at most {MAX_REVOKED} revoked devices: start a new account")]
    TooManyRevoked,
    #[error("this list is signed by {0}'s account key; only it can change the list")]
    NotTheAccount(String),
    #[error("a device name is 1 to {MAX_DEVICE_NAME} bytes without control characters")]
    Name,
    #[error("malformed device list: {0}")]
    Malformed(#[from] DecodeError),
}

/// The one-time code a device holding the account key shows to link a new
/// one (`cairn device link`): whom to reach (its card), which account, and a
/// secret the new device proves it read. The holder accepts it once, within
/// minutes.
///
/// ```text
/// cairn:link: base32( version:u8 (=1) account:[32] secret:[16] card:bytes16 )
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LinkCode {
    pub account: IdentityKey,
    pub secret: [u8; 16],
    pub card: ContactCard,
}

/// How a link code starts.
pub const LINK_SCHEME: &str = "cairn:link:";

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkCode")
            .field("account", &self.account)
            .field("secret", &"..")
            .finish()
    }
}

impl LinkCode {
    pub fn to_uri(&self) -> String {
        let mut w = Writer::with_capacity(64 + MAX_CARD_LEN);
        w.u8(VERSION)
            .raw(self.account.as_bytes())
            .raw(&self.secret)
            .bytes(&self.card.encode());
        format!(
            "{LINK_SCHEME}{}",
            BASE32_NOPAD.encode(&w.into_vec()).to_ascii_lowercase()
        )
    }

    pub fn from_uri(uri: &str) -> Result<Self, DeviceError> {
        let uri = uri.trim();
        let bad = || DeviceError::Malformed(DecodeError::Invalid("link code"));
        if uri.len() > LINK_SCHEME.len() + (64 + MAX_CARD_LEN) * 8 / 5 + 8 {
            return Err(bad());
        }
        let scheme = uri.get(..LINK_SCHEME.len()).ok_or_else(bad)?;
        if !scheme.eq_ignore_ascii_case(LINK_SCHEME) {
            return Err(bad());
        }
        let bytes = BASE32_NOPAD
            .decode(uri[LINK_SCHEME.len()..].to_ascii_uppercase().as_bytes())
            .map_err(|_| bad())?;
        let mut r = Reader::new(&bytes);
        let version = r.u8("link code version")?;
        if version != VERSION {
            return Err(DecodeError::Version {
                field: "link code",
                version,
            }
            .into());
        }
        let account = IdentityKey::decode(&mut r)?;
        let secret = r.array("link secret")?;
        let card = ContactCard::decode(r.bytes(MAX_CARD_LEN, "card")?).map_err(|_| bad())?;
        r.finish()?;
        Ok(Self {
            account,
            secret,
            card,
        })
    }
}

/// A device that speaks for the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its own Ed25519 key and X25519 static key.
    pub binding: StaticBinding,
    /// What the owner calls it ("laptop", "mailbox").
    pub name: String,
    /// An always-on device that holds mail for the others.
    pub mailbox: bool,
}

impl Device {
    pub fn key(&self) -> IdentityKey {
        self.binding.identity
    }
}

/// Whether `name` may name a device: 1 to [`MAX_DEVICE_NAME`] bytes, no
/// control characters.
pub fn check_name(name: &str) -> Result<(), DeviceError> {
    if name.is_empty() || name.len() > MAX_DEVICE_NAME || name.chars().any(char::is_control) {
        return Err(DeviceError::Name);
    }
    Ok(())
}

/// The account's signed statement of its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList {
    account: IdentityKey,
    serial: u64,
    devices: Vec<Device>,
    revoked: BTreeSet<IdentityKey>,
    signature: [u8; 64],
}

impl DeviceList {
    /// The list of a profile with one device: the account key is that
    /// device (how every profile made before multi-device reads).
    pub fn first(account: &Identity, name: &str) -> Result<Self, DeviceError> {
        check_name(name)?;
        let mut list = Self {
            account: account.key(),
            serial: 0,
            devices: vec![Device {
                binding: account.binding().clone(),
                name: name.to_owned(),
                mailbox: false,
            }],
            revoked: BTreeSet::new(),
            signature: [0; 64],
        };
        list.sign(account);
        Ok(list)
    }

    pub fn account(&self) -> IdentityKey {
        self.account
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }

    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn revoked(&self) -> &BTreeSet<IdentityKey> {
        &self.revoked
    }

    pub fn contains(&self, device: &IdentityKey) -> bool {
        self.devices.iter().any(|d| &d.key() == device)
    }

    fn holder(&self, account: &Identity) -> Result<(), DeviceError> {
        if account.key() != self.account {
            return Err(DeviceError::NotTheAccount(self.account.short()));
        }
        Ok(())
    }

    /// Adds (or renames) a device. A revoked key is refused.
    pub fn add(
        &mut self,
        account: &Identity,
        binding: StaticBinding,
        name: &str,
        mailbox: bool,
    ) -> Result<(), DeviceError> {
        self.holder(account)?;
        check_name(name)?;
        binding.verify().map_err(|_| DeviceError::BadBinding)?;
        let key = binding.identity;
        if self.revoked.contains(&key) {
            return Err(DeviceError::Revoked(key.short()));
        }
        let device = Device {
            binding,
            name: name.to_owned(),
            mailbox,
        };
        let full = self.devices.len() >= MAX_DEVICES;
        match self.devices.iter_mut().find(|d| d.key() == key) {
            Some(existing) => *existing = device,
            None if full => return Err(DeviceError::TooMany),
            None => self.devices.push(device),
        }
        self.bump(account);
        Ok(())
    }

    /// Revokes a device, for good.
    pub fn revoke(&mut self, account: &Identity, device: &IdentityKey) -> Result<(), DeviceError> {
        self.holder(account)?;
        if device == &self.account {
            return Err(DeviceError::OwnDevice);
        }
        if self.revoked.contains(device) {
            return Ok(());
        }
        if !self.contains(device) {
            return Err(DeviceError::NotListed(device.short()));
        }
        if self.revoked.len() >= MAX_REVOKED {
            return Err(DeviceError::TooManyRevoked);
        }
        self.devices.retain(|d| &d.key() != device);
        self.revoked.insert(*device);
        self.bump(account);
        Ok(())
    }

    /// Folds in a list another holder of the account key signed meanwhile:
    /// both sides' revocations, and the devices neither revoked. The result
    /// is newer than both.
    pub fn merge(&mut self, account: &Identity, other: &DeviceList) -> Result<(), DeviceError> {
        self.holder(account)?;
        other.verify(&self.account)?;
        let revoked: BTreeSet<IdentityKey> = self.revoked.union(&other.revoked).copied().collect();
        if revoked.len() > MAX_REVOKED {
            return Err(DeviceError::TooManyRevoked);
        }
        let mut devices: Vec<Device> = Vec::new();
        for d in self.devices.iter().chain(&other.devices) {
            if !revoked.contains(&d.key()) && !devices.iter().any(|e| e.key() == d.key()) {
                devices.push(d.clone());
            }
        }
        if devices.len() > MAX_DEVICES {
            return Err(DeviceError::TooMany);
        }
        self.devices = devices;
        self.revoked = revoked;
        self.serial = self.serial.max(other.serial);
        self.bump(account);
        Ok(())
    }

    fn bump(&mut self, account: &Identity) {
        self.serial = self.serial.saturating_add(1);
        self.sign(account);
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + self.devices.len() * 200 + self.revoked.len() * 32);
        w.u8(VERSION).raw(self.account.as_bytes()).u64(self.serial);
        w.u8(self.devices.len() as u8);
        for d in &self.devices {
            d.binding.encode(&mut w);
            w.short_bytes(d.name.as_bytes())
                .u8(if d.mailbox { FLAG_MAILBOX } else { 0 });
        }
        w.u16(self.revoked.len() as u16);
        for r in &self.revoked {
            w.raw(r.as_bytes());
        }
        w.into_vec()
    }

    fn sign(&mut self, account: &Identity) {
        self.signature = account.sign(DOMAIN, &self.signed_part());
    }

    pub fn encoded_len(&self) -> usize {
        1 + 32
            + 8
            + 1
            + self
                .devices
                .iter()
                .map(|d| 128 + 1 + d.name.len() + 1)
                .sum::<usize>()
            + 2
            + self.revoked.len() * 32
            + 64
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Reads a list within its bounds. Nothing is trusted yet: call
    /// [`DeviceList::verify`] (or hand it to a [`DeviceView`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DeviceError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("device list version")?;
        if version != VERSION {
            return Err(DecodeError::Version {
                field: "device list",
                version,
            }
            .into());
        }
        let account = IdentityKey::decode(&mut r)?;
        let serial = r.u64("device list serial")?;
        let count = usize::from(r.u8("device count")?);
        if count == 0 || count > MAX_DEVICES {
            return Err(DecodeError::TooLong {
                field: "devices",
                len: count,
                max: MAX_DEVICES,
            }
            .into());
        }
        let mut devices = Vec::with_capacity(count);
        for _ in 0..count {
            let binding = StaticBinding::decode(&mut r, false)?;
            let name = r.short_str(MAX_DEVICE_NAME, "device name")?.to_owned();
            let flags = r.u8("device flags")?;
            devices.push(Device {
                binding,
                name,
                mailbox: flags & FLAG_MAILBOX != 0,
            });
        }
        let revoked_count = usize::from(r.u16("revoked count")?);
        if revoked_count > MAX_REVOKED {
            return Err(DecodeError::TooLong {
                field: "revoked devices",
                len: revoked_count,
                max: MAX_REVOKED,
            }
            .into());
        }
        let mut revoked = BTreeSet::new();
        for _ in 0..revoked_count {
            if !revoked.insert(IdentityKey::decode(&mut r)?) {
                return Err(DecodeError::Invalid("a device revoked twice").into());
            }
        }
        let signature = r.array("device list signature")?;
        r.finish()?;
        let mut seen = BTreeSet::new();
        if devices
            .iter()
            .any(|d| !seen.insert(d.key()) || revoked.contains(&d.key()))
        {
            return Err(
                DecodeError::Invalid("a device listed twice, or listed and revoked").into(),
            );
        }
        Ok(Self {
            account,
            serial,
            devices,
            revoked,
            signature,
        })
    }

    /// Checks that `account` signed this list and that every device owns
    /// its static key.
    pub fn verify(&self, account: &IdentityKey) -> Result<(), DeviceError> {
        if &self.account != account {
            return Err(DeviceError::WrongAccount {
                expected: account.short(),
                found: self.account.short(),
            });
        }
        account
            .verify(DOMAIN, &self.signed_part(), &self.signature)
            .map_err(|_| DeviceError::BadSignature)?;
        if self.devices.iter().any(|d| d.binding.verify().is_err()) {
            return Err(DeviceError::BadBinding);
        }
        Ok(())
    }
}

/// What a contact (or group member) believes about an account's devices:
/// every list it accepted, folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    account: IdentityKey,
    /// Every device some accepted list named, newest description kept.
    named: BTreeMap<IdentityKey, (u64, Device)>,
    revoked: BTreeSet<IdentityKey>,
    newest: u64,
}

/// What accepting a list changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<IdentityKey>,
    pub revoked: Vec<IdentityKey>,
}

impl DeviceView {
    /// The view of an account known from its card: its own key is its one
    /// device until a list says more.
    pub fn new(account: &StaticBinding) -> Self {
        let mut named = BTreeMap::new();
        named.insert(
            account.identity,
            (
                0,
                Device {
                    binding: account.clone(),
                    name: String::new(),
                    mailbox: false,
                },
            ),
        );
        Self {
            account: account.identity,
            named,
            revoked: BTreeSet::new(),
            newest: 0,
        }
    }

    pub fn account(&self) -> IdentityKey {
        self.account
    }

    /// The serial of the newest list accepted.
    pub fn newest(&self) -> u64 {
        self.newest
    }

    /// The devices that speak for the account now.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.named
            .iter()
            .filter(|(k, _)| !self.revoked.contains(k))
            .map(|(_, (_, d))| d)
    }

    pub fn is_revoked(&self, key: &IdentityKey) -> bool {
        self.revoked.contains(key)
    }

    pub fn device(&self, key: &IdentityKey) -> Option<&Device> {
        self.named
            .get(key)
            .filter(|_| !self.revoked.contains(key))
            .map(|(_, d)| d)
    }

    pub fn is_device(&self, key: &IdentityKey) -> bool {
        self.named.contains_key(key) && !self.revoked.contains(key)
    }

    /// Folds in a list: refused whole (and nothing changes) unless the
    /// account signed it; otherwise every device it names joins unless
    /// revoked by this or any earlier list, and its revocations are kept
    /// for good.
    pub fn accept(&mut self, list: &DeviceList) -> Result<Changes, DeviceError> {
        list.verify(&self.account)?;
        let before: BTreeSet<IdentityKey> = self.devices().map(Device::key).collect();
        let new_names = list
            .devices
            .iter()
            .filter(|d| !self.named.contains_key(&d.key()))
            .count();
        let new_revoked = list.revoked.difference(&self.revoked).count();
        if self.named.len() + new_names > MAX_SEEN {
            return Err(DeviceError::TooMany);
        }
        if self.revoked.len() + new_revoked > MAX_REVOKED {
            return Err(DeviceError::TooManyRevoked);
        }
        for d in &list.devices {
            let newer = self
                .named
                .get(&d.key())
                .is_none_or(|(serial, _)| list.serial >= *serial);
            if newer {
                self.named.insert(d.key(), (list.serial, d.clone()));
            }
        }
        self.revoked.extend(list.revoked.iter().copied());
        self.newest = self.newest.max(list.serial);
        let after: BTreeSet<IdentityKey> = self.devices().map(Device::key).collect();
        Ok(Changes {
            added: after.difference(&before).copied().collect(),
            revoked: before.difference(&after).copied().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::{RngCore, SeedableRng};

    fn id(seed: u64) -> Identity {
        Identity::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed))
    }

    fn keys(view: &DeviceView) -> BTreeSet<IdentityKey> {
        view.devices().map(Device::key).collect()
    }

    #[test]
    fn a_list_round_trips_and_verifies() {
        let alice = id(1);
        let phone = id(2);
        let mut list = DeviceList::first(&alice, "laptop").unwrap();
        list.add(&alice, phone.binding().clone(), "phone", false)
            .unwrap();
        let back = DeviceList::decode(&list.encode()).unwrap();
        assert_eq!(back, list);
        assert_eq!(list.encoded_len(), list.encode().len());
        back.verify(&alice.key()).unwrap();
        assert_eq!(back.serial(), 1);
        assert!(back.contains(&phone.key()) && back.contains(&alice.key()));
    }

    #[test]
    fn a_link_code_round_trips_and_hostile_ones_are_refused() {
        let alice = id(1);
        let card = ContactCard::new(
            &alice,
            "alice",
            vec![],
            crate::time::Time::from_secs(5),
            std::time::Duration::from_secs(600),
        )
        .unwrap();
        let code = LinkCode {
            account: alice.key(),
            secret: [9; 16],
            card,
        };
        let uri = code.to_uri();
        assert_eq!(
            LinkCode::from_uri(&uri.to_ascii_uppercase()),
            Ok(code.clone())
        );
        assert!(
            !format!("{code:?}").contains("9, 9"),
            "the secret is not shown"
        );
        for bad in [
            "",
            "cairn:link:",
            "cairn:abc",
            &uri[..uri.len() - 3],
            &format!("{uri}aa"),
            &uri.replace("cairn:link:", "cairn:"),
            &"cairn:link:a".repeat(4000),
        ] {
            assert!(LinkCode::from_uri(bad).is_err(), "{bad:.40}");
        }
    }

    /// The multi-device issue: "a removal must win over a concurrent re-add".
    /// Two holders of the account key start from the same list; one revokes
    /// the phone while the other renames it (a re-add). Whatever order a
    /// contact hears them in, the phone is out; the owner's merge agrees.
    #[test]
    fn a_removal_wins_over_a_concurrent_re_add() {
        let alice = id(1);
        let phone = id(2);
        let mut base = DeviceList::first(&alice, "laptop").unwrap();
        base.add(&alice, phone.binding().clone(), "phone", false)
            .unwrap();
        let mut revoked = base.clone();
        revoked.revoke(&alice, &phone.key()).unwrap();
        let mut readded = base.clone();
        readded
            .add(&alice, phone.binding().clone(), "phone (new name)", false)
            .unwrap();
        assert_eq!(revoked.serial(), readded.serial());
        for order in [[&revoked, &readded], [&readded, &revoked]] {
            let mut view = DeviceView::new(alice.binding());
            view.accept(&base).unwrap();
            for list in order {
                view.accept(list).unwrap();
            }
            assert!(!view.is_device(&phone.key()));
            assert_eq!(keys(&view), BTreeSet::from([alice.key()]));
        }
        let mut merged = readded.clone();
        merged.merge(&alice, &revoked).unwrap();
        assert!(!merged.contains(&phone.key()));
        assert!(merged.serial() > revoked.serial());
        // And the revoked key cannot be added back, even by the account.
        let err = merged
            .add(&alice, phone.binding().clone(), "phone", false)
            .unwrap_err();
        assert!(matches!(err, DeviceError::Revoked(_)), "{err}");
    }

    /// A stale list replayed after a revocation brings nothing back.
    #[test]
    fn a_replayed_older_list_does_not_resurrect_a_device() {
        let alice = id(1);
        let phone = id(2);
        let mut old = DeviceList::first(&alice, "laptop").unwrap();
        old.add(&alice, phone.binding().clone(), "phone", false)
            .unwrap();
        let mut new = old.clone();
        new.revoke(&alice, &phone.key()).unwrap();
        let mut view = DeviceView::new(alice.binding());
        view.accept(&new).unwrap();
        let changes = view.accept(&old).unwrap();
        assert_eq!(changes, Changes::default());
        assert!(!view.is_device(&phone.key()));
    }

    /// Verification is per account: a list signed by a different account
    /// key is refused with a clear warning and changes nothing.
    #[test]
    fn a_list_signed_by_another_account_is_refused_loudly() {
        let alice = id(1);
        let mallory = id(3);
        let mut view = DeviceView::new(alice.binding());
        let before = view.clone();
        let theirs = DeviceList::first(&mallory, "evil").unwrap();
        let err = view.accept(&theirs).unwrap_err();
        assert!(matches!(err, DeviceError::WrongAccount { .. }));
        assert!(err.to_string().contains("compare safety numbers"), "{err}");
        // Claiming alice's account but signed by mallory.
        let mut forged = DeviceList::first(&alice, "laptop").unwrap();
        forged
            .add(&alice, mallory.binding().clone(), "sneaky", false)
            .unwrap();
        let mut bytes = forged.encode();
        let n = bytes.len();
        bytes[n - 64..].copy_from_slice(&mallory.sign(DOMAIN, &forged.signed_part()));
        let forged = DeviceList::decode(&bytes).unwrap();
        assert_eq!(view.accept(&forged), Err(DeviceError::BadSignature));
        assert_eq!(view, before);
        // Only the account key changes a list.
        let mut list = DeviceList::first(&alice, "laptop").unwrap();
        let err = list
            .add(&mallory, mallory.binding().clone(), "x", false)
            .unwrap_err();
        assert!(matches!(err, DeviceError::NotTheAccount(_)));
    }

    /// A device whose static key is not its own is refused.
    #[test]
    fn a_device_with_a_forged_binding_is_refused() {
        let alice = id(1);
        let phone = id(2);
        let mut binding = phone.binding().clone();
        binding.static_key = alice.static_key();
        let mut list = DeviceList::first(&alice, "laptop").unwrap();
        assert_eq!(
            list.add(&alice, binding, "phone", false),
            Err(DeviceError::BadBinding)
        );
    }

    #[test]
    fn bounds_and_malformed_lists_are_refused() {
        let alice = id(1);
        let mut list = DeviceList::first(&alice, "laptop").unwrap();
        for i in 0..(MAX_DEVICES as u64 - 1) {
            list.add(&alice, id(100 + i).binding().clone(), "d", false)
                .unwrap();
        }
        assert_eq!(
            list.add(&alice, id(99).binding().clone(), "d", false),
            Err(DeviceError::TooMany)
        );
        assert_eq!(
            list.revoke(&alice, &alice.key()),
            Err(DeviceError::OwnDevice)
        );
        assert_eq!(
            DeviceList::first(&alice, "a\u{7}b").unwrap_err(),
            DeviceError::Name
        );
        let bytes = list.encode();
        // Every cut and every flipped byte is refused (by decode or verify).
        for cut in 0..bytes.len() {
            assert!(DeviceList::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 1;
            let ok = DeviceList::decode(&b).is_ok_and(|l| l.verify(&alice.key()).is_ok());
            assert!(!ok, "a flip at {at} was accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(DeviceList::decode(&longer).is_err());
        // A count past the bound is refused before anything is read.
        let mut b = bytes;
        b[41] = MAX_DEVICES as u8 + 1;
        assert!(matches!(
            DeviceList::decode(&b),
            Err(DeviceError::Malformed(DecodeError::TooLong { .. }))
        ));
    }

    /// One step of an owner with the account key: add device `d`, revoke
    /// device `d`, or merge in another writer's list.
    #[derive(Debug, Clone)]
    enum Op {
        Add(u8),
        Revoke(u8),
        Merge(u8),
    }

    fn op() -> impl Strategy<Value = (u8, Op)> {
        (
            0u8..3,
            prop_oneof![
                (0u8..6).prop_map(Op::Add),
                (0u8..6).prop_map(Op::Revoke),
                (0u8..3).prop_map(Op::Merge),
            ],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Three holders edit concurrently; a contact hears every list they
        /// made, in any order, any number of times: the view is the same,
        /// and no device any list revoked is in it.
        #[test]
        fn every_order_of_hearing_the_lists_gives_one_view(
            ops in proptest::collection::vec(op(), 1..30),
            seed in any::<u64>(),
        ) {
            let alice = id(1);
            let devices: Vec<Identity> = (0..6).map(|i| id(10 + i)).collect();
            let mut writers: Vec<DeviceList> =
                (0..3).map(|_| DeviceList::first(&alice, "laptop").unwrap()).collect();
            let mut heard = Vec::new();
            for (w, op) in ops {
                let w = usize::from(w);
                let result = match op {
                    Op::Add(d) => {
                        let binding = devices[usize::from(d)].binding().clone();
                        writers[w].add(&alice, binding, "d", false)
                    }
                    Op::Revoke(d) => writers[w].revoke(&alice, &devices[usize::from(d)].key()),
                    Op::Merge(o) => {
                        let other = writers[usize::from(o)].clone();
                        writers[w].merge(&alice, &other)
                    }
                };
                if result.is_ok() {
                    heard.push(writers[w].clone());
                }
            }
            let revoked: BTreeSet<IdentityKey> =
                heard.iter().flat_map(|l| l.revoked().iter().copied()).collect();
            let mut first = DeviceView::new(alice.binding());
            for l in &heard {
                first.accept(l).unwrap();
            }
            let mut order = heard.clone();
            order.extend(heard.iter().cloned());
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            for i in (1..order.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let mut second = DeviceView::new(alice.binding());
            for l in &order {
                second.accept(l).unwrap();
            }
            prop_assert_eq!(keys(&first), keys(&second));
            prop_assert!(keys(&first).is_disjoint(&revoked));
            prop_assert!(first.is_device(&alice.key()));
        }
    }
}
