//! Messages per second through the XMPP gateway, beside Prosody relaying
//! between two plain XMPP clients, in the same run.
//!
//! ```text
//! cargo build --release -p cairn-node
//! cargo bench -p cairn-tests --bench xmpp [-- MESSAGES]
//! ```
//!
//! Starts Debian's Prosody in a fresh loopback-only namespace, re-runs
//! itself inside it, and there:
//!
//! 1. **Prosody alone**: romeo sends MESSAGES chat messages, each asking for
//!    a delivery receipt (XEP-0184), to juliet, whose client answers each
//!    with a receipt. Time from the first send to the last receipt.
//! 2. **Through the gateway**: the same to `alice@cairn.localhost`, a Cairn
//!    node behind the gateway. A receipt comes back only once alice's node
//!    has stored the message and acknowledged it end to end, so this counts
//!    the whole way: Prosody, the component stream, the gateway's engine and
//!    durable outbox, the LAN link, alice's store, and back.
//!
//! The clients are raw c2s streams written here (SASL PLAIN on loopback),
//! so the clients cost next to nothing. Needs root and Debian's `prosody`.
//! Figures go to docs/PERFORMANCE.md by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cairn_tests::xmpp::{COMPONENT, DOMAIN, XmppNet};
use cairn_tests::{Peer, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GATEWAY_ADDR: &str = "/ip4/127.0.0.1/tcp/4801";
const ALICE_ADDR: &str = "/ip4/127.0.0.1/tcp/4802";

fn main() {
    let messages: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    match std::env::var("CAIRN_XMPPBENCH_SECRET") {
        Ok(secret_file) => inside(&secret_file, messages),
        Err(_) => {
            let net = XmppNet::start();
            for user in ["romeo", "juliet"] {
                net.register(user, "bench-pass");
            }
            let status = std::process::Command::new("ip")
                .args(["netns", "exec", net.netns()])
                .arg(std::env::current_exe().unwrap())
                .arg(messages.to_string())
                .env("CAIRN_XMPPBENCH_SECRET", net.secret_file())
                .status()
                .expect("re-run inside the namespace");
            assert!(status.success(), "the benchmark failed");
        }
    }
}

fn inside(secret_file: &str, n: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();

    // 1. Prosody between two plain clients.
    let plain = rt.block_on(async {
        let mut juliet = Client::login("juliet").await;
        let mut romeo = Client::login("romeo").await;
        let answer = tokio::spawn(async move { juliet.answer_receipts(n).await });
        let took = romeo.blast(&format!("juliet@{DOMAIN}"), n).await;
        answer.await.unwrap();
        took
    });
    report("Prosody, client to client", n, plain);

    // 2. Through the gateway to a Cairn node.
    let mut gateway = Peer::new("gateway", None).as_gateway(&[
        "--domain",
        COMPONENT,
        "--secret-file",
        secret_file,
        "--listen",
        GATEWAY_ADDR,
        "--no-mdns",
    ]);
    std::fs::write(
        gateway.profile().join("config.toml"),
        "[gateway]\nrate_per_minute = 600000000\nburst = 1000000\n",
    )
    .unwrap();
    gateway.start();
    let gw_id = gateway.json(&["status"])["lan"]["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut alice = Peer::new("alice", None).with_run_args(&[
        "--no-mdns",
        "--listen",
        ALICE_ADDR,
        "--bootstrap",
        &format!("{GATEWAY_ADDR}/p2p/{gw_id}"),
    ]);
    alice.start();
    alice.add(&gateway);
    alice.ok(&["bridge", "join", "gateway", "--alias", "alice"]);
    assert!(
        wait_until(
            Duration::from_secs(30),
            || alice.json(&["status"])["bridges"][0]["address"] == format!("alice@{COMPONENT}")
        ),
        "alice never joined the gateway"
    );
    let bridged = rt.block_on(async {
        let mut romeo = Client::login("romeo").await;
        // One message first, so the session with alice is up.
        romeo.blast(&format!("alice@{COMPONENT}"), 1).await;
        romeo.blast(&format!("alice@{COMPONENT}"), n).await
    });
    report("through the gateway to a Cairn node", n, bridged);
    println!(
        "gateway/Prosody: {:.2}× the time",
        bridged.as_secs_f64() / plain.as_secs_f64()
    );
    println!(
        "RSS at the end: gateway {} MiB, alice {} MiB",
        gateway.rss_kib() / 1024,
        alice.rss_kib() / 1024
    );
    alice.stop();
    gateway.stop();
}

