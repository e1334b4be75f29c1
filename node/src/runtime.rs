//! The running node: one task that owns the core and the store, fed by the
//! transports' link events, API calls and timers, following the core's loop —
//! take what inputs are ready (up to a batch), commit once, then carry out the
//! outputs. Taking several inputs before one commit is the group commit that
//! keeps durable messaging fast.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use cairn_protocol::invite::Hint;
use cairn_protocol::{
    CloseReason, Config, Engine, Event, IdentityKey, LinkId as CoreLink, LinkInfo,
    Medium as CoreMedium, Output, Time,
};
use cairn_transports::hop::HopKeys;
use cairn_transports::lan::{LanConfig, LanTransport};
use cairn_transports::tor::{TorConfig, TorTransport};
use cairn_transports::{LinkEvent, LinkIds, LinkSender, Medium, SendError};
use rand::RngCore;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::api::{self, ApiError, ErrorKind, Reply, Request, Response, StatusInfo};
use crate::control::Call;
use crate::profile::{NodeConfig, Profile};
use crate::service;
use crate::store::Opened;
use crate::timestamp::now;

/// Inputs taken before one commit.
const MAX_BATCH: usize = 512;
/// Link events waiting for the node.
const EVENT_QUEUE: usize = 4096;
/// API calls waiting for the node.
const CALL_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("could not start the core: {0}")]
    Engine(#[from] cairn_protocol::EngineError),
    #[error(transparent)]
    Lan(#[from] cairn_transports::lan::LanError),
    #[error(transparent)]
    Tor(#[from] cairn_transports::tor::TorError),
    #[error("cannot read the Tor settings in {path}: {reason}")]
    TorConfig { path: String, reason: String },
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("invalid address {addr}: {reason}")]
    Address { addr: String, reason: String },
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    #[error(
        "the XMPP gateway connects to its server directly, which --tor-only forbids; \
         run the gateway without --tor-only (or [tor] only = false)"
    )]
    GatewayNotOverTor,
}

/// A handle to a running node, for in-process callers (the GUI, tests).
#[derive(Clone)]
pub struct NodeHandle {
    calls: mpsc::Sender<Call>,
    events: broadcast::Sender<Event>,
    /// Where in-process transports (memory links) report to this node.
    links: mpsc::Sender<LinkEvent>,
    link_ids: LinkIds,
    identity: [u8; 32],
    /// Who the node is at the hop, for in-process links.
    hop_keys: std::sync::Arc<HopKeys>,
}

impl NodeHandle {
    pub async fn call(&self, request: Request) -> Result<Reply, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.calls
            .send(Call { request, reply: tx })
            .await
            .map_err(|_| ApiError::new(ErrorKind::Internal, "node stopped"))?;
        rx.await
            .map_err(|_| ApiError::new(ErrorKind::Internal, "node stopped"))?
            .into()
    }

    /// Joins two in-process nodes with a memory link of `mtu` bytes, as if
    /// a transport had found them: for tests and for the GUI's demo mode.
    pub async fn connect_memory(&self, other: &NodeHandle, mtu: usize) {
        cairn_transports::memory::connect(
            cairn_transports::memory::Endpoint {
                ids: &self.link_ids,
                events: self.links.clone(),
                identity: self.identity,
            },
            cairn_transports::memory::Endpoint {
                ids: &other.link_ids,
                events: other.links.clone(),
                identity: other.identity,
            },
            mtu,
        )
        .await;
    }

    /// Joins two in-process nodes over "Bluetooth": the real BLE link core
    /// and driver on each side (hop handshake, ARQ, packets of `att_mtu`), a
    /// lossy in-memory radio between. `self` is the central.
    pub async fn connect_ble_memory(
        &self,
        other: &NodeHandle,
        att_mtu: usize,
        loss: f64,
        seed: u64,
    ) {
        use cairn_transports::ble::memory::{self, Endpoint, MemoryRadio};
        memory::connect(
            Endpoint {
                ids: &self.link_ids,
                events: self.links.clone(),
                keys: &self.hop_keys,
            },
            Endpoint {
                ids: &other.link_ids,
                events: other.links.clone(),
                keys: &other.hop_keys,
            },
            MemoryRadio {
                att_mtu,
                loss,
                delay: Duration::from_micros(200),
                seed,
            },
        );
    }

    /// Core events as they happen. Message events carry text: do not log them.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// How to run: what the profile's config says, plus command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub config: NodeConfig,
    /// Serve the control socket (the CLI's way in).
    pub control_socket: bool,
}

/// Calls whose answers wait for a commit, with the answer to give if it lands.
type Waiting = Vec<(oneshot::Sender<Response>, Result<Reply, ApiError>)>;

