//! A peer driving our file transfers with arbitrary offers, chunks and
//! wants (as its session would deliver them): never a panic, never more
//! chunks asked for or served than the bounds allow, never a file called
//! complete whose content does not hash to its offer.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::BTreeMap;

use cairn_protocol::file::{CHUNK_LEN, FileMeta, FileOutput, MAX_WINDOW, TransferState, Transfers};
use cairn_protocol::payload::{MessageId, Payload};
use cairn_protocol::{Identity, Time};
use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let peer = Identity::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1)).key();
    let mut t = Transfers::new();
    // One file of ours, so wants have something to ask for.
    let ours = MessageId([1; 16]);
    let meta = FileMeta::of("ours.bin", "", &vec![7u8; 3 * CHUNK_LEN + 5]).unwrap();
    t.start_outgoing(Time::from_millis(1), peer, ours, meta);
    let mut now = Time::from_millis(1);
    let mut stored: BTreeMap<MessageId, BTreeMap<u32, Vec<u8>>> = BTreeMap::new();
    // The input: length-prefixed padded payloads.
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (one, tail) = rest[2..].split_at(n);
        rest = tail;
        now = now + std::time::Duration::from_millis(500);
        let Ok(payload) = Payload::decode_padded(one) else {
            continue;
        };
        match payload {
            Payload::File {
                id, meta, inline, ..
            } => t.offered(now, peer, id, *meta, inline, true),
            Payload::FileChunk { id, index, data } => t.on_chunk(now, peer, id, index, data),
            Payload::FileWant {
                id,
                have,
                from,
                count,
            } => t.on_want(now, peer, id, have, from, count),
            _ => continue,
        }
        let out: Vec<FileOutput> = std::iter::from_fn(|| t.poll_output()).collect();
        let served = out
            .iter()
            .filter(|o| matches!(o, FileOutput::Chunk { .. }))
            .count();
        assert!(served <= usize::from(MAX_WINDOW));
        for o in &out {
            if let FileOutput::Want { count, .. } = o {
                assert!(*count <= MAX_WINDOW);
            }
            if let FileOutput::StoreChunk {
                id, index, data, ..
            } = o
            {
                stored.entry(*id).or_default().insert(*index, data.clone());
            }
            if let FileOutput::Record(r) = o {
                assert!(r.have <= r.meta.chunks());
                if !r.outgoing && r.state == TransferState::Complete && r.meta.size > 0 {
                    let mut h = Sha256::new();
                    for chunk in stored.get(&r.id).into_iter().flat_map(|c| c.values()) {
                        h.update(chunk);
                    }
                    let digest: [u8; 32] = h.finalize().into();
                    assert_eq!(digest, r.meta.sha256, "complete but not what was offered");
                }
            }
        }
        t.tick(now, |_| true);
        while t.poll_output().is_some() {}
    }
});
