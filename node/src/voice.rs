//! Voice notes: speech as Opus in Ogg (RFC 7845), mono at 16 kHz and
//! 12 kbit/s — a minute is about 90 KiB, small enough for Bluetooth — sent
//! as an ordinary file (resumable, meshed like one). WAV in (any rate, any
//! channel count; resampled), PCM or WAV out.
//!
//! A voice note from the network is hostile until checked: [`decode`] reads
//! only a well-formed Ogg Opus stream and stops at [`MAX_SECS`] of audio,
//! whatever the file's size (a few bytes of Opus decode to 120 ms).

use std::io::Cursor;
use std::time::Duration;

use ogg::{PacketReader, PacketWriteEndInfo, PacketWriter};
use rubato::Resampler;

/// The rate voice notes are encoded and decoded at (wideband speech).
pub const RATE: u32 = 16_000;
/// The encoder's target bit rate (variable; the limit is 16 kbit/s).
pub const BITRATE: i32 = 12_000;
/// One Opus frame: 60 ms (fewer, larger packets: less framing overhead).
const FRAME: usize = (RATE as usize) * 60 / 1000;
/// The longest voice note encoded or decoded.
pub const MAX_SECS: u64 = 30 * 60;
/// The largest voice note read back (30 minutes at this bit rate is under
/// 3 MiB; anything much bigger is not one of ours).
pub const MAX_BYTES: u64 = 8 << 20;
/// What a voice note is sent as.
pub const MIME: &str = "audio/ogg";
/// The name a voice note is sent under (ends in `.opus`: its MIME type).
pub const FILE_NAME: &str = "voice note.opus";
/// Granule positions count 48 kHz samples whatever the coded rate.
const GRANULE_RATE: u64 = 48_000;
/// The stream serial number (one stream per file).
const SERIAL: u32 = 0x6361_6972; // "cair"
/// Largest Opus packet (RFC 6716: 1275 bytes a frame; 120 ms at most).
const MAX_PACKET: usize = 1275 * 3;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    #[error("not a WAV file this can read: {0}")]
    Wav(String),
    #[error("no sound in it")]
    Empty,
    #[error("longer than {} minutes", MAX_SECS / 60)]
    TooLong,
    #[error("not a voice note (Ogg Opus): {0}")]
    NotOpus(String),
    #[error("the audio codec failed: {0}")]
    Codec(String),
}

fn codec(e: opus::Error) -> VoiceError {
    VoiceError::Codec(e.to_string())
}

