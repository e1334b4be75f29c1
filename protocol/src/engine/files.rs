//! Files: offering one, reading it back, and what the transfers sub-machine asks for.

use std::collections::BTreeSet;

use tracing::warn;

use crate::file::{FileMeta, FileOutput, FileRecord, TransferState};
use crate::identity::IdentityKey;
use crate::message::{DeliveryState, Direction, MessageRecord};
use crate::payload::{MessageId, Payload};
use crate::store::{Store, StoreError, StoreOp};
use crate::time::Time;

use super::Engine;
use super::types::{AfterCommit, EngineError, Event};

impl<S: Store> Engine<S> {
    /// Offers `data` as a file named `name` to `peer`. The offer is queued
    /// like a text; the content is stored with it and sent in chunks as the
    /// receiver asks for them (docs/WIRE.md, "Files").
    pub fn send_file(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId, EngineError> {
        let id = self.new_outgoing(peer)?;
        let result = self.queue_file(now, peer, None, id, name, mime, data);
        self.pump(now);
        result
    }

    /// Offers a file to `remote` on a bridged network, through the gateway
    /// `gateway` (which passes it on once it has it whole).
    pub fn send_file_via(
        &mut self,
        now: Time,
        gateway: &IdentityKey,
        remote: &str,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId, EngineError> {
        crate::bridge::validate_remote(remote)
            .map_err(|_| EngineError::BadRemote(remote.chars().take(80).collect()))?;
        let id = self.new_outgoing(gateway)?;
        let result = self.queue_file(now, gateway, Some(remote), id, name, mime, data);
        self.pump(now);
        result
    }

    /// Fetches what `peer` offered even though it is not a contact we added
    /// (a gateway's user, who wrote first): its files are no longer held.
    pub fn accept_files_from(&mut self, now: Time, peer: &IdentityKey) {
        let up = self.session_peers();
        self.files.release(now, peer, |p| up.contains(p));
        self.pump(now);
    }

    /// Queues, for `user`, a file `remote` sent on a bridged network, under
    /// the id the gateway derived from the other network's own (as
    /// [`Engine::send_bridged`] does for texts).
    #[allow(clippy::too_many_arguments)]
    pub fn send_bridged_file(
        &mut self,
        now: Time,
        user: &IdentityKey,
        remote: &str,
        id: MessageId,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId, EngineError> {
        crate::bridge::validate_remote(remote)
            .map_err(|_| EngineError::BadRemote(remote.chars().take(80).collect()))?;
        self.check_bridged(user, &id)?;
        let result = self.queue_file(now, user, Some(remote), id, name, mime, data);
        self.pump(now);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn queue_file(
        &mut self,
        now: Time,
        peer: &IdentityKey,
        remote: Option<&str>,
        id: MessageId,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<MessageId, EngineError> {
        let meta = FileMeta::of(name, mime, data)?;
        for (index, chunk) in data.chunks(crate::file::CHUNK_LEN).enumerate() {
            self.batch.push(StoreOp::PutFileChunk {
                peer: *peer,
                id,
                index: index as u32,
                data: chunk.to_vec(),
            });
        }
        let transfer = self.files.start_outgoing(now, *peer, id, meta.clone());
        self.batch.push(StoreOp::PutFile(Box::new(transfer)));
        let record = MessageRecord {
            peer: *peer,
            id,
            direction: Direction::Outgoing,
            text: meta.name.clone(),
            sent_at: now,
            local_at: now,
            state: DeliveryState::Queued,
            remote: remote.map(str::to_owned),
            file: Some(meta),
            op: None,
            changes: Default::default(),
        };
        self.enqueue(record)
    }

    /// Where the transfer of a file message stands.
    pub fn file(&self, peer: &IdentityKey, id: &MessageId) -> Option<&FileRecord> {
        self.files.get(peer, id)
    }

    /// A file's whole content, once complete (sent, or received and checked).
    pub fn file_data(
        &self,
        peer: &IdentityKey,
        id: &MessageId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(record) = self.files.get(peer, id) else {
            return Ok(None);
        };
        if !record.outgoing && record.state != TransferState::Complete {
            return Ok(None);
        }
        let mut data = Vec::with_capacity(record.meta.size as usize);
        for index in 0..record.meta.chunks() {
            match self.store.file_chunk(peer, id, index)? {
                Some(chunk) => data.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
        Ok((data.len() as u64 == record.meta.size).then_some(data))
    }

    /// Carries out one thing the transfers asked for. `refused` holds the
    /// peers whose session took no more chunks in this pump: the rest of
    /// their window waits for the next ask.
    pub(super) fn on_file_output(&mut self, out: FileOutput, refused: &mut BTreeSet<IdentityKey>) {
        match out {
            FileOutput::Chunk { peer, id, index } => {
                if refused.contains(&peer) {
                    return;
                }
                match self.store.file_chunk(&peer, &id, index) {
                    Ok(Some(data)) => {
                        let payload = Payload::FileChunk { id, index, data };
                        if !self.send_payload(&peer, &payload) {
                            refused.insert(peer);
                        }
                    }
                    Ok(None) => warn!(file = %id, index, "a chunk asked for is not stored"),
                    Err(e) => warn!(error = %e, "could not read a chunk"),
                }
            }
            FileOutput::Want {
                peer,
                id,
                have,
                from,
                count,
            } => self.after_commit.push(AfterCommit::Send(
                peer,
                Payload::FileWant {
                    id,
                    have,
                    from,
                    count,
                },
            )),
            FileOutput::StoreChunk {
                peer,
                id,
                index,
                data,
            } => self.batch.push(StoreOp::PutFileChunk {
                peer,
                id,
                index,
                data,
            }),
            FileOutput::Record(record) => self.batch.push(StoreOp::PutFile(Box::new(record))),
            FileOutput::Progress(record) => self
                .after_commit
                .push(AfterCommit::Event(Event::FileProgress(record))),
        }
    }
}
