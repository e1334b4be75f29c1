//! Tor on a private network, Cairn beside C tor in the same run.
//!
//! ```text
//! cargo bench -p cairn-tests --bench tor [-- TRIALS]
//! ```
//!
//! Starts `scripts/tor-net` in a fresh loopback-only namespace, re-runs itself
//! inside it, and measures there:
//!
//! - connecting to an onion service (hosted by C tor, in front of a small
//!   echo server) through arti — as the node does — and through C tor's own
//!   SOCKS port, alternating, each on fresh circuits; then bulk throughput
//!   through each;
//! - two `cairn run --tor-only` nodes: time from start to onion service
//!   published, time from the first `send` to "delivered", messages per
//!   second between them, and the nodes' RSS.
//!
//! Needs root (namespaces) and Debian's `tor`. Figures go to
//! docs/PERFORMANCE.md by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arti_client::config::{CfgPath, TorClientConfigBuilder};
use arti_client::{IsolationToken, StreamPrefs, TorClient};
use cairn_tests::{CTor, Peer, TorNet, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO_PORT: u16 = 8080;
const SOCKS_PORT: u16 = 9050;
const BULK: u64 = 8 * 1024 * 1024;

fn main() {
    let trials: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    match std::env::var("CAIRN_TORBENCH_NET") {
        Ok(dir) => inside(Path::new(&dir), trials),
        Err(_) => {
            let net = TorNet::start();
            eprintln!("private Tor network up in {}", net.dir().display());
            let status = Command::new("ip")
                .args(["netns", "exec", net.netns()])
                .arg(std::env::current_exe().unwrap())
                .arg(trials.to_string())
                .env("CAIRN_TORBENCH_NET", net.dir())
                .env("CAIRN_TORBENCH_NS", net.netns())
                .status()
                .expect("re-run inside the namespace");
            assert!(status.success(), "the benchmark failed");
        }
    }
}

fn inside(net: &Path, trials: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    rt.spawn(echo_server());
    let ctor = CTor::start(net, scratch.path(), None, SOCKS_PORT, ECHO_PORT);
    let onion = ctor.wait_ready();
    eprintln!("C tor up; its onion service is {onion}");

    let (arti_connect, c_connect, arti_bulk, c_bulk) = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = std::fs::read_to_string(net.join("arti.toml")).unwrap();
        let mut builder: TorClientConfigBuilder = toml::from_str(&text).unwrap();
        builder
            .storage()
            .state_dir(CfgPath::new_literal(scratch.path().join("arti-state")))
            .cache_dir(CfgPath::new_literal(scratch.path().join("arti-cache")));
        let arti = TorClient::create_bootstrapped(builder.build().unwrap())
            .await
            .unwrap();
        // The descriptor may not be on the HSDirs yet: wait until both
        // clients can reach the service once (not measured).
        let warm = Instant::now();
        loop {
            let a = tokio::time::timeout(Duration::from_secs(30), arti_ping(&arti, &onion)).await;
            let c = tokio::time::timeout(Duration::from_secs(30), socks_ping(&onion, 0)).await;
            if matches!(a, Ok(Ok(_))) && matches!(c, Ok(Ok(_))) {
                break;
            }
            assert!(
                warm.elapsed() < Duration::from_secs(180),
                "service never reachable"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let (mut arti_connect, mut c_connect) = (Vec::new(), Vec::new());
        for i in 0..trials {
            // Alternate who goes first, so neither always profits from
            // circuits the other warmed.
            if i % 2 == 0 {
                arti_connect.push(arti_ping(&arti, &onion).await.unwrap());
                c_connect.push(socks_ping(&onion, i + 1).await.unwrap());
            } else {
                c_connect.push(socks_ping(&onion, i + 1).await.unwrap());
                arti_connect.push(arti_ping(&arti, &onion).await.unwrap());
            }
        }
        let arti_bulk = arti_bulk(&arti, &onion).await;
        let c_bulk = socks_bulk(&onion).await;
        (arti_connect, c_connect, arti_bulk, c_bulk)
    });
    drop(ctor);

    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut a, mut c) = (arti_connect, c_connect);
    let (am, cm) = (median(&mut a), median(&mut c));
    println!(
        "## Connect to an onion service and exchange one byte ({trials} trials, fresh circuits)"
    );
    println!("arti (as in cairn): median {am:?}  all {a:?}");
    println!("C tor SOCKS:        median {cm:?}  all {c:?}");
    println!(
        "ratio arti / C tor: {:.2}",
        am.as_secs_f64() / cm.as_secs_f64()
    );
    let mib = BULK as f64 / (1024.0 * 1024.0);
    println!("## Bulk, {mib} MiB to the onion service");
    println!(
        "arti: {:.2} MiB/s   C tor SOCKS: {:.2} MiB/s",
        mib / arti_bulk.as_secs_f64(),
        mib / c_bulk.as_secs_f64()
    );

    cairn_nodes(net);
}

