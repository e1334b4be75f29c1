//! A group member fed automerge storage chunks built from arbitrary bytes,
//! inside well-formed sync messages from another member: raw change chunks,
//! compressed chunks (DEFLATE of the input) and whole documents whose
//! columns are DEFLATE streams of the input. Nothing may be inflated or
//! walked past the bounds in `group::chunk`, and the group keeps working.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::Write;

use automerge::sync::{Message, MessageVersion};
use cairn_protocol::group::groups::Groups;
use cairn_protocol::group::{NewMember, Role};
use cairn_protocol::payload::GroupFragment;
use cairn_protocol::{Identity, Time};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn member(id: &Identity) -> NewMember {
    NewMember {
        identity: id.key(),
        name: "m".into(),
        static_key: id.static_key(),
        devices: Vec::new(),
    }
}

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn chunk(ty: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, ty];
    uleb(&mut out, data.len() as u64);
    out.extend_from_slice(data);
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let payload = match mode % 3 {
        0 => chunk(1, rest),
        1 => chunk(2, &deflate(rest)),
        _ => {
            // A document: no actors or heads, the input's first byte as the
            // spec of one deflated change column, and no op columns.
            let spec = u64::from(rest.first().copied().unwrap_or(0)) | 0b1000;
            let column = deflate(rest);
            let mut doc = vec![0, 0, 1];
            uleb(&mut doc, spec);
            uleb(&mut doc, column.len() as u64);
            doc.push(0);
            doc.extend_from_slice(&column);
            chunk(0, &doc)
        }
    };
    let message = Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: vec![payload].into(),
        flags: None,
        version: MessageVersion::V1,
    };
    let mut blob = vec![1, 1, 0, 0]; // version, sync, no signatures
    blob.extend_from_slice(&message.encode());

    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let now = Time::from_secs(1_700_000_000);
    let mut groups = Groups::new(&alice, true, [1; 32]);
    let g = groups.create(&alice, member(&alice), "fuzz", now).unwrap();
    groups
        .add(&alice, &g, member(&bob), Role::Member, now)
        .unwrap();
    groups.peer_up(bob.key());
    while groups.poll_output().is_some() {}
    for (i, part) in blob.chunks(60_000).enumerate() {
        let frag = GroupFragment {
            group: g,
            serial: 1,
            part: i as u16,
            parts: blob.len().div_ceil(60_000) as u16,
            data: part.to_vec(),
        };
        groups.on_fragment(bob.key(), frag, true, true);
        while groups.poll_output().is_some() {}
    }
    groups
        .post(&alice, &g, cairn_protocol::MessageId([1; 16]), "ok", now)
        .unwrap();
});
