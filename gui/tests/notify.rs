//! Desktop notifications against a real D-Bus: a private session bus
//! (`dbus-daemon`) with python-dbusmock's notification daemon on it. The
//! notifier runs in a child process started with that bus's address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "CAIRN_NOTIFY_TEST_CHILD";

/// The child's half: send one notification on the bus we were given.
#[test]
#[ignore = "the child half of a_new_message_notification_names_the_sender_not_the_text"]
fn child_sends_a_notification() {
    assert!(std::env::var(CHILD).is_ok(), "started by the test below");
    cairn_gui::notify::new_message("bob").unwrap();
}

fn python() -> &'static str {
    // Debian's python3 has python3-dbusmock; a python earlier on PATH may not.
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

#[test]
fn a_new_message_notification_names_the_sender_not_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("bus").display());
    let mut bus = Command::new("dbus-daemon")
        .args([
            "--session",
            "--nofork",
            "--nopidfile",
            "--address",
            &address,
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("dbus-daemon (Debian package dbus)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("bus").exists() {
        assert!(Instant::now() < deadline, "the session bus did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = dir.path().join("calls.log");
    let mut daemon = Command::new(python())
        .args(["-m", "dbusmock", "--template", "notification_daemon", "-l"])
        .arg(&log)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3-dbusmock");
    // Wait for the mock to own its name (its log file appears then).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.exists() {
        assert!(Instant::now() < deadline, "dbusmock did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_sends_a_notification",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = daemon.kill();
    let _ = bus.kill();
    let _ = daemon.wait();
    let _ = bus.wait();
    assert!(
        child.status.success(),
        "the notifier failed: {}",
        String::from_utf8_lossy(&child.stdout)
    );
    assert!(calls.contains("Notify"), "no Notify call: {calls}");
    assert!(calls.contains("New message from bob"), "{calls}");
    eprintln!("{calls}");
}
