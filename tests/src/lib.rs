//! Harness for end-to-end tests: real `cairn` processes, in network
//! namespaces the test creates and removes.
//!
//! A [`Lab`] is a private Ethernet: a "switch" namespace holding a bridge, and
//! one namespace per host joined to it by a veth pair, with a route for
//! multicast so mDNS crosses the bridge. Nothing touches the host's own
//! network. Creating namespaces needs root (CI runs as root).

// A test harness: failing loudly on anything unexpected is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod xmpp;

/// The passphrase every test profile uses.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The `cairn` binary built alongside the tests.
pub fn cairn_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CAIRN_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> → target/<profile>/cairn
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join("cairn");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p cairn-node)",
        bin.display()
    );
    bin
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// `scripts/package --debug --no-build` into `out`: the `cairn` and
/// `cairn-gui` packages of the binaries the tests use.
pub fn debian_packages(out: &Path) -> [PathBuf; 2] {
    let target = cairn_bin()
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_owned();
    let done = Command::new(repo().join("scripts/package"))
        .args(["--debug", "--no-build", "--out"])
        .arg(out)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(repo())
        .output()
        .expect("run scripts/package");
    assert!(
        done.status.success(),
        "scripts/package: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("packages")
        .map(|e| e.expect("a package").path())
        .collect();
    ["cairn", "cairn-gui"].map(|name| {
        debs.iter()
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}_")))
            })
            .unwrap_or_else(|| panic!("no {name} package in {debs:?}"))
            .clone()
    })
}

static LABS: AtomicU32 = AtomicU32::new(0);

/// A private L2 network of namespaces. Removed on drop.
pub struct Lab {
    tag: String,
    switches: Vec<String>,
    hosts: Vec<String>,
}

impl Lab {
    /// `hosts` namespaces on one bridge.
    pub fn new(hosts: usize) -> Self {
        Self::with_bridges(&vec![vec![0]; hosts])
    }

