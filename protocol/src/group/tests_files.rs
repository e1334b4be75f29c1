//! Files in groups through the real sync cores: fetched from whichever
//! member holds them, checked against the post's hash, erased with the post
//! (docs/GROUPS.md, "Files") — and what a hostile member tries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::files::FileBlob;
use super::groups::GroupOp;
use super::tests::{Net, walkers};
use super::*;
use crate::file::{CHUNK_LEN, FileMeta};
use crate::payload::GroupFragment;

impl Net {
    fn send_file(&mut self, who: usize, g: &GroupId, name: &str, data: &[u8]) -> MessageId {
        let now = self.now();
        let msg = message_id(now, [who as u8 + 100; 8]);
        let node = &mut self.nodes[who];
        let meta = FileMeta::of(name, "audio/ogg", data).unwrap();
        let file = node.groups.post_file(&node.id, g, msg, meta, now).unwrap();
        for (i, chunk) in data.chunks(CHUNK_LEN).enumerate() {
            node.chunks.insert((*g, file, i as u32), chunk.to_vec());
        }
        self.collect(who);
        msg
    }

    /// The file of `msg` as `who` holds it whole (`None`: not whole).
    fn file_bytes(&self, who: usize, g: &GroupId, msg: MessageId) -> Option<Vec<u8>> {
        let (file, meta, held) = self.nodes[who].groups.get(g)?.file_of(&msg)?;
        if !held {
            return None;
        }
        let mut out = Vec::new();
        for i in 0..meta.chunks() {
            out.extend_from_slice(self.nodes[who].chunks.get(&(*g, file, i))?);
        }
        Some(out)
    }

    fn chunks_of(&self, who: usize, g: &GroupId) -> usize {
        self.nodes[who]
            .chunks
            .keys()
            .filter(|(gid, _, _)| gid == g)
            .count()
    }

    fn tick_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.nodes[i].groups.tick();
            self.collect(i);
        }
        self.run(100_000);
    }
}

/// A voice note's worth of bytes (three chunks), not all alike.
fn note() -> Vec<u8> {
    (0..CHUNK_LEN * 2 + 7_000)
        .map(|i| (i * 31 % 251) as u8)
        .collect()
}

#[test]
fn a_file_is_fetched_from_any_member_that_holds_it_and_erased_everywhere_with_its_post() {
    let mut net = Net::new(3, 41);
    let g = walkers(&mut net);
    net.disconnect(0, 2); // Carol is away
    let data = note();
    let id = net.send_file(0, &g, "note.ogg", &data);
    net.run(100_000);
    assert!(net.file_bytes(1, &g, id) == Some(data.clone()));
    let m = net
        .messages(1, &g)
        .into_iter()
        .find(|m| m.id == id)
        .unwrap();
    assert_eq!(m.text, "note.ogg");
    assert_eq!(m.file.as_ref().map(|f| f.size), Some(data.len() as u64));
    assert!(m.file_held);

    // Alice goes; Carol comes by Bob only: he serves what Alice posted.
    net.disconnect(0, 1);
    net.connect(1, 2);
    net.run(100_000);
    assert!(net.file_bytes(2, &g, id) == Some(data.clone()));

    // Files are not edited; replies quote their name.
    assert_eq!(
        net.op(
            0,
            &g,
            GroupOp::Edit {
                to: id,
                text: "x".into()
            }
        ),
        Err(GroupError::FileNotEditable)
    );
    let reply = net
        .op(
            2,
            &g,
            GroupOp::Reply {
                to: id,
                text: "nice".into(),
            },
        )
        .unwrap();
    net.run(100_000);
    let r = net
        .messages(1, &g)
        .into_iter()
        .find(|m| m.id == reply)
        .unwrap();
    assert_eq!(r.quote.as_deref(), Some("note.ogg"));

    // Deleted by its author: the content goes from every store it reached.
    net.connect(0, 1);
    net.connect(0, 2);
    net.op(0, &g, GroupOp::Delete { to: id }).unwrap();
    net.run(100_000);
    for who in 0..3 {
        assert!(net.file_bytes(who, &g, id).is_none(), "at {who}");
        assert_eq!(net.chunks_of(who, &g), 0, "{who} still stores chunks");
        let m = net
            .messages(who, &g)
            .into_iter()
            .find(|m| m.id == id)
            .unwrap();
        assert!(m.deleted && m.file.is_none(), "at {who}");
    }
}

