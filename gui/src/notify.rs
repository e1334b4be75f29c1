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
        .body(&format!("New message from {from}"))
        .show()
        .map(|_| ())
        .map_err(|e| e.to_string())
}
