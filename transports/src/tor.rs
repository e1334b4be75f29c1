//! Tor: every node an onion service, in-process with arti.
//!
//! The node hosts its own onion service (keys in `state_dir`, so the address
//! is stable across restarts) and reaches contacts at the onion addresses
//! their invites carry. Either way the stream runs the hop handshake
//! ([`crate::hop`]) before it becomes a link: the onion service side of Tor
//! is anonymous, so Tor alone never tells us who connected.
//!
//! A contact the node wants a link with ([`TorTransport::want`]) is dialled
//! until a link is up, with exponential backoff between failures; while any
//! link to that identity is up (either direction) it is not dialled again.
//!
//! Tor's network is configurable with arti's own TOML (`tor_network`,
//! `bridges`, …), which is how tests point the node at a private network and
//! how people behind censorship add bridges.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arti_client::config::{BoolOrAuto, CfgPath, TorClientConfigBuilder};
use arti_client::{DataStream, StreamPrefs, TorClient};
use futures::StreamExt;
use safelog::DisplayRedacted;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tor_cell::relaycell::msg::{Connected, End, EndReason};
use tor_hsservice::config::OnionServiceConfigBuilder;
use tor_hsservice::{HsNickname, StreamRequest};
use tor_proto::stream::IncomingStreamRequest;
use tor_rtcompat::PreferredRuntime;
use tracing::{debug, info, warn};

use crate::hop::{self, HopKeys, Role};
use crate::link::{self, LinkEvent, LinkIds, Medium};
use crate::stream::run_link;

/// Largest frame on a Tor link.
pub const TOR_MTU: usize = 128 * 1024;
/// The onion service's virtual port for Cairn links.
pub const VIRTUAL_PORT: u16 = 7437;
/// The onion service's nickname in arti's keystore and state.
const NICKNAME: &str = "cairn";
/// A hop handshake slower than this (Tor adds seconds) is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a frame may take from its first record to its last: circuits are
/// slow (three relays, congestion), so far longer than on the LAN.
const FRAME_DEADLINE: Duration = Duration::from_secs(120);
/// Handshakes with strangers in progress at once; more are refused.
const MAX_HANDSHAKES: usize = 32;
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorError {
    #[error("the Tor settings are invalid: {0}")]
    Config(String),
    #[error("could not start Tor: {0}")]
    Start(String),
    #[error("could not start the onion service: {0}")]
    Service(String),
}

pub struct TorConfig {
    /// Who the node is at the hop, and whom it looks for.
    pub keys: Arc<HopKeys>,
    /// arti's state (guards, the onion service's keys): keep it, the address
    /// lives there.
    pub state_dir: PathBuf,
    /// arti's directory cache: may be thrown away.
    pub cache_dir: PathBuf,
    /// Extra arti settings as TOML: `[tor_network]` for a private network,
    /// `[bridges]` for censored ones.
    pub arti_toml: Option<String>,
}

/// Where Tor is in getting us online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorStage {
    /// Fetching the directory and building the first circuits.
    Bootstrapping,
    /// Connected; the onion service is not yet published.
    Publishing,
    /// Connected and reachable at our onion address.
    Ready,
    /// Failed for good; the message says why.
    Failed,
}

