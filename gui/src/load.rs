//! Reading the node's state for the window, off the UI thread.
//!
//! What a frame shows is read by a task on the app's runtime ([`load`]),
//! never by the frame itself: a chat of 10 000 messages or a list of 1 000
//! contacts takes the node longer to answer than a frame may last. What is
//! read is only what a [`Notice`] named ([`Want::from_notice`]): a message
//! from bob re-reads bob's preview (and his chat, if open), not everyone's.

use std::collections::BTreeSet;

use cairn_node::api::{
    ContactInfo, DevicesInfo, GroupInfo, GroupMemberInfo, GroupMessageInfo, MessageInfo, Notice,
    StatusInfo,
};
use cairn_node::{Client, Reply, Request};

/// How many of a chat's last messages the chat list counts unread among
/// (and shows the newest of).
pub const UNREAD_WINDOW: usize = 20;
/// Messages read for an open chat or group.
pub const SHOWN: usize = 10_000;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Want {
    pub status: bool,
    pub contacts: bool,
    pub groups: bool,
    /// Every chat's preview (start, a missed notice, a full refresh).
    pub all_previews: bool,
    /// These chats' previews.
    pub previews: BTreeSet<String>,
    /// The open chat: read whole (not only compared by its tail).
    pub chat_whole: bool,
    pub chat: bool,
    pub group: bool,
    pub group_whole: bool,
    /// This profile's devices.
    pub devices: bool,
}

impl Want {
    /// Everything, read whole.
    pub fn all() -> Self {
        Self {
            status: true,
            contacts: true,
            groups: true,
            all_previews: true,
            previews: BTreeSet::new(),
            chat_whole: true,
            chat: true,
            group: true,
            group_whole: true,
            devices: true,
        }
    }

    /// The once-a-second look: status and lists, and the open chat and
    /// group compared by their newest messages (read whole only if those
    /// differ).
    pub fn tick() -> Self {
        Self {
            status: true,
            contacts: true,
            groups: true,
            chat: true,
            group: true,
            ..Self::default()
        }
    }

    /// What `notice` says may have changed; `open` is the open chat.
    pub fn from_notice(notice: &Notice, open: Option<&str>) -> Self {
        let mut want = Self::default();
        let chat_of = |peer: &str, want: &mut Self| {
            want.previews.insert(peer.to_owned());
            if open == Some(peer) {
                want.chat = true;
            }
        };
        match notice {
            Notice::Message { from, .. } => chat_of(from, &mut want),
            Notice::State { peer, .. } | Notice::File { peer, .. } => chat_of(peer, &mut want),
            // An older message may have changed: the open chat is read again.
            Notice::Changed { peer, .. } => {
                chat_of(peer, &mut want);
                want.chat_whole |= open == Some(peer.as_str());
            }
            Notice::ContactAdded { peer }
            | Notice::KeyChanged { peer }
            | Notice::Session { peer }
            | Notice::Bridge { peer } => {
                want.contacts = true;
                chat_of(peer, &mut want);
            }
            Notice::Group { .. } => {
                want.groups = true;
                want.group = true;
            }
            Notice::DeviceListRefused { peer, .. } => {
                want.contacts = true;
                chat_of(peer, &mut want);
            }
            // A device linked: contacts came with it.
            Notice::Devices => {
                want.contacts = true;
                want.devices = true;
            }
            Notice::LinkClosed => want.status = true,
            Notice::Missed { .. } => want = Self::all(),
        }
        want
    }

    /// Both wants.
    pub fn merge(&mut self, other: Want) {
        self.status |= other.status;
        self.contacts |= other.contacts;
        self.groups |= other.groups;
        self.all_previews |= other.all_previews;
        self.previews.extend(other.previews);
        self.chat_whole |= other.chat_whole;
        self.chat |= other.chat || other.chat_whole;
        self.group |= other.group || other.group_whole;
        self.group_whole |= other.group_whole;
        self.devices |= other.devices;
    }

    pub fn is_empty(&self) -> bool {
        !(self.status
            || self.contacts
            || self.groups
            || self.all_previews
            || !self.previews.is_empty()
            || self.chat
            || self.group
            || self.devices)
    }
}

/// Where the window stands, for the loader to compare against.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    /// The open chat (None: the first contact's, once known).
    pub chat: Option<String>,
    /// The newest messages of the chat on screen, and whose chat it is.
    pub chat_tail: Vec<MessageInfo>,
    pub shown_chat: Option<String>,
    /// Whether the chats tab is in front (an open chat is then read).
    pub reading: bool,
    pub group: Option<String>,
    pub group_len: usize,
    /// Known contacts, for `all_previews` when the list is not read again.
    pub contacts: Vec<String>,
}

/// What was read; `None` where nothing was asked or the call failed.
#[derive(Debug, Default)]
pub struct Loaded {
    pub status: Option<StatusInfo>,
    pub contacts: Option<Vec<ContactInfo>>,
    pub groups: Option<Vec<GroupInfo>>,
    /// (contact, newest few messages).
    pub previews: Vec<(String, Vec<MessageInfo>)>,
    /// (contact, its messages): the open chat, read whole.
    pub chat: Option<(String, Vec<MessageInfo>)>,
    /// (contact, its newest messages): the open chat's tail, to put in
    /// place of what is shown from the tail's first message on.
    pub chat_tail: Option<(String, Vec<MessageInfo>)>,
    pub group_members: Option<(String, Vec<GroupMemberInfo>)>,
    pub group_messages: Option<(String, Vec<GroupMessageInfo>)>,
    pub devices: Option<DevicesInfo>,
    /// The first error a call met.
    pub error: Option<String>,
}

