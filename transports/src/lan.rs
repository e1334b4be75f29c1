//! The LAN transport: a libp2p swarm (TCP and QUIC, Noise, yamux, mDNS,
//! identify) whose connections become links.
//!
//! Each connected pair runs one long-lived stream of the `/cairn/link/1`
//! protocol; the side with the smaller peer id opens it, so two nodes that dial
//! each other at once still get one link.
//!
//! The libp2p key (the peer id mDNS announces) is a throwaway made at start,
//! never the identity: a LAN neighbour sees a peer id that says nothing of
//! who is there and changes with every start. Who is at the other end is
//! settled on the stream by the hop handshake ([`crate::hop`]), which tells
//! a peer our identity only if it already knows our key; frames then travel
//! as hop records inside libp2p's own encryption.
//!
//! The swarm runs in its own task; this module's handle only sends it
//! commands. Bounds: connection limits (total, per peer, pending), a ban list
//! for peers that broke the framing or were reported by the node, and the
//! link's own send queue.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hop::{HopKeys, Role};
use crate::link::{self, DownReason, LinkEvent, LinkId, LinkIds, Medium};
use crate::stream::{LAN_FRAME_DEADLINE, run_link};
use futures::StreamExt;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, identify, mdns,
    noise, tcp, yamux,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The stream protocol that carries Cairn frames.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/link/1");
/// Largest frame a LAN link carries.
pub const LAN_MTU: usize = 128 * 1024;
/// How often known peers are redialled and missing links reopened.
const MAINTENANCE: Duration = Duration::from_secs(5);
/// How long a peer that broke the framing is kept away.
pub const VIOLATION_BAN: Duration = Duration::from_secs(600);
/// Longest the hop handshake may take on a LAN stream.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LanError {
    #[error("invalid identity key for libp2p: {0}")]
    Key(String),
    #[error("could not set up the libp2p transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("mDNS could not start: {0}")]
    Mdns(String),
}

#[derive(Clone)]
pub struct LanConfig {
    /// Who the node is at the hop, and whom it looks for.
    pub keys: Arc<HopKeys>,
    pub listen: Vec<Multiaddr>,
    /// Addresses to dial at start and keep linked (for networks without
    /// multicast). A `/p2p/…` part is ignored: peer ids change with every
    /// start, so the address alone is dialled.
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    pub mdns_query_interval: Duration,
    /// Connections at most. Above the engine's links (256 by default), so
    /// that when strangers hold every link a contact can still connect and
    /// the engine closes a stranger's link to make room for it.
    pub max_connections: u32,
    pub idle_timeout: Duration,
}

