//! Cairn installed like real software: the Debian packages install into a
//! fresh Debian root, and the node behaves as a systemd service expects
//! (readiness, the passphrase as a credential, a config file in /etc).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_tests::{Peer, cairn_bin, debian_packages, stderr};

/// The next datagram on `socket`, or `None` after `timeout`.
fn next_notice(socket: &UnixDatagram, timeout: Duration) -> Option<String> {
    socket.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// What `Type=notify` and `LoadCredential=` need: READY=1 only once the
/// control socket answers, STOPPING=1 on SIGTERM; the store's passphrase
/// read from `$CREDENTIALS_DIRECTORY/passphrase` (no CAIRN_PASSPHRASE), and
/// the settings from `--config` / CAIRN_CONFIG instead of the profile's.
#[test]
fn the_node_runs_as_a_systemd_service_expects() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("passphrase"), "service secret\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[lan]\nenabled = false\n[ble]\nenabled = false\n").unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let profile = dir.path().join("profile");

    let mut node = Command::new(cairn_bin())
        .args([
            "--profile",
            profile.to_str().unwrap(),
            "run",
            "--name",
            "relay",
        ])
        .env_remove("CAIRN_PASSPHRASE")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("CAIRN_CONFIG", &config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("CAIRN_LANG", "en-US")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = next_notice(&notify, Duration::from_secs(60));
    let status = Command::new(cairn_bin())
        .args(["--profile", profile.to_str().unwrap(), "status", "--json"])
        .env_remove("CAIRN_PASSPHRASE")
        .output()
        .unwrap();
    if ready.is_none() {
        let _ = node.kill();
        let out = node.wait_with_output().unwrap();
        panic!("no READY=1: {}", stderr(&out));
    }
    let ready = ready.unwrap();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    // Ready means answering: the very next call is served by the node.
    assert!(status.status.success(), "{}", stderr(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["name"], "relay");
    // The config file elsewhere was read: no LAN transport.
    assert_eq!(status["lan"]["enabled"], false, "{status}");

    Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .unwrap();
    let stopping = next_notice(&notify, Duration::from_secs(15)).expect("a STOPPING notice");
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while node.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the node did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The store is sealed with the credential's passphrase (its trailing
    // newline not included).
    let peer_check = Command::new(cairn_bin())
        .args(["--profile", profile.to_str().unwrap(), "contacts"])
        .env("CAIRN_PASSPHRASE", "service secret")
        .output()
        .unwrap();
    assert!(peer_check.status.success(), "{}", stderr(&peer_check));
    let wrong = Command::new(cairn_bin())
        .args(["--profile", profile.to_str().unwrap(), "contacts"])
        .env("CAIRN_PASSPHRASE", "service secret\n")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}

/// `cairn completions` for each shell people use, and man pages for every
/// command, from the same definitions as `--help`.
#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let alice = Peer::new("alice", None);
    for shell in ["bash", "zsh", "fish"] {
        let script = alice.ok(&["completions", shell]);
        for command in ["backup", "restore", "export", "send-file", "group"] {
            assert!(script.contains(command), "{shell}: {command} missing");
        }
    }
    let bad = alice.cli(&["completions", "cmd.exe"]);
    assert!(!bad.status.success());
    let dir = tempfile::tempdir().unwrap();
    alice.ok(&["manpages", dir.path().to_str().unwrap()]);
    for page in [
        "cairn.1",
        "cairn-run.1",
        "cairn-backup.1",
        "cairn-group-send.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    let backup = std::fs::read_to_string(dir.path().join("cairn-backup.1")).unwrap();
    assert!(backup.contains("CAIRN_BACKUP_PASSPHRASE"), "{backup}");
}

/// A Debian root made once with debootstrap (minbase, systemd and what the
/// packages depend on) and kept; each test works on a fresh copy.
fn debian_root(depends: &[String]) -> PathBuf {
    let mut wanted: Vec<&str> = depends.iter().map(String::as_str).collect();
    wanted.extend(["systemd", "man-db"]);
    wanted.sort_unstable();
    wanted.dedup();
    let list = wanted.join(",");
    let base = PathBuf::from("/var/tmp/cairn-deb-root");
    let stamp = base.join("packages");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(list.as_str()) {
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let root = base.join("root");
        let out = Command::new("debootstrap")
            .args([
                "--variant=minbase",
                &format!("--include={list}"),
                "bookworm",
            ])
            .arg(&root)
            .arg(mirror())
            .output()
            .expect("debootstrap (apt install debootstrap)");
        assert!(
            out.status.success(),
            "debootstrap failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        std::fs::write(&stamp, &list).unwrap();
    }
    base.join("root")
}

/// The Debian archive this machine's apt uses (as `scripts/ble-vm` finds
/// it): the first `URIs:` of the `.sources` files, else `sources.list`.
fn mirror() -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sources"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("URIs:").map(|u| u.trim().to_owned()))
                .collect::<Vec<_>>()
        })
        .find(|uri| !uri.contains("security"))
        .or_else(|| {
            std::fs::read_to_string("/etc/apt/sources.list")
                .ok()?
                .lines()
                .find(|l| l.starts_with("deb "))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned())
}