impl TorStage {
    pub fn as_str(self) -> &'static str {
        match self {
            TorStage::Bootstrapping => "bootstrapping",
            TorStage::Publishing => "publishing",
            TorStage::Ready => "ready",
            TorStage::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TorStatus {
    pub stage: TorStage,
    /// Bootstrap progress, 0–100.
    pub progress: u8,
    /// What Tor says it is doing, or why it is stuck or failed.
    pub detail: String,
    /// This node's onion address (`….onion`).
    pub onion: Option<String>,
    /// Links over Tor now up.
    pub links: usize,
}

enum Command {
    Want { peer: [u8; 32], onion: String },
    LinkUp { peer: [u8; 32] },
    LinkEnded { peer: [u8; 32], dialled: bool },
    DialFailed { peer: [u8; 32] },
}

pub struct TorTransport {
    status: Arc<Mutex<TorStatus>>,
    commands: mpsc::UnboundedSender<Command>,
    tasks: Vec<JoinHandle<()>>,
}

/// What every task of the transport shares.
struct Shared {
    client: Arc<TorClient<PreferredRuntime>>,
    keys: Arc<HopKeys>,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<TorStatus>>,
}

impl TorTransport {
    /// Starts arti and the onion service. Returns at once: bootstrapping goes
    /// on in the background ([`TorTransport::status`]). Must be called inside
    /// a tokio runtime.
    pub fn start(
        config: TorConfig,
        ids: LinkIds,
        events: mpsc::Sender<LinkEvent>,
    ) -> Result<Self, TorError> {
        // arti's TLS (rustls) needs a process-wide crypto provider; another
        // part of the process may have installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let arti_config = arti_config(&config)?;
        let client = TorClient::builder()
            .config(arti_config)
            .create_unbootstrapped()
            .map_err(|e| TorError::Start(e.to_string()))?;
        let nickname: HsNickname = NICKNAME
            .parse()
            .map_err(|e| TorError::Service(format!("{e}")))?;
        let service_config = OnionServiceConfigBuilder::default()
            .nickname(nickname)
            .build()
            .map_err(|e| TorError::Service(e.to_string()))?;
        let (service, rend_requests) = client
            .launch_onion_service(service_config)
            .map_err(|e| TorError::Service(e.to_string()))?
            .ok_or_else(|| TorError::Service("the onion service is disabled".into()))?;
        let onion = service
            .onion_address()
            .map(|id| id.display_unredacted().to_string());
        info!(
            onion = onion.as_deref().unwrap_or("?"),
            "onion service launched"
        );
        let status = Arc::new(Mutex::new(TorStatus {
            stage: TorStage::Bootstrapping,
            progress: 0,
            detail: "starting".into(),
            onion,
            links: 0,
        }));
        // Unbounded because its senders cannot wait (the node's loop, and
        // link tasks as they end); it cannot grow far: at most one `Want`
        // per contact, one `LinkUp`/`LinkEnded` per link (links are
        // bounded), one `DialFailed` per dial (at most one per wanted
        // contact at a time), and the dialer handles each in O(1) without
        // awaiting anything else.
        let (commands, command_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            client: client.clone(),
            keys: config.keys.clone(),
            ids,
            events,
            commands: commands.clone(),
            status: status.clone(),
        });

        let mut tasks = Vec::new();
        // Bootstrap, reporting progress.
        tasks.push(tokio::spawn({
            let status = status.clone();
            let client = client.clone();
            async move {
                let mut progress = client.bootstrap_events();
                let watch = {
                    let status = status.clone();
                    async move {
                        while let Some(event) = progress.next().await {
                            let mut s = lock(&status);
                            if s.stage == TorStage::Bootstrapping {
                                s.progress = (event.as_frac() * 100.0).round() as u8;
                                s.detail = match event.blocked() {
                                    Some(blocked) => format!("stuck: {blocked}"),
                                    None => event.to_string(),
                                };
                            }
                        }
                    }
                };
                tokio::pin!(watch);
                tokio::select! {
                    result = client.bootstrap() => match result {
                        Ok(()) => {
                            info!("Tor bootstrapped");
                            let mut s = lock(&status);
                            s.progress = 100;
                            if s.stage == TorStage::Bootstrapping {
                                s.stage = TorStage::Publishing;
                                s.detail = "publishing the onion service".into();
                            }
                        }
                        Err(e) => {
                            warn!(error = %e, "Tor bootstrap failed");
                            let mut s = lock(&status);
                            s.stage = TorStage::Failed;
                            s.detail = format!("bootstrap failed: {e}");
                        }
                    },
                    () = &mut watch => {}
                }
            }
        }));
        // The onion service's own state.
        tasks.push(tokio::spawn({
            let status = status.clone();
            let service = service.clone();
            async move {
                let mut states = service.status_events();
                while let Some(s) = states.next().await {
                    use tor_hsservice::status::State;
                    let mut st = lock(&status);
                    if st.stage == TorStage::Failed {
                        continue;
                    }
                    match s.state() {
                        // A young network leaves the service "degraded" yet
                        // reachable: a published descriptor is what counts.
                        State::Running | State::DegradedReachable | State::DegradedUnreachable => {
                            if st.stage != TorStage::Ready {
                                info!("onion service published");
                            }
                            st.stage = TorStage::Ready;
                            st.detail = "reachable".into();
                        }
                        State::Broken => {
                            st.stage = TorStage::Publishing;
                            st.detail = match s.current_problem() {
                                Some(p) => format!("onion service broken: {p:?}"),
                                None => "onion service broken".into(),
                            };
                        }
                        _ => {}
                    }
                }
            }
        }));
        // Strangers reaching our onion service.
        tasks.push(tokio::spawn({
            let shared = shared.clone();
            // Keep the service running as long as this task.
            let _service = service;
            async move {
                let _service = _service;
                let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
                let mut requests =
                    std::pin::pin!(tor_hsservice::handle_rend_requests(rend_requests));
                while let Some(request) = requests.next().await {
                    let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                        debug!("too many hop handshakes in progress: refusing a stream");
                        refuse(request).await;
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        accept(shared, request).await;
                    });
                }
            }
        }));
        tasks.push(tokio::spawn(dialer(shared, command_rx)));
        Ok(Self {
            status,
            commands,
            tasks,
        })
    }

    pub fn status(&self) -> TorStatus {
        lock(&self.status).clone()
    }

    /// This node's onion address, once arti has its key.
    pub fn onion_address(&self) -> Option<String> {
        lock(&self.status).onion.clone()
    }

    /// Keep a link with `peer`, reachable at `onion`: dial now and again
    /// after failures until it is up, and whenever it goes down.
    pub fn want(&self, peer: [u8; 32], onion: String) {
        let _ = self.commands.send(Command::Want { peer, onion });
    }

    pub fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for TorTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// arti's settings: the extra TOML, then our storage paths on top.
