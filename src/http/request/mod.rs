//! Turns the bytes of one HTTP/1.1 request head into an owned [`Request`], or into the one
//! [`RequestError`] that refuses it.
//!
//! httparse does the tokenising; everything it is lenient about (any number of leading empty lines,
//! non-ASCII targets, unknown versions reported as a generic error) and everything it does not know
//! about (Host, message framing, connection persistence) is checked here, because a static server
//! that sits behind proxies must never disagree with them about where one request ends and the next
//! begins (RFC 9112 §6.3, request smuggling). The parsed head owns its fields so that it never
//! borrows the connection's buffer.
//!
//! The request line (`line`), Host (`host`) and the header fields (`fields`) are each checked in their own
//! file; this one holds the types the rest of the server sees and finds where the head ends.

mod fields;
mod host;
mod line;
#[cfg(test)]
mod test_support;

use memchr::memchr;
use std::borrow::Cow;

pub use crate::http::accept::Accepts;

use fields::{body_framing, scan_fields, Fields};
use host::check_host;
use line::{parse_request_line, RequestLine};
pub use line::{Method, Version};

/// A request line that has no LF within this many bytes is refused with 414.
pub const MAX_REQUEST_LINE: usize = 8192;
/// A head with more header fields than this is refused with 431.
pub const MAX_HEADERS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// Every way a request can be refused before it reaches the file layer. All of them close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    BadRequest,
    RequestTimeout,
    PayloadTooLarge,
    UriTooLong,
    HeaderTooLarge,
    NotImplemented,
    /// The server could not answer in time (a deferred answer passed its deadline).
    Unavailable,
    VersionNotSupported,
}

impl RequestError {
    /// The status code the error is answered with.
    pub fn status(self) -> u16 {
        match self {
            RequestError::BadRequest => 400,
            RequestError::RequestTimeout => 408,
            RequestError::PayloadTooLarge => 413,
            RequestError::UriTooLong => 414,
            RequestError::HeaderTooLarge => 431,
            RequestError::NotImplemented => 501,
            RequestError::Unavailable => 503,
            RequestError::VersionNotSupported => 505,
        }
    }
}

/// The sizes a request may not pass. The parser enforces the head's; the body's is the engine's to apply,
/// to the bodies it discards (a body the site keeps has the site's own limit).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The method token as sent (for logs).
    /// Static for the methods this server knows; allocated only for other tokens.
    pub method_name: Cow<'static, str>,
    pub version: Version,
    /// origin-form: path and query exactly as sent ("/a%20b?x=1"); absolute-form: its path+query
    /// ("/" when the path is empty); asterisk-form: "*".
    pub target: String,
    pub keep_alive: bool,
    pub body: BodyFraming,
    /// `Expect: 100-continue`: the client waits for an interim 100 before sending its body.
    pub expect_continue: bool,
    pub headers: Headers,
}

/// The header fields the server acts on, as sent (several lines of a list field joined with ", ").
/// Host and the framing fields are not here: they are validated and consumed by the parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub if_none_match: Option<String>,
    pub if_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_unmodified_since: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub accept_encoding: Option<String>,
    /// What `Accept` lists of the media types the site distinguishes.
    pub accept: Accepts,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    /// Never logged, never shown by `Debug`: it carries a credential.
    pub authorization: Option<Credential>,
    pub content_type: Option<String>,
    /// A client's hint for the name of a resource it creates by POST (RFC 5023 §9.7).
    pub slug: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub forwarded: Option<String>,
}

/// A header value that carries a credential (`Authorization`), kept out of every `Debug` output so that no
/// diagnostic that prints a request can leak it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    pub fn new(value: String) -> Credential {
        Credential(value)
    }

    /// The value, for the one check that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// Boxing the request would cost an allocation per request to save a move of a few hundred bytes
/// that happens once per request, so the size difference is accepted.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    Complete { request: Request, head_len: usize },
    Partial,
}

/// Parses one request head at the start of `buf`. `head_len` counts every byte of the head including an
/// ignored leading empty line and the final empty line, so `buf[head_len..]` is the body / next request.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed, RequestError> {
    let Some(skipped) = skip_leading_empty_line(buf)? else {
        return Ok(Parsed::Partial);
    };
    let rest = buf.get(skipped..).unwrap_or_default();
    let Some(line) = find_request_line(rest)? else {
        return partial_or_too_large(buf.len(), skipped, limits);
    };
    let line = parse_request_line(line)?;

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parser = httparse::Request::new(&mut headers);
    let fields_end = match parser.parse(rest) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial_or_too_large(buf.len(), skipped, limits),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeaderTooLarge),
        Err(_) => return Err(RequestError::BadRequest),
    };
    if fields_end > limits.max_header_bytes {
        return Err(RequestError::HeaderTooLarge);
    }

    let fields = scan_fields(parser.headers)?;
    let request = build_request(line, fields)?;
    Ok(Parsed::Complete { request, head_len: skipped + fields_end })
}

