//! The CLI's surface: help everywhere, clear errors, non-zero exits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use cairn_tests::{Peer, cairn_bin, stderr};

#[test]
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["run", "--help"],
        vec!["invite", "--help"],
        vec!["add", "--help"],
        vec!["send", "--help"],
        vec!["messages", "--help"],
        vec!["contacts", "--help"],
        vec!["status", "--help"],
        vec!["verify", "--help"],
        vec!["send-file", "--help"],
        vec!["save-file", "--help"],
        vec!["doctor", "--help"],
        vec!["watch", "--help"],
        vec!["gateway", "--help"],
        vec!["bridge", "--help"],
        vec!["group", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
        vec!["export", "--help"],
        vec!["completions", "--help"],
    ] {
        let out = Command::new(cairn_bin()).args(&cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        assert!(!out.stdout.is_empty(), "{cmd:?} printed no help");
    }
}

#[test]
fn bad_input_gets_a_clear_error_and_a_nonzero_exit() {
    let alice = Peer::new("alice", None);
    let cases: [(&[&str], &str); 6] = [
        (&["watch"], "start one with `cairn run`"),
        (&["add", "https://example.org"], "cairn:"),
        (&["add", "cairn:aaaaaaaa"], "malformed"),
        (&["send", "nobody", "hi"], "no contact matches"),
        (&["messages", "nobody"], "no contact matches"),
        (&["init", "--name", "again"], "already exists"),
    ];
    for (args, expected) in cases {
        let out = alice.cli(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&out).to_lowercase().contains(expected),
            "{args:?}: {:?} lacks {expected:?}",
            stderr(&out)
        );
    }
    let own = alice.invite();
    let out = alice.cli(&["add", &own]);
    assert!(stderr(&out).contains("own invite"), "{}", stderr(&out));
}

#[test]
fn invites_verify_and_qr_work_offline() {
    let alice = Peer::new("alice", None);
    let bob = Peer::new("bob", None);
    alice.add(&bob);
    bob.add(&alice);
    // Bob's invite carried his signed prekey: a message through the mesh is
    // sealed in a ratchet session already, fully forward-secret once they meet.
    assert_eq!(
        alice.json(&["contacts"])[0]["offline"],
        "signed-prekey-only"
    );
    assert!(
        alice
            .ok(&["contacts"])
            .contains("forward-secret once you meet")
    );
    let a = alice.ok(&["verify", "bob"]);
    let b = bob.ok(&["verify", "alice"]);
    let digits = |s: &str| -> String {
        s.lines()
            .filter(|l| {
                l.chars().any(|c| c.is_ascii_digit()) && l.split_whitespace().all(|w| w.len() == 5)
            })
            .collect()
    };
    assert_eq!(
        digits(&a),
        digits(&b),
        "safety numbers differ between the two sides"
    );
    assert_eq!(digits(&a).chars().filter(char::is_ascii_digit).count(), 60);
    assert!(
        alice
            .ok(&["verify", "bob", "--confirm"])
            .contains("is verified")
    );
    assert_eq!(alice.json(&["contacts"])[0]["verified"], true);
    let qr = alice.ok(&["invite", "--qr"]);
    assert!(qr.lines().next().unwrap().starts_with("cairn:"));
    assert!(qr.lines().count() > 20, "no QR code drawn");
}

