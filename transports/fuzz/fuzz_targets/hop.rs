//! The hop layer: handshake messages and records from a hostile peer.
//!
//! First byte picks the mode:
//! - 0: the rest is a handshake message to a responder (`-> e`), then one to
//!   an initiator that sent its first message (`<- e, ee, s, es, proof`);
//! - 1: the rest is raw bytes on an established link, in pieces;
//! - 2: the rest is cut into plaintexts that are sealed as records by a
//!   genuine peer (so authentication passes and the flag and length logic
//!   runs on arbitrary content).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_transports::framing::FrameReader;
use cairn_transports::hop::{self, Handshake, Role};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

const MTU: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (a, b) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    match mode % 3 {
        0 => {
            let mut responder = Handshake::new(Role::Responder, &b).unwrap();
            let _ = responder.read(rest);
            let mut initiator = Handshake::new(Role::Initiator, &a).unwrap();
            let _ = initiator.write().unwrap();
            let _ = initiator.read(rest);
        }
        1 => {
            let (_, theirs) = hop::in_memory(&a, &b).unwrap();
            let mut reader = theirs.reader.with_mtu(MTU);
            for piece in rest.chunks(997) {
                reader.push(piece);
                loop {
                    match reader.next_frame() {
                        Ok(Some(frame)) => assert!(frame.len() <= MTU),
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
            }
        }
        _ => {
            let (mut ours, theirs) = hop::in_memory(&a, &b).unwrap();
            let mut reader = theirs.reader.with_mtu(MTU);
            let mut wire = Vec::new();
            for plain in rest.chunks(257) {
                ours.writer.seal_record(plain, &mut wire).unwrap();
            }
            reader.push(&wire);
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => assert!(frame.len() <= MTU),
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            assert!(reader.buffered() <= MTU + wire.len());
        }
    }
});
