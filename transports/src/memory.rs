//! In-process links for tests and benchmarks: two nodes in one process joined
//! by channels, with the same link interface as every real transport.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::link::{self, DownReason, LinkEvent, LinkId, LinkIds, LinkQueue, Medium};

/// One end of a memory link: where its events go and who it claims to be.
pub struct Endpoint<'a> {
    pub ids: &'a LinkIds,
    pub events: mpsc::Sender<LinkEvent>,
    pub identity: [u8; 32],
}

/// Joins two endpoints with a link of `mtu`; returns each side's link id.
/// Must be called inside a tokio runtime.
pub async fn connect(a: Endpoint<'_>, b: Endpoint<'_>, mtu: usize) -> (LinkId, LinkId) {
    let (la, lb) = (a.ids.next(), b.ids.next());
    let (sa, qa) = link::channel(la, link::SEND_QUEUE_BYTES);
    let (sb, qb) = link::channel(lb, link::SEND_QUEUE_BYTES);
    tokio::spawn(pump(la, qa, lb, b.events.clone(), a.events.clone(), mtu));
    tokio::spawn(pump(lb, qb, la, a.events.clone(), b.events.clone(), mtu));
    let _ = a
        .events
        .send(LinkEvent::Up {
            link: la,
            medium: Medium::Memory,
            peer: b.identity,
            mtu,
            sender: sa,
        })
        .await;
    let _ = b
        .events
        .send(LinkEvent::Up {
            link: lb,
            medium: Medium::Memory,
            peer: a.identity,
            mtu,
            sender: sb,
        })
        .await;
    (la, lb)
}

/// Moves frames queued on `from` to the other side as `Frame` events on `to`.
async fn pump(
    from: LinkId,
    mut queue: LinkQueue,
    to: LinkId,
    to_events: mpsc::Sender<LinkEvent>,
    from_events: mpsc::Sender<LinkEvent>,
    mtu: usize,
) {
    let reason = loop {
        tokio::select! {
            frame = queue.frames.recv() => match frame {
                Some(frame) if frame.len() > mtu => break DownReason::Violation("frame over MTU".into()),
                Some(frame) => {
                    let frame: Bytes = frame;
                    if to_events.send(LinkEvent::Frame { link: to, frame }).await.is_err() {
                        break DownReason::Lost("peer gone".into());
                    }
                }
                None => break DownReason::Closed,
            },
            () = queue.close.notified() => break DownReason::Closed,
        }
    };
    let _ = from_events
        .send(LinkEvent::Down {
            link: from,
            reason: reason.clone(),
        })
        .await;
    let _ = to_events.send(LinkEvent::Down { link: to, reason }).await;
}