#[test]
fn the_command_line_speaks_the_users_language() {
    let alice = Peer::new("alice", None);
    let says = |env: &[(&str, &str)]| {
        let mut all = vec![("CAIRN_PASSPHRASE", cairn_tests::PASSPHRASE)];
        all.extend_from_slice(env);
        let out = alice.cli_with_env(&["contacts"], &all);
        assert!(out.status.success(), "{}", cairn_tests::stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(says(&[]).starts_with("No contacts yet."));
    assert!(says(&[("CAIRN_LANG", "fa")]).starts_with("هنوز مخاطبی ندارید."));
    assert!(says(&[("CAIRN_LANG", "zh-CN")]).starts_with("还没有联系人。"));
    assert!(says(&[("CAIRN_LANG", "my")]).starts_with("အဆက်အသွယ် မရှိသေးပါ။"));
    // Without CAIRN_LANG, the system's language (LANG, LC_ALL).
    let system = says(&[
        ("CAIRN_LANG", ""),
        ("LC_ALL", "ar_EG.UTF-8"),
        ("LANG", "ar_EG.UTF-8"),
    ]);
    assert!(system.starts_with("لا جهات اتصال بعد."), "{system}");
    // A language Cairn does not ship: English, not an error.
    assert!(says(&[("CAIRN_LANG", "xx")]).starts_with("No contacts yet."));
    // The translated sentences keep what is typed as it is.
    assert!(says(&[("CAIRN_LANG", "ru")]).contains("`cairn invite`"));
}

#[test]
fn control_socket_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut alice = Peer::new("alice", None).with_run_args(&["--no-lan"]);
    alice.start();
    let mode = std::fs::metadata(alice.profile().join("control.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir = std::fs::metadata(alice.profile())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir & 0o077, 0, "profile directory open to others");
    let store = std::fs::metadata(alice.store_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(store & 0o077, 0);
    let _ = stderr;
}

/// What a connection to the control socket as `uid` gets back for a status
/// request: the first bytes of the answer, empty when the node hung up.
fn control_answer_as(socket: &std::path::Path, uid: Option<u32>) -> String {
    use std::os::unix::process::CommandExt;
    let script = "import socket,sys\n\
                  s=socket.socket(socket.AF_UNIX)\n\
                  s.settimeout(10)\n\
                  s.connect(sys.argv[1])\n\
                  try:\n  s.sendall(b'{\"cmd\":\"status\"}\\n')\n  got=s.recv(64)\n\
                  except (ConnectionResetError, BrokenPipeError):\n  got=b''\n\
                  sys.stdout.write(got.decode('utf-8','replace'))\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).arg(socket);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "python: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// THREAT_MODEL.md "Attacks tried" 10: even with the directory and the
/// socket opened up after start, another user's connection is refused
/// (`SO_PEERCRED`); the owner's is answered.
#[test]
fn the_control_socket_answers_its_own_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut alice = Peer::new("alice", None).with_run_args(&["--no-lan"]);
    alice.start();
    let socket = alice.profile().join("control.sock");
    let open = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    open(alice.profile(), 0o755);
    open(&socket, 0o666);
    assert!(control_answer_as(&socket, None).starts_with('{'));
    assert_eq!(
        control_answer_as(&socket, Some(65534)),
        "",
        "nobody is refused"
    );
    assert!(
        alice
            .log(1)
            .contains("a connection from another user refused")
    );
    open(alice.profile(), 0o700);
}

/// THREAT_MODEL.md "Attacks tried" 10: a profile directory others can enter
/// is refused at start, with the command that fixes it.
#[test]
fn a_profile_directory_open_to_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let alice = Peer::new("alice", None);
    std::fs::set_permissions(alice.profile(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let out = alice.cli(&["run", "--no-lan", "--no-ble"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("open to other users") && err.contains("chmod 700"),
        "{err}"
    );
    std::fs::set_permissions(alice.profile(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// THREAT_MODEL.md "Attacks tried" 8: a gateway would connect to its XMPP
/// server directly; with Tor only that is refused before anything starts.
/// (The arti settings point nowhere, so a failing check cannot reach Tor.)
#[test]
fn a_gateway_with_tor_only_is_refused_before_anything_starts() {
    let gw = Peer::new("gateway", None);
    std::fs::write(
        gw.profile().join("config.toml"),
        "[tor]\nonly = true\narti_config = \"/nonexistent/arti.toml\"\n",
    )
    .unwrap();
    let out = gw.cli_with_env(
        &[
            "gateway",
            "--domain",
            "cairn.example",
            "--server",
            "127.0.0.1:9",
        ],
        &[
            ("CAIRN_PASSPHRASE", cairn_tests::PASSPHRASE),
            ("CAIRN_GATEWAY_SECRET", "s3cret"),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("--tor-only forbids"), "{err}");
}

/// THREAT_MODEL.md "Attacks tried" 15: a CLI command that found no node
/// holds the store for a moment; `cairn run` started meanwhile waits for it
/// and comes up, instead of exiting with "in use".
#[test]
fn cairn_run_waits_for_a_cli_command_that_holds_the_store() {
    let mut alice = Peer::new("alice", None).with_run_args(&["--no-lan"]);
    let held = cairn_node::Profile::at(alice.profile())
        .open(cairn_tests::PASSPHRASE.as_bytes())
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(held);
    });
    alice.start(); // panics if the node exits at start
    release.join().unwrap();
    assert!(alice.log(1).contains("waiting for it"), "it did wait");
}

#[test]
fn without_bluetooth_the_node_says_why_and_runs_on() {
    // No system bus at all (the address points nowhere), so no radio can be
    // touched whatever this machine has.
    let alice = Peer::new("alice", None);
    let nowhere = (
        "DBUS_SYSTEM_BUS_ADDRESS",
        "unix:path=/nonexistent/cairn-test-bus",
    );
    let mut node = Command::new(cairn_bin())
        .arg("--profile")
        .arg(alice.profile())
        .args(["run", "--no-lan"])
        .env("CAIRN_PASSPHRASE", cairn_tests::PASSPHRASE)
        .env(nowhere.0, nowhere.1)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let unavailable = cairn_tests::wait_until(std::time::Duration::from_secs(30), || {
        alice.cli(&["status", "--json"]).status.success()
            && alice.json(&["status"])["ble"]["state"]
                .as_str()
                .is_some_and(|s| s.starts_with("unavailable: "))
    });
    let status = alice.ok(&["status"]);
    let _ = node.kill();
    let out = node.wait_with_output().unwrap();
    assert!(unavailable, "status never said why: {status}");
    assert!(status.contains("bluetooth: unavailable"), "{status}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Bluetooth unavailable; the node runs on"),
        "no clear log line"
    );
    let doctor = alice.cli_with_env(&["doctor"], &[nowhere]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success());
    assert!(
        text.contains("FAIL  Bluetooth: system D-Bus and bluetoothd:"),
        "{text}"
    );
}
