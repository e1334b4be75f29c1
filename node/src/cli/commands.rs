//! What each command does: through one [`Client`] to the node, or the node
//! itself for `cairn run`.

use std::io::IsTerminal;
use std::time::Duration;

use super::CliError;
use super::archive;
use super::args::*;
use super::i18n::tr;
use super::print::*;
use super::reach::*;
use cairn_node::api::GroupInfo;
use cairn_node::{Client, Profile, Reply, Request, RunOptions};

pub(crate) fn create_profile(
    profile: &Profile,
    name: &str,
) -> Result<cairn_node::store::Opened, CliError> {
    cairn_protocol::invite::validate_name(name).map_err(|e| CliError::Usage(e.to_string()))?;
    let pass = passphrase(true)?;
    if pass.is_empty() {
        eprintln!("{}", tr!("empty-passphrase"));
    }
    let opened = profile.create(name, pass.as_bytes())?;
    println!("{}", opened.identity.key());
    eprintln!(
        "{}",
        tr!(
            "created-profile",
            name = name,
            dir = profile.dir().display().to_string()
        )
    );
    Ok(opened)
}

pub(crate) async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let profile = profile_of(&cli)?;
    match cli.command {
        Command::Init {
            name, link: None, ..
        } => create_profile(&profile, name.as_deref().unwrap_or_default()).map(drop),
        Command::Init {
            name,
            link: Some(code),
            device_name,
            mailbox,
        } => join(&profile, name, code, device_name, mailbox).await,
        Command::Run {
            name,
            listen,
            bootstrap,
            no_mdns,
            no_lan,
            no_ble,
            mailbox,
            ble_adapter,
            tor,
            tor_only,
            tor_config,
        } => {
            let created = if profile.exists() {
                None
            } else {
                let name = name
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "Cairn user".into());
                Some(create_profile(&profile, &name)?)
            };
            let mut config = profile.load_config()?;
            if !listen.is_empty() {
                config.lan.listen = listen;
            }
            config.lan.bootstrap.extend(bootstrap);
            config.lan.mdns &= !no_mdns;
            config.lan.enabled &= !no_lan;
            config.ble.enabled &= !no_ble;
            config.mailbox.enabled |= mailbox;
            if let Some(adapter) = ble_adapter {
                config.ble.adapter = adapter;
            }
            config.tor.enabled |= tor;
            config.tor.only |= tor_only;
            if tor_config.is_some() {
                config.tor.arti_config = tor_config;
            }
            run(&profile, config, created).await
        }
        Command::Invite { qr } => {
            let Reply::Invite { uri } = request(&profile, Request::Invite).await? else {
                return Err(unexpected());
            };
            println!("{uri}");
            if qr {
                print_qr(&uri)?;
            }
            Ok(())
        }
        Command::Add { invite, alias } => {
            let Reply::Contact(c) = request(&profile, Request::Add { invite, alias }).await? else {
                return Err(unexpected());
            };
            println!("{}", tr!("added", name = shown_name(&c), id = c.id.clone()));
            println!("{}", tr!("compare-safety", name = shown_name(&c)));
            Ok(())
        }
        Command::Send { contact, text } => {
            let Reply::Sent { id } = request(&profile, Request::Send { contact, text }).await?
            else {
                return Err(unexpected());
            };
            println!("{id}");
            Ok(())
        }
        Command::Reply { contact, id, text } => {
            message_op(&profile, contact, id, "reply", text).await
        }
        Command::React { contact, id, emoji } => {
            message_op(&profile, contact, id, "react", emoji).await
        }
        Command::Edit { contact, id, text } => {
            message_op(&profile, contact, id, "edit", text).await
        }
        Command::Delete { contact, id } => {
            message_op(&profile, contact, id, "delete", String::new()).await
        }
        Command::Disappear { contact, after } => {
            let secs = parse_span(&after).ok_or_else(|| {
                CliError::Usage(format!(
                    "{after:?} is not a time: say 30s, 10m, 8h, 1d, 1w or off"
                ))
            })?;
            let Reply::Sent { id } =
                request(&profile, Request::Disappear { contact, secs }).await?
            else {
                return Err(unexpected());
            };
            println!("{id}");
            Ok(())
        }
        Command::SendFile {
            contact,
            path,
            no_wait,
        } => send_file(&profile, contact, path, no_wait).await,
        Command::SendVoice {
            contact,
            path,
            no_wait,
        } => send_voice(&profile, contact, path, no_wait).await,
        Command::Voice { contact, id, out } => {
            let max = cairn_node::voice::MAX_BYTES;
            voice(&profile, Request::FileData { contact, id, max }, out).await
        }
        Command::SaveFile { contact, id, path } => {
            let path = match path {
                Some(p) => p,
                None => {
                    let Reply::File(f) = request(
                        &profile,
                        Request::FileStatus {
                            contact: contact.clone(),
                            id: id.clone(),
                        },
                    )
                    .await?
                    else {
                        return Err(unexpected());
                    };
                    std::path::PathBuf::from(f.name)
                }
            };
            let shown = path.display().to_string();
            request(
                &profile,
                Request::SaveFile {
                    contact,
                    id,
                    path: absolute(&path)?,
                },
            )
            .await?;
            println!("{}", tr!("saved", path = shown));
            Ok(())
        }
        Command::Messages {
            contact,
            limit,
            json,
            peek,
        } => {
            let Reply::Messages { messages, .. } = request(
                &profile,
                Request::Messages {
                    contact: contact.clone(),
                    limit,
                },
            )
            .await?
            else {
                return Err(unexpected());
            };
            if json {
                print_json(&messages);
            } else {
                for m in &messages {
                    print_message(m);
                }
            }
            if !peek && messages.iter().any(|m| m.state == "received") {
                request(&profile, Request::MarkRead { contact }).await?;
            }
            Ok(())
        }
        Command::Watch { json } => watch(&profile, json).await,
        Command::Contacts { json } => {
            let Reply::Contacts { contacts } = request(&profile, Request::Contacts).await? else {
                return Err(unexpected());
            };
            if json {
                print_json(&contacts);
            } else if contacts.is_empty() {
                println!("{}", tr!("no-contacts"));
            } else {
                for c in &contacts {
                    print_contact(c);
                }
            }
            Ok(())
        }
        Command::Status { json } => {
            let status = match request(&profile, Request::Status).await {
                Ok(Reply::Status(s)) => s,
                Ok(_) => return Err(unexpected()),
                Err(CliError::Usage(_)) if !json => {
                    println!(
                        "{}",
                        tr!("no-node", dir = profile.dir().display().to_string())
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if json {
                print_json(&status);
            } else {
                print_status(&status);
            }
            Ok(())
        }
        Command::Group(command) => group_command(&profile, command).await,
        Command::Device(command) => device_command(&profile, command).await,
        Command::Doctor { ble_adapter } => doctor(&profile, ble_adapter).await,
        Command::Bridge(command) => bridge_command(&profile, command).await,
        Command::Gateway {
            server,
            domain,
            secret_file,
            allow,
            rate,
            files_from,
            listen,
            bootstrap,
            no_mdns,
        } => {
            let created = if profile.exists() {
                None
            } else {
                Some(create_profile(&profile, "Cairn gateway")?)
            };
            let mut config = profile.load_config()?;
            config.gateway.enabled = true;
            // A gateway runs beside an XMPP server, not in radio range.
            config.ble.enabled = false;
            config.gateway.server = server;
            if let Some(domain) = domain {
                config.gateway.domain = domain;
            }
            if secret_file.is_some() {
                config.gateway.secret_file = secret_file;
            }
            config.gateway.allow.extend(allow);
            config.gateway.files_from.extend(files_from);
            if let Some(rate) = rate {
                config.gateway.rate_per_minute = rate;
                config.gateway.burst = config.gateway.burst.max(rate);
            }
            if !listen.is_empty() {
                config.lan.listen = listen;
            }
            config.lan.bootstrap.extend(bootstrap);
            config.lan.mdns &= !no_mdns;
            run(&profile, config, created).await
        }
        Command::Backup { file, no_files } => archive::backup(&profile, &file, !no_files).await,
        Command::Restore { file } => archive::restore(&profile, &file),
        Command::Export {
            name,
            group,
            json,
            out,
        } => archive::export(&profile, name, group, json, out).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "cairn", &mut std::io::stdout());
            Ok(())
        }
        Command::Manpages { dir } => archive::manpages(&dir),
        Command::Verify { contact, confirm } => {
            let Reply::Safety(s) = request(&profile, Request::Verify { contact, confirm }).await?
            else {
                return Err(unexpected());
            };
            if s.key_changed {
                println!("{}", tr!("key-changed", name = esc(&s.name).into_owned()));
            }
            let name = esc(&s.name).into_owned();
            println!(
                "{}\n\n{}\n",
                tr!("safety-number", name = name.clone()),
                s.safety_number
            );
            if s.verified {
                println!("{}", tr!("is-verified", name = name));
            } else {
                println!("{}", tr!("compare-digits", name = name.clone()));
                println!("{}", tr!("if-they-match", name = name));
            }
            Ok(())
        }
    }
}

