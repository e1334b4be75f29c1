//! Sequences of messages and operations on them (replies, reactions, edits,
//! deletions, expiry) as a hostile contact could send them, in any order,
//! applied by the store's rules: whatever the sequence, a deleted message
//! holds no text (nor does any operation on it), a message keeps at most two
//! reactions (each one emoji), and no target collects more operations than
//! the bound.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::message::{Changes, MAX_OPS_PER_MESSAGE, MessageOp, OpKind, is_reaction};
use cairn_protocol::store::{MemoryStore, Store, StoreOp, WriteBatch};
use cairn_protocol::{DeliveryState, Direction, Identity, MessageId, MessageRecord, Time};
use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;

const TEXTS: [&str; 6] = ["hello", "secret plan", "👍", "", "❤️", "edited text"];

fuzz_target!(|data: &[u8]| {
    let peer = Identity::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1)).key();
    let mut store = MemoryStore::default();
    for (n, step) in data.chunks_exact(4).take(400).enumerate() {
        let (kind, id, target, flags) = (step[0] % 7, step[1] % 16, step[2] % 16, step[3]);
        let direction = if flags & 1 == 0 {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        let at = Time::from_millis(u64::from(flags >> 1));
        let op = match kind {
            1 => Some(OpKind::Reply),
            2 => Some(OpKind::React),
            3 => Some(OpKind::Edit),
            4 => Some(OpKind::Delete),
            _ => None,
        };
        let mut batch = WriteBatch::default();
        if kind == 6 {
            batch.push(StoreOp::Expire { peer, before: at });
        } else {
            let mut id_bytes = [id; 16];
            id_bytes[0] = (n % 251) as u8; // a fresh id for most steps
            batch.push(StoreOp::PutMessage(Box::new(MessageRecord {
                peer,
                id: MessageId(if kind == 0 { [id; 16] } else { id_bytes }),
                direction,
                text: TEXTS[usize::from(flags >> 5) % TEXTS.len()].into(),
                sent_at: at,
                local_at: at,
                state: DeliveryState::Delivered,
                remote: None,
                file: None,
                op: op.map(|kind| MessageOp {
                    kind,
                    target: MessageId([target; 16]),
                }),
                changes: Changes::default(),
            })));
        }
        store.commit(&batch).unwrap();
    }
    let all = store.history(&peer);
    for m in &all {
        assert!(m.changes.reactions.len() <= 2);
        assert!(m.changes.shown_reactions().all(|(_, r)| is_reaction(r)));
        let ops: Vec<_> = all
            .iter()
            .filter(|o| {
                o.op.is_some_and(|op| op.kind.is_change() && op.target == m.id)
            })
            .collect();
        assert!(ops.len() <= MAX_OPS_PER_MESSAGE);
        if m.op.is_none() && m.changes.deleted {
            assert!(m.text.is_empty() && m.changes.earlier.is_empty());
            assert!(ops.iter().all(|o| o.text.is_empty()), "{ops:?}");
        }
    }
    let _ = store.pending_outgoing().unwrap();
});
