//! How a command reaches the profile: its directory, its passphrase, and
//! the one [`Client`] — the running node, or the profile itself when none
//! runs.

use std::io::IsTerminal;
use std::time::Duration;

use super::CliError;
use super::args::Cli;
use cairn_node::control::ControlError;
use cairn_node::profile::ProfileError;
use cairn_node::store::StoreOpenError;
use cairn_node::{Client, ClientError, Profile, Reply, Request};
use zeroize::Zeroizing;

pub(crate) fn profile_of(cli: &Cli) -> Result<Profile, CliError> {
    Ok(match &cli.profile {
        Some(dir) => Profile::at(dir),
        None => Profile::default_location()?,
    }
    .with_config(cli.config.clone()))
}

/// A passphrase kept in a file: `CAIRN_PASSPHRASE_FILE`, or the credential
/// systemd hands a service (`LoadCredential=passphrase:…` puts it in
/// `$CREDENTIALS_DIRECTORY/passphrase`). One trailing newline is not part
/// of it.
fn passphrase_file() -> Result<Option<Zeroizing<String>>, CliError> {
    let path = match std::env::var_os("CAIRN_PASSPHRASE_FILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) if std::path::Path::new(&dir).join("passphrase").exists() => {
                std::path::Path::new(&dir).join("passphrase")
            }
            _ => return Ok(None),
        },
    };
    let mut text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read the passphrase file {}: {e}",
            path.display()
        ))
    })?);
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(Some(text))
}

/// The passphrase from CAIRN_PASSPHRASE, a passphrase file, or asked for on
/// the terminal.
pub(crate) fn passphrase(new: bool) -> Result<Zeroizing<String>, CliError> {
    if let Some(p) = cairn_node::secrets::get("CAIRN_PASSPHRASE") {
        return Ok(p);
    }
    if let Some(p) = passphrase_file()? {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "a passphrase is needed: set CAIRN_PASSPHRASE (or CAIRN_PASSPHRASE_FILE) or run in a terminal"
                .into(),
        ));
    }
    if new {
        ask_passphrase(
            "New passphrase: ",
            Some(("Repeat passphrase: ", "nothing was created")),
        )
    } else {
        ask_passphrase("Passphrase: ", None)
    }
}

/// Asks on the terminal; with `repeat` (its prompt, and what did not happen
/// when the two differ), asks again and compares.
pub(crate) fn ask_passphrase(
    prompt: &str,
    repeat: Option<(&str, &str)>,
) -> Result<Zeroizing<String>, CliError> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| CliError::Usage(format!("cannot read the passphrase: {e}")))
    };
    let first = ask(prompt)?;
    if let Some((again, undone)) = repeat
        && *ask(again)? != *first
    {
        return Err(CliError::Usage(format!("the passphrases differ; {undone}")));
    }
    Ok(first)
}

pub(crate) fn unexpected() -> CliError {
    CliError::Usage("the node gave an unexpected answer".into())
}

/// Sends a request to the running node, or, when none runs, handles it on the
/// profile directly.
pub(crate) async fn request(profile: &Profile, req: Request) -> Result<Reply, CliError> {
    // Another short-lived `cairn` command may hold the profile for a moment,
    // or a node may be starting: wait for either rather than fail.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let result = match Client::attach(profile).call(req.clone()).await {
            Err(ClientError::Control(ControlError::NotRunning)) => {
                offline(profile, req.clone()).await
            }
            other => other.map_err(CliError::from),
        };
        match result {
            Err(CliError::Profile(ProfileError::Store(StoreOpenError::InUse)))
                if std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// No node runs: the request goes to the profile itself (asking for the
/// passphrase), through the same [`Client`] the app uses.
pub(crate) async fn offline(profile: &Profile, req: Request) -> Result<Reply, CliError> {
    if cairn_node::client::needs_a_node(&req) {
        return Err(CliError::Usage(format!(
            "no node is running on {}; start one with `cairn run`",
            profile.dir().display()
        )));
    }
    if !profile.exists() {
        return Err(CliError::Usage(format!(
            "no profile in {}; create one with `cairn init --name NAME`",
            profile.dir().display()
        )));
    }
    let pass = passphrase(false)?;
    let opened = profile.open(pass.as_bytes())?;
    let client = Client::offline(profile, opened, &profile.load_config()?)?;
    Ok(client.call(req).await?)
}

pub(crate) fn absolute(path: &std::path::Path) -> Result<String, CliError> {
    std::path::absolute(path)
        .map(|p| p.display().to_string())
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}
