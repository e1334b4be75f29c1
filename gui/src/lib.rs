//! Cairn's desktop app: an egui window around a node that runs in-process
//! (through `cairn-node`'s Rust API; never the protocol's internals).
//!
//! First piece (see docs/GUI.md for what is built and what is not):
//! onboarding and unlocking, chats with delivery states and a composer,
//! adding a contact from an invite (own invite as a link and a QR code), and
//! verifying a contact's safety number.
//!
//! Every control that a test or a screen reader must find has a label (egui
//! exposes them through AccessKit), and the tests in `tests/` drive the app by
//! those labels only.

use std::time::Duration;

mod backup;
mod devices;
pub mod edit;
pub mod fonts;
pub mod i18n;
pub mod load;
pub mod notify;
pub mod text;
mod voice;

use cairn_node::api::Notice;
use cairn_node::api::{
    ContactInfo, FileInfo, GroupInfo, GroupMemberInfo, GroupMessageInfo, MessageInfo, SafetyInfo,
    StatusInfo,
};
use cairn_node::{
    Client, ClientError, NodeConfig, NodeHandle, Profile, Reply, Request, RunOptions,
};
use egui::{Color32, RichText, TextEdit};
use load::{Loaded, Shown, UNREAD_WINDOW, Want};
use text::label;

/// Where the window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    /// No profile yet: choose a name and a passphrase.
    Onboarding,
    /// A profile exists: its passphrase opens it.
    Unlock,
    Main,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Chats,
    Groups,
    AddContact,
    Verify,
    Network,
    /// Profile → Back up… (not on the tab bar).
    Backup,
    /// Profile → Devices… (not on the tab bar).
    Devices,
}

/// The app. Owns a tokio runtime the node runs on.
pub struct CairnApp {
    rt: tokio::runtime::Runtime,
    profile: Profile,
    config: NodeConfig,
    screen: Screen,
    tab: Tab,
    /// The node: started in this process, or one that already runs on this
    /// profile (`cairn run`), attached by its control socket.
    client: Option<Client>,
    /// What the node says happened.
    notices: Option<tokio::sync::mpsc::Receiver<Notice>>,
    /// What the notices named, not yet read ([`load`]).
    wanted: Want,
    /// The read in progress, on the runtime.
    loading: Option<tokio::sync::oneshot::Receiver<Loaded>>,
    /// A chat to open once the contact list names it ([`Self::open_chat`]).
    open_chat_named: Option<String>,
    error: Option<String>,
    // onboarding / unlock
    name: String,
    passphrase: String,
    repeat: String,
    // main
    me: String,
    contacts: Vec<ContactInfo>,
    /// Each chat's last message, for the chat list: (text, from me, unread
    /// among the last few).
    previews: std::collections::HashMap<String, (String, bool, usize)>,
    selected: Option<String>,
    messages: Vec<MessageInfo>,
    /// The chat `messages` belong to.
    shown_chat: Option<String>,
    composer: String,
    /// What the composer's next send does to an earlier message: answers
    /// it, or replaces its text.
    composing: Composing,
    /// The composer's text was just put there: its caret goes to the end.
    caret_to_end: bool,
    invite_input: String,
    invite_image: String,
    own_invite: Option<(String, egui::TextureHandle)>,
    safety: Option<SafetyInfo>,
    last_refresh: f64,
    // groups
    groups: Vec<GroupInfo>,
    group: Option<String>,
    group_members: Vec<GroupMemberInfo>,
    group_messages: Vec<GroupMessageInfo>,
    group_name: String,
    group_composer: String,
    /// What the group composer writes: a post, a reply or an edit.
    group_composing: Composing,
    status: Option<StatusInfo>,
    /// Desktop notifications for new messages.
    notifications: bool,
    // files
    file_path: String,
    /// Pictures shown inline, by message id (None: could not be shown).
    images: std::collections::HashMap<String, Option<egui::TextureHandle>>,
    /// What happened to the last file saved.
    saved: Option<String>,
    /// The language the user picked (None: the system's).
    language: Option<String>,
    /// Whether the system's fonts are in (on the first frame).
    fonts: bool,
    /// The backup form (and, on the first screen, the restore form).
    backup: backup::BackupForm,
    /// This profile's devices, a link code shown, and (on the first
    /// screen) the form to link this device to a profile.
    devices: devices::DevicesView,
    /// Recording and playing voice notes.
    voice: voice::VoiceUi,
}

/// What the chat composer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Composing {
    New,
    /// A reply to the message `id`, which begins `quote`.
    Reply {
        id: String,
        quote: String,
    },
    /// A new text for our message `id`.
    Edit {
        id: String,
    },
}

/// What a message's menu asked for.
enum RowAction {
    Save,
    Reply,
    React(String),
    Edit,
    Delete,
}

/// The reactions a message's menu offers (any emoji can be sent from the
/// command line; these are the usual six).
const REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/// The disappearing timers the chat offers, in seconds (0: off).
const TIMERS: [u64; 5] = [0, 300, 3600, 86_400, 604_800];

/// The file in the profile that keeps the language picked in the app.
const LANGUAGE_FILE: &str = "language";

