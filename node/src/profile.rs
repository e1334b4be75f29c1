//! A profile directory: the store, the control socket and an optional config
//! file. The directory is the owner's alone (0700), and so is every file in it.
//!
//! ```text
//! PROFILE/
//!   cairn.redb     the encrypted store (0600)
//!   control.sock   the running node's control socket (0600)
//!   config.toml    optional settings; every key has a default (`--config`
//!                  / CAIRN_CONFIG names a file elsewhere instead)
//!   cairn.redb.restoring  only while `cairn restore` builds the store
//!   tor/           arti's state (the onion service's key: the address) and
//!                  directory cache, when Tor is on
//! ```

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{Opened, RedbStore, StoreOpenError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error(transparent)]
    Store(#[from] StoreOpenError),
    #[error("cannot use profile directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no default data directory on this system; pass --profile DIR")]
    NoDefaultDir,
    #[error("config file {path} is invalid: {reason}")]
    Config { path: String, reason: String },
    #[error(
        "profile directory {path} is open to other users (mode {mode:o}); \
         make it yours alone with: chmod 700 {path}"
    )]
    Exposed { path: String, mode: u32 },
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error(
        "a profile already exists in {0}; restore into a new profile directory (--profile DIR), \
         or move this one away first"
    )]
    Exists(String),
    #[error("profile directory {path} belongs to another user (uid {owner}); run as that user")]
    NotOurs { path: String, owner: u32 },
}

/// Settings from `config.toml`. Absent keys take the defaults shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub lan: LanSettings,
    pub mesh: MeshSettings,
    pub tor: TorSettings,
    pub ble: BleSettings,
    pub gateway: GatewaySettings,
    pub mailbox: MailboxSettings,
    pub devices: DevicesSettings,
}

/// What a newly linked device gets of the past (docs/DEVICES.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DevicesSettings {
    /// Messages of the last this many days.
    pub history_days: u32,
    /// At most this many messages per conversation.
    pub history_max: usize,
}

impl Default for DevicesSettings {
    fn default() -> Self {
        Self {
            history_days: 30,
            history_max: 10_000,
        }
    }
}

/// Run as this account's mailbox: an always-on device that holds what
/// contacts send while your other devices are off, and hands it to them
/// when they are in reach (docs/DEVICES.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MailboxSettings {
    pub enabled: bool,
}

/// Bluetooth LE: links with nodes in radio range, no network needed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BleSettings {
    /// Advertise and scan. Without an adapter (or bluetoothd) the node says
    /// why in `cairn status` and runs on its other transports.
    pub enabled: bool,
    /// The adapter, e.g. "hci0"; empty: the system's default.
    pub adapter: String,
    /// Peers heard weaker than this (dBm) are not connected to.
    pub rssi_floor: i16,
    /// Most Bluetooth links at once.
    pub max_links: usize,
    /// Seconds of scanning, then of rest.
    pub scan_on_secs: u64,
    pub scan_off_secs: u64,
    /// Minutes between changes of the advertised random token.
    pub rotate_minutes: u64,
}

impl Default for BleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            adapter: String::new(),
            rssi_floor: -95,
            max_links: 4,
            scan_on_secs: 10,
            scan_off_secs: 10,
            rotate_minutes: 15,
        }
    }
}

/// Run as a gateway to XMPP: attach to an XMPP server as an external
/// component (XEP-0114) and bridge Cairn users who opt in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    pub enabled: bool,
    /// The server's component port, `host:port`.
    pub server: String,
    /// The component's domain, as the server's config names it.
    pub domain: String,
    /// The component secret. Better: `secret_file`, or the
    /// `CAIRN_GATEWAY_SECRET` environment variable.
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// XMPP domains (subdomains included) or bare JIDs that may write to
    /// Cairn users through this gateway. Empty: everyone.
    pub allow: Vec<String>,
    /// Messages and subscription requests per minute per XMPP account.
    pub rate_per_minute: u32,
    /// How many may come at once before the rate applies.
    pub burst: u32,
    /// Where files shared from XMPP (HTTP upload, XEP-0363) may be fetched
    /// from, besides `https://` on the component's parent domain and its
    /// subdomains: `host` or `host:port` (plain `http://` only for these).
    pub files_from: Vec<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            server: "127.0.0.1:5347".into(),
            domain: String::new(),
            secret: None,
            secret_file: None,
            allow: Vec::new(),
            rate_per_minute: 120,
            burst: 30,
            files_from: Vec::new(),
        }
    }
}

