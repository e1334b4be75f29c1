//! The control socket: a Unix socket in the profile directory, mode 0600,
//! carrying one JSON request per line and one JSON response per line.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::api::{ApiError, ErrorKind, Request, Response};
use crate::runtime::Call;

/// Longest request line accepted; a send carries at most 60 kB of text.
const MAX_LINE: usize = 256 * 1024;

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
    let listener = UnixListener::bind(path).map_err(|e| io_err(path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| io_err(path, e))?;
    Ok(listener)
}

/// Serves connections until the node's call channel closes.
pub async fn serve(listener: UnixListener, calls: mpsc::Sender<Call>, path: PathBuf) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
            () = calls.closed() => break,
        };
        tokio::spawn(connection(stream, calls.clone()));
    }
    let _ = fs::remove_file(path);
}

async fn connection(stream: UnixStream, calls: mpsc::Sender<Call>) {
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
        let Ok(mut out) = serde_json::to_vec(&response) else {
            return;
        };
        out.push(b'\n');
        if write.write_all(&out).await.is_err() {
            return;
        }
        if line.len() > MAX_LINE {
            return;
        }
    }
}

/// Sends one request to the node running on `path` and waits for its answer.
pub async fn call(path: &Path, request: &Request) -> Result<Response, ControlError> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning);
        }
        Err(e) => return Err(io_err(path, e)),
    };
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
