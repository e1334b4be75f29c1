//! Taking a profile elsewhere: `cairn backup`, `cairn restore`, `cairn
//! export`, and the man pages the package installs.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::CliError;
use super::args::Cli;
use super::print::{esc, size, when};
use super::reach::{absolute, ask_passphrase, passphrase, request, unexpected};
use cairn_node::api::Secret;
use cairn_node::{Profile, Reply, Request};
use zeroize::Zeroizing;

/// The backup's passphrase: CAIRN_BACKUP_PASSPHRASE, or asked for (twice
/// for a new backup). Never empty: the file holds the identity's key.
fn backup_passphrase(new: bool) -> Result<Zeroizing<String>, CliError> {
    let pass = match cairn_node::secrets::get("CAIRN_BACKUP_PASSPHRASE") {
        Some(p) => p,
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::Usage(
                    "the backup's passphrase is needed: set CAIRN_BACKUP_PASSPHRASE or run in a terminal"
                        .into(),
                ));
            }
            if new {
                ask_passphrase(
                    "Passphrase for the backup: ",
                    Some(("Repeat it: ", "nothing was written")),
                )?
            } else {
                ask_passphrase("The backup's passphrase: ", None)?
            }
        }
    };
    if pass.is_empty() {
        return Err(CliError::Usage(
            "a backup needs a passphrase (it holds your identity's secret key)".into(),
        ));
    }
    Ok(pass)
}

pub(crate) async fn backup(profile: &Profile, file: &Path, files: bool) -> Result<(), CliError> {
    let pass = backup_passphrase(true)?;
    let path = absolute(file)?;
    eprintln!("writing the backup to {} …", file.display());
    let reply = request(
        profile,
        Request::Backup {
            path,
            passphrase: Secret(pass),
            files,
        },
    )
    .await?;
    let Reply::BackedUp(b) = reply else {
        return Err(unexpected());
    };
    println!(
        "backed up {} contacts, {} messages, {} groups and {} files ({}) to {} ({})",
        b.contacts,
        b.messages,
        b.groups,
        b.files,
        size(b.file_bytes),
        file.display(),
        size(b.bytes)
    );
    eprintln!(
        "keep it somewhere safe, with its passphrase: whoever has both can be you. \
         Restore it with `cairn restore FILE`."
    );
    Ok(())
}

pub(crate) fn restore(profile: &Profile, file: &Path) -> Result<(), CliError> {
    if profile.exists() {
        return Err(
            cairn_node::profile::ProfileError::Exists(profile.dir().display().to_string()).into(),
        );
    }
    let opened = std::fs::File::open(file)
        .map_err(|e| CliError::Usage(format!("cannot open {}: {e}", file.display())))?;
    let total = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let backup_pass = backup_passphrase(false)?;
    eprintln!("and a passphrase for the restored profile on this device:");
    let pass = passphrase(true)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "restoring {bar:30} {bytes}/{total_bytes} {eta}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let mut input = std::io::BufReader::new(opened);
    let summary = profile.restore(
        &mut input,
        backup_pass.as_bytes(),
        pass.as_bytes(),
        &mut |read| {
            if let Some(bar) = &bar {
                bar.set_position(read.min(total));
            }
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!(
        "restored {} contacts, {} messages, {} groups and {} files ({}) into {}",
        summary.contacts,
        summary.messages,
        summary.groups,
        summary.files,
        size(summary.file_bytes),
        profile.dir().display()
    );
    eprintln!(
        "start it with `cairn run`. Contacts open new sessions with this device when you \
         next meet; what they sent meanwhile comes again then. Run the old copy no more: \
         two devices with one identity confuse your contacts."
    );
    Ok(())
}

/// One conversation, whole, as JSON (`format` names this layout) or text.
#[derive(serde::Serialize)]
struct Export<M> {
    format: &'static str,
    kind: &'static str,
    name: String,
    exported_at: u64,
    messages: Vec<M>,
}

pub(crate) async fn export(
    profile: &Profile,
    name: String,
    group: bool,
    json: bool,
    out: Option<std::path::PathBuf>,
) -> Result<(), CliError> {
    let (body, count) = if group {
        let Reply::GroupMessages { group, messages } = request(
            profile,
            Request::GroupMessages {
                group: name,
                limit: None,
            },
        )
        .await?
        else {
            return Err(unexpected());
        };
        render("group", group, messages, json, |m| {
            let who = match &m.via {
                Some(via) => format!("{via} (via {})", m.author_name),
                None => m.author_name.clone(),
            };
            format!("{} {}: {}", when(m.sent_at), esc(&who), esc(&m.text))
        })?
    } else {
        let Reply::Messages { contact, messages } = request(
            profile,
            Request::Messages {
                contact: name,
                limit: None,
            },
        )
        .await?
        else {
            return Err(unexpected());
        };
        render("contact", contact, messages, json, |m| {
            let arrow = if m.direction == "out" { "→" } else { "←" };
            let file = if m.file.is_some() { "[file] " } else { "" };
            format!(
                "{} {arrow} {file}{}  [{}]",
                when(m.sent_at),
                esc(&m.text),
                m.state
            )
        })?
    };
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(body.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| CliError::Usage(format!("cannot write the export: {e}")))?;
        }
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", path.display())))?;
            f.write_all(body.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("exported {count} messages to {}", path.display());
        }
    }
    Ok(())
}

/// A conversation as JSON (an [`Export`]) or as text, a line a message;
/// and how many messages it holds.
fn render<M: serde::Serialize>(
    kind: &'static str,
    name: String,
    messages: Vec<M>,
    json: bool,
    line: impl Fn(&M) -> String,
) -> Result<(String, usize), CliError> {
    let count = messages.len();
    if !json {
        let mut text = format!("# {} ({count} messages)\n", esc(&name));
        for m in &messages {
            text.push_str(&line(m));
            text.push('\n');
        }
        return Ok((text, count));
    }
    let export = Export {
        format: "cairn-export-1",
        kind,
        name,
        exported_at: cairn_node::service::now().as_millis(),
        messages,
    };
    let mut text = serde_json::to_string_pretty(&export)
        .map_err(|e| CliError::Usage(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok((text, count))
}

/// `cairn.1`, and `cairn-COMMAND.1` for each command (and
/// `cairn-group-add.1` for nested ones), as the package installs them.
pub(crate) fn manpages(dir: &Path) -> Result<(), CliError> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let command = Cli::command();
    /// `page` names the file and the title (`cairn-group-add`); `bin` is
    /// what is typed (`cairn group add`), shown in the synopsis.
    fn write(dir: &Path, page: &str, bin: &str, command: clap::Command) -> Result<usize, CliError> {
        let command = command
            .display_name(page.to_owned())
            .bin_name(bin.to_owned());
        let mut text = Vec::new();
        clap_mangen::Man::new(command.clone())
            .render(&mut text)
            .map_err(|e| CliError::Usage(format!("cannot render {page}.1: {e}")))?;
        let path = dir.join(format!("{page}.1"));
        std::fs::write(&path, text)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
        let mut written = 1;
        for sub in command.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let name = sub.get_name();
            written += write(
                dir,
                &format!("{page}-{name}"),
                &format!("{bin} {name}"),
                sub.clone(),
            )?;
        }
        Ok(written)
    }
    let written = write(dir, "cairn", "cairn", command.disable_help_subcommand(true))?;
    eprintln!("wrote {written} man pages to {}", dir.display());
    Ok(())
}