impl CairnApp {
    /// An app on `profile`, running its node with `config`.
    pub fn new(profile: Profile, config: NodeConfig) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("cairn-node")
            .build()?;
        let language = std::fs::read_to_string(profile.dir().join(LANGUAGE_FILE))
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        i18n::select(language.as_deref());
        let screen = if profile.exists() {
            Screen::Unlock
        } else {
            Screen::Onboarding
        };
        Ok(Self {
            rt,
            profile,
            config,
            screen,
            tab: Tab::Chats,
            client: None,
            notices: None,
            wanted: Want::default(),
            loading: None,
            open_chat_named: None,
            error: None,
            name: String::new(),
            passphrase: String::new(),
            repeat: String::new(),
            me: String::new(),
            contacts: Vec::new(),
            previews: std::collections::HashMap::new(),
            selected: None,
            messages: Vec::new(),
            shown_chat: None,
            composer: String::new(),
            composing: Composing::New,
            caret_to_end: false,
            invite_input: String::new(),
            invite_image: String::new(),
            own_invite: None,
            safety: None,
            last_refresh: f64::NEG_INFINITY,
            groups: Vec::new(),
            group: None,
            group_members: Vec::new(),
            group_messages: Vec::new(),
            group_name: String::new(),
            group_composer: String::new(),
            group_composing: Composing::New,
            status: None,
            notifications: true,
            file_path: String::new(),
            images: std::collections::HashMap::new(),
            saved: None,
            language,
            fonts: false,
            backup: backup::BackupForm::default(),
            devices: devices::DevicesView::default(),
            voice: voice::VoiceUi::default(),
        })
    }

    /// If a node already runs on this profile (`cairn run`, or another
    /// window), uses it through its control socket instead of starting one:
    /// no passphrase needed, the node stays up when the window closes.
    /// Returns whether it attached.
    pub fn attach_if_running(&mut self) -> bool {
        let client = Client::attach(&self.profile);
        let status = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), client.call(Request::Status)).await
        });
        let Ok(Ok(Reply::Status(status))) = status else {
            return false;
        };
        self.me = status.name.clone();
        self.status = Some(*status);
        self.use_client(client);
        true
    }

    /// Whether the window uses a node that runs outside it.
    pub fn is_attached(&self) -> bool {
        self.client.as_ref().is_some_and(Client::is_attached)
    }

    /// Uses `client` from now on: follows its notices (live updates and
    /// notifications) and reads everything once.
    fn use_client(&mut self, client: Client) {
        let notices = {
            let _inside = self.rt.enter();
            client.notices()
        };
        match notices {
            Ok(rx) => self.notices = Some(rx),
            Err(e) => tracing::debug!(error = %e, "no notices from the node"),
        }
        self.client = Some(client);
        self.screen = Screen::Main;
        self.refresh();
    }

    /// Unlocks (or creates, named `name`) the profile at once, as scripts
    /// do with `CAIRN_PASSPHRASE`.
    pub fn unlock_with(&mut self, passphrase: &str, name: &str) {
        self.passphrase = passphrase.to_owned();
        if self.profile.exists() {
            self.unlock();
        } else {
            self.name = name.to_owned();
            self.repeat = passphrase.to_owned();
            self.create_profile();
        }
    }

    /// The running node, once unlocked (tests join it to other nodes).
    pub fn node(&self) -> Option<&NodeHandle> {
        self.client.as_ref().and_then(Client::node)
    }

    /// Opens the chat with `contact` (a name, an alias or an id) once the
    /// contact list is in: for scripts and benchmarks.
    pub fn open_chat(&mut self, contact: &str) {
        self.open_chat_named = Some(contact.to_owned());
    }

    /// How many messages the open chat shows, and how many of them came
    /// from the other side.
    pub fn shown_messages(&self) -> (usize, usize) {
        let incoming = self.messages.iter().filter(|m| m.direction == "in").count();
        (self.messages.len(), incoming)
    }

    /// The tokio runtime the node runs on.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.rt.handle().clone()
    }

    /// One action the user took (send, add, verify…), answered before the
    /// frame goes on so that its error shows at once. Reading state never
    /// comes this way: that is [`load`], off the UI thread.
    fn call(&mut self, request: Request) -> Option<Reply> {
        let client = self.client.clone()?;
        match self.rt.block_on(client.call(request)) {
            Ok(reply) => Some(reply),
            Err(e) => {
                self.error = Some(shown_error(e));
                None
            }
        }
    }

    fn start(&mut self, opened: cairn_node::store::Opened) {
        self.me = opened.name.clone();
        let options = RunOptions {
            config: self.config.clone(),
            control_socket: true,
        };
        let profile = self.profile.clone();
        match self
            .rt
            .block_on(cairn_node::runtime::start(&profile, opened, options))
        {
            Ok((handle, _task)) => {
                self.passphrase.clear();
                self.repeat.clear();
                self.error = None;
                self.use_client(Client::in_process(handle));
            }
            Err(e) => self.error = Some(tr!("could-not-start", error = e.to_string())),
        }
    }

    fn create_profile(&mut self) {
        let name = self.name.trim().to_owned();
        if let Err(e) = cairn_protocol::invite::validate_name(&name) {
            self.error = Some(e.to_string());
            return;
        }
        if self.passphrase != self.repeat {
            self.error = Some(tr!("passphrases-differ"));
            return;
        }
        match self.profile.create(&name, self.passphrase.as_bytes()) {
            Ok(opened) => self.start(opened),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn unlock(&mut self) {
        match self.profile.open(self.passphrase.as_bytes()) {
            Ok(opened) => self.start(opened),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Re-reads contacts, groups, the open chat and group, and the status
    /// (in the background: [`Self::pump_loads`] shows it when it is in).
    fn refresh(&mut self) {
        self.wanted.merge(Want::all());
    }

    /// Shows a finished read, and starts the next one if anything is
    /// wanted. One read at a time; what is named meanwhile waits for the
    /// next.
    fn pump_loads(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &mut self.loading {
            match rx.try_recv() {
                Ok(loaded) => {
                    self.loading = None;
                    self.apply(loaded);
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                    ctx.request_repaint_after(Duration::from_millis(10));
                    return;
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => self.loading = None,
            }
        }
        // A chat picked, or a group: read it.
        if self.selected.is_some() && self.selected != self.shown_chat {
            self.wanted.chat = true;
        }
        if self.wanted.is_empty() {
            return;
        }
        let Some(client) = self.client.clone() else {
            return;
        };
        let want = std::mem::take(&mut self.wanted);
        let shown = Shown {
            chat: self.selected.clone(),
            chat_tail: self.messages[self.messages.len().saturating_sub(UNREAD_WINDOW)..].to_vec(),
            shown_chat: self.shown_chat.clone(),
            reading: self.tab == Tab::Chats,
            group: self.group.clone(),
            group_len: self.group_messages.len(),
            contacts: self.contacts.iter().map(|c| c.id.clone()).collect(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let repaint = ctx.clone();
        self.rt.spawn(async move {
            let _ = tx.send(load::load(client, want, shown).await);
            repaint.request_repaint();
        });
        self.loading = Some(rx);
    }

    fn apply(&mut self, l: Loaded) {
        if let Some(s) = l.status {
            self.status = Some(s);
        }
        if let Some(d) = l.devices {
            self.devices.info = Some(d);
        }
        if let Some(c) = l.contacts {
            self.contacts = c;
        }
        if let Some(g) = l.groups {
            self.groups = g;
        }
        for (id, messages) in l.previews {
            if let Some(last) = messages.last() {
                let unread = messages.iter().filter(|m| m.state == "received").count();
                let text = match last.timer {
                    Some(0) => tr!("timer-off"),
                    Some(secs) => tr!("timer-set", after = span(secs)),
                    None if last.deleted => tr!("message-deleted"),
                    None => preview(&last.text),
                };
                self.previews
                    .insert(id, (text, last.direction == "out", unread));
            }
        }
        if let Some(name) = &self.open_chat_named
            && let Some(c) = self
                .contacts
                .iter()
                .find(|c| c.id == *name || c.name == *name || c.alias.as_deref() == Some(name))
        {
            self.selected = Some(c.id.clone());
            self.open_chat_named = None;
        }
        // Open the first chat rather than an empty pane.
        if self.selected.is_none() {
            self.selected = self.contacts.first().map(|c| c.id.clone());
        }
        if let Some((id, messages)) = l.chat
            && self.selected.as_ref() == Some(&id)
        {
            self.messages = messages;
            self.shown_chat = Some(id);
        }
        if let Some((id, tail)) = l.chat_tail
            && self.selected.as_ref() == Some(&id)
            && self.shown_chat.as_ref() == Some(&id)
        {
            let from = tail
                .first()
                .and_then(|f| self.messages.iter().rposition(|m| m.id == f.id));
            match from {
                Some(at) => {
                    self.messages.truncate(at);
                    self.messages.extend(tail);
                    let over = self.messages.len().saturating_sub(load::SHOWN);
                    self.messages.drain(..over);
                }
                // Shown and read no longer meet: read it whole.
                None => {
                    self.wanted.chat = true;
                    self.wanted.chat_whole = true;
                }
            }
        }
        if let Some((id, members)) = l.group_members
            && self.group.as_ref() == Some(&id)
        {
            self.group_members = members;
        }
        if let Some((id, messages)) = l.group_messages
            && self.group.as_ref() == Some(&id)
        {
            self.group_messages = messages;
        }
        if let Some(e) = l.error {
            self.error = Some(e);
        }
    }

    fn send(&mut self) {
        let text = self.composer.trim().to_owned();
        let Some(contact) = self.selected.clone() else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let request = match &self.composing {
            Composing::New => Request::Send { contact, text },
            Composing::Reply { id, .. } => Request::MessageOp {
                contact,
                id: id.clone(),
                op: "reply".into(),
                text,
            },
            Composing::Edit { id } => Request::MessageOp {
                contact,
                id: id.clone(),
                op: "edit".into(),
                text,
            },
        };
        if self.call(request).is_some() {
            self.composer.clear();
            self.composing = Composing::New;
            self.refresh();
        }
    }

    /// Carries out what a message's menu asked for.
    fn message_action(&mut self, contact: &str, m: &MessageInfo, action: RowAction) {
        if matches!(action, RowAction::Save) {
            return self.save_file(contact, m);
        }
        let reacted = |e: &str| m.reactions.iter().any(|r| r.by == "out" && r.emoji == e);
        let (composing, composer) = (&mut self.composing, &mut self.composer);
        let op = menu_op(
            composing,
            composer,
            &mut self.caret_to_end,
            &m.id,
            &m.text,
            reacted,
            action,
        );
        if let Some((op, text)) = op {
            let request = Request::MessageOp {
                contact: contact.to_owned(),
                id: m.id.clone(),
                op: op.to_owned(),
                text,
            };
            if self.call(request).is_some() {
                self.refresh();
            }
        }
    }

    /// Offers the file at `path` in the open chat.
    fn send_file(&mut self, path: &std::path::Path) {
        let Some(contact) = self.selected.clone() else {
            return;
        };
        let path = match std::path::absolute(path) {
            Ok(p) => p.display().to_string(),
            Err(e) => {
                self.error = Some(format!("{}: {e}", path.display()));
                return;
            }
        };
        if self.call(Request::SendFile { contact, path }).is_some() {
            self.file_path.clear();
            self.error = None;
            self.refresh();
        }
    }

    /// Sends a recorded voice note in the open chat (as a file).
    fn send_voice(&mut self, note: &[u8]) {
        let Some(contact) = self.selected.clone() else {
            return;
        };
        self.send_voice_as(note, |path| Request::SendFile { contact, path });
    }

    /// Stages a recorded voice note for the node and sends it with the
    /// request `send` makes of its path (a chat's or a group's).
    fn send_voice_as(&mut self, note: &[u8], send: impl FnOnce(String) -> Request) {
        let staged = match cairn_node::voice::Staged::new(self.profile.dir(), note) {
            Ok(s) => s,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        let path = staged.path.display().to_string();
        // The node has read the file when it answers; the copy then goes.
        if self.call(send(path)).is_some() {
            self.error = None;
            self.refresh();
        }
    }

    /// The samples of a complete voice note, fetched and decoded once.
    fn fetch_voice(&mut self, contact: &str, m: &MessageInfo) {
        self.fetch_voice_with(
            &m.id,
            Request::FileData {
                contact: contact.to_owned(),
                id: m.id.clone(),
                max: cairn_node::voice::MAX_BYTES,
            },
        );
    }

    /// The samples of the voice note `id`, fetched once with `request`.
    fn fetch_voice_with(&mut self, id: &str, request: Request) {
        if !self.voice.needs(id) {
            return;
        }
        let bytes = match self.call(request) {
            Some(Reply::FileData { base64, .. }) => {
                data_encoding::BASE64.decode(base64.as_bytes()).ok()
            }
            _ => None,
        };
        self.voice.keep(id, bytes.as_deref());
    }

    /// Sound for voice notes from somewhere other than the sound devices
    /// (tests: a WAV file as the microphone).
    pub fn set_audio(&mut self, audio: Box<dyn cairn_node::audio::Audio>) {
        self.voice = voice::VoiceUi::with(audio);
    }

    /// The voice note playing, by message id.
    pub fn playing_voice(&self) -> Option<&str> {
        self.voice.playing()
    }

    /// Saves a complete file into the user's downloads folder, under a name
    /// not yet taken there.
    fn save_file(&mut self, contact: &str, m: &MessageInfo) {
        let Some(f) = &m.file else { return };
        let path = download_path(&f.name);
        let request = Request::SaveFile {
            contact: contact.to_owned(),
            id: m.id.clone(),
            path: path.clone(),
        };
        if self.call(request).is_some() {
            self.saved = Some(tr!("saved-file", path = path));
        }
    }

    /// Saves a group's file we hold into the downloads folder.
    fn save_group_file(&mut self, group: &str, m: &GroupMessageInfo) {
        let Some(f) = &m.file else { return };
        let path = download_path(&f.name);
        let request = Request::GroupSaveFile {
            group: group.to_owned(),
            id: m.id.clone(),
            path: path.clone(),
        };
        if self.call(request).is_some() {
            self.saved = Some(tr!("saved-file", path = path));
        }
    }

    /// The picture of a complete image file, decoded once.
    fn image_of(
        &mut self,
        ctx: &egui::Context,
        contact: &str,
        m: &MessageInfo,
    ) -> Option<egui::TextureHandle> {
        if let Some(known) = self.images.get(&m.id) {
            return known.clone();
        }
        let texture = match self.call(Request::FileData {
            contact: contact.to_owned(),
            id: m.id.clone(),
            max: MAX_INLINE_IMAGE,
        }) {
            Some(Reply::FileData { base64, .. }) => decode_picture(&base64)
                .map(|img| ctx.load_texture(format!("file-{}", m.id), img, Default::default())),
            _ => None,
        };
        self.images.insert(m.id.clone(), texture.clone());
        texture
    }

    fn add_contact(&mut self) {
        let invite = self.invite_input.trim().to_owned();
        if let Some(Reply::Contact(c)) = self.call(Request::Add {
            invite,
            alias: None,
        }) {
            self.invite_input.clear();
            self.selected = Some(c.id.clone());
            self.tab = Tab::Chats;
            self.error = None;
            self.refresh();
        }
    }

    /// Keyboard: Ctrl+1…5 switch tabs; Ctrl+Up / Ctrl+Down move to the
    /// previous / next chat. (Tab moves between fields and Enter sends, as
    /// egui does everywhere.)
    fn shortcuts(&mut self, ui: &egui::Ui) {
        use egui::{Key, Modifiers};
        let tabs = [
            (Key::Num1, Tab::Chats),
            (Key::Num2, Tab::Groups),
            (Key::Num3, Tab::AddContact),
            (Key::Num4, Tab::Verify),
            (Key::Num5, Tab::Network),
        ];
        for (key, tab) in tabs {
            if ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, key)) {
                self.tab = tab;
            }
        }
        let step = if ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::ArrowDown)) {
            1
        } else if ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::ArrowUp)) {
            -1
        } else {
            return;
        };
        if self.contacts.is_empty() {
            return;
        }
        let n = self.contacts.len() as isize;
        let at = self
            .selected
            .as_ref()
            .and_then(|id| self.contacts.iter().position(|c| &c.id == id))
            .map_or(0, |i| i as isize);
        let next = (at + step).rem_euclid(n) as usize;
        self.selected = Some(self.contacts[next].id.clone());
        self.tab = Tab::Chats;
        self.safety = None;
        self.refresh();
    }

    /// A desktop notification for each message that arrived in a chat the
    /// user is not looking at (another chat open, or the window in the
    /// background). Sent off the UI thread.
    fn notify(&mut self, ui: &egui::Ui, arrived: Vec<String>) {
        if !self.notifications {
            return;
        }
        let focused = ui.input(|i| i.focused);
        for peer in arrived {
            let open = focused
                && self.tab == Tab::Chats
                && self.selected.as_deref() == Some(peer.as_str());
            if open {
                continue;
            }
            let name = self
                .contacts
                .iter()
                .find(|c| c.id == peer)
                .map(|c| c.alias.clone().unwrap_or_else(|| c.name.clone()))
                .unwrap_or_else(|| tr!("someone-new"));
            self.rt.spawn_blocking(move || {
                if let Err(e) = notify::new_message(&name) {
                    tracing::debug!(error = %e, "no desktop notification");
                }
            });
        }
    }

    /// Adds the contact whose invite is the QR code in the image at `path`.
    fn add_contact_from_image(&mut self, path: &std::path::Path) {
        match invite_from_image(path) {
            Ok(uri) => {
                self.invite_input = uri;
                self.invite_image.clear();
                self.add_contact();
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn own_invite(&mut self, ctx: &egui::Context) {
        if self.own_invite.is_some() {
            return;
        }
        let Some(Reply::Invite { uri }) = self.call(Request::Invite) else {
            return;
        };
        let Some(texture) = qr_texture(ctx, "own-invite", &uri) else {
            return;
        };
        self.own_invite = Some((uri, texture));
    }

    fn onboarding(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr!("welcome"));
        label(ui, tr!("welcome-tagline"));
        ui.add_space(12.0);
        let l = label(ui, tr!("your-name"));
        let hint = tr!("your-name-hint");
        edit::line_edit(ui, &mut self.name, "your-name", 300.0, &hint)
            .response
            .labelled_by(l.id);
        let l = label(ui, tr!("passphrase"));
        ui.add(TextEdit::singleline(&mut self.passphrase).password(true))
            .labelled_by(l.id);
        let l = label(ui, tr!("repeat-passphrase"));
        ui.add(TextEdit::singleline(&mut self.repeat).password(true))
            .labelled_by(l.id);
        if self.passphrase.is_empty() {
            ui.colored_label(
                Color32::from_rgb(0xd0, 0x80, 0x00),
                tr!("no-passphrase-warning"),
            );
        }
        if ui.button(tr!("create-profile")).clicked() {
            self.create_profile();
        }
        self.restore_section(ui);
        self.link_section(ui);
    }

    fn unlock_screen(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr!("unlock-title"));
        let l = label(ui, tr!("passphrase"));
        let field = ui
            .add(TextEdit::singleline(&mut self.passphrase).password(true))
            .labelled_by(l.id);
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button(tr!("unlock")).clicked() || enter {
            self.unlock();
        }
    }

    fn chats(&mut self, ui: &mut egui::Ui) {
        start_panel("contacts")
            .resizable(true)
            .default_size(200.0)
            .show(ui, |ui| {
                column(ui, |ui| {
                    ui.heading(tr!("chats"));
                    if self.contacts.is_empty() {
                        label(ui, tr!("no-contacts"));
                    }
                    // Only the rows in view are laid out: a list of 1 000 chats
                    // costs a frame what a screenful does. Every row is a name
                    // and a preview line, so all are one height.
                    let row = ui.text_style_height(&egui::TextStyle::Body)
                        + ui.spacing().button_padding.y * 2.0
                        + ui.spacing().item_spacing.y
                        + ui.text_style_height(&egui::TextStyle::Small);
                    let mut picked = None;
                    let count = self.contacts.len();
                    egui::ScrollArea::vertical()
                        .id_salt("chat list")
                        .auto_shrink([false, false])
                        .show_rows(ui, row, count, |ui, rows| {
                            for c in &self.contacts[rows] {
                                let name = c.alias.clone().unwrap_or_else(|| c.name.clone());
                                let mut shown = name.clone();
                                if c.key_changed {
                                    shown.push(' ');
                                    shown.push_str(&tr!("mark-key-changed"));
                                }
                                if c.kind == "xmpp" {
                                    shown.push(' ');
                                    shown.push_str(&tr!("mark-xmpp"));
                                }
                                if !c.links.is_empty() {
                                    shown.push(' ');
                                    shown.push_str(&tr!("mark-online"));
                                }
                                match self.previews.get(&c.id).map(|p| p.2) {
                                    Some(UNREAD_WINDOW) => shown.push_str(&format!(
                                        " — {}",
                                        tr!("unread-many", count = UNREAD_WINDOW)
                                    )),
                                    Some(n) if n > 0 => {
                                        shown.push_str(&format!(" — {}", tr!("unread", count = n)))
                                    }
                                    _ => {}
                                }
                                let selected = self.selected.as_deref() == Some(c.id.as_str());
                                if text::selectable(ui, selected, shown).clicked() {
                                    picked = Some(c.id.clone());
                                }
                                let preview = match self.previews.get(&c.id) {
                                    Some((text, true, _)) => tr!("you-wrote", text = text.clone()),
                                    Some((text, false, _)) => text.clone(),
                                    None => String::new(),
                                };
                                label(ui, RichText::new(preview).weak().small());
                            }
                        });
                    if let Some(id) = picked {
                        self.selected = Some(id);
                        self.safety = None;
                        self.refresh();
                    }
                })
            });
        let Some(id) = self.selected.clone() else {
            ui.centered_and_justified(|ui| label(ui, tr!("choose-chat")));
            return;
        };
        let contact = self.contacts.iter().find(|c| c.id == id).cloned();
        if contact.as_ref().is_some_and(|c| c.key_changed) {
            ui.colored_label(
                Color32::RED,
                RichText::new(tr!("key-changed-warning")).strong(),
            );
        }
        if let Some(c) = contact.as_ref().filter(|c| c.kind == "xmpp") {
            ui.colored_label(
                Color32::from_rgb(0xc0, 0x70, 0x00),
                tr!(
                    "bridged-chat",
                    gateway = c.via.clone().unwrap_or_else(|| tr!("a-gateway"))
                ),
            );
        }
        let bridged = contact.as_ref().is_some_and(|c| c.kind == "xmpp");
        let timer = contact
            .as_ref()
            .and_then(|c| c.disappear_after)
            .unwrap_or(0);
        egui::Panel::bottom("composer").show(ui, |ui| {
            let banner = match &self.composing {
                Composing::New => None,
                Composing::Reply { quote, .. } => Some(tr!("replying-to", quote = quote.clone())),
                Composing::Edit { .. } => Some(tr!("editing")),
            };
            if let Some(banner) = banner {
                row(ui, |ui| {
                    label(ui, RichText::new(banner).weak());
                    if ui.button(tr!("cancel")).clicked() {
                        self.composing = Composing::New;
                        self.composer.clear();
                    }
                });
            }
            let fresh = std::mem::take(&mut self.caret_to_end);
            if composer_at(ui, &tr!("message"), &mut self.composer, &tr!("send"), fresh) {
                self.send();
            }
            // To XMPP contacts too: the gateway uploads files (HTTP upload).
            if composer(
                ui,
                &tr!("file-to-send"),
                &mut self.file_path,
                &tr!("send-file"),
            ) {
                let path = std::path::PathBuf::from(self.file_path.trim());
                self.send_file(&path);
            }
            // The chat's disappearing timer and the voice-note button go
            // with the composer, on one line: the conversation above keeps
            // all its room for messages.
            {
                // XMPP has no timer to agree on; voice notes go as files.
                let (secs, note) = row(ui, |ui| {
                    let secs = if bridged {
                        None
                    } else {
                        let secs = timer_choice(ui, timer);
                        ui.separator();
                        secs
                    };
                    (secs, self.voice.record_button(ui))
                })
                .inner;
                if let Some(secs) = secs {
                    let request = Request::Disappear {
                        contact: id.clone(),
                        secs,
                    };
                    if self.call(request).is_some() {
                        self.refresh();
                    }
                }
                if let Some(note) = note {
                    self.send_voice(&note);
                }
                if let Some(e) = &self.voice.error {
                    ui.colored_label(Color32::RED, e);
                }
            }
            if let Some(saved) = &self.saved {
                label(ui, RichText::new(saved).weak());
            }
        });
        // A file dropped on an open chat is sent in it.
        let dropped: Option<std::path::PathBuf> =
            ui.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
        if let Some(path) = dropped {
            self.send_file(&path);
        }
        // Rows differ in height (files, pictures), so the visible ones are
        // found from the heights rather than egui's uniform `show_rows`.
        let heights: Vec<f32> = self.messages.iter().map(row_height).collect();
        let total: f32 = heights.iter().sum();
        let messages = std::mem::take(&mut self.messages);
        let mut action = None;
        // A little air under the top bar (the first message's menu button is
        // taller than its text, which would otherwise touch the bar).
        ui.add_space(6.0);
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_viewport(ui, |ui, viewport| {
                ui.set_height(total);
                let origin = ui.max_rect().min;
                let width = ui.available_width();
                let mut y = 0.0;
                for (m, h) in messages.iter().zip(&heights) {
                    if y + h >= viewport.min.y && y <= viewport.max.y {
                        let rect = egui::Rect::from_min_size(
                            origin + egui::vec2(0.0, y),
                            egui::vec2(width, *h),
                        );
                        ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
                            if let Some(a) = self.message_row(ui, &id, m) {
                                action = Some((m.clone(), a));
                            }
                        });
                    }
                    y += h;
                }
            });
        self.messages = messages;
        if let Some((m, a)) = action {
            self.message_action(&id, &m, a);
        }
    }

    /// One message in a conversation, and what its menu (or its file's
    /// save button) asked for.
    fn message_row(
        &mut self,
        ui: &mut egui::Ui,
        contact: &str,
        m: &MessageInfo,
    ) -> Option<RowAction> {
        let mine = m.direction == "out";
        if let Some(secs) = m.timer {
            ui.vertical_centered(|ui| {
                ui.weak(match secs {
                    0 => tr!("timer-off"),
                    s => tr!("timer-set", after = span(s)),
                })
            });
            return None;
        }
        // Mine on the far side, theirs on the near side: right and left in
        // a left-to-right language, left and right in a right-to-left one.
        let layout = if mine != i18n::rtl() {
            egui::Layout::right_to_left(egui::Align::Min)
        } else {
            egui::Layout::left_to_right(egui::Align::Min)
        };
        let mut action = None;
        let time = clock_label(m.local_at, chrono::Local::now());
        let written = if mine {
            tr!("written-at", time = full_time(m.local_at))
        } else {
            tr!("received-at", time = full_time(m.local_at))
        };
        if m.reply_to.is_some() {
            let quote = m.quote.clone().unwrap_or_else(|| tr!("quote-gone"));
            ui.with_layout(layout, |ui| ui.weak(format!("↪ {quote}")));
        }
        if m.deleted {
            ui.with_layout(layout, |ui| {
                ui.weak(RichText::new(tr!("message-deleted")).italics());
                ui.weak(&time).on_hover_text(&written);
            });
            return None;
        }
        ui.with_layout(layout, |ui| match &m.file {
            None => {
                label(ui, &m.text);
                if m.edited {
                    ui.weak(tr!("edited"));
                }
                let reactions: Vec<&str> = m.reactions.iter().map(|r| r.emoji.as_str()).collect();
                if !reactions.is_empty() {
                    label(ui, reactions.join(" "));
                }
                if mine {
                    ui.weak(state_name(&m.state));
                }
                ui.weak(&time).on_hover_text(&written);
                // On XMPP too: the gateway maps them (docs/GATEWAY.md).
                action = message_menu(ui, mine, mine);
            }
            Some(f) => {
                ui.vertical(|ui| {
                    row(ui, |ui| {
                        label(ui, format!("{} ({})", f.name, human_size(f.size)));
                        ui.weak(&time).on_hover_text(&written);
                    });
                    match f.state.as_str() {
                        "complete" if cairn_node::voice::is_voice(&f.mime) => {
                            self.fetch_voice(contact, m);
                            self.voice.note_row(ui, &m.id);
                            if text::button(ui, tr!("save-file", name = f.name.clone()), true)
                                .clicked()
                            {
                                action = Some(RowAction::Save);
                            }
                        }
                        "complete" => {
                            if f.mime.starts_with("image/")
                                && f.size <= MAX_INLINE_IMAGE
                                && let Some(tex) = self.image_of(ui.ctx(), contact, m)
                            {
                                ui.add(
                                    egui::Image::from_texture(&tex)
                                        .max_size(egui::vec2(THUMB_W, THUMB_H))
                                        .alt_text(tr!("picture", name = f.name.clone())),
                                );
                            }
                            row(ui, |ui| {
                                ui.weak(if mine {
                                    tr!("file-sent")
                                } else {
                                    tr!("file-received")
                                });
                                if text::button(ui, tr!("save-file", name = f.name.clone()), true)
                                    .clicked()
                                {
                                    action = Some(RowAction::Save);
                                }
                            });
                        }
                        "failed" => {
                            ui.colored_label(Color32::RED, tr!("file-failed"));
                        }
                        _ => {
                            let fraction = if f.size == 0 {
                                1.0
                            } else {
                                f.have as f32 / f.size as f32
                            };
                            let percent = (fraction * 100.0) as u32;
                            ui.add(egui::ProgressBar::new(fraction).desired_width(200.0).text(
                                if mine {
                                    tr!("file-sending", percent = percent)
                                } else {
                                    tr!("file-receiving", percent = percent)
                                },
                            ));
                        }
                    }
                    row(ui, |ui| {
                        if mine {
                            ui.weak(state_name(&m.state));
                        }
                        let reactions: Vec<&str> =
                            m.reactions.iter().map(|r| r.emoji.as_str()).collect();
                        if !reactions.is_empty() {
                            label(ui, reactions.join(" "));
                        }
                        if !contact.starts_with("xmpp:")
                            && let Some(a) = message_menu(ui, false, mine)
                        {
                            action = Some(a);
                        }
                    });
                });
            }
        });
        action
    }

    fn group_action(&mut self, request: Request) {
        if self.call(request).is_some() {
            self.error = None;
            self.refresh();
        }
    }

    fn groups_tab(&mut self, ui: &mut egui::Ui) {
        start_panel("groups")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| {
                column(ui, |ui| {
                    ui.heading(tr!("groups"));
                    let l = label(ui, tr!("new-group-name"));
                    edit::line_edit(ui, &mut self.group_name, "new-group-name", 200.0, "")
                        .response
                        .labelled_by(l.id);
                    if ui.button(tr!("create-group")).clicked() {
                        let name = self.group_name.trim().to_owned();
                        if let Some(Reply::Group(g)) = self.call(Request::GroupCreate { name }) {
                            self.group_name.clear();
                            self.group = Some(g.id);
                            self.refresh();
                        }
                    }
                    ui.separator();
                    let groups = self.groups.clone();
                    for g in &groups {
                        let selected = self.group.as_deref() == Some(g.id.as_str());
                        let mut shown =
                            tr!("group-entry", name = g.name.clone(), count = g.members);
                        if g.bridged_as.is_some() {
                            shown.push(' ');
                            shown.push_str(&tr!("mark-bridged"));
                        }
                        if text::selectable(ui, selected, shown).clicked() {
                            self.group = Some(g.id.clone());
                            self.refresh();
                        }
                    }
                })
            });
        let Some(id) = self.group.clone() else {
            ui.centered_and_justified(|ui| label(ui, tr!("choose-group")));
            return;
        };
        let Some(info) = self.groups.iter().find(|g| g.id == id).cloned() else {
            return;
        };
        let admin = info.role.as_deref() == Some("admin");
        end_panel("group-members")
            .resizable(true)
            .default_size(220.0)
            .show(ui, |ui| {
                column(ui, |ui| {
                    ui.heading(tr!("members"));
                    let members = self.group_members.clone();
                    for m in &members {
                        row(ui, |ui| {
                            let role = if m.role == "admin" {
                                tr!("role-admin")
                            } else {
                                tr!("role-member")
                            };
                            label(ui, tr!("member-entry", name = m.name.clone(), role = role));
                            let me = self
                                .status
                                .as_ref()
                                .is_some_and(|s| s.id == m.id || s.account == m.id);
                            if admin
                                && !me
                                && text::button(
                                    ui,
                                    tr!("remove-member", name = m.name.clone()),
                                    true,
                                )
                                .clicked()
                            {
                                self.group_action(Request::GroupRemove {
                                    group: id.clone(),
                                    member: m.id.clone(),
                                });
                            }
                            // Admins hand out (and give up) the admin role; the
                            // node refuses to leave a group without one.
                            let (label, role) = if m.role == "admin" {
                                (tr!("make-member", name = m.name.clone()), "member")
                            } else {
                                (tr!("make-admin", name = m.name.clone()), "admin")
                            };
                            if admin && text::button(ui, label, true).clicked() {
                                self.group_action(Request::GroupRole {
                                    group: id.clone(),
                                    member: m.id.clone(),
                                    role: role.to_owned(),
                                });
                            }
                        });
                    }
                    if admin {
                        ui.separator();
                        label(ui, tr!("add-a-contact"));
                        let contacts = self.contacts.clone();
                        for c in contacts
                            .iter()
                            .filter(|c| c.kind != "xmpp" && !members.iter().any(|m| m.id == c.id))
                        {
                            let name = c.alias.clone().unwrap_or_else(|| c.name.clone());
                            if text::button(ui, tr!("add-member", name = name), false).clicked() {
                                self.group_action(Request::GroupAdd {
                                    group: id.clone(),
                                    contact: c.id.clone(),
                                });
                            }
                        }
                    }
                    ui.separator();
                    if !info.left && ui.button(tr!("leave-group")).clicked() {
                        self.group_action(Request::GroupLeave { group: id.clone() });
                    }
                })
            });
        // Removed (or left): nothing more can be written here, and the
        // window says so instead of offering a composer that would fail.
        let gone = match (&info.role, info.left) {
            (Some(_), _) => None,
            (None, true) => Some(tr!("group-left")),
            (None, false) => Some(tr!("group-removed")),
        };
        let admin = info.role.as_deref() == Some("admin");
        let writable = gone.is_none();
        egui::Panel::bottom("group-composer").show(ui, |ui| {
            if let Some(why) = gone {
                ui.colored_label(Color32::from_rgb(0xc0, 0x40, 0x40), why);
                return;
            }
            let banner = match &self.group_composing {
                Composing::New => None,
                Composing::Reply { quote, .. } => Some(tr!("replying-to", quote = quote.clone())),
                Composing::Edit { .. } => Some(tr!("editing")),
            };
            if let Some(banner) = banner {
                row(ui, |ui| {
                    label(ui, RichText::new(banner).weak());
                    if ui.button(tr!("cancel")).clicked() {
                        self.group_composing = Composing::New;
                        self.group_composer.clear();
                    }
                });
            }
            let fresh = std::mem::take(&mut self.caret_to_end);
            if composer_at(
                ui,
                &tr!("group-message"),
                &mut self.group_composer,
                &tr!("send-to-group"),
                fresh,
            ) {
                let text = self.group_composer.trim().to_owned();
                if !text.is_empty() {
                    let group = id.clone();
                    let request = match std::mem::replace(&mut self.group_composing, Composing::New)
                    {
                        Composing::New => Request::GroupSend { group, text },
                        Composing::Reply { id, .. } => Request::GroupOp {
                            group,
                            id,
                            op: "reply".into(),
                            text,
                        },
                        Composing::Edit { id } => Request::GroupOp {
                            group,
                            id,
                            op: "edit".into(),
                            text,
                        },
                    };
                    self.group_action(request);
                    self.group_composer.clear();
                }
            }
            if composer(
                ui,
                &tr!("file-to-send"),
                &mut self.file_path,
                &tr!("send-file"),
            ) {
                let path = self.file_path.trim().to_owned();
                self.group_action(Request::GroupSendFile {
                    group: id.clone(),
                    path,
                });
                self.file_path.clear();
            }
            // The group's disappearing timer (admins set it, everyone sees
            // it) and the voice-note button, on one line.
            let (secs, note) = row(ui, |ui| {
                let secs = if admin {
                    timer_choice(ui, info.timer)
                } else {
                    if info.timer > 0 {
                        ui.weak(tr!("timer-set", after = span(info.timer)));
                    }
                    None
                };
                ui.separator();
                (secs, self.voice.record_button(ui))
            })
            .inner;
            if let Some(secs) = secs {
                self.group_action(Request::GroupDisappear {
                    group: id.clone(),
                    secs,
                });
            }
            if let Some(note) = note {
                let group = id.clone();
                self.send_voice_as(&note, |path| Request::GroupSendFile { group, path });
            }
            if let Some(e) = &self.voice.error {
                ui.colored_label(Color32::RED, e);
            }
            if let Some(saved) = &self.saved {
                label(ui, RichText::new(saved).weak());
            }
        });
        label(ui, RichText::new(&info.name).heading());
        if let Some(address) = &info.bridged_as {
            ui.colored_label(
                Color32::from_rgb(0xc0, 0x70, 0x00),
                tr!("bridged-group", address = address.clone()),
            );
        }
        // Replies take a line more, files two, voice notes their player:
        // rows are placed by their heights.
        let heights: Vec<f32> = self
            .group_messages
            .iter()
            .map(|m| {
                let quote = if m.reply_to.is_some() { 18.0 } else { 0.0 };
                quote
                    + match &m.file {
                        Some(f) if is_voice_held(f) => 110.0,
                        Some(_) => 60.0,
                        None => TEXT_ROW,
                    }
            })
            .collect();
        let group_voice: Vec<String> = self
            .group_messages
            .iter()
            .filter(|m| m.file.as_ref().is_some_and(is_voice_held))
            .map(|m| m.id.clone())
            .collect();
        for note in group_voice {
            let request = Request::GroupFileData {
                group: id.clone(),
                id: note.clone(),
                max: cairn_node::voice::MAX_BYTES,
            };
            self.fetch_voice_with(&note, request);
        }
        let total: f32 = heights.iter().sum();
        let messages = std::mem::take(&mut self.group_messages);
        let voice = &mut self.voice;
        let mut action = None;
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show_viewport(ui, |ui, viewport| {
                ui.set_height(total);
                let origin = ui.max_rect().min;
                let width = ui.available_width();
                let now = chrono::Local::now();
                let mut y = 0.0;
                for (m, h) in messages.iter().zip(&heights) {
                    if y + h >= viewport.min.y && y <= viewport.max.y {
                        let rect = egui::Rect::from_min_size(
                            origin + egui::vec2(0.0, y),
                            egui::vec2(width, *h),
                        );
                        ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
                            if let Some(a) = group_row(ui, m, now, writable, admin, voice) {
                                action = Some((m.clone(), a));
                            }
                        });
                    }
                    y += h;
                }
            });
        self.group_messages = messages;
        if let Some((m, a)) = action {
            self.group_message_action(&id, &m, a);
        }
    }

    /// Carries out what a group message's menu asked for.
    fn group_message_action(&mut self, group: &str, m: &GroupMessageInfo, action: RowAction) {
        if matches!(action, RowAction::Save) {
            return self.save_group_file(group, m);
        }
        let reacted = |e: &str| m.reactions.iter().any(|r| r.by == "you" && r.emoji == e);
        let (composing, composer) = (&mut self.group_composing, &mut self.group_composer);
        let op = menu_op(
            composing,
            composer,
            &mut self.caret_to_end,
            &m.id,
            &m.text,
            reacted,
            action,
        );
        if let Some((op, text)) = op {
            self.group_action(Request::GroupOp {
                group: group.to_owned(),
                id: m.id.clone(),
                op: op.to_owned(),
                text,
            });
        }
    }

    fn network_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr!("network"));
        let Some(s) = self.status.clone() else {
            label(ui, tr!("starting"));
            return;
        };
        let count = |medium: &str| s.links.iter().filter(|l| l.medium == medium).count();
        egui::Grid::new("links").striped(true).show(ui, |ui| {
            for (name, medium) in [
                (tr!("medium-lan"), "lan"),
                (tr!("medium-ble"), "ble"),
                (tr!("medium-tor"), "tor"),
                (tr!("medium-memory"), "memory"),
            ] {
                label(ui, name);
                label(ui, tr!("links", count = count(medium)));
                ui.end_row();
            }
        });
        ui.add_space(8.0);
        let (connected, discovered) = (s.lan.connected_peers, s.lan.discovered_peers);
        label(
            ui,
            match (s.lan.enabled, s.lan.mdns) {
                (true, true) => tr!(
                    "lan-on-mdns",
                    connected = connected,
                    discovered = discovered
                ),
                (true, false) => tr!("lan-on", connected = connected, discovered = discovered),
                (false, _) => tr!("lan-off"),
            },
        );
        label(
            ui,
            if s.ble.enabled {
                match (s.ble.state.as_str(), &s.ble.adapter) {
                    ("ready", Some(adapter)) => {
                        tr!("ble-ready-adapter", adapter = adapter.clone())
                    }
                    ("ready", None) => tr!("ble-ready"),
                    ("starting", _) => tr!("ble-starting"),
                    (other, _) => tr!(
                        "ble-unavailable",
                        state = other.replace("unavailable: ", "not available — ")
                    ),
                }
            } else {
                tr!("ble-off")
            },
        );
        if s.tor.enabled {
            let stage = match s.tor.stage.as_str() {
                "bootstrapping" => tr!("tor-connecting"),
                "publishing" => tr!("tor-publishing"),
                "ready" => tr!("tor-ready"),
                "failed" => tr!("tor-failed"),
                other => other.to_owned(),
            };
            label(
                ui,
                tr!("tor-status", stage = stage, detail = s.tor.detail.clone()),
            );
            if s.tor.stage == "bootstrapping" {
                ui.add(
                    egui::ProgressBar::new(f32::from(s.tor.progress) / 100.0)
                        .show_percentage()
                        .desired_width(240.0),
                );
            }
            if let Some(onion) = &s.tor.onion {
                row(ui, |ui| {
                    label(ui, tr!("onion-address"));
                    ui.monospace(onion);
                });
            }
        } else {
            label(ui, tr!("tor-off"));
        }
        ui.add_space(8.0);
        ui.heading(tr!("carrying"));
        let room = s.mesh.capacity_bytes.saturating_sub(s.mesh.relayed_bytes) / 1024;
        let capacity = s.mesh.capacity_bytes / 1024;
        label(
            ui,
            tr!(
                "carried",
                count = s.mesh.carried,
                room = room,
                capacity = capacity
            ),
        );
        label(
            ui,
            tr!(
                "handed-on",
                handed = s.mesh.handed_on,
                refused = s.mesh.refused
            ),
        );
    }

    fn add_contact_tab(&mut self, ui: &mut egui::Ui) {
        self.own_invite(ui.ctx());
        ui.heading(tr!("add-contact-title"));
        label(ui, tr!("add-contact-help"));
        if let Some((uri, texture)) = &self.own_invite {
            show_code(ui, &tr!("your-invite"), uri, texture);
        }
        ui.separator();
        let l = label(ui, tr!("their-invite"));
        ui.add(
            TextEdit::multiline(&mut self.invite_input)
                .hint_text("cairn:…")
                .desired_rows(3),
        )
        .labelled_by(l.id);
        if ui.button(tr!("add")).clicked() {
            self.add_contact();
        }
        ui.add_space(8.0);
        label(ui, tr!("qr-help"));
        if composer(
            ui,
            &tr!("invite-image-file"),
            &mut self.invite_image,
            &tr!("open-image"),
        ) {
            let path = std::path::PathBuf::from(self.invite_image.trim());
            self.add_contact_from_image(&path);
        }
        let dropped: Vec<std::path::PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(path) = dropped.first() {
            self.add_contact_from_image(path);
        }
    }

    fn verify_tab(&mut self, ui: &mut egui::Ui) {
        let Some(id) = self.selected.clone() else {
            label(ui, tr!("choose-chat-first"));
            return;
        };
        if self.safety.is_none()
            && let Some(Reply::Safety(s)) = self.call(Request::Verify {
                contact: id.clone(),
                confirm: false,
            })
        {
            self.safety = Some(s);
        }
        let Some(s) = self.safety.clone() else {
            return;
        };
        label(
            ui,
            RichText::new(tr!("verify-title", name = s.name.clone())).heading(),
        );
        label(ui, tr!("verify-help"));
        ui.add_space(8.0);
        ui.label(RichText::new(&s.safety_number).monospace().size(20.0));
        ui.add_space(8.0);
        if s.verified {
            ui.label(RichText::new(tr!("verified")).color(Color32::from_rgb(0, 0x90, 0)));
        } else if ui.button(tr!("mark-verified")).clicked()
            && let Some(Reply::Safety(s)) = self.call(Request::Verify {
                contact: id,
                confirm: true,
            })
        {
            self.safety = Some(s);
            self.refresh();
        }
    }

    fn main_screen(&mut self, ui: &mut egui::Ui) {
        // What the node says happened is read again, and only that; once a
        // second, the status and the lists.
        let mut arrived = Vec::new();
        let mut heard = Vec::new();
        if let Some(notices) = &mut self.notices {
            while let Ok(notice) = notices.try_recv() {
                heard.push(notice);
            }
        }
        for notice in heard {
            if let Notice::Message { from, .. } = &notice {
                arrived.push(from.clone());
            }
            let want = Want::from_notice(&notice, self.selected.as_deref());
            self.wanted.merge(want);
        }
        self.notify(ui, arrived);
        let now = ui.input(|i| i.time);
        if now - self.last_refresh > 1.0 {
            self.last_refresh = now;
            self.wanted.merge(Want::tick());
        }
        self.pump_loads(ui.ctx());
        ui.ctx().request_repaint_after(Duration::from_millis(250));
        self.shortcuts(ui);
        row(ui, |ui| {
            label(
                ui,
                RichText::new(tr!("title", name = self.me.clone())).strong(),
            );
            ui.separator();
            ui.selectable_value(&mut self.tab, Tab::Chats, tr!("tab-chats"));
            ui.selectable_value(&mut self.tab, Tab::Groups, tr!("tab-groups"));
            ui.selectable_value(&mut self.tab, Tab::AddContact, tr!("tab-add-contact"));
            ui.selectable_value(&mut self.tab, Tab::Verify, tr!("tab-verify"));
            ui.selectable_value(&mut self.tab, Tab::Network, tr!("tab-network"));
            ui.with_layout(
                egui::Layout::from_main_dir_and_cross_align(
                    if i18n::rtl() {
                        egui::Direction::LeftToRight
                    } else {
                        egui::Direction::RightToLeft
                    },
                    egui::Align::Center,
                ),
                |ui| {
                    // A menu, not three buttons: the top bar holds many
                    // words in some languages.
                    let before = ui.options(|o| o.theme_preference);
                    let mut theme = before;
                    let name = |t: egui::ThemePreference| match t {
                        egui::ThemePreference::Dark => tr!("theme-dark"),
                        egui::ThemePreference::Light => tr!("theme-light"),
                        egui::ThemePreference::System => tr!("theme-system"),
                    };
                    let menu = egui::ComboBox::from_id_salt("theme")
                        .width(70.0)
                        .selected_text(name(before))
                        .show_ui(ui, |ui| {
                            for t in [
                                egui::ThemePreference::System,
                                egui::ThemePreference::Light,
                                egui::ThemePreference::Dark,
                            ] {
                                ui.selectable_value(&mut theme, t, name(t));
                            }
                        });
                    let l = ui.label(tr!("theme"));
                    menu.response.labelled_by(l.id);
                    if theme != before {
                        ui.ctx().set_theme(theme);
                    }
                    ui.separator();
                    ui.checkbox(&mut self.notifications, tr!("notifications"));
                    ui.separator();
                    self.language_menu(ui);
                    ui.separator();
                    ui.menu_button(tr!("menu-profile"), |ui| {
                        if ui.button(tr!("menu-backup")).clicked() {
                            self.tab = Tab::Backup;
                            ui.close();
                        }
                        if ui.button(tr!("menu-devices")).clicked() {
                            self.tab = Tab::Devices;
                            self.wanted.merge(Want {
                                devices: true,
                                ..Want::default()
                            });
                            ui.close();
                        }
                    });
                },
            );
        });
        ui.separator();
        match self.tab {
            Tab::Chats => self.chats(ui),
            Tab::Groups => self.groups_tab(ui),
            Tab::AddContact => self.add_contact_tab(ui),
            Tab::Verify => self.verify_tab(ui),
            Tab::Network => self.network_tab(ui),
            Tab::Backup => self.backup_tab(ui),
            Tab::Devices => self.devices_tab(ui),
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if !self.fonts {
            fonts::install(ui.ctx());
            self.fonts = true;
        }
        if let Some(e) = self.error.clone() {
            row(ui, |ui| {
                ui.colored_label(Color32::RED, e);
                if ui.small_button(tr!("dismiss")).clicked() {
                    self.error = None;
                }
            });
        }
        column(ui, |ui| match self.screen {
            Screen::Onboarding => self.onboarding(ui),
            Screen::Unlock => self.unlock_screen(ui),
            Screen::Main => self.main_screen(ui),
        });
    }

    /// The language menu: the system's, or one of those the app ships.
    /// A choice is kept in the profile (`language`) for the next start.
    fn language_menu(&mut self, ui: &mut egui::Ui) {
        let before = self.language.clone();
        let name = |tag: &Option<String>| match tag {
            None => tr!("language-system"),
            Some(tag) => i18n::LANGUAGES
                .iter()
                .find(|(t, _)| t == tag)
                .map_or_else(|| tag.clone(), |(_, name)| (*name).to_owned()),
        };
        let mut picked = before.clone();
        let menu = egui::ComboBox::from_id_salt("language")
            .width(90.0)
            .selected_text(name(&before))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut picked, None, tr!("language-system"));
                for (tag, own) in i18n::LANGUAGES {
                    ui.selectable_value(&mut picked, Some((*tag).to_owned()), *own);
                }
            });
        let l = ui.label(tr!("language"));
        menu.response.labelled_by(l.id);
        if picked != before {
            self.set_language(picked.as_deref());
            let file = self.profile.dir().join(LANGUAGE_FILE);
            let saved = match &picked {
                Some(tag) if self.profile.dir().is_dir() => std::fs::write(&file, tag),
                None if file.exists() => std::fs::remove_file(&file),
                _ => Ok(()),
            };
            if let Err(e) = saved {
                tracing::warn!(error = %e, "the language choice is not kept");
            }
        }
    }

    /// Shows the app in `tag` (`fa`, `zh-CN`...), or in the system's
    /// language when `None`, from the next frame on.
    pub fn set_language(&mut self, tag: Option<&str>) {
        i18n::select(tag);
        self.language = tag.map(str::to_owned);
    }
}

