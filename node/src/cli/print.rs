//! How the CLI prints contacts, messages and status for people (and JSON
//! for tools).

use super::i18n::tr;
use cairn_node::api::{ContactInfo, GroupMessageInfo, MessageInfo, StatusInfo};

pub(crate) fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// The name the user knows a contact by, safe to print.
pub(crate) fn shown_name(c: &ContactInfo) -> String {
    esc(c.alias.as_deref().unwrap_or(&c.name)).into_owned()
}

/// Text that someone else chose, safe to print on a terminal.
pub(crate) fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    cairn_node::terminal::escape(text)
}

pub(crate) fn when(ms: u64) -> String {
    cairn_node::timestamp::rfc3339_seconds(ms)
}

pub(crate) fn print_message(m: &MessageInfo) {
    let arrow = if m.direction == "out" { "→" } else { "←" };
    let short = m.id.get(..8).unwrap_or(&m.id);
    if let Some(secs) = m.timer {
        let who = if m.direction == "out" { "→" } else { "←" };
        let what = match secs {
            0 => tr!("msg-timer-off"),
            s => tr!("msg-timer-set", after = span(s)),
        };
        println!("{} {who} ⏱ {what}  #{short}", when(m.local_at));
        return;
    }
    if let Some(to) = &m.reply_to {
        let quoted = match &m.quote {
            Some(q) => esc(q).into_owned(),
            None => to.get(..8).unwrap_or(to).to_owned(),
        };
        println!("    ↪ {}", tr!("msg-reply-to", quote = quoted));
    }
    let reactions: String = m
        .reactions
        .iter()
        .map(|r| format!(" {}", r.emoji))
        .collect();
    if m.deleted {
        println!(
            "{} {arrow} ({})  [{}]  #{short}",
            when(m.local_at),
            tr!("msg-deleted"),
            m.state
        );
        return;
    }
    match &m.file {
        Some(f) => {
            let progress = match f.state.as_str() {
                "complete" => tr!("file-complete"),
                "failed" => tr!("file-corrupt"),
                _ => format!("{}%", (f.have * 100).checked_div(f.size).unwrap_or(100)),
            };
            let kind = if cairn_node::voice::is_voice(&f.mime) {
                tr!("voice-note")
            } else {
                "file".to_owned()
            };
            println!(
                "{} {arrow} [{kind}] {} ({}, {progress})  [{}]  id {}",
                when(m.local_at),
                esc(&m.text),
                size(f.size),
                m.state,
                m.id
            );
        }
        None => println!(
            "{} {arrow} {}{}  [{}]{reactions}  #{short}",
            when(m.local_at),
            esc(&m.text),
            if m.edited {
                format!(" ({})", tr!("msg-edited"))
            } else {
                String::new()
            },
            m.state
        ),
    }
}

/// One group message: who wrote it, its text, what it replies to, its
/// reactions and whether it was edited or deleted.
pub(crate) fn print_group_message(m: &GroupMessageInfo, who: &str) {
    // The end of the id: its start is the author's clock, shared by
    // neighbouring posts.
    let short = m.id.get(m.id.len().saturating_sub(8)..).unwrap_or(&m.id);
    if let Some(to) = &m.reply_to {
        let quoted = match &m.quote {
            Some(q) => esc(q).into_owned(),
            None => to.get(..8).unwrap_or(to).to_owned(),
        };
        println!("    ↪ {}", tr!("msg-reply-to", quote = quoted));
    }
    if m.deleted {
        println!(
            "{} {}: ({})  #{short}",
            when(m.sent_at),
            esc(who),
            tr!("msg-deleted")
        );
        return;
    }
    let reactions: String = m
        .reactions
        .iter()
        .map(|r| format!(" {}", esc(&r.emoji)))
        .collect();
    if let Some(f) = &m.file {
        let kind = if cairn_node::voice::is_voice(&f.mime) {
            tr!("voice-note")
        } else {
            "file".to_owned()
        };
        let state = if f.state == "complete" {
            tr!("file-complete")
        } else {
            tr!("file-arriving")
        };
        println!(
            "{} {}: [{kind}] {} ({}, {state}){reactions}  #{short}",
            when(m.sent_at),
            esc(who),
            esc(&m.text),
            size(f.size)
        );
        return;
    }
    let edited = if m.edited {
        format!(" ({})", tr!("msg-edited"))
    } else {
        String::new()
    };
    println!(
        "{} {}: {}{edited}{reactions}  #{short}",
        when(m.sent_at),
        esc(who),
        esc(&m.text)
    );
}

/// A timer's length the way people say it: 30s, 5m, 8h, 1d, 2w.
pub(crate) fn span(secs: u64) -> String {
    for (unit, len) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= len && secs.is_multiple_of(len) {
            return format!("{}{unit}", secs / len);
        }
    }
    format!("{secs}s")
}

