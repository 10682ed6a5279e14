//! Helpers shared by the file-semantics integration tests (files, symlinks, conditional, ranges,
//! precompressed, largefile).
//!
//! `tests/support` knows how to run the server and read responses; this module knows how to build the
//! fixtures those tests need (a document root with a secret planted *beside* it, files with exact modes and
//! mtimes, symlinks, special files), how to send one request and prove nothing follows the response, and how
//! to take a `multipart/byteranges` body apart again so ranges can be compared byte for byte.
#![allow(dead_code)]

use crate::support::{connect, read_response, Response, Server, TempRoot};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Planted next to the document root; no response may ever contain it.
pub const SECRET: &[u8] = b"TOP-SECRET-7f3a91-staticd-must-never-serve-this";

/// A document root inside its own temp dir, with `secret.txt` beside (not inside) the root.
pub struct Site {
    pub tmp: TempRoot,
    pub root: PathBuf,
    pub secret: PathBuf,
}

impl Site {
    pub fn new(tag: &str) -> Site {
        let tmp = TempRoot::new(tag);
        set_mode(&tmp.path, 0o755);
        let root = tmp.path.join("root");
        make_dir(&root);
        let secret = tmp.path.join("secret.txt");
        write_file(&secret, SECRET);
        Site { tmp, root, secret }
    }

    /// Writes `rel` under the root (parents 0755, file 0644) and returns its absolute path.
    pub fn put(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            make_dirs(&self.root, parent);
        }
        write_file(&path, data);
        path
    }

    /// Creates directory `rel` under the root (and its parents), all 0755.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let path = self.root.join(rel);
        make_dirs(&self.root, &path);
        path
    }

    /// Creates a symlink at `rel` (under the root) whose content is exactly `target`.
    pub fn symlink(&self, rel: &str, target: &str) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            make_dirs(&self.root, parent);
        }
        std::os::unix::fs::symlink(target, &path).expect("symlink");
        path
    }

    pub fn serve(&self, extra_args: &[&str]) -> Server {
        Server::start(&self.root, extra_args)
    }
}

fn make_dir(path: &Path) {
    if !path.is_dir() {
        fs::create_dir(path).expect("create_dir");
    }
    set_mode(path, 0o755);
}

fn make_dirs(root: &Path, path: &Path) {
    if path == root || path.is_dir() {
        return;
    }
    if let Some(parent) = path.parent() {
        make_dirs(root, parent);
    }
    make_dir(path);
}

pub fn write_file(path: &Path, data: &[u8]) {
    fs::write(path, data).expect("write fixture");
    set_mode(path, 0o644);
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Sets a file's mtime to `secs` + `nanos` after the epoch.
pub fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let file = fs::File::options().write(true).open(path).expect("open for mtime");
    file.set_modified(UNIX_EPOCH + Duration::new(secs, nanos)).expect("set_modified");
}

/// Restores a mode when dropped, so a chmod-000 fixture never outlives a panicking test or blocks cleanup.
pub struct ModeGuard {
    path: PathBuf,
    mode: u32,
}

impl ModeGuard {
    pub fn chmod(path: &Path, mode: u32, restore: u32) -> ModeGuard {
        set_mode(path, mode);
        ModeGuard { path: path.to_path_buf(), mode: restore }
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(self.mode));
    }
}

/// Deterministic, position-dependent bytes: any misplaced or foreign byte shows up in a comparison.
pub fn bytes_pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

/// The raw bytes of one request that asks the server to close afterwards.
pub fn raw_request(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    raw.into_bytes()
}

/// Sends `raw` on a fresh connection, reads one response, then reads to EOF and returns whatever followed
/// the response (it must be nothing: a HEAD or 304 with a body, or a wrong Content-Length, shows up here).
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> (Response, Vec<u8>) {
    let head = raw.starts_with(b"HEAD ");
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send request");
    let mut buf = Vec::new();
    let resp = read_response(&mut stream, &mut buf, head).unwrap_or_else(|e| {
        panic!("no response to {:?}: {e}", String::from_utf8_lossy(raw).lines().next().unwrap_or(""))
    });
    let mut rest = buf;
    read_until_eof(&mut stream, &mut rest);
    (resp, rest)
}

/// Reads until EOF or a reset; panics on a timeout (the server did not close after `Connection: close`).
pub fn read_until_eof(stream: &mut TcpStream, out: &mut Vec<u8>) {
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("waiting for the server to close: {e}"),
        }
    }
}

/// One request with `Connection: close`; asserts that nothing but the response arrives.
pub fn fetch(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let raw = raw_request(method, target, headers);
    let (resp, rest) = exchange(addr, &raw);
    assert!(
        rest.is_empty(),
        "{method} {target} {headers:?}: {} bytes after the {} response (body longer than Content-Length, \
         or a body on HEAD/304)",
        rest.len(),
        resp.status
    );
    assert_no_secret(&resp, &format!("{method} {target}"));
    resp
}