/// Reads what `want` asks of the node, comparing with what is `shown`.
pub async fn load(client: Client, want: Want, shown: Shown) -> Loaded {
    let mut out = Loaded::default();
    let call = |request: Request| {
        let client = client.clone();
        async move { client.call(request).await.map_err(|e| e.to_string()) }
    };
    if want.status {
        match call(Request::Status).await {
            Ok(Reply::Status(s)) => out.status = Some(*s),
            Ok(_) => {}
            Err(e) => note(&mut out, e),
        }
    }
    if want.devices {
        match call(Request::Devices).await {
            Ok(Reply::Devices(d)) => out.devices = Some(d),
            Ok(_) => {}
            Err(e) => note(&mut out, e),
        }
    }
    if want.contacts || want.all_previews || shown.chat.is_none() {
        match call(Request::Contacts).await {
            Ok(Reply::Contacts { contacts }) => out.contacts = Some(contacts),
            Ok(_) => {}
            Err(e) => note(&mut out, e),
        }
    }
    if want.groups || (want.group && shown.group.is_some()) {
        match call(Request::GroupList).await {
            Ok(Reply::Groups { groups }) => out.groups = Some(groups),
            Ok(_) => {}
            Err(e) => note(&mut out, e),
        }
    }
    // Open the first chat rather than an empty pane.
    let open = shown.chat.clone().or_else(|| {
        out.contacts
            .as_ref()
            .and_then(|c| c.first().map(|c| c.id.clone()))
    });
    let mut previews: BTreeSet<String> = want.previews.clone();
    if want.all_previews {
        match &out.contacts {
            Some(list) => previews.extend(list.iter().map(|c| c.id.clone())),
            None => previews.extend(shown.contacts.iter().cloned()),
        }
    }
    let chat_wanted = want.chat || want.chat_whole || shown.shown_chat != open;
    if chat_wanted && let Some(id) = &open {
        previews.insert(id.clone());
    }
    let mut open_tail = None;
    for id in previews {
        match call(Request::Messages {
            contact: id.clone(),
            limit: Some(UNREAD_WINDOW),
        })
        .await
        {
            Ok(Reply::Messages { messages, .. }) => {
                if open.as_ref() == Some(&id) {
                    open_tail = Some(messages.clone());
                }
                out.previews.push((id, messages));
            }
            Ok(_) => {}
            Err(e) => note(&mut out, e),
        }
    }
    if chat_wanted && let Some(id) = open {
        let shown_tail = &shown.chat_tail;
        let unchanged = !want.chat_whole
            && shown.shown_chat.as_ref() == Some(&id)
            && open_tail
                .as_ref()
                .map_or(shown_tail.is_empty(), |t| t == shown_tail)
            && !shown_tail.iter().any(|m| m.state == "received");
        // Only the newest changed (messages arrived, states moved on): the
        // tail just read replaces the shown one from its first message on,
        // instead of reading 10 000 messages again for each arrival.
        let tail = open_tail.filter(|t| {
            !want.chat_whole
                && shown.shown_chat.as_ref() == Some(&id)
                && t.first()
                    .is_some_and(|f| shown_tail.iter().any(|m| m.id == f.id))
        });
        if !unchanged && let Some(tail) = tail {
            if shown.reading && tail.iter().any(|m| m.state == "received") {
                let _ = call(Request::MarkRead {
                    contact: id.clone(),
                })
                .await;
            }
            out.chat_tail = Some((id, tail));
        } else if !unchanged {
            match call(Request::Messages {
                contact: id.clone(),
                limit: Some(SHOWN),
            })
            .await
            {
                Ok(Reply::Messages { messages, .. }) => {
                    // The open chat is being read: mark what they wrote
                    // read (and tell them), as every messenger does.
                    if shown.reading && messages.iter().any(|m| m.state == "received") {
                        let _ = call(Request::MarkRead {
                            contact: id.clone(),
                        })
                        .await;
                    }
                    out.chat = Some((id, messages));
                }
                Ok(_) => {}
                Err(e) => note(&mut out, e),
            }
        }
    }
    if (want.group || want.group_whole)
        && let Some(id) = shown.group.clone()
    {
        match call(Request::GroupMembers { group: id.clone() }).await {
            Ok(Reply::GroupMembers { members, .. }) => {
                out.group_members = Some((id.clone(), members));
            }
            Ok(_) => {}
            Err(e) => note(&mut out, e),
        }
        let same = !want.group_whole
            && out
                .groups
                .as_ref()
                .and_then(|gs| gs.iter().find(|g| g.id == id))
                .is_some_and(|g| g.messages == shown.group_len);
        if !same {
            match call(Request::GroupMessages {
                group: id.clone(),
                limit: Some(SHOWN),
            })
            .await
            {
                Ok(Reply::GroupMessages { messages, .. }) => {
                    out.group_messages = Some((id, messages));
                }
                Ok(_) => {}
                Err(e) => note(&mut out, e),
            }
        }
    }
    out
}

/// Keeps the first error.
fn note(out: &mut Loaded, e: String) {
    out.error.get_or_insert(e);
}
