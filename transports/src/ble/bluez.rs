//! The BLE adapter layer on Linux: BlueZ over D-Bus.
//!
//! Every node is both roles at once, behind this one transport:
//!
//! - **Peripheral** (bluer): a GATT service [`SERVICE`] with one
//!   characteristic [`RX`] that peers write to without response; and an
//!   advertisement of the service with a *rotating* random token in its
//!   manufacturer data (company id 0xFFFF, the one reserved for tests and
//!   unassigned use). The token changes every [`BleConfig::rotate`]; it is
//!   never the identity key, which the hop handshake reveals only to a
//!   peer that already knows it (a contact; [`crate::hop`]).
//! - **Central** (btleplug): scans for the service, duty-cycled; keeps peers
//!   above an RSSI floor; connects (the lower token dials first, the other
//!   after a grace period); writes into the peer's [`RX`].
//!
//! Both directions are writes (each side a GATT client of the other over the
//! one connection): notifications would need a socket per subscriber, which
//! BlueZ before 5.69 does not give. Packets from a peer arrive through our
//! characteristic, labelled with its address, and go to its link's
//! [`driver`](super::driver); the link core does the rest.
//!
//! Without D-Bus, bluetoothd, an adapter, or permission, the transport says
//! why in its status and tries again every [`RETRY`]; the node runs on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hop::HopKeys;
use btleplug::api::{
    Central, CentralEvent, Characteristic, Manager as _, Peripheral as _, ScanFilter, WriteType,
};
use btleplug::platform::{Adapter as CentralAdapter, Manager, Peripheral};
use futures::StreamExt;
use rand::RngCore;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::driver;
use super::link::BLE_FRAME_MTU;
use super::link::BleLink;
use crate::hop::Role;
use crate::link::{LinkEvent, LinkIds};

/// Cairn's GATT service.
pub const SERVICE: Uuid = Uuid::from_u128(0x6361_6972_6e00_4c45_8000_0000_0000_0001);
/// The characteristic peers write packets to.
pub const RX: Uuid = Uuid::from_u128(0x6361_6972_6e00_4c45_8000_0000_0000_0002);
/// Manufacturer data key for the rotating token.
pub const COMPANY: u16 = 0xFFFF;
/// Bytes of rotating token (what fits beside a 128-bit service UUID in a
/// 31-byte legacy advertisement).
pub const TOKEN_LEN: usize = 6;
/// How long to wait after a failure before trying the adapter again.
pub const RETRY: Duration = Duration::from_secs(30);
/// How long the peer with the higher token waits for the other to dial.
const GRACE: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const BACKOFF_START: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct BleConfig {
    /// The adapter to use (`hci0`); the system's default when `None`.
    pub adapter: Option<String>,
    /// Peers heard weaker than this (dBm) are not dialled.
    pub rssi_floor: i16,
    /// Most BLE links at once.
    pub max_links: usize,
    /// Scanning: on for `scan_on`, then off for `scan_off`.
    pub scan_on: Duration,
    pub scan_off: Duration,
    /// How often the advertised token changes.
    pub rotate: Duration,
    /// Who the node is at the hop, and whom it looks for.
    pub keys: Arc<HopKeys>,
}

impl BleConfig {
    pub fn new(keys: Arc<HopKeys>) -> Self {
        Self {
            adapter: None,
            rssi_floor: -95,
            max_links: 4,
            scan_on: Duration::from_secs(10),
            scan_off: Duration::from_secs(10),
            rotate: Duration::from_secs(15 * 60),
            keys,
        }
    }
}

/// What `cairn status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BleStatus {
    /// "starting", "ready", or "unavailable: WHY".
    pub state: String,
    pub adapter: Option<String>,
    pub address: Option<String>,
    pub links: usize,
    pub scanning: bool,
}

