//! XMPP for the gateway tests: Debian's Prosody and an independent client
//! (slixmpp, `tests/xmpp/client.py`), in a loopback-only namespace of their
//! own, so nothing leaves it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::{LABS, sh, unsafe_is_root, wait_until};

pub const DOMAIN: &str = "localhost";
pub const COMPONENT: &str = "cairn.localhost";
pub const SECRET: &str = "component-secret-for-tests";
pub const C2S_PORT: u16 = 5222;
pub const COMPONENT_PORT: u16 = 5347;
/// Prosody's HTTP upload service (XEP-0363) and its port.
pub const UPLOAD: &str = "upload.localhost";
pub const HTTP_PORT: u16 = 5280;

/// A namespace with only loopback, running Prosody. Removed on drop.
pub struct XmppNet {
    ns: String,
    dir: tempfile::TempDir,
    prosody: Option<Child>,
}

impl XmppNet {
    pub fn start() -> Self {
        assert!(
            unsafe_is_root(),
            "the XMPP tests create a network namespace: run as root"
        );
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let ns = format!("cx{:x}{n:x}", std::process::id());
        sh(&["ip", "netns", "add", &ns]);
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        let dir = tempfile::Builder::new()
            .prefix("cairn-xmpp-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let config = format!(
            r#"-- Written by Cairn's tests.
run_as_root = true
data_path = "{data}"
pidfile = "{dir}/prosody.pid"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{dir}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {C2S_PORT} }}
s2s_ports = {{ 5269 }}
component_ports = {{ {COMPONENT_PORT} }}
component_interface = "127.0.0.1"
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
modules_enabled = {{ "roster", "saslauth", "disco", "ping", "offline", "private", "vcard" }}
-- HTTP upload (XEP-0363) on plain HTTP in the namespace; URLs name
-- 127.0.0.1, so nothing needs DNS.
http_ports = {{ {HTTP_PORT} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
VirtualHost "{DOMAIN}"
Component "{COMPONENT}"
    component_secret = "{SECRET}"
Component "{UPLOAD}" "http_file_share"
    http_host = "127.0.0.1"
    http_file_share_size_limit = 16777216
"#,
            data = dir.path().join("data").display(),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("prosody.cfg.lua"), config).expect("prosody config");
        let mut net = XmppNet {
            ns,
            dir,
            prosody: None,
        };
        net.start_prosody();
        net
    }

    pub fn netns(&self) -> &str {
        &self.ns
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    /// Starts Prosody and waits until its ports take connections.
    pub fn start_prosody(&mut self) {
        assert!(self.prosody.is_none(), "Prosody already runs");
        let log = std::fs::File::create(self.dir.path().join("prosody.stderr")).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "prosody", "-F", "--config"])
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn prosody");
        self.prosody = Some(child);
        let ready = wait_until(Duration::from_secs(20), || {
            self.port_open(C2S_PORT) && self.port_open(COMPONENT_PORT) && self.port_open(HTTP_PORT)
        });
        assert!(ready, "Prosody did not start:\n{}", self.prosody_log());
    }

    /// Stops Prosody (SIGTERM) and waits for it.
    pub fn stop_prosody(&mut self) {
        if let Some(mut child) = self.prosody.take() {
            // `ip netns exec` execs prosody, so the pid is Prosody's.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    pub fn prosody_log(&self) -> String {
        let mut s =
            std::fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default();
        s.push_str(
            &std::fs::read_to_string(self.dir.path().join("prosody.stderr")).unwrap_or_default(),
        );
        s
    }

    fn port_open(&self, port: u16) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "ss", "-Hltn"])
            .arg(format!("sport = :{port}"))
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    }

    /// Registers an account `user@localhost`.
    pub fn register(&self, user: &str, password: &str) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "prosodyctl", "--config"])
            .arg(self.config())
            .args(["register", user, DOMAIN, password])
            .output()
            .expect("run prosodyctl");
        assert!(
            out.status.success(),
            "prosodyctl register failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The secret file for `cairn gateway --secret-file`.
    pub fn secret_file(&self) -> PathBuf {
        let path = self.dir.path().join("component.secret");
        std::fs::write(&path, SECRET).expect("secret file");
        path
    }

    /// Logs `user@localhost` in with the independent client.
    pub fn client(&self, user: &str, password: &str) -> XmppClient {
        XmppClient::start(self, user, password)
    }
}

impl Drop for XmppNet {
    fn drop(&mut self) {
        self.stop_prosody();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// The Python interpreter that has slixmpp (`CAIRN_PYTHON`, else python3).
fn python() -> String {
    std::env::var("CAIRN_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// slixmpp logged in as an ordinary user.
pub struct XmppClient {
    pub jid: String,
    child: Child,
    stdin: ChildStdin,
    events: Arc<Mutex<Vec<Value>>>,
}

impl XmppClient {
    fn start(net: &XmppNet, user: &str, password: &str) -> Self {
        let jid = format!("{user}@{DOMAIN}");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("xmpp/client.py");
        let log = std::fs::File::create(net.dir().join(format!("{user}.stderr"))).expect("log");
        let mut child = Command::new("ip")
            .args(["netns", "exec", net.netns()])
            .arg(python())
            .arg(script)
            .args([&jid, password, &C2S_PORT.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn the XMPP client (is slixmpp installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("events").push(v);
                }
            }
        });
        let client = Self {
            jid,
            child,
            stdin,
            events,
        };
        let stderr_path = net.dir().join(format!("{user}.stderr"));
        assert!(
            client
                .wait_for(Duration::from_secs(30), |e| e["event"] == "ready")
                .is_some(),
            "the XMPP client did not log in:\n{}\n{}",
            std::fs::read_to_string(stderr_path).unwrap_or_default(),
            net.prosody_log()
        );
        client
    }

    pub fn command(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").expect("write to the XMPP client");
        self.stdin.flush().expect("flush");
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("events").clone()
    }

    /// Waits for an event matching `f`; returns it.
    pub fn wait_for(&self, timeout: Duration, f: impl Fn(&Value) -> bool) -> Option<Value> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.events().into_iter().find(|e| f(e));
            found.is_some()
        });
        found
    }

    /// Bodies of the chat messages received from `from`.
    pub fn bodies_from(&self, from: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "message" && e["from"] == from)
            .filter_map(|e| e["body"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for XmppClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
