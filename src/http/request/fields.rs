//! The header fields (RFC 9110 §5, RFC 9112 §5-6): one pass over what httparse tokenised that keeps the
//! fields the server acts on and decides the message framing, refusing wherever two parsers could disagree
//! about where the body ends.

use super::{BodyFraming, Credential, Headers, RequestError, Version};
use crate::http::syntax::{is_token, list_members, trim_ows};

/// Content-Length values longer than this could overflow a u64; 19 digits always fit.
const MAX_CONTENT_LENGTH_DIGITS: usize = 19;

/// What the header fields say, before it is combined with the request line.
#[derive(Debug, Default)]
pub(super) struct Fields<'h> {
    /// Borrowed from the buffer: it is validated, never copied.
    pub(super) host: Option<&'h [u8]>,
    pub(super) content_length: Option<u64>,
    /// Number of transfer-coding list members seen across all Transfer-Encoding fields.
    pub(super) te_members: usize,
    pub(super) te_all_chunked: bool,
    pub(super) conn_close: bool,
    pub(super) conn_keep_alive: bool,
    pub(super) range_count: usize,
    pub(super) expect_continue: bool,
    pub(super) headers: Headers,
}

pub(super) fn scan_fields<'h>(headers: &[httparse::Header<'h>]) -> Result<Fields<'h>, RequestError> {
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
    } else if is("accept") {
        fields.headers.accept.add(value);
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
    } else if is("authorization") {
        // Two credentials could be checked one way and logged or forwarded another: refuse, as for Host.
        if fields.headers.authorization.is_some() {
            return Err(RequestError::BadRequest);
        }
        fields.headers.authorization = Some(Credential::new(String::from_utf8_lossy(value).into_owned()));
    } else if is("content-type") {
        keep_first(&mut fields.headers.content_type, value);
    } else if is("slug") {
        keep_first(&mut fields.headers.slug, value);
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

/// RFC 9112 §6.1-6.3, erring towards refusal wherever two parsers could disagree.
/// How large a body may be is not decided here: it depends on what the request is for (a discarded body has
/// `--max-body-bytes`, an upload its own limit), which only the engine and the site know.
pub(super) fn body_framing(version: Version, fields: &Fields) -> Result<BodyFraming, RequestError> {
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
        Some(length) => Ok(BodyFraming::Length(length)),
        None => Ok(BodyFraming::None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;

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
            ("over max body: the engine decides", "Content-Length: 1000001\r\n", Ok(BodyFraming::Length(1_000_001))),
            (
                "19 digits",
                "Content-Length: 9999999999999999999\r\n",
                Ok(BodyFraming::Length(9_999_999_999_999_999_999)),
            ),
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
}
