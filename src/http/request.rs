//! Turns the bytes of one HTTP/1.1 request head into an owned [`Request`], or into the one
//! [`RequestError`] that refuses it.
//!
//! httparse does the tokenising; everything it is lenient about (any number of leading empty lines,
//! non-ASCII targets, unknown versions reported as a generic error) and everything it does not know
//! about (Host, message framing, connection persistence) is checked here, because a static server
//! that sits behind proxies must never disagree with them about where one request ends and the next
//! begins (RFC 9112 §6.3, request smuggling). The parsed head owns its fields so that it never
//! borrows the connection's buffer.

use memchr::{memchr, memrchr};
use std::borrow::Cow;

use crate::http::syntax::{hex_pair, is_token, is_vchar, list_members, trim_ows};

/// A request line that has no LF within this many bytes is refused with 414.
pub const MAX_REQUEST_LINE: usize = 8192;
/// A head with more header fields than this is refused with 431.
pub const MAX_HEADERS: usize = 100;

/// Content-Length values longer than this could overflow a u64; 19 digits always fit.
const MAX_CONTENT_LENGTH_DIGITS: usize = 19;

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
            RequestError::VersionNotSupported => 505,
        }
    }
}

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
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub forwarded: Option<String>,
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
    let request = build_request(line, fields, limits)?;
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

/// The request line, validated by us rather than httparse because httparse cannot tell an
/// unsupported version (505) from a malformed one (400) and accepts UTF-8 in the target.
#[derive(Debug)]
struct RequestLine {
    method: Method,
    method_name: Cow<'static, str>,
    version: Version,
    target: String,
}

