//! What a run measured, in the names and units the project reports.

use std::collections::HashSet;

use cairn_protocol::{IdentityKey, MessageId};
use serde::Serialize;

use crate::routing::Routing;
use crate::scenario::Scenario;

/// Raw counts gathered during a run.
#[derive(Debug, Default)]
pub struct Tally {
    pub messages: usize,
    pub sent_at: Vec<u64>,
    pub delivered: HashSet<(IdentityKey, MessageId)>,
    pub delivered_at: Vec<u64>,
    pub latencies_ms: Vec<u64>,
    pub transmissions: u64,
    pub frames: u64,
    pub bytes: u64,
    pub max_store_bytes: usize,
    pub events: u64,
    pub ticks: u64,
    pub link_ups: u64,
    pub duration_ms: u64,
    pub flood_envelopes: u64,
    /// Frames a link's full send queue refused.
    pub refused_frames: u64,
    pub files: usize,
    pub files_complete: usize,
    pub group_posts: usize,
    pub group_reads: usize,
    pub group_reads_expected: usize,
    pub group_removals: usize,
    pub wire_digest: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub scenario: String,
    pub routing: String,
    pub seed: u64,
    pub nodes: usize,
    pub messages: usize,
    pub delivered: usize,
    pub delivery_ratio: f64,
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    pub transmissions_per_delivered: f64,
    pub bytes_per_delivered: f64,
    pub max_node_store_bytes: usize,
    pub link_ups: u64,
    pub events: u64,
    /// Junk envelopes attackers sent (`[attack]` with `flood`).
    #[serde(skip_serializing_if = "is_zero")]
    pub flood_envelopes: u64,
    /// Frames refused by a full link send queue.
    #[serde(skip_serializing_if = "is_zero")]
    pub refused_frames: u64,
    /// Files sent (`[traffic]` `files`), and those received whole and checked.
    #[serde(skip_serializing_if = "is_nil")]
    pub files: usize,
    #[serde(skip_serializing_if = "is_nil")]
    pub files_complete: usize,
    /// Group posts made, and reads of them by members still in the group
    /// at the end, out of all the reads there should be.
    #[serde(skip_serializing_if = "is_nil")]
    pub group_posts: usize,
    #[serde(skip_serializing_if = "is_nil")]
    pub group_reads: usize,
    #[serde(skip_serializing_if = "is_nil")]
    pub group_reads_expected: usize,
    /// Members removed by an admin.
    #[serde(skip_serializing_if = "is_nil")]
    pub group_removals: usize,
    /// A digest of every frame put on a link, with when and on which link:
    /// two runs with one seed and one scenario agree on it byte for byte.
    pub wire_digest: String,
    /// Wall-clock seconds. This and the fields below differ between
    /// identical runs; `--no-timing` leaves them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_s: Option<f64>,
    /// The process's peak resident memory so far (Linux), and that divided by
    /// the nodes: an upper bound on what one simulated node costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_node_kib: Option<f64>,
    /// Deliveries over time: (virtual second, delivered so far), for plots.
    #[serde(skip)]
    pub curve: Vec<(f64, usize)>,
    #[serde(skip)]
    pub latencies_s: Vec<f64>,
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Rounds to micro-units so that printing is stable and short.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// VmHWM from /proc/self/status, in KiB.
fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl Metrics {
    /// Leaves out everything that differs between identical runs.
    pub fn without_timing(mut self) -> Self {
        self.wall_s = None;
        self.events_per_s = None;
        self.peak_rss_mib = None;
        self.rss_per_node_kib = None;
        self
    }

    pub fn from_tally(sc: &Scenario, routing: Routing, seed: u64, t: &Tally, wall_s: f64) -> Self {
        let mut lat = t.latencies_ms.clone();
        lat.sort_unstable();
        let delivered = t.delivered.len();
        let per = |x: f64| {
            if delivered == 0 {
                0.0
            } else {
                round(x / delivered as f64)
            }
        };
        let mut at = t.delivered_at.clone();
        at.sort_unstable();
        let curve = at
            .iter()
            .enumerate()
            .map(|(i, ms)| (*ms as f64 / 1000.0, i + 1))
            .collect();
        Self {
            scenario: sc.name.clone(),
            routing: routing.name().into(),
            seed,
            nodes: sc.nodes.count,
            messages: t.messages,
            delivered,
            delivery_ratio: if t.messages == 0 {
                0.0
            } else {
                round(delivered as f64 / t.messages as f64)
            },
            latency_p50_s: round(percentile(&lat, 0.5)),
            latency_p95_s: round(percentile(&lat, 0.95)),
            transmissions_per_delivered: per(t.transmissions as f64),
            bytes_per_delivered: per(t.bytes as f64),
            max_node_store_bytes: t.max_store_bytes,
            link_ups: t.link_ups,
            events: t.events,
            flood_envelopes: t.flood_envelopes,
            refused_frames: t.refused_frames,
            files: t.files,
            files_complete: t.files_complete,
            group_posts: t.group_posts,
            group_reads: t.group_reads,
            group_reads_expected: t.group_reads_expected,
            group_removals: t.group_removals,
            wire_digest: t.wire_digest.clone(),
            wall_s: Some((wall_s * 1000.0).round() / 1000.0),
            events_per_s: Some((t.events as f64 / wall_s.max(1e-9)).round()),
            peak_rss_mib: peak_rss_kib().map(|k| (k as f64 / 1024.0).round()),
            rss_per_node_kib: peak_rss_kib().map(|k| (k as f64 / sc.nodes.count as f64).round()),
            curve,
            latencies_s: lat.iter().map(|ms| *ms as f64 / 1000.0).collect(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_nil(n: &usize) -> bool {
    *n == 0
}

/// Mean, standard deviation (of the sample) and range of one measure over
/// several seeds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Self {
                mean: 0.0,
                sd: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = if v.len() < 2 {
            0.0
        } else {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Self {
            mean: round(mean),
            sd: round(sd),
            min: round(v.iter().copied().fold(f64::INFINITY, f64::min)),
            max: round(v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        }
    }
}

/// One routing over several seeds (`cairn-sim compare --seeds N`).
#[derive(Debug, Clone, Serialize)]
pub struct OverSeeds {
    pub scenario: String,
    pub routing: String,
    pub seeds: Vec<u64>,
    pub delivery_ratio: Spread,
    pub latency_p50_s: Spread,
    pub latency_p95_s: Spread,
    pub transmissions_per_delivered: Spread,
    /// Against flooding on the same seeds, seed by seed: this routing's
    /// delivery divided by flooding's, and its transmissions (all of them,
    /// not per delivery) divided by flooding's. Absent for flooding itself
    /// and when flooding was not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_vs_flooding: Option<Spread>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transmissions_vs_flooding: Option<Spread>,
    /// Every run, in seed order.
    pub runs: Vec<Metrics>,
}

impl OverSeeds {
    /// Summarises `runs` (one routing, one per seed), beside `flooding`'s
    /// runs on the same seeds when given.
    pub fn of(runs: Vec<Metrics>, flooding: Option<&[Metrics]>) -> Self {
        let spread = |f: fn(&Metrics) -> f64| Spread::of(runs.iter().map(f));
        let against = |f: fn(&Metrics) -> f64| {
            flooding.map(|fl| {
                Spread::of(runs.iter().zip(fl).map(|(r, e)| {
                    debug_assert_eq!(r.seed, e.seed);
                    let base = f(e);
                    if base == 0.0 { 0.0 } else { f(r) / base }
                }))
            })
        };
        let total_tx = |m: &Metrics| m.transmissions_per_delivered * m.delivered as f64;
        Self {
            scenario: runs.first().map(|m| m.scenario.clone()).unwrap_or_default(),
            routing: runs.first().map(|m| m.routing.clone()).unwrap_or_default(),
            seeds: runs.iter().map(|m| m.seed).collect(),
            delivery_ratio: spread(|m| m.delivery_ratio),
            latency_p50_s: spread(|m| m.latency_p50_s),
            latency_p95_s: spread(|m| m.latency_p95_s),
            transmissions_per_delivered: spread(|m| m.transmissions_per_delivered),
            delivery_vs_flooding: against(|m| m.delivery_ratio),
            transmissions_vs_flooding: against(total_tx),
            runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_is_the_sample_mean_sd_and_range() {
        let s = Spread::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean, 5.0);
        // Sample standard deviation (n - 1): sqrt(32 / 7).
        assert!((s.sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-6, "{s:?}");
        assert_eq!((s.min, s.max), (2.0, 9.0));
        let one = Spread::of([0.5]);
        assert_eq!((one.mean, one.sd, one.min, one.max), (0.5, 0.0, 0.5, 0.5));
    }
}