#[test]
fn a_forged_file_is_refused_and_fetched_again_from_an_honest_member() {
    let mut net = Net::new(4, 42);
    let g = walkers(&mut net);
    net.disconnect(0, 2);
    let data = note();
    let id = net.send_file(0, &g, "note.ogg", &data);
    net.run(100_000);
    // Bob's copy rots (or Bob lies): every chunk he serves is the right
    // length, the whole the wrong hash.
    for (_, chunk) in net.nodes[1].chunks.iter_mut() {
        chunk[0] ^= 1;
    }
    net.disconnect(0, 1);
    net.connect(1, 2);
    net.run(100_000);
    assert!(
        net.file_bytes(2, &g, id).is_none(),
        "a forged file is not taken"
    );
    assert_eq!(net.chunks_of(2, &g), 0, "and not kept");
    let m = net
        .messages(2, &g)
        .into_iter()
        .find(|m| m.id == id)
        .unwrap();
    assert!(m.file.is_some() && !m.file_held);

    // Chunks nobody asked for, from a member or not, are dropped.
    let (file, _, _) = net.nodes[2].groups.get(&g).unwrap().file_of(&id).unwrap();
    for (from, index) in [(1usize, 0u32), (3, 0), (1, 7)] {
        let frag: GroupFragment =
            net.nodes[from]
                .groups
                .file_chunk(g, file, index, data[..CHUNK_LEN].to_vec());
        let key = net.nodes[from].id.key();
        net.nodes[2].groups.on_fragment(key, frag, true, true);
        while net.nodes[2].groups.poll_output().is_some() {}
    }
    assert_eq!(net.chunks_of(2, &g), 0);
    // A stranger asking for it gets nothing.
    let want = FileBlob::Want {
        file,
        from: 0,
        count: 4,
    };
    let stranger = net.nodes[3].id.key();
    net.nodes[0].groups.on_fragment(
        stranger,
        GroupFragment {
            group: g,
            serial: 1,
            part: 0,
            parts: 1,
            data: want.encode(),
        },
        true,
        true,
    );
    assert!(net.nodes[0].groups.poll_output().is_none());

    // Alice comes back: Carol, passing Bob over, fetches it from her.
    net.connect(0, 2);
    net.run(100_000);
    net.tick_all();
    assert!(net.file_bytes(2, &g, id) == Some(data.clone()));
}

#[test]
fn a_voice_note_crosses_a_chain_of_members_at_once_and_its_expiry_erases_it_everywhere() {
    let mut net = Net::new(3, 43);
    let g = walkers(&mut net);
    net.op(0, &g, GroupOp::Timer(60)).unwrap();
    net.run(100_000);
    let data = note();
    let id = net.send_file(1, &g, "note.ogg", &data);
    net.run(100_000);
    // Carol reaches bob only through alice, who did not hold it yet when
    // carol first asked: alice tells her once she does (no tick needed).
    for who in 0..3 {
        assert!(
            net.file_bytes(who, &g, id) == Some(data.clone()),
            "{who} lacks it"
        );
    }
    let later = Time::from_millis(net.now().as_millis() + 61_000);
    for who in 0..3 {
        net.nodes[who].groups.handle_timeout(later);
        net.collect(who);
        assert!(net.messages(who, &g).iter().all(|m| m.id != id));
        assert_eq!(net.chunks_of(who, &g), 0, "{who} still stores it");
    }
}