/// Pictures up to this size are shown in the conversation.
const MAX_INLINE_IMAGE: u64 = 16 * 1024 * 1024;
/// The height of a text message's row.
const TEXT_ROW: f32 = 25.0;
const THUMB_W: f32 = 240.0;
const THUMB_H: f32 = 160.0;

/// The height a message takes in a conversation.
fn row_height(m: &MessageInfo) -> f32 {
    let quote = if m.reply_to.is_some() { 18.0 } else { 0.0 };
    // A text's line with air above and below: Burmese and Devanagari stack
    // marks well above and below the line, and lines that touch are hard
    // to read (for OCR too: docs/GUI.md, "Languages").
    if m.deleted || m.timer.is_some() {
        return TEXT_ROW + quote;
    }
    quote
        + match &m.file {
            None => TEXT_ROW,
            Some(f)
                if f.state == "complete"
                    && f.mime.starts_with("image/")
                    && f.size <= MAX_INLINE_IMAGE =>
            {
                20.0 + THUMB_H + 32.0
            }
            Some(f) if f.state == "complete" && cairn_node::voice::is_voice(&f.mime) => 110.0,
            Some(_) => 60.0,
        }
}

/// Where a file named `name` is saved: the user's downloads folder (else
/// home), under a name not yet taken there.
fn download_path(name: &str) -> String {
    let dir = directories::UserDirs::new()
        .and_then(|u| u.download_dir().map(std::path::Path::to_path_buf))
        .or_else(|| directories::UserDirs::new().map(|u| u.home_dir().to_path_buf()))
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.to_owned(), String::new()),
    };
    let mut path = dir.join(name);
    for n in 1..1000 {
        if !path.exists() {
            break;
        }
        path = dir.join(format!("{stem} ({n}){ext}"));
    }
    path.display().to_string()
}