/// RFC 9112 §2.2 lets a server ignore one empty line before the request line (left over from a
/// client that terminated a previous body with an extra CRLF); more than one is not a robustness
/// case any more but garbage. `None` means more bytes are needed to decide.
fn skip_leading_empty_line(buf: &[u8]) -> Result<Option<usize>, RequestError> {
    let skipped = match buf {
        [] | [b'\r'] => return Ok(None),
        [b'\r', b'\n', ..] => 2,
        [b'\r', ..] => return Err(RequestError::BadRequest),
        [b'\n', ..] => 1,
        _ => 0,
    };
    match buf.get(skipped) {
        None => Ok(None),
        Some(b'\r' | b'\n') => Err(RequestError::BadRequest),
        Some(_) => Ok(Some(skipped)),
    }
}

/// Returns the request line including its LF, `None` if it is not complete yet, or UriTooLong once
/// it can no longer fit.
fn find_request_line(rest: &[u8]) -> Result<Option<&[u8]>, RequestError> {
    let window = rest.get(..MAX_REQUEST_LINE).unwrap_or(rest);
    match memchr(b'\n', window) {
        Some(lf) => Ok(window.get(..=lf)),
        None if rest.len() >= MAX_REQUEST_LINE => Err(RequestError::UriTooLong),
        None => Ok(None),
    }
}

/// An incomplete head is only worth waiting for while it still fits the header budget.
fn partial_or_too_large(buf_len: usize, skipped: usize, limits: &Limits) -> Result<Parsed, RequestError> {
    if buf_len > limits.max_header_bytes.saturating_add(skipped) {
        Err(RequestError::HeaderTooLarge)
    } else {
        Ok(Parsed::Partial)
    }
}

