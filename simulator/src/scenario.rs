//! Scenario files: TOML describing the area, the people, how they move, the
//! media that link them, the traffic, churn and partitions. Every key but
//! `name` has a default; `cairn-sim` refuses unknown keys.

use std::path::Path;

use cairn_protocol::mesh::{MeshConfig, Policy};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario {path} is invalid: {reason}")]
    Invalid { path: String, reason: String },
}

/// Bounds on what a scenario may ask for, so a typo cannot exhaust memory.
pub const MAX_NODES: usize = 1_000_000;
pub const MAX_MESSAGES: usize = 10_000_000;
pub const MAX_DURATION_S: u64 = 30 * 24 * 3600;
const MAX_SCENARIO_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default = "d_duration")]
    pub duration_s: u64,
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default)]
    pub area: Area,
    #[serde(default)]
    pub nodes: Nodes,
    #[serde(default)]
    pub mobility: Mobility,
    #[serde(default)]
    pub ble: Option<Medium>,
    #[serde(default)]
    pub hotspot: Vec<Hotspot>,
    #[serde(default)]
    pub internet: Option<Internet>,
    #[serde(default)]
    pub traffic: Traffic,
    #[serde(default)]
    pub churn: Option<Churn>,
    #[serde(default)]
    pub partition: Vec<Partition>,
    #[serde(default)]
    pub mesh: MeshSettings,
    #[serde(default)]
    pub attack: Option<Attack>,
}

fn d_duration() -> u64 {
    3600
}
fn d_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Area {
    pub width_m: f64,
    pub height_m: f64,
}

