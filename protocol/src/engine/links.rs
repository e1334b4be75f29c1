//! Links: coming up and going down, which one to use for a peer, per-link rate limits.

use std::collections::BTreeSet;

use crate::identity::IdentityKey;
use crate::link::{CloseReason, LinkId, LinkInfo};
use crate::store::Store;
use crate::time::Time;

use super::Engine;
use super::types::{LinkState, Output, RATE_WINDOW};

impl<S: Store> Engine<S> {
    pub fn links(&self) -> impl Iterator<Item = &LinkInfo> {
        self.links.values().map(|l| &l.info)
    }

    pub fn link_up(&mut self, now: Time, info: LinkInfo) {
        let link = info.id;
        let peer = info.peer;
        if self.links.len() >= self.config.max_links {
            // Full. A contact the user added still gets in: the oldest link
            // of someone who is not one makes room (strangers holding every
            // slot must not lock friends out). Anyone else waits.
            let victim = self
                .added(&peer)
                .then(|| {
                    self.links
                        .values()
                        .filter(|l| !self.added(&l.info.peer))
                        .min_by_key(|l| (l.info.since, l.info.id))
                        .map(|l| l.info.id)
                })
                .flatten();
            let Some(victim) = victim else {
                self.outputs.push_back(Output::Close {
                    link,
                    reason: CloseReason::TooManyLinks,
                });
                return;
            };
            self.outputs.push_back(Output::Close {
                link: victim,
                reason: CloseReason::TooManyLinks,
            });
            self.link_down(now, victim);
        }
        self.outbox.resend_now(&peer);
        // A request gets a stranger's mesh limits until the user accepts it.
        let contact = self.added(&peer);
        self.mesh
            .link_up(&self.identity.key(), now, link, peer, contact);
        self.links.insert(
            link,
            LinkState {
                info,
                window_start: now,
                inits: 0,
                unknown: 0,
                bundles_tried: false,
            },
        );
        self.service_peer(now, &peer);
        // A link back to a peer whose session survived: what was in flight on
        // the old link is lost, ask again; group syncs, which ended with the
        // last link, start over.
        if self.has_session(&peer) {
            self.files.session_up(now, &peer);
            self.groups.peer_up(peer);
            // Meeting again: a fresh bundle, so a compromise heals here.
            if self.sessions.current(&peer).is_some() {
                self.offer_prekeys(now, &peer);
            }
        }

        self.pump(now);
    }

    pub fn link_down(&mut self, _now: Time, link: LinkId) {
        let peer = self.links.remove(&link).map(|l| l.info.peer);
        self.mesh.link_down(link);
        self.reply_links.retain(|_, l| *l != link);
        if let Some(peer) = peer
            && self.best_link(&peer).is_none()
        {
            // Its group syncs end with the session's reach; what we write
            // next goes to it through the mesh.
            self.groups.peer_down(&peer);
        }
    }

    /// The cheapest medium, and on it the newest link: after a peer restarts,
    /// the older link is the one likely to be dead and not yet noticed.
    pub(super) fn best_link(&self, peer: &IdentityKey) -> Option<LinkId> {
        self.links
            .values()
            .filter(|l| &l.info.peer == peer)
            .min_by_key(|l| (l.info.medium, std::cmp::Reverse(l.info.id)))
            .map(|l| l.info.id)
            .or_else(|| self.reply_links.get(peer).copied())
    }

    /// Links whose hop peer is no contact and that carry no contact's
    /// session: after the contacts change, a driver whose transports only
    /// tell a device who we are if it knows our key (and us who it is if we
    /// know its) closes these, so the transport meets them again and a new
    /// contact among them is recognised.
    pub fn unrecognised_links(&self) -> Vec<LinkId> {
        self.links
            .values()
            .filter(|l| !self.contacts.contains_key(&l.info.peer))
            .filter(|l| {
                !self
                    .reply_links
                    .iter()
                    .any(|(p, link)| *link == l.info.id && self.contacts.contains_key(p))
            })
            .map(|l| l.info.id)
            .collect()
    }

    /// Whether a link to `peer` is up (they are reachable now).
    pub fn has_link(&self, peer: &IdentityKey) -> bool {
        self.best_link(peer).is_some()
    }

    /// Whether a session with `peer` is up (signals sent now arrive now).
    pub fn has_session(&self, peer: &IdentityKey) -> bool {
        self.best_link(peer).is_some() && self.sessions.current_index(peer).is_some()
    }

    pub(super) fn rate_limit(&mut self, now: Time, link: LinkId, init: bool) -> bool {
        let Some(state) = self.links.get_mut(&link) else {
            return false;
        };
        if now.since(state.window_start) >= RATE_WINDOW {
            state.window_start = now;
            state.inits = 0;
            state.unknown = 0;
        }
        let (count, max) = if init {
            state.inits += 1;
            (state.inits, self.config.inits_per_minute)
        } else {
            state.unknown += 1;
            (state.unknown, self.config.unknown_per_minute)
        };
        count <= max
    }

    /// The contacts a session is up with.
    pub(super) fn session_peers(&self) -> BTreeSet<IdentityKey> {
        self.contacts
            .keys()
            .filter(|p| self.has_session(p))
            .copied()
            .collect()
    }
}
