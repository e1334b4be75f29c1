//! A one-minute voice note: its size, the time to encode and decode it, and
//! how long it takes over the modelled Bluetooth LE link
//! (docs/PERFORMANCE.md, "Voice notes").
//!
//! ```text
//! cargo bench -p cairn-node --bench voice
//! ```
//!
//! The speech is espeak-ng's (a paragraph read again until it lasts a
//! minute). Over BLE, the frames are the ones the engine sends for a file
//! of that size — the offer, then every chunk — each a real encoded,
//! padded payload in a session envelope (ciphertext of the right length:
//! the radio model carries bytes, not meaning), through the real BLE link
//! core on both ends (`transports/src/ble/bus.rs`: 0.8 ms of air per write,
//! 15 ms latency), from the first frame to the last arriving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_node::voice;
use cairn_protocol::MessageId;
use cairn_protocol::envelope::Envelope;
use cairn_protocol::file::{CHUNK_LEN, FileMeta};
use cairn_protocol::frame::Frame;
use cairn_protocol::payload::Payload;
use cairn_transports::ble::BLE_FRAME_MTU;
use cairn_transports::ble::bus::{Pair, Radio};
use cairn_transports::hop::HopKeys;

const TEXT: &str = "People need to talk when the internet is cut. Cairn runs on every \
    phone; phones find each other over Wi-Fi and Bluetooth, and carry messages for \
    each other until they reach the people they are meant for. A voice note is \
    speech, small enough for a radio link, sent like any file.";

fn one_minute_of_speech() -> Vec<i16> {
    let dir = std::env::temp_dir().join(format!("cairn-voice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("speech.wav");
    let out = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg(TEXT)
        .output()
        .expect("espeak-ng (apt install espeak-ng)");
    assert!(out.status.success());
    let once = voice::from_wav(&std::fs::read(&wav).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let minute = 60 * voice::RATE as usize;
    once.iter().copied().cycle().take(minute).collect()
}

/// The frames a file of `data` goes out as over a session.
fn frames_of(data: &[u8]) -> Vec<Bytes> {
    let id = MessageId([7; 16]);
    let meta = FileMeta::of(voice::FILE_NAME, voice::MIME, data).unwrap();
    let mut payloads = vec![Payload::File {
        id,
        sent_at: cairn_protocol::Time::from_millis(1),
        meta: Box::new(meta),
        inline: None,
        remote: None,
    }];
    for (index, chunk) in data.chunks(CHUNK_LEN).enumerate() {
        payloads.push(Payload::FileChunk {
            id,
            index: index as u32,
            data: chunk.to_vec(),
        });
    }
    payloads
        .iter()
        .enumerate()
        .map(|(nonce, p)| {
            let sealed_len = p.encode_padded().len() + 16;
            Bytes::from(
                Frame::Envelope(Envelope::Data {
                    receiver_index: 1,
                    nonce: nonce as u64,
                    ciphertext: vec![0x5a; sealed_len],
                })
                .encode(),
            )
        })
        .collect()
}

fn main() {
    let speech = one_minute_of_speech();
    let started = Instant::now();
    let note = voice::encode(&speech).unwrap();
    let encode = started.elapsed();
    let started = Instant::now();
    let back = voice::decode(&note).unwrap();
    let decode = started.elapsed();
    assert_eq!(back.len(), speech.len());
    let similarity = voice::similarity(&voice::envelope(&speech), &voice::envelope(&back));
    println!(
        "one minute of speech: {} bytes ({:.1} KiB, {:.1} kbit/s with the Ogg framing); \
         encode {:.0} ms, decode {:.0} ms; envelope similarity after the round trip {similarity:.3}",
        note.len(),
        note.len() as f64 / 1024.0,
        note.len() as f64 * 8.0 / 60.0 / 1000.0,
        encode.as_secs_f64() * 1000.0,
        decode.as_secs_f64() * 1000.0,
    );
    let frames = frames_of(&note);
    let bytes: usize = frames.iter().map(Bytes::len).sum();
    println!(
        "as a file: {} frames, {bytes} bytes on the session (offer + chunks)",
        frames.len()
    );
    println!("| ATT MTU | loss | writes | virtual time, first frame to last |");
    println!("|---|---|---|---|");
    for loss in [0.0, 0.05] {
        for mtu in [23usize, 185, 247, 512] {
            // `Radio::new`'s timing: 0.8 ms of air per write, 15 ms latency.
            let radio = Radio {
                loss,
                seed: 42,
                ..Radio::new(mtu)
            };
            let mut pair = Pair::new(
                radio,
                &HopKeys::new(&[1; 32], &[3; 32]),
                &HopKeys::new(&[2; 32], &[4; 32]),
                BLE_FRAME_MTU,
            )
            .unwrap();
            // The link comes up (hop handshake) before the note is sent.
            pair.run_until(Duration::from_secs(60), |p| {
                p.up.iter().all(Option::is_some)
            })
            .unwrap();
            let start = pair.now();
            for f in &frames {
                pair.send(0, f.clone());
            }
            let n = frames.len();
            pair.run_until(Duration::from_secs(3600), |p| p.received[1].len() == n)
                .unwrap();
            assert_eq!(pair.received[1].len(), n, "every frame arrived");
            println!(
                "| {mtu} | {:.0} % | {} | **{:.2} s** |",
                loss * 100.0,
                pair.counters[0].packets,
                (pair.now() - start).as_secs_f64()
            );
        }
    }
}
