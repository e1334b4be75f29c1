//! What the gateway's parts share about stanzas: the namespace, what the
//! runtime is asked to do, building and escaping XML, and JIDs. A leaf: it
//! imports nothing of the gateway.

use cairn_protocol::bridge::BridgeSignal;
use cairn_protocol::{GroupId, IdentityKey, MessageId};
use tokio_xmpp::minidom::Element;
use tracing::warn;

pub const NS_CLIENT: &str = "jabber:component:accept";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// What an XMPP message does to a message already in the conversation
/// (read by [`super::extensions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: cairn_protocol::message::OpKind,
    /// The XMPP id of the message it is about.
    pub of: String,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this stanza to the XMPP server.
    Send(Element),
    /// Queue a text for a Cairn user from `remote` (durably, through the
    /// engine). `receipt` is where to confirm it once delivered (XEP-0184):
    /// the sender's full JID and their stanza id.
    ToCairn {
        user: IdentityKey,
        remote: String,
        text: String,
        receipt: Option<(String, String)>,
        /// Its id on XMPP (XEP-0359 origin-id, else the stanza's id).
        foreign: Option<String>,
        /// Whether its sender asked for chat markers (XEP-0333).
        markable: bool,
        /// An operation on a message already passed on (by its XMPP id).
        op: Option<Reference>,
        /// Who sent it (their full JID), to answer with an error.
        sender: String,
    },
    /// Fetch the file at `url` (shared with HTTP upload) and pass it on to
    /// a Cairn user as a file from `remote`; the other fields as for
    /// `ToCairn`.
    FetchFile {
        user: IdentityKey,
        remote: String,
        url: String,
        receipt: Option<(String, String)>,
        foreign: Option<String>,
        markable: bool,
        sender: String,
    },
    /// Upload a Cairn user's file (message `id`, to `remote`) to the HTTP
    /// upload slot the server gave: PUT it at `put` with `headers`, then
    /// tell `remote` its `get` address.
    Upload {
        user: IdentityKey,
        id: MessageId,
        put: String,
        headers: Vec<(String, String)>,
        get: String,
    },
    /// Tell a Cairn user something (best effort).
    Signal {
        user: IdentityKey,
        signal: BridgeSignal,
    },
    /// This incoming bridged text reached the XMPP server: settle it.
    Settle {
        user: IdentityKey,
        id: MessageId,
    },
    /// Post, for the XMPP occupant `nick` of a group's room, `text` in the
    /// group; `stanza_id` is what the room reflects it with.
    ToGroup {
        group: GroupId,
        nick: String,
        text: String,
        stanza_id: String,
    },
    PutSetting(String, Vec<u8>),
    DeleteSetting(String),
}

/// An error reply to `stanza` (RFC 6120 §8.3), from whom it was sent to.
pub fn error_reply(stanza: &Element, kind: &str, condition: &str, text: &str) -> Option<Action> {
    let (from, to) = (stanza.attr("from")?, stanza.attr("to")?);
    let id = stanza
        .attr("id")
        .map(|i| format!(" id='{}'", esc(i)))
        .unwrap_or_default();
    build(&format!(
        "<{name} xmlns='{NS_CLIENT}' type='error' from='{}' to='{}'{id}>\
         <error type='{kind}'><{condition} xmlns='{NS_STANZAS}'/>\
         <text xmlns='{NS_STANZAS}'>{}</text></error></{name}>",
        esc(to),
        esc(from),
        esc(text),
        name = stanza.name(),
    ))
    .map(Action::Send)
}

pub fn build(xml: &str) -> Option<Element> {
    match xml.parse::<Element>() {
        Ok(el) => Some(el),
        Err(e) => {
            warn!(error = %e, "could not build a stanza");
            None
        }
    }
}

/// Escapes text for XML content and attribute values; drops characters XML
/// cannot carry.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The bare JID (`local@domain`, lower-cased) of a JID, if it is one.
pub fn bare_jid(jid: &str) -> Option<String> {
    let parsed = tokio_xmpp::jid::Jid::new(jid).ok()?;
    let bare = parsed.to_bare().to_string();
    Some(bare.to_lowercase())
}

/// Splits a JID into its local part (if any) and domain.
pub fn split_local(jid: &str) -> Option<(Option<&str>, &str)> {
    let bare = jid.split('/').next()?;
    Some(match bare.split_once('@') {
        Some((local, domain)) if !local.is_empty() => (Some(local), domain),
        Some(_) => return None,
        None => (None, bare),
    })
}

/// XEP-0106: escapes a string for use as a JID local part.
pub fn escape_local(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("\\20"),
            '"' => out.push_str("\\22"),
            '&' => out.push_str("\\26"),
            '\'' => out.push_str("\\27"),
            '/' => out.push_str("\\2f"),
            ':' => out.push_str("\\3a"),
            '<' => out.push_str("\\3c"),
            '>' => out.push_str("\\3e"),
            '@' => out.push_str("\\40"),
            '\\' => out.push_str("\\5c"),
            c => out.push(c),
        }
    }
    out
}

/// XEP-0106: the string a local part stands for.
pub fn unescape_local(s: &str) -> String {
    const CODES: [(&str, char); 10] = [
        ("20", ' '),
        ("22", '"'),
        ("26", '&'),
        ("27", '\''),
        ("2f", '/'),
        ("3a", ':'),
        ("3c", '<'),
        ("3e", '>'),
        ("40", '@'),
        ("5c", '\\'),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match CODES
            .iter()
            .find(|(code, _)| after.get(..2).is_some_and(|h| h.eq_ignore_ascii_case(code)))
        {
            Some((_, c)) => {
                out.push(*c);
                rest = &after[2..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
