//! Write mode as the tests drive it: a document root with a drop folder the workers may write (owned by the
//! workers' user when the tests run as root, as an operator would set it up), a token file beside the root,
//! and raw PUT/POST/DELETE requests with or without the token, Content-Length or chunked.

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::request;
use super::response::Response;
use super::server::Server;
use super::site::{set_mode, TempRoot};
use super::skip::is_root;
use super::sockets::server_side_state;
use super::users::user_ids;
use super::wait::wait_until;

/// The token every write-mode fixture's token file holds: token68 characters, well over the 16-byte minimum.
pub const WRITE_TOKEN: &str = "wT0k-en_for.staticd~tests+Q7xZ3";

/// The `Authorization` value that carries `WRITE_TOKEN`.
pub fn bearer() -> String {
    format!("Bearer {WRITE_TOKEN}")
}

/// The user the workers run as: `nobody` (the `--user` default) when the tests run as root, else the tests'
/// own user (None: nothing to hand over).
pub fn workers_ids() -> Option<(u32, u32)> {
    if is_root() {
        Some(user_ids("nobody").expect("a `nobody` user in /etc/passwd for the workers"))
    } else {
        None
    }
}

/// Hands `path` to the workers' user (a no-op unless root), as an operator makes the drop folder theirs.
pub fn give_to_workers(path: &Path) {
    if let Some((uid, gid)) = workers_ids() {
        chown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}

/// A document root with a write prefix: `ROOT/DIR` (the prefix's directory, 0755, the workers' user's) and
/// the token file beside the root (0600, holding `WRITE_TOKEN` and a newline).
pub struct WriteSite {
    pub root: TempRoot,
    /// The `--write` prefix, e.g. `/uploads/`.
    pub prefix: String,
    pub token_file: PathBuf,
}

impl WriteSite {
    /// `--write /uploads/` over `ROOT/uploads`.
    pub fn new(tag: &str) -> WriteSite {
        WriteSite::with_prefix(tag, "/uploads/")
    }

    /// `--write PREFIX`; `/` makes the whole root the drop folder.
    pub fn with_prefix(tag: &str, prefix: &str) -> WriteSite {
        let root = TempRoot::new(tag);
        let rel = prefix.trim_matches('/');
        let dir = if rel.is_empty() { root.path.clone() } else { root.mkdir(rel) };
        give_to_workers(&dir);
        let token_file = root.beside("write.token");
        fs::write(&token_file, format!("{WRITE_TOKEN}\n")).expect("write the token file");
        set_mode(&token_file, 0o600);
        WriteSite { root, prefix: prefix.to_string(), token_file }
    }

    /// The prefix's directory on disk.
    pub fn dir(&self) -> PathBuf {
        self.root.path.join(self.prefix.trim_matches('/'))
    }

    /// A file under the root (0644), given to the workers' user when it is under the prefix (so the server
    /// may replace or delete it, as it may the files it made itself).
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.root.write(rel, data);
        if path.starts_with(self.dir()) {
            give_to_workers(&path);
            let mut up = path.parent().map(Path::to_path_buf);
            while let Some(d) = up.filter(|d| d.starts_with(self.dir())) {
                give_to_workers(&d);
                up = d.parent().map(Path::to_path_buf);
            }
        }
        path
    }

    /// A directory under the prefix's directory (0755, the workers' user's).
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.root.mkdir(rel);
        give_to_workers(&path);
        path
    }

    pub fn token_path(&self) -> &str {
        self.token_file.to_str().expect("temp path is UTF-8")
    }

    /// `--write PREFIX --write-token-file PATH`.
    pub fn write_args(&self) -> Vec<String> {
        vec!["--write".into(), self.prefix.clone(), "--write-token-file".into(), self.token_path().into()]
    }

    /// Serves the root in write mode, with `extra` after the write options.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = self.write_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.root.serve(&args)
    }
}

/// A raw request: `Host`, then `headers`, then `Content-Length` when there is a `body` (and no
/// `Transfer-Encoding` among the headers), `Connection: close` when `close`, then the body.
pub fn write_request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    close: bool,
) -> Vec<u8> {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    let chunked = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
    if let (Some(body), false) = (body, chunked) {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close {
        raw.push_str("Connection: close\r\n");
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body.unwrap_or_default());
    raw
}

/// One request carrying the token (and `headers`), on its own connection; checked as `request` does.
pub fn authed(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
    let auth = bearer();
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    request(addr, &write_request(method, target, &all, body, true))
}

/// PUT `body` at `target` with the token.
pub fn put(addr: SocketAddr, target: &str, body: &[u8]) -> Response {
    authed(addr, "PUT", target, &[], Some(body))
}

/// `body` in chunked transfer coding, cut into pieces of `sizes` (cycled), then the last chunk.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Every name in a directory, dot files included (temporary files are what the tests look for).
pub fn dir_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every path under `dir`, relative to it, recursively (dot files included).
pub fn tree_names(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("list {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            out.insert(path.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned());
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                todo.push(path);
            }
        }
    }
    out
}

/// The path of a `Location` (a path, or an absolute URL whose path is returned).
pub fn location_path(resp: &Response, what: &str) -> String {
    let loc = resp.header("Location").unwrap_or_else(|| panic!("{what}: no Location in {:?}", resp.headers));
    match loc.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_else(|| "/".into()),
        None => loc.to_string(),
    }
}

/// Waits until neither the master nor a worker holds the connection from `client_port` any more: the server
/// has seen the client go (or cut it off) and dropped whatever the request had started.
pub fn wait_connection_gone(server: &Server, client_port: u16, timeout: Duration) -> bool {
    wait_until(timeout, || server_side_state(server, client_port).is_none())
}

/// Waits until a worker holds the connection from `client_port` (the master has handed it over).
pub fn wait_connection_held(server: &Server, client_port: u16, timeout: Duration) -> bool {
    wait_until(timeout, || server_side_state(server, client_port).is_some())
}
