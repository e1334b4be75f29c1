//! The simulator's own sanity: on the small scenario, Cairn's routing
//! delivers what flooding delivers with far fewer copies, and beats direct
//! delivery. (The real comparison, on shutdown-square, is a benchmark:
//! docs/PERFORMANCE.md.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cairn_sim::{Metrics, Routing, Scenario, World};

fn small() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/small.toml")).unwrap()
}

/// One routing on the small scenario, seed 5.
fn on_small(routing: Routing) -> Metrics {
    World::new(small(), routing, 5).run()
}

#[test]
fn cairn_routing_delivers_like_flooding_with_fewer_copies() {
    let cairn = on_small(Routing::Cairn);
    let flood = on_small(Routing::Epidemic);
    let direct = on_small(Routing::Direct);
    assert!(
        cairn.delivery_ratio >= 0.95 * flood.delivery_ratio,
        "{cairn:?} vs {flood:?}"
    );
    // Was 0.5 until mesh messages were sealed in a ratchet session (offline
    // forward secrecy issue): flooding's count here then fell by a quarter
    // (213.9 → 162.8 per delivered, seed 5) while Cairn's fell 8 %
    // (90.6 → 83.4). Forcing the old static sealing brings flooding back to
    // 223, so the drop follows the sealing, not the routing. The cause, as
    // the code reads: a static envelope reopens on every duplicate copy, and
    // `engine/messages.rs::on_text` acknowledges a duplicate again — through
    // the mesh, a new envelope — which flooding (many duplicates, no
    // delivery proofs) multiplied into a storm of receipts. A ratchet
    // message opens once. Checked: static sealing with duplicates not
    // acknowledged again through the mesh gives flooding 161 — the storm
    // was in the baseline, not in Cairn. Figures in docs/PERFORMANCE.md.
    assert!(
        cairn.transmissions_per_delivered < 0.6 * flood.transmissions_per_delivered,
        "{cairn:?} vs {flood:?}"
    );
    assert!(cairn.delivery_ratio >= direct.delivery_ratio);
}

/// PRoPHET, the literature's baseline: it must behave as one — more than
/// direct delivery delivers, with fewer copies than flooding — or the
/// comparison against it means nothing. It names recipients in the clear
/// (its tags are public), so it is never a node's policy.
#[test]
fn prophet_sits_between_direct_delivery_and_flooding() {
    let prophet = on_small(Routing::Prophet);
    let flood = on_small(Routing::Epidemic);
    let direct = on_small(Routing::Direct);
    assert!(
        prophet.delivery_ratio > direct.delivery_ratio,
        "{prophet:?} vs {direct:?}"
    );
    assert!(
        prophet.transmissions_per_delivered < 0.5 * flood.transmissions_per_delivered,
        "{prophet:?} vs {flood:?}"
    );
    assert!(
        prophet.transmissions_per_delivered > direct.transmissions_per_delivered,
        "PRoPHET never forwarded: {prophet:?}"
    );
}

#[test]
fn plots_are_written() {
    let sc = small();
    let m = World::new(sc.clone(), Routing::Cairn, 1).run();
    let dir = tempfile::tempdir().unwrap();
    cairn_sim::plot::write(dir.path(), &[m], sc.duration_s as f64).unwrap();
    for f in ["delivery.png", "latency_cdf.png"] {
        let bytes = std::fs::read(dir.path().join(f)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{f} is not a PNG");
    }
}

#[test]
fn bad_scenarios_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (text, reason) in [
        (
            "name = \"x\"\n[nodes]\ncount = 1\n[ble]\nrange_m=1.0\nbandwidth_bps=1.0\nlatency_ms=1.0\nloss=0.0\n",
            "nodes.count must be 2..=",
        ),
        ("name = \"x\"\n", "no medium"),
        (
            "name = \"x\"\n[ble]\nrange_m=-1.0\nbandwidth_bps=1.0\nlatency_ms=1.0\nloss=0.0\n",
            "ble.range_m must be above 0",
        ),
        (
            "name = \"x\"\n[ble]\nrange_m=30.0\nbandwidth_bps=1.0\nlatency_ms=1.0\nloss=1.5\n",
            "ble.loss",
        ),
        (
            "name = \"x\"\n[mobility]\nspeed_min_mps=3.0\nspeed_max_mps=1.0\n[ble]\nrange_m=30.0\nbandwidth_bps=1.0\nlatency_ms=1.0\nloss=0.0\n",
            "speed_min_mps must not exceed",
        ),
        (
            "name = \"x\"\n[nodes]\ncount = 100000000\n[ble]\nrange_m=30.0\nbandwidth_bps=1.0\nlatency_ms=1.0\nloss=0.0\n",
            "nodes.count must be 2..=",
        ),
        ("name = \"x\"\nbogus = 1\n", "unknown field"),
    ] {
        let p = dir.path().join("s.toml");
        std::fs::write(&p, text).unwrap();
        let e = Scenario::load(&p).unwrap_err().to_string();
        assert!(e.contains(reason), "{e}");
    }
}
