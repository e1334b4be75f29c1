//! Time from `cairn run` to a node that answers on its control socket, and
//! the resident memory of an idle node — the release binary, default config
//! (LAN transport with mDNS), a fresh profile.
//!
//! Run: `cargo bench -p cairn-node --bench startup`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_node::Request;
use cairn_node::vault::{KdfParams, Vault};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_cairn");
    let idle = Duration::from_secs(
        std::env::var("BENCH_IDLE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    let runs = 5;
    let (mut ready_ms, mut rss_mb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let init = Command::new(bin)
            .arg("--profile")
            .arg(dir.path())
            .args(["init", "--name", "bench"])
            .env("CAIRN_PASSPHRASE", "bench")
            .output()
            .unwrap();
        assert!(init.status.success());
        let socket = dir.path().join("control.sock");
        let start = Instant::now();
        let mut child = Command::new(bin)
            .arg("--profile")
            .arg(dir.path())
            .arg("run")
            .env("CAIRN_PASSPHRASE", "bench")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if matches!(
                cairn_node::control::call(&socket, &Request::Status).await,
                Ok(cairn_node::Response::Ok(_))
            ) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "node never became ready"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        ready_ms.push(start.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(idle).await;
        rss_mb.push(rss_kib(child.id()) as f64 / 1024.0);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let params = KdfParams::generate();
    let kdf_ms = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                Vault::derive(b"bench", &params).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    println!(
        "run to ready: median {:.0} ms over {runs} runs ({ready_ms:.0?}); of which the passphrase KDF (Argon2id, 64 MiB, t=3) takes {kdf_ms:.0} ms",
        median(ready_ms.clone())
    );
    println!(
        "idle RSS after {} s: median {:.1} MB ({rss_mb:.1?}) (goal <= 25 MB)",
        idle.as_secs(),
        median(rss_mb.clone())
    );
}
