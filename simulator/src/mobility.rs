//! How people move: random waypoint (walk to a random point at a random
//! speed, pause, repeat), and groups who walk together (members keep a small
//! offset from their leader).

use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::scenario::{Area, Mobility};

#[derive(Debug, Clone)]
pub struct Walker {
    pub pos: (f64, f64),
    target: (f64, f64),
    speed: f64,
    pause_until: f64,
    /// Group members follow this walker.
    leader: Option<usize>,
    offset: (f64, f64),
}

fn random_point(area: &Area, rng: &mut ChaCha20Rng) -> (f64, f64) {
    (
        rng.gen_range(0.0..area.width_m),
        rng.gen_range(0.0..area.height_m),
    )
}

/// Places `count` walkers, forming groups as the config asks.
pub fn place(count: usize, area: &Area, cfg: &Mobility, rng: &mut ChaCha20Rng) -> Vec<Walker> {
    let mut walkers: Vec<Walker> = (0..count)
        .map(|_| {
            let pos = random_point(area, rng);
            Walker {
                pos,
                target: pos,
                speed: 0.0,
                pause_until: 0.0,
                leader: None,
                offset: (0.0, 0.0),
            }
        })
        .collect();
    let grouped = ((count as f64) * cfg.group_fraction.clamp(0.0, 1.0)) as usize;
    let size = cfg.group_size.max(2);
    let mut i = 0;
    while i + 1 < grouped {
        let leader = i;
        for m in (i + 1)..(i + size).min(grouped) {
            walkers[m].leader = Some(leader);
            walkers[m].offset = (rng.gen_range(-3.0..3.0), rng.gen_range(-3.0..3.0));
            walkers[m].pos = (
                walkers[leader].pos.0 + walkers[m].offset.0,
                walkers[leader].pos.1 + walkers[m].offset.1,
            );
        }
        i += size;
    }
    walkers
}

/// Moves everyone by `dt` seconds.
pub fn step(
    walkers: &mut [Walker],
    dt: f64,
    now_s: f64,
    area: &Area,
    cfg: &Mobility,
    rng: &mut ChaCha20Rng,
) {
    if cfg.model == "static" {
        return;
    }
    for w in walkers.iter_mut().filter(|w| w.leader.is_none()) {
        if now_s < w.pause_until {
            continue;
        }
        let (dx, dy) = (w.target.0 - w.pos.0, w.target.1 - w.pos.1);
        let dist = (dx * dx + dy * dy).sqrt();
        let travel = w.speed * dt;
        if dist <= travel || w.speed == 0.0 {
            w.pos = w.target;
            w.pause_until = now_s + rng.gen_range(0.0..=cfg.pause_max_s.max(0.0));
            w.target = random_point(area, rng);
            w.speed = rng.gen_range(cfg.speed_min_mps..=cfg.speed_max_mps.max(cfg.speed_min_mps));
        } else {
            w.pos = (w.pos.0 + dx / dist * travel, w.pos.1 + dy / dist * travel);
        }
    }
    for i in 0..walkers.len() {
        if let Some(l) = walkers[i].leader {
            let (lx, ly) = walkers[l].pos;
            let (ox, oy) = walkers[i].offset;
            walkers[i].pos = (
                (lx + ox).clamp(0.0, area.width_m),
                (ly + oy).clamp(0.0, area.height_m),
            );
        }
    }
}
