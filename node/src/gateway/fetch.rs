//! Files shared from XMPP with HTTP upload (XEP-0363): the message carries
//! a URL (XEP-0066); the gateway fetches the file and passes it on to the
//! Cairn user as a file of their conversation with the sender.
//!
//! A URL from XMPP is hostile until checked: the gateway fetches only from
//! where the operator said uploads live — `https://` on the component's
//! parent domain and its subdomains, and the `files_from` hosts — never
//! follows redirects, stops at the largest file Cairn carries, and gives up
//! after a minute.

use std::time::Duration;

use cairn_protocol::file::MAX_FILE_LEN;

/// How long one fetch may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Fetches at once; more are refused until one ends.
pub const MAX_FETCHES: usize = 4;

/// Where files may be fetched from.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// `https://` on this domain and its subdomains.
    parent: String,
    /// `host` or `host:port`, any scheme.
    hosts: Vec<String>,
}

/// A URL's parts, as far as the policy needs them.
struct Parts<'a> {
    scheme: &'a str,
    host: String,
    port: Option<u16>,
    path: &'a str,
}

fn parts(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // `[v6]:port`, `host:port` or `host`.
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (v6, Some(p.parse().ok()?)),
            None if after.is_empty() => (v6, None),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (authority, None),
        }
    };
    Some(Parts {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        path,
    })
}

impl FetchPolicy {
    /// For a component at `domain` (e.g. `cairn.example.org`: uploads on
    /// `example.org` and its subdomains), with the operator's `hosts`.
    pub fn new(domain: &str, hosts: &[String]) -> Self {
        Self {
            parent: super::core::parent_domain(domain).to_ascii_lowercase(),
            hosts: hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether the gateway may fetch `url`, and if not, why.
    pub fn check(&self, url: &str) -> Result<(), &'static str> {
        let p = parts(url).ok_or("not a URL the gateway can fetch")?;
        let listed = self.hosts.iter().any(|h| match p.port {
            Some(port) => *h == format!("{}:{port}", p.host) || *h == p.host,
            None => *h == p.host,
        });
        let on_parent = p.scheme == "https"
            && (p.host == self.parent || p.host.ends_with(&format!(".{}", self.parent)));
        if !matches!(p.scheme, "http" | "https") {
            return Err("only http and https files are fetched");
        }
        if listed || on_parent {
            Ok(())
        } else {
            Err("the gateway fetches files only from its server's upload service")
        }
    }
}

/// A file fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub name: String,
    pub mime: String,
    pub data: Vec<u8>,
}

/// No redirects (they could lead anywhere), no proxy from the environment,
/// statuses checked by the caller.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .timeout_connect(Some(Duration::from_secs(10)))
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// Uploads `data` to an HTTP upload slot's `put` address (blocking: run it
/// off the node's loop). Only `http`/`https` addresses; 200 or 201 is
/// success.
pub fn upload(
    put: &str,
    headers: &[(String, String)],
    mime: &str,
    data: &[u8],
) -> Result<(), String> {
    if !parts(put).is_some_and(|p| matches!(p.scheme, "http" | "https")) {
        return Err("the server gave an upload address that is not http(s)".to_owned());
    }
    let mut request = agent().put(put).header(
        "Content-Type",
        if mime.is_empty() {
            "application/octet-stream"
        } else {
            mime
        },
    );
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send(data).map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 | 201 => Ok(()),
        status => Err(format!("the upload server answered {status}")),
    }
}

/// Fetches `url` (blocking: run it off the node's loop).
pub fn fetch(url: &str) -> Result<Fetched, String> {
    let mut response = agent().get(url).call().map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("the server answered {}", response.status()));
    }
    let mime = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|m| m.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let data = response
        .body_mut()
        .with_config()
        .limit(MAX_FILE_LEN)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let name = file_name(url);
    let mime = if mime.is_empty() || mime == "application/octet-stream" {
        crate::service::mime_of(&name).to_owned()
    } else {
        mime
    };
    Ok(Fetched { name, mime, data })
}

/// The file's name: the URL path's last part, percent-decoded.
pub fn file_name(url: &str) -> String {
    let path = parts(url).map_or("", |p| p.path);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let mut bytes = Vec::with_capacity(last.len());
    let raw = last.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some(b) = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            bytes.push(b);
            i += 3;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    let name = String::from_utf8_lossy(&bytes).trim().to_owned();
    if name.is_empty() {
        "file".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_fetched_only_from_where_uploads_live() {
        let p = FetchPolicy::new("cairn.example.org", &["127.0.0.1:5280".to_owned()]);
        for ok in [
            "https://example.org/upload/a.jpg",
            "https://upload.example.org/share/x/photo%20one.jpg",
            "http://127.0.0.1:5280/file_share/abc/voice.ogg",
        ] {
            assert_eq!(p.check(ok), Ok(()), "{ok}");
        }
        for bad in [
            // Plain http on the domain; another domain; a look-alike.
            "http://upload.example.org/a.jpg",
            "https://evil.example.com/a.jpg",
            "https://example.org.evil.com/a.jpg",
            "https://notexample.org/a.jpg",
            // Credentials, other ports, other schemes, the metadata service.
            "https://user@upload.example.org/a.jpg",
            "http://127.0.0.1:22/",
            "http://127.0.0.1/",
            "file:///etc/passwd",
            "gopher://127.0.0.1:5280/",
            "http://169.254.169.254/latest/meta-data/",
            "not a url",
            "https://",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_come_from_the_path_decoded() {
        assert_eq!(
            file_name("https://u.example.org/s/abc/photo%20one.jpg?x=1"),
            "photo one.jpg"
        );
        assert_eq!(file_name("https://u.example.org/"), "file");
        assert_eq!(file_name("https://u.example.org/a/%zz.txt"), "%zz.txt");
    }
}
