//! The `cairn` command line, in three parts: [`args`] (what may be typed),
//! [`commands`] (what each does), [`print`] (what is shown).

pub(crate) mod archive;
pub(crate) mod args;
pub(crate) mod commands;
pub(crate) mod i18n;
pub(crate) mod print;
pub(crate) mod reach;

use cairn_node::control::ControlError;
use cairn_node::profile::ProfileError;

/// Why a command failed: printed as `error: …`, exit status 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Node(#[from] cairn_node::runtime::NodeError),
    #[error("{0}")]
    Api(#[from] cairn_node::ApiError),
    #[error(transparent)]
    Client(#[from] cairn_node::ClientError),
    #[error("{0}")]
    Usage(String),
}