impl Default for Area {
    fn default() -> Self {
        Self {
            width_m: 1000.0,
            height_m: 1000.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nodes {
    pub count: usize,
    /// Each person has about this many contacts (mutual, chosen at random).
    pub contacts: usize,
    /// How long a phone takes to commit what it staged to its store. Writes
    /// arriving meanwhile join the next commit, as with the node's committer
    /// thread; what waits on durability (receipts) waits for it.
    pub commit_ms: u64,
}

impl Default for Nodes {
    fn default() -> Self {
        Self {
            count: 100,
            contacts: 8,
            commit_ms: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mobility {
    /// "random_waypoint" or "static".
    pub model: String,
    pub speed_min_mps: f64,
    pub speed_max_mps: f64,
    pub pause_max_s: f64,
    /// Fraction of people who walk in groups that move together.
    pub group_fraction: f64,
    pub group_size: usize,
    /// Positions and links are updated this often.
    pub tick_s: f64,
}

impl Default for Mobility {
    fn default() -> Self {
        Self {
            model: "random_waypoint".into(),
            speed_min_mps: 0.5,
            speed_max_mps: 1.5,
            pause_max_s: 120.0,
            group_fraction: 0.0,
            group_size: 4,
            tick_s: 1.0,
        }
    }
}

/// A medium's link model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Medium {
    pub range_m: f64,
    pub bandwidth_bps: f64,
    pub latency_ms: f64,
    /// Probability that a frame is lost (for Bluetooth: that one write is
    /// lost; the link's ARQ sends it again).
    pub loss: f64,
    /// Bluetooth only: the ATT MTU links negotiate.
    #[serde(default = "default_att_mtu")]
    pub att_mtu: usize,
}

fn default_att_mtu() -> usize {
    247
}

/// A Wi-Fi network without uplink: everyone within `radius_m` of the point
/// is on one LAN with everyone else there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hotspot {
    pub x_m: f64,
    pub y_m: f64,
    pub radius_m: f64,
    #[serde(default = "d_lan_bw")]
    pub bandwidth_bps: f64,
    #[serde(default = "d_lan_latency")]
    pub latency_ms: f64,
    #[serde(default)]
    pub loss: f64,
}

fn d_lan_bw() -> f64 {
    20_000_000.0
}
fn d_lan_latency() -> f64 {
    5.0
}

/// Some people have internet (through Tor): they reach their contacts who
/// have it too, slowly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Internet {
    pub fraction: f64,
    pub bandwidth_bps: f64,
    pub latency_ms: f64,
    #[serde(default)]
    pub loss: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Traffic {
    pub messages: usize,
    pub start_s: u64,
    pub end_s: u64,
    pub text_bytes: usize,
    /// Files sent, each to a contact like a text, at random times in the
    /// same window, each `file_bytes` long (chunked, asked for and checked
    /// by the real transfer code).
    pub files: usize,
    pub file_bytes: usize,
    /// Groups, each made at the start by someone with up to
    /// [`GROUP_MEMBERS`] of their contacts; `group_posts` posts by random
    /// members through the window; halfway, each group's admin removes one
    /// member (a membership change, a new epoch key).
    pub groups: usize,
    pub group_posts: usize,
}

/// Members a simulated group starts with, the admin included.
pub const GROUP_MEMBERS: usize = 6;

impl Default for Traffic {
    fn default() -> Self {
        Self {
            messages: 200,
            start_s: 0,
            end_s: 1800,
            text_bytes: 80,
            files: 0,
            file_bytes: 64 * 1024,
            groups: 0,
            group_posts: 0,
        }
    }
}

/// People switch their device off and on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    pub fraction: f64,
    pub mean_online_s: f64,
    pub mean_offline_s: f64,
}

/// A wall at `x_m`: between `start_s` and `end_s` nothing links across it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub start_s: u64,
    pub end_s: u64,
    pub x_m: f64,
}

/// Some people are attackers: they write to no one, carry nothing for
/// anyone, and — with `flood` — push junk envelopes into every neighbour as
/// fast as it takes them, under a fresh identity every `rotate_s`. With
/// `flood = false` the same people are honest relays who write to no one:
/// the baseline the flood is measured against (same seed, same walks).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Attack {
    pub fraction: f64,
    pub flood: bool,
    /// Sealed bytes per junk envelope (65 535 at most, the largest a relay takes).
    pub envelope_bytes: usize,
    /// Junk envelopes per minute on each link (a stranger's are taken up to
    /// `strangers_per_minute`, 120 by default; more are refused on arrival).
    pub per_minute: u32,
    /// A fresh identity this often: the attacker drops its links, and they
    /// come back up under the new one.
    pub rotate_s: u64,
    /// The expiry the junk claims (the farthest a relay takes is 7 days).
    pub ttl_s: u64,
}

impl Default for Attack {
    fn default() -> Self {
        Self {
            fraction: 0.05,
            flood: true,
            envelope_bytes: 65_535,
            per_minute: 120,
            rotate_s: 60,
            ttl_s: 7 * 24 * 3600 - 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshSettings {
    /// Copies a spray-and-wait envelope starts with.
    pub copies: u16,
    /// What each relay carries for others, in bytes.
    pub capacity_bytes: usize,
    pub ttl_s: u64,
    pub hop_limit: u8,
    /// The flooding baseline's hop limit (bitchat uses 7).
    pub flood_hop_limit: u8,
}

impl Default for MeshSettings {
    /// What a node runs with out of the box.
    fn default() -> Self {
        let node = MeshConfig::default();
        Self {
            copies: match node.policy {
                Policy::SprayAndWait { copies } => copies,
                _ => 1,
            },
            capacity_bytes: node.carrier.capacity_bytes,
            ttl_s: node.ttl.as_secs(),
            hop_limit: node.hop_limit,
            flood_hop_limit: 7,
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| ScenarioError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses and checks a scenario; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(format!("longer than {MAX_SCENARIO_BYTES} bytes"));
        }
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.nodes.count < 2 || self.nodes.count > MAX_NODES {
            return Err(format!("nodes.count must be 2..={MAX_NODES}"));
        }
        if self.duration_s > MAX_DURATION_S {
            return Err(format!(
                "duration_s must be at most {MAX_DURATION_S} (30 days)"
            ));
        }
        if self.traffic.messages > MAX_MESSAGES {
            return Err(format!("traffic.messages must be at most {MAX_MESSAGES}"));
        }
        if self.traffic.text_bytes > 60_000 {
            return Err("traffic.text_bytes must be at most 60000".into());
        }
        if self.traffic.files > MAX_MESSAGES || self.traffic.group_posts > MAX_MESSAGES {
            return Err(format!(
                "traffic.files and traffic.group_posts must be at most {MAX_MESSAGES}"
            ));
        }
        if self.traffic.file_bytes == 0 || self.traffic.file_bytes > 16 << 20 {
            return Err("traffic.file_bytes must be 1..=16777216".into());
        }
        if self.traffic.groups > 1024 {
            return Err("traffic.groups must be at most 1024".into());
        }
        if self.nodes.contacts >= self.nodes.count {
            return Err("nodes.contacts must be fewer than the nodes".into());
        }
        if self.hotspot.len() > 10_000 || self.partition.len() > 10_000 {
            return Err("at most 10000 hotspots and partitions".into());
        }
        let (a, m) = (&self.area, &self.mobility);
        positive("area.width_m", a.width_m, 1e7)?;
        positive("area.height_m", a.height_m, 1e7)?;
        if !["random_waypoint", "static"].contains(&m.model.as_str()) {
            return Err(format!("unknown mobility model {:?}", m.model));
        }
        positive("mobility.tick_s", m.tick_s, 3600.0)?;
        if m.tick_s < 0.01 {
            return Err("mobility.tick_s must be at least 0.01".into());
        }
        at_least_zero("mobility.speed_min_mps", m.speed_min_mps, 1000.0)?;
        at_least_zero("mobility.speed_max_mps", m.speed_max_mps, 1000.0)?;
        if m.speed_min_mps > m.speed_max_mps {
            return Err("mobility.speed_min_mps must not exceed speed_max_mps".into());
        }
        at_least_zero("mobility.pause_max_s", m.pause_max_s, 1e7)?;
        fraction("mobility.group_fraction", m.group_fraction)?;
        if m.group_size == 0 || m.group_size > 1000 {
            return Err("mobility.group_size must be 1..=1000".into());
        }
        if let Some(b) = &self.ble {
            positive("ble.range_m", b.range_m, 1e5)?;
            link("ble", b.bandwidth_bps, b.latency_ms, b.loss)?;
        }
        for h in &self.hotspot {
            positive("hotspot.radius_m", h.radius_m, 1e5)?;
            if !h.x_m.is_finite() || !h.y_m.is_finite() {
                return Err("hotspot position must be a number".into());
            }
            link("hotspot", h.bandwidth_bps, h.latency_ms, h.loss)?;
        }
        if let Some(i) = &self.internet {
            fraction("internet.fraction", i.fraction)?;
            link("internet", i.bandwidth_bps, i.latency_ms, i.loss)?;
        }
        if let Some(c) = &self.churn {
            fraction("churn.fraction", c.fraction)?;
            positive("churn.mean_online_s", c.mean_online_s, 1e7)?;
            positive("churn.mean_offline_s", c.mean_offline_s, 1e7)?;
        }
        if self
            .partition
            .iter()
            .any(|p| !p.x_m.is_finite() || p.end_s < p.start_s)
        {
            return Err("a partition needs a position and must end after it starts".into());
        }
        if self.nodes.commit_ms > 60_000 {
            return Err("nodes.commit_ms must be at most 60000".into());
        }
        if self.traffic.end_s < self.traffic.start_s || self.traffic.end_s > self.duration_s {
            return Err("traffic must start before it ends, within the run".into());
        }
        if let Some(a) = &self.attack {
            fraction("attack.fraction", a.fraction)?;
            if a.envelope_bytes > 65_535 {
                return Err("attack.envelope_bytes must be at most 65535".into());
            }
            if a.per_minute == 0 || a.per_minute > 60_000 {
                return Err("attack.per_minute must be 1..=60000".into());
            }
            if a.rotate_s == 0 || a.ttl_s == 0 {
                return Err("attack.rotate_s and attack.ttl_s must be above 0".into());
            }
        }
        if self.ble.is_none() && self.hotspot.is_empty() && self.internet.is_none() {
            return Err("no medium: give [ble], [[hotspot]] or [internet]".into());
        }
        Ok(())
    }
}

fn positive(name: &str, v: f64, max: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(format!("{name} must be above 0 and at most {max}"))
    }
}

fn at_least_zero(name: &str, v: f64, max: f64) -> Result<(), String> {
    if v.is_finite() && (0.0..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name} must be 0..={max}"))
    }
}

fn fraction(name: &str, v: f64) -> Result<(), String> {
    at_least_zero(name, v, 1.0)
}

fn link(name: &str, bandwidth_bps: f64, latency_ms: f64, loss: f64) -> Result<(), String> {
    positive(&format!("{name}.bandwidth_bps"), bandwidth_bps, 1e12)?;
    at_least_zero(&format!("{name}.latency_ms"), latency_ms, 1e7)?;
    if !(0.0..1.0).contains(&loss) {
        return Err(format!("{name}.loss must be at least 0 and below 1"));
    }
    Ok(())
}