/// Reads a u64 length; 0 is a ping answered at once, otherwise the bytes
/// are swallowed and one byte answers when all arrived.
async fn echo_server() {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", ECHO_PORT))
        .await
        .unwrap();
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            loop {
                let Ok(len) = s.read_u64().await else { return };
                let mut left = len;
                let mut buf = vec![0u8; 64 * 1024];
                while left > 0 {
                    let n = buf.len().min(left as usize);
                    if s.read_exact(&mut buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                if s.write_all(&[1]).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn arti_stream(
    arti: &TorClient<tor_rtcompat::PreferredRuntime>,
    onion: &str,
) -> std::io::Result<arti_client::DataStream> {
    let mut prefs = StreamPrefs::new();
    prefs.set_isolation(IsolationToken::new());
    arti.connect_with_prefs((onion, 80), &prefs)
        .await
        .map_err(std::io::Error::other)
}

async fn arti_ping(
    arti: &TorClient<tor_rtcompat::PreferredRuntime>,
    onion: &str,
) -> std::io::Result<Duration> {
    let start = Instant::now();
    let mut s = arti_stream(arti, onion).await?;
    s.write_all(&0u64.to_be_bytes()).await?;
    s.flush().await?;
    let mut one = [0u8; 1];
    s.read_exact(&mut one).await?;
    Ok(start.elapsed())
}

async fn arti_bulk(arti: &TorClient<tor_rtcompat::PreferredRuntime>, onion: &str) -> Duration {
    let mut s = arti_stream(arti, onion).await.unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let start = Instant::now();
    s.write_all(&BULK.to_be_bytes()).await.unwrap();
    for _ in 0..BULK / chunk.len() as u64 {
        s.write_all(&chunk).await.unwrap();
    }
    s.flush().await.unwrap();
    let mut one = [0u8; 1];
    s.read_exact(&mut one).await.unwrap();
    start.elapsed()
}

/// C tor's SOCKS port; a distinct username per trial means a distinct
/// circuit (IsolateSOCKSAuth is on by default).
async fn socks_stream(
    onion: &str,
    trial: usize,
) -> Result<tokio_socks::tcp::Socks5Stream<tokio::net::TcpStream>, tokio_socks::Error> {
    let user = format!("trial{trial}");
    tokio_socks::tcp::Socks5Stream::connect_with_password(
        ("127.0.0.1", SOCKS_PORT),
        (onion, 80),
        &user,
        "x",
    )
    .await
}

async fn socks_ping(onion: &str, trial: usize) -> std::io::Result<Duration> {
    let start = Instant::now();
    let mut s = socks_stream(onion, trial)
        .await
        .map_err(std::io::Error::other)?;
    s.write_all(&0u64.to_be_bytes()).await?;
    let mut one = [0u8; 1];
    s.read_exact(&mut one).await?;
    Ok(start.elapsed())
}

async fn socks_bulk(onion: &str) -> Duration {
    let mut s = socks_stream(onion, 10_000).await.unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let start = Instant::now();
    s.write_all(&BULK.to_be_bytes()).await.unwrap();
    for _ in 0..BULK / chunk.len() as u64 {
        s.write_all(&chunk).await.unwrap();
    }
    let mut one = [0u8; 1];
    tokio::io::AsyncReadExt::read_exact(&mut s, &mut one)
        .await
        .unwrap();
    start.elapsed()
}

/// Two real nodes, `--tor-only`, on the same network.
fn cairn_nodes(net: &Path) {
    let config: PathBuf = net.join("arti.toml");
    let args = ["--tor-only", "--tor-config", config.to_str().unwrap()];
    // Already inside the namespace: no netns for the peers.
    let mut alice = Peer::new("alice", None).with_run_args(&args);
    let mut bob = Peer::new("bob", None).with_run_args(&args);
    let published = |p: &Peer| p.json(&["status"])["tor"]["stage"] == "ready";
    let started = Instant::now();
    alice.start();
    bob.start();
    assert!(wait_until(Duration::from_secs(120), || published(&alice)));
    let alice_ready = started.elapsed();
    assert!(wait_until(Duration::from_secs(120), || published(&bob)));
    let bob_ready = started.elapsed();
    println!("## cairn run --tor-only");
    println!(
        "start to onion service published: alice {alice_ready:?}, bob {bob_ready:?} \
         (both started together; includes arti's bootstrap)"
    );
    alice.add(&bob);
    bob.add(&alice);
    let sent = Instant::now();
    alice.send("bob", "first");
    assert!(wait_until(Duration::from_secs(120), || alice
        .state_of("bob", "first")
        .as_deref()
        == Some("delivered")));
    println!(
        "first message, send to delivered (dial, rendezvous, hop and session handshakes): {:?}",
        sent.elapsed()
    );
    let n = 200;
    let start = Instant::now();
    for i in 0..n {
        alice.send("bob", &format!("message {i:04} {}", "x".repeat(200)));
    }
    let queued = start.elapsed();
    assert!(wait_until(Duration::from_secs(300), || {
        alice
            .messages("bob")
            .iter()
            .filter(|m| m["state"] == "delivered")
            .count()
            > n
    }));
    let took = start.elapsed();
    println!(
        "{n} messages of ~215 B, one CLI call each, sent to all delivered: {took:?} \
         ({:.0} msg/s; the {n} `cairn send` calls alone took {queued:?})",
        n as f64 / took.as_secs_f64()
    );
    println!(
        "RSS: alice {} MiB, bob {} MiB",
        alice.rss_kib() / 1024,
        bob.rss_kib() / 1024
    );
}
