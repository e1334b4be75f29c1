//! Sound in and out for voice notes, through cpal (ALSA on Linux): playing
//! mono samples at [`voice::RATE`] on the default output, recording from
//! the default input with a level meter. Where there is no sound device (a
//! server, CI) both say so with [`AudioError::NoDevice`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use crate::voice::{self, RATE};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    #[error("no sound device: {0}")]
    NoDevice(String),
    #[error("the sound device failed: {0}")]
    Stream(String),
    #[error("the sound device wants samples as {0}, which this cannot make")]
    Format(String),
    #[error(transparent)]
    Voice(#[from] voice::VoiceError),
}

fn no_device(e: impl std::fmt::Display) -> AudioError {
    AudioError::NoDevice(e.to_string())
}

fn stream_error(e: impl std::fmt::Display) -> AudioError {
    AudioError::Stream(e.to_string())
}

/// Where an app's sound comes from and goes: the sound devices
/// ([`Devices`]), or — in tests, and on machines without any — a recording
/// played as if spoken and a player that keeps time in silence
/// ([`FromFile`]).
pub trait Audio {
    /// Starts recording a voice note.
    fn record(&self) -> Result<Box<dyn Source>, AudioError>;
    /// Starts playing mono samples at [`RATE`].
    fn play(&self, samples: &[i16]) -> Result<Box<dyn Player>, AudioError>;
}

/// A voice note playing. Dropping it stops it.
pub trait Player {
    /// How far it has played.
    fn position(&self) -> Duration;
    /// How long it plays.
    fn length(&self) -> Duration;
    fn finished(&self) -> bool {
        self.position() >= self.length()
    }
}

/// The default sound devices, through cpal.
#[derive(Debug, Default, Clone, Copy)]
pub struct Devices;

impl Audio for Devices {
    fn record(&self) -> Result<Box<dyn Source>, AudioError> {
        Ok(Box::new(Microphone::start()?))
    }

    fn play(&self, samples: &[i16]) -> Result<Box<dyn Player>, AudioError> {
        Ok(Box::new(Playback::start(samples)?))
    }
}

/// A WAV recording as the microphone ([`WavSource`]) and a player that
/// keeps time without a sound device ([`Silent`]).
#[derive(Debug, Clone)]
pub struct FromFile {
    pub wav: Vec<u8>,
}

impl Audio for FromFile {
    fn record(&self) -> Result<Box<dyn Source>, AudioError> {
        Ok(Box::new(WavSource::open(&self.wav)?))
    }

    fn play(&self, samples: &[i16]) -> Result<Box<dyn Player>, AudioError> {
        Ok(Box::new(Silent {
            started: std::time::Instant::now(),
            length: Duration::from_millis(samples.len() as u64 * 1000 / u64::from(RATE)),
        }))
    }
}

/// Plays nothing, in real time.
pub struct Silent {
    started: std::time::Instant,
    length: Duration,
}

impl Player for Silent {
    fn position(&self) -> Duration {
        self.started.elapsed().min(self.length)
    }

    fn length(&self) -> Duration {
        self.length
    }
}

/// A voice note playing on the default output. Dropping it stops it.
pub struct Playback {
    _stream: cpal::Stream,
    played: Arc<AtomicUsize>,
    frames: usize,
    rate: u32,
}

impl Playback {
    /// Starts playing mono `samples` at [`RATE`] on the default output.
    pub fn start(samples: &[i16]) -> Result<Self, AudioError> {
        let host = cpal::default_host();
        let device = host
            .default_output_device()
            .ok_or_else(|| no_device("no output device"))?;
        let supported = device.default_output_config().map_err(no_device)?;
        let config = supported.config();
        let rate = config.sample_rate;
        let channels = usize::from(config.channels.max(1));
        let mono: Vec<f32> = samples.iter().map(|s| f32::from(*s) / 32_768.0).collect();
        let pcm = Arc::new(voice::resample(&mono, RATE, rate)?);
        let frames = pcm.len();
        let played = Arc::new(AtomicUsize::new(0));
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => {
                output::<f32>(&device, config, channels, pcm, played.clone())
            }
            cpal::SampleFormat::I16 => {
                output::<i16>(&device, config, channels, pcm, played.clone())
            }
            cpal::SampleFormat::I32 => {
                output::<i32>(&device, config, channels, pcm, played.clone())
            }
            cpal::SampleFormat::U8 => output::<u8>(&device, config, channels, pcm, played.clone()),
            other => return Err(AudioError::Format(format!("{other:?}"))),
        }?;
        stream.play().map_err(stream_error)?;
        Ok(Self {
            _stream: stream,
            played,
            frames,
            rate,
        })
    }
}

impl Player for Playback {
    fn position(&self) -> Duration {
        let played = self.played.load(Ordering::Relaxed).min(self.frames);
        Duration::from_millis(played as u64 * 1000 / u64::from(self.rate.max(1)))
    }

    fn length(&self) -> Duration {
        Duration::from_millis(self.frames as u64 * 1000 / u64::from(self.rate.max(1)))
    }

    fn finished(&self) -> bool {
        self.played.load(Ordering::Relaxed) >= self.frames
    }
}

fn output<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    channels: usize,
    pcm: Arc<Vec<f32>>,
    played: Arc<AtomicUsize>,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample + FromSample<f32>,
{
    device
        .build_output_stream::<T, _, _>(
            config,
            move |out: &mut [T], _| {
                let mut at = played.load(Ordering::Relaxed);
                for frame in out.chunks_mut(channels) {
                    let s = pcm.get(at).copied().unwrap_or(0.0);
                    at += 1;
                    for slot in frame {
                        *slot = T::from_sample(s);
                    }
                }
                played.store(at, Ordering::Relaxed);
            },
            |e| tracing::warn!(error = %e, "sound output failed"),
            None,
        )
        .map_err(stream_error)
}