/// What a message's menu asks of a composer (reply, edit) or of the node:
/// the operation and its text (react — the same reaction again takes it
/// back — or delete). Shared by chats and groups.
fn menu_op(
    composing: &mut Composing,
    composer: &mut String,
    caret_to_end: &mut bool,
    id: &str,
    text: &str,
    reacted: impl Fn(&str) -> bool,
    action: RowAction,
) -> Option<(&'static str, String)> {
    match action {
        RowAction::Save => None,
        RowAction::Reply => {
            *composing = Composing::Reply {
                id: id.to_owned(),
                quote: text.chars().take(80).collect(),
            };
            None
        }
        RowAction::Edit => {
            *composing = Composing::Edit { id: id.to_owned() };
            *composer = text.to_owned();
            *caret_to_end = true;
            None
        }
        RowAction::React(emoji) => {
            let emoji = if reacted(&emoji) {
                String::new()
            } else {
                emoji
            };
            Some(("react", emoji))
        }
        RowAction::Delete => {
            // Writing a reply to it, or an edit of it, ends there.
            if matches!(&*composing, Composing::Edit { id: i } | Composing::Reply { id: i, .. } if i == id)
            {
                *composing = Composing::New;
                composer.clear();
            }
            Some(("delete", String::new()))
        }
    }
}

