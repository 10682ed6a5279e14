//! The request line (RFC 9112 §3): method, request-target and version, validated by us rather than by httparse,
//! which cannot tell an unsupported version (505) from a malformed one (400) and accepts UTF-8 in the target.

use memchr::{memchr, memrchr};
use std::borrow::Cow;

use super::host::is_valid_host;
use super::RequestError;
use crate::http::syntax::{is_token, is_vchar};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Post,
    Put,
    Delete,
    Patch,
    Trace,
    Connect,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A validated request line, before it is combined with the header fields.
#[derive(Debug)]
pub(super) struct RequestLine {
    pub(super) method: Method,
    pub(super) method_name: Cow<'static, str>,
    pub(super) version: Version,
    pub(super) target: String,
}

pub(super) fn parse_request_line(line: &[u8]) -> Result<RequestLine, RequestError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (Some(first_sp), Some(last_sp)) = (memchr(b' ', line), memrchr(b' ', line)) else {
        return Err(RequestError::BadRequest);
    };
    if first_sp == last_sp {
        return Err(RequestError::BadRequest);
    }
    let method_name = line.get(..first_sp).unwrap_or_default();
    let raw_target = line.get(first_sp + 1..last_sp).unwrap_or_default();
    let raw_version = line.get(last_sp + 1..).unwrap_or_default();

    let version = parse_version(raw_version);
    if matches!(version, Err(RequestError::BadRequest)) {
        return Err(RequestError::BadRequest);
    }
    if !is_token(method_name) {
        return Err(RequestError::BadRequest);
    }
    let method = method_from_token(method_name);
    let target = classify_target(method, raw_target)?;
    Ok(RequestLine {
        method,
        method_name: match method.name() {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(String::from_utf8_lossy(method_name).into_owned()),
        },
        version: version?,
        target,
    })
}

/// `HTTP/<digit>.<digit>` is well-formed (RFC 9112 §2.3); only 1.0 and 1.1 are spoken here.
fn parse_version(raw: &[u8]) -> Result<Version, RequestError> {
    match raw {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Err(RequestError::VersionNotSupported)
        }
        _ => Err(RequestError::BadRequest),
    }
}

impl Method {
    /// The token of a known method; None for `Other`, whose token only the request knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other => return None,
        })
    }
}

/// Method names are case-sensitive (RFC 9110 §9.1): "get" is some other method.
fn method_from_token(token: &[u8]) -> Method {
    match token {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"OPTIONS" => Method::Options,
        b"POST" => Method::Post,
        b"PUT" => Method::Put,
        b"DELETE" => Method::Delete,
        b"PATCH" => Method::Patch,
        b"TRACE" => Method::Trace,
        b"CONNECT" => Method::Connect,
        _ => Method::Other,
    }
}

/// The path and query of the request-target; an absolute-form target's authority is validated and dropped.
fn classify_target(method: Method, raw: &[u8]) -> Result<String, RequestError> {
    // Only visible ASCII may appear; clients must percent-encode everything else. A raw '#' is
    // not part of any request-target form (RFC 9112 §3.2) and would confuse the path mapping.
    if raw.is_empty() || !raw.iter().all(|&b| is_vchar(b) && b != b'#') {
        return Err(RequestError::BadRequest);
    }
    if raw.first() == Some(&b'/') {
        return Ok(ascii_to_string(raw));
    }
    if raw == b"*" {
        return if method == Method::Options { Ok("*".to_owned()) } else { Err(RequestError::BadRequest) };
    }
    let after_scheme = strip_prefix_ignore_case(raw, b"http://")
        .or_else(|| strip_prefix_ignore_case(raw, b"https://"))
        .ok_or(RequestError::BadRequest)?;
    let authority_end = after_scheme.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(after_scheme.len());
    let (authority, path) = after_scheme.split_at(authority_end);
    // Userinfo is deprecated in http URIs (RFC 9110 §4.2.4) and only ever used for phishing.
    if authority.contains(&b'@') || !is_valid_host(authority) {
        return Err(RequestError::BadRequest);
    }
    let target = match path.first() {
        None => "/".to_owned(),
        Some(b'?') => format!("/{}", ascii_to_string(path)),
        Some(_) => ascii_to_string(path),
    };
    Ok(target)
}

fn strip_prefix_ignore_case<'a>(haystack: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = haystack.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        haystack.get(prefix.len()..)
    } else {
        None
    }
}

