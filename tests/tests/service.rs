//! The packaged service under a real systemd: `scripts/service-vm` boots
//! Debian's kernel with a Debian root in QEMU (systemd as PID 1), installs
//! the `cairn` package, starts `cairn.service` with every hardening option
//! in force, asks the node as the `cairn` user, and stops it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use cairn_tests::{debian_packages, repo};

#[test]
fn the_packaged_service_starts_answers_and_stops_under_systemd() {
    let out = tempfile::tempdir().unwrap();
    let [cli, _gui] = debian_packages(out.path());
    let vm = std::env::var("CAIRN_SERVICE_VM_DIR")
        .unwrap_or_else(|_| "/var/tmp/cairn-service-vm".into());
    let run = Command::new("bash")
        .arg(repo().join("scripts/service-vm"))
        .args(["run", &vm])
        .arg(&cli)
        .output()
        .expect("run scripts/service-vm");
    let console = String::from_utf8_lossy(&run.stdout);
    let checks: Vec<&str> = console.lines().filter(|l| l.contains("CHECK")).collect();
    assert!(
        run.status.success() && console.contains("CHECK all passed"),
        "the service failed under systemd:\n{}\n--- console ---\n{console}\n{}",
        checks.join("\n"),
        String::from_utf8_lossy(&run.stderr)
    );
    for expected in [
        "CHECK cairn is active",
        "CHECK status answered as the cairn user",
        "CHECK profile cairn 700",
        "CHECK hardening: no new privileges, seccomp filter",
        "CHECK stopped: success",
    ] {
        assert!(
            checks.iter().any(|l| l.contains(expected)),
            "{expected}: {checks:?}"
        );
    }
}