/// One group message: its author, text, what it replies to, its reactions,
/// and what its menu asked for (`admin`: we may delete anyone's).
fn group_row(
    ui: &mut egui::Ui,
    m: &GroupMessageInfo,
    now: chrono::DateTime<chrono::Local>,
    writable: bool,
    admin: bool,
    voice: &mut voice::VoiceUi,
) -> Option<RowAction> {
    if m.reply_to.is_some() {
        let quote = m.quote.clone().unwrap_or_else(|| tr!("quote-gone"));
        row(ui, |ui| ui.weak(format!("↪ {quote}")));
    }
    row(ui, |ui| {
        // The author's clock: a group has no one place that saw every
        // message arrive.
        ui.weak(clock_label(m.sent_at, now))
            .on_hover_text(tr!("written-at", time = full_time(m.sent_at)));
        let who = match (&m.via, m.mine) {
            (Some(name), _) => tr!("author-xmpp", name = name.clone()),
            (None, true) => tr!("author-you"),
            (None, false) => m.author_name.clone(),
        };
        label(ui, RichText::new(who).strong());
        if m.deleted {
            ui.weak(RichText::new(tr!("message-deleted")).italics());
            return None;
        }
        let reactions: Vec<&str> = m.reactions.iter().map(|r| r.emoji.as_str()).collect();
        if let Some(f) = &m.file {
            // A file: its name, and once held, the player or a save button.
            let mut saving = None;
            ui.vertical(|ui| {
                row(ui, |ui| {
                    label(ui, format!("{} ({})", f.name, human_size(f.size)));
                    if !reactions.is_empty() {
                        label(ui, reactions.join(" "));
                    }
                });
                if f.state != "complete" {
                    ui.weak(tr!("file-arriving"));
                    return;
                }
                if is_voice_held(f) {
                    voice.note_row(ui, &m.id);
                }
                if text::button(ui, tr!("save-file", name = f.name.clone()), true).clicked() {
                    saving = Some(RowAction::Save);
                }
            });
            // Files are not edited; they are replied to, reacted to, deleted.
            let menu = writable
                .then(|| message_menu(ui, false, m.mine || admin))
                .flatten();
            return saving.or(menu);
        }
        label(ui, &m.text);
        if m.edited {
            ui.weak(tr!("edited"));
        }
        if !reactions.is_empty() {
            label(ui, reactions.join(" "));
        }
        // Nothing can be done in a group one has left.
        writable
            .then(|| message_menu(ui, m.mine, m.mine || admin))
            .flatten()
    })
    .inner
}

