//! Voice notes in the window: hold the button to record (a level meter and
//! the time while you speak), let go to send; a note in the conversation
//! shows its length and plays inline with a position bar. Sound goes
//! through [`cairn_node::audio`]: the sound devices, or in tests a WAV file
//! as the microphone and a player that keeps time in silence.

use std::collections::HashMap;
use std::time::Duration;

use cairn_node::audio::{Audio, Devices, Player, Source};
use cairn_node::voice;
use egui::Sense;

use crate::text::label;
use crate::tr;

/// Shorter than this is a slip of the finger, not a voice note.
const MIN_NOTE: Duration = Duration::from_millis(500);
/// Decoded notes kept (a minute is about 2 MB of samples).
const MAX_DECODED: usize = 16;

pub struct VoiceUi {
    audio: Box<dyn Audio>,
    recording: Option<Box<dyn Source>>,
    /// The note playing, by message id.
    playing: Option<(String, Box<dyn Player>)>,
    /// Notes decoded, by message id (`None`: could not be).
    decoded: HashMap<String, Option<Vec<i16>>>,
    /// What went wrong last (no microphone, a damaged note).
    pub error: Option<String>,
}

impl Default for VoiceUi {
    fn default() -> Self {
        Self::with(Box::new(Devices))
    }
}

impl VoiceUi {
    pub fn with(audio: Box<dyn Audio>) -> Self {
        Self {
            audio,
            recording: None,
            playing: None,
            decoded: HashMap::new(),
            error: None,
        }
    }

    /// The record button. Pressed, it records; let go, it returns the
    /// voice note to send (encoded).
    pub fn record_button(&mut self, ui: &mut egui::Ui) -> Option<Vec<u8>> {
        let text = if self.recording.is_some() {
            tr!("release-to-send")
        } else {
            tr!("hold-to-record")
        };
        let response = ui.add(egui::Button::new(text).sense(Sense::click_and_drag()));
        if self.recording.is_none() && response.is_pointer_button_down_on() {
            match self.audio.record() {
                Ok(source) => {
                    self.recording = Some(source);
                    self.error = None;
                }
                Err(e) => self.error = Some(tr!("voice-failed", reason = e.to_string())),
            }
        }
        let source = self.recording.as_ref()?;
        ui.ctx().request_repaint_after(Duration::from_millis(50));
        let level = (source.level() * 4.0).clamp(0.0, 1.0);
        ui.add(
            egui::ProgressBar::new(level)
                .desired_width(120.0)
                .text(tr!("recording", time = clock(source.elapsed()))),
        );
        if ui.input(|i| i.pointer.primary_down()) {
            return None;
        }
        let source = self.recording.take()?;
        if source.elapsed() < MIN_NOTE {
            self.error = Some(tr!("voice-too-short"));
            return None;
        }
        match source
            .finish()
            .map_err(|e| e.to_string())
            .and_then(|s| voice::encode(&s).map_err(|e| e.to_string()))
        {
            Ok(note) => Some(note),
            Err(reason) => {
                self.error = Some(tr!("voice-failed", reason = reason));
                None
            }
        }
    }

    /// Whether the note `id` still has to be fetched to be shown.
    pub fn needs(&self, id: &str) -> bool {
        !self.decoded.contains_key(id)
    }

    /// Keeps the note `id` (its file's bytes, or `None` if they could not
    /// be read), decoded.
    pub fn keep(&mut self, id: &str, bytes: Option<&[u8]>) {
        if self.decoded.len() >= MAX_DECODED {
            let playing = self.playing.as_ref().map(|(p, _)| p.clone());
            self.decoded.retain(|k, _| Some(k) == playing.as_ref());
        }
        let samples = bytes.and_then(|b| voice::decode(b).ok());
        self.decoded.insert(id.to_owned(), samples);
    }

    /// A voice note in the conversation: its length, Play (or Stop), and
    /// while it plays, where it is.
    pub fn note_row(&mut self, ui: &mut egui::Ui, id: &str) {
        let Some(Some(samples)) = self.decoded.get(id) else {
            ui.weak(tr!("voice-unreadable"));
            return;
        };
        let length = Duration::from_millis(samples.len() as u64 * 1000 / u64::from(voice::RATE));
        let playing_this = self.playing.as_ref().is_some_and(|(p, _)| p == id);
        ui.horizontal(|ui| {
            label(ui, tr!("voice-note", length = clock(length)));
            let button = if playing_this {
                tr!("stop-voice")
            } else {
                tr!("play-voice")
            };
            if crate::text::button(ui, button, true).clicked() {
                if playing_this {
                    self.playing = None;
                } else {
                    match self.audio.play(samples) {
                        Ok(player) => {
                            self.playing = Some((id.to_owned(), player));
                            self.error = None;
                        }
                        Err(e) => self.error = Some(tr!("voice-failed", reason = e.to_string())),
                    }
                }
            }
        });
        if let Some((playing, player)) = &self.playing
            && playing == id
        {
            ui.ctx().request_repaint_after(Duration::from_millis(50));
            let fraction =
                player.position().as_secs_f32() / player.length().as_secs_f32().max(0.001);
            ui.add(
                egui::ProgressBar::new(fraction.clamp(0.0, 1.0))
                    .desired_width(200.0)
                    .text(tr!(
                        "voice-position",
                        at = clock(player.position()),
                        length = clock(player.length())
                    )),
            );
            if player.finished() {
                self.playing = None;
            }
        }
    }

    /// Whether a note is playing (for tests: by message id).
    pub fn playing(&self) -> Option<&str> {
        self.playing.as_ref().map(|(id, _)| id.as_str())
    }
}

/// 0:05, 1:12.
fn clock(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}
