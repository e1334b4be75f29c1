//! Frame time of the real app with a 10 000-message chat open, start-up to
//! first frame, and memory (docs/PERFORMANCE.md, "Desktop app").
//!
//! Needs a display: `scripts/bench-gui` runs it under Xvfb (software
//! rendering, llvmpipe). By hand: `DISPLAY=:N cargo bench -p cairn-gui --bench
//! frames [-- MESSAGES FRAMES]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::time::{Duration, Instant};

use cairn_gui::CairnApp;
use cairn_node::api::{Reply, Request};
use cairn_node::{NodeConfig, Profile, RunOptions};

struct Bench {
    app: CairnApp,
    started: Instant,
    first_frame: Option<Duration>,
    last: Option<Instant>,
    frames: Vec<Duration>,
    want: usize,
    warmup: usize,
    seen: usize,
}

impl eframe::App for Bench {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let now = Instant::now();
        if self.first_frame.is_none() {
            self.first_frame = Some(self.started.elapsed());
        }
        if let Some(last) = self.last
            && self.seen > self.warmup
        {
            self.frames.push(now - last);
        }
        self.last = Some(now);
        self.seen += 1;
        eframe::App::ui(&mut self.app, ui, frame);
        if self.frames.len() >= self.want {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        ui.ctx().request_repaint();
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let messages: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let want: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::default();
    config.ble.enabled = false;
    config.lan.enabled = false;

    // A profile whose chat with bob holds `messages` messages.
    let alice = Profile::at(dir.path().join("alice"));
    let bob = Profile::at(dir.path().join("bob"));
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let opts = || RunOptions {
                config: config.clone(),
                control_socket: false,
            };
            let (a, _) =
                cairn_node::runtime::start(&alice, alice.create("alice", b"").unwrap(), opts())
                    .await
                    .unwrap();
            let (b, _) = cairn_node::runtime::start(&bob, bob.create("bob", b"").unwrap(), opts())
                .await
                .unwrap();
            let Reply::Invite { uri } = b.call(Request::Invite).await.unwrap() else {
                panic!()
            };
            a.call(Request::Add {
                invite: uri,
                alias: None,
            })
            .await
            .unwrap();
            let filled = Instant::now();
            for i in 0..messages {
                a.call(Request::Send {
                    contact: "bob".into(),
                    text: format!("message {i}: the quick brown fox jumps over the lazy dog"),
                })
                .await
                .unwrap();
            }
            eprintln!(
                "filled {messages} messages in {:.1} s",
                filled.elapsed().as_secs_f64()
            );
            a.call(Request::Shutdown).await.ok();
            b.call(Request::Shutdown).await.ok();
        });
        rt.shutdown_timeout(Duration::from_secs(5));
    }

    let started = Instant::now();
    let mut app = CairnApp::new(alice, config).unwrap();
    app.unlock_with("", "alice");
    let bench = Bench {
        app,
        started,
        first_frame: None,
        last: None,
        frames: Vec::new(),
        want,
        warmup: 30,
        seen: 0,
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([960.0, 640.0]),
        ..Default::default()
    };
    let result = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out = result.clone();
    eframe::run_native(
        "Cairn bench",
        options,
        Box::new(move |_cc| {
            struct Report(
                Bench,
                std::sync::Arc<std::sync::Mutex<Option<(Duration, Vec<Duration>)>>>,
            );
            impl eframe::App for Report {
                fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
                    self.0.ui(ui, frame);
                    if let Some(first) = self.0.first_frame {
                        *self.1.lock().unwrap() = Some((first, self.0.frames.clone()));
                    }
                }
            }
            Ok(Box::new(Report(bench, out)))
        }),
    )
    .unwrap();
    let (first, mut frames) = result.lock().unwrap().take().unwrap();
    frames.sort();
    let pct = |p: f64| frames[((frames.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{messages} messages open: {} frames, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; first frame {:.0} ms after start; RSS {} MiB",
        frames.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0),
        first.as_secs_f64() * 1e3,
        rss_kib() / 1024
    );
}