impl LanConfig {
    /// Listens on every IPv4 and IPv6 interface, TCP and QUIC, with mDNS on.
    pub fn new(keys: Arc<HopKeys>) -> Self {
        let listen = [
            "/ip4/0.0.0.0/tcp/0",
            "/ip4/0.0.0.0/udp/0/quic-v1",
            "/ip6/::/tcp/0",
            "/ip6/::/udp/0/quic-v1",
        ]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
        Self {
            keys,
            listen,
            bootstrap: Vec::new(),
            mdns: true,
            mdns_query_interval: Duration::from_secs(20),
            max_connections: 320,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What the transport can say about itself.
#[derive(Debug, Clone, Default)]
pub struct LanStatus {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub connected_peers: usize,
    pub links: usize,
    pub discovered_peers: usize,
    pub mdns: bool,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    stream: libp2p_stream::Behaviour,
    identify: identify::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

enum Command {
    Dial(Multiaddr),
    Ban(PeerId, Duration),
    Unban(PeerId),
    Reopen(PeerId),
    LinkEnded {
        peer: PeerId,
        violation: bool,
    },
    /// The peer refused our link protocol: it is no Cairn node.
    NotCairn(PeerId),
    Shutdown,
}

/// Handle to the running LAN transport.
pub struct LanTransport {
    commands: mpsc::Sender<Command>,
    status: Arc<Mutex<LanStatus>>,
    local_peer_id: PeerId,
    /// Which libp2p peer each link runs to, for bans.
    link_peers: LinkPeers,
}

type LinkPeers = Arc<Mutex<HashMap<LinkId, PeerId>>>;

/// The Ed25519 key a peer id was derived from, if it was.
fn peer_key(peer: &PeerId) -> Option<[u8; 32]> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest()).ok()?;
    Some(key.try_into_ed25519().ok()?.to_bytes())
}

/// The address without its `/p2p/<id>` part.
fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect()
}

impl LanTransport {
    /// Builds the swarm, starts listening and spawns the swarm task.
    pub fn start(
        config: LanConfig,
        ids: LinkIds,
        events: mpsc::Sender<LinkEvent>,
    ) -> Result<Self, LanError> {
        // A throwaway key: the peer id is not the identity.
        let keypair = libp2p::identity::Keypair::generate_ed25519();
        let local_peer_id = keypair.public().to_peer_id();
        let mdns_enabled = config.mdns;
        let mdns_config = mdns::Config {
            query_interval: config.mdns_query_interval,
            ..Default::default()
        };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| LanError::Transport(e.to_string()))?
            .with_quic()
            .with_behaviour(|key| {
                let mdns = if mdns_enabled {
                    Some(mdns::tokio::Behaviour::new(
                        mdns_config,
                        key.public().to_peer_id(),
                    )?)
                } else {
                    None
                };
                Ok(Behaviour {
                    blocked: Default::default(),
                    limits: connection_limits::Behaviour::new(
                        connection_limits::ConnectionLimits::default()
                            .with_max_established(Some(config.max_connections))
                            .with_max_established_per_peer(Some(2))
                            .with_max_pending_incoming(Some(64)),
                    ),
                    stream: libp2p_stream::Behaviour::new(),
                    identify: identify::Behaviour::new(
                        identify::Config::new("/cairn/id/1".into(), key.public())
                            .with_agent_version(format!("cairn/{}", env!("CARGO_PKG_VERSION"))),
                    ),
                    mdns: Toggle::from(mdns),
                })
            })
            .map_err(|e| LanError::Mdns(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
            .build();
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| LanError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
        }
        let bootstrap: Vec<Multiaddr> = config.bootstrap.iter().map(without_peer).collect();
        for addr in &bootstrap {
            if let Err(e) = swarm.dial(addr.clone()) {
                warn!(%addr, error = %e, "could not dial bootstrap peer");
            }
        }
        let incoming = swarm
            .behaviour()
            .stream
            .new_control()
            .accept(PROTOCOL)
            .map_err(|e| LanError::Transport(e.to_string()))?;
        let status = Arc::new(Mutex::new(LanStatus {
            peer_id: local_peer_id.to_string(),
            mdns: mdns_enabled,
            ..Default::default()
        }));
        let (commands, command_rx) = mpsc::channel(256);
        let link_peers = LinkPeers::default();
        let task = SwarmTask {
            keys: config.keys.clone(),
            link_peers: link_peers.clone(),
            swarm,
            local: local_peer_id,
            ids,
            events,
            commands: commands.clone(),
            command_rx,
            incoming,
            status: status.clone(),
            links: HashMap::new(),
            banned: HashSet::new(),
            reopening: HashSet::new(),
            discovered: HashMap::new(),
            known: bootstrap.into_iter().map(|a| (a, None)).collect(),
        };
        tokio::spawn(task.run());
        Ok(Self {
            commands,
            status,
            local_peer_id,
            link_peers,
        })
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    pub fn status(&self) -> LanStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn dial(&self, addr: Multiaddr) {
        let _ = self.commands.try_send(Command::Dial(addr));
    }

    /// Disconnects the device at the other end of `link` and refuses it
    /// for `duration`.
    pub fn ban(&self, link: LinkId, duration: Duration) {
        let peer = self
            .link_peers
            .lock()
            .ok()
            .and_then(|l| l.get(&link).copied());
        if let Some(peer) = peer {
            let _ = self.commands.try_send(Command::Ban(peer, duration));
        }
    }

    pub fn shutdown(&self) {
        let _ = self.commands.try_send(Command::Shutdown);
    }
}

struct SwarmTask {
    keys: Arc<HopKeys>,
    link_peers: LinkPeers,
    swarm: Swarm<Behaviour>,
    local: PeerId,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    commands: mpsc::Sender<Command>,
    command_rx: mpsc::Receiver<Command>,
    incoming: libp2p_stream::IncomingStreams,
    status: Arc<Mutex<LanStatus>>,
    /// Links (open or opening) per peer.
    links: HashMap<PeerId, u32>,
    banned: HashSet<PeerId>,
    /// Peers with a `Reopen` pending.
    reopening: HashSet<PeerId>,
    /// Peers mDNS told us about, with their addresses.
    discovered: HashMap<PeerId, Vec<Multiaddr>>,
    /// Bootstrap addresses, kept connected like discovered peers, with the
    /// peer last met there.
    known: HashMap<Multiaddr, Option<PeerId>>,
}

impl SwarmTask {
    async fn run(mut self) {
        let mut maintenance = tokio::time::interval(MAINTENANCE);
        loop {
            tokio::select! {
                _ = maintenance.tick() => self.maintain(),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((peer, stream)) = self.incoming.next() => {
                    // One link per peer: an honest peer opens only when its
                    // id is the smaller, and never while a link is up or
                    // opening; a second one would only double what a peer
                    // can hold of the node's links.
                    if self.banned.contains(&peer) || self.links.contains_key(&peer) {
                        continue;
                    }
                    self.start_link(peer, stream);
                }
                command = self.command_rx.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
            }
            self.update_status();
        }
        debug!("LAN transport stopped");
    }