fn reply_all(waiting: Waiting, committed: &Result<(), cairn_protocol::StoreError>) {
    for (reply, answer) in waiting {
        let answer = match committed {
            Ok(()) => answer,
            Err(e) => Err(ApiError::new(ErrorKind::Storage, e.to_string())),
        };
        let _ = reply.send(answer.into());
    }
}

/// The thread that commits batches, one at a time, in the order given.
struct Committer {
    batches: std::sync::mpsc::Sender<(u64, cairn_protocol::WriteBatch)>,
    done: mpsc::Receiver<(u64, Result<(), cairn_protocol::StoreError>)>,
}

impl Committer {
    fn start(mut store: crate::store::RedbStore) -> Self {
        let (batches, batch_rx) = std::sync::mpsc::channel::<(u64, cairn_protocol::WriteBatch)>();
        let (done_tx, done) = mpsc::channel(4);
        std::thread::Builder::new()
            .name("cairn-commit".into())
            .spawn(move || {
                while let Ok((ticket, batch)) = batch_rx.recv() {
                    let started = std::time::Instant::now();
                    let result = if batch.is_empty() {
                        Ok(())
                    } else {
                        cairn_protocol::Store::commit(&mut store, &batch)
                    };
                    tracing::trace!(
                        ops = batch.len(),
                        us = started.elapsed().as_micros() as u64,
                        "commit"
                    );
                    if done_tx.blocking_send((ticket, result)).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Self { batches, done }
    }
}

struct Node {
    engine: Engine<crate::store::RedbStore>,
    gateway: Option<crate::gateway::GatewayRun>,
    bridges: crate::user_bridge::UserBridge,
    senders: HashMap<u64, (LinkSender, [u8; 32])>,
    lan: Option<LanTransport>,
    tor: Option<TorTransport>,
    ble: Option<BleTransport>,
    events: broadcast::Sender<Event>,
    /// Whom the transports look for at the hop, and the contacts'
    /// generation it was taken at.
    hop_keys: std::sync::Arc<HopKeys>,
    looked_for: u64,
    dropped_frames: u64,
    /// Per link, frames its full queue could not take yet (in order) and
    /// their bytes ([`MAX_BACKLOG_LINK`]); `backlog_bytes` over all links
    /// ([`MAX_BACKLOG`]). Past either, a frame is refused (counted in
    /// `dropped_frames`) and the core sends again what it carried.
    backlog: HashMap<u64, (VecDeque<Bytes>, usize)>,
    backlog_bytes: usize,
    /// Reads of a file that may be finished in memory but not yet on disk:
    /// asked again after the next commits (with how many tries are left).
    file_reads: Vec<(Call, u8)>,
    /// How much history a newly linked device gets (`[devices]`).
    history: crate::profile::DevicesSettings,
}

/// How many commits a file read waits for before its answer stands. The last
/// chunk of a finished file is in the batch staged or in flight when the
/// read comes, so two are enough; one more for good measure.
const FILE_READ_RETRIES: u8 = 3;
/// How long a peer turned away for want of room is kept away.
const NO_ROOM_BAN: Duration = Duration::from_secs(60);
/// Bytes of frames one link's full send queue could not take yet, held in
/// order until it drains: a group's first sync to a new member is one
/// message of up to 64 MiB (`cairn_protocol::limits::MAX_BLOB`), larger
/// than any link's queue, and refusing part of it lost all of it.
const MAX_BACKLOG_LINK: usize = 72 << 20;
/// The same, over every link (a peer that has us relay onto a slow radio
/// piles up no more than this).
const MAX_BACKLOG: usize = 128 << 20;
/// How often a backlog is offered to its link again.
const BACKLOG_POLL: Duration = Duration::from_millis(2);
/// How long a link code (`cairn device link`) stays good.
const LINK_CODE_VALIDITY: Duration = Duration::from_secs(600);

/// The engine's settings for a profile named `name` run with `config`: the
/// node's and the CLI's offline path ([`crate::client::Client::offline`])
/// build their engines alike. Onion hints are added by whoever knows the
/// address.
pub fn engine_config(name: String, config: &NodeConfig) -> Config {
    let mut engine = Config::new(name);
    config.mesh.apply(&mut engine);
    if config.gateway.enabled {
        // Users opt in by writing first: each is a contact request.
        engine.max_requests = engine.max_contacts;
        engine.gateway = true;
    }
    engine.mailbox = config.mailbox.enabled;
    engine
}

/// Starts a node on an opened profile. Returns its handle and the task that
/// runs it; the task ends after a `Shutdown` request or when every handle and
/// the control socket are gone.
pub async fn start(
    profile: &Profile,
    opened: Opened,
    options: RunOptions,
) -> Result<(NodeHandle, tokio::task::JoinHandle<()>), NodeError> {
    // Tor only means nothing leaves but through Tor: the gateway's component
    // connection (and its DNS lookup) would (THREAT_MODEL.md, "Attacks
    // tried" 8).
    if options.config.gateway.enabled && options.config.tor.only {
        return Err(NodeError::GatewayNotOverTor);
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let Opened {
        store,
        identity,
        name,
    } = opened;
    let hop_keys = HopKeys::from_secret_bytes(&identity.to_secret_bytes());
    let identity_bytes = *identity.key().as_bytes();
    let mut config = engine_config(name, &options.config);
    let (link_tx, link_rx) = mpsc::channel(EVENT_QUEUE);
    let ids = LinkIds::default();
    let tor = if options.config.tor.on() {
        let tor = start_tor(profile, &options, hop_keys.clone(), &ids, &link_tx)?;
        if let Some(onion) = tor.onion_address() {
            config.hints.push(Hint::Onion(onion));
        }
        Some(tor)
    } else {
        None
    };
    let mut engine = Engine::new(config, identity, store, seed, now())?;
    // Contacts find us at the hop, and we them, from the first link on.
    hop_keys.look_for(engine.contact_statics());
    let looked_for = engine.contacts_generation();
    let (gateway, from_xmpp) = if options.config.gateway.enabled {
        let (run, rx) = crate::gateway::GatewayRun::start(&options.config.gateway, &mut engine)?;
        (Some(run), Some(rx))
    } else {
        (None, None)
    };
    if let Some(tor) = &tor {
        for contact in engine.contacts() {
            want_over_tor(tor, contact);
        }
    }
    // Tor only: nothing may leave the device but through Tor.
    let ble = if options.config.ble.enabled && !options.config.tor.only {
        start_ble(&options.config.ble, hop_keys.clone(), &ids, &link_tx)
    } else {
        None
    };
    let lan = if options.config.lan.enabled && !options.config.tor.only {
        let mut cfg = LanConfig::new(hop_keys.clone());
        cfg.mdns = options.config.lan.mdns;
        cfg.listen = parse_addrs(&options.config.lan.listen)?;
        cfg.bootstrap = parse_addrs(&options.config.lan.bootstrap)?;
        Some(LanTransport::start(cfg, ids.clone(), link_tx.clone())?)
    } else {
        None
    };
    let (call_tx, call_rx) = mpsc::channel(CALL_QUEUE);
    let (events, _) = broadcast::channel(1024);
    if options.control_socket {
        let path = profile.socket_path();
        let listener = crate::control::bind(&path).await?;
        tokio::spawn(crate::control::serve(
            listener,
            call_tx.clone(),
            events.clone(),
            path,
        ));
    }
    let node = Node {
        engine,
        gateway,
        bridges: crate::user_bridge::UserBridge::default(),
        senders: HashMap::new(),
        lan,
        tor,
        ble,
        events: events.clone(),
        hop_keys: hop_keys.clone(),
        looked_for,
        dropped_frames: 0,
        backlog: HashMap::new(),
        backlog_bytes: 0,
        file_reads: Vec::new(),
        history: options.config.devices.clone(),
    };
    let task = tokio::spawn(node.run(link_rx, call_rx, from_xmpp, link_tx.clone()));
    Ok((
        NodeHandle {
            calls: call_tx,
            events,
            links: link_tx,
            link_ids: ids,
            identity: identity_bytes,
            hop_keys,
        },
        task,
    ))
}

#[cfg(target_os = "linux")]
type BleTransport = cairn_transports::ble::bluez::BleTransport;
#[cfg(not(target_os = "linux"))]
type BleTransport = ();

/// Starts Bluetooth LE (Linux: BlueZ). It never fails the node: without an
/// adapter its status says why.
#[cfg(target_os = "linux")]
fn start_ble(
    settings: &crate::profile::BleSettings,
    keys: std::sync::Arc<HopKeys>,
    ids: &LinkIds,
    links: &mpsc::Sender<LinkEvent>,
) -> Option<BleTransport> {
    use cairn_transports::ble::bluez::{BleConfig, BleTransport};
    let mut config = BleConfig::new(keys);
    config.adapter = (!settings.adapter.is_empty()).then(|| settings.adapter.clone());
    config.rssi_floor = settings.rssi_floor;
    config.max_links = settings.max_links.max(1);
    config.scan_on = Duration::from_secs(settings.scan_on_secs.max(1));
    config.scan_off = Duration::from_secs(settings.scan_off_secs);
    config.rotate = Duration::from_secs(settings.rotate_minutes.max(1) * 60);
    Some(BleTransport::start(config, ids.clone(), links.clone()))
}

#[cfg(not(target_os = "linux"))]
fn start_ble(
    _: &crate::profile::BleSettings,
    _: std::sync::Arc<HopKeys>,
    _: &LinkIds,
    _: &mpsc::Sender<LinkEvent>,
) -> Option<BleTransport> {
    tracing::info!("Bluetooth LE is supported on Linux only in this version");
    None
}

fn start_tor(
    profile: &Profile,
    options: &RunOptions,
    keys: std::sync::Arc<HopKeys>,
    ids: &LinkIds,
    links: &mpsc::Sender<LinkEvent>,
) -> Result<TorTransport, NodeError> {
    let arti_toml = match &options.config.tor.arti_config {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|e| NodeError::TorConfig {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
        ),
        None => None,
    };
    let (state_dir, cache_dir) = profile.make_tor_dirs()?;
    let tor = TorTransport::start(
        TorConfig {
            keys,
            state_dir,
            cache_dir,
            arti_toml,
        },
        ids.clone(),
        links.clone(),
    )?;
    if let Some(onion) = tor.onion_address()
        && profile.onion_address().as_deref() != Some(onion.as_str())
        && let Err(e) = profile.remember_onion_address(&onion)
    {
        warn!(error = %e, "could not write down the onion address");
    }
    Ok(tor)
}

/// Keeps a Tor link with a contact whose card names an onion address.
fn want_over_tor(tor: &TorTransport, contact: &cairn_protocol::Contact) {
    for hint in contact.card.hints() {
        if let Hint::Onion(onion) = hint {
            tor.want(*contact.identity.as_bytes(), onion.clone());
        }
    }
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<libp2p::Multiaddr>, NodeError> {
    addrs
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e: libp2p::multiaddr::Error| NodeError::Address {
                    addr: a.clone(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

impl Node {
    async fn run(
        mut self,
        mut links: mpsc::Receiver<LinkEvent>,
        mut calls: mpsc::Receiver<Call>,
        mut xmpp: Option<mpsc::Receiver<crate::gateway::XmppEvent>>,
        // Kept so the link channel never closes under us.
        _link_tx: mpsc::Sender<LinkEvent>,
    ) {
        info!(id = %self.engine.identity_key().short(), "node running");
        let committer = Committer::start(self.engine.store().clone());
        let (mut done_rx, commit_tx) = (committer.done, committer.batches);
        // Answers that wait for the batch being staged, and for the one in flight.
        let mut staged: Waiting = Vec::new();
        let mut in_flight: Option<(u64, Waiting)> = None;
        let mut stop = false;
        while !stop {
            let deadline = self
                .engine
                .poll_timeout()
                .unwrap_or(now() + Duration::from_secs(60));
            let sleep = tokio::time::sleep(deadline.since(now()));
            tokio::select! {
                event = links.recv() => match event {
                    Some(event) => self.on_link_event(event),
                    None => break,
                },
                call = calls.recv() => match call {
                    Some(call) => stop |= self.on_call(call, &mut staged),
                    None => break,
                },
                Some((ticket, result)) = done_rx.recv() => {
                    if let Some((_, waiting)) = in_flight.take() {
                        self.finish_commit(ticket, result, waiting);
                    }
                }
                Some(event) = recv_some(&mut xmpp) => self.on_xmpp(event),
                () = sleep => self.engine.handle_timeout(now()),
                () = tokio::time::sleep(BACKLOG_POLL), if !self.backlog.is_empty() => {
                    self.flush_backlog();
                }
            }
            // A steady stream of inputs must not starve the timers.
            if self.engine.poll_timeout().is_some_and(|t| t <= now()) {
                self.engine.handle_timeout(now());
            }
            for _ in 0..MAX_BATCH {
                if let Ok(event) = links.try_recv() {
                    self.on_link_event(event);
                } else if let Ok(call) = calls.try_recv() {
                    stop |= self.on_call(call, &mut staged);
                } else if let Some(event) = xmpp.as_mut().and_then(|x| x.try_recv().ok()) {
                    self.on_xmpp(event);
                } else {
                    break;
                }
            }
            // One batch commits on the committer thread while the next one
            // gathers here: the disk and the CPU work at the same time.
            if in_flight.is_none() {
                match self.engine.begin_commit() {
                    Some(commit) => {
                        if commit_tx.send((commit.ticket, commit.batch)).is_err() {
                            warn!("the store's committer stopped");
                            break;
                        }
                        in_flight = Some((commit.ticket, std::mem::take(&mut staged)));
                    }
                    None => reply_all(std::mem::take(&mut staged), &Ok(())),
                }
            }
            if let Some(gateway) = &mut self.gateway {
                gateway.check_presence(&mut self.engine);
            }
            if self.engine.contacts_generation() != self.looked_for {
                self.contacts_changed();
            }
            self.drain_outputs();
        }
        // Let what is in flight land, then commit the rest inline.
        if let Some((ticket, waiting)) = in_flight.take()
            && let Some((done, result)) = done_rx.recv().await
        {
            debug_assert_eq!(done, ticket);
            self.finish_commit(ticket, result, waiting);
        }
        let last = self.engine.flush(now());
        reply_all(std::mem::take(&mut staged), &last);
        self.drain_outputs();
        if let Some(lan) = &self.lan {
            lan.shutdown();
        }
        if let Some(tor) = &self.tor {
            tor.shutdown();
        }
        for (sender, _) in self.senders.values() {
            sender.close();
        }
        info!("node stopped");
    }

    fn on_xmpp(&mut self, event: crate::gateway::XmppEvent) {
        if let Some(gateway) = &mut self.gateway {
            gateway.on_xmpp(&mut self.engine, event);
        }
    }

    fn finish_commit(
        &mut self,
        ticket: u64,
        result: Result<(), cairn_protocol::StoreError>,
        waiting: Waiting,
    ) {
        let result = self.engine.end_commit(now(), ticket, result);
        if let Err(e) = &result {
            warn!(error = %e, "commit failed; nothing in that batch was acknowledged");
        }
        reply_all(waiting, &result);
        for (call, tries) in std::mem::take(&mut self.file_reads) {
            self.answer(call, tries - 1, &mut Vec::new());
        }
    }

    fn on_link_event(&mut self, event: LinkEvent) {
        let now = now();
        match event {
            LinkEvent::Up {
                link,
                medium,
                peer,
                mtu,
                sender,
            } => {
                let Ok(peer_key) = IdentityKey::from_bytes(peer) else {
                    sender.close();
                    return;
                };
                debug!(link = link.0, peer = %peer_key.short(), ?medium, "link up");
                self.senders.insert(link.0, (sender, peer));
                self.engine.link_up(
                    now,
                    LinkInfo {
                        id: CoreLink(link.0),
                        medium: match medium {
                            Medium::Memory => CoreMedium::Memory,
                            Medium::Lan => CoreMedium::Lan,
                            Medium::Ble => CoreMedium::Ble,
                            Medium::Tor => CoreMedium::Tor,
                        },
                        peer: peer_key,
                        mtu,
                        since: now,
                    },
                );
            }
            LinkEvent::Frame { link, frame } => {
                self.engine.handle_frame(now, CoreLink(link.0), &frame)
            }
            LinkEvent::Down { link, reason } => {
                self.drop_backlog(link.0);
                if self.senders.remove(&link.0).is_some() {
                    debug!(link = link.0, %reason, "link down");
                    self.engine.link_down(now, CoreLink(link.0));
                }
            }
        }
    }

    /// Answers a call now, or parks it until the commit. Returns true to stop.
    fn on_call(
        &mut self,
        call: Call,
        waiting: &mut Vec<(oneshot::Sender<Response>, Result<Reply, ApiError>)>,
    ) -> bool {
        self.answer(call, FILE_READ_RETRIES, waiting)
    }

    /// [`Node::on_call`], with how many more commits a file read may wait for.
    fn answer(
        &mut self,
        call: Call,
        tries: u8,
        waiting: &mut Vec<(oneshot::Sender<Response>, Result<Reply, ApiError>)>,
    ) -> bool {
        let Call { request, reply } = call;
        if let Request::Backup {
            path,
            passphrase,
            files,
        } = request
        {
            // Off the node's loop: reading a large profile takes seconds,
            // and a read transaction sees one committed snapshot.
            let store = self.engine.store().clone();
            let identity = cairn_protocol::Identity::from_secret_bytes(
                &self.engine.identity().to_secret_bytes(),
            );
            let name = self.engine.name().to_owned();
            tokio::task::spawn_blocking(move || {
                let answer = service::backup(
                    &store,
                    &identity,
                    &name,
                    &path,
                    passphrase.0.as_bytes(),
                    files,
                );
                let _ = reply.send(answer.into());
            });
            return false;
        }
        let answer = match &request {
            Request::Status => Ok(Reply::Status(Box::new(self.status()))),
            Request::Dial { addr } => match (&self.lan, addr.parse::<libp2p::Multiaddr>()) {
                (Some(lan), Ok(addr)) => {
                    lan.dial(addr);
                    Ok(Reply::Done)
                }
                (None, _) => Err(ApiError::new(
                    ErrorKind::Invalid,
                    "the LAN transport is off",
                )),
                (_, Err(e)) => Err(ApiError::new(
                    ErrorKind::Invalid,
                    format!("bad address: {e}"),
                )),
            },
            Request::DeviceLink => self
                .engine
                .link_offer(now(), LINK_CODE_VALIDITY)
                .map(|code| Reply::LinkCode {
                    uri: code.to_uri(),
                    valid_secs: LINK_CODE_VALIDITY.as_secs(),
                })
                .map_err(Into::into),
            Request::Shutdown => {
                let _ = reply.send(Response::Ok(Reply::Done));
                return true;
            }
            Request::Watch => Err(ApiError::new(
                ErrorKind::Invalid,
                "watch is served on the control socket; in-process callers subscribe",
            )),
            other => service::handle(&mut self.engine, other)
                .unwrap_or_else(|| Err(ApiError::new(ErrorKind::Internal, "unhandled request")))
                .map(|mut reply| {
                    if let Reply::Contacts { contacts } = &mut reply {
                        self.bridges.annotate(&self.engine, contacts);
                    }
                    reply
                }),
        };
        let reads_file = matches!(request, Request::SaveFile { .. } | Request::FileData { .. });
        if reads_file
            && matches!(&answer, Err(e) if e.kind == ErrorKind::NotFound)
            && tries > 0
            && (self.engine.has_staged() || self.engine.commit_in_flight())
        {
            // A file finished in memory may still have its last chunk on
            // the way to the disk: ask again once that lands.
            self.file_reads.push((Call { request, reply }, tries));
        } else if request.needs_commit() && answer.is_ok() {
            waiting.push((reply, answer));
        } else {
            let _ = reply.send(answer.into());
        }
        false
    }

    fn status(&self) -> StatusInfo {
        let links = self
            .engine
            .links()
            .map(|l| api::LinkInfo {
                id: l.id.0,
                medium: l.medium.as_str().to_owned(),
                peer: l.peer.to_string(),
                peer_name: self
                    .engine
                    .contact(&l.peer)
                    .map(|c| c.display_name().to_owned()),
            })
            .collect();
        let lan = self
            .lan
            .as_ref()
            .map(|lan| {
                let s = lan.status();
                api::LanInfo {
                    enabled: true,
                    peer_id: s.peer_id,
                    listen_addrs: s.listen_addrs,
                    connected_peers: s.connected_peers,
                    discovered_peers: s.discovered_peers,
                    mdns: s.mdns,
                }
            })
            .unwrap_or_default();
        let tor = self
            .tor
            .as_ref()
            .map(|tor| {
                let s = tor.status();
                api::TorInfo {
                    enabled: true,
                    stage: s.stage.as_str().to_owned(),
                    progress: s.progress,
                    detail: s.detail,
                    onion: s.onion,
                    links: s.links,
                }
            })
            .unwrap_or_default();
        let bridges = crate::user_bridge::joined(&self.engine)
            .unwrap_or_default()
            .into_iter()
            .map(|j| api::BridgeInfo {
                gateway: j.gateway.to_string(),
                gateway_name: self
                    .engine
                    .contact(&j.gateway)
                    .map(|c| c.display_name().to_owned())
                    .unwrap_or_default(),
                address: j.address,
            })
            .collect();
        #[cfg(target_os = "linux")]
        let ble = self
            .ble
            .as_ref()
            .map(|b| {
                let s = b.status();
                api::BleInfo {
                    enabled: true,
                    state: s.state,
                    adapter: s.adapter,
                    address: s.address,
                    links: s.links,
                    scanning: s.scanning,
                }
            })
            .unwrap_or_default();
        #[cfg(not(target_os = "linux"))]
        let ble = api::BleInfo::default();
        StatusInfo {
            ble,
            gateway: self
                .gateway
                .as_ref()
                .map(crate::gateway::GatewayRun::info)
                .unwrap_or_default(),
            bridges,
            id: self.engine.identity_key().to_string(),
            account: self.engine.account_key().to_string(),
            name: self.engine.name().to_owned(),
            running: true,
            links,
            lan,
            tor,
            contacts: self
                .engine
                .contacts()
                .filter(|c| c.origin != cairn_protocol::ContactOrigin::Device)
                .count(),
            outbox: self.engine.outbox_len(),
            dropped_frames: self.dropped_frames,
            sessions: self.engine.session_count(),
            mesh: {
                let m = self.engine.mesh_stats();
                api::MeshInfo {
                    policy: self.engine.mesh_policy().to_owned(),
                    carried: m.carried,
                    relayed_bytes: m.relayed_bytes,
                    capacity_bytes: m.capacity_bytes,
                    refused: m.refused,
                    handed_on: m.transmissions,
                }
            },
        }
    }

    /// Carries out everything the engine asked for. The engine is never
    /// entered while it is being drained (str0m's rule: one input, then
    /// drain): what the gateway and the user's bridges do about an event is
    /// a new input, given once the drain is over, and drained in turn.
    fn drain_outputs(&mut self) {
        let mut reacted = Vec::new();
        loop {
            self.drain_once(&mut reacted);
            if reacted.is_empty() {
                return;
            }
            for event in reacted.drain(..) {
                match event {
                    Event::DeviceLinked { device } => self.hand_history(device),
                    event => self.bridge_event(&event),
                }
            }
        }
    }

    /// Drains the engine's outputs once; events the gateway or the bridges
    /// act on go into `reacted`.
    fn drain_once(&mut self, reacted: &mut Vec<Event>) {
        self.flush_backlog();
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Transmit { link, frame } => self.transmit(link.0, Bytes::from(frame)),
                Output::Close { link, reason } => self.close_link(link, reason),
                Output::Event(event) => {
                    log_event(&event);
                    if bridges_react_to(&event) || matches!(event, Event::DeviceLinked { .. }) {
                        reacted.push(event.clone());
                    }
                    if let (Event::ContactAdded { peer, .. }, Some(tor)) = (&event, &self.tor)
                        && let Some(contact) = self.engine.contact(peer)
                    {
                        want_over_tor(tor, contact);
                    }
                    let _ = self.events.send(event);
                }
            }
        }
    }

    /// A device was just linked: it gets the recent history, oldest first,
    /// within `[devices]` history_days and history_max per conversation.
    fn hand_history(&mut self, device: cairn_protocol::IdentityKey) {
        let window = Duration::from_secs(u64::from(self.history.history_days) * 24 * 3600);
        let since = now().as_millis().saturating_sub(window.as_millis() as u64);
        let peers: Vec<cairn_protocol::IdentityKey> = self
            .engine
            .contacts()
            .filter(|c| c.origin == cairn_protocol::ContactOrigin::Invite)
            .map(|c| c.identity)
            .collect();
        let mut records = Vec::new();
        for peer in peers {
            match self
                .engine
                .store()
                .history(&peer, Some(self.history.history_max))
            {
                Ok(history) => records.extend(
                    history
                        .into_iter()
                        .filter(|m| m.sent_at.as_millis() >= since),
                ),
                Err(e) => warn!(error = %e, "history could not be read for the new device"),
            }
        }
        records.sort_by_key(|m| (m.sent_at, m.id.0));
        let offered = records.len();
        let queued = self.engine.hand_history(now(), &device, records);
        info!(offered, queued, device = %device.short(), "history handed to the new device");
    }

    /// Hands an event to the gateway (if this node is one) or to the user's
    /// side of bridging.
    fn bridge_event(&mut self, event: &Event) {
        let peer = match event {
            Event::MessageReceived(m) | Event::BridgedOp(m) => Some(m.peer),
            Event::Bridge { peer, .. } | Event::MessageState { peer, .. } => Some(*peer),
            Event::FileProgress(f) => Some(f.peer),
            _ => None,
        };
        let ours = peer.is_some_and(|p| crate::user_bridge::is_joined(&self.engine, &p));
        if let Some(gateway) = &mut self.gateway
            && !ours
            && gateway.on_event(&mut self.engine, event)
        {
            return;
        }
        self.bridges.on_event(&mut self.engine, event);
    }

    /// Whom the transports look for follows the contacts; links to devices
    /// the hop did not name are met again, so a new contact among them
    /// is recognised (and its session starts without waiting).
    fn contacts_changed(&mut self) {
        self.looked_for = self.engine.contacts_generation();
        self.hop_keys.look_for(self.engine.contact_statics());
        for link in self.engine.unrecognised_links() {
            if let Some((sender, _)) = self.senders.get(&link.0) {
                debug!(
                    link = link.0,
                    "contacts changed: meeting an unnamed peer again"
                );
                sender.close();
            }
        }
    }

    /// Hands a frame to its link: into its send queue, or behind what
    /// already waits for room there.
    fn transmit(&mut self, link: u64, frame: Bytes) {
        let Some((sender, _)) = self.senders.get(&link) else {
            return;
        };
        let len = frame.len();
        let room =
            |held: usize, all: usize| held + len <= MAX_BACKLOG_LINK && all + len <= MAX_BACKLOG;
        if let Some((queue, held)) = self.backlog.get_mut(&link) {
            // Behind others: in order.
            if room(*held, self.backlog_bytes) {
                queue.push_back(frame);
                *held += len;
                self.backlog_bytes += len;
            } else {
                self.dropped_frames += 1;
            }
            return;
        }
        match sender.try_send(frame.clone()) {
            Ok(()) => {}
            Err(SendError::Full) if room(0, self.backlog_bytes) => {
                self.backlog.insert(link, (VecDeque::from([frame]), len));
                self.backlog_bytes += len;
            }
            // Past the bounds: the core sends again what it carried.
            Err(SendError::Full) => self.dropped_frames += 1,
            // Closed: the link's `Down` is on its way.
            Err(_) => {}
        }
    }

    /// Offers every backlog to its link again, in order, as far as there
    /// is room.
    fn flush_backlog(&mut self) {
        let mut done = Vec::new();
        for (link, (queue, held)) in &mut self.backlog {
            let Some((sender, _)) = self.senders.get(link) else {
                done.push(*link);
                continue;
            };
            while let Some(frame) = queue.front() {
                match sender.try_send(frame.clone()) {
                    Ok(()) => {
                        let len = frame.len();
                        queue.pop_front();
                        *held -= len;
                        self.backlog_bytes -= len;
                    }
                    Err(SendError::Full) => break,
                    Err(_) => {
                        done.push(*link);
                        break;
                    }
                }
            }
            if queue.is_empty() {
                done.push(*link);
            }
        }
        for link in done {
            self.drop_backlog(link);
        }
    }

    fn drop_backlog(&mut self, link: u64) {
        if let Some((_, held)) = self.backlog.remove(&link) {
            self.backlog_bytes -= held;
        }
    }

    fn close_link(&mut self, link: CoreLink, reason: CloseReason) {
        self.drop_backlog(link.0);
        let Some((sender, peer)) = self.senders.remove(&link.0) else {
            return;
        };
        sender.close();
        let Some(lan) = &self.lan else {
            return;
        };
        let id = cairn_transports::link::LinkId(link.0);
        if reason.is_misbehaviour() {
            lan.ban(id, cairn_transports::lan::VIOLATION_BAN);
        } else if reason == CloseReason::TooManyLinks
            && !self.senders.values().any(|(_, p)| *p == peer)
        {
            // No room, and no other link of this peer's to keep: the
            // connection goes too, and the peer is not let back (nor
            // redialled) for a minute, instead of relinking every two
            // seconds to be turned away again.
            lan.ban(id, NO_ROOM_BAN);
        }
    }
}

/// Logs an event without message text.
fn log_event(event: &Event) {
    match event {
        Event::MessageReceived(m) => info!(from = %m.peer.short(), id = %m.id, "message received"),
        Event::MessageState { peer, id, state } => {
            debug!(to = %peer.short(), %id, state = state.as_str(), "message state")
        }
        Event::MessageChanged { peer, id } => {
            debug!(peer = %peer.short(), %id, "message changed")
        }
        Event::MessagesExpired { peer } => {
            debug!(peer = %peer.short(), "disappearing messages erased")
        }
        Event::BridgedOp(m) => {
            debug!(peer = %m.peer.short(), id = %m.id, "operation for a bridged network")
        }
        Event::ContactAdded { peer, origin } => {
            info!(peer = %peer.short(), ?origin, "contact added")
        }
        Event::ContactKeyChanged { peer } => {
            warn!(peer = %peer.short(), "contact's key changed: compare safety numbers again")
        }
        Event::SessionUp { peer } => debug!(peer = %peer.short(), "session up"),
        Event::LinkClosed { link, reason } => {
            info!(link = link.0, reason = reason.as_str(), "link closed")
        }
        Event::GroupChanged { group } => debug!(%group, "group changed"),
        Event::Bridge { peer, .. } => debug!(peer = %peer.short(), "bridge signal"),
        // File names are message content: not logged.
        Event::DevicesChanged => info!("this account's devices changed"),
        Event::DeviceLinked { device } => info!(device = %device.short(), "a device was linked"),
        Event::DeviceListRefused { peer, error } => warn!(
            peer = %peer.short(),
            %error,
            "a contact's device list was refused: compare safety numbers"
        ),
        Event::FileProgress(f) => debug!(
            peer = %f.peer.short(),
            file = %f.id,
            have = f.have,
            chunks = f.meta.chunks(),
            state = ?f.state,
            "file transfer"
        ),
    }
}

/// The next item of an optional channel; never, when there is none.
async fn recv_some<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// For tests and tools: the core's clock.
pub fn clock() -> Time {
    now()
}

/// Events the gateway or the user's side of bridging acts on
/// ([`Node::bridge_event`]).
fn bridges_react_to(event: &Event) -> bool {
    matches!(
        event,
        Event::SessionUp { .. }
            | Event::MessageReceived(_)
            | Event::BridgedOp(_)
            | Event::MessageState { .. }
            | Event::GroupChanged { .. }
            | Event::Bridge { .. }
    ) || matches!(
        // A user's file for XMPP, whole at the gateway: it goes up now.
        event,
        Event::FileProgress(f)
            if !f.outgoing && f.state == cairn_protocol::file::TransferState::Complete
    )
}
