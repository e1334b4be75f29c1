//! Desktop notifications (freedesktop.org, over D-Bus via notify-rust).
//!
//! A notification names the sender, never the text: it shows on lock
//! screens and in notification histories other people may see.

/// Tells the desktop that `from` wrote. Blocks while D-Bus answers; call it
/// off the UI thread. Without a notification service it fails quietly
/// (returned, for the caller to log once).
pub fn new_message(from: &str) -> Result<(), String> {
    notify_rust::Notification::new()
        .appname("Cairn")
        .summary("Cairn")
        .body(&crate::tr!("new-message-from", name = isolated(from)))
        .show()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A name set apart for the bidi algorithm (FSI ... PDI) when it or the
/// language runs right to left, so a Persian name in an English sentence (or
/// the reverse) keeps its place: notification daemons lay text out with
/// pango, which honours the isolates.
fn isolated(name: &str) -> String {
    if crate::i18n::rtl() || name.chars().any(crate::text::rtl_script) {
        format!("\u{2068}{name}\u{2069}")
    } else {
        name.to_owned()
    }
}
