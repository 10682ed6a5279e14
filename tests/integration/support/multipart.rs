//! `multipart/byteranges` bodies taken apart again (RFC 9110 §14.6, RFC 2046 §5.1), strictly, so that every
//! part of a multi-range response can be compared byte for byte with the file.

use super::response::{find, header, Response};

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

/// Position of `needle` in `hay` at or after `from`.
fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    find(hay.get(from..)?, needle).map(|p| p + from)
}

/// Parses the body part by part: each part's length is taken from its Content-Range, and the delimiter must
/// follow the data immediately.
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
fn parse_content_range(value: &str) -> (u64, u64, u64) {
    let rest = value.strip_prefix("bytes ").unwrap_or_else(|| panic!("Content-Range {value:?} lacks 'bytes '"));
    let (span, total) = rest.split_once('/').expect("Content-Range '/'");
    let (s, e) = span.split_once('-').expect("Content-Range '-'");
    let parse = |x: &str| -> u64 { x.parse().unwrap_or_else(|_| panic!("bad number in Content-Range {value:?}")) };
    (parse(s), parse(e), parse(total))
}