    fn update_status(&self) {
        if let Ok(mut s) = self.status.lock() {
            s.listen_addrs = self.swarm.listeners().map(ToString::to_string).collect();
            s.connected_peers = self.swarm.connected_peers().count();
            s.links = self.links.values().map(|n| *n as usize).sum();
            s.discovered_peers = self.discovered.len();
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    warn!(%addr, error = %e, "dial failed");
                }
            }
            Command::Ban(peer, duration) => self.ban(peer, duration),
            Command::Unban(peer) => {
                self.banned.remove(&peer);
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            }
            Command::Reopen(peer) => {
                self.reopening.remove(&peer);
                if self.swarm.is_connected(&peer)
                    && self.links.get(&peer).copied().unwrap_or(0) == 0
                {
                    self.open_link(peer);
                }
            }
            Command::LinkEnded { peer, violation } => {
                if let Some(n) = self.links.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.links.remove(&peer);
                    }
                }
                if violation {
                    self.ban(peer, VIOLATION_BAN);
                } else if self.local < peer && self.reopening.insert(peer) {
                    // One retry pending per peer: every failure used to
                    // start another chain of retries.
                    self.later(Duration::from_secs(2), Command::Reopen(peer));
                }
            }
            Command::NotCairn(peer) => {
                if let Some(n) = self.links.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.links.remove(&peer);
                    }
                }
                debug!(%peer, "not a Cairn node: disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Shutdown => {}
        }
    }

    /// Keeps every known peer connected and linked: redials those whose
    /// connection dropped (mDNS reports a peer only once while its record
    /// lives) and reopens links that failed to open.
    fn maintain(&mut self) {
        let peers: Vec<(PeerId, Vec<Multiaddr>)> = self
            .discovered
            .iter()
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        let lost: Vec<Multiaddr> = self
            .known
            .iter()
            .filter(|(_, p)| !p.is_some_and(|p| self.swarm.is_connected(&p)))
            .map(|(a, _)| a.clone())
            .collect();
        for addr in lost {
            let _ = self.swarm.dial(addr);
        }
        for (peer, addrs) in peers {
            if peer == self.local || self.banned.contains(&peer) {
                continue;
            }
            if !self.swarm.is_connected(&peer) {
                let opts = DialOpts::peer_id(peer)
                    .addresses(addrs)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                let _ = self.swarm.dial(opts);
            }
        }
        let unlinked: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| {
                self.local < **p
                    && !self.links.contains_key(*p)
                    && !self.banned.contains(*p)
                    && !self.reopening.contains(*p)
            })
            .copied()
            .collect();
        for peer in unlinked {
            self.open_link(peer);
        }
    }

    fn ban(&mut self, peer: PeerId, duration: Duration) {
        info!(%peer, secs = duration.as_secs(), "keeping peer away");
        self.banned.insert(peer);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.later(duration, Command::Unban(peer));
    }

    fn later(&self, delay: Duration, command: Command) {
        let commands = self.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = commands.send(command).await;
        });
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "listening"),
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if let Some(p) = self
                    .known
                    .get_mut(&without_peer(endpoint.get_remote_address()))
                {
                    *p = Some(peer_id);
                }
                if peer_key(&peer_id).is_none() {
                    // Cairn identities are Ed25519; anything else cannot be a peer.
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.local < peer_id && !self.links.contains_key(&peer_id) {
                    self.open_link(peer_id);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    self.discovered.insert(peer, addrs.clone());
                    if peer == self.local
                        || self.banned.contains(&peer)
                        || self.swarm.is_connected(&peer)
                    {
                        continue;
                    }
                    debug!(%peer, "discovered by mDNS");
                    let opts = DialOpts::peer_id(peer)
                        .addresses(addrs)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    if let Err(e) = self.swarm.dial(opts) {
                        debug!(%peer, error = %e, "dial after discovery failed");
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, _) in gone {
                    self.discovered.remove(&peer);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "outgoing connection failed");
            }
            _ => {}
        }
    }

    fn open_link(&mut self, peer: PeerId) {
        *self.links.entry(peer).or_default() += 1;
        let mut control = self.swarm.behaviour().stream.new_control();
        let ids = self.ids.clone();
        let events = self.events.clone();
        let commands = self.commands.clone();
        let (keys, link_peers) = (self.keys.clone(), self.link_peers.clone());
        tokio::spawn(async move {
            match control.open_stream(peer, PROTOCOL).await {
                Ok(stream) => {
                    let end = LinkEnd {
                        peer,
                        role: Role::Initiator,
                        keys,
                        link_peers,
                    };
                    drive_link(end, stream, ids, events, commands).await
                }
                Err(libp2p_stream::OpenStreamError::UnsupportedProtocol(_)) => {
                    let _ = commands.send(Command::NotCairn(peer)).await;
                }
                Err(e) => {
                    debug!(%peer, error = %e, "could not open link stream");
                    let _ = commands
                        .send(Command::LinkEnded {
                            peer,
                            violation: false,
                        })
                        .await;
                }
            }
        });
    }

    fn start_link(&mut self, peer: PeerId, stream: libp2p::Stream) {
        *self.links.entry(peer).or_default() += 1;
        let end = LinkEnd {
            peer,
            role: Role::Responder,
            keys: self.keys.clone(),
            link_peers: self.link_peers.clone(),
        };
        tokio::spawn(drive_link(
            end,
            stream,
            self.ids.clone(),
            self.events.clone(),
            self.commands.clone(),
        ));
    }
}