    /// One namespace per entry of `membership`, attached to the bridges it
    /// lists (bridge numbers from 0). Bridge `b` is subnet 10.b.0.0/24 and
    /// host `h` is 10.b.0.(h+1) on it.
    pub fn with_bridges(membership: &[Vec<usize>]) -> Self {
        assert!(
            unsafe_is_root(),
            "network-namespace tests need root (CI runs as root); run with sudo"
        );
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        // Unique across concurrent test processes: pid, counter and a random part.
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(n);
            h.finish() as u32
        };
        let tag = format!("{:x}{n:x}{random:08x}", std::process::id());
        let bridges = membership.iter().flatten().max().map_or(0, |m| m + 1);
        let mut lab = Lab {
            tag: tag.clone(),
            switches: Vec::new(),
            hosts: Vec::new(),
        };
        for b in 0..bridges {
            let sw = format!("cs{tag}-{b}");
            sh(&["ip", "netns", "add", &sw]);
            sh(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"]);
            sh(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
            lab.switches.push(sw);
        }
        for (h, nets) in membership.iter().enumerate() {
            let ns = format!("ch{tag}-{h}");
            sh(&["ip", "netns", "add", &ns]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            for &b in nets {
                // Both ends are created inside their namespaces, so names only
                // need to be unique there, never in the host's namespace.
                let inside = format!("e{b}");
                let outside = format!("h{h}b{b}");
                sh(&[
                    "ip",
                    "link",
                    "add",
                    &inside,
                    "netns",
                    &ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &outside,
                    "netns",
                    &lab.switches[b],
                ]);
                sh(&[
                    "ip",
                    "-n",
                    &lab.switches[b],
                    "link",
                    "set",
                    &outside,
                    "master",
                    "br0",
                ]);
                sh(&["ip", "-n", &lab.switches[b], "link", "set", &outside, "up"]);
                let addr = format!("10.{b}.0.{}/24", h + 1);
                sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", &inside]);
                sh(&["ip", "-n", &ns, "link", "set", &inside, "up"]);
                // One multicast route per interface (metrics tell them apart).
                let metric = (b + 1).to_string();
                sh(&[
                    "ip",
                    "-n",
                    &ns,
                    "route",
                    "add",
                    "224.0.0.0/4",
                    "dev",
                    &inside,
                    "metric",
                    &metric,
                ]);
            }
            lab.hosts.push(ns);
        }
        lab
    }

    pub fn host(&self, h: usize) -> &str {
        &self.hosts[h]
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(&self.switches) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn unsafe_is_root() -> bool {
    // Reading our own effective uid without libc: /proc/self/status.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// One Cairn user: a profile directory and, while running, a node process.
pub struct Peer {
    pub name: String,
    dir: tempfile::TempDir,
    netns: Option<String>,
    run_args: Vec<String>,
    command: String,
    child: Option<Child>,
    runs: u32,
    /// Run the node under strace, recording its socket calls here.
    trace: Option<PathBuf>,
}

impl Peer {
    /// Creates a profile named `name`; the node will run in `netns` (or in
    /// the test's own namespace when `None`).
    pub fn new(name: &str, netns: Option<&str>) -> Self {
        let peer = Self::empty(name, netns);
        let out = peer.cli(&["init", "--name", name]);
        assert!(out.status.success(), "init failed: {}", stderr(&out));
        peer
    }

    /// Moves the (stopped) node to another namespace: someone walking from
    /// one network to another.
    pub fn move_to(&mut self, netns: &str) {
        assert!(self.child.is_none(), "stop {} before moving it", self.name);
        self.netns = Some(netns.to_owned());
    }

    /// A profile directory with no profile in it yet (for `cairn restore`).
    pub fn empty(name: &str, netns: Option<&str>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-{name}-"))
            .tempdir()
            .expect("temp dir");
        Self {
            name: name.to_owned(),
            dir,
            netns: netns.map(str::to_owned),
            run_args: Vec::new(),
            command: "run".to_owned(),
            child: None,
            runs: 0,
            trace: None,
        }
    }

    /// Extra arguments for `cairn run`.
    pub fn with_run_args(mut self, args: &[&str]) -> Self {
        self.run_args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// From the next start on, runs the node under `strace -f`, writing
    /// every `connect`, `sendto`, `sendmsg` and `bind` it makes to `file`
    /// (an attempt to reach anywhere shows there even when no packet can
    /// leave; see [`inet_destinations`]).
    pub fn trace_sockets_to(&mut self, file: &Path) {
        self.trace = Some(file.to_owned());
    }

    /// Runs `cairn gateway ARGS` instead of `cairn run`.
    pub fn as_gateway(mut self, args: &[&str]) -> Self {
        self.command = "gateway".to_owned();
        self.run_args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn profile(&self) -> &Path {
        self.dir.path()
    }

    pub fn store_path(&self) -> PathBuf {
        self.profile().join("cairn.redb")
    }

    pub fn log_path(&self, run: u32) -> PathBuf {
        self.dir.path().join(format!("run-{run}.log"))
    }

    /// Runs a CLI command against this profile (from the test's namespace:
    /// the control socket is a file).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_env(args, &[("CAIRN_PASSPHRASE", PASSPHRASE)])
    }

    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(cairn_bin());
        cmd.arg("--profile").arg(self.profile()).args(args);
        cmd.env_remove("CAIRN_PASSPHRASE");
        // Tests read the English sentences, whatever the machine's locale.
        cmd.env("CAIRN_LANG", "en-US");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).output().expect("run cairn")
    }

    /// Starts a long-running CLI command (`watch`) with its stdout piped.
    pub fn spawn_cli(&self, args: &[&str]) -> std::process::Child {
        Command::new(cairn_bin())
            .arg("--profile")
            .arg(self.profile())
            .args(args)
            .env("CAIRN_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cairn")
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{}: `cairn {}` failed: {}",
            self.name,
            args.join(" "),
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.push("--json");
        serde_json::from_str(&self.ok(&full)).expect("JSON output")
    }

    /// Starts `cairn run` and waits until its control socket answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.runs += 1;
        let log = std::fs::File::create(self.log_path(self.runs)).expect("log file");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                c
            }
            None => Command::new("env"),
        };
        if let Some(file) = &self.trace {
            cmd.args([
                "strace",
                "-f",
                "-qq",
                "-e",
                "trace=connect,sendto,sendmsg,bind",
                "-o",
            ])
            .arg(file);
        }
        cmd.arg(cairn_bin());
        cmd.arg("--profile")
            .arg(self.profile())
            .arg(&self.command)
            .args(&self.run_args);
        // Tests stay off the radio: on a machine with Bluetooth the nodes
        // would advertise for real. (The BLE tests run in their own VM.)
        if self.command == "run" {
            cmd.arg("--no-ble");
        }
        cmd.env("CAIRN_PASSPHRASE", PASSPHRASE)
            .env("CAIRN_LOG", "info,cairn=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn cairn run"));
        let ok = wait_until(Duration::from_secs(30), || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited at start ({status}):\n{}",
                    self.name,
                    self.log(self.runs)
                );
            }
            self.cli(&["status", "--json"]).status.success()
        });
        assert!(
            ok,
            "{} did not become ready:\n{}",
            self.name,
            self.log(self.runs)
        );
    }

    /// The node's process id (under strace: strace's child).
    pub fn pid(&self) -> Option<u32> {
        let child = self.child.as_ref()?.id();
        if self.trace.is_none() {
            return Some(child);
        }
        let out = Command::new("pgrep")
            .args(["-P", &child.to_string()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops the node gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        let pid = self.pid();
        if let Some(mut child) = self.child.take() {
            let target = pid.unwrap_or(child.id());
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(target.to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not stop on SIGTERM", self.name);
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if self.trace.is_some()
            && let Some(pid) = self.pid()
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self, run: u32) -> String {
        std::fs::read_to_string(self.log_path(run)).unwrap_or_default()
    }

    pub fn all_logs(&self) -> String {
        (1..=self.runs)
            .map(|r| format!("--- {} run {r} ---\n{}", self.name, self.log(r)))
            .collect()
    }

    pub fn invite(&self) -> String {
        self.ok(&["invite"])
            .lines()
            .next()
            .expect("invite line")
            .to_owned()
    }

    pub fn id(&self) -> String {
        self.json(&["status"])["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub fn add(&self, other: &Peer) {
        self.ok(&["add", &other.invite(), "--alias", &other.name]);
    }

    pub fn send(&self, to: &str, text: &str) -> String {
        self.ok(&["send", to, text]).trim().to_owned()
    }

    /// The conversation with `with`, without marking anything read (so
    /// senders' states stay at "delivered" unless a test reads on purpose).
    pub fn messages(&self, with: &str) -> Vec<Value> {
        self.json(&["messages", with, "--peek"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The message `id` of the conversation with `with`, as `cairn messages
    /// --json` shows it.
    pub fn message(&self, with: &str, id: &str) -> Option<Value> {
        self.messages(with).into_iter().find(|m| m["id"] == id)
    }

    /// Texts received from `with`, in order.
    pub fn received(&self, with: &str) -> Vec<String> {
        self.messages(with)
            .iter()
            .filter(|m| m["direction"] == "in")
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn state_of(&self, with: &str, text: &str) -> Option<String> {
        self.messages(with)
            .iter()
            .find(|m| m["text"] == text)
            .and_then(|m| m["state"].as_str().map(str::to_owned))
    }

    pub fn links(&self) -> usize {
        self.json(&["status"])["links"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// The distinct peers this node holds links to (several links to one
    /// peer count once).
    pub fn linked_peers(&self) -> std::collections::BTreeSet<String> {
        self.json(&["status"])["links"]
            .as_array()
            .map(|links| {
                links
                    .iter()
                    .filter_map(|l| l["peer"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Resident memory of the running node, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.pid().expect("running");
        rss_kib(pid)
    }
}

/// A message's reactions as `cairn messages --json` shows them: who ("in"
/// or "out") and which emoji.
pub fn reactions(m: &Value) -> Vec<(String, String)> {
    m["reactions"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["by"].as_str().unwrap_or_default().to_owned(),
                        r["emoji"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The multi-device issue's mailbox scenario (docs/DEVICES.md), once the
/// laptop linked `mailbox` and bob knows it: the laptop goes off, bob
/// writes and sees "held"; the laptop comes back, bob sees "delivered"; the
/// laptop has the message exactly once and the mailbox has nothing left to
/// hand over.
pub fn mailbox_holds_and_hands_over(
    laptop: &mut Peer,
    mailbox: &Peer,
    bob: &Peer,
    patience: Duration,
) {
    const TEXT: &str = "while you were away";
    laptop.stop();
    bob.send("alice", TEXT);
    assert!(
        wait_until(patience, || bob.state_of("alice", TEXT).as_deref()
            == Some("held")),
        "{:?}\n{}",
        bob.messages("alice"),
        mailbox.all_logs()
    );
    laptop.start();
    assert!(
        wait_until(patience, || bob.state_of("alice", TEXT).as_deref()
            == Some("delivered")),
        "{:?}",
        bob.messages("alice")
    );
    assert!(wait_until(patience, || mailbox.json(&["status"])["outbox"] == 0));
    assert_eq!(laptop.received("bob"), [TEXT]);
    assert_eq!(laptop.messages("bob").len(), 1, "exactly once");
}

/// Resident memory of process `pid`, in KiB. Panics when it cannot be read:
/// a reading of 0 would let a memory bound pass while the property fails.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("{}", self.all_logs());
        }
    }
}

/// `a` and `b` add each other (by invite, under their names).
pub fn befriend(a: &Peer, b: &Peer) {
    a.add(b);
    b.add(a);
}

/// Alice and bob on hosts 0 and 1 of `lab`, running, each the other's
/// contact.
pub fn two_friends(lab: &Lab) -> (Peer, Peer) {
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(1)));
    alice.start();
    bob.start();
    befriend(&alice, &bob);
    (alice, bob)
}

/// Speech as a WAV file (espeak-ng: 22 050 Hz, mono, 16 bits).
pub fn speak(text: &str, to: &Path) {
    let out = Command::new("espeak-ng")
        .arg("-w")
        .arg(to)
        .arg(text)
        .output()
        .expect("espeak-ng (apt install espeak-ng) makes the test speech");
    assert!(out.status.success(), "espeak-ng: {}", stderr(&out));
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `f` every 100 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A private Tor network (`scripts/tor-net`) in a namespace of its own that
/// has nothing but loopback, so nothing in it can reach the real Tor network.
/// Nodes run inside the same namespace. Stopped and removed on drop.
pub struct TorNet {
    ns: String,
    dir: tempfile::TempDir,
}

impl TorNet {
    pub fn start() -> Self {
        assert!(
            unsafe_is_root(),
            "the Tor tests create a network namespace: run as root"
        );
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let ns = format!("ct{:x}{n:x}", std::process::id());
        sh(&["ip", "netns", "add", &ns]);
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        let dir = tempfile::Builder::new()
            .prefix("cairn-tornet-")
            .tempdir()
            .expect("temp dir");
        let net = TorNet { ns, dir };
        let out = Command::new("ip")
            .args(["netns", "exec", &net.ns])
            .arg(Self::script())
            .arg("start")
            .arg(net.dir.path())
            .output()
            .expect("run scripts/tor-net");
        assert!(
            out.status.success(),
            "the private Tor network did not come up: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        net
    }

    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/tor-net")
    }

    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// arti's settings for this network, for `cairn run --tor-config`.
    pub fn arti_config(&self) -> PathBuf {
        self.dir.path().join("arti.toml")
    }

    /// The C tor settings for this network (DirAuthority lines and test
    /// settings), for a C tor client beside the nodes.
    pub fn torrc_base(&self) -> PathBuf {
        self.dir.path().join("torrc.base")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The ports the network's relays listen on (ORPorts and DirPorts).
    pub fn relay_ports(&self) -> Vec<u16> {
        let mut ports = Vec::new();
        for entry in std::fs::read_dir(self.dir.path())
            .expect("tor-net dir")
            .flatten()
        {
            let torrc = entry.path().join("torrc");
            let Ok(text) = std::fs::read_to_string(torrc) else {
                continue;
            };
            for line in text.lines() {
                if let Some(rest) = line
                    .strip_prefix("ORPort ")
                    .or_else(|| line.strip_prefix("DirPort "))
                    && let Some(port) = rest.rsplit(':').next().and_then(|p| p.parse().ok())
                {
                    ports.push(port);
                }
            }
        }
        ports
    }
}

/// A C tor client on a [`TorNet`] that also hosts an onion service (in
/// front of `127.0.0.1:hs_port`), as a baseline beside the nodes' arti.
/// Killed on drop, even when the test panics.
pub struct CTor {
    child: Child,
    data: PathBuf,
}

impl CTor {
    /// Starts `tor` with the network's settings (`net` is its directory),
    /// keeping its data under `scratch`; inside `netns` when given, else in
    /// the caller's namespace.
    pub fn start(
        net: &Path,
        scratch: &Path,
        netns: Option<&str>,
        socks_port: u16,
        hs_port: u16,
    ) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let data = scratch.join("ctor");
        std::fs::create_dir_all(data.join("hs")).unwrap();
        for d in [&data, &data.join("hs")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut torrc = std::fs::read_to_string(net.join("torrc.base")).unwrap();
        torrc.push_str(&format!(
            "DataDirectory {d}\nSocksPort 127.0.0.1:{socks_port}\nHiddenServiceDir {d}/hs\n\
             HiddenServicePort 80 127.0.0.1:{hs_port}\nLog notice file {d}/notice.log\n",
            d = data.display()
        ));
        std::fs::write(data.join("torrc"), torrc).unwrap();
        let mut cmd = match netns {
            // `ip netns exec` execs: the child's pid is tor's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "tor"]);
                c
            }
            None => Command::new("tor"),
        };
        let child = cmd
            .arg("-f")
            .arg(data.join("torrc"))
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start C tor");
        Self { child, data }
    }

    /// Waits until tor has bootstrapped and written its onion address;
    /// returns the address.
    pub fn wait_ready(&self) -> String {
        assert!(
            wait_until(Duration::from_secs(120), || {
                std::fs::read_to_string(self.data.join("notice.log"))
                    .is_ok_and(|l| l.contains("Bootstrapped 100%"))
                    && self.data.join("hs/hostname").exists()
            }),
            "C tor did not bootstrap"
        );
        std::fs::read_to_string(self.data.join("hs/hostname"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for CTor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TorNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(Self::script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        if std::thread::panicking() {
            for node in 0..3 {
                let log = self.dir.path().join(format!("node{node}/notice.log"));
                if let Ok(text) = std::fs::read_to_string(&log) {
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    eprintln!("--- tor node{node} ---");
                    for line in tail.iter().rev() {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }
}

/// The sockets a process holds, as `ss` shows them inside `netns`:
/// `(protocol, state, local, peer)`.
/// The internet addresses an strace log (`strace -f -e
/// trace=connect,sendto,sendmsg,bind`) shows the process trying to reach or
/// bind: (call, "address:port"), with IPv6 addresses in brackets.
pub fn inet_destinations(trace: &str) -> Vec<(String, String)> {
    fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
        let from = s.find(start)? + start.len();
        Some(&s[from..from + s[from..].find(end)?])
    }
    trace
        .lines()
        .filter(|l| l.contains("sa_family=AF_INET"))
        .filter_map(|l| {
            // "PID call(args…) = result"
            let call = l.split_whitespace().nth(1)?.split('(').next()?.to_owned();
            let port = between(l, "htons(", ")")?;
            let address = if l.contains("sa_family=AF_INET6") {
                format!("[{}]", between(l, "inet_pton(AF_INET6, \"", "\"")?)
            } else {
                between(l, "inet_addr(\"", "\"")?.to_owned()
            };
            Some((call, format!("{address}:{port}")))
        })
        .collect()
}

pub fn sockets_of(netns: &str, pid: u32) -> Vec<(String, String, String, String)> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "ss", "-H", "-tuanp"])
        .output()
        .expect("run ss");
    let tag = format!("pid={pid},");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6).then(|| (f[0].into(), f[1].into(), f[4].into(), f[5].into()))
        })
        .collect()
}
