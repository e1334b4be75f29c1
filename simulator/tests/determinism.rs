//! One scenario, one seed: one result, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(args: &[&str]) -> Vec<u8> {
    run_scenario(args, "small", "11")
}

fn run_scenario(args: &[&str], name: &str, seed: &str) -> Vec<u8> {
    let scenario = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-sim"))
        .args(args)
        .arg(scenario)
        .args(["--json", "--no-timing", "--seed", seed])
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

/// Texts, files, groups (posts and a removal) and the mesh in one run: the
/// same seed gives the same frames on the wire, in the same order, at the
/// same times (`wire_digest`), and every file and group post took effect —
/// so an order that hangs on a hash map anywhere in the core shows.
#[test]
fn files_groups_and_the_mesh_run_the_same_twice() {
    let first = run_scenario(&["run"], "mixed-small", "11");
    let second = run_scenario(&["run"], "mixed-small", "11");
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "metrics or wire digest differ between identical runs"
    );
    let m: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let n = |k: &str| m[k].as_u64().unwrap_or_else(|| panic!("no {k} in {m}"));
    assert_eq!(n("files"), 6, "{m}");
    assert_eq!(n("files_complete"), n("files"), "{m}");
    assert!(n("group_posts") >= 20, "{m}");
    assert!(n("group_reads_expected") > 0, "{m}");
    assert_eq!(n("group_reads"), n("group_reads_expected"), "{m}");
    assert!(n("group_removals") >= 1, "{m}");
    // Relayed: at least some texts went through other people's phones.
    assert!(n("max_node_store_bytes") > 0, "{m}");
    assert_eq!(m["wire_digest"].as_str().map(str::len), Some(32), "{m}");
    let other = run_scenario(&["run"], "mixed-small", "12");
    let other: serde_json::Value = serde_json::from_slice(&other).unwrap();
    assert_ne!(m["wire_digest"], other["wire_digest"]);
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

/// `--seeds N` runs every routing on N seeds from the first, and each
/// seed's run is exactly the run `--seed` alone gives; the summary's mean
/// and range are those runs' own, and routings are set beside flooding
/// seed by seed.
#[test]
fn seeds_summarise_the_same_runs_one_seed_gives() {
    let out = run_scenario(&["compare", "--seeds", "2"], "small", "11");
    let summaries: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let summaries = summaries.as_array().unwrap();
    let names: Vec<&str> = summaries
        .iter()
        .map(|s| s["routing"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cairn", "epidemic", "direct", "prophet"]);
    for (seed, index) in [("12", 1)] {
        let alone: serde_json::Value =
            serde_json::from_slice(&run_scenario(&["compare"], "small", seed)).unwrap();
        for (summary, single) in summaries.iter().zip(alone.as_array().unwrap()) {
            assert_eq!(&summary["runs"][index], single, "seed {seed}");
        }
    }
    for s in summaries {
        let ratios: Vec<f64> = s["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["delivery_ratio"].as_f64().unwrap())
            .collect();
        let d = &s["delivery_ratio"];
        let mean = (ratios[0] + ratios[1]) / 2.0;
        assert!((d["mean"].as_f64().unwrap() - mean).abs() < 1e-6, "{d}");
        assert_eq!(d["min"].as_f64().unwrap(), ratios[0].min(ratios[1]));
        assert_eq!(d["max"].as_f64().unwrap(), ratios[0].max(ratios[1]));
        assert_eq!(s["seeds"], serde_json::json!([11, 12]));
        let against = s.get("delivery_vs_flooding");
        assert_eq!(against.is_some(), s["routing"] != "epidemic", "{s}");
    }
}
