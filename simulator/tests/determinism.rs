//! One scenario, one seed: one result, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(args: &[&str]) -> Vec<u8> {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/small.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-sim"))
        .args(args)
        .arg(scenario)
        .args(["--json", "--no-timing", "--seed", "11"])
        .output()
        .expect("run cairn-sim");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn two_runs_with_the_same_seed_print_identical_metrics() {
    let first = run(&["run"]);
    let second = run(&["run"]);
    assert!(!first.is_empty());
    assert_eq!(first, second, "metrics differ between identical runs");
}

#[test]
fn a_different_seed_gives_a_different_run() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/small.toml");
    let other = Command::new(env!("CARGO_BIN_EXE_cairn-sim"))
        .args(["run", scenario, "--json", "--no-timing", "--seed", "12"])
        .output()
        .expect("run cairn-sim");
    assert_ne!(run(&["run"]), other.stdout);
}

/// Phones switching off and on must not stall the clock (a switched-off
/// phone's overdue timer once fired again and again at the same instant).
#[test]
fn heavy_churn_runs_to_the_end() {
    let text = r#"
name = "churny"
duration_s = 900
seed = 3
[area]
width_m = 100.0
height_m = 100.0
[nodes]
count = 30
contacts = 4
[ble]
range_m = 30.0
bandwidth_bps = 250000.0
latency_ms = 30.0
loss = 0.05
[traffic]
messages = 60
start_s = 0
end_s = 600
text_bytes = 50
[churn]
fraction = 1.0
mean_online_s = 60.0
mean_offline_s = 30.0
"#;
    let sc = cairn_sim::Scenario::parse(text).unwrap();
    let m = cairn_sim::World::new(sc, cairn_sim::Routing::Cairn, 3).run();
    assert!(m.delivered > 0, "{m:?}");
    // One tick a second plus traffic: nowhere near a stalled loop's millions.
    assert!(m.events < 1_000_000, "{} events", m.events);
}