fn build_request(line: RequestLine, fields: Fields) -> Result<Request, RequestError> {
    check_host(line.version, fields.host)?;
    let body = body_framing(line.version, &fields)?;
    let keep_alive = match line.version {
        Version::Http11 => !fields.conn_close,
        Version::Http10 => fields.conn_keep_alive && !fields.conn_close,
    };
    let mut headers = fields.headers;
    // Two Range fields cannot be combined meaningfully; RFC 9110 §14.2 lets us ignore Range.
    if fields.range_count > 1 {
        headers.range = None;
    }
    Ok(Request {
        method: line.method,
        method_name: line.method_name,
        version: line.version,
        target: line.target,
        keep_alive,
        body,
        expect_continue: fields.expect_continue,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn a_credential_is_kept_for_its_check_but_never_shown_and_never_doubled() {
        let (req, _) = ok(b"PUT /u/a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t-t0ken-value\r\n\r\n");
        assert_eq!(req.headers.authorization.as_ref().map(Credential::expose), Some("Bearer s3cr3t-t0ken-value"));
        let shown = format!("{req:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let twice = b"PUT /u/a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n";
        assert_eq!(parse(twice, &LIMITS).err(), Some(RequestError::BadRequest));
    }

    #[test]
    fn status_codes() {
        let rows = [
            (RequestError::BadRequest, 400),
            (RequestError::RequestTimeout, 408),
            (RequestError::PayloadTooLarge, 413),
            (RequestError::UriTooLong, 414),
            (RequestError::HeaderTooLarge, 431),
            (RequestError::NotImplemented, 501),
            (RequestError::VersionNotSupported, 505),
        ];
        for (error, status) in rows {
            assert_eq!(error.status(), status, "{error:?}");
        }
    }

    #[test]
    fn leading_empty_lines() {
        let rows: &[(&str, &[u8], Outcome, usize)] = &[
            ("none", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Complete, 27),
            ("crlf", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Complete, 29),
            ("lf", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Complete, 28),
            ("two crlf", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD, 0),
            ("crlf lf", b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD, 0),
            ("two lf", b"\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD, 0),
            ("bare cr", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD, 0),
            ("empty", b"", Partial, 0),
            ("lone cr", b"\r", Partial, 0),
            ("lone crlf", b"\r\n", Partial, 0),
            ("crlf then cr", b"\r\n\r", BAD, 0),
        ];
        for (name, input, expected, head_len) in rows {
            assert_eq!(&outcome(input), expected, "row {name}");
            if *expected == Complete {
                assert_eq!(ok(input).1, *head_len, "row {name}");
                assert_eq!(ok(input).0.target, "/", "row {name}");
            }
        }
    }

    #[test]
    fn head_len_leaves_body_and_pipelined_requests() {
        let input = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n";
        let (request, head_len) = ok(input);
        assert_eq!(request.body, BodyFraming::Length(3));
        assert_eq!(input.get(head_len..), Some(&b"abcGET / HTTP/1.1\r\n"[..]));

        let lf_only = b"GET / HTTP/1.1\nHost: a\n\nNEXT";
        let (_, head_len) = ok(lf_only);
        assert_eq!(lf_only.get(head_len..), Some(&b"NEXT"[..]));
    }

    #[test]
    fn limits() {
        let long_line = |len: usize, lf: bool| {
            let mut v = b"GET /".to_vec();
            v.resize(len - usize::from(lf) - 9, b'a');
            v.extend_from_slice(b" HTTP/1.1");
            if lf {
                v.push(b'\n');
            }
            v
        };
        let with_head = |mut line: Vec<u8>| {
            line.extend_from_slice(b"Host: h\r\n\r\n");
            line
        };
        let small = Limits { max_header_bytes: 64, max_body_bytes: 10 };
        let mut partial_64 = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        partial_64.resize(64, b'v');
        let mut partial_65 = partial_64.clone();
        partial_65.push(b'v');
        let mut complete_65 = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        complete_65.resize(61, b'v');
        complete_65.extend_from_slice(b"\r\n\r\n");
        let mut complete_64 = complete_65.clone();
        complete_64.remove(30);
        let rows: Vec<(&str, Vec<u8>, &Limits, Outcome)> = vec![
            ("line at limit", with_head(long_line(MAX_REQUEST_LINE, true)), &LIMITS, Complete),
            (
                "line over limit",
                with_head(long_line(MAX_REQUEST_LINE + 1, true)),
                &LIMITS,
                Outcome::Err(RequestError::UriTooLong),
            ),
            (
                "incomplete line at limit",
                long_line(MAX_REQUEST_LINE, false),
                &LIMITS,
                Outcome::Err(RequestError::UriTooLong),
            ),
            ("incomplete line below", long_line(MAX_REQUEST_LINE - 1, false), &LIMITS, Partial),
            (
                "skipped line not counted",
                [b"\r\n".to_vec(), with_head(long_line(MAX_REQUEST_LINE, true))].concat(),
                &LIMITS,
                Complete,
            ),
            ("partial at header limit", partial_64.clone(), &small, Partial),
            ("partial over header limit", partial_65.clone(), &small, Outcome::Err(RequestError::HeaderTooLarge)),
            ("partial over limit + skipped", [b"\r\n".to_vec(), partial_64].concat(), &small, Partial),
            (
                "partial over limit + skipped + 1",
                [b"\n".to_vec(), partial_65].concat(),
                &small,
                Outcome::Err(RequestError::HeaderTooLarge),
            ),
            ("complete at limit", complete_64.clone(), &small, Complete),
            ("complete over limit", complete_65, &small, Outcome::Err(RequestError::HeaderTooLarge)),
            ("complete at limit with body after", [complete_64, vec![b'x'; 100]].concat(), &small, Complete),
            ("max headers", head_with_fields(MAX_HEADERS), &LIMITS, Complete),
            (
                "too many headers",
                head_with_fields(MAX_HEADERS + 1),
                &LIMITS,
                Outcome::Err(RequestError::HeaderTooLarge),
            ),
        ];
        for (name, input, limits, expected) in rows {
            let got = match parse(&input, limits) {
                Ok(Parsed::Complete { .. }) => Complete,
                Ok(Parsed::Partial) => Partial,
                Err(e) => Outcome::Err(e),
            };
            assert_eq!(got, expected, "row {name}");
        }
    }

    #[test]
    fn partial_heads() {
        let full = b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
        for cut in 0..full.len() {
            let prefix = full.get(..cut).unwrap_or_default();
            assert_eq!(outcome(prefix), Partial, "cut at {cut}");
        }
        assert_eq!(outcome(full), Complete);
    }

    #[test]
    fn never_panics_on_prefixes_and_garbage() {
        let samples: &[&[u8]] = &[
            b"GET http://[::1]:80/x?y HTTP/1.1\r\nHost: [::1]\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"\r\nOPTIONS * HTTP/1.0\nConnection: keep-alive\n\n",
            b"\xff\xfe\x00\r\n\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: %\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: ]\r\n\r\n",
            b"GET http:// HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        for sample in samples {
            for cut in 0..=sample.len() {
                let _ = run(sample.get(..cut).unwrap_or_default());
            }
        }
    }

    /// What httparse 1.x does on its own, pinned so that an upgrade that changes it is noticed:
    /// every row is a leniency (or a vague error) that `parse` has to correct for.
    #[test]
    fn httparse_behaviour_we_rely_on_or_correct() {
        #[derive(Debug, PartialEq)]
        enum Raw {
            Complete,
            Partial,
            Err(httparse::Error),
        }
        let run_httparse = |input: &[u8]| {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(input) {
                Ok(httparse::Status::Complete(_)) => Raw::Complete,
                Ok(httparse::Status::Partial) => Raw::Partial,
                Err(e) => Raw::Err(e),
            }
        };
        let mut full_then_partial = head_with_fields(MAX_HEADERS);
        full_then_partial.truncate(full_then_partial.len() - 2);
        full_then_partial.extend_from_slice(b"X-extra: v");
        let rows: Vec<(&str, Vec<u8>, Raw)> = vec![
            ("skips many empty lines", b"\r\n\n\r\nGET / HTTP/1.1\r\n\r\n".to_vec(), Raw::Complete),
            ("utf-8 target", "GET /caf\u{e9} HTTP/1.1\r\n\r\n".into(), Raw::Complete),
            ("latin-1 target", b"GET /caf\xe9 HTTP/1.1\r\n\r\n".to_vec(), Raw::Err(httparse::Error::Token)),
            ("fragment in target", b"GET /a#b HTTP/1.1\r\n\r\n".to_vec(), Raw::Complete),
            ("asterisk with GET", b"GET * HTTP/1.1\r\n\r\n".to_vec(), Raw::Complete),
            ("lower-case method", b"get / HTTP/1.1\r\n\r\n".to_vec(), Raw::Complete),
            ("http/2.0", b"GET / HTTP/2.0\r\n\r\n".to_vec(), Raw::Err(httparse::Error::Version)),
            ("http/1.11", b"GET / HTTP/1.11\r\n\r\n".to_vec(), Raw::Err(httparse::Error::NewLine)),
            ("lower-case version", b"GET / http/1.1\r\n\r\n".to_vec(), Raw::Err(httparse::Error::Version)),
            ("two spaces", b"GET  / HTTP/1.1\r\n\r\n".to_vec(), Raw::Err(httparse::Error::Token)),
            ("no host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), Raw::Complete),
            ("bare lf lines", b"GET / HTTP/1.1\nA: b\n\n".to_vec(), Raw::Complete),
            ("space before colon", b"GET / HTTP/1.1\r\nA : b\r\n\r\n".to_vec(), Raw::Err(httparse::Error::HeaderName)),
            ("obs-fold", b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n".to_vec(), Raw::Err(httparse::Error::HeaderName)),
            ("bare cr in value", b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n".to_vec(), Raw::Err(httparse::Error::HeaderValue)),
            ("nul in value", b"GET / HTTP/1.1\r\nA: b\0c\r\n\r\n".to_vec(), Raw::Err(httparse::Error::HeaderValue)),
            ("obs-text in value", b"GET / HTTP/1.1\r\nA: \xe9\r\n\r\n".to_vec(), Raw::Complete),
            ("max headers", head_with_fields(MAX_HEADERS), Raw::Complete),
            ("one header too many", head_with_fields(MAX_HEADERS + 1), Raw::Err(httparse::Error::TooManyHeaders)),
            ("extra header still partial", full_then_partial, Raw::Partial),
        ];
        for (name, input, expected) in rows {
            assert_eq!(run_httparse(&input), expected, "row {name}");
        }
    }

    /// A cheap deterministic fuzz: random heads built from the bytes that matter must never panic,
    /// and a complete head never claims more bytes than it was given.
    #[test]
    fn random_heads_never_panic() {
        let alphabet: &[u8] = b"GET /:\r\n \t\0\x7f\x80\xffHTP1.0,;=\"*[]@%abcdhost";
        let pieces: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n",
            b"Host: h\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 5\r\n",
            b"\r\n",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..next() % 8 {
                let roll = next();
                if roll % 3 == 0 {
                    let byte = alphabet.get((roll >> 8) as usize % alphabet.len());
                    input.extend(byte);
                } else {
                    let piece = pieces.get((roll >> 8) as usize % pieces.len());
                    input.extend_from_slice(piece.copied().unwrap_or_default());
                }
            }
            if let Ok(Parsed::Complete { head_len, .. }) = run(&input) {
                assert!(head_len <= input.len());
            }
        }
    }
}