/// Whether a file is a voice note held whole (played inline).
fn is_voice_held(f: &FileInfo) -> bool {
    f.state == "complete" && cairn_node::voice::is_voice(&f.mime)
}

/// A message's menu: reply, react, and (for one's own texts; deleting, in a
/// group, also for admins) edit and delete.
fn message_menu(ui: &mut egui::Ui, can_edit: bool, can_delete: bool) -> Option<RowAction> {
    let mut action = None;
    // Frameless and small: a box would reach into the next line (OCR of the
    // window, and people, read two lines run together then).
    let button = egui::Button::new(RichText::new("⋯").weak())
        .frame(false)
        .small();
    let (response, _) = egui::containers::menu::MenuButton::from_button(button).ui(ui, |ui| {
        if ui.button(tr!("reply")).clicked() {
            action = Some(RowAction::Reply);
        }
        ui.horizontal(|ui| {
            for emoji in REACTIONS {
                let button = ui
                    .button(emoji)
                    .on_hover_text(tr!("react-with", emoji = emoji));
                if button.clicked() {
                    action = Some(RowAction::React(emoji.to_owned()));
                }
            }
        });
        if can_edit && ui.button(tr!("edit")).clicked() {
            action = Some(RowAction::Edit);
        }
        if can_delete && ui.button(tr!("delete-for-everyone")).clicked() {
            action = Some(RowAction::Delete);
        }
        if action.is_some() {
            ui.close();
        }
    });
    response.on_hover_text(tr!("message-actions"));
    action
}

