//! Voice notes between real `cairn` processes over the LAN: speech made
//! with espeak-ng, sent with `cairn send-voice` (Opus in Ogg, as a file),
//! exported by the other side with `cairn voice --out`, and compared with
//! what was said: as long, and shaped the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use cairn_node::voice;
use cairn_tests::{Lab, speak, stderr, two_friends, wait_until};

const PATIENCE: Duration = Duration::from_secs(90);

#[test]
fn a_voice_note_is_sent_received_and_exported_as_long_and_as_shaped_as_it_was_said() {
    let lab = Lab::new(2);
    let (alice, bob) = two_friends(&lab);
    assert!(wait_until(PATIENCE, || alice.links() >= 1 && bob.links() >= 1));
    let said = alice.profile().join("said.wav");
    speak(
        "The river is rising. Meet at the school on the hill, and bring water and a torch.",
        &said,
    );
    let original = voice::from_wav(&std::fs::read(&said).unwrap()).unwrap();

    let out = alice.cli(&["send-voice", "bob", said.to_str().unwrap()]);
    assert!(out.status.success(), "send-voice: {}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    // Nothing of the encoding is left in alice's profile.
    assert!(
        std::fs::read_dir(alice.profile()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("voice-")),
        "a voice note's working directory was left behind"
    );
    assert!(
        wait_until(PATIENCE, || bob
            .message("alice", &id)
            .is_some_and(|m| m["file"]["state"] == "complete")),
        "bob never got the whole voice note: {:?}",
        bob.message("alice", &id)
    );
    let m = bob.message("alice", &id).unwrap();
    assert_eq!(m["file"]["mime"], voice::MIME, "{m}");
    assert_eq!(m["text"], voice::FILE_NAME, "{m}");
    let listed = bob.ok(&["messages", "alice", "--peek"]);
    assert!(listed.contains("[voice note]"), "{listed}");

    // Exported as WAV: as long as what was said, and the same speech (the
    // loudness of every 20 ms follows the original's).
    let exported = bob.profile().join("heard.wav");
    let shown = bob.ok(&["voice", "alice", &id, "--out", exported.to_str().unwrap()]);
    assert!(shown.contains("0:0"), "no length shown: {shown}");
    let heard = voice::from_wav(&std::fs::read(&exported).unwrap()).unwrap();
    assert_eq!(heard.len(), original.len(), "the duration changed");
    let similarity = voice::similarity(&voice::envelope(&original), &voice::envelope(&heard));
    assert!(similarity > 0.9, "envelope similarity {similarity}");
    // Small enough for Bluetooth: at most 16 kbit/s.
    let secs = original.len() as f64 / f64::from(voice::RATE);
    let size = m["file"]["size"].as_u64().unwrap();
    assert!(
        size as f64 * 8.0 / secs <= 16_000.0,
        "{size} bytes for {secs:.1} s"
    );
    // An existing file is never overwritten; a text is not a voice note;
    // where there is no sound device, playing says so and how to save it.
    let again = bob.cli(&["voice", "alice", &id, "--out", exported.to_str().unwrap()]);
    assert!(!again.status.success());
    let text = alice.send("bob", "not a voice note");
    assert!(wait_until(PATIENCE, || bob
        .message("alice", &text)
        .is_some()));
    let wrong = bob.cli(&["voice", "alice", &text, "--out", "/tmp/never.wav"]);
    assert!(!wrong.status.success(), "a text exported as a voice note");
    if !Path::new("/dev/snd").exists() {
        let play = bob.cli(&["voice", "alice", &id]);
        assert!(!play.status.success());
        assert!(stderr(&play).contains("--out"), "{}", stderr(&play));
    }
    // A WAV that is not one: a clear error, nothing sent.
    let junk = alice.profile().join("junk.wav");
    std::fs::write(&junk, b"RIFF\x04\x00\x00\x00WAVE").unwrap();
    let bad = alice.cli(&["send-voice", "bob", junk.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("WAV"), "{}", stderr(&bad));
}
