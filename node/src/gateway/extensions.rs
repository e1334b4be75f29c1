//! Replies, reactions, corrections, retractions and chat markers: how
//! Cairn's message operations read and write as XMPP extensions — XEP-0461
//! (replies, with XEP-0428 fallback), XEP-0444 (reactions), XEP-0308 (last
//! message correction), XEP-0424 (retraction) and XEP-0333 (markers). A
//! leaf: the stanza in, what it asks for out; the text of a stanza to send.
//!
//! XMPP names a message by its id (the `origin-id` of XEP-0359 where given,
//! else the stanza's `id`): a Cairn user's message goes out under its Cairn
//! id, so it comes back under it; a message from XMPP keeps its own, which
//! the gateway indexes (`RedbStore::put_foreign_id`).

use cairn_protocol::message::{OpKind, is_reaction};
use tokio_xmpp::minidom::Element;

pub use super::stanza::Reference;
use super::stanza::esc;

pub const NS_REPLY: &str = "urn:xmpp:reply:0";
pub const NS_REACTIONS: &str = "urn:xmpp:reactions:0";
pub const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
pub const NS_RETRACT: &str = "urn:xmpp:message-retract:1";
pub const NS_FALLBACK: &str = "urn:xmpp:fallback:0";
pub const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";
pub const NS_SID: &str = "urn:xmpp:sid:0";
pub const NS_HINTS: &str = "urn:xmpp:hints";
/// XEP-0066 out-of-band data: how a file put with HTTP upload (XEP-0363)
/// is shared in a message.
pub const NS_OOB: &str = "jabber:x:oob";
/// The longest file URL taken from XMPP.
pub const MAX_URL: usize = 2048;

/// The longest message id taken from XMPP (ids are short; a longer one is
/// refused rather than indexed).
pub const MAX_XMPP_ID: usize = 128;
/// Reactions looked at in one `<reactions>` (XEP-0444 allows several per
/// person; Cairn keeps one, the last that is an emoji).
const MAX_REACTIONS_READ: usize = 16;

/// Why an XMPP message cannot be passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a reaction must be one emoji")]
    BadReaction,
    #[error("the message referred to has no usable id")]
    BadId,
    #[error("a correction must have a text")]
    EmptyCorrection,
}

/// The id XMPP knows a message by: its `origin-id`, else its `id`.
pub fn message_id(stanza: &Element) -> Option<String> {
    stanza
        .get_child("origin-id", NS_SID)
        .and_then(|o| o.attr("id"))
        .or_else(|| stanza.attr("id"))
        .filter(|id| !id.is_empty() && id.len() <= MAX_XMPP_ID)
        .map(str::to_owned)
}

/// The URL of a file the message shares (XEP-0066 `<x><url>`), when the
/// message is only that: no body, or a body that is the URL itself (as
/// Conversations, Gajim and Dino send them).
pub fn shared_file(stanza: &Element, body: Option<&str>) -> Option<String> {
    let url = stanza
        .get_child("x", NS_OOB)?
        .get_child("url", NS_OOB)?
        .text();
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL || url.chars().any(char::is_whitespace) {
        return None;
    }
    match body.map(str::trim) {
        None => Some(url.to_owned()),
        Some(b) if b == url => Some(url.to_owned()),
        Some(_) => None,
    }
}

/// Whether the sender asks to hear when it is shown (XEP-0333).
pub fn is_markable(stanza: &Element) -> bool {
    stanza.has_child("markable", NS_MARKERS)
}

/// The id a `displayed` marker names, if the stanza is one.
pub fn displayed(stanza: &Element) -> Option<&str> {
    stanza.get_child("displayed", NS_MARKERS)?.attr("id")
}

fn reference_id(el: &Element) -> Result<String, Refusal> {
    el.attr("id")
        .filter(|id| !id.is_empty() && id.len() <= MAX_XMPP_ID)
        .map(str::to_owned)
        .ok_or(Refusal::BadId)
}