fn not_opus(e: impl std::fmt::Display) -> VoiceError {
    VoiceError::NotOpus(e.to_string())
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float, any rate and
/// channel count) as mono samples at [`RATE`].
pub fn from_wav(bytes: &[u8]) -> Result<Vec<i16>, VoiceError> {
    let wav = |e: hound::Error| VoiceError::Wav(e.to_string());
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(wav)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    if spec.sample_rate == 0 {
        return Err(VoiceError::Wav("a sample rate of 0".to_owned()));
    }
    if u64::from(reader.duration()) > MAX_SECS * u64::from(spec.sample_rate) {
        return Err(VoiceError::TooLong);
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(wav)?,
        hound::SampleFormat::Int => {
            let scale = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(wav)?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    if mono.is_empty() {
        return Err(VoiceError::Empty);
    }
    let resampled = resample(&mono, spec.sample_rate, RATE)?;
    Ok(resampled.iter().map(|s| to_i16(*s)).collect())
}

/// A sample in −1 … 1 as 16 bits (the inverse of reading one: ÷ 32 768).
fn to_i16(s: f32) -> i16 {
    (s * 32_768.0).clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// `samples` at `from` Hz, at `to` Hz (the resampler's delay trimmed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, VoiceError> {
    if from == to {
        return Ok(samples.to_vec());
    }
    let mut resampler =
        rubato::Fft::<f32>::new(from as usize, to as usize, 1024, 1, rubato::FixedSync::Both)
            .map_err(|e| VoiceError::Codec(e.to_string()))?;
    let input =
        rubato::audioadapter_buffers::direct::InterleavedSlice::new(samples, 1, samples.len())
            .map_err(|e| VoiceError::Codec(e.to_string()))?;
    let out = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| VoiceError::Codec(e.to_string()))?;
    Ok(out.take_data())
}

/// Encodes mono samples at [`RATE`] as an Ogg Opus voice note.
pub fn encode(samples: &[i16]) -> Result<Vec<u8>, VoiceError> {
    if samples.is_empty() {
        return Err(VoiceError::Empty);
    }
    if samples.len() as u64 > MAX_SECS * u64::from(RATE) {
        return Err(VoiceError::TooLong);
    }
    let mut encoder =
        opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Voip).map_err(codec)?;
    encoder
        .set_bitrate(opus::Bitrate::Bits(BITRATE))
        .map_err(codec)?;
    let lookahead = encoder.get_lookahead().map_err(codec)?.max(0) as u64;
    let per_granule = GRANULE_RATE / u64::from(RATE);
    let pre_skip = lookahead * per_granule;

    let mut out = Vec::with_capacity(samples.len() / 10 + 256);
    let mut writer = PacketWriter::new(&mut out);
    let io = |e: std::io::Error| VoiceError::Codec(e.to_string());
    writer
        .write_packet(
            opus_head(pre_skip as u16),
            SERIAL,
            PacketWriteEndInfo::EndPage,
            0,
        )
        .map_err(io)?;
    writer
        .write_packet(opus_tags(), SERIAL, PacketWriteEndInfo::EndPage, 0)
        .map_err(io)?;
    // The encoder's delay is made up at the end with silence, so the last
    // real samples come out; the last granule marks where they end.
    let total = samples.len() as u64;
    let mut padded = samples.to_vec();
    let wanted = (samples.len() + lookahead as usize).div_ceil(FRAME) * FRAME;
    padded.resize(wanted, 0);
    let frames = padded.len() / FRAME;
    let mut packet = vec![0u8; MAX_PACKET];
    for (i, frame) in padded.chunks(FRAME).enumerate() {
        let len = encoder.encode(frame, &mut packet).map_err(codec)?;
        let last = i + 1 == frames;
        let granule = if last {
            pre_skip + total * per_granule
        } else {
            pre_skip + ((i + 1) * FRAME) as u64 * per_granule
        };
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if (i + 1) % 50 == 0 {
            // A page every 3 s: a damaged page loses little.
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        writer
            .write_packet(packet[..len].to_vec(), SERIAL, end, granule)
            .map_err(io)?;
    }
    drop(writer);
    Ok(out)
}

fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(1); // mono
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&RATE.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family 0
    head
}

fn opus_tags() -> Vec<u8> {
    let vendor = b"cairn";
    let mut tags = Vec::with_capacity(20);
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

/// What the header of a voice note says.
struct Head {
    channels: usize,
    pre_skip: u64,
}

fn parse_head(data: &[u8]) -> Result<Head, VoiceError> {
    if data.len() < 19 || &data[..8] != b"OpusHead" {
        return Err(not_opus("no OpusHead"));
    }
    if data[8] >> 4 != 0 {
        return Err(not_opus("an unknown version"));
    }
    let channels = usize::from(data[9]);
    if !(1..=2).contains(&channels) || data[18] != 0 {
        return Err(not_opus("not mono or stereo"));
    }
    Ok(Head {
        channels,
        pre_skip: u64::from(u16::from_le_bytes([data[10], data[11]])),
    })
}

/// Decodes a voice note to mono samples at [`RATE`]: its length is what
/// the last granule position says (the encoder's padding cut off). Refuses
/// anything that is not Ogg Opus, and stops at [`MAX_SECS`].
pub fn decode(ogg: &[u8]) -> Result<Vec<i16>, VoiceError> {
    let mut reader = PacketReader::new(Cursor::new(ogg));
    let head = match reader.read_packet().map_err(not_opus)? {
        Some(p) => parse_head(&p.data)?,
        None => return Err(not_opus("empty")),
    };
    match reader.read_packet().map_err(not_opus)? {
        Some(p) if p.data.starts_with(b"OpusTags") => {}
        _ => return Err(not_opus("no OpusTags")),
    }
    let channels = if head.channels == 2 {
        opus::Channels::Stereo
    } else {
        opus::Channels::Mono
    };
    let mut decoder = opus::Decoder::new(RATE, channels).map_err(codec)?;
    let max = MAX_SECS as usize * RATE as usize;
    let per_granule = GRANULE_RATE / u64::from(RATE);
    let skip = (head.pre_skip / per_granule) as usize;
    // 120 ms, the longest packet, per channel.
    let mut pcm = vec![0i16; (RATE as usize) * 120 / 1000 * head.channels];
    let mut out: Vec<i16> = Vec::new();
    let mut end: Option<u64> = None;
    while let Some(packet) = reader.read_packet().map_err(not_opus)? {
        if packet.data.is_empty() || packet.data.len() > MAX_PACKET {
            return Err(not_opus("a packet of impossible size"));
        }
        let n = decoder
            .decode(&packet.data, &mut pcm, false)
            .map_err(codec)?;
        let frames = &pcm[..n * head.channels];
        out.extend(
            frames
                .chunks(head.channels)
                .map(|f| (f.iter().map(|s| i32::from(*s)).sum::<i32>() / f.len() as i32) as i16),
        );
        if out.len() > max + skip {
            return Err(VoiceError::TooLong);
        }
        // The page's granule is where its last packet ends.
        if packet.last_in_page() {
            end = Some(packet.absgp_page());
        }
        if packet.last_in_stream() {
            break;
        }
    }
    let mut samples = out.split_off(skip.min(out.len()));
    if let Some(granule) = end {
        let wanted = (granule.saturating_sub(head.pre_skip) / per_granule) as usize;
        samples.truncate(wanted);
    }
    if samples.is_empty() {
        return Err(VoiceError::Empty);
    }
    Ok(samples)
}

/// How long a voice note plays.
pub fn duration(ogg: &[u8]) -> Result<Duration, VoiceError> {
    let samples = decode(ogg)?;
    Ok(Duration::from_millis(
        samples.len() as u64 * 1000 / u64::from(RATE),
    ))
}

/// A voice note written where the node can read it as a file to send
/// (`Request::SendFile`): in a private directory of the profile, under
/// [`FILE_NAME`]. The directory goes when this is dropped (the node has
/// read the file by the time it answers).
pub struct Staged {
    dir: std::path::PathBuf,
    pub path: std::path::PathBuf,
}

impl Staged {
    pub fn new(profile_dir: &std::path::Path, note: &[u8]) -> std::io::Result<Self> {
        let dir = profile_dir.join(format!(
            "voice-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir)?;
        let staged = Self {
            path: dir.join(FILE_NAME),
            dir,
        };
        std::fs::write(&staged.path, note)?;
        Ok(staged)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Mono samples at [`RATE`] as a 16-bit WAV file.
pub fn to_wav(samples: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(samples.len() * 2 + 44));
    // Writing to memory fails only on allocation failure.
    #[allow(clippy::expect_used)]
    {
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("in memory");
        let mut w = writer.get_i16_writer(samples.len() as u32);
        for s in samples {
            w.write_sample(*s);
        }
        w.flush().expect("in memory");
        writer.finalize().expect("in memory");
    }
    out.into_inner()
}

/// Whether a file message is a voice note (by its MIME type).
pub fn is_voice(mime: &str) -> bool {
    mime == MIME || mime.starts_with("audio/ogg;") || mime == "audio/opus"
}

/// The short-time loudness of `samples` (RMS over 20 ms windows, 0 … 1):
/// what a level meter shows, and how tests compare speech before and after
/// the codec.
pub fn envelope(samples: &[i16]) -> Vec<f32> {
    samples
        .chunks(RATE as usize / 50)
        .map(|w| {
            let sum: f64 = w.iter().map(|s| f64::from(*s).powi(2)).sum();
            ((sum / w.len() as f64).sqrt() / f64::from(i16::MAX)) as f32
        })
        .collect()
}

/// Pearson correlation of two envelopes over their common length.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f32]| x.iter().sum::<f32>() / n as f32;
    let (ma, mb) = (mean(a), mean(b));
    let mut cov = 0.0;
    let mut va = 0.0;
    let mut vb = 0.0;
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma).powi(2);
        vb += (y - mb).powi(2);
    }
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    cov / (va.sqrt() * vb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second of something speech-like: a 200 Hz tone with harmonics,
    /// its loudness rising and falling like syllables.
    fn speechlike(secs: f32) -> Vec<i16> {
        let n = (secs * RATE as f32) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / RATE as f32;
                let syllable = (t * 4.0 * std::f32::consts::PI).sin().abs();
                let voice: f32 = (1..6)
                    .map(|h| (t * 200.0 * h as f32 * 2.0 * std::f32::consts::PI).sin() / h as f32)
                    .sum();
                to_i16(0.3 * syllable * voice)
            })
            .collect()
    }

    #[test]
    fn a_voice_note_comes_back_as_long_and_as_shaped_as_it_went() {
        let sound = speechlike(3.0);
        let note = encode(&sound).unwrap();
        let back = decode(&note).unwrap();
        assert_eq!(back.len(), sound.len(), "duration kept to the sample");
        let sim = similarity(&envelope(&sound), &envelope(&back));
        assert!(sim > 0.95, "envelope similarity {sim}");
        // ≤ 16 kbit/s with the framing.
        let bits_per_sec = note.len() as f64 * 8.0 / 3.0;
        assert!(bits_per_sec <= 16_000.0, "{bits_per_sec} bit/s");
        assert_eq!(duration(&note).unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn wav_files_of_any_rate_and_channels_are_read_as_mono_16k() {
        for (rate, channels) in [(22_050, 1), (48_000, 2), (8_000, 1), (16_000, 1)] {
            let spec = hound::WavSpec {
                channels,
                sample_rate: rate,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut bytes = Cursor::new(Vec::new());
            let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
            for i in 0..rate {
                let s = ((i as f32 / rate as f32 * 440.0 * std::f32::consts::TAU).sin() * 8000.0)
                    as i16;
                for _ in 0..channels {
                    w.write_sample(s).unwrap();
                }
            }
            w.finalize().unwrap();
            let mono = from_wav(bytes.get_ref()).unwrap();
            let len = mono.len() as i64;
            assert!(
                (len - i64::from(RATE)).abs() <= 1,
                "{rate} Hz × {channels}: {len}"
            );
            let back = from_wav(&to_wav(&mono)).unwrap();
            assert!(
                back == mono,
                "{rate} Hz × {channels}: not the same after WAV"
            );
        }
    }

    /// Voice notes for the fuzz target's seeds (`node/fuzz/seeds/voice_note`):
    /// written when `CAIRN_WRITE_SEEDS` names that directory.
    #[test]
    fn fuzz_seeds() {
        let Some(dir) = std::env::var_os("CAIRN_WRITE_SEEDS") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("half-second"), encode(&speechlike(0.5)).unwrap()).unwrap();
        std::fs::write(dir.join("one-frame"), encode(&speechlike(0.02)).unwrap()).unwrap();
    }

    #[test]
    fn hostile_voice_notes_are_refused_not_decoded_to_gigabytes() {
        let note = encode(&speechlike(1.0)).unwrap();
        // Not Ogg, a broken header, nothing at all; cut short (whatever it
        // decodes to, it must not panic).
        assert!(decode(b"RIFF....WAVEfmt ").is_err());
        assert!(decode(&[]).is_err());
        let _ = decode(&note[..note.len() / 3]);
        let mut bad = note.clone();
        let at = bad.windows(8).position(|w| w == b"OpusHead").unwrap();
        bad[at + 9] = 7; // seven channels, family 0
        assert!(decode(&bad).is_err());
        // Real packets of silence, a few bytes each, repeated to claim more
        // than the longest voice note: decoding stops at the limit instead
        // of filling memory.
        let mut encoder =
            opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let silence = encoder.encode_vec(&[0i16; FRAME], MAX_PACKET).unwrap();
        assert!(silence.len() < 32, "{} bytes", silence.len());
        let mut out = Vec::new();
        let mut w = PacketWriter::new(&mut out);
        w.write_packet(opus_head(0), 1, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        w.write_packet(opus_tags(), 1, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        let count = (MAX_SECS * 1000 / 60 + 10) as usize;
        for i in 0..count {
            let end = if i + 1 == count {
                PacketWriteEndInfo::EndStream
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            w.write_packet(silence.clone(), 1, end, (i as u64 + 1) * 2880)
                .unwrap();
        }
        drop(w);
        assert!(
            out.len() < 1_200_000,
            "{} bytes claim half an hour",
            out.len()
        );
        assert!(matches!(decode(&out), Err(VoiceError::TooLong)));
        // Too long to encode, and silence of no length.
        assert!(matches!(encode(&[]), Err(VoiceError::Empty)));
    }
}