pub(crate) async fn group_command(
    profile: &Profile,
    command: GroupCommand,
) -> Result<(), CliError> {
    let print_group = |g: &GroupInfo| {
        let role = g
            .role
            .as_deref()
            .unwrap_or(if g.left { "left" } else { "removed" });
        println!(
            "{:<24} {}  {}",
            esc(&g.name),
            g.id,
            tr!(
                "group-line",
                count = g.members,
                messages = g.messages,
                role = role
            )
        );
        if let Some(address) = &g.bridged_as {
            println!(
                "{:<24} {}",
                "",
                tr!("group-bridged", address = esc(address).into_owned())
            );
        }
    };
    match command {
        GroupCommand::Create { name } => {
            let Reply::Group(g) = request(profile, Request::GroupCreate { name }).await? else {
                return Err(unexpected());
            };
            println!("{}", g.id);
            eprintln!("{}", tr!("group-created", name = g.name.clone()));
        }
        GroupCommand::Add { group, contact } => {
            let Reply::Group(g) = request(profile, Request::GroupAdd { group, contact }).await?
            else {
                return Err(unexpected());
            };
            print_group(&g);
        }
        GroupCommand::Remove { group, contact } => {
            let req = Request::GroupRemove {
                group,
                member: contact,
            };
            let Reply::Group(g) = request(profile, req).await? else {
                return Err(unexpected());
            };
            print_group(&g);
        }
        GroupCommand::Role {
            group,
            contact,
            role,
        } => {
            let req = Request::GroupRole {
                group,
                member: contact,
                role,
            };
            let Reply::Group(g) = request(profile, req).await? else {
                return Err(unexpected());
            };
            print_group(&g);
        }
        GroupCommand::Send { group, text } => {
            let Reply::Sent { id } = request(profile, Request::GroupSend { group, text }).await?
            else {
                return Err(unexpected());
            };
            println!("{id}");
        }
        GroupCommand::SendFile { group, path } => group_send_file(profile, group, &path).await?,
        GroupCommand::SendVoice { group, path } => {
            let staged = stage_voice(profile, &path)?;
            let sent = group_send_file(profile, group, &staged.path).await;
            drop(staged);
            sent?
        }
        GroupCommand::Voice { group, id, out } => {
            let max = cairn_node::voice::MAX_BYTES;
            voice(profile, Request::GroupFileData { group, id, max }, out).await?
        }
        GroupCommand::SaveFile { group, id, path } => {
            let path = match path {
                Some(p) => p,
                None => {
                    let Reply::GroupMessages { messages, .. } = request(
                        profile,
                        Request::GroupMessages {
                            group: group.clone(),
                            limit: None,
                        },
                    )
                    .await?
                    else {
                        return Err(unexpected());
                    };
                    let name = messages
                        .into_iter()
                        .find(|m| m.id.starts_with(&id) || m.id.ends_with(&id))
                        .and_then(|m| m.file)
                        .map_or_else(|| "file".to_owned(), |f| f.name);
                    std::path::PathBuf::from(name)
                }
            };
            let shown = path.display().to_string();
            request(
                profile,
                Request::GroupSaveFile {
                    group,
                    id,
                    path: absolute(&path)?,
                },
            )
            .await?;
            println!("{}", tr!("saved", path = shown));
        }
        GroupCommand::Messages { group, limit, json } => {
            let Reply::GroupMessages { messages, .. } =
                request(profile, Request::GroupMessages { group, limit }).await?
            else {
                return Err(unexpected());
            };
            if json {
                print_json(&messages);
            } else if messages.is_empty() {
                println!("{}", tr!("no-messages"));
            } else {
                for m in &messages {
                    let who = match (&m.via, m.mine) {
                        (Some(name), _) => tr!(
                            "author-xmpp",
                            name = name.clone(),
                            gateway = m.author_name.clone()
                        ),
                        (None, true) => tr!("author-you"),
                        (None, false) => m.author_name.clone(),
                    };
                    print_group_message(m, &who);
                }
            }
        }
        GroupCommand::Reply { group, id, text } => {
            group_op(profile, group, id, "reply", text).await?;
        }
        GroupCommand::React { group, id, emoji } => {
            group_op(profile, group, id, "react", emoji).await?;
        }
        GroupCommand::Edit { group, id, text } => {
            group_op(profile, group, id, "edit", text).await?;
        }
        GroupCommand::Delete { group, id } => {
            group_op(profile, group, id, "delete", String::new()).await?;
        }
        GroupCommand::Disappear { group, after } => {
            let secs = parse_span(&after).ok_or_else(|| {
                CliError::Usage(format!(
                    "{after:?} is not a time: say 30s, 10m, 8h, 1d, 1w or off"
                ))
            })?;
            let Reply::Sent { .. } =
                request(profile, Request::GroupDisappear { group, secs }).await?
            else {
                return Err(unexpected());
            };
            match secs {
                0 => println!("{}", tr!("msg-timer-off")),
                s => println!("{}", tr!("msg-timer-set", after = span(s))),
            }
        }
        GroupCommand::Members { group, json } => {
            let Reply::GroupMembers { members, .. } =
                request(profile, Request::GroupMembers { group }).await?
            else {
                return Err(unexpected());
            };
            if json {
                print_json(&members);
            } else {
                for m in &members {
                    let more = if m.devices > 0 {
                        format!("  ({})", tr!("member-devices", count = m.devices))
                    } else {
                        String::new()
                    };
                    println!("{:<20} {}  {}{more}", esc(&m.name), m.id, m.role);
                }
            }
        }
        GroupCommand::Leave { group } => {
            let Reply::Group(g) = request(profile, Request::GroupLeave { group }).await? else {
                return Err(unexpected());
            };
            println!("{}", tr!("group-left", name = esc(&g.name).into_owned()));
        }
        GroupCommand::List { json } => {
            let Reply::Groups { groups } = request(profile, Request::GroupList).await? else {
                return Err(unexpected());
            };
            if json {
                print_json(&groups);
            } else if groups.is_empty() {
                println!("{}", tr!("no-groups"));
            } else {
                for g in &groups {
                    print_group(g);
                }
            }
        }
        GroupCommand::Export { group, file } => {
            let Reply::GroupExport { name, base64 } =
                request(profile, Request::GroupExport { group }).await?
            else {
                return Err(unexpected());
            };
            let bytes = data_encoding::BASE64
                .decode(base64.as_bytes())
                .map_err(|_| unexpected())?;
            std::fs::write(&file, &bytes)
                .map_err(|e| CliError::Usage(format!("could not write {}: {e}", file.display())))?;
            eprintln!(
                "{}",
                tr!(
                    "wrote-file",
                    name = name.clone(),
                    bytes = bytes.len(),
                    path = file.display().to_string()
                )
            );
        }
    }
    Ok(())
}