/// Callers have checked the bytes are ASCII, so this never actually loses anything.
fn ascii_to_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn request_targets() {
        let rows: &[(&str, &[u8], &str)] = &[
            ("origin", b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/a%20b?x=1"),
            ("double slash", b"GET //a HTTP/1.1\r\nHost: h\r\n\r\n", "//a"),
            ("absolute", b"GET http://ex.com/p?q HTTP/1.1\r\nHost: h\r\n\r\n", "/p?q"),
            ("absolute https", b"GET https://ex.com:8443/p HTTP/1.1\r\nHost: h\r\n\r\n", "/p"),
            ("scheme case", b"GET HtTp://Ex.com/p HTTP/1.1\r\nHost: h\r\n\r\n", "/p"),
            ("empty path", b"GET http://ex.com HTTP/1.1\r\nHost: h\r\n\r\n", "/"),
            ("query only", b"GET http://ex.com?a=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/?a=1"),
            ("ipv6 authority", b"GET http://[::1]:80/ HTTP/1.1\r\nHost: h\r\n\r\n", "/"),
            ("absolute 1.0 no host", b"GET http://ex.com/ HTTP/1.0\r\n\r\n", "/"),
            ("asterisk", b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*"),
        ];
        for (name, input, target) in rows {
            let (request, _) = ok(input);
            assert_eq!(request.target, *target, "row {name}");
        }
    }

    #[test]
    fn bad_request_targets() {
        check_outcomes(&[
            ("asterisk with GET", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("authority form", b"CONNECT ex.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("relative", b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("other scheme", b"GET ftp://ex.com/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("userinfo", b"GET http://u:p@ex.com/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("empty authority", b"GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("bad authority", b"GET http://ex%zz.com/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("raw space", b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("two spaces", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("tab", b"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("nul", b"GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("del", b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("control", b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("cr inside", b"GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("utf8", "GET /caf\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n".as_bytes(), BAD),
            ("latin1", b"GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("fragment", b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
        ]);
    }

    #[test]
    fn versions() {
        let rows: &[(&str, &[u8], Outcome)] = &[
            ("1.1", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", Complete),
            ("1.0", b"GET / HTTP/1.0\r\n\r\n", Complete),
            ("2.0", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", Outcome::Err(RequestError::VersionNotSupported)),
            ("9.9", b"GET / HTTP/9.9\r\nHost: h\r\n\r\n", Outcome::Err(RequestError::VersionNotSupported)),
            ("0.9", b"GET / HTTP/0.9\r\n\r\n", Outcome::Err(RequestError::VersionNotSupported)),
            ("1.2", b"GET / HTTP/1.2\r\n\r\n", Outcome::Err(RequestError::VersionNotSupported)),
            ("505 before head ends", b"GET / HTTP/2.0\r\n", Outcome::Err(RequestError::VersionNotSupported)),
            ("1.11", b"GET / HTTP/1.11\r\nHost: h\r\n\r\n", BAD),
            ("trailing word", b"GET / HTTP/1.0 x\r\n\r\n", BAD),
            ("trailing space", b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", BAD),
            ("lower case", b"GET / http/1.1\r\nHost: h\r\n\r\n", BAD),
            ("missing", b"GET /\r\n\r\n", BAD),
            ("missing with space", b"GET / \r\nHost: h\r\n\r\n", BAD),
            ("two digit major", b"GET / HTTP/10.0\r\n\r\n", BAD),
            ("letters", b"GET / HTTP/a.b\r\n\r\n", BAD),
            ("bare cr ending", b"GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", BAD),
            ("2.0 with bad method", b"G(T / HTTP/2.0\r\n\r\n", BAD),
        ];
        check_outcomes(rows);
        assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").0.version, Version::Http10);
        assert_eq!(ok(b"GET / HTTP/1.1\nHost: h\n\n").0.version, Version::Http11);
    }

    #[test]
    fn methods() {
        let rows: &[(&[u8], Method)] = &[
            (b"GET", Method::Get),
            (b"HEAD", Method::Head),
            (b"OPTIONS", Method::Options),
            (b"POST", Method::Post),
            (b"PUT", Method::Put),
            (b"DELETE", Method::Delete),
            (b"PATCH", Method::Patch),
            (b"TRACE", Method::Trace),
            (b"CONNECT", Method::Connect),
            (b"get", Method::Other),
            (b"PROPFIND", Method::Other),
            (b"X-Y~1!", Method::Other),
        ];
        for (token, method) in rows {
            let mut input = token.to_vec();
            input.extend_from_slice(b" / HTTP/1.1\r\nHost: h\r\n\r\n");
            let (request, _) = ok(&input);
            assert_eq!(request.method, *method, "{}", lossy(token));
            assert_eq!(request.method_name.as_bytes(), *token);
        }
        check_outcomes(&[
            ("separator", b"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("empty", b" / HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("non-ascii", b"G\xc3\xa9T / HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
            ("leading space", b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", BAD),
        ]);
    }
}