fn report(what: &str, n: usize, took: Duration) {
    println!(
        "{what}: {n} messages with receipts in {:.2} s = {:.0} msg/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
}

/// A plain XMPP client: a c2s stream on loopback, logged in and available.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn login(user: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", cairn_tests::xmpp::C2S_PORT))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = Self {
            stream,
            buf: Vec::new(),
        };
        c.open().await;
        let plain = data_encoding::BASE64.encode(format!("\0{user}\0bench-pass").as_bytes());
        c.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
        ))
        .await;
        c.until("<success").await;
        c.open().await;
        c.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>").await;
        c.until("</iq>").await;
        c.send("<presence/>").await;
        c
    }

    async fn open(&mut self) {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream to='{DOMAIN}' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        ))
        .await;
        self.until("</stream:features>").await;
    }

    async fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).await.unwrap();
    }

    /// Reads until `pattern` has been seen; keeps what follows it.
    async fn until(&mut self, pattern: &str) {
        loop {
            if let Some(i) = find(&self.buf, pattern.as_bytes()) {
                self.buf.drain(..i + pattern.len());
                return;
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let k = tokio::time::timeout(Duration::from_secs(120), self.stream.read(&mut chunk))
            .await
            .expect("the server went quiet")
            .unwrap();
        assert!(k > 0, "the server closed the stream");
        self.buf.extend_from_slice(&chunk[..k]);
    }

    /// Sends `n` messages asking for receipts while counting the receipts
    /// that come back; returns the time until the last.
    async fn blast(&mut self, to: &str, n: usize) -> Duration {
        let start = Instant::now();
        let (mut rd, mut wr) = self.stream.split();
        let writer = async {
            let mut batch = String::with_capacity(64 * 1024);
            for i in 0..n {
                batch.push_str(&format!(
                    "<message type='chat' to='{to}' id='b{i}'><body>message number {i} of the benchmark</body><request xmlns='urn:xmpp:receipts'/></message>"
                ));
                if batch.len() > 60_000 || i + 1 == n {
                    wr.write_all(batch.as_bytes()).await.unwrap();
                    batch.clear();
                }
            }
        };
        let mut buf = std::mem::take(&mut self.buf);
        let reader = async {
            let p = b"<received";
            let mut seen = 0;
            let mut chunk = vec![0u8; 65536];
            while seen < n {
                while let Some(i) = find(&buf, p) {
                    buf.drain(..i + p.len());
                    seen += 1;
                }
                if seen < n {
                    // Keep a tail that may hold the start of a split pattern.
                    let keep = buf.len().min(p.len() - 1);
                    buf.drain(..buf.len() - keep);
                    let k = tokio::time::timeout(Duration::from_secs(120), rd.read(&mut chunk))
                        .await
                        .unwrap_or_else(|_| panic!("only {seen} of {n} receipts came back"))
                        .unwrap();
                    assert!(k > 0, "the server closed the stream");
                    buf.extend_from_slice(&chunk[..k]);
                }
            }
        };
        tokio::join!(writer, reader);
        self.buf = buf;
        start.elapsed()
    }

    /// Answers `n` receipt requests, as a client does.
    async fn answer_receipts(&mut self, n: usize) {
        let mut answered = 0;
        let mut replies = String::new();
        while answered < n {
            // Each message: its from and id, then its end.
            while let Some(end) = find(&self.buf, b"</message>") {
                let stanza = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + b"</message>".len());
                let (Some(from), Some(id)) = (attr(&stanza, "from"), attr(&stanza, "id")) else {
                    continue;
                };
                if stanza.contains("urn:xmpp:receipts") && stanza.contains("<body") {
                    replies.push_str(&format!(
                        "<message to='{from}' id='r{id}'><received xmlns='urn:xmpp:receipts' id='{id}'/></message>"
                    ));
                    answered += 1;
                }
            }
            if !replies.is_empty() {
                let all = std::mem::take(&mut replies);
                self.send(&all).await;
            }
            if answered < n {
                self.fill().await;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of `name='…'` (or "…") in the first tag of `stanza`.
fn attr(stanza: &str, name: &str) -> Option<String> {
    let start = stanza.find("<message")?;
    let tag_end = stanza[start..].find('>')? + start;
    let tag = &stanza[start..tag_end];
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let rest = &tag[at + 1..];
    Some(rest[..rest.find(quote)?].to_owned())
}