/// Tor: an onion service of our own, and contacts reached at theirs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TorSettings {
    /// Run Tor (arti, inside the node): host this node's onion service, put
    /// its address in invites, and reach contacts at theirs.
    pub enabled: bool,
    /// Nothing leaves this device except through Tor: the LAN transport,
    /// mDNS and Bluetooth stay off. Implies `enabled`.
    pub only: bool,
    /// An arti TOML file merged into Tor's settings: `[bridges]` for
    /// censored networks, `[tor_network]` for a private test network.
    pub arti_config: Option<PathBuf>,
}

impl TorSettings {
    pub fn on(&self) -> bool {
        self.enabled || self.only
    }
}

/// Store and forward: what this node carries for others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MeshSettings {
    /// Carry and pass on other people's envelopes (and send our own through
    /// others). Off means messages go only over direct links.
    pub enabled: bool,
    /// The most this node holds for others, in MiB (0: carry nothing for
    /// others; our own outbox is never counted).
    pub relay_capacity_mib: u32,
    /// Tell neighbours which (hourly, unlinkable) tags are ours, so they hand
    /// over what they carry for us.
    pub announce_interest: bool,
}

impl Default for MeshSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            relay_capacity_mib: 8,
            announce_interest: true,
        }
    }
}

impl MeshSettings {
    /// Applies these settings to the core's configuration.
    pub fn apply(&self, config: &mut cairn_protocol::Config) {
        config.mesh.enabled = self.enabled;
        config.mesh.carrier.capacity_bytes = self.relay_capacity_mib as usize * 1024 * 1024;
        config.mesh.announce_interest = self.announce_interest;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LanSettings {
    /// Run the LAN transport at all.
    pub enabled: bool,
    /// libp2p multiaddrs to listen on.
    pub listen: Vec<String>,
    /// Find peers on the local network by multicast DNS.
    pub mdns: bool,
    /// Multiaddrs to dial at start, for networks without multicast.
    pub bootstrap: Vec<String>,
}

impl Default for LanSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".into(),
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
                "/ip6/::/tcp/0".into(),
                "/ip6/::/udp/0/quic-v1".into(),
            ],
            mdns: true,
            bootstrap: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
    /// A settings file elsewhere (`--config`, e.g. /etc/cairn/config.toml).
    config: Option<PathBuf>,
}