/// What an XMPP message means for Cairn: a plain text (`None`), or an
/// operation on another message with the text it carries — the reply
/// without its quoted fallback, the reaction, the corrected text; nothing
/// for a retraction (whatever fallback body it has is for old clients).
/// `Ok(None)` with no `body` means nothing to pass on.
pub fn parse(stanza: &Element, body: Option<&str>) -> Result<Option<(Reference, String)>, Refusal> {
    if let Some(retract) = stanza.get_child("retract", NS_RETRACT) {
        let of = reference_id(retract)?;
        return Ok(Some((
            Reference {
                kind: OpKind::Delete,
                of,
            },
            String::new(),
        )));
    }
    if let Some(reactions) = stanza.get_child("reactions", NS_REACTIONS) {
        let of = reference_id(reactions)?;
        let given: Vec<String> = reactions
            .children()
            .filter(|c| c.is("reaction", NS_REACTIONS))
            .take(MAX_REACTIONS_READ)
            .map(|c| c.text().trim().to_owned())
            .collect();
        // All of the sender's reactions: none takes theirs back. Cairn
        // keeps one per person, the last that is an emoji.
        let text = match given.iter().rev().find(|r| !r.is_empty() && is_reaction(r)) {
            Some(r) => r.clone(),
            None if given.iter().all(String::is_empty) => String::new(),
            None => return Err(Refusal::BadReaction),
        };
        return Ok(Some((
            Reference {
                kind: OpKind::React,
                of,
            },
            text,
        )));
    }
    if let Some(replace) = stanza.get_child("replace", NS_CORRECT) {
        let of = reference_id(replace)?;
        let text = body.map(str::to_owned).ok_or(Refusal::EmptyCorrection)?;
        return Ok(Some((
            Reference {
                kind: OpKind::Edit,
                of,
            },
            text,
        )));
    }
    if let (Some(reply), Some(body)) = (stanza.get_child("reply", NS_REPLY), body) {
        let of = reference_id(reply)?;
        let text = without_fallback(stanza, body, NS_REPLY);
        let text = if text.trim().is_empty() {
            body.to_owned()
        } else {
            text
        };
        return Ok(Some((
            Reference {
                kind: OpKind::Reply,
                of,
            },
            text,
        )));
    }
    Ok(None)
}

/// `body` without the ranges the sender marked as fallback for `ns`
/// (XEP-0428: offsets in Unicode code points). Out-of-range or overlapping
/// marks leave the body whole.
pub fn without_fallback(stanza: &Element, body: &str, ns: &str) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for fallback in stanza
        .children()
        .filter(|c| c.is("fallback", NS_FALLBACK) && c.attr("for") == Some(ns))
        .take(4)
    {
        for mark in fallback.children().filter(|c| c.name() == "body").take(4) {
            let (Some(start), Some(end)) = (
                mark.attr("start").and_then(|s| s.parse::<usize>().ok()),
                mark.attr("end").and_then(|s| s.parse::<usize>().ok()),
            ) else {
                // A fallback without a range is the whole body.
                return String::new();
            };
            ranges.push((start, end));
        }
    }
    if ranges.is_empty() {
        return body.to_owned();
    }
    ranges.sort_unstable();
    let chars = body.chars().count();
    let sane = ranges.iter().all(|(s, e)| s <= e && *e <= chars)
        && ranges.windows(2).all(|w| w[0].1 <= w[1].0);
    if !sane {
        return body.to_owned();
    }
    body.chars()
        .enumerate()
        .filter(|(i, _)| !ranges.iter().any(|(s, e)| (*s..*e).contains(i)))
        .map(|(_, c)| c)
        .collect::<String>()
        .trim_start_matches('\n')
        .to_owned()
}

/// The message an operation refers to, as XMPP knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its XMPP id.
    pub id: String,
    /// Its author's JID (the `to` of a XEP-0461 reply).
    pub author: String,
    /// Its text, for a reply's quote (empty when deleted or a file).
    pub quote: String,
}