pub struct BleTransport {
    status: Arc<Mutex<BleStatus>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BleTransport {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BleTransport {
    /// Starts the transport in the background; it never fails to start (a
    /// missing adapter is a status, not an error).
    pub fn start(config: BleConfig, ids: LinkIds, events: mpsc::Sender<LinkEvent>) -> Self {
        let status = Arc::new(Mutex::new(BleStatus {
            state: "starting".into(),
            ..Default::default()
        }));
        let task = tokio::spawn(supervise(config, ids, events, status.clone()));
        Self { status, task }
    }

    pub fn status(&self) -> BleStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn set(status: &Mutex<BleStatus>, f: impl FnOnce(&mut BleStatus)) {
    if let Ok(mut s) = status.lock() {
        f(&mut s);
    }
}

async fn supervise(
    config: BleConfig,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    status: Arc<Mutex<BleStatus>>,
) {
    let mut last = String::new();
    loop {
        let why = match run(&config, &ids, &events, &status).await {
            Ok(()) => return,
            Err(why) => why,
        };
        if why != last {
            tracing::warn!(reason = %why, "Bluetooth unavailable; the node runs on its other transports");
            last = why.clone();
        }
        set(&status, |s| {
            *s = BleStatus {
                state: format!("unavailable: {why}"),
                ..Default::default()
            }
        });
        tokio::time::sleep(RETRY).await;
    }
}

/// Says what is wrong in words a user can act on.
fn explain(e: &bluer::Error) -> String {
    use bluer::ErrorKind as K;
    match &e.kind {
        K::NotFound => "no Bluetooth adapter found".into(),
        K::NotReady => {
            "the Bluetooth adapter is not ready (powered off or blocked by rfkill?)".into()
        }
        K::NotAuthorized | K::NotPermitted => {
            "not allowed to use Bluetooth (is this user in the bluetooth group?)".into()
        }
        K::Internal(bluer::InternalErrorKind::DBus(name)) if name.contains("ServiceUnknown") => {
            "bluetoothd is not running".into()
        }
        _ => {
            let text = e.to_string();
            if text.contains("system_bus_socket") || text.contains("No such file") {
                "no system D-Bus (is bluetoothd installed and running?)".into()
            } else {
                text
            }
        }
    }
}

fn token() -> [u8; TOKEN_LEN] {
    let mut t = [0u8; TOKEN_LEN];
    rand::rngs::OsRng.fill_bytes(&mut t);
    t
}

/// A packet that arrived through our characteristic.
struct Inbound {
    from: [u8; 6],
    data: Vec<u8>,
    mtu: u16,
}

/// Where packets from each linked peer go (its link's driver). Shared with
/// the GATT callback, so data never waits for the main loop (which makes
/// D-Bus calls of its own, slow on a busy system).
#[derive(Clone, Default)]
struct Routes(Arc<Mutex<RouteTable>>);

/// A peer's Bluetooth address → the driver of its link.
type RouteTable = HashMap<[u8; 6], mpsc::Sender<Vec<u8>>>;

impl Routes {
    fn with<T>(&self, f: impl FnOnce(&mut RouteTable) -> T) -> T {
        match self.0.lock() {
            Ok(mut m) => f(&mut m),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
    fn len(&self) -> usize {
        self.with(|m| m.len())
    }
    fn contains(&self, a: &[u8; 6]) -> bool {
        self.with(|m| m.contains_key(a))
    }
    fn insert(&self, a: [u8; 6], tx: mpsc::Sender<Vec<u8>>) {
        self.with(|m| m.insert(a, tx));
    }
    fn remove(&self, a: &[u8; 6]) {
        self.with(|m| m.remove(a));
    }
}

struct Seen {
    first: Instant,
    token: Option<[u8; TOKEN_LEN]>,
    /// When our last link with it ended.
    last_down: Option<Instant>,
}

async fn run(
    config: &BleConfig,
    ids: &LinkIds,
    events: &mpsc::Sender<LinkEvent>,
    status: &Mutex<BleStatus>,
) -> Result<(), String> {
    let session = bluer::Session::new().await.map_err(|e| explain(&e))?;
    let adapter = match &config.adapter {
        Some(name) => session.adapter(name),
        None => session.default_adapter().await,
    }
    .map_err(|e| explain(&e))?;
    adapter.set_powered(true).await.map_err(|e| explain(&e))?;
    let name = adapter.name().to_owned();
    let address = adapter.address().await.map_err(|e| explain(&e))?;

    // Peripheral: our characteristic; every write lands in `inbound`.
    let (inbound_tx, mut inbound) = mpsc::channel::<Inbound>(64);
    let peers = Routes::default();
    let app = gatt_application(inbound_tx, peers.clone());
    let _app = adapter
        .serve_gatt_application(app)
        .await
        .map_err(|e| format!("cannot serve the Cairn GATT service: {}", explain(&e)))?;
    let mut own = token();
    let mut adv = adapter
        .advertise(advertisement(own))
        .await
        .map_err(|e| format!("cannot advertise: {}", explain(&e)))?;

    // Central: btleplug on the same adapter.
    let manager = Manager::new()
        .await
        .map_err(|e| format!("cannot open BlueZ as a central: {e}"))?;
    let central = pick_adapter(&manager, &name).await?;
    let mut central_events = central
        .events()
        .await
        .map_err(|e| format!("cannot watch the adapter: {e}"))?;
    let filter = ScanFilter {
        services: vec![SERVICE],
    };
    central
        .start_scan(filter.clone())
        .await
        .map_err(|e| format!("cannot scan: {e}"))?;
    let mut scanning = true;
    tracing::info!(adapter = %name, "Bluetooth LE ready: advertising and scanning");
    set(status, |s| {
        *s = BleStatus {
            state: "ready".into(),
            adapter: Some(name.clone()),
            address: Some(address.to_string()),
            links: 0,
            scanning: true,
        }
    });

    let identity = config.keys.clone();
    let clock = Instant::now();
    // Peripheral ids to addresses: the events name ids, and asking BlueZ for
    // an address costs a D-Bus round trip.
    let mut ids_seen: HashMap<btleplug::platform::PeripheralId, [u8; 6]> = HashMap::new();
    let mut seen: HashMap<[u8; 6], Seen> = HashMap::new();
    let mut backoff: BTreeMap<[u8; 6], (Instant, Duration)> = BTreeMap::new();
    let mut links: JoinSet<[u8; 6]> = JoinSet::new();
    let mut duty = tokio::time::interval(
        config
            .scan_on
            .min(config.scan_off)
            .max(Duration::from_secs(1)),
    );
    let mut scan_since = Instant::now();
    let mut rotate_at = Instant::now() + config.rotate;

    loop {
        tokio::select! {
            packet = inbound.recv() => {
                let Some(Inbound { from, data, mtu }) = packet else {
                    return Err("the GATT service stopped".into());
                };
                if peers.contains(&from) {
                    continue; // a link came up meanwhile; its packets go straight to it
                }
                // Someone connected to us and speaks first: answer over the
                // same connection as a GATT client of theirs. Only the first
                // packet of a stream starts a link: what is still in flight
                // from a link that ended must not.
                if peers.len() >= config.max_links || !super::arq::Arq::starts_stream(&data) {
                    continue;
                }
                let (tx, rx) = mpsc::channel(256);
                let _ = tx.try_send(data);
                peers.insert(from, tx);
                let (central, identity, ids, events) = (central.clone(), identity.clone(), ids.clone(), events.clone());
                links.spawn(async move {
                    answer(central, from, usize::from(mtu), identity, ids, events, rx, clock).await;
                    from
                });
            }
            event = central_events.next() => {
                let Some(event) = event else {
                    return Err("the adapter went away".into());
                };
                match event {
                    CentralEvent::DeviceDiscovered(id)
                    | CentralEvent::DeviceUpdated(id)
                    | CentralEvent::ServicesAdvertisement { id, .. }
                    | CentralEvent::ManufacturerDataAdvertisement { id, .. } => {
                        // Every advertisement report of a linked peer
                        // arrives here while we scan: skip them cheaply.
                        if ids_seen.get(&id).is_some_and(|a| peers.contains(a)) {
                            continue;
                        }
                        let Ok(p) = central.peripheral(&id).await else { continue };
                        ids_seen.insert(id.clone(), p.address().into_inner());
                        let Ok(Some(props)) = p.properties().await else { continue };
                        if !props.services.contains(&SERVICE) {
                            continue;
                        }
                        let addr = p.address().into_inner();
                        let their = props
                            .manufacturer_data
                            .get(&COMPANY)
                            .and_then(|d| <[u8; TOKEN_LEN]>::try_from(d.as_slice()).ok());
                        let entry = seen.entry(addr).or_insert(Seen { first: Instant::now(), token: None, last_down: None });
                        entry.token = their.or(entry.token);
                        let strong = props.rssi.is_none_or(|r| r >= config.rssi_floor);
                        let waiting = backoff.get(&addr).is_some_and(|(until, _)| Instant::now() < *until);
                        // The lower token dials; the other only when the
                        // lower one has not for a while (after a link ends,
                        // three times as long: both would redial at once).
                        let ours_first = entry.token.is_none_or(|t| own < t);
                        let quiet = entry.first.elapsed() >= GRACE
                            && entry.last_down.is_none_or(|t| t.elapsed() >= GRACE * 3);
                        let our_turn = ours_first || quiet;
                        if strong && !waiting && our_turn && !peers.contains(&addr) && peers.len() < config.max_links {
                            let (tx, rx) = mpsc::channel(256);
                            peers.insert(addr, tx);
                            let (identity, ids, events) = (identity.clone(), ids.clone(), events.clone());
                            links.spawn(async move {
                                dial(p, identity, ids, events, rx, clock).await;
                                addr
                            });
                        }
                    }
                    CentralEvent::DeviceDisconnected(id) => {
                        let addr = match ids_seen.get(&id) {
                            Some(a) => Some(*a),
                            None => central.peripheral(&id).await.ok().map(|p| p.address().into_inner()),
                        };
                        // Its driver sees the channel close and ends the link.
                        if let Some(a) = addr {
                            peers.remove(&a);
                        }
                    }
                    _ => {}
                }
            }
            done = links.join_next(), if !links.is_empty() => {
                if let Some(Ok(addr)) = done {
                    peers.remove(&addr);
                    if let Some(s) = seen.get_mut(&addr) {
                        s.last_down = Some(Instant::now());
                    }
                    let next = backoff.get(&addr).map_or(BACKOFF_START, |(_, d)| (*d * 2).min(BACKOFF_MAX));
                    backoff.insert(addr, (Instant::now() + next, next));
                }
                set(status, |s| s.links = peers.len());
            }
            _ = duty.tick() => {
                set(status, |s| s.links = peers.len());
                let phase = if scanning { config.scan_on } else { config.scan_off };
                if scan_since.elapsed() >= phase {
                    scanning = !scanning;
                    scan_since = Instant::now();
                    let r = if scanning { central.start_scan(filter.clone()).await } else { central.stop_scan().await };
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "switching the scan failed");
                    }
                    set(status, |s| s.scanning = scanning);
                }
                if Instant::now() >= rotate_at {
                    rotate_at = Instant::now() + config.rotate;
                    own = token();
                    drop(adv);
                    adv = adapter
                        .advertise(advertisement(own))
                        .await
                        .map_err(|e| format!("cannot advertise: {}", explain(&e)))?;
                }
                seen.retain(|_, s| s.first.elapsed() < Duration::from_secs(600));
                if ids_seen.len() > 4096 {
                    ids_seen.clear();
                }
            }
        }
    }
}

fn advertisement(token: [u8; TOKEN_LEN]) -> bluer::adv::Advertisement {
    bluer::adv::Advertisement {
        service_uuids: [SERVICE].into_iter().collect(),
        manufacturer_data: [(COMPANY, token.to_vec())].into_iter().collect(),
        discoverable: Some(true),
        ..Default::default()
    }
}

fn gatt_application(
    inbound: mpsc::Sender<Inbound>,
    routes: Routes,
) -> bluer::gatt::local::Application {
    use bluer::gatt::local::{
        Application, Characteristic as LocalChar, CharacteristicWrite, CharacteristicWriteMethod,
        Service,
    };
    let write = CharacteristicWrite {
        write: true,
        write_without_response: true,
        method: CharacteristicWriteMethod::Fun(Box::new(move |value, req| {
            let from = req.device_address.0;
            // A linked peer's packet goes straight to its link (dropped if
            // the link is not keeping up: the ARQ sends it again).
            let routed = routes.with(|m| m.get(&from).map(|tx| tx.try_send(value.clone())));
            let inbound = inbound.clone();
            Box::pin(async move {
                if routed.is_none() {
                    let _ = inbound.try_send(Inbound {
                        from,
                        data: value,
                        mtu: req.mtu,
                    });
                }
                Ok(())
            })
        })),
        ..Default::default()
    };
    Application {
        services: vec![Service {
            uuid: SERVICE,
            primary: true,
            characteristics: vec![LocalChar {
                uuid: RX,
                write: Some(write),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn pick_adapter(manager: &Manager, name: &str) -> Result<CentralAdapter, String> {
    let adapters = manager
        .adapters()
        .await
        .map_err(|e| format!("cannot list adapters: {e}"))?;
    for a in adapters {
        if a.adapter_info()
            .await
            .is_ok_and(|info| info.starts_with(name))
        {
            return Ok(a);
        }
    }
    Err(format!("btleplug does not see the adapter {name}"))
}

/// Finds the peer's characteristic, connecting first if needed.
async fn characteristic(p: &Peripheral) -> Result<Characteristic, String> {
    if !p.is_connected().await.unwrap_or(false) {
        tokio::time::timeout(CONNECT_TIMEOUT, p.connect())
            .await
            .map_err(|_| "connecting timed out".to_owned())?
            .map_err(|e| format!("connecting failed: {e}"))?;
    }
    p.discover_services()
        .await
        .map_err(|e| format!("service discovery failed: {e}"))?;
    p.characteristics()
        .into_iter()
        .find(|c| c.uuid == RX)
        .ok_or_else(|| "the peer has no Cairn characteristic".to_owned())
}

/// Writes packets into the peer's characteristic as they come.
async fn writer(p: Peripheral, rx_char: Characteristic, mut out: mpsc::Receiver<Vec<u8>>) {
    let mut count = 0u64;
    let mut report = Instant::now();
    while let Some(packet) = out.recv().await {
        let started = Instant::now();
        if let Err(e) = p.write(&rx_char, &packet, WriteType::WithoutResponse).await {
            tracing::debug!(error = %e, "a BLE write failed; the link ends");
            return;
        }
        count += 1;
        let took = started.elapsed();
        if took > Duration::from_millis(500) {
            tracing::debug!(?took, len = packet.len(), "a slow BLE write");
        }
        if report.elapsed() > Duration::from_secs(5) {
            tracing::debug!(writes = count, "BLE writes so far");
            report = Instant::now();
        }
    }
}

/// We dial: connect, find their characteristic, run the link as initiator.
async fn dial(
    p: Peripheral,
    identity: Arc<HopKeys>,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    packets: mpsc::Receiver<Vec<u8>>,
    clock: Instant,
) {
    let rx_char = match characteristic(&p).await {
        Ok(c) => c,
        Err(why) => {
            tracing::debug!(%why, "could not reach a Cairn peer over BLE");
            return;
        }
    };
    let mtu = usize::from(p.mtu());
    drive(
        p,
        rx_char,
        Role::Initiator,
        mtu,
        identity,
        ids,
        events,
        packets,
        clock,
    )
    .await;
}

/// They dialled us: find their characteristic over the same connection and
/// answer as responder.
#[allow(clippy::too_many_arguments)]
async fn answer(
    central: CentralAdapter,
    from: [u8; 6],
    mtu: usize,
    identity: Arc<HopKeys>,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    packets: mpsc::Receiver<Vec<u8>>,
    clock: Instant,
) {
    let Ok(all) = central.peripherals().await else {
        return;
    };
    let Some(p) = all.into_iter().find(|p| p.address().into_inner() == from) else {
        tracing::debug!("a BLE peer wrote to us but is not a known device");
        return;
    };
    let rx_char = match characteristic(&p).await {
        Ok(c) => c,
        Err(why) => {
            tracing::debug!(%why, "could not answer a Cairn peer over BLE");
            return;
        }
    };
    // The ATT MTU the peer's write came with is this connection's.
    let mtu = if mtu >= super::arq::MIN_ATT_MTU {
        mtu
    } else {
        usize::from(p.mtu())
    };
    drive(
        p,
        rx_char,
        Role::Responder,
        mtu,
        identity,
        ids,
        events,
        packets,
        clock,
    )
    .await;
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    p: Peripheral,
    rx_char: Characteristic,
    role: Role,
    mtu: usize,
    identity: Arc<HopKeys>,
    ids: LinkIds,
    events: mpsc::Sender<LinkEvent>,
    packets: mpsc::Receiver<Vec<u8>>,
    clock: Instant,
) {
    let core = match BleLink::new(clock.elapsed(), role, &identity, mtu, BLE_FRAME_MTU) {
        Ok(c) => c,
        Err(reason) => {
            tracing::warn!(%reason, "a BLE link could not start");
            return;
        }
    };
    // A short queue to the writer: the ARQ times a packet from when it is
    // taken, so it must not wait long behind others before it is written.
    let (out_tx, out_rx) = mpsc::channel(2);
    let write = tokio::spawn(writer(p.clone(), rx_char, out_rx));
    let id = ids.next();
    tracing::debug!(link = %id, mtu, ?role, "BLE link starting");
    let reason = driver::run(core, id, clock, packets, out_tx, events).await;
    tracing::debug!(link = %id, %reason, "BLE link down");
    write.abort();
    if role == Role::Initiator {
        let _ = p.disconnect().await;
    }
}

/// One line of `cairn doctor`: what was checked, and what was found (or why
/// it failed).
pub type Check = (String, Result<String, String>);

/// Checks whether Bluetooth LE can work here: D-Bus and bluetoothd, the
/// adapter, whether it is powered, and whether it can advertise.
pub async fn doctor(adapter: Option<&str>) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    let session = match bluer::Session::new().await {
        Ok(s) => {
            out.push(("system D-Bus and bluetoothd".into(), Ok("reachable".into())));
            s
        }
        Err(e) => {
            out.push(("system D-Bus and bluetoothd".into(), Err(explain(&e))));
            return out;
        }
    };
    match session.adapter_names().await {
        Ok(names) if names.is_empty() => {
            out.push(("adapters".into(), Err("no Bluetooth adapter found".into())));
            return out;
        }
        Ok(names) => out.push(("adapters".into(), Ok(names.join(", ")))),
        Err(e) => {
            out.push(("adapters".into(), Err(explain(&e))));
            return out;
        }
    }
    let chosen = match adapter {
        Some(name) => session.adapter(name),
        None => session.default_adapter().await,
    };
    let a = match chosen {
        Ok(a) => a,
        Err(e) => {
            out.push(("adapter".into(), Err(explain(&e))));
            return out;
        }
    };
    let address = a.address().await.map(|x| x.to_string()).unwrap_or_default();
    out.push(("adapter".into(), Ok(format!("{} ({address})", a.name()))));
    match a.is_powered().await {
        Ok(true) => out.push(("powered".into(), Ok("yes".into()))),
        Ok(false) => out.push((
            "powered".into(),
            Err("no: the node powers it on when it starts (if rfkill allows)".into()),
        )),
        Err(e) => out.push(("powered".into(), Err(explain(&e)))),
    }
    match a.supported_advertising_instances().await {
        Ok(n) if n > 0 => out.push(("LE advertising".into(), Ok(format!("{n} instances")))),
        Ok(_) => out.push((
            "LE advertising".into(),
            Err("the adapter cannot advertise".into()),
        )),
        Err(e) => out.push(("LE advertising".into(), Err(explain(&e)))),
    }
    out
}