/// The chat's disappearing-messages choice; the seconds picked, if changed.
fn timer_choice(ui: &mut egui::Ui, current: u64) -> Option<u64> {
    let name = |secs: u64| match secs {
        0 => tr!("timer-none"),
        s => span(s),
    };
    let mut picked = current;
    let l = label(ui, tr!("disappearing"));
    egui::ComboBox::from_id_salt("disappearing")
        .selected_text(name(current))
        .show_ui(ui, |ui| {
            for secs in TIMERS {
                ui.selectable_value(&mut picked, secs, name(secs));
            }
        })
        .response
        .labelled_by(l.id);
    (picked != current).then_some(picked)
}

/// A timer's length the way people say it: 5m, 1h, 1d, 1w.
fn span(secs: u64) -> String {
    for (unit, len) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= len && secs.is_multiple_of(len) {
            return format!("{}{unit}", secs / len);
        }
    }
    format!("{secs}s")
}

/// When a message was written or arrived, as a chat shows it: the time of
/// day for today, with the date before that (local time).
pub fn clock_label(ms: u64, now: chrono::DateTime<chrono::Local>) -> String {
    let Some(at) = local_time(ms) else {
        return String::new();
    };
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M").to_string()
    } else if at.format("%Y").to_string() == now.format("%Y").to_string() {
        at.format("%-d %b %H:%M").to_string()
    } else {
        at.format("%-d %b %Y %H:%M").to_string()
    }
}