/// Something a voice note is recorded from: the microphone, or (in tests
/// and for people without one) a file.
pub trait Source {
    /// The loudness now, 0 … 1, for a level meter.
    fn level(&self) -> f32;
    /// How much has been recorded.
    fn elapsed(&self) -> Duration;
    /// Stops and hands over what was recorded: mono at [`RATE`].
    fn finish(self: Box<Self>) -> Result<Vec<i16>, AudioError>;
}

/// Recording from the default input device.
pub struct Microphone {
    stream: cpal::Stream,
    captured: Arc<Mutex<Vec<f32>>>,
    level: Arc<AtomicU32>,
    rate: u32,
    stopped: Arc<AtomicBool>,
}

impl Microphone {
    pub fn start() -> Result<Self, AudioError> {
        let host = cpal::default_host();
        let device = host
            .default_input_device()
            .ok_or_else(|| no_device("no input device"))?;
        let supported = device.default_input_config().map_err(no_device)?;
        let config = supported.config();
        let rate = config.sample_rate;
        let channels = usize::from(config.channels.max(1));
        let captured = Arc::new(Mutex::new(Vec::new()));
        let level = Arc::new(AtomicU32::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let shared = Captured {
            samples: captured.clone(),
            level: level.clone(),
            stopped: stopped.clone(),
            channels,
            max: voice::MAX_SECS as usize * rate as usize,
        };
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => input::<f32>(&device, config, shared),
            cpal::SampleFormat::I16 => input::<i16>(&device, config, shared),
            cpal::SampleFormat::I32 => input::<i32>(&device, config, shared),
            cpal::SampleFormat::U8 => input::<u8>(&device, config, shared),
            other => return Err(AudioError::Format(format!("{other:?}"))),
        }?;
        stream.play().map_err(stream_error)?;
        Ok(Self {
            stream,
            captured,
            level,
            rate,
            stopped,
        })
    }
}

struct Captured {
    samples: Arc<Mutex<Vec<f32>>>,
    level: Arc<AtomicU32>,
    stopped: Arc<AtomicBool>,
    channels: usize,
    max: usize,
}

fn input<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    shared: Captured,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device
        .build_input_stream::<T, _, _>(
            config,
            move |data: &[T], _| {
                if shared.stopped.load(Ordering::Relaxed) {
                    return;
                }
                let mono: Vec<f32> = data
                    .chunks(shared.channels)
                    .map(|f| f.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / f.len() as f32)
                    .collect();
                let rms =
                    (mono.iter().map(|s| s * s).sum::<f32>() / mono.len().max(1) as f32).sqrt();
                shared.level.store(rms.to_bits(), Ordering::Relaxed);
                if let Ok(mut samples) = shared.samples.lock()
                    && samples.len() < shared.max
                {
                    samples.extend(mono);
                }
            },
            |e| tracing::warn!(error = %e, "sound input failed"),
            None,
        )
        .map_err(stream_error)
}

impl Source for Microphone {
    fn level(&self) -> f32 {
        f32::from_bits(self.level.load(Ordering::Relaxed))
    }

    fn elapsed(&self) -> Duration {
        let len = self.captured.lock().map(|c| c.len()).unwrap_or(0);
        Duration::from_millis(len as u64 * 1000 / u64::from(self.rate.max(1)))
    }

    fn finish(self: Box<Self>) -> Result<Vec<i16>, AudioError> {
        self.stopped.store(true, Ordering::Relaxed);
        drop(self.stream);
        let captured = std::mem::take(
            &mut *self
                .captured
                .lock()
                .map_err(|_| stream_error("the recording was lost"))?,
        );
        let at_rate = voice::resample(&captured, self.rate, RATE)?;
        Ok(at_rate
            .iter()
            .map(|s| (s * 32_768.0).clamp(-32_768.0, 32_767.0) as i16)
            .collect())
    }
}

/// A recording that plays back a WAV file as if spoken into a microphone,
/// in real time (its level and length follow the clock): for tests, and to
/// send a recording made elsewhere from the app.
pub struct WavSource {
    samples: Vec<i16>,
    started: std::time::Instant,
}

impl WavSource {
    pub fn open(bytes: &[u8]) -> Result<Self, AudioError> {
        Ok(Self {
            samples: voice::from_wav(bytes)?,
            started: std::time::Instant::now(),
        })
    }

    fn at(&self) -> usize {
        let elapsed = self.started.elapsed().as_millis() as usize;
        (elapsed * RATE as usize / 1000).min(self.samples.len())
    }
}

impl Source for WavSource {
    fn level(&self) -> f32 {
        let end = self.at();
        let start = end.saturating_sub(RATE as usize / 50);
        voice::envelope(&self.samples[start..end])
            .first()
            .copied()
            .unwrap_or(0.0)
    }

    fn elapsed(&self) -> Duration {
        Duration::from_millis(self.at() as u64 * 1000 / u64::from(RATE))
    }

    fn finish(self: Box<Self>) -> Result<Vec<i16>, AudioError> {
        let at = self.at();
        let mut samples = self.samples;
        samples.truncate(at);
        if samples.is_empty() {
            return Err(voice::VoiceError::Empty.into());
        }
        Ok(samples)
    }
}
