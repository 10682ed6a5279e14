//! Writing response heads: the status line, the headers every response carries, and error responses.
//!
//! Heads are written straight into the connection's output buffer (no intermediate strings), which is what
//! lets many pipelined responses leave in one write.

use std::io::Write;

/// What the response says about the connection's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// HTTP/1.1 keep-alive: the default, no header needed.
    KeepAlive11,
    /// HTTP/1.0 keep-alive must be echoed.
    KeepAlive10,
    /// The server closes after this response.
    Close,
}

impl Persist {
    pub fn closes(self) -> bool {
        self == Persist::Close
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// What opens every response head besides its status: the Date value, what it says about the connection,
/// and the operator's `--header` lines (already `Name: value\r\n`), which go on every response.
#[derive(Debug, Clone, Copy)]
pub struct Opening<'a> {
    pub date: &'a str,
    pub persist: Persist,
    pub common: &'a [u8],
}

/// Status line plus Server, Date, (when needed) Connection, and the common lines.
pub fn start(out: &mut Vec<u8>, status: u16, opening: &Opening<'_>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nServer: staticd\r\nDate: ");
    out.extend_from_slice(opening.date.as_bytes());
    out.extend_from_slice(b"\r\n");
    match opening.persist {
        Persist::KeepAlive11 => {}
        Persist::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Persist::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(opening.common);
}

pub fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn content_length(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(b"Content-Length: ");
    push_u64(out, len);
    out.extend_from_slice(b"\r\n");
}

/// Ends the head.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A complete error (or other body-less status) response with a short text body naming the status.
/// `extra` headers (e.g. Allow, Content-Range) and `extra_lines` (rendered `Name: value\r\n` lines) come
/// before the body. Returns the body length.
pub fn simple(
    out: &mut Vec<u8>,
    status: u16,
    opening: &Opening<'_>,
    extra: &[(&str, &str)],
    extra_lines: &[u8],
    head_only: bool,
) -> u64 {
    start(out, status, opening);
    for (name, value) in extra {
        header(out, name, value);
    }
    out.extend_from_slice(extra_lines);
    let body_len = if status == 204 || status == 304 {
        0
    } else {
        // "404 Not Found\n"
        let len = 3 + 1 + reason(status).len() + 1;
        header(out, "Content-Type", "text/plain; charset=utf-8");
        header(out, "X-Content-Type-Options", "nosniff");
        content_length(out, len as u64);
        len as u64
    };
    // 204 carries no Content-Length (RFC 9110 §8.6); a 304 is written by the file layer with its validators.
    end(out);
    if body_len > 0 && !head_only {
        let _ = writeln!(out, "{status} {}", reason(status));
        return body_len;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 99, 1234567890, u64::MAX] {
            let mut v = Vec::new();
            push_u64(&mut v, n);
            assert_eq!(String::from_utf8(v).unwrap(), n.to_string());
        }
    }

    #[test]
    fn error_response() {
        let mut out = Vec::new();
        let opening = Opening { date: "Thu, 01 Jan 1970 00:00:00 GMT", persist: Persist::Close, common: b"X-A: 1\r\n" };
        let n = simple(&mut out, 404, &opening, &[], b"X-B: 2\r\n", false);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(n, 14);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\nX-A: 1\r\nX-B: 2\r\n"), "{text}");
        assert!(text.contains("Content-Length: 14\r\n"));
        assert!(text.ends_with("\r\n\r\n404 Not Found\n"));
    }

    #[test]
    fn head_only_has_length_but_no_body() {
        let mut out = Vec::new();
        let opening = Opening { date: "d", persist: Persist::KeepAlive11, common: b"" };
        let n = simple(&mut out, 405, &opening, &[("Allow", "GET, HEAD, OPTIONS")], b"", true);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(n, 0);
        assert!(text.contains("Allow: GET, HEAD, OPTIONS\r\n"));
        assert!(text.contains("Content-Length: 23\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