fn full_time(ms: u64) -> String {
    local_time(ms)
        .map(|t| t.format("%A %-d %B %Y, %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn local_time(ms: u64) -> Option<chrono::DateTime<chrono::Local>> {
    let utc = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(i64::try_from(ms).ok()?)?;
    Some(utc.with_timezone(&chrono::Local))
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Decodes a picture sent in a chat (PNG, JPEG), within bounds: a small
/// file can claim huge dimensions.
fn decode_picture(base64: &str) -> Option<egui::ColorImage> {
    let bytes = data_encoding::BASE64.decode(base64.as_bytes()).ok()?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    // Thumbnails only: a texture the size of a phone photo is wasted memory.
    let picture = picture
        .thumbnail(THUMB_W as u32 * 2, THUMB_H as u32 * 2)
        .into_rgba8();
    let size = [picture.width() as usize, picture.height() as usize];
    Some(egui::ColorImage::from_rgba_unmultiplied(
        size,
        picture.as_raw(),
    ))
}

/// One line of a message for the chat list.
fn preview(text: &str) -> String {
    const MAX: usize = 40;
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.len() < text.trim_end().len() => format!("{line}…"),
        None => line.to_owned(),
    }
}

/// Largest picture read for a QR code: a phone photo is a few MB.
const MAX_INVITE_IMAGE: u64 = 32 * 1024 * 1024;

/// Reads the Cairn invite in a picture of its QR code (PNG or JPEG).
pub fn invite_from_image(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?
        .len();
    if size > MAX_INVITE_IMAGE {
        return Err(format!("{shown} is too large for a picture of a QR code"));
    }
    let mut reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    // A small file can claim huge dimensions: bound what decoding allocates.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| format!("{shown} is not a picture Cairn can read (PNG or JPEG): {e}"))?
        .into_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| image.as_raw()[y * w + x]);
    let mut found = false;
    for grid in prepared.detect_grids() {
        found = true;
        if let Ok((_, text)) = grid.decode()
            && text.trim().to_ascii_lowercase().starts_with("cairn:")
        {
            return Ok(text.trim().to_owned());
        }
    }
    Err(if found {
        format!("the QR code in {shown} is not a Cairn invite")
    } else {
        format!("no QR code found in {shown}")
    })
}

/// A labelled one-line field with a button beside it. True when the button
/// is clicked or Enter pressed in the field.
fn composer(ui: &mut egui::Ui, name: &str, text: &mut String, button: &str) -> bool {
    composer_at(ui, name, text, button, false)
}

/// A composer whose caret goes to the end of its text first when
/// `caret_to_end` (the text was just put there).
fn composer_at(
    ui: &mut egui::Ui,
    name: &str,
    text: &mut String,
    button: &str,
    caret_to_end: bool,
) -> bool {
    row(ui, |ui| {
        let l = label(ui, name);
        if caret_to_end {
            edit::caret_to_end(ui, name, text);
        }
        // Leave room for the button: a field of infinite width would push it
        // out of the window.
        let width = (ui.available_width() - 110.0).max(100.0);
        let field = edit::line_edit(ui, text, name, width, "");
        field.response.labelled_by(l.id);
        ui.button(button).clicked() || field.submitted
    })
    .inner
}

/// A row of widgets, from the side the language starts its lines on.
fn row<R>(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui) -> R) -> egui::InnerResponse<R> {
    let layout = if i18n::rtl() {
        egui::Layout::right_to_left(egui::Align::Center)
    } else {
        egui::Layout::left_to_right(egui::Align::Center)
    };
    // One row high to begin with, as `ui.horizontal` is.
    let size = egui::vec2(
        ui.available_size_before_wrap().x,
        ui.spacing().interact_size.y,
    );
    ui.allocate_ui_with_layout(size, layout, add)
}

/// A side panel where lines start: the left, or the right in a
/// right-to-left language.
fn start_panel(id: &str) -> egui::Panel {
    if i18n::rtl() {
        egui::Panel::right(id.to_owned())
    } else {
        egui::Panel::left(id.to_owned())
    }
}

/// A side panel where lines end.
fn end_panel(id: &str) -> egui::Panel {
    if i18n::rtl() {
        egui::Panel::left(id.to_owned())
    } else {
        egui::Panel::right(id.to_owned())
    }
}

/// A column whose lines start on the language's side.
fn column<R>(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    let align = if i18n::rtl() {
        egui::Align::Max
    } else {
        egui::Align::Min
    };
    ui.with_layout(egui::Layout::top_down(align), add).inner
}

/// A code to hand to someone (or to another device): its QR code, and the
/// text in a field with a button to copy it.
fn show_code(ui: &mut egui::Ui, name: &str, uri: &str, texture: &egui::TextureHandle) {
    ui.image((texture.id(), egui::vec2(220.0, 220.0)));
    row(ui, |ui| {
        let l = label(ui, name);
        let mut shown = uri.to_owned();
        ui.add(TextEdit::singleline(&mut shown).desired_width(400.0))
            .labelled_by(l.id);
        if ui.button(tr!("copy")).clicked() {
            ui.ctx().copy_text(uri.to_owned());
        }
    });
}

/// A `cairn:` code drawn as a QR code (upper case: QR's compact
/// alphanumeric mode).
fn qr_texture(ctx: &egui::Context, name: &str, uri: &str) -> Option<egui::TextureHandle> {
    let upper = uri.to_ascii_uppercase();
    let code = qrcode::QrCode::new(upper.as_bytes()).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let scale = 4;
    let quiet = 4;
    let side = (width + 2 * quiet) * scale;
    let mut pixels = vec![Color32::WHITE; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            for dy in 0..scale {
                for dx in 0..scale {
                    pixels[(y * scale + dy) * side + x * scale + dx] = Color32::BLACK;
                }
            }
        }
    }
    let image = egui::ColorImage::new([side, side], pixels);
    Some(ctx.load_texture(name, image, egui::TextureOptions::NEAREST))
}

/// A message's delivery state in the user's language.
fn state_name(state: &str) -> String {
    match state {
        "queued" => tr!("state-queued"),
        "sent" => tr!("state-sent"),
        "held" => tr!("state-held"),
        "delivered" => tr!("state-delivered"),
        "read" => tr!("state-read"),
        "received" => tr!("state-received"),
        other => other.to_owned(),
    }
}

impl eframe::App for CairnApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| CairnApp::ui(self, ui));
    }
}

/// A failed call, for the user.
fn shown_error(e: ClientError) -> String {
    match e {
        ClientError::Api(e) => e.message,
        other => tr!("not-answering", error = other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Local, TimeZone};

    use super::clock_label;

    #[test]
    fn today_shows_the_time_earlier_days_the_date_too() {
        let now = Local.with_ymd_and_hms(2026, 12, 1, 15, 30, 0).unwrap();
        let ms = |t: chrono::DateTime<Local>| t.timestamp_millis() as u64;
        let morning = Local.with_ymd_and_hms(2026, 12, 1, 9, 5, 0).unwrap();
        assert_eq!(clock_label(ms(morning), now), "09:05");
        let last_week = Local.with_ymd_and_hms(2026, 11, 24, 21, 0, 0).unwrap();
        assert_eq!(clock_label(ms(last_week), now), "24 Nov 21:00");
        let last_year = Local.with_ymd_and_hms(2025, 3, 2, 7, 45, 0).unwrap();
        assert_eq!(clock_label(ms(last_year), now), "2 Mar 2025 07:45");
    }
}
