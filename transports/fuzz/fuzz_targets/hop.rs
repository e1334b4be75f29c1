//! The hop layer: handshake messages and records from a hostile peer.
//!
//! First byte picks the mode:
//! - 0: the rest is a handshake message to a responder (`-> e`), then one to
//!   an initiator that sent its first message (`<- e, ee, s, es, lookups`);
//! - 1: the rest is raw bytes on an established link, in pieces;
//! - 2: the rest is cut into plaintexts that are sealed as records by a
//!   genuine peer (so authentication passes and the flag and length logic
//!   runs on arbitrary content);
//! - 3, 4, 5: the rest is the content of the peer's second, third or
//!   fourth handshake message (its lookups, its lookups and proof, its
//!   proof), sealed by a genuine peer so the parser sees it.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_transports::framing::FrameReader;
use cairn_transports::hop::{self, Handshake, HopKeys, Role};
use libfuzzer_sys::fuzz_target;

const MTU: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (a, b) = (
        HopKeys::new(&[1; 32], &[3; 32]),
        HopKeys::new(&[2; 32], &[4; 32]),
    );
    // Each looks for the other, so proofs are expected and checked.
    a.look_for(vec![b.static_key()]);
    b.look_for(vec![a.static_key()]);
    match mode % 6 {
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
        2 => {
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
        step => {
            // Honest up to the message the fuzzer fills.
            let mut i = Handshake::new(Role::Initiator, &a).unwrap();
            let mut r = Handshake::new(Role::Responder, &b).unwrap();
            let target = usize::from(step - 2);
            for n in 0..4 {
                let (from, to) = if n % 2 == 0 {
                    (&mut i, &mut r)
                } else {
                    (&mut r, &mut i)
                };
                let message = if n == target {
                    match from.write_payload(rest) {
                        Ok(m) => m,
                        Err(_) => return,
                    }
                } else {
                    from.write().unwrap()
                };
                if to.read(&message).is_err() {
                    return;
                }
            }
            // Whatever was accepted finishes cleanly.
            let _ = i.finish().unwrap();
            let _ = r.finish().unwrap();
        }
    }
});