/// `cairn watch`: notices from the running node, named for people.
pub(crate) async fn watch(profile: &Profile, json: bool) -> Result<(), CliError> {
    use cairn_node::api::Notice;
    // Only a running node has anything to tell (and this says so clearly).
    request(profile, Request::Status).await?;
    let mut rx = Client::attach(profile).notices()?;
    let names = || async {
        match request(profile, Request::Contacts).await {
            Ok(Reply::Contacts { contacts }) => contacts
                .into_iter()
                .map(|c| (c.id.clone(), c.alias.unwrap_or(c.name)))
                .collect(),
            _ => std::collections::HashMap::new(),
        }
    };
    let mut known: std::collections::HashMap<String, String> = names().await;
    if !json {
        eprintln!(
            "{}",
            tr!("watching", dir = profile.dir().display().to_string())
        );
    }
    while let Some(notice) = rx.recv().await {
        if json {
            // One compact object per line, for tools that read line by line.
            if let Ok(line) = serde_json::to_string(&notice) {
                println!("{line}");
            }
            continue;
        }
        if matches!(notice, Notice::ContactAdded { .. }) {
            known = names().await;
        }
        let name = |id: &str| {
            known
                .get(id)
                .map(|n| esc(n).into_owned())
                .unwrap_or_else(|| id.chars().take(12).collect())
        };
        let now = when(cairn_node::service::now().as_millis());
        let line = match &notice {
            Notice::Message { from, .. } => format!("new message from {}", name(from)),
            Notice::State { peer, state, .. } => format!("your message to {}: {state}", name(peer)),
            Notice::Changed { peer, .. } => format!("a message with {} changed", name(peer)),
            Notice::ContactAdded { peer } => format!("new contact: {}", name(peer)),
            Notice::KeyChanged { peer } => format!(
                "WARNING: {}'s key changed; compare safety numbers again (`cairn verify`)",
                name(peer)
            ),
            Notice::Session { peer } => format!("{} is reachable", name(peer)),
            Notice::Group { group } => format!("group {} changed", &group[..group.len().min(8)]),
            Notice::File { peer, state, .. } => format!("file with {}: {state}", name(peer)),
            Notice::Devices => "your devices changed (`cairn device list`)".to_owned(),
            Notice::DeviceListRefused { peer, reason } => format!(
                "WARNING: a device list for {} was refused ({reason}): compare safety numbers",
                name(peer)
            ),
            Notice::LinkClosed | Notice::Bridge { .. } => continue,
            Notice::Missed { count } => format!("({count} events missed)"),
        };
        println!("{now} {line}");
    }
    eprintln!("{}", tr!("node-stopped"));
    Ok(())
}

