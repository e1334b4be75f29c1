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
