//! Helpers shared by the operations tests (access logs, reload, listeners, PROXY protocol, status).
//!
//! They exist because `support::Server` only knows TCP listeners and the plain binary: these tests also start
//! staticd on Unix sockets and through a shell wrapper (socket activation), read its stdout, and have to
//! check access-log lines field by field, so they need a generic process handle, strict parsers for both log
//! formats (a forged field must fail the parse, not slip through a loose regex) and PROXY header builders.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::support::{wait_until, LONG};

// ---------------------------------------------------------------------------------------------
// A staticd process started by any command

/// Lines read from a pipe by a background thread (the same capture `support` uses for stderr).
pub use crate::support::Lines as PipeLines;

/// A staticd started from an arbitrary `Command` (own process group; SIGKILLed with its group on drop).
pub struct Proc {
    pub child: Child,
    pub stderr: PipeLines,
    reaped: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` with stderr captured and waits until it printed `serving_lines` lines starting with
    /// `staticd: serving `.
    pub fn start(mut cmd: Command, serving_lines: usize) -> Proc {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let stderr = PipeLines::drain(child.stderr.take().expect("stderr is piped"));
        let mut proc = Proc { child, stderr, reaped: None };
        let ok = wait_until(LONG, || {
            let serving = proc.stderr.snapshot().iter().filter(|l| l.starts_with("staticd: serving ")).count();
            serving >= serving_lines || proc.exited()
        });
        let serving = proc.stderr.snapshot().iter().filter(|l| l.starts_with("staticd: serving ")).count();
        assert!(
            ok && serving >= serving_lines,
            "{cmd:?} did not start serving; stderr:\n{}",
            proc.stderr.snapshot().join("\n")
        );
        proc
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn exited(&mut self) -> bool {
        if self.reaped.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.reaped = Some(status);
            }
        }
        self.reaped.is_some()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || self.exited());
        self.reaped
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.snapshot().join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; a negative pid targets the child's own group.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        if self.reaped.is_none() {
            let _ = self.child.wait();
        }
    }
}

/// A private scratch directory (for log files and socket files), removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        // Short: a Unix socket path must fit in 108 bytes.
        let path = std::env::temp_dir().join(format!("sdops-{}-{n}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        TempDir { path }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Access-log files

/// The complete lines of a log file (a trailing partial line, which must never be seen, is returned too so
/// that callers' well-formedness checks catch it).
pub fn log_lines(path: &Path) -> Vec<String> {
    let Ok(bytes) = fs::read(path) else { return Vec::new() };
    let text = String::from_utf8_lossy(&bytes);
    text.split_terminator('\n').map(str::to_string).collect()
}

/// Waits until the log holds at least `n` lines (workers flush about once a second); returns them.
pub fn wait_log_lines(path: &Path, n: usize, timeout: Duration) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(timeout, || {
        lines = log_lines(path);
        lines.len() >= n
    });
    lines
}

// ---------------------------------------------------------------------------------------------
// Combined log format

/// One combined-format line, split into its fields with escapes still in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combined {
    pub client: String,
    pub time: String,
    /// The quoted request line, e.g. `GET / HTTP/1.1`, or `-`.
    pub request: String,
    pub status: u16,
    pub bytes: u64,
    pub referer: String,
    pub user_agent: String,
}

/// Parses `CLIENT - - [TIME] "REQUEST" STATUS BYTES "REFERER" "UA"` strictly: exactly six raw quotes, no raw
/// control bytes, nothing outside printable ASCII. Any forged field breaks one of these.
pub fn parse_combined(line: &str) -> Result<Combined, String> {
    let bad = |why: &str| Err(format!("{why}: {line:?}"));
    if !line.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return bad("non-printable or non-ASCII byte");
    }
    let parts: Vec<&str> = line.split('"').collect();
    if parts.len() != 7 {
        return bad("not exactly six quotes");
    }
    let Some(head) = parts[0].strip_suffix("] ") else { return bad("no '] ' before the request") };
    let Some((client, time)) = head.split_once(" - - [") else { return bad("no ' - - ['") };
    if client.is_empty() || client.contains(' ') {
        return bad("bad client field");
    }
    let middle: Vec<&str> = parts[2].split(' ').collect();
    if middle.len() != 4 || !middle[0].is_empty() || !middle[3].is_empty() {
        return bad("bad status/bytes section");
    }
    let Ok(status) = middle[1].parse::<u16>() else { return bad("bad status") };
    let Ok(bytes) = middle[2].parse::<u64>() else { return bad("bad bytes") };
    if parts[4] != " " || !parts[6].is_empty() {
        return bad("bad separators around referer/user agent");
    }
    Ok(Combined {
        client: client.to_string(),
        time: time.to_string(),
        request: parts[1].to_string(),
        status,
        bytes,
        referer: parts[3].to_string(),
        user_agent: parts[5].to_string(),
    })
}

/// Undoes the nginx-style `\xHH` escaping (every `\` in a logged field starts one).
pub fn unescape_combined(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let hex = s.get(i + 2..i + 4).filter(|_| b.get(i + 1) == Some(&b'x'));
            let v = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| format!("bad escape in {s:?}"))?;
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Checks the `10/Oct/2000:13:55:36 +0000` shape.
pub fn is_clf_time(t: &str) -> bool {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = t.as_bytes();
    t.len() == 26
        && t.ends_with(" +0000")
        && b[2] == b'/'
        && b[6] == b'/'
        && b[11] == b':'
        && b[14] == b':'
        && b[17] == b':'
        && MONTHS.contains(&&t[3..6])
        && [0..2, 7..11, 12..14, 15..17, 18..20].iter().all(|r| t[r.clone()].bytes().all(|c| c.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// A tiny strict JSON parser (objects, strings, numbers, literals), enough for JSON Lines logs

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
}

/// Parses one JSON text (RFC 8259), refusing trailing bytes, raw control characters in strings, and
/// duplicate keys (a forged `"client":…` inside a value would show up as one).
pub fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = JsonParser { b: text.as_bytes(), i: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(format!("trailing bytes at {} in {text:?}", p.i));
    }
    Ok(v)
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected {:?}", c as char))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err("expected a value"),
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("bad literal")
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|e| e.to_string())?;
        text.parse().map(Json::Num).or_else(|_| self.err("bad number"))
    }

    fn object(&mut self) -> Result<Json, String> {
        self.eat(b'{')?;
        let mut map = BTreeMap::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Obj(map));
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            let v = self.value()?;
            if map.insert(key.clone(), v).is_some() {
                return self.err(&format!("duplicate key {key:?}"));
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(map));
                }
                _ => return self.err("expected ',' or '}'"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.b.get(self.i..self.i + 4).and_then(|h| std::str::from_utf8(h).ok());
        let v = h.and_then(|h| u32::from_str_radix(h, 16).ok());
        match v {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => self.err("bad \\u escape"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else { return self.err("unterminated string") };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else { return self.err("unterminated escape") };
                    self.i += 1;
                    let simple = match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => return self.err("bad escape"),
                    };
                    let ch = match simple {
                        Some(ch) => ch,
                        None => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    return self.err("lone surrogate");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3ff)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(ch) => ch,
                                None => return self.err("bad code point"),
                            }
                        }
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                0x00..=0x1f => return self.err("raw control character in a string"),
                _ => out.push(c),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("invalid UTF-8 in a string"))
    }
}

/// A JSON Lines access-log record, with every field the issue names checked for presence and type.
#[derive(Debug, Clone)]
pub struct JsonRecord {
    pub client: String,
    pub time: String,
    pub method: String,
    pub target: String,
    pub version: String,
    pub status: u16,
    pub bytes: u64,
    pub duration_us: u64,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub worker: u64,
}

pub const JSON_KEYS: [&str; 11] = [
    "bytes",
    "client",
    "duration_us",
    "method",
    "referer",
    "status",
    "target",
    "time",
    "user_agent",
    "version",
    "worker",
];

pub fn parse_json_record(line: &str) -> Result<JsonRecord, String> {
    if line.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(format!("raw control byte in {line:?}"));
    }
    let Json::Obj(map) = parse_json(line)? else { return Err(format!("not an object: {line:?}")) };
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    if keys != JSON_KEYS {
        return Err(format!("keys {keys:?} in {line:?}"));
    }
    let s = |k: &str| map[k].str().map(str::to_string).ok_or_else(|| format!("{k} is not a string in {line:?}"));
    let opt = |k: &str| match &map[k] {
        Json::Null => Ok(None),
        Json::Str(v) => Ok(Some(v.clone())),
        _ => Err(format!("{k} is neither string nor null in {line:?}")),
    };
    let n = |k: &str| {
        map[k]
            .num()
            .filter(|v| *v >= 0.0 && v.fract() == 0.0)
            .map(|v| v as u64)
            .ok_or_else(|| format!("{k} is not a whole number in {line:?}"))
    };
    Ok(JsonRecord {
        client: s("client")?,
        time: s("time")?,
        method: s("method")?,
        target: s("target")?,
        version: s("version")?,
        status: n("status")? as u16,
        bytes: n("bytes")?,
        duration_us: n("duration_us")?,
        referer: opt("referer")?,
        user_agent: opt("user_agent")?,
        worker: n("worker")?,
    })
}

/// `2000-10-10T13:55:36Z`
pub fn is_rfc3339_utc(t: &str) -> bool {
    let b = t.as_bytes();
    t.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19].iter().all(|r| t[r.clone()].bytes().all(|c| c.is_ascii_digit()))
}

/// The client address field of a line in either format.
pub fn logged_client(line: &str) -> String {
    if line.starts_with('{') {
        parse_json_record(line).map(|r| r.client).unwrap_or_else(|e| panic!("{e}"))
    } else {
        parse_combined(line).map(|r| r.client).unwrap_or_else(|e| panic!("{e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// PROXY protocol headers

pub fn proxy_v1(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Vec<u8> {
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!("PROXY {proto} {src} {dst} {sport} {dport}\r\n").into_bytes()
}

pub const V2_SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// A v2 PROXY (command 1) header over TCP for `src` → `dst`, with an optional raw TLV section appended.
pub fn proxy_v2(src: SocketAddr, dst: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    let fam = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            0x21
        }
        _ => panic!("mixed address families"),
    };
    block.extend_from_slice(&src.port().to_be_bytes());
    block.extend_from_slice(&dst.port().to_be_bytes());
    block.extend_from_slice(tlvs);
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    out.push(fam);
    out.extend_from_slice(&(block.len() as u16).to_be_bytes());
    out.extend_from_slice(&block);
    out
}

/// A v2 LOCAL header (health check from the proxy itself): the connection's own address is used.
pub fn proxy_v2_local() -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    out
}

/// Polls `cond` like `wait_until`, for the conventional long deadline.
pub fn eventually(cond: impl FnMut() -> bool) -> bool {
    wait_until(LONG, cond)
}
