//! `cairn-gui`: the desktop app.

use std::path::PathBuf;

use cairn_gui::CairnApp;
use cairn_node::Profile;
use clap::Parser;

/// Cairn's desktop app. Opens (or creates) a profile and runs its node.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Profile directory (default: $XDG_DATA_HOME/cairn, or CAIRN_PROFILE).
    /// With CAIRN_PASSPHRASE set, the profile is unlocked (or created, named
    /// CAIRN_NAME) without asking.
    #[arg(long, env = "CAIRN_PROFILE")]
    profile: Option<PathBuf>,
    /// Run Tor in the node: host an onion service and reach contacts at theirs.
    #[arg(long)]
    tor: bool,
    /// Nothing leaves this device except through Tor (no LAN, no mDNS).
    #[arg(long)]
    tor_only: bool,
    /// The app's language, as a tag: en-US, fa, ar, ru, my, zh-CN (default:
    /// the one picked in the app, else the system's).
    #[arg(long, env = "CAIRN_LANG")]
    lang: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any thread: secrets leave the environment at once.
    cairn_node::secrets::take_from_env();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,i18n_embed=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let profile = match args.profile {
        Some(dir) => Profile::at(dir),
        None => Profile::default_location()?,
    };
    let mut config = if profile.exists() {
        profile.load_config()?
    } else {
        cairn_node::NodeConfig::default()
    };
    config.tor.enabled |= args.tor;
    config.tor.only |= args.tor_only;
    let mut app = CairnApp::new(profile, config)?;
    if let Some(tag) = &args.lang {
        app.set_language(Some(tag));
    }
    // A node already running on this profile (`cairn run`): use it.
    let attached = app.attach_if_running();
    // For scripts (and the screenshot): unlock without typing.
    if !attached && let Some(pass) = cairn_node::secrets::get("CAIRN_PASSPHRASE") {
        let name = std::env::var("CAIRN_NAME").unwrap_or_else(|_| "me".into());
        app.unlock_with(&pass, &name);
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Cairn")
            .with_inner_size([960.0, 640.0]),
        // The app finds system fonts itself (`cairn_gui::fonts`).
        system_font_fallback: false,
        ..Default::default()
    };
    eframe::run_native("Cairn", options, Box::new(|_cc| Ok(Box::new(app))))?;
    Ok(())
}