fn arti_config(config: &TorConfig) -> Result<arti_client::TorClientConfig, TorError> {
    let mut builder: TorClientConfigBuilder = match &config.arti_toml {
        Some(text) => toml::from_str(text).map_err(|e| TorError::Config(e.to_string()))?,
        None => TorClientConfigBuilder::default(),
    };
    builder
        .storage()
        .state_dir(CfgPath::new_literal(&config.state_dir))
        .cache_dir(CfgPath::new_literal(&config.cache_dir));
    builder.build().map_err(|e| TorError::Config(e.to_string()))
}

fn lock(status: &Mutex<TorStatus>) -> std::sync::MutexGuard<'_, TorStatus> {
    status.lock().unwrap_or_else(|e| e.into_inner())
}

async fn refuse(request: StreamRequest) {
    let _ = request.reject(End::new_with_reason(EndReason::DONE)).await;
}

async fn accept(shared: Arc<Shared>, request: StreamRequest) {
    match request.request() {
        IncomingStreamRequest::Begin(begin) if begin.port() == VIRTUAL_PORT => {}
        _ => return refuse(request).await,
    }
    match request.accept(Connected::new_empty()).await {
        Ok(stream) => {
            drive(shared, stream, Role::Responder, None).await;
        }
        Err(e) => debug!(error = %e, "could not accept an onion stream"),
    }
}

/// Runs the hop handshake on a fresh stream, then the link until it ends.
/// Returns whether a link came up.
async fn drive(
    shared: Arc<Shared>,
    mut stream: DataStream,
    role: Role,
    expected: Option<[u8; 32]>,
) -> bool {
    let handshake = crate::stream::handshake(&mut stream, role, &shared.keys, TOR_MTU);
    let hop::Established {
        peer,
        writer,
        reader,
    } = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            debug!(error = %e, "hop handshake over Tor failed");
            return false;
        }
        Err(_) => {
            debug!("hop handshake over Tor timed out");
            return false;
        }
    };
    // We look for every contact, so the one we dialled reveals itself to
    // us; one who does not is someone else.
    if expected.is_some_and(|want| peer.known() != Some(want)) {
        warn!("an onion address answered with another identity than its invite's");
        return false;
    }
    let peer = peer.key();
    if peer == shared.keys.identity() {
        debug!("reached our own onion service");
        return false;
    }
    let id = shared.ids.next();
    let (sender, queue) = link::channel(id, link::SEND_QUEUE_BYTES);
    let up = LinkEvent::Up {
        link: id,
        medium: Medium::Tor,
        peer,
        mtu: TOR_MTU,
        sender,
    };
    if shared.events.send(up).await.is_err() {
        return false;
    }
    lock(&shared.status).links += 1;
    let _ = shared.commands.send(Command::LinkUp { peer });
    run_link(
        id,
        stream,
        queue,
        shared.events.clone(),
        (reader, FRAME_DEADLINE),
        writer,
    )
    .await;
    lock(&shared.status).links -= 1;
    let _ = shared.commands.send(Command::LinkEnded {
        peer,
        dialled: role == Role::Initiator,
    });
    true
}

/// A contact we keep a link with.
struct Wanted {
    onion: String,
    links: usize,
    dialling: bool,
    backoff: Duration,
    next: Instant,
}

