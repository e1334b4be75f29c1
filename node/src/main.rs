//! `cairn`: run a Cairn node and talk to it.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

mod cli;

use cli::args::Cli;
use cli::commands::dispatch;

fn main() -> ExitCode {
    // Before any thread: secrets leave the environment at once.
    cairn_node::secrets::take_from_env();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,i18n_embed=off,libp2p_mdns=warn,libp2p_swarm=warn,tor_netdir=error,tor_guardmgr=warn,\
             tor_dirmgr=warn,tor_circmgr=warn,tor_hsservice=warn,tor_memquota=warn",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
