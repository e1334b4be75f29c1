//! Scenario files: TOML describing the area, the people, how they move, the
//! media that link them, the traffic, churn and partitions. Every key but
//! `name` has a default; `cairn-sim` refuses unknown keys.

use std::path::Path;

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
    /// Probability that a frame is lost.
    pub loss: f64,
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
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            messages: 200,
            start_s: 0,
            end_s: 1800,
            text_bytes: 80,
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
    fn default() -> Self {
        Self {
            copies: 16,
            capacity_bytes: 8 * 1024 * 1024,
            ttl_s: 24 * 3600,
            hop_limit: 16,
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
        let s: Scenario = toml::from_str(&text).map_err(|e| ScenarioError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        s.validate().map_err(|reason| ScenarioError::Invalid {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.nodes.count < 2 {
            return Err("at least two nodes are needed".into());
        }
        if self.area.width_m <= 0.0 || self.area.height_m <= 0.0 {
            return Err("the area must have a positive size".into());
        }
        if !["random_waypoint", "static"].contains(&self.mobility.model.as_str()) {
            return Err(format!("unknown mobility model {:?}", self.mobility.model));
        }
        if self.mobility.tick_s <= 0.0 {
            return Err("mobility.tick_s must be positive".into());
        }
        if self.traffic.end_s < self.traffic.start_s || self.traffic.end_s > self.duration_s {
            return Err("traffic must start before it ends, within the run".into());
        }
        if self.ble.is_none() && self.hotspot.is_empty() && self.internet.is_none() {
            return Err("no medium: give [ble], [[hotspot]] or [internet]".into());
        }
        Ok(())
    }
}
