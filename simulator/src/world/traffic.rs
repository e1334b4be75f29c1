//! Files and groups in a run (`[traffic]` `files`, `groups`, `group_posts`):
//! planned from the world's RNG like the texts, carried out through the
//! real engine calls, and counted when they took effect.

use std::collections::BTreeSet;

use cairn_protocol::file::TransferState;
use cairn_protocol::{Event, GroupId, IdentityKey, MessageId};
use rand::Rng;

use super::{Ev, World};
use crate::scenario::GROUP_MEMBERS;

/// One simulated group: who made it, who is in it, who was taken out.
#[derive(Debug)]
pub(super) struct SimGroup {
    pub id: GroupId,
    pub admin: usize,
    pub members: Vec<usize>,
    pub removed: Option<usize>,
}

/// What the files and groups of a run did, counted as they happened.
#[derive(Debug, Default)]
pub(super) struct Extra {
    pub groups: Vec<SimGroup>,
    /// Files offered: (sender, id).
    pub files_sent: BTreeSet<(IdentityKey, MessageId)>,
    /// Of those, the ones whose receiver holds the whole, checked content.
    pub files_complete: BTreeSet<(IdentityKey, MessageId)>,
    /// Group posts made: (group index, author, id, text).
    pub posts: Vec<(usize, usize, MessageId, String)>,
}

impl World {
    /// Plans the files and makes the groups. Runs after the texts are
    /// planned, so a scenario without files or groups draws exactly what it
    /// drew before they existed.
    pub(super) fn plan_files_and_groups(&mut self) {
        let t = self.sc.traffic.clone();
        let senders = self.senders();
        if senders.is_empty() {
            return;
        }
        for n in 0..t.files {
            let (at, from, to) = self.draw_send(&senders);
            self.schedule(at, Ev::SendFile { from, to, n });
        }
        let now = self.time();
        for g in 0..t.groups {
            let admin = senders[self.rng.gen_range(0..senders.len())];
            let Ok(id) = self.engines[admin].group_create(now, &format!("group {g}")) else {
                continue;
            };
            let mut members = vec![admin];
            for &c in self.contacts[admin].iter().take(GROUP_MEMBERS - 1) {
                let key = self.keys[c];
                if self.engines[admin].group_add(now, &id, &key).is_ok() {
                    members.push(c);
                }
            }
            self.after(admin);
            let index = self.extra.groups.len();
            self.extra.groups.push(SimGroup {
                id,
                admin,
                members,
                removed: None,
            });
            let halfway = (t.start_s + t.end_s) * 1000 / 2;
            self.schedule(halfway, Ev::GroupRemove(index));
        }
        if self.extra.groups.is_empty() {
            return;
        }
        for n in 0..t.group_posts {
            let at = self.rng.gen_range(t.start_s * 1000..=t.end_s * 1000);
            let group = self.rng.gen_range(0..self.extra.groups.len());
            self.schedule(at, Ev::GroupPost { group, n });
        }
    }

    pub(super) fn send_file(&mut self, from: usize, to: usize, n: usize) {
        if !self.online[from] {
            self.schedule(self.now + 60_000, Ev::SendFile { from, to, n });
            return;
        }
        let mut data = vec![0u8; self.sc.traffic.file_bytes];
        self.rng.fill(&mut data[..]);
        let (peer, now) = (self.keys[to], self.time());
        let name = format!("f{n:06}.bin");
        if let Ok(id) =
            self.engines[from].send_file(now, &peer, &name, "application/octet-stream", &data)
        {
            self.extra.files_sent.insert((self.keys[from], id));
        }
        self.after(from);
    }

    /// A random member still in the group posts; a member whose phone is
    /// off posts when it is back on.
    pub(super) fn group_post(&mut self, group: usize, n: usize) {
        let g = &self.extra.groups[group];
        let stayed: Vec<usize> = g
            .members
            .iter()
            .copied()
            .filter(|m| Some(*m) != g.removed)
            .collect();
        let who = stayed[self.rng.gen_range(0..stayed.len())];
        if !self.online[who] {
            self.schedule(self.now + 60_000, Ev::GroupPost { group, n });
            return;
        }
        let (id, now) = (self.extra.groups[group].id, self.time());
        let text = format!("g{group} post {n}");
        if let Ok(post) = self.engines[who].group_send(now, &id, &text) {
            self.extra.posts.push((group, who, post, text));
        }
        self.after(who);
    }

    /// The admin removes the group's last member (a group of three or more).
    pub(super) fn group_remove(&mut self, group: usize) {
        let g = &self.extra.groups[group];
        if g.members.len() < 3 {
            return;
        }
        let (admin, whom) = (g.admin, g.members[g.members.len() - 1]);
        if !self.online[admin] {
            self.schedule(self.now + 60_000, Ev::GroupRemove(group));
            return;
        }
        let (id, key, now) = (g.id, self.keys[whom], self.time());
        if self.engines[admin].group_remove(now, &id, &key).is_ok() {
            self.extra.groups[group].removed = Some(whom);
        }
        self.after(admin);
    }

    /// Counts a received file once its content is whole and checked.
    pub(super) fn on_event_extra(&mut self, event: &Event) {
        if let Event::FileProgress(record) = event
            && !record.outgoing
            && record.state == TransferState::Complete
            && self.extra.files_sent.contains(&(record.peer, record.id))
        {
            self.extra.files_complete.insert((record.peer, record.id));
        }
    }

    /// Group posts that every member still in the group (but the author)
    /// can read at the end, out of all that should be: (read, expected).
    pub(super) fn group_reads(&self) -> (usize, usize) {
        let (mut read, mut expected) = (0, 0);
        for (group, author, id, text) in &self.extra.posts {
            let (group, author) = (*group, *author);
            let g = &self.extra.groups[group];
            for &m in &g.members {
                if m == author || Some(m) == g.removed {
                    continue;
                }
                expected += 1;
                let readable = self.engines[m].group(&g.id).is_some_and(|doc| {
                    doc.messages()
                        .iter()
                        .any(|p| p.id == *id && p.text == *text)
                });
                if readable {
                    read += 1;
                }
            }
        }
        (read, expected)
    }
}
