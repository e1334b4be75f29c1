//! The control socket: a Unix socket in the profile directory, mode 0600,
//! carrying one JSON request per line and one JSON response per line. After
//! a `watch` request the connection carries one [`Notice`] per line instead,
//! until either side closes it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cairn_protocol::Event;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, warn};

use crate::api::{ApiError, ErrorKind, Notice, Reply, Request, Response};

/// One API call and where its answer goes.
pub struct Call {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Longest request line accepted; a send carries at most 60 kB of text.
const MAX_LINE: usize = 256 * 1024;

/// Notices a watcher holds before it stops reading the socket.
pub const WATCH_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error("a node is already running on this profile ({0})")]
    AlreadyRunning(String),
    #[error("control socket path {0} is too long for a Unix socket; use a shorter --profile path")]
    PathTooLong(String),
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no node is running on this profile")]
    NotRunning,
    #[error("the node sent an unreadable answer: {0}")]
    BadAnswer(String),
}

fn io_err(path: &Path, source: std::io::Error) -> ControlError {
    ControlError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Binds the socket, refusing if a live node already answers on it.
pub async fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    if path.as_os_str().len() >= 100 {
        return Err(ControlError::PathTooLong(path.display().to_string()));
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ControlError::AlreadyRunning(path.display().to_string()));
        }
        fs::remove_file(path).map_err(|e| io_err(path, e))?;
    }
    // Created owner-only, not made so afterwards: no moment at the umask's
    // mode (THREAT_MODEL.md, "Attacks tried" 10). The mask is the process's,
    // restored at once; files other threads create meanwhile only come out
    // stricter.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(|e| io_err(path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| io_err(path, e))?;
    Ok(listener)
}

/// Serves connections until the node's call channel closes.
pub async fn serve(
    listener: UnixListener,
    calls: mpsc::Sender<Call>,
    events: broadcast::Sender<Event>,
    path: PathBuf,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if !same_user(&stream) => {
                    warn!("control socket: a connection from another user refused");
                    continue;
                }
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
            () = calls.closed() => break,
        };
        tokio::spawn(connection(stream, calls.clone(), events.clone()));
    }
    let _ = fs::remove_file(path);
}

/// Whether the process at the other end runs as our user (`SO_PEERCRED`).
fn same_user(stream: &UnixStream) -> bool {
    stream
        .peer_cred()
        .is_ok_and(|c| c.uid() == rustix::process::getuid().as_raw())
}

async fn connection(
    stream: UnixStream,
    calls: mpsc::Sender<Call>,
    events: broadcast::Sender<Event>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut lines)
            .take(MAX_LINE as u64 + 1)
            .read_line(&mut line)
            .await;
        let response = match read {
            Ok(0) => return,
            Ok(_) if line.len() > MAX_LINE => {
                Response::Error(ApiError::new(ErrorKind::Invalid, "request too long"))
            }
            Ok(_) => match serde_json::from_str::<Request>(&line) {
                Ok(Request::Watch) => {
                    let notices = events.subscribe();
                    let _ = write_line(&mut write, &Response::Ok(Reply::Done)).await;
                    stream_notices(lines, write, notices).await;
                    return;
                }
                Ok(request) => {
                    let (tx, rx) = oneshot::channel();
                    if calls.send(Call { request, reply: tx }).await.is_err() {
                        return;
                    }
                    rx.await.unwrap_or_else(|_| {
                        Response::Error(ApiError::new(ErrorKind::Internal, "node stopped"))
                    })
                }
                Err(e) => Response::Error(ApiError::new(
                    ErrorKind::Invalid,
                    format!("bad request: {e}"),
                )),
            },
            Err(e) => {
                debug!(error = %e, "control connection failed");
                return;
            }
        };
        if write_line(&mut write, &response).await.is_err() {
            return;
        }
        if line.len() > MAX_LINE {
            return;
        }
    }
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let mut out = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await
}

/// Writes what happens to a watcher until it hangs up or the node stops.
async fn stream_notices(
    mut read: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut write: tokio::net::unix::OwnedWriteHalf,
    mut notices: broadcast::Receiver<Event>,
) {
    let mut sink = [0u8; 256];
    loop {
        let notice = tokio::select! {
            got = notices.recv() => match got {
                Ok(event) => Notice::of(&event),
                Err(broadcast::error::RecvError::Lagged(count)) => Notice::Missed { count },
                Err(broadcast::error::RecvError::Closed) => return,
            },
            // Anything the watcher writes is ignored; end of file ends it.
            read = read.read(&mut sink) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
        };
        if write_line(&mut write, &notice).await.is_err() {
            return;
        }
    }
}

/// Watches the node running on `path`: each [`Notice`] goes to `to` until
/// the node stops (then `Ok`) or `to` is dropped.
/// Notices wait in `to` (bounded): a slow reader makes this stop reading the
/// socket, and the node drops what a watcher does not take in time.
pub async fn watch(path: &Path, to: mpsc::Sender<Notice>) -> Result<(), ControlError> {
    let stream = connect(path).await?;
    let (read, mut write) = stream.into_split();
    write_line(&mut write, &Request::Watch)
        .await
        .map_err(|e| io_err(path, e))?;
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .await
            .map_err(|e| io_err(path, e))?;
        if n == 0 {
            return if first {
                Err(ControlError::BadAnswer("connection closed".into()))
            } else {
                Ok(())
            };
        }
        if std::mem::take(&mut first) {
            match serde_json::from_str::<Response>(&line) {
                Ok(Response::Ok(_)) => continue,
                Ok(Response::Error(e)) => return Err(ControlError::BadAnswer(e.message)),
                Err(e) => return Err(ControlError::BadAnswer(e.to_string())),
            }
        }
        let notice =
            serde_json::from_str(&line).map_err(|e| ControlError::BadAnswer(e.to_string()))?;
        if to.send(notice).await.is_err() {
            return Ok(());
        }
    }
}

async fn connect(path: &Path) -> Result<UnixStream, ControlError> {
    match UnixStream::connect(path).await {
        Ok(s) => Ok(s),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(ControlError::NotRunning)
        }
        Err(e) => Err(io_err(path, e)),
    }
}

/// Sends one request to the node running on `path` and waits for its answer.
pub async fn call(path: &Path, request: &Request) -> Result<Response, ControlError> {
    let stream = connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut out =
        serde_json::to_vec(request).map_err(|e| ControlError::BadAnswer(e.to_string()))?;
    out.push(b'\n');
    write.write_all(&out).await.map_err(|e| io_err(path, e))?;
    let mut line = String::new();
    BufReader::new(read)
        .take(64 * 1024 * 1024)
        .read_line(&mut line)
        .await
        .map_err(|e| io_err(path, e))?;
    if line.is_empty() {
        return Err(ControlError::BadAnswer("connection closed".into()));
    }
    serde_json::from_str(&line).map_err(|e| ControlError::BadAnswer(e.to_string()))
}
