//! Access-log lines as an operator's tooling reads them: both formats parsed strictly, so that a forged
//! field fails the parse instead of slipping through a loose pattern, and the log file read line by line.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::json::{parse_json, Json};
use super::wait::wait_until;

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
    /// The body bytes received, logged after the user agent for a request that had a body.
    pub received: Option<u64>,
}

/// Parses `CLIENT - - [TIME] "REQUEST" STATUS BYTES "REFERER" "UA"` (and ` RECEIVED` after it for a request
/// with a body) strictly: exactly six raw quotes, no raw control bytes, nothing outside printable ASCII. Any
/// forged field breaks one of these.
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
    if parts[4] != " " {
        return bad("bad separator between referer and user agent");
    }
    let received = match parts[6] {
        "" => None,
        tail => match tail.strip_prefix(' ').map(str::parse::<u64>) {
            Some(Ok(n)) => Some(n),
            _ => return bad("bad field after the user agent"),
        },
    };
    Ok(Combined {
        client: client.to_string(),
        time: time.to_string(),
        request: parts[1].to_string(),
        status,
        bytes,
        referer: parts[3].to_string(),
        user_agent: parts[5].to_string(),
        received,
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
    /// Bytes of the request's body received (0 without one).
    pub bytes_received: u64,
    pub duration_us: u64,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub worker: u64,
}

const JSON_KEYS: [&str; 12] = [
    "bytes",
    "bytes_received",
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
        bytes_received: n("bytes_received")?,
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