fn parse_request_line(line: &[u8]) -> Result<RequestLine, RequestError> {
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

/// `uri-host [ ":" port ]` (RFC 9110 §7.2): a reg-name or an IP literal, with a non-empty port.
fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = memchr(b']', value) else {
            return false;
        };
        let (literal, after) = value.split_at(close + 1);
        if !is_ipv6_literal(literal) {
            return false;
        }
        match after.split_first() {
            None => return true,
            Some((b':', port)) => (literal, Some(port)),
            Some(_) => return false,
        }
    } else {
        match memrchr(b':', value) {
            Some(colon) => (value.get(..colon).unwrap_or_default(), value.get(colon + 1..)),
            None => (value, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    let host_ok = host.first() == Some(&b'[') || is_reg_name(host);
    port_ok && host_ok
}

/// `[` IPv6address `]`, loosely: hex digits, colons and dots (for an embedded IPv4 tail).
fn is_ipv6_literal(literal: &[u8]) -> bool {
    let Some(inner) = literal.strip_prefix(b"[").and_then(|rest| rest.strip_suffix(b"]")) else {
        return false;
    };
    inner.contains(&b':') && inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// reg-name = *( unreserved / pct-encoded / sub-delims ), but never empty here.
fn is_reg_name(host: &[u8]) -> bool {
    if host.is_empty() {
        return false;
    }
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            let (Some(&hi), Some(&lo)) = (host.get(i + 1), host.get(i + 2)) else {
                return false;
            };
            if hex_pair(hi, lo).is_none() {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// What the header fields say, before it is combined with the request line.
#[derive(Debug, Default)]
struct Fields<'h> {
    /// Borrowed from the buffer: it is validated, never copied.
    host: Option<&'h [u8]>,
    content_length: Option<u64>,
    /// Number of transfer-coding list members seen across all Transfer-Encoding fields.
    te_members: usize,
    te_all_chunked: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    range_count: usize,
    expect_continue: bool,
    headers: Headers,
}

fn scan_fields<'h>(headers: &[httparse::Header<'h>]) -> Result<Fields<'h>, RequestError> {
    let mut fields = Fields { te_all_chunked: true, ..Fields::default() };
    for header in headers {
        scan_field(&mut fields, header.name, trim_ows(header.value))?;
    }
    Ok(fields)
}

fn scan_field<'h>(fields: &mut Fields<'h>, name: &str, value: &'h [u8]) -> Result<(), RequestError> {
    let is = |candidate: &str| name.eq_ignore_ascii_case(candidate);
    if is("host") {
        if fields.host.is_some() {
            return Err(RequestError::BadRequest);
        }
        fields.host = Some(value);
    } else if is("content-length") {
        add_content_length(&mut fields.content_length, value)?;
    } else if is("transfer-encoding") {
        add_transfer_coding(fields, value)?;
    } else if is("connection") {
        for token in list_members(value) {
            fields.conn_close |= token.eq_ignore_ascii_case(b"close");
            fields.conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    } else if is("if-none-match") {
        join_list(&mut fields.headers.if_none_match, value);
    } else if is("if-match") {
        join_list(&mut fields.headers.if_match, value);
    } else if is("expect") {
        fields.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
    } else if is("accept-encoding") {
        join_list(&mut fields.headers.accept_encoding, value);
    } else if is("x-forwarded-for") {
        // Several lines are one list (RFC 9110 §5.3): a proxy may append its own line after the client's,
        // and the right-most entries are the ones a trusted proxy vouches for.
        join_list(&mut fields.headers.x_forwarded_for, value);
    } else if is("forwarded") {
        join_list(&mut fields.headers.forwarded, value);
    } else if is("range") {
        fields.range_count += 1;
        keep_first(&mut fields.headers.range, value);
    } else if is("if-modified-since") {
        keep_first(&mut fields.headers.if_modified_since, value);
    } else if is("if-unmodified-since") {
        keep_first(&mut fields.headers.if_unmodified_since, value);
    } else if is("if-range") {
        keep_first(&mut fields.headers.if_range, value);
    } else if is("referer") {
        keep_first(&mut fields.headers.referer, value);
    } else if is("user-agent") {
        keep_first(&mut fields.headers.user_agent, value);
    }
    Ok(())
}

/// Several Content-Length fields, or a comma list, are tolerated only when every member is the
/// same length (RFC 9112 §6.3 item 5); anything else could be read two ways by two parsers.
fn add_content_length(seen: &mut Option<u64>, value: &[u8]) -> Result<(), RequestError> {
    for member in list_members(value) {
        let length = parse_length_digits(member).ok_or(RequestError::BadRequest)?;
        match seen {
            Some(previous) if *previous != length => return Err(RequestError::BadRequest),
            _ => *seen = Some(length),
        }
    }
    Ok(())
}

fn parse_length_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > MAX_CONTENT_LENGTH_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// Every member must be a bare token: an empty member, a quoted string or a parameter
/// (`chunked;q=1`) is refused as malformed rather than guessed at.
fn add_transfer_coding(fields: &mut Fields, value: &[u8]) -> Result<(), RequestError> {
    for member in list_members(value) {
        if !is_token(member) {
            return Err(RequestError::BadRequest);
        }
        fields.te_members += 1;
        fields.te_all_chunked &= member.eq_ignore_ascii_case(b"chunked");
    }
    Ok(())
}

fn join_list(slot: &mut Option<String>, value: &[u8]) {
    let value = String::from_utf8_lossy(value);
    match slot {
        Some(existing) => {
            existing.push_str(", ");
            existing.push_str(&value);
        }
        None => *slot = Some(value.into_owned()),
    }
}

fn keep_first(slot: &mut Option<String>, value: &[u8]) {
    if slot.is_none() {
        *slot = Some(String::from_utf8_lossy(value).into_owned());
    }
}

fn build_request(line: RequestLine, fields: Fields, limits: &Limits) -> Result<Request, RequestError> {
    check_host(line.version, fields.host)?;
    let body = body_framing(line.version, &fields, limits)?;
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

/// HTTP/1.1 requires exactly one valid Host (RFC 9112 §3.2), even when an absolute-form target
/// supplies the authority that then takes precedence. Nothing here routes by host, so it is only checked.
fn check_host(version: Version, header: Option<&[u8]>) -> Result<(), RequestError> {
    match header {
        Some(value) if !value.is_empty() && !is_valid_host(value) => Err(RequestError::BadRequest),
        // An empty Host is valid: a client sends it when the target URI has no authority (RFC 9112 §3.2).
        Some(_) => Ok(()),
        None if version == Version::Http11 => Err(RequestError::BadRequest),
        None => Ok(()),
    }
}

/// RFC 9112 §6.1-6.3, erring towards refusal wherever two parsers could disagree.
fn body_framing(version: Version, fields: &Fields, limits: &Limits) -> Result<BodyFraming, RequestError> {
    if fields.te_members > 0 {
        if fields.content_length.is_some() || version == Version::Http10 {
            return Err(RequestError::BadRequest);
        }
        return if fields.te_members == 1 && fields.te_all_chunked {
            Ok(BodyFraming::Chunked)
        } else {
            Err(RequestError::NotImplemented)
        };
    }
    match fields.content_length {
        Some(length) if length > limits.max_body_bytes => Err(RequestError::PayloadTooLarge),
        Some(length) => Ok(BodyFraming::Length(length)),
        None => Ok(BodyFraming::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1_000_000 };

    fn run(input: &[u8]) -> Result<Parsed, RequestError> {
        parse(input, &LIMITS)
    }

    fn ok(input: &[u8]) -> (Request, usize) {
        match run(input) {
            Ok(Parsed::Complete { request, head_len }) => (request, head_len),
            other => panic!("{:?}: expected a complete request, got {other:?}", lossy(input)),
        }
    }

    fn lossy(input: &[u8]) -> String {
        String::from_utf8_lossy(input).into_owned()
    }

    /// What a test row expects: the error, Partial, or success.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Err(RequestError),
        Partial,
        Complete,
    }

    fn outcome(input: &[u8]) -> Outcome {
        match run(input) {
            Ok(Parsed::Complete { .. }) => Outcome::Complete,
            Ok(Parsed::Partial) => Outcome::Partial,
            Err(e) => Outcome::Err(e),
        }
    }

    fn check_outcomes(rows: &[(&str, &[u8], Outcome)]) {
        for (name, input, expected) in rows {
            assert_eq!(&outcome(input), expected, "row {name}: {:?}", lossy(input));
        }
    }

    use Outcome::{Complete, Partial};
    const BAD: Outcome = Outcome::Err(RequestError::BadRequest);

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

    #[test]
    fn hosts() {
        let rows: &[(&str, &[u8], Outcome)] = &[
            ("1.1 missing", b"GET / HTTP/1.1\r\n\r\n", BAD),
            ("1.1 empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Outcome::Complete),
            ("1.1 blank", b"GET / HTTP/1.1\r\nHost:   \r\n\r\n", Outcome::Complete),
            ("two", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", BAD),
            ("two 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", BAD),
            ("space inside", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BAD),
            ("slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BAD),
            ("userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", BAD),
            ("empty port", b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n", BAD),
            ("letter port", b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", BAD),
            ("no name", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", BAD),
            ("bad pct", b"GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", BAD),
            ("bad pct hex", b"GET / HTTP/1.1\r\nHost: a%g0\r\n\r\n", BAD),
            ("open bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", BAD),
            ("bracket junk", b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", BAD),
            ("ipv6 no colon", b"GET / HTTP/1.1\r\nHost: [abc]\r\n\r\n", BAD),
            ("two colons", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", BAD),
            ("non-ascii", b"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", BAD),
            ("1.1 invalid even with absolute", b"GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", BAD),
            ("1.1 missing even with absolute", b"GET http://a/ HTTP/1.1\r\n\r\n", BAD),
        ];
        check_outcomes(rows);
        let good: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"GET / HTTP/1.1\r\nhOsT:  example.com:8080 \r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]:443\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a-b_c~d.e!$&'()*+,;=%41\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost:\r\n\r\n",
            b"GET http://abs/ HTTP/1.1\r\nHost: other\r\n\r\n",
        ];
        for input in good {
            assert_eq!(outcome(input), Complete, "{}", lossy(input));
        }
    }

    #[test]
    fn field_syntax() {
        check_outcomes(&[
            ("space before colon", b"GET / HTTP/1.1\r\nHost: h\r\nFoo : bar\r\n\r\n", BAD),
            ("tab before colon", b"GET / HTTP/1.1\r\nHost: h\r\nFoo\t: bar\r\n\r\n", BAD),
            ("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: bar\r\n baz\r\n\r\n", BAD),
            ("obs-fold tab", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: bar\r\n\tbaz\r\n\r\n", BAD),
            ("space before first field", b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", BAD),
            ("bare cr in value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: a\rb\r\n\r\n", BAD),
            ("bare cr ending value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: a\r\r\n\r\n", BAD),
            ("bare cr final line", b"GET / HTTP/1.1\r\nHost: h\r\n\rX", BAD),
            ("nul in value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: a\0b\r\n\r\n", BAD),
            ("control in value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: a\x1bb\r\n\r\n", BAD),
            ("del in value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: a\x7fb\r\n\r\n", BAD),
            ("no colon", b"GET / HTTP/1.1\r\nHost: h\r\nFoo\r\n\r\n", BAD),
            ("empty name", b"GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", BAD),
            ("bad name char", b"GET / HTTP/1.1\r\nHost: h\r\nF(o: x\r\n\r\n", BAD),
            ("tab in value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: a\tb\r\n\r\n", Complete),
            ("obs-text in value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo: caf\xe9\r\n\r\n", Complete),
            ("empty value", b"GET / HTTP/1.1\r\nHost: h\r\nFoo:\r\n\r\n", Complete),
            ("lf only lines", b"GET / HTTP/1.1\nHost: h\nFoo: x\n\n", Complete),
        ]);
    }

    fn head_with_fields(count: usize) -> Vec<u8> {
        let mut input = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 1..count {
            input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        input
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
    fn framing() {
        let head =
            |fields: &str, version: &str| format!("POST / HTTP/{version}\r\nHost: h\r\n{fields}\r\n").into_bytes();
        let rows: &[(&str, &str, Result<BodyFraming, RequestError>)] = &[
            ("none", "", Ok(BodyFraming::None)),
            ("length", "Content-Length: 5\r\n", Ok(BodyFraming::Length(5))),
            ("zero", "Content-Length: 0\r\n", Ok(BodyFraming::Length(0))),
            ("ows", "Content-Length:  5  \r\n", Ok(BodyFraming::Length(5))),
            ("leading zeros", "Content-Length: 007\r\n", Ok(BodyFraming::Length(7))),
            ("at max body", "Content-Length: 1000000\r\n", Ok(BodyFraming::Length(1_000_000))),
            ("over max body", "Content-Length: 1000001\r\n", Err(RequestError::PayloadTooLarge)),
            ("19 digits", "Content-Length: 9999999999999999999\r\n", Err(RequestError::PayloadTooLarge)),
            ("20 digits", "Content-Length: 10000000000000000000\r\n", Err(RequestError::BadRequest)),
            ("plus", "Content-Length: +5\r\n", Err(RequestError::BadRequest)),
            ("minus", "Content-Length: -1\r\n", Err(RequestError::BadRequest)),
            ("hex", "Content-Length: 0x10\r\n", Err(RequestError::BadRequest)),
            ("empty", "Content-Length:\r\n", Err(RequestError::BadRequest)),
            ("inner space", "Content-Length: 1 2\r\n", Err(RequestError::BadRequest)),
            ("decimal", "Content-Length: 1.0\r\n", Err(RequestError::BadRequest)),
            ("same twice", "Content-Length: 5\r\nContent-Length: 5\r\n", Ok(BodyFraming::Length(5))),
            ("same list", "Content-Length: 5, 5,5\r\n", Ok(BodyFraming::Length(5))),
            ("differ twice", "Content-Length: 5\r\nContent-Length: 6\r\n", Err(RequestError::BadRequest)),
            ("differ list", "Content-Length: 5, 6\r\n", Err(RequestError::BadRequest)),
            ("empty member", "Content-Length: 5,,5\r\n", Err(RequestError::BadRequest)),
            ("trailing comma", "Content-Length: 5,\r\n", Err(RequestError::BadRequest)),
            ("chunked", "Transfer-Encoding: chunked\r\n", Ok(BodyFraming::Chunked)),
            ("chunked case ows", "Transfer-Encoding:  ChUnKeD \r\n", Ok(BodyFraming::Chunked)),
            ("te + cl", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", Err(RequestError::BadRequest)),
            ("cl + te", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", Err(RequestError::BadRequest)),
            ("te + bad cl", "Transfer-Encoding: chunked\r\nContent-Length: x\r\n", Err(RequestError::BadRequest)),
            ("identity", "Transfer-Encoding: identity\r\n", Err(RequestError::NotImplemented)),
            ("gzip", "Transfer-Encoding: gzip\r\n", Err(RequestError::NotImplemented)),
            ("gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", Err(RequestError::NotImplemented)),
            ("chunked, chunked", "Transfer-Encoding: chunked, chunked\r\n", Err(RequestError::NotImplemented)),
            (
                "two te fields",
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                Err(RequestError::NotImplemented),
            ),
            (
                "split gzip chunked",
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                Err(RequestError::NotImplemented),
            ),
            ("te empty", "Transfer-Encoding:\r\n", Err(RequestError::BadRequest)),
            ("te trailing comma", "Transfer-Encoding: chunked,\r\n", Err(RequestError::BadRequest)),
            ("te leading comma", "Transfer-Encoding: ,chunked\r\n", Err(RequestError::BadRequest)),
            (
                "te empty field + chunked",
                "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n",
                Err(RequestError::BadRequest),
            ),
            ("te quoted", "Transfer-Encoding: \"chunked\"\r\n", Err(RequestError::BadRequest)),
            ("te parameter", "Transfer-Encoding: chunked;q=1\r\n", Err(RequestError::BadRequest)),
            ("te inner space", "Transfer-Encoding: chun ked\r\n", Err(RequestError::BadRequest)),
            ("te vertical tab", "Transfer-Encoding: \x0bchunked\r\n", Err(RequestError::BadRequest)),
        ];
        for (name, fields, expected) in rows {
            let got = match run(&head(fields, "1.1")) {
                Ok(Parsed::Complete { request, .. }) => Ok(request.body),
                Ok(Parsed::Partial) => panic!("row {name}: partial"),
                Err(e) => Err(e),
            };
            assert_eq!(&got, expected, "row {name}");
        }
        let http10 = [
            ("te in 1.0", "Transfer-Encoding: chunked\r\n", Err(RequestError::BadRequest)),
            ("gzip in 1.0", "Transfer-Encoding: gzip\r\n", Err(RequestError::BadRequest)),
            ("cl in 1.0", "Content-Length: 2\r\n", Ok(BodyFraming::Length(2))),
        ];
        for (name, fields, expected) in http10 {
            let got = run(&head(fields, "1.0")).map(|p| match p {
                Parsed::Complete { request, .. } => request.body,
                Parsed::Partial => panic!("row {name}: partial"),
            });
            assert_eq!(got, expected, "row {name}");
        }
    }

    #[test]
    fn keep_alive() {
        let rows: &[(&str, &str, bool)] = &[
            ("1.1", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("1.1 close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false),
            ("1.1 Close case", "GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n", false),
            ("1.1 close in list", "GET / HTTP/1.1\r\nHost: h\r\nConnection: te, close\r\n\r\n", false),
            (
                "1.1 close second field",
                "GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: close\r\n\r\n",
                false,
            ),
            ("1.1 keep-alive", "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true),
            ("1.1 closed is not close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", true),
            ("1.0", "GET / HTTP/1.0\r\n\r\n", false),
            ("1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            ("1.0 keep-alive list", "GET / HTTP/1.0\r\nConnection: foo ,keep-alive\r\n\r\n", true),
            (
                "1.0 keep-alive and close",
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                false,
            ),
            ("1.0 other", "GET / HTTP/1.0\r\nConnection: upgrade\r\n\r\n", false),
        ];
        for (name, input, expected) in rows {
            assert_eq!(ok(input.as_bytes()).0.keep_alive, *expected, "row {name}");
        }
    }

    #[test]
    fn field_values() {
        let input = b"GET / HTTP/1.1\r\nHost: h\r\n\
            If-None-Match: \"a\" \r\nif-none-match:\tW/\"b\"\r\n\
            If-Match: \"c\"\r\nIf-Match: *\r\n\
            Accept-Encoding: gzip\r\nAccept-Encoding: br;q=0.5\r\n\
            If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nIf-Modified-Since: x\r\n\
            If-Unmodified-Since: y\r\nIf-Unmodified-Since: z\r\n\
            Range: bytes=0-1\r\nIf-Range: \"e\"\r\nIf-Range: \"f\"\r\n\
            Referer: http://r/\r\nReferer: second\r\n\
            User-Agent: caf\xe9/1.0\r\n\
            X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\
            Forwarded: for=1.2.3.4\r\n\r\n";
        let (r, _) = ok(input);
        assert_eq!(r.headers.if_none_match.as_deref(), Some("\"a\", W/\"b\""));
        assert_eq!(r.headers.if_match.as_deref(), Some("\"c\", *"));
        assert_eq!(r.headers.accept_encoding.as_deref(), Some("gzip, br;q=0.5"));
        assert_eq!(r.headers.if_modified_since.as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(r.headers.if_unmodified_since.as_deref(), Some("y"));
        assert_eq!(r.headers.range.as_deref(), Some("bytes=0-1"));
        assert_eq!(r.headers.if_range.as_deref(), Some("\"e\""));
        assert_eq!(r.headers.referer.as_deref(), Some("http://r/"));
        assert_eq!(r.headers.user_agent.as_deref(), Some("caf\u{fffd}/1.0"));
        assert_eq!(r.headers.x_forwarded_for.as_deref(), Some("1.2.3.4, 5.6.7.8"), "several lines are one list");
        assert_eq!(r.headers.forwarded.as_deref(), Some("for=1.2.3.4"));
        assert_eq!(r.body, BodyFraming::None);

        let expect = ok(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").0;
        assert!(expect.expect_continue);
        let bare = ok(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").0;
        assert!(!bare.expect_continue);
        assert_eq!(
            (bare.headers.if_none_match, bare.headers.range, bare.headers.user_agent, bare.headers.referer),
            (None, None, None, None)
        );
        let two_ranges = b"GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nRange: bytes=0-1\r\n\r\n";
        assert_eq!(ok(two_ranges).0.headers.range, None);
        let utf8 = "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: caf\u{e9}\r\n\r\n";
        assert_eq!(ok(utf8.as_bytes()).0.headers.user_agent.as_deref(), Some("caf\u{e9}"));
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