/// Dials wanted contacts that have no link, with backoff.
async fn dialer(shared: Arc<Shared>, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut wanted: HashMap<[u8; 32], Wanted> = HashMap::new();
    // Links to peers we were not asked about (they reached us).
    let mut others: HashMap<[u8; 32], usize> = HashMap::new();
    loop {
        // Wake only for a dial that falls due (or, until arti has
        // bootstrapped, once a second to see whether it has): an idle node
        // with every contact linked, or none, sleeps until told something.
        let wake = next_dial(&shared, &wanted);
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::Want { peer, onion }) => {
                    let links = others.remove(&peer).unwrap_or(0);
                    let entry = wanted.entry(peer).or_insert(Wanted {
                        onion: onion.clone(),
                        links,
                        dialling: false,
                        backoff: RETRY_MIN,
                        next: Instant::now(),
                    });
                    if entry.onion != onion {
                        entry.onion = onion;
                        entry.backoff = RETRY_MIN;
                        entry.next = Instant::now();
                    }
                }
                Some(Command::LinkUp { peer }) => match wanted.get_mut(&peer) {
                    Some(w) => {
                        w.links += 1;
                        w.backoff = RETRY_MIN;
                    }
                    None => *others.entry(peer).or_default() += 1,
                },
                Some(Command::LinkEnded { peer, dialled }) => match wanted.get_mut(&peer) {
                    Some(w) => {
                        w.links = w.links.saturating_sub(1);
                        if dialled {
                            w.dialling = false;
                        }
                        w.next = Instant::now() + w.backoff;
                    }
                    None => {
                        if let Some(n) = others.get_mut(&peer) {
                            *n = n.saturating_sub(1);
                        }
                    }
                },
                Some(Command::DialFailed { peer }) => {
                    if let Some(w) = wanted.get_mut(&peer) {
                        w.dialling = false;
                        w.next = Instant::now() + w.backoff;
                        w.backoff = (w.backoff * 2).min(RETRY_MAX);
                    }
                }
            },
            () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now).into()), if wake.is_some() => {
                let ready = lock(&shared.status).progress == 100;
                if !ready {
                    continue;
                }
                let now = Instant::now();
                for (peer, w) in wanted.iter_mut() {
                    if w.links > 0 || w.dialling || w.next > now {
                        continue;
                    }
                    w.dialling = true;
                    tokio::spawn(dial(shared.clone(), *peer, w.onion.clone()));
                }
            }
        }
    }
}

/// When the dialer must next look: the earliest retry of a wanted contact
/// with no link and no dial under way, or in a second while arti is still
/// bootstrapping and someone is wanted; `None` when nothing can fall due.
fn next_dial(shared: &Shared, wanted: &HashMap<[u8; 32], Wanted>) -> Option<Instant> {
    let waiting = wanted.values().filter(|w| w.links == 0 && !w.dialling);
    if lock(&shared.status).progress < 100 {
        return waiting
            .map(|_| Instant::now() + Duration::from_secs(1))
            .next();
    }
    waiting.map(|w| w.next).min()
}

async fn dial(shared: Arc<Shared>, peer: [u8; 32], onion: String) {
    let mut prefs = StreamPrefs::new();
    prefs.connect_to_onion_services(BoolOrAuto::Explicit(true));
    debug!("dialling a contact's onion service");
    let stream = shared
        .client
        .connect_with_prefs((onion.as_str(), VIRTUAL_PORT), &prefs)
        .await;
    let up = match stream {
        Ok(stream) => drive(shared.clone(), stream, Role::Initiator, Some(peer)).await,
        Err(e) => {
            debug!(error = %e, "could not reach a contact's onion service");
            false
        }
    };
    if !up {
        let _ = shared.commands.send(Command::DialFailed { peer });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(arti_toml: &str) -> TorConfig {
        let dir = std::env::temp_dir().join(format!("cairn-tor-cfg-{}", std::process::id()));
        TorConfig {
            keys: HopKeys::new(&[1; 32], &[2; 32]),
            state_dir: dir.join("state"),
            cache_dir: dir.join("cache"),
            arti_toml: Some(arti_toml.into()),
        }
    }

    /// Bridges and pluggable transports are arti's own settings, passed
    /// through (parsed only: nothing here connects anywhere).
    #[test]
    fn bridges_and_pluggable_transports_are_accepted() {
        let built = arti_config(&config(
            r#"
            [bridges]
            enabled = true
            bridges = [
              "192.0.2.10:443 0123456789ABCDEF0123456789ABCDEF01234567",
              "obfs4 192.0.2.11:80 89ABCDEF0123456789ABCDEF0123456789ABCDEF cert=dGVzdGNlcnR0ZXN0Y2VydHRlc3RjZXJ0dGVzdGNlcnR0ZXN0Y2VydHRlc3RjZXJ0dGVzdGM iat-mode=0",
            ]
            [[bridges.transports]]
            protocols = ["obfs4"]
            path = "/usr/bin/obfs4proxy"
            "#,
        ));
        assert!(built.is_ok(), "{:?}", built.err());
    }

    #[test]
    fn bad_arti_settings_are_a_clear_error() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _guard = rt.enter();
        let dir = std::env::temp_dir().join(format!("cairn-tor-cfg-{}", std::process::id()));
        let (tx, _rx) = mpsc::channel(1);
        let err = TorTransport::start(
            TorConfig {
                keys: HopKeys::new(&[1; 32], &[2; 32]),
                state_dir: dir.join("state"),
                cache_dir: dir.join("cache"),
                arti_toml: Some("[tor_network]\nfallback_caches = 7\n".into()),
            },
            LinkIds::default(),
            tx,
        )
        .err()
        .unwrap();
        assert!(matches!(err, TorError::Config(_)), "{err}");
    }
}
