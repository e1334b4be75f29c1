//! Text that others chose, made safe to print on a terminal.
//!
//! A message, a contact's name or a group's name comes from a peer. Printed
//! as-is, control characters could move the cursor, rewrite earlier lines,
//! set the window title or (on some terminals) answer back, and
//! bidirectional overrides could make text read differently from what it
//! is (THREAT_MODEL.md, "Attacks tried" 13). [`escape`] shows every such
//! character as a visible `\u{…}` escape. A newline stays a newline but the
//! next line is indented, so a message cannot fake a line of its own.

use std::borrow::Cow;
use std::fmt::Write;

use cairn_protocol::invite::is_bidi_control;

/// `text` with control characters and bidi controls escaped.
pub fn escape(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && c != '\t') || is_bidi_control(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\n' {
            out.push_str("\n    ");
        } else if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_are_shown_not_obeyed() {
        assert_eq!(escape("plain, سلام"), "plain, سلام");
        assert_eq!(
            escape("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"
        );
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m", "C1 controls too");
        assert_eq!(escape("a\r12:00 ← fake"), "a\\u{d}12:00 ← fake");
        assert_eq!(escape("one\ntwo"), "one\n    two");
        assert_eq!(escape("می\u{200c}بینمت"), "می\u{200c}بینمت", "ZWNJ stays");
    }
}