/// How long `cairn run` waits for a CLI command that holds the store.
pub(crate) const STORE_WAIT: Duration = Duration::from_secs(15);

/// Opens the profile for the node. A CLI command that found no node opens
/// the store itself for a moment: wait for it rather than fail
/// (THREAT_MODEL.md, "Attacks tried" 15). A node that answers on the control
/// socket is not waited for.
pub(crate) async fn open_waiting(
    profile: &Profile,
    passphrase: &[u8],
) -> Result<cairn_node::store::Opened, CliError> {
    use cairn_node::profile::ProfileError;
    use cairn_node::store::StoreOpenError;
    let deadline = std::time::Instant::now() + STORE_WAIT;
    let mut said = false;
    loop {
        match profile.open(passphrase) {
            Err(ProfileError::Store(StoreOpenError::InUse))
                if std::time::Instant::now() < deadline
                    && tokio::net::UnixStream::connect(profile.socket_path())
                        .await
                        .is_err() =>
            {
                if !said {
                    eprintln!("{}", tr!("profile-busy"));
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return Ok(other?),
        }
    }
}

pub(crate) async fn run(
    profile: &Profile,
    config: cairn_node::NodeConfig,
    created: Option<cairn_node::store::Opened>,
) -> Result<(), CliError> {
    let opened = match created {
        Some(opened) => opened,
        None => open_waiting(profile, passphrase(false)?.as_bytes()).await?,
    };
    let id = opened.identity.key();
    let options = RunOptions {
        config,
        control_socket: true,
    };
    let tor = options.config.tor.on();
    let (handle, task) = cairn_node::runtime::start(profile, opened, options).await?;
    eprintln!("{}", tr!("node-running", id = id.to_string()));
    // Under systemd (Type=notify): ready once the store is open, the
    // transports are up and the control socket answers.
    if let Err(e) = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("running"),
    ]) {
        tracing::warn!(error = %e, "could not tell the service manager the node is ready");
    }
    if tor {
        tokio::spawn(show_tor_progress(handle.clone()));
    }
    let stopper = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = stopper.call(Request::Shutdown).await;
    });
    drop(handle);
    let _ = task.await;
    // Give the socket task a moment to remove its file.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = std::fs::remove_file(profile.socket_path());
    Ok(())
}

