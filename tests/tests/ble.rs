//! Bluetooth LE on a real BlueZ stack: two `cairn` nodes in a QEMU VM
//! (Debian's kernel and BlueZ, `btvirt` giving two LE controllers that hear
//! each other; `scripts/ble-vm`), one node per controller and nothing else
//! between them. They find each other by advertising and scanning, run the
//! hop handshake, chat both ways, and move a file intact; then alice links
//! a new device over Bluetooth only, which gets the history
//! (`tests/ble/scenario.sh`). The round-trip times and the file's throughput
//! are read from the nodes' logs and printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use cairn_tests::cairn_bin;

/// Seconds since midnight of a log line's RFC 3339 timestamp.
fn seconds(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?;
    let time = t.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The log a node wrote inside the VM, as the scenario printed it.
fn node_log<'a>(console: &'a str, who: &str) -> Vec<&'a str> {
    let begin = format!("CAIRN-LOG-BEGIN {who}");
    let end = format!("CAIRN-LOG-END {who}");
    console
        .lines()
        .skip_while(|l| !l.contains(&begin))
        .skip(1)
        .take_while(|l| !l.contains(&end))
        .collect()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
}

#[test]
fn two_nodes_on_real_bluez_find_each_other_chat_and_move_a_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let vm = std::env::var("CAIRN_BLE_VM_DIR").unwrap_or_else(|_| "/var/tmp/cairn-ble-vm".into());
    let out = Command::new("bash")
        .arg(root.join("scripts/ble-vm"))
        .args(["run", &vm])
        .arg(cairn_bin())
        .arg(root.join("tests/ble/scenario.sh"))
        .output()
        .expect("run scripts/ble-vm");
    let console = String::from_utf8_lossy(&out.stdout);
    let steps: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("CAIRN-STEP") || l.contains("CAIRN-FAIL"))
        .collect();
    // The steps' times (seconds since the VM booted) are the figures the
    // docs quote, linking a device over Bluetooth among them.
    eprintln!("{steps:#?}");
    assert!(
        console.contains("CAIRN-BLE-OK")
            && console.contains("linked a device over ble")
            && out.status.success(),
        "the Bluetooth scenario failed; steps: {steps:#?}\n{console}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Round trips: from "sent" to "delivered" for each text, on alice's side.
    let alice = node_log(&console, "a");
    let mut sent = std::collections::HashMap::new();
    let mut rtts = Vec::new();
    for line in &alice {
        if !line.contains("message state") {
            continue;
        }
        let (Some(id), Some(state), Some(t)) =
            (field(line, "id"), field(line, "state"), seconds(line))
        else {
            continue;
        };
        match state {
            "sent" => {
                sent.insert(id.to_owned(), t);
            }
            "delivered" => {
                if let Some(t0) = sent.get(id) {
                    rtts.push((t - t0) * 1000.0);
                }
            }
            _ => {}
        }
    }
    assert!(rtts.len() >= 6, "every text was delivered: {rtts:?}");
    rtts.sort_by(f64::total_cmp);
    println!(
        "BLE round trip (send → delivered receipt), {} texts: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        rtts.len(),
        rtts[rtts.len() / 2],
        rtts[0],
        rtts[rtts.len() - 1]
    );
    // Throughput: bob's progress on the file, first chunk to complete.
    let bob = node_log(&console, "b");
    let progress: Vec<(f64, u64, String)> = bob
        .iter()
        .filter(|l| l.contains("file transfer"))
        .filter_map(|l| {
            Some((
                seconds(l)?,
                field(l, "have")?.parse().ok()?,
                field(l, "state")?.to_owned(),
            ))
        })
        .collect();
    let first = progress.iter().find(|p| p.1 >= 1).expect("progress");
    let done = progress
        .iter()
        .find(|p| p.2 == "Complete")
        .expect("the file completed");
    let held = |chunks: u64| (chunks * 61_440).min(262_144) as f64;
    let bytes = held(done.1) - held(first.1);
    println!(
        "BLE throughput, a 256 KiB file: {:.1} KiB/s ({} chunks in {:.2} s)",
        bytes / 1024.0 / (done.0 - first.0),
        done.1 - first.1,
        done.0 - first.0
    );
}
