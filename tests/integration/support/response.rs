//! HTTP/1.1 responses as the tests see them: parsed off a byte stream exactly as framed (Content-Length,
//! bodiless statuses, HEAD), and checked with assertions that name the request when they fail.

use std::io::{self, Read};

#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Connection: close` present (token comparison, case-insensitive).
    pub fn says_close(&self) -> bool {
        self.headers_named("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads more bytes into `buf`; EOF becomes `UnexpectedEof` naming what was expected.
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>, what: &str) -> io::Result<()> {
    let mut chunk = [0u8; 65536];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("EOF while reading {what} ({} bytes buffered)", buf.len()),
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Reads and parses a response head (status line and fields) off the stream; the bytes after it stay in `buf`.
fn read_head_into(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Response> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        fill(stream, buf, "a response head")?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    if !version.starts_with("HTTP/") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status: u16 =
        parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    buf.drain(..head_end + 4);
    Ok(Response { version, status, reason, headers, body: Vec::new() })
}

/// Reads one response off the stream: head, then a Content-Length body unless `head_request` or the status
/// has none (1xx/204/304). Bytes past the response stay in `buf` for the next call.
pub fn read_response(stream: &mut impl Read, buf: &mut Vec<u8>, head_request: bool) -> io::Result<Response> {
    let mut resp = read_head_into(stream, buf)?;
    let status = resp.status;
    let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    if bodiless {
        return Ok(resp);
    }
    match resp.content_length() {
        Some(len) => {
            let len = usize::try_from(len).map_err(|_| invalid("huge Content-Length"))?;
            while buf.len() < len {
                fill(stream, buf, "a response body")?;
            }
            resp.body = buf.drain(..len).collect();
        }
        None => {
            // Not something staticd should do, but read to EOF so the caller can see what came.
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest)?;
            buf.extend_from_slice(&rest);
            resp.body = std::mem::take(buf);
        }
    }
    Ok(resp)
}

/// Reads only the head of a response whose body is left streaming (a large download); returns it with the
/// body bytes that arrived along with it.
pub fn read_head(stream: &mut impl Read) -> (Response, Vec<u8>) {
    let mut buf = Vec::new();
    let resp = read_head_into(stream, &mut buf).unwrap_or_else(|e| panic!("no response head: {e}"));
    (resp, buf)
}

/// Reads from `stream` until `body` holds at least `want` bytes; EOF or an error before that is a failure.
pub fn read_at_least(stream: &mut impl Read, body: &mut Vec<u8>, want: usize) {
    let mut chunk = vec![0u8; 65536];
    while body.len() < want {
        let n = stream.read(&mut chunk).unwrap_or_else(|e| panic!("read after {} body bytes: {e}", body.len()));
        assert!(n > 0, "EOF after {} body bytes (wanted {want})", body.len());
        body.extend_from_slice(&chunk[..n]);
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

/// A header that must be there.
pub fn header<'a>(resp: &'a Response, name: &str, what: &str) -> &'a str {
    resp.header(name).unwrap_or_else(|| panic!("{what}: no {name} header in {:?}", resp.headers))
}

/// A Content-Length that must be there and be a number.
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
