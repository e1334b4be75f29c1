//! Frame time of the real app with a 10 000-message chat open, start-up to
//! first frame, and memory (docs/PERFORMANCE.md, "Desktop app").
//!
//! Needs a display (Xvfb does: software rendering, llvmpipe):
//! `DISPLAY=:N cargo bench -p cairn-gui --bench frames -- [MESSAGES FRAMES]
//! [--arriving N] [--contacts N]`. `--arriving` has the open chat's contact
//! send N messages, one every 10 ms, while the frames are timed;
//! `--contacts` puts N more contacts in the chat list, each with a message;
//! `--mixed` writes the chat in mixed scripts (Persian, Arabic, Burmese,
//! Hindi, Chinese, emoji, and Persian mixed with English and numbers), which
//! the app lays out with its bidi layout (`cairn_gui::text`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::time::{Duration, Instant};

use cairn_gui::CairnApp;
use cairn_node::api::{Reply, Request};
use cairn_node::{NodeConfig, Profile, RunOptions};

struct Bench {
    app: CairnApp,
    /// Set when the timed frames begin (the arrivals start then).
    timing: std::sync::Arc<std::sync::atomic::AtomicBool>,
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
            self.timing
                .store(true, std::sync::atomic::Ordering::Relaxed);
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

/// Lines in the scripts Cairn's users write (`--mixed`).
const MIXED: [&str; 7] = [
    "سلام، فردا ساعت شش در میدان می‌بینمت",
    "مرحبا، نلتقي غدًا في الساعة السادسة",
    "မင်္ဂလာပါ မနက်ဖြန် တွေ့မယ်",
    "नमस्ते, कल छह बजे मिलते हैं",
    "你好，明天六点在广场见 😀🎉",
    "من Cairn را از ۱۴۰۳ دارم (version 2.0) و 25 دوست",
    "Hello سلام دنیا world, 42 بار",
];

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
    let all: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> usize {
        all.iter()
            .position(|a| a == name)
            .and_then(|i| all.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let arriving = flag("--arriving");
    let mixed = all.iter().any(|a| a == "--mixed");
    let extra_contacts = flag("--contacts");
    let mut args = Vec::new();
    let mut skip = false;
    for a in &all {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a == "--arriving" || a == "--contacts" {
            skip = true;
        } else if !a.starts_with('-') {
            args.push(a.clone());
        }
    }
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
            let Reply::Invite { uri } = a.call(Request::Invite).await.unwrap() else {
                panic!()
            };
            b.call(Request::Add {
                invite: uri,
                alias: None,
            })
            .await
            .unwrap();
            // More people in the chat list, each with a message waiting.
            let now = cairn_node::service::now();
            for i in 0..extra_contacts {
                let id = cairn_protocol::Identity::generate(&mut rand::rngs::OsRng);
                let card = cairn_protocol::ContactCard::new(
                    &id,
                    &format!("friend {i:04}"),
                    Vec::new(),
                    now,
                    Duration::from_secs(3600),
                )
                .unwrap();
                a.call(Request::Add {
                    invite: card.to_uri(),
                    alias: None,
                })
                .await
                .unwrap();
                a.call(Request::Send {
                    contact: id.key().to_string(),
                    text: format!("hello friend {i}"),
                })
                .await
                .unwrap();
            }
            // Bob is in reach while the chat fills, so that what alice
            // wrote is delivered now, not all at once during the timing.
            a.connect_memory(&b, 1 << 17).await;
            let filled = Instant::now();
            for i in 0..messages {
                let text = if mixed {
                    format!("{} {i}", MIXED[i % MIXED.len()])
                } else {
                    format!("message {i}: the quick brown fox jumps over the lazy dog")
                };
                a.call(Request::Send {
                    contact: "bob".into(),
                    text,
                })
                .await
                .unwrap();
            }
            eprintln!(
                "filled {messages} messages in {:.1} s",
                filled.elapsed().as_secs_f64()
            );
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let Reply::Status(st) = a.call(Request::Status).await.unwrap() else {
                    panic!()
                };
                if st.outbox <= extra_contacts {
                    break;
                }
                assert!(Instant::now() < deadline, "{} still queued", st.outbox);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eprintln!(
                "delivered to bob after {:.1} s",
                filled.elapsed().as_secs_f64()
            );
            a.call(Request::Shutdown).await.ok();
            b.call(Request::Shutdown).await.ok();
        });
        rt.shutdown_timeout(Duration::from_secs(5));
    }

    let started = Instant::now();
    let mut app = CairnApp::new(alice, config.clone()).unwrap();
    // The nodes that filled the profile may hold it a moment longer.
    let deadline = Instant::now() + Duration::from_secs(20);
    while {
        app.unlock_with("", "alice");
        app.node().is_none()
    } {
        assert!(Instant::now() < deadline, "the profile did not open");
        std::thread::sleep(Duration::from_millis(100));
    }
    app.open_chat("bob");
    let timing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if arriving > 0 {
        // Bob comes into reach and writes while the frames are timed.
        let rt = app.runtime();
        let alice_node = app.node().unwrap().clone();
        let go = timing.clone();
        rt.spawn(async move {
            let opts = RunOptions {
                config,
                control_socket: false,
            };
            let (b, _) = cairn_node::runtime::start(&bob, bob.open(b"").unwrap(), opts)
                .await
                .unwrap();
            b.connect_memory(&alice_node, 1 << 17).await;
            while !go.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            for i in 0..arriving {
                b.call(Request::Send {
                    contact: "alice".into(),
                    text: format!("arriving {i}: are you there?"),
                })
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Kept running until the process ends.
            std::future::pending::<()>().await;
        });
    }
    let bench = Bench {
        timing,
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
        // The app installs its own font providers (`cairn_gui::fonts`).
        system_font_fallback: false,
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
                std::sync::Arc<std::sync::Mutex<Option<(Duration, Vec<Duration>, (usize, usize))>>>,
            );
            impl eframe::App for Report {
                fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
                    self.0.ui(ui, frame);
                    if let Some(first) = self.0.first_frame {
                        *self.1.lock().unwrap() =
                            Some((first, self.0.frames.clone(), self.0.app.shown_messages()));
                    }
                }
            }
            Ok(Box::new(Report(bench, out)))
        }),
    )
    .unwrap();
    let (first, mut frames, shown) = result.lock().unwrap().take().unwrap();
    frames.sort();
    let pct = |p: f64| frames[((frames.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{}{messages} messages written, {} shown at the end ({} of them arrived), {arriving} arriving, {extra_contacts} more contacts: {} frames, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; first frame {:.0} ms after start; RSS {} MiB",
        if mixed { "mixed scripts: " } else { "" },
        shown.0,
        shown.1,
        frames.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0),
        first.as_secs_f64() * 1e3,
        rss_kib() / 1024
    );
}