/// Shows Tor's bootstrap and the onion service's publication: a progress bar
/// on a terminal, one line per stage otherwise.
pub(crate) async fn show_tor_progress(handle: cairn_node::NodeHandle) {
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(100);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("Tor {bar:30} {pos:>3}% {wide_msg}")
        {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let mut last_stage = String::new();
    loop {
        let Ok(Reply::Status(status)) = handle.call(Request::Status).await else {
            return;
        };
        let tor = &status.tor;
        if let Some(bar) = &bar {
            bar.set_position(u64::from(tor.progress));
            bar.set_message(format!("{}: {}", tor.stage, tor.detail));
        }
        if tor.stage != last_stage {
            let line = match tor.stage.as_str() {
                "ready" => format!(
                    "Tor: onion service published at {}",
                    tor.onion.as_deref().unwrap_or("?")
                ),
                "failed" => format!("Tor failed: {}", tor.detail),
                stage => format!("Tor: {stage} ({}%)", tor.progress),
            };
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
            last_stage = tor.stage.clone();
        }
        if matches!(tor.stage.as_str(), "ready" | "failed") {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(crate) async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Prints what works and what does not, with what to do about it.
pub(crate) async fn doctor(profile: &Profile, ble_adapter: Option<String>) -> Result<(), CliError> {
    let mut ok = true;
    let mut line = |what: &str, result: Result<String, String>| match result {
        Ok(found) => println!("ok    {what}: {found}"),
        Err(why) => {
            ok = false;
            println!("FAIL  {what}: {why}");
        }
    };
    line(
        "profile",
        if profile.exists() {
            Ok(profile.dir().display().to_string())
        } else {
            Err("none yet; `cairn run` creates one".into())
        },
    );
    let config = profile.load_config()?;
    line(
        "config",
        Ok(format!(
            "LAN {}, Bluetooth {}, Tor {}",
            if config.lan.enabled { "on" } else { "off" },
            if config.ble.enabled { "on" } else { "off" },
            if config.tor.on() { "on" } else { "off" },
        )),
    );
    #[cfg(target_os = "linux")]
    {
        let adapter = ble_adapter
            .or_else(|| (!config.ble.adapter.is_empty()).then(|| config.ble.adapter.clone()));
        for (what, result) in cairn_transports::ble::bluez::doctor(adapter.as_deref()).await {
            line(&format!("Bluetooth: {what}"), result);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ble_adapter;
        line(
            "Bluetooth",
            Err("supported on Linux only in this version".into()),
        );
    }
    if !ok {
        println!("{}", tr!("runs-on-what-works"));
    }
    Ok(())
}

/// Queues a reply, reaction, edit or deletion; prints the operation's id.
async fn message_op(
    profile: &Profile,
    contact: String,
    id: String,
    op: &str,
    text: String,
) -> Result<(), CliError> {
    let op = op.to_owned();
    sent_id(
        profile,
        Request::MessageOp {
            contact,
            id,
            op,
            text,
        },
    )
    .await
}

/// Writes a reply, reaction, edit or deletion into a group; prints the id
/// of what was written.
async fn group_op(
    profile: &Profile,
    group: String,
    id: String,
    op: &str,
    text: String,
) -> Result<(), CliError> {
    let op = op.to_owned();
    sent_id(
        profile,
        Request::GroupOp {
            group,
            id,
            op,
            text,
        },
    )
    .await
}

/// Makes a request answered with what was sent, and prints its id.
async fn sent_id(profile: &Profile, r: Request) -> Result<(), CliError> {
    let Reply::Sent { id } = request(profile, r).await? else {
        return Err(unexpected());
    };
    println!("{id}");
    Ok(())
}

/// Queues a file, then shows the transfer while the contact is in reach.
/// Encodes a WAV recording as a voice note and sends it as a file (from a
/// private directory in the profile, under the voice note's name).
async fn send_voice(
    profile: &Profile,
    contact: String,
    path: std::path::PathBuf,
    no_wait: bool,
) -> Result<(), CliError> {
    let staged = stage_voice(profile, &path)?;
    // The node reads the file before it answers; nothing is left behind.
    let sent = send_file(profile, contact, staged.path.clone(), no_wait).await;
    drop(staged);
    sent
}

/// Posts a file to a group; prints its id.
async fn group_send_file(
    profile: &Profile,
    group: String,
    path: &std::path::Path,
) -> Result<(), CliError> {
    let Reply::Sent { id } = request(
        profile,
        Request::GroupSendFile {
            group,
            path: absolute(path)?,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    println!("{id}");
    Ok(())
}

/// A WAV recording encoded as a voice note, staged in the profile for the
/// node to read (removed when dropped).
fn stage_voice(
    profile: &Profile,
    path: &std::path::Path,
) -> Result<cairn_node::voice::Staged, CliError> {
    let wav = std::fs::read(path).map_err(|e| {
        CliError::Usage(tr!(
            "cannot-read",
            path = path.display().to_string(),
            reason = e.to_string()
        ))
    })?;
    let note = cairn_node::voice::from_wav(&wav)
        .and_then(|samples| cairn_node::voice::encode(&samples))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    cairn_node::voice::Staged::new(profile.dir(), &note).map_err(|e| CliError::Usage(e.to_string()))
}

/// Plays a voice note, or writes it as WAV to `out`.
async fn voice(
    profile: &Profile,
    file_data: Request,
    out: Option<std::path::PathBuf>,
) -> Result<(), CliError> {
    let Reply::FileData { mime, base64, .. } = request(profile, file_data).await? else {
        return Err(unexpected());
    };
    if !cairn_node::voice::is_voice(&mime) {
        return Err(CliError::Usage(tr!("not-a-voice-note")));
    }
    let bytes = data_encoding::BASE64
        .decode(base64.as_bytes())
        .map_err(|_| unexpected())?;
    let samples = cairn_node::voice::decode(&bytes).map_err(|e| CliError::Usage(e.to_string()))?;
    let length =
        Duration::from_millis(samples.len() as u64 * 1000 / u64::from(cairn_node::voice::RATE));
    match out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| {
                    CliError::Usage(tr!(
                        "cannot-write",
                        path = path.display().to_string(),
                        reason = e.to_string()
                    ))
                })?;
            std::io::Write::write_all(&mut file, &cairn_node::voice::to_wav(&samples))
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!(
                "{}",
                tr!(
                    "voice-saved",
                    length = clock(length),
                    path = path.display().to_string()
                )
            );
        }
        None => {
            use cairn_node::audio::Player;
            let playback = cairn_node::audio::Playback::start(&samples)
                .map_err(|e| CliError::Usage(tr!("cannot-play", reason = e.to_string())))?;
            let bar = indicatif::ProgressBar::new(playback.length().as_millis() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("▶ {bar:30} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            while !playback.finished() {
                bar.set_position(playback.position().as_millis() as u64);
                bar.set_message(format!(
                    "{} / {}",
                    clock(playback.position()),
                    clock(length)
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            bar.finish();
        }
    }
    Ok(())
}

/// 1:05, 12:00.
fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

pub(crate) async fn send_file(
    profile: &Profile,
    contact: String,
    path: std::path::PathBuf,
    no_wait: bool,
) -> Result<(), CliError> {
    let Reply::Sent { id } = request(
        profile,
        Request::SendFile {
            contact: contact.clone(),
            path: absolute(&path)?,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    println!("{id}");
    if no_wait {
        return Ok(());
    }
    let status = || Request::FileStatus {
        contact: contact.clone(),
        id: id.clone(),
    };
    let Reply::File(first) = request(profile, status()).await? else {
        return Err(unexpected());
    };
    let bar = indicatif::ProgressBar::new(first.size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(first.name.clone());
    let mut last = (0, std::time::Instant::now());
    loop {
        let Reply::File(f) = request(profile, status()).await? else {
            return Err(unexpected());
        };
        bar.set_position(f.have);
        match f.state.as_str() {
            "complete" => {
                bar.finish_and_clear();
                eprintln!(
                    "{}",
                    tr!(
                        "file-sent",
                        name = f.name.clone(),
                        contact = contact.clone(),
                        size = size(f.size)
                    )
                );
                return Ok(());
            }
            "failed" => {
                bar.abandon();
                return Err(CliError::Usage(format!(
                    "{contact} could not check {} against its hash; send it again",
                    f.name
                )));
            }
            _ => {}
        }
        if f.have != last.0 {
            last = (f.have, std::time::Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(5) {
            bar.abandon();
            eprintln!("{}", tr!("file-queued", contact = contact.clone()));
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn bridge_command(
    profile: &Profile,
    command: BridgeCommand,
) -> Result<(), CliError> {
    match command {
        BridgeCommand::Join { gateway, alias } => {
            request(
                profile,
                Request::BridgeJoin {
                    gateway: gateway.clone(),
                    alias,
                },
            )
            .await?;
            println!("{}", tr!("bridge-asked", gateway = gateway.clone()));
            println!("{}", tr!("bridge-remember"));
            Ok(())
        }
        BridgeCommand::Leave { gateway } => {
            request(profile, Request::BridgeLeave { gateway }).await?;
            println!("{}", tr!("bridge-left"));
            Ok(())
        }
        BridgeCommand::Add { jid, name, via } => {
            let Reply::Contact(c) = request(profile, Request::BridgeAdd { jid, via, name }).await?
            else {
                return Err(unexpected());
            };
            println!(
                "{}",
                tr!(
                    "bridge-added",
                    name = esc(&c.name).into_owned(),
                    id = c.id.clone()
                )
            );
            println!("{}", tr!("bridge-write", id = c.id.clone()));
            Ok(())
        }
    }
}

/// `cairn init --link CODE`: a new profile that joins the code's account.
async fn join(
    profile: &Profile,
    name: Option<String>,
    code: String,
    device_name: String,
    mailbox: bool,
) -> Result<(), CliError> {
    let code = zeroize::Zeroizing::new(code);
    let parsed = cairn_protocol::devices::LinkCode::from_uri(&code)
        .map_err(|e| CliError::Usage(format!("that is not a link code: {e}")))?;
    cairn_protocol::devices::check_name(&device_name)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let name = name.unwrap_or_else(|| parsed.card.name().to_owned());
    let opened = create_profile(profile, &name)?;
    let client = cairn_node::Client::offline(profile, opened, &profile.load_config()?)?;
    client
        .call(Request::DeviceJoin {
            code: cairn_node::api::Secret(code),
            name: device_name,
            mailbox,
        })
        .await?;
    println!("{}", tr!("device-joining"));
    Ok(())
}

pub(crate) async fn device_command(
    profile: &Profile,
    command: DeviceCommand,
) -> Result<(), CliError> {
    match command {
        DeviceCommand::List { json } => {
            let Reply::Devices(info) = request(profile, Request::Devices).await? else {
                return Err(unexpected());
            };
            if json {
                print_json(&info);
                return Ok(());
            }
            if info.joining {
                println!("{}", tr!("device-not-linked-yet"));
            }
            for d in &info.devices {
                let mut flags = Vec::new();
                if d.this {
                    flags.push(tr!("device-this"));
                }
                if d.mailbox {
                    flags.push(tr!("device-mailbox"));
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", flags.join(", "))
                };
                println!("{}  {}{flags}", esc(&d.name), d.id);
            }
            Ok(())
        }
        DeviceCommand::Link => {
            let Reply::LinkCode { uri, valid_secs } = request(profile, Request::DeviceLink).await?
            else {
                return Err(unexpected());
            };
            println!("{uri}");
            eprintln!(
                "{}",
                tr!("device-link-code", minutes = (valid_secs / 60).to_string())
            );
            if std::io::stdout().is_terminal() {
                print_qr(&uri)?;
            }
            Ok(())
        }
        DeviceCommand::Revoke { device } => {
            request(
                profile,
                Request::DeviceRevoke {
                    device: device.clone(),
                },
            )
            .await?;
            println!(
                "{}",
                tr!("device-revoked", name = esc(&device).into_owned())
            );
            Ok(())
        }
    }
}