pub fn get_file(addr: SocketAddr, target: &str) -> Response {
    fetch(addr, "GET", target, &[])
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

pub fn assert_no_secret(resp: &Response, what: &str) {
    assert!(!contains(&resp.body, SECRET), "{what}: response body contains the secret planted outside the root");
    for (name, value) in &resp.headers {
        assert!(!contains(value.as_bytes(), SECRET), "{what}: header {name} contains the secret");
    }
}

/// Panics with the request and the response head when the status is not `want`.
pub fn expect_status(resp: &Response, want: u16, what: &str) {
    assert_eq!(
        resp.status,
        want,
        "{what}: expected {want}, got {} {} headers={:?} body={:?}",
        resp.status,
        resp.reason,
        resp.headers,
        String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)])
    );
}

pub fn header<'a>(resp: &'a Response, name: &str, what: &str) -> &'a str {
    resp.header(name).unwrap_or_else(|| panic!("{what}: no {name} header in {:?}", resp.headers))
}

pub fn content_length(resp: &Response, what: &str) -> u64 {
    header(resp, "Content-Length", what).trim().parse().unwrap_or_else(|_| panic!("{what}: bad Content-Length"))
}

/// Headers every successful file response carries.
pub fn assert_file_headers(resp: &Response, what: &str) {
    for name in ["Date", "Server", "Content-Length", "Content-Type", "Last-Modified", "ETag"] {
        header(resp, name, what);
    }
    assert_eq!(header(resp, "Accept-Ranges", what), "bytes", "{what}");
    assert_eq!(header(resp, "X-Content-Type-Options", what).to_ascii_lowercase(), "nosniff", "{what}");
    assert_strong_etag(header(resp, "ETag", what), what);
}

pub fn assert_strong_etag(etag: &str, what: &str) {
    assert!(
        etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') && !etag[1..etag.len() - 1].contains('"'),
        "{what}: ETag {etag:?} is not a strong entity-tag"
    );
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub fn poll_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7) for a time.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).expect("after epoch").as_secs();
    let days = secs / 86400;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days as i64);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[(days % 7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One part of a `multipart/byteranges` body.
#[derive(Debug)]
pub struct Part {
    pub content_type: Option<String>,
    pub start: u64,
    pub end: u64,
    pub total: u64,
    pub body: Vec<u8>,
}

/// The boundary parameter of a `multipart/byteranges` Content-Type.
pub fn boundary_of(resp: &Response) -> String {
    let ct = header(resp, "Content-Type", "multipart");
    let lower = ct.to_ascii_lowercase();
    assert!(lower.starts_with("multipart/byteranges"), "Content-Type {ct:?} is not multipart/byteranges");
    let idx = lower.find("boundary=").expect("boundary parameter");
    let raw = ct[idx + "boundary=".len()..].split(';').next().unwrap_or("").trim();
    let b = raw.trim_matches('"').to_string();
    assert!(!b.is_empty() && b.len() <= 70, "bad boundary {b:?}");
    b
}

/// Parses a multipart/byteranges body strictly (RFC 9110 §14.6, RFC 2046 §5.1): each part's length is
/// taken from its Content-Range, and the delimiter must follow the data immediately.
pub fn parse_multipart(resp: &Response) -> Vec<Part> {
    let boundary = boundary_of(resp);
    let delim = format!("--{boundary}").into_bytes();
    let body = &resp.body;
    let mut pos = find_from(body, &delim, 0).expect("first boundary delimiter");
    assert!(pos == 0 || body[..pos].ends_with(b"\r\n"), "first delimiter not at start of a line");
    let mut parts = Vec::new();
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            let tail = &body[pos + 2..];
            assert!(
                tail.is_empty() || tail == b"\r\n",
                "unexpected bytes after the close delimiter: {:?}",
                String::from_utf8_lossy(tail)
            );
            break;
        }
        assert!(body[pos..].starts_with(b"\r\n"), "delimiter not followed by CRLF");
        pos += 2;
        let head_end = find_from(body, b"\r\n\r\n", pos).expect("end of part headers");
        let head = String::from_utf8_lossy(&body[pos..head_end]).to_string();
        pos = head_end + 4;
        let mut content_type = None;
        let mut range = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').expect("part header line");
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(value.trim().to_string()),
                "content-range" => range = Some(parse_content_range(value.trim())),
                _ => {}
            }
        }
        let (start, end, total) = range.expect("part without Content-Range");
        let len = (end - start + 1) as usize;
        assert!(pos + len <= body.len(), "part data runs past the body");
        parts.push(Part { content_type, start, end, total, body: body[pos..pos + len].to_vec() });
        pos += len;
        assert!(
            body[pos..].starts_with(b"\r\n") && body[pos + 2..].starts_with(&delim),
            "part data not followed by CRLF and the delimiter"
        );
        pos += 2;
    }
    parts
}

/// "bytes START-END/TOTAL" → (START, END, TOTAL).
pub fn parse_content_range(value: &str) -> (u64, u64, u64) {
    let rest = value.strip_prefix("bytes ").unwrap_or_else(|| panic!("Content-Range {value:?} lacks 'bytes '"));
    let (span, total) = rest.split_once('/').expect("Content-Range '/'");
    let (s, e) = span.split_once('-').expect("Content-Range '-'");
    let parse = |x: &str| -> u64 { x.parse().unwrap_or_else(|_| panic!("bad number in Content-Range {value:?}")) };
    (parse(s), parse(e), parse(total))
}

pub fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}