fn package_names(depends: &str) -> Vec<String> {
    depends
        .split(',')
        .map(|d| {
            // "libc6 (>= 2.34)" or "a | b": the first alternative's name.
            d.split('|')
                .next()
                .unwrap()
                .trim()
                .split(' ')
                .next()
                .unwrap()
                .to_owned()
        })
        .filter(|d| !d.is_empty() && d != "cairn")
        .collect()
}

fn in_root(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chroot")
        .arg(root)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .env_remove("CAIRN_PASSPHRASE")
        .output()
        .unwrap()
}

/// scripts/package packs the debug build; both packages install with
/// `dpkg -i` into a fresh Debian root, where `cairn --version` runs, the man
/// pages and completions are in place, the service user and the
/// passphrase credential exist, and `systemd-analyze verify` accepts the
/// unit.
#[test]
fn the_debian_packages_install_into_a_fresh_debian() {
    let out_dir = tempfile::tempdir().unwrap();
    let [cli, gui] = debian_packages(out_dir.path());
    let field = |deb: &Path, name: &str| {
        let out = Command::new("dpkg-deb")
            .args(["-f"])
            .arg(deb)
            .arg(name)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let mut depends = package_names(&field(&cli, "Depends"));
    depends.extend(package_names(&field(&gui, "Depends")));
    assert!(depends.iter().any(|d| d == "libc6"), "{depends:?}");
    assert!(depends.iter().any(|d| d == "adduser"), "{depends:?}");

    let cached = debian_root(&depends);
    let work = tempfile::Builder::new()
        .prefix("cairn-deb-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = work.path().join("root");
    let copied = Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(&cached)
        .arg(&root)
        .status()
        .unwrap();
    assert!(copied.success());
    for deb in [&cli, &gui] {
        std::fs::copy(deb, root.join("tmp").join(deb.file_name().unwrap())).unwrap();
    }
    let install = in_root(
        &root,
        &[
            "dpkg",
            "-i",
            &format!("/tmp/{}", cli.file_name().unwrap().to_str().unwrap()),
            &format!("/tmp/{}", gui.file_name().unwrap().to_str().unwrap()),
        ],
    );
    assert!(
        install.status.success(),
        "dpkg -i failed: {}{}",
        String::from_utf8_lossy(&install.stdout),
        stderr(&install)
    );

    let version = in_root(&root, &["cairn", "--version"]);
    assert!(version.status.success(), "{}", stderr(&version));
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("cairn "),
        "{}",
        String::from_utf8_lossy(&version.stdout)
    );
    let gui_version = in_root(&root, &["cairn-gui", "--version"]);
    assert!(gui_version.status.success(), "{}", stderr(&gui_version));

    // Man pages: the source is there and man-db renders it.
    for page in ["cairn.1.gz", "cairn-backup.1.gz", "cairn-run.1.gz"] {
        assert!(
            root.join("usr/share/man/man1").join(page).exists(),
            "{page} missing"
        );
    }
    let man = in_root(&root, &["man", "-P", "cat", "cairn-restore"]);
    assert!(man.status.success(), "man: {}", stderr(&man));
    assert!(String::from_utf8_lossy(&man.stdout).contains("restore"));
    for completion in [
        "usr/share/bash-completion/completions/cairn",
        "usr/share/zsh/vendor-completions/_cairn",
        "usr/share/fish/vendor_completions.d/cairn.fish",
        "usr/share/applications/cairn.desktop",
        "usr/share/icons/hicolor/scalable/apps/cairn.svg",
        "usr/share/doc/cairn/copyright",
        "etc/cairn/config.toml",
    ] {
        assert!(root.join(completion).exists(), "{completion} missing");
    }

    // postinst: the service's user, and its passphrase readable by root only.
    let user = in_root(&root, &["getent", "passwd", "cairn"]);
    assert!(user.status.success(), "no cairn user");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("etc/cairn/passphrase"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let verify = in_root(
        &root,
        &[
            "systemd-analyze",
            "verify",
            "/lib/systemd/system/cairn.service",
        ],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        stderr(&verify)
    );
    assert!(verify.status.success(), "systemd-analyze verify: {said}");
    assert!(
        !said.contains("cairn.service"),
        "systemd-analyze has remarks on the unit: {said}"
    );
}
