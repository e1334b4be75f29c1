//! The command line: every command, its arguments and its help text (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Cairn: a serverless peer-to-peer messenger. Every device runs a node; nodes
/// find each other on the local network and talk end-to-end encrypted.
#[derive(Parser)]
#[command(name = "cairn", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Profile directory (identity, contacts, messages). Defaults to the
    /// user's data directory, e.g. ~/.local/share/cairn.
    #[arg(long, global = true, env = "CAIRN_PROFILE", value_name = "DIR")]
    pub(crate) profile: Option<PathBuf>,
    /// Settings file to use instead of PROFILE/config.toml (the packaged
    /// service uses /etc/cairn/config.toml).
    #[arg(long, global = true, env = "CAIRN_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a profile: a new identity and an encrypted store. The
    /// passphrase comes from CAIRN_PASSPHRASE or is asked for.
    Init {
        /// The name your contacts see (with --link: your account's name).
        #[arg(long, required_unless_present = "link")]
        name: Option<String>,
        /// Make this a new device of an existing profile: the code
        /// `cairn device link` shows there. This device then gets your
        /// contacts, and every message to or from you reaches both.
        #[arg(long, value_name = "CODE")]
        link: Option<String>,
        /// What to call this device in `cairn device list` (with --link).
        #[arg(long, value_name = "NAME", default_value = "new device")]
        device_name: String,
        /// Link this device as your mailbox: always on, it holds what
        /// contacts send while your other devices are off (with --link).
        #[arg(long, requires = "link")]
        mailbox: bool,
    },
    /// Run the node in the foreground until Ctrl-C. Creates a profile first
    /// if there is none.
    Run {
        /// Name for a new profile (default: your login name).
        #[arg(long)]
        name: Option<String>,
        /// libp2p address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// Peer to dial at start (repeatable), for networks without multicast.
        #[arg(long, value_name = "MULTIADDR")]
        bootstrap: Vec<String>,
        /// Do not look for peers with multicast DNS.
        #[arg(long)]
        no_mdns: bool,
        /// Turn the LAN transport off entirely.
        #[arg(long)]
        no_lan: bool,
        /// Do not use Bluetooth LE.
        #[arg(long)]
        no_ble: bool,
        /// Act as this account's mailbox: answer contacts with "held" and
        /// hand what arrives to your other devices (`[mailbox] enabled`).
        #[arg(long)]
        mailbox: bool,
        /// The Bluetooth adapter to use, e.g. hci1 (default: the system's).
        #[arg(long, value_name = "NAME")]
        ble_adapter: Option<String>,
        /// Run Tor in the node: host an onion service (its address goes into
        /// your invite) and reach contacts at theirs.
        #[arg(long)]
        tor: bool,
        /// Nothing leaves this device except through Tor: no LAN, no mDNS,
        /// no Bluetooth. Implies --tor.
        #[arg(long)]
        tor_only: bool,
        /// arti settings (TOML) merged into Tor's: `[bridges]` for censored
        /// networks, `[tor_network]` for a private test network.
        #[arg(long, value_name = "FILE")]
        tor_config: Option<std::path::PathBuf>,
    },
    /// Print this node's invite (a cairn: link) on the first line.
    Invite {
        /// Also draw it as a QR code in the terminal.
        #[arg(long)]
        qr: bool,
    },
    /// Add a contact from their invite.
    Add {
        /// Their cairn: invite.
        invite: String,
        /// What to call them (instead of the name they chose).
        #[arg(long)]
        alias: Option<String>,
    },
    /// Send a text message. Exits 0 once it is queued durably; it is delivered
    /// as soon as the contact is reachable.
    Send {
        /// Alias, name or id (or an id prefix of 8+ characters).
        contact: String,
        text: String,
    },
    /// Reply to a message: yours quotes it. ID is the message's id or its
    /// first 6+ characters, as `cairn messages` shows them.
    Reply {
        contact: String,
        id: String,
        text: String,
    },
    /// React to a message with one emoji (one reaction per person; a new
    /// one replaces yours, "" takes it back).
    React {
        contact: String,
        id: String,
        emoji: String,
    },
    /// Change the text of a message you sent; it shows as edited, and the
    /// earlier text stays in its history.
    Edit {
        contact: String,
        id: String,
        text: String,
    },
    /// Delete a message you sent, for everyone: its text (and a file's
    /// content) is erased from both stores; "deleted" stays in its place.
    Delete { contact: String, id: String },
    /// Make the conversation's messages disappear: each is erased from both
    /// sides' stores AFTER it arrived (30s, 10m, 8h, 1d, 1w; at least 5s,
    /// at most a year), or "off". Both of you see the setting.
    Disappear { contact: String, after: String },
    /// Send a file (at most 64 MiB). The offer is queued like a message;
    /// the content follows, resumably, whenever you and the contact are
    /// linked. Shows its progress while the contact is in reach.
    SendFile {
        /// Alias, name or id.
        contact: String,
        path: std::path::PathBuf,
        /// Return once it is queued, without waiting for the transfer.
        #[arg(long)]
        no_wait: bool,
    },
    /// Send a voice note recorded as a WAV file (any rate, mono or stereo,
    /// at most 30 minutes). It is encoded with Opus at 12 kbit/s — a minute
    /// is about 90 KiB, fine over Bluetooth — and sent like a file.
    SendVoice {
        /// Alias, name or id.
        contact: String,
        /// The recording (WAV).
        path: std::path::PathBuf,
        /// Return once it is queued, without waiting for the transfer.
        #[arg(long)]
        no_wait: bool,
    },
    /// Play a voice note from a conversation (the id is in `cairn
    /// messages`), or save it as a WAV file with --out.
    Voice {
        contact: String,
        /// The voice note's message id.
        id: String,
        /// Write it to this WAV file instead of playing it (an existing file
        /// is never overwritten).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Save a file from a conversation (the id is in `cairn messages`).
    SaveFile {
        contact: String,
        /// The file message's id.
        id: String,
        /// Where to write it (default: its name, in the current directory).
        /// An existing file is never overwritten.
        path: Option<std::path::PathBuf>,
    },
    /// Show the conversation with a contact and each message's state. What
    /// they wrote is then marked read, and they get a read receipt.
    Messages {
        contact: String,
        /// Only the last N messages.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
        /// Look without marking anything read.
        #[arg(long)]
        peek: bool,
    },
    /// Follow what the running node hears, a line per event (new messages
    /// and who sent them, delivery states, contacts, groups, files) until
    /// the node stops or Ctrl-C. Message text is not shown: read it with
    /// `cairn messages`.
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List contacts.
    Contacts {
        #[arg(long)]
        json: bool,
    },
    /// Check what this machine offers Cairn: the profile, and whether
    /// Bluetooth LE can work (D-Bus, bluetoothd, the adapter, advertising).
    Doctor {
        /// The Bluetooth adapter to check (default: the system's).
        #[arg(long, value_name = "NAME")]
        ble_adapter: Option<String>,
    },
    /// Show the node's identity and its links by transport.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Show the safety number shared with a contact; compare it with theirs.
    Verify {
        contact: String,
        /// The numbers match: mark the contact verified.
        #[arg(long)]
        confirm: bool,
    },
    /// Group chats: create, add and remove members, send, read.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Your devices: one person on a laptop and a phone (docs/DEVICES.md).
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Run this node as a gateway to XMPP: it attaches to an XMPP server as
    /// an external component (XEP-0114) and bridges the Cairn users who join
    /// it. Runs in the foreground like `cairn run`; `[gateway]` in
    /// config.toml holds the same settings.
    Gateway {
        /// The server's component port.
        #[arg(long, default_value = "127.0.0.1:5347")]
        server: String,
        /// The component's domain, as the server's config names it.
        #[arg(long)]
        domain: Option<String>,
        /// A file holding the component secret (or set CAIRN_GATEWAY_SECRET).
        #[arg(long)]
        secret_file: Option<std::path::PathBuf>,
        /// XMPP domain or bare JID allowed to write through the gateway
        /// (repeatable). Default: everyone.
        #[arg(long)]
        allow: Vec<String>,
        /// Messages per minute per XMPP account.
        #[arg(long)]
        rate: Option<u32>,
        /// A host (or host:port) files shared from XMPP may be fetched from
        /// besides https on the domain's parent (repeatable): the server's
        /// HTTP upload service, e.g. 127.0.0.1:5280.
        #[arg(long)]
        files_from: Vec<String>,
        /// libp2p address to listen on (repeatable).
        #[arg(long)]
        listen: Vec<String>,
        /// Peer to dial at start (repeatable).
        #[arg(long)]
        bootstrap: Vec<String>,
        /// Do not look for peers with multicast DNS.
        #[arg(long)]
        no_mdns: bool,
    },
    /// Write the whole profile to one encrypted file: identity, contacts
    /// and their verification, groups, history and (unless --no-files)
    /// files. The backup's passphrase comes from CAIRN_BACKUP_PASSPHRASE or
    /// is asked for. Works while the node runs.
    Backup {
        /// Where to write it (must not exist yet).
        file: PathBuf,
        /// Leave the content of files out (their messages stay).
        #[arg(long)]
        no_files: bool,
    },
    /// Bring a profile back from a backup into an empty profile directory
    /// (e.g. on a new machine). Asks for the backup's passphrase
    /// (CAIRN_BACKUP_PASSPHRASE) and a passphrase for the restored profile
    /// (CAIRN_PASSPHRASE). Contacts start fresh sessions with it; nothing
    /// is read from a damaged file or with a wrong passphrase.
    Restore { file: PathBuf },
    /// Write the whole conversation with a contact, or a group's, to
    /// standard output (or --out FILE): readable text, or JSON with --json.
    Export {
        /// Alias, name or id of a contact; with --group, a group.
        name: String,
        /// NAME is a group.
        #[arg(long)]
        group: bool,
        #[arg(long)]
        json: bool,
        /// Write to FILE (must not exist yet) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script, e.g.
    /// `cairn completions bash > /etc/bash_completion.d/cairn`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (cairn.1 and one per command) into DIR.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
    /// Talk with people on XMPP (Conversations, Gajim, Dino…) through a
    /// gateway. What crosses a gateway is only as private as XMPP: the
    /// gateway and the XMPP servers can read it.
    #[command(subcommand)]
    Bridge(BridgeCommand),
}

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// List this account's devices.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a one-time code (and QR) for linking a new device: on the new
    /// one run `cairn init --link CODE`. Good for ten minutes and one use;
    /// the node must be running here (`cairn run`).
    Link,
    /// Revoke a device for good: your contacts and your other devices stop
    /// sending to it, even if it keeps running. A device that lost its
    /// place cannot come back; link it afresh instead.
    Revoke {
        /// The device's name or id (see `cairn device list`).
        device: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum BridgeCommand {
    /// Opt in to a gateway (a contact running `cairn gateway`): people on
    /// XMPP can then write to you at ALIAS@its-domain.
    Join {
        /// The gateway, as one of your contacts.
        gateway: String,
        /// The name you want there (default: your Cairn id).
        #[arg(long, default_value = "")]
        alias: String,
    },
    /// Stop being reachable through a gateway.
    Leave { gateway: String },
    /// Add someone on XMPP by address; then `cairn send xmpp:ADDRESS TEXT`.
    Add {
        /// Their XMPP address, e.g. juliet@example.org.
        jid: String,
        /// Their name in your contacts.
        #[arg(long)]
        name: Option<String>,
        /// Which joined gateway to use (needed when you joined several).
        #[arg(long)]
        via: Option<String>,
    },
}

/// GROUP below is the group's name or its id (or an id prefix of 4+ characters).
#[derive(Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group with you as its only member and admin; prints its id.
    Create { name: String },
    /// Add a contact to a group (admins only). They receive the whole history
    /// from whichever member they meet first.
    Add { group: String, contact: String },
    /// Remove a member (admins only). A new epoch starts; they receive
    /// nothing written after it.
    Remove {
        group: String,
        /// Contact alias, name or id, or the name or id the group shows.
        contact: String,
    },
    /// Make a member an admin (who may add, remove and change roles) or a
    /// plain member again (admins only; a group keeps at least one admin).
    Role {
        group: String,
        /// Contact alias, name or id, or the name or id the group shows.
        contact: String,
        #[arg(value_parser = ["admin", "member"])]
        role: String,
    },
    /// Send a text to the group. Exits 0 once it is stored; members get it
    /// when they are reachable.
    Send { group: String, text: String },
    /// Send a file to the group (at most 64 MiB); prints its id. Members
    /// fetch the content from whichever member holds it.
    SendFile {
        group: String,
        path: std::path::PathBuf,
    },
    /// Send a voice note recorded as a WAV file (encoded with Opus at
    /// 16 kbit/s, at most ten minutes); prints its id.
    SendVoice {
        group: String,
        path: std::path::PathBuf,
    },
    /// Play a group's voice note (the id is in `cairn group messages`), or
    /// save it as a WAV file with --out.
    Voice {
        group: String,
        id: String,
        /// Write it to this WAV file instead of playing it (an existing file
        /// is never overwritten).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Save a group's file (the id is in `cairn group messages`).
    SaveFile {
        group: String,
        id: String,
        /// Where to write it (default: its name, in the current directory).
        /// An existing file is never overwritten.
        path: Option<std::path::PathBuf>,
    },
    /// Reply to a group message: yours quotes it. ID is the message's id or
    /// its last 6+ characters, as `cairn group messages` shows them.
    Reply {
        group: String,
        id: String,
        text: String,
    },
    /// React to a group message with one emoji (one reaction per member; a
    /// new one replaces yours, "" takes it back).
    React {
        group: String,
        id: String,
        emoji: String,
    },
    /// Change the text of a post you wrote (from the device that wrote it);
    /// members see it marked edited.
    Edit {
        group: String,
        id: String,
        text: String,
    },
    /// Delete a post for every member: your own, or as an admin anyone's.
    /// Its text is erased from every member's store it reaches; "deleted"
    /// stays in its place.
    Delete { group: String, id: String },
    /// Make the group's posts disappear AFTER they were written (30s, 10m,
    /// 8h, 1d, 1w; at least 5s, at most a year), or "off". Admins only;
    /// every member sees the setting.
    Disappear { group: String, after: String },
    /// Show the group's messages, oldest first.
    Messages {
        group: String,
        /// Only the last N messages.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// List the members and their roles.
    Members {
        group: String,
        #[arg(long)]
        json: bool,
    },
    /// Leave a group. Its history stays readable here.
    Leave { group: String },
    /// List your groups.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Write the group's plain automerge document to FILE (schema in
    /// docs/GROUPS.md); any automerge implementation can load it.
    Export { group: String, file: PathBuf },
}