/// The inside of a `<message>` that carries a Cairn operation to XMPP: the
/// body (with what older clients show instead) and the extension elements.
pub fn elements(kind: OpKind, target: &Target, text: &str) -> String {
    let id = esc(&target.id);
    match kind {
        OpKind::Reply => {
            let quote: String = target
                .quote
                .lines()
                .take(4)
                .map(|l| format!("> {l}\n"))
                .collect();
            let end = quote.chars().count();
            let fallback = if quote.is_empty() {
                String::new()
            } else {
                format!(
                    "<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'><body start='0' end='{end}'/></fallback>"
                )
            };
            format!(
                "<body>{}{}</body><reply xmlns='{NS_REPLY}' to='{}' id='{id}'/>{fallback}\
                 <markable xmlns='{NS_MARKERS}'/>",
                esc(&quote),
                esc(text),
                esc(&target.author),
            )
        }
        OpKind::React => {
            let reaction = if text.is_empty() {
                String::new()
            } else {
                format!("<reaction>{}</reaction>", esc(text))
            };
            format!(
                "<reactions xmlns='{NS_REACTIONS}' id='{id}'>{reaction}</reactions>\
                 <store xmlns='{NS_HINTS}'/>"
            )
        }
        OpKind::Edit => format!(
            "<body>{}</body><replace xmlns='{NS_CORRECT}' id='{id}'/>",
            esc(text)
        ),
        OpKind::Delete => format!(
            "<body>This message was deleted.</body><retract xmlns='{NS_RETRACT}' id='{id}'/>\
             <fallback xmlns='{NS_FALLBACK}' for='{NS_RETRACT}'/><store xmlns='{NS_HINTS}'/>"
        ),
        // Timers do not cross (refused before they are sent).
        OpKind::Timer => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(inner: &str) -> Element {
        format!("<message xmlns='jabber:component:accept' type='chat' id='m1'>{inner}</message>")
            .parse()
            .unwrap()
    }

    fn parsed(inner: &str) -> Result<Option<(Reference, String)>, Refusal> {
        let s = stanza(inner);
        let body = s
            .get_child("body", "jabber:component:accept")
            .map(Element::text);
        parse(&s, body.as_deref())
    }

    #[test]
    fn each_extension_reads_as_its_operation() {
        let r = |kind, of: &str| Reference {
            kind,
            of: of.to_owned(),
        };
        assert_eq!(parsed("<body>hi</body>"), Ok(None));
        assert_eq!(
            parsed(&format!(
                "<reactions xmlns='{NS_REACTIONS}' id='a'><reaction>👍</reaction><reaction>❤️</reaction></reactions>"
            )),
            Ok(Some((r(OpKind::React, "a"), "❤️".to_owned())))
        );
        assert_eq!(
            parsed(&format!("<reactions xmlns='{NS_REACTIONS}' id='a'/>")),
            Ok(Some((r(OpKind::React, "a"), String::new())))
        );
        assert_eq!(
            parsed(&format!(
                "<body>fixed</body><replace xmlns='{NS_CORRECT}' id='b'/>"
            )),
            Ok(Some((r(OpKind::Edit, "b"), "fixed".to_owned())))
        );
        assert_eq!(
            parsed(&format!(
                "<body>old client text</body><retract xmlns='{NS_RETRACT}' id='c'/>"
            )),
            Ok(Some((r(OpKind::Delete, "c"), String::new())))
        );
        assert_eq!(
            parsed(&format!(
                "<body>&gt; quoted\nmy answer</body><reply xmlns='{NS_REPLY}' to='x@y' id='d'/>\
                 <fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'><body start='0' end='9'/></fallback>"
            )),
            Ok(Some((r(OpKind::Reply, "d"), "my answer".to_owned())))
        );
    }

    #[test]
    fn hostile_extensions_are_refused_or_read_safely() {
        // Words are not reactions.
        assert_eq!(
            parsed(&format!(
                "<reactions xmlns='{NS_REACTIONS}' id='a'><reaction>+1 lol</reaction></reactions>"
            )),
            Err(Refusal::BadReaction)
        );
        // No id, or an absurd one.
        assert_eq!(
            parsed(&format!("<retract xmlns='{NS_RETRACT}'/>")),
            Err(Refusal::BadId)
        );
        let long = "x".repeat(MAX_XMPP_ID + 1);
        assert_eq!(
            parsed(&format!(
                "<body>t</body><replace xmlns='{NS_CORRECT}' id='{long}'/>"
            )),
            Err(Refusal::BadId)
        );
        assert_eq!(
            parsed(&format!("<replace xmlns='{NS_CORRECT}' id='b'/>")),
            Err(Refusal::EmptyCorrection)
        );
        // Fallback ranges out of bounds, reversed or overlapping leave the
        // body whole; multi-byte text is cut on code points.
        for marks in [
            "<body start='0' end='999'/>",
            "<body start='5' end='2'/>",
            "<body start='0' end='4'/><body start='2' end='6'/>",
        ] {
            let s = stanza(&format!(
                "<body>ab😀cd</body><fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'>{marks}</fallback>"
            ));
            assert_eq!(without_fallback(&s, "ab😀cd", NS_REPLY), "ab😀cd");
        }
        let s = stanza(&format!(
            "<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'><body start='0' end='3'/></fallback>"
        ));
        assert_eq!(without_fallback(&s, "ab😀cd", NS_REPLY), "cd");
        // A reply that is all fallback keeps its body rather than vanish.
        assert_eq!(
            parsed(&format!(
                "<body>&gt; q</body><reply xmlns='{NS_REPLY}' id='d'/>\
                 <fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'/>"
            )),
            Ok(Some((
                Reference {
                    kind: OpKind::Reply,
                    of: "d".to_owned()
                },
                "> q".to_owned()
            )))
        );
    }

    #[test]
    fn operations_written_for_xmpp_read_back_as_themselves() {
        let target = Target {
            id: "0123".to_owned(),
            author: "juliet@localhost".to_owned(),
            quote: "where <are> you?".to_owned(),
        };
        for (kind, text) in [
            (OpKind::Reply, "at the market & you?"),
            (OpKind::React, "🎉"),
            (OpKind::React, ""),
            (OpKind::Edit, "fixed <text>"),
            (OpKind::Delete, ""),
        ] {
            let s = stanza(&elements(kind, &target, text));
            let body = s
                .get_child("body", "jabber:component:accept")
                .map(Element::text);
            let (reference, back) = parse(&s, body.as_deref()).unwrap().unwrap();
            assert_eq!(reference.kind, kind);
            assert_eq!(reference.of, "0123");
            assert_eq!(back, text, "{kind:?}");
        }
    }
}
