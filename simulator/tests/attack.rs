//! Flooders in the mesh: 5 % of the people push the largest junk envelopes a
//! relay takes, with the farthest expiry and every copy, into every neighbour
//! as fast as it takes them, under a fresh identity every minute. Honest
//! delivery must lose at most 5 percentage points against the same run with
//! those people quiet. (With the eviction before the hardening issue —
//! soonest expiry first — it lost 20; docs/PERFORMANCE.md.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cairn_sim::scenario::Attack;
use cairn_sim::{Routing, Scenario, World};

#[test]
fn five_percent_flooders_cost_honest_delivery_at_most_five_points() {
    let sc =
        Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/flood-small.toml"))
            .unwrap();
    let attack = sc.attack.clone().unwrap();
    assert!(attack.flood && attack.fraction >= 0.05, "{attack:?}");
    let run = |flood: bool| {
        let mut sc = sc.clone();
        sc.attack = Some(Attack {
            flood,
            ..attack.clone()
        });
        let seed = sc.seed;
        World::new(sc, Routing::Cairn, seed).run()
    };
    let quiet = run(false);
    let flooded = run(true);
    // The attack happened and filled carriers, so eviction decided what
    // honest mail survived.
    assert!(flooded.flood_envelopes > 5_000, "{flooded:?}");
    assert!(
        flooded.max_node_store_bytes * 10 >= sc.mesh.capacity_bytes * 9,
        "carriers never filled: {flooded:?}"
    );
    assert!(quiet.delivery_ratio >= 0.95, "{quiet:?}");
    let cost = quiet.delivery_ratio - flooded.delivery_ratio;
    assert!(
        cost <= 0.05,
        "the flood cost {:.1} points: {quiet:?} vs {flooded:?}",
        cost * 100.0
    );
}
