//! One way to a node, for the CLI and the app alike.
//!
//! A [`Client`] reaches the node in this process ([`Client::in_process`]),
//! a node that runs elsewhere on the same profile through its control socket
//! ([`Client::attach`]), or — when no node runs — the profile itself, opened
//! for a moment ([`Client::offline`]: the CLI's `send`, `add`, `contacts`…
//! without a node). Whichever it is, there is one [`Client::call`] taking
//! the API's [`Request`] and one stream of the API's [`Notice`]s
//! ([`Client::notices`]); nobody outside the node sees a protocol `Event`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cairn_protocol::Engine;
use cairn_protocol::invite::Hint;
use cairn_store::{Opened, RedbStore};
use tokio::sync::{broadcast, mpsc};

use crate::api::{ApiError, ErrorKind, Notice, Reply, Request, Response};
use crate::control::{self, ControlError, WATCH_QUEUE};
use crate::profile::{NodeConfig, Profile};
use crate::runtime::{self, NodeHandle};
use crate::service;

/// Why a call did not get an answer from the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node answered with an error.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The control socket could not be reached or spoke nonsense;
    /// [`ControlError::NotRunning`] when no node runs on the profile.
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// A way to a node. Cheap to clone: clones reach the same node.
#[derive(Clone)]
pub struct Client {
    to: To,
}

#[derive(Clone)]
enum To {
    InProcess(NodeHandle),
    Attached(PathBuf),
    /// The profile opened by this process; calls run on the caller's task,
    /// one at a time, each committed before it answers.
    Offline(Arc<Mutex<Engine<RedbStore>>>),
}

impl Client {
    /// The node running in this process.
    pub fn in_process(node: NodeHandle) -> Self {
        Self {
            to: To::InProcess(node),
        }
    }

    /// The node running on `profile` in another process (`cairn run`), by
    /// its control socket. Nothing is checked until the first call.
    pub fn attach(profile: &Profile) -> Self {
        Self {
            to: To::Attached(profile.socket_path()),
        }
    }

    /// The profile itself, with no node running: what `cairn send` and the
    /// like do when nothing answers on the control socket. Texts queued
    /// this way go out when a node starts. `config` is the profile's.
    pub fn offline(
        profile: &Profile,
        opened: Opened,
        config: &NodeConfig,
    ) -> Result<Self, ClientError> {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let mut engine_config = runtime::engine_config(opened.name, config);
        // Invites made while no node runs still name our onion service.
        if config.tor.on()
            && let Some(onion) = profile.onion_address()
        {
            engine_config.hints.push(Hint::Onion(onion));
        }
        let engine = Engine::new(
            engine_config,
            opened.identity,
            opened.store,
            seed,
            service::now(),
        )
        .map_err(ApiError::from)?;
        Ok(Self {
            to: To::Offline(Arc::new(Mutex::new(engine))),
        })
    }

    /// The in-process node's handle (tests join such nodes by memory links).
    pub fn node(&self) -> Option<&NodeHandle> {
        match &self.to {
            To::InProcess(node) => Some(node),
            _ => None,
        }
    }

    /// Whether this reaches a node in another process.
    pub fn is_attached(&self) -> bool {
        matches!(self.to, To::Attached(_))
    }

    /// Asks the node; the answer comes once what the request changed is
    /// durable.
    pub async fn call(&self, request: Request) -> Result<Reply, ClientError> {
        match &self.to {
            To::InProcess(node) => Ok(node.call(request).await?),
            To::Attached(path) => match control::call(path, &request).await? {
                Response::Ok(reply) => Ok(reply),
                Response::Error(e) => Err(e.into()),
            },
            To::Offline(engine) => {
                if needs_a_node(&request) {
                    return Err(ApiError::new(
                        ErrorKind::Invalid,
                        "no node is running; start one with `cairn run`",
                    )
                    .into());
                }
                let mut engine = engine.lock().map_err(|_| {
                    ApiError::new(ErrorKind::Internal, "the profile's engine failed")
                })?;
                let reply = service::handle(&mut engine, &request).unwrap_or_else(|| {
                    Err(ApiError::new(
                        ErrorKind::Internal,
                        "not something a profile answers without a node",
                    ))
                })?;
                engine.flush(service::now()).map_err(ApiError::from)?;
                Ok(reply)
            }
        }
    }

    /// What happens at the node, as it happens, until it stops (the
    /// receiver then ends). Notices wait in a bounded queue; when the
    /// reader falls behind, a [`Notice::Missed`] says how many it lost.
    /// Must be called within a tokio runtime. A profile opened offline has
    /// nothing to tell.
    pub fn notices(&self) -> Result<mpsc::Receiver<Notice>, ClientError> {
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        match &self.to {
            To::InProcess(node) => {
                let mut events = node.subscribe();
                tokio::spawn(async move {
                    loop {
                        let notice = match events.recv().await {
                            Ok(event) => Notice::of(&event),
                            Err(broadcast::error::RecvError::Lagged(count)) => {
                                Notice::Missed { count }
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        };
                        if tx.send(notice).await.is_err() {
                            return;
                        }
                    }
                });
            }
            To::Attached(path) => {
                let path = path.clone();
                tokio::spawn(async move {
                    if let Err(e) = control::watch(&path, tx).await {
                        tracing::debug!(error = %e, "watching the running node ended");
                    }
                });
            }
            To::Offline(_) => {
                return Err(ApiError::new(
                    ErrorKind::Invalid,
                    "no node is running: there is nothing to watch",
                )
                .into());
            }
        }
        Ok(rx)
    }
}

/// Requests only a running node can answer.
pub fn needs_a_node(request: &Request) -> bool {
    matches!(
        request,
        Request::Status
            | Request::Dial { .. }
            | Request::Watch
            | Request::Shutdown
            | Request::DeviceLink
    )
}