/// Reads a timer the way `span` writes one ("off" is 0).
pub(crate) fn parse_span(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "off" {
        return Some(0);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let len = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(len)
}

pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

pub(crate) fn print_contact(c: &ContactInfo) {
    if c.kind == "xmpp" {
        let via = c.via.as_deref().unwrap_or("?");
        let presence = c
            .presence
            .clone()
            .unwrap_or_else(|| tr!("presence-unknown"));
        println!(
            "{:<20} {}  {}",
            c.name,
            c.id,
            tr!("xmpp-contact", via = via.to_owned(), presence = presence)
        );
        return;
    }
    let mut flags = Vec::new();
    if c.verified {
        flags.push(tr!("flag-verified"));
    }
    if c.key_changed {
        flags.push(tr!("flag-key-changed"));
    }
    if c.origin == "request" {
        flags.push(tr!("flag-wrote-first"));
    }
    if !c.links.is_empty() {
        flags.push(tr!("flag-online"));
    }
    if let Some(secs) = c.disappear_after {
        flags.push(tr!("flag-disappearing", after = span(secs)));
    }
    match c.offline.as_str() {
        "none" => flags.push(tr!("flag-not-forward-secret")),
        "signed-prekey-only" => flags.push(tr!("flag-forward-secret-once-met")),
        _ => {}
    }
    println!("{:<20} {}  {}", shown_name(c), c.id, flags.join(", "));
}

pub(crate) fn print_status(s: &StatusInfo) {
    println!("{} ({})", esc(&s.name), s.id);
    println!(
        "contacts: {}   outbox: {}   sessions: {}",
        s.contacts, s.outbox, s.sessions
    );
    println!(
        "mesh ({}): carrying {} envelopes, {} of {} KiB for others; {} handed on, {} refused",
        s.mesh.policy,
        s.mesh.carried,
        s.mesh.relayed_bytes / 1024,
        s.mesh.capacity_bytes / 1024,
        s.mesh.handed_on,
        s.mesh.refused
    );
    if s.lan.enabled {
        println!(
            "lan: {} connected, {} discovered, mDNS {}",
            s.lan.connected_peers,
            s.lan.discovered_peers,
            if s.lan.mdns { "on" } else { "off" }
        );
        for addr in &s.lan.listen_addrs {
            println!("  listening on {addr}/p2p/{}", s.lan.peer_id);
        }
    } else {
        println!("lan: off");
    }
    if s.ble.enabled {
        let scanning = if s.ble.scanning { ", scanning" } else { "" };
        match (&s.ble.adapter, s.ble.state.as_str()) {
            (Some(adapter), "ready") => println!(
                "bluetooth: ready on {adapter} ({}){scanning}, {} links",
                s.ble.address.as_deref().unwrap_or("?"),
                s.ble.links
            ),
            (_, state) => println!("bluetooth: {state} (`cairn doctor` checks why)"),
        }
    } else {
        println!("bluetooth: off");
    }
    if s.gateway.enabled {
        println!(
            "gateway {}: {}; {} users joined; {} texts waiting for the server",
            s.gateway.domain,
            if s.gateway.connected {
                "attached"
            } else {
                "NOT attached (retrying)"
            },
            s.gateway.users.len(),
            s.gateway.unconfirmed
        );
        for u in &s.gateway.users {
            println!("  {u}");
        }
    }
    for b in &s.bridges {
        println!(
            "bridged through {}: {}",
            if b.gateway_name.is_empty() {
                &b.gateway
            } else {
                &b.gateway_name
            },
            b.address
                .as_deref()
                .unwrap_or("waiting for the gateway to answer")
        );
    }
    if s.tor.enabled {
        println!(
            "tor: {} ({}%): {}; {} links",
            s.tor.stage, s.tor.progress, s.tor.detail, s.tor.links
        );
        if let Some(onion) = &s.tor.onion {
            println!("  onion service {onion}");
        }
    } else {
        println!("tor: off");
    }
    if s.links.is_empty() {
        println!("links: none");
    }
    for l in &s.links {
        let who = l
            .peer_name
            .clone()
            .unwrap_or_else(|| l.peer[..12].to_owned());
        println!("  {} link to {}", l.medium, esc(&who));
    }
}

/// A `cairn:` code as a QR code on the terminal (upper case: QR's compact
/// alphanumeric mode).
pub(crate) fn print_qr(uri: &str) -> Result<(), super::CliError> {
    let code = qrcode::QrCode::new(uri.to_ascii_uppercase().as_bytes())
        .map_err(|e| super::CliError::Usage(format!("cannot draw the QR code: {e}")))?;
    println!(
        "{}",
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build()
    );
    Ok(())
}
