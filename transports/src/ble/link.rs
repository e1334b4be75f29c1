//! One BLE link, sans I/O: the packet ARQ ([`super::arq`]), then the hop
//! handshake ([`crate::hop`]) so the peer is authenticated before anything
//! else flows, then frames as Noise records.
//!
//! ```text
//! frames  ── hop records (Noise, 16-byte tag per ≤ 64 KiB) ──┐
//! handshake messages (len:u16 body) ─────────────────────────┤ one byte stream
//!                                                             └─ ARQ packets ≤ ATT MTU − 3
//! ```
//!
//! The driver feeds packets from the radio with [`BleLink::on_packet`], sends
//! what [`BleLink::poll_transmit`] returns, and wakes at
//! [`BleLink::poll_timeout`]. The in-memory bus, the BlueZ adapter and the
//! simulator drive this same core.

use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;

use super::arq::{Arq, ArqError};
use crate::framing::{FrameReader, FrameWriter};
use crate::hop::{
    Handshake, HopError, HopKeys, MAX_RECORD, Peer, RecordReader, RecordWriter, Role,
};
use crate::link::DownReason;

/// Frame MTU a BLE link offers the node: the same as the other transports,
/// so every message fits (the link cuts frames into packets itself).
pub const BLE_FRAME_MTU: usize = 128 * 1024;

/// Longest a hop handshake may take over BLE.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a link tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BleEvent {
    /// The hop handshake finished: the peer is this identity, or a
    /// stranger under a pseudonym.
    Up {
        peer: Peer,
    },
    Frame(Bytes),
}

enum State {
    Handshaking {
        hs: Box<Handshake>,
        buf: Vec<u8>,
    },
    Up {
        writer: RecordWriter,
        reader: RecordReader,
    },
    Failed,
}

pub struct BleLink {
    arq: Arq,
    state: State,
    frame_mtu: usize,
    started: Duration,
}

fn down(e: ArqError) -> DownReason {
    match e {
        ArqError::Closed => DownReason::Closed,
        ArqError::Unresponsive | ArqError::Stalled => DownReason::Lost(e.to_string()),
        _ => DownReason::Violation(e.to_string()),
    }
}

fn hop(e: HopError) -> DownReason {
    match e {
        HopError::Stale => DownReason::Lost(e.to_string()),
        e => DownReason::Violation(e.to_string()),
    }
}

impl BleLink {
    /// A link over packets of `att_mtu`, carrying frames of at most
    /// `frame_mtu`. The initiator (the central that connected) speaks first.
    pub fn new(
        now: Duration,
        role: Role,
        keys: &Arc<HopKeys>,
        att_mtu: usize,
        frame_mtu: usize,
    ) -> Result<Self, DownReason> {
        let hs = Handshake::new(role, keys).map_err(hop)?;
        let mut link = Self {
            arq: Arq::new(att_mtu),
            state: State::Handshaking {
                hs: Box::new(hs),
                buf: Vec::new(),
            },
            frame_mtu,
            started: now,
        };
        link.speak()?;
        Ok(link)
    }

    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    /// Bytes of stream per packet.
    pub fn packet_len(&self) -> usize {
        self.arq.packet_len()
    }

    /// Writes our handshake messages while it is our turn.
    fn speak(&mut self) -> Result<(), DownReason> {
        if let State::Handshaking { hs, .. } = &mut self.state {
            while hs.our_turn() && !hs.is_finished() {
                let msg = hs.write().map_err(hop)?;
                let mut out = (msg.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&msg);
                self.arq.write(&out);
            }
        }
        Ok(())
    }

    /// A packet from the radio.
    pub fn on_packet(&mut self, now: Duration, packet: &[u8]) -> Result<Vec<BleEvent>, DownReason> {
        if matches!(self.state, State::Failed) {
            return Err(DownReason::Closed);
        }
        let result = self.take(now, packet);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn take(&mut self, now: Duration, packet: &[u8]) -> Result<Vec<BleEvent>, DownReason> {
        self.arq.on_packet(now, packet).map_err(down)?;
        let bytes = self.arq.read();
        let mut events = Vec::new();
        if bytes.is_empty() {
            return Ok(events);
        }
        let mut rest = Vec::new();
        if let State::Handshaking { hs, buf } = &mut self.state {
            buf.extend_from_slice(&bytes);
            while buf.len() >= 2 && !hs.is_finished() {
                let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                if len > MAX_RECORD {
                    return Err(DownReason::Violation("handshake message too long".into()));
                }
                if buf.len() < 2 + len {
                    break;
                }
                let msg: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
                hs.read(&msg).map_err(hop)?;
                while hs.our_turn() && !hs.is_finished() {
                    let msg = hs.write().map_err(hop)?;
                    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&msg);
                    self.arq.write(&out);
                }
            }
            if hs.is_finished() {
                rest = std::mem::take(buf);
                let State::Handshaking { hs, .. } =
                    std::mem::replace(&mut self.state, State::Failed)
                else {
                    return Err(DownReason::Closed);
                };
                let done = hs.finish().map_err(hop)?;
                events.push(BleEvent::Up { peer: done.peer });
                self.state = State::Up {
                    writer: done.writer,
                    reader: done.reader.with_mtu(self.frame_mtu),
                };
            }
        } else {
            rest = bytes;
        }
        if let State::Up { reader, .. } = &mut self.state
            && !rest.is_empty()
        {
            reader.push(&rest);
            while let Some(frame) = reader.next_frame()? {
                events.push(BleEvent::Frame(frame));
            }
        }
        Ok(events)
    }

    /// Queues a frame. False when the link has no room for it now (try again
    /// once packets went out); an error when the frame can never go.
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<bool, DownReason> {
        if frame.len() > self.frame_mtu {
            return Err(DownReason::Violation("frame over the link's MTU".into()));
        }
        let State::Up { writer, .. } = &mut self.state else {
            return Ok(false);
        };
        // A record per 64 KiB: 19 bytes of framing and tag each.
        if self.arq.room() < frame.len() + 64 * (frame.len() / (64 * 1024) + 1) {
            return Ok(false);
        }
        let mut out = Vec::with_capacity(frame.len() + 32);
        writer.put(frame, &mut out)?;
        Ok(self.arq.write(&out))
    }

    /// The next packet for the radio.
    pub fn poll_transmit(&mut self, now: Duration) -> Result<Option<Vec<u8>>, DownReason> {
        self.arq.poll_transmit(now).map_err(down)
    }

    pub fn poll_timeout(&self) -> Option<Duration> {
        let handshake = (!self.is_up()).then_some(self.started + HANDSHAKE_TIMEOUT);
        [self.arq.poll_timeout(), handshake]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Duration) -> Result<(), DownReason> {
        if !self.is_up() && now >= self.started + HANDSHAKE_TIMEOUT {
            return Err(DownReason::Lost("the hop handshake timed out".into()));
        }
        self.arq.handle_timeout(now).map_err(down)
    }

    /// What the ARQ did, its window, and its round-trip time (for logs).
    pub fn describe(&self) -> String {
        let s = self.arq.stats();
        format!(
            "sent={} resent={} received={} dup={} acks={} cwnd={} in_flight={} srtt={:?}",
            s.sent,
            s.resent,
            s.received,
            s.duplicates,
            s.acks_sent,
            self.arq.window(),
            self.arq.in_flight(),
            self.arq.srtt()
        )
    }

    /// Everything we queued went out and was acknowledged.
    pub fn is_idle(&self) -> bool {
        self.arq.is_idle()
    }

    /// Says goodbye (the next packet out is a CLOSE).
    pub fn close(&mut self) {
        self.arq.close();
    }
}