impl Profile {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            config: None,
        }
    }

    /// Reads settings from `path` instead of `DIR/config.toml`.
    pub fn with_config(mut self, path: Option<PathBuf>) -> Self {
        self.config = path;
        self
    }

    /// `$XDG_DATA_HOME/cairn` (or the platform's equivalent).
    pub fn default_location() -> Result<Self, ProfileError> {
        let dirs =
            directories::ProjectDirs::from("", "", "cairn").ok_or(ProfileError::NoDefaultDir)?;
        Ok(Self::at(dirs.data_dir()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.join("cairn.redb")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.dir.join("config.toml"))
    }

    /// arti's state and cache.
    pub fn tor_dir(&self) -> PathBuf {
        self.dir.join("tor")
    }

    /// This node's onion address, remembered from the last run with Tor on
    /// (so invites made while no node runs carry it too).
    pub fn onion_address(&self) -> Option<String> {
        let text = fs::read_to_string(self.tor_dir().join("onion-address")).ok()?;
        let address = text.trim();
        (address.ends_with(".onion") && address.len() < 100).then(|| address.to_owned())
    }

    pub(crate) fn remember_onion_address(&self, address: &str) -> std::io::Result<()> {
        let path = self.tor_dir().join("onion-address");
        fs::write(&path, format!("{address}\n"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
    }

    /// Makes the Tor directories, owner-only as arti insists.
    pub(crate) fn make_tor_dirs(&self) -> Result<(PathBuf, PathBuf), ProfileError> {
        let tor = self.tor_dir();
        let (state, cache) = (tor.join("state"), tor.join("cache"));
        for dir in [&tor, &state, &cache] {
            fs::create_dir_all(dir).map_err(|e| self.dir_error(e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| self.dir_error(e))?;
        }
        Ok((state, cache))
    }

    pub fn exists(&self) -> bool {
        self.store_path().exists()
    }

    fn dir_error(&self, source: std::io::Error) -> ProfileError {
        ProfileError::Dir {
            path: self.dir.display().to_string(),
            source,
        }
    }

    /// Creates the profile: directory, identity and store.
    pub fn create(&self, name: &str, passphrase: &[u8]) -> Result<Opened, ProfileError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.dir_error(e))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| self.dir_error(e))?;
        let identity = cairn_protocol::Identity::generate(&mut rand::rngs::OsRng);
        let opened = RedbStore::create(&self.store_path(), passphrase, &identity, name)?;
        fs::set_permissions(self.store_path(), fs::Permissions::from_mode(0o600))
            .map_err(|e| self.dir_error(e))?;
        Ok(opened)
    }

    /// Makes this (new) profile from a backup file, sealed under
    /// `passphrase`. Nothing is left behind on failure: the store is built
    /// beside its place and moved in only once the whole backup read back
    /// and committed. Returns what the backup held; open the profile next.
    pub fn restore(
        &self,
        backup: &mut dyn std::io::Read,
        backup_passphrase: &[u8],
        passphrase: &[u8],
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::backup::Summary, ProfileError> {
        if self.exists() {
            return Err(ProfileError::Exists(self.dir.display().to_string()));
        }
        let made_dir = !self.dir.exists();
        fs::create_dir_all(&self.dir).map_err(|e| self.dir_error(e))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| self.dir_error(e))?;
        let part = self.dir.join("cairn.redb.restoring");
        let _ = fs::remove_file(&part);
        let result = crate::backup::restore(backup, backup_passphrase, &part, passphrase, progress)
            .map_err(ProfileError::from)
            .and_then(|(opened, summary)| {
                drop(opened);
                fs::set_permissions(&part, fs::Permissions::from_mode(0o600))
                    .and_then(|()| fs::rename(&part, self.store_path()))
                    .map_err(|e| self.dir_error(e))?;
                Ok(summary)
            });
        if result.is_err() {
            let _ = fs::remove_file(&part);
            if made_dir {
                let _ = fs::remove_dir(&self.dir);
            }
        }
        result
    }

    pub fn open(&self, passphrase: &[u8]) -> Result<Opened, ProfileError> {
        self.check_private()?;
        Ok(RedbStore::open(&self.store_path(), passphrase)?)
    }

    /// Refuses a profile directory that other users can enter or that is not
    /// ours: the control socket and the store inside it are only as private
    /// as the directory (THREAT_MODEL.md, "Attacks tried" 10).
    pub fn check_private(&self) -> Result<(), ProfileError> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(&self.dir).map_err(|e| self.dir_error(e))?;
        let path = self.dir.display().to_string();
        let owner = meta.uid();
        if owner != rustix::process::getuid().as_raw() {
            return Err(ProfileError::NotOurs { path, owner });
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ProfileError::Exposed { path, mode });
        }
        Ok(())
    }

    pub fn load_config(&self) -> Result<NodeConfig, ProfileError> {
        let path = self.config_path();
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ProfileError::Config {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NodeConfig::default()),
            Err(e) => Err(ProfileError::Config {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings the README shows are the settings the node reads.
    #[test]
    fn the_readme_config_example_parses() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[lan]")
            .expect("README shows config.toml")
            + 8;
        let end = start + readme[start..].find("```").expect("end of the block");
        let config: NodeConfig = toml::from_str(&readme[start..end]).expect("valid config");
        assert!(config.lan.mdns && config.mesh.enabled && !config.tor.on());
    }

    #[test]
    fn a_profile_directory_open_to_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::at(dir.path().join("p"));
        profile.create("me", b"").unwrap();
        profile.check_private().unwrap();
        fs::set_permissions(profile.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = profile.open(b"").err().unwrap().to_string();
        assert!(err.contains("chmod 700"), "{err}");
        fs::set_permissions(profile.dir(), fs::Permissions::from_mode(0o700)).unwrap();
        profile.open(b"").unwrap();
    }

    /// The settings file the Debian package installs in /etc/cairn.
    #[test]
    fn the_packaged_config_parses() {
        let config: NodeConfig =
            toml::from_str(include_str!("../packaging/config.toml")).expect("valid config");
        assert!(config.mesh.enabled && !config.ble.enabled && !config.gateway.enabled);
    }

    #[test]
    fn a_config_file_elsewhere_is_read_instead() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("etc.toml");
        fs::write(&file, "[mesh]\nrelay_capacity_mib = 3\n").unwrap();
        let profile = Profile::at(dir.path().join("p")).with_config(Some(file));
        assert_eq!(profile.load_config().unwrap().mesh.relay_capacity_mib, 3);
    }

    #[test]
    fn tor_only_implies_tor() {
        let config: NodeConfig = toml::from_str("[tor]\nonly = true\n").unwrap();
        assert!(config.tor.on());
    }
}
