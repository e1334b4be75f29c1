//! What an idle node costs (battery): CPU seconds per idle hour and context
//! switches (≈ wakeups) per second, each beside a baseline process measured
//! over the same seconds in the same run.
//!
//! ```text
//! cargo bench -p cairn-tests --bench idle      # BENCH_IDLE_SECONDS=120 by default
//! ```
//!
//! - **LAN only, alone**: `cairn run` (LAN with mDNS, no contacts) in a lab
//!   namespace, beside `avahi-daemon` (the mDNS responder a Linux desktop
//!   already runs) in the same namespace.
//! - **LAN, one contact linked**: the same node once a contact in a second
//!   namespace is linked (the link's keep-alives), beside avahi again.
//! - **Tor only**: `cairn run --tor-only` on a private Tor network
//!   (`scripts/tor-net`), beside a C tor client that hosts an onion service
//!   too, both bootstrapped and published.
//!
//! Counting is `perf stat -e task-clock,context-switches -p PID`, which
//! follows every thread the process has or starts. The first
//! `BENCH_SETTLE_SECONDS` (20) after start are not counted. Needs root,
//! `perf`, `avahi-daemon` and Debian's `tor`. Bluetooth's idle cost needs
//! the BlueZ VM and is not measured here. Figures go to docs/PERFORMANCE.md by
//! hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_tests::{CTor, Lab, Peer, TorNet, wait_until};

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

/// CPU time and context switches one process spent while counted.
struct Cost {
    cpu: Duration,
    switches: u64,
}

/// Counts every process in `pids` over the same `window`, side by side.
fn measure(pids: &[u32], window: Duration, scratch: &Path) -> Vec<Cost> {
    let runs: Vec<(Child, std::path::PathBuf)> = pids
        .iter()
        .map(|pid| {
            let out = scratch.join(format!("perf-{pid}.csv"));
            let child = Command::new("perf")
                .args(["stat", "-x", ",", "-e", "task-clock,context-switches"])
                .arg("-o")
                .arg(&out)
                .args(["-p", &pid.to_string(), "--", "sleep"])
                .arg(window.as_secs().to_string())
                .stdout(Stdio::null())
                .spawn()
                .expect("run perf (apt install linux-perf)");
            (child, out)
        })
        .collect();
    runs.into_iter()
        .map(|(mut child, out)| {
            assert!(child.wait().unwrap().success(), "perf stat failed");
            let text = std::fs::read_to_string(&out).unwrap();
            let field = |event: &str| -> f64 {
                text.lines()
                    .find(|l| l.split(',').nth(2) == Some(event))
                    .and_then(|l| l.split(',').next()?.parse().ok())
                    .unwrap_or_else(|| panic!("perf counted no {event}:\n{text}"))
            };
            Cost {
                cpu: Duration::from_secs_f64(field("task-clock") / 1e3),
                switches: field("context-switches") as u64,
            }
        })
        .collect()
}

/// Counts each (label, pid) over the same `window` and prints a row each.
fn report(scenario: &str, who: &[(&str, u32)], window: Duration, scratch: &Path) {
    let pids: Vec<u32> = who.iter().map(|(_, pid)| *pid).collect();
    let costs = measure(&pids, window, scratch);
    println!("{scenario} ({} s counted):", window.as_secs());
    for ((label, _), cost) in who.iter().zip(costs) {
        let per_hour = cost.cpu.as_secs_f64() * 3600.0 / window.as_secs_f64();
        println!(
            "  {label:<28} {per_hour:>7.2} CPU s per idle hour, {:>7.2} context switches/s",
            cost.switches as f64 / window.as_secs_f64()
        );
    }
}

/// avahi-daemon in `netns`, in the foreground, without D-Bus.
fn avahi(netns: &str, scratch: &Path) -> KillOnDrop {
    let conf = scratch.join("avahi-daemon.conf");
    std::fs::write(
        &conf,
        "[server]\nuse-ipv4=yes\nuse-ipv6=no\nenable-dbus=no\n\
         [publish]\npublish-hinfo=no\npublish-workstation=yes\n",
    )
    .unwrap();
    // A pid file left by an earlier run would make it refuse to start.
    let _ = std::fs::remove_file("/run/avahi-daemon/pid");
    let child = Command::new("ip")
        .args(["netns", "exec", netns, "avahi-daemon", "-f"])
        .arg(&conf)
        .args(["--no-drop-root", "--no-chroot", "--no-rlimits"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start avahi-daemon (apt install avahi-daemon)");
    KillOnDrop(child)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let window = env_secs("BENCH_IDLE_SECONDS", 120);
    let settle = env_secs("BENCH_SETTLE_SECONDS", 20);
    let scratch = tempfile::tempdir().unwrap();

    let lab = Lab::new(2);
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(1)));
    let mut mdns = avahi(lab.host(0), scratch.path());
    alice.start();
    std::thread::sleep(settle);
    assert!(
        mdns.0.try_wait().unwrap().is_none(),
        "avahi-daemon exited at start"
    );
    let lan = [
        ("cairn run", alice.pid().unwrap()),
        ("avahi-daemon (baseline)", mdns.0.id()),
    ];
    report("LAN only, no contacts", &lan, window, scratch.path());

    bob.start();
    alice.add(&bob);
    bob.add(&alice);
    let bob_id = bob.id();
    assert!(
        wait_until(Duration::from_secs(60), || alice
            .linked_peers()
            .contains(&bob_id)),
        "alice and bob never linked"
    );
    std::thread::sleep(settle);
    report("LAN only, one contact linked", &lan, window, scratch.path());
    drop((alice, bob, mdns, lab));

    let net = TorNet::start();
    let config = net.arti_config();
    let mut carol = Peer::new("carol", Some(net.netns())).with_run_args(&[
        "--tor-only",
        "--tor-config",
        config.to_str().unwrap(),
    ]);
    carol.start();
    let ctor = CTor::start(net.dir(), scratch.path(), Some(net.netns()), 9050, 8080);
    ctor.wait_ready();
    assert!(
        wait_until(Duration::from_secs(120), || carol
            .log(1)
            .contains("onion service published")),
        "carol's onion service was never published:\n{}",
        carol.log(1)
    );
    std::thread::sleep(settle);
    report(
        "Tor only, onion service published",
        &[
            ("cairn run --tor-only", carol.pid().unwrap()),
            ("C tor + onion service (baseline)", ctor.pid()),
        ],
        window,
        scratch.path(),
    );
}