/// One end of a link stream: the libp2p peer, who opened it, and what the
/// hop handshake needs.
struct LinkEnd {
    peer: PeerId,
    role: Role,
    keys: Arc<HopKeys>,
    link_peers: LinkPeers,
}

async fn drive_link(
    end: LinkEnd,
    mut stream: libp2p::Stream,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    commands: mpsc::Sender<Command>,
) {
    let LinkEnd {
        peer,
        role,
        keys,
        link_peers,
    } = end;
    let handshake = crate::stream::handshake(&mut stream, role, &keys, LAN_MTU);
    let done = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            // A broken handshake is a violation; a stream that fails (or
            // a meeting to redo with whom we now look for) is not.
            let violation = !matches!(e, crate::hop::HopError::Io(_) | crate::hop::HopError::Stale);
            debug!(%peer, error = %e, "hop handshake on the LAN failed");
            let _ = commands.send(Command::LinkEnded { peer, violation }).await;
            return;
        }
        Err(_) => {
            debug!(%peer, "hop handshake on the LAN timed out");
            let _ = commands
                .send(Command::LinkEnded {
                    peer,
                    violation: false,
                })
                .await;
            return;
        }
    };
    if done.peer.known() == Some(keys.identity()) {
        debug!("reached ourselves on the LAN");
        let _ = commands.send(Command::NotCairn(peer)).await;
        return;
    }
    let id = ids.next();
    if let Ok(mut l) = link_peers.lock() {
        l.insert(id, peer);
    }
    let (sender, queue) = link::channel(id, link::SEND_QUEUE_BYTES);
    let up = LinkEvent::Up {
        link: id,
        medium: Medium::Lan,
        peer: done.peer.key(),
        mtu: LAN_MTU,
        sender,
    };
    let mut violation = false;
    if events.send(up).await.is_ok() {
        // Learn how the link ended by watching our own Down event go past.
        let (tap_tx, mut tap_rx) = mpsc::channel(64);
        let forward = {
            let events = events.clone();
            async move {
                let mut violation = false;
                while let Some(event) = tap_rx.recv().await {
                    if let LinkEvent::Down {
                        reason: DownReason::Violation(_),
                        ..
                    } = &event
                    {
                        violation = true;
                    }
                    if events.send(event).await.is_err() {
                        break;
                    }
                }
                violation
            }
        };
        let (ended, ()) = tokio::join!(
            forward,
            run_link(
                id,
                stream,
                queue,
                tap_tx,
                (done.reader, LAN_FRAME_DEADLINE),
                done.writer,
            )
        );
        violation = ended;
    }
    if let Ok(mut l) = link_peers.lock() {
        l.remove(&id);
    }
    let _ = commands.send(Command::LinkEnded { peer, violation }).await;
}
