//! The HTTP/1.1 engine over raw sockets: every status the request parser and the framing rules can
//! produce, one table row per case, each checked for the headers every response carries and for
//! what happens to the connection afterwards. Smuggling cases check that body bytes are never
//! answered as a request. The parser's unit tests cover the same ground without a socket; these
//! prove the running server behaves the same way.

use std::io::Write;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;

/// What the connection must do after the row's response.
#[derive(Clone, Copy, Debug, PartialEq)]
enum After {
    /// `Connection: close`, then a clean EOF.
    Close,
    /// Stays open: a follow-up request on the same connection is answered.
    Open,
    /// Either, but consistently: `Connection: close` iff the server then closes.
    Either,
}

struct Row {
    name: &'static str,
    raw: Vec<u8>,
    /// Acceptable statuses (usually one).
    status: &'static [u16],
    after: After,
    /// Expected body for 200 rows.
    body: Option<&'static [u8]>,
}

fn row(name: &'static str, raw: impl Into<Vec<u8>>, status: &'static [u16], after: After) -> Row {
    Row { name, raw: raw.into(), status, after, body: None }
}

/// A request that must succeed with `body`; HTTP/1.1 keeps the connection, HTTP/1.0 closes it.
fn ok(name: &'static str, raw: impl Into<Vec<u8>>, body: &'static [u8]) -> Row {
    let raw = raw.into();
    let after = if find(&raw, b" HTTP/1.0\r\n").is_some() { After::Close } else { After::Open };
    Row { name, raw, status: &[200], after, body: Some(body) }
}

/// `GET {target} HTTP/1.1` with Host and extra header lines.
fn get11(target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").into_bytes()
}

fn site() -> TempRoot {
    let root = TempRoot::new("http");
    root.write("a.txt", b"alpha\n");
    root.write("b.txt", b"bravo\n");
    root.write("c.txt", b"charlie\n");
    root.write("index.html", b"<h1>index</h1>\n");
    root.write("dir/index.html", b"<h1>dir</h1>\n");
    root
}

const FOLLOW_UP: &[u8] = b"GET /c.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// Headers every response must carry, and the plain error body.
fn check_common(what: &str, resp: &Response, head_request: bool) {
    assert_eq!(resp.version, "HTTP/1.1", "{what}: status line version");
    let date = resp.header("date").unwrap_or_else(|| panic!("{what}: no Date"));
    let when = parse_imf_fixdate(date).unwrap_or_else(|| panic!("{what}: bad Date {date:?}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    assert!((when - now).abs() <= 120, "{what}: Date {date:?} is not now");
    assert_eq!(resp.header("server"), Some("staticd"), "{what}: Server");
    if resp.status != 204 && !(100..200).contains(&resp.status) {
        assert!(resp.content_length().is_some(), "{what}: no Content-Length");
    }
    assert!(resp.header("transfer-encoding").is_none(), "{what}: no chunked responses expected");
    if resp.status >= 400 && !head_request {
        let ct = resp.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("text/plain"), "{what}: error Content-Type {ct:?}");
        assert!(
            resp.body_str().contains(&resp.status.to_string()),
            "{what}: error body should name the status, got {:?}",
            resp.body_str()
        );
    }
    if resp.status == 405 || (resp.status == 204 && resp.header("allow").is_some()) {
        assert_eq!(resp.header("allow"), Some("GET, HEAD, OPTIONS"), "{what}: Allow");
    }
}

fn run_row(server: &Server, row: &Row) {
    let what = format!("[{}] {:?}", row.name, show(&row.raw));
    let mut stream = server.connect();
    stream.write_all(&row.raw).unwrap_or_else(|e| panic!("{what}: write: {e}"));
    let mut buf = Vec::new();
    let is_head = row.raw.starts_with(b"HEAD");
    let resp = read_response(&mut stream, &mut buf, is_head).unwrap_or_else(|e| panic!("{what}: no response: {e}"));
    assert!(
        row.status.contains(&resp.status),
        "{what}: expected {:?}, got {} {} (body {:?})",
        row.status,
        resp.status,
        resp.reason,
        resp.body_str()
    );
    check_common(&what, &resp, is_head);
    if let Some(body) = row.body {
        assert_eq!(resp.body, body, "{what}: body");
    }
    let closing = resp.says_close();
    match row.after {
        After::Close => assert!(closing, "{what}: expected Connection: close"),
        After::Open => assert!(!closing, "{what}: expected the connection to stay open"),
        After::Either => {}
    }
    if closing {
        expect_clean_close(&mut stream, buf, &format!("{what}: after Connection: close"));
    } else {
        // Open: the next request on this connection must be answered, and answered alone.
        stream.write_all(FOLLOW_UP).unwrap_or_else(|e| panic!("{what}: follow-up write: {e}"));
        let next = read_response(&mut stream, &mut buf, false)
            .unwrap_or_else(|e| panic!("{what}: the connection stayed open but the follow-up got nothing: {e}"));
        assert_eq!(next.status, 200, "{what}: follow-up status");
        assert_eq!(next.body, b"charlie\n", "{what}: follow-up body");
    }
}

/// Runs every row (each on its own connection) and reports all failing rows together.
fn run_table(server: &Server, rows: &[Row]) {
    let mut failures = Vec::new();
    for row in rows {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_row(server, row)));
        if let Err(payload) = outcome {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            failures.push(msg);
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

#[test]
fn request_targets() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let rows = [
        ok("origin-form", get11("/a.txt", ""), b"alpha\n"),
        ok("origin-form with query", get11("/a.txt?x=1&y=2", ""), b"alpha\n"),
        ok(
            "absolute-form, authority overrides Host",
            b"GET http://example.com/a.txt HTTP/1.1\r\nHost: other.example\r\n\r\n".to_vec(),
            b"alpha\n",
        ),
        ok(
            "absolute-form with port and query",
            b"GET http://example.com:8080/b.txt?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n".to_vec(),
            b"bravo\n",
        ),
        row("asterisk-form with OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", &[204], Either),
        row("asterisk-form with GET", get11("*", ""), &[400], Either),
        row("asterisk-form with HEAD", "HEAD * HTTP/1.1\r\nHost: t\r\n\r\n", &[400], Either),
        row("authority-form with GET", get11("example.com:80", ""), &[400], Either),
        row(
            "authority-form with CONNECT",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            &[400, 405],
            Either,
        ),
        row("raw space in target", get11("/a b.txt", ""), &[400], Either),
        row("NUL in target", get11("/a\0.txt", ""), &[400], Either),
        row("control byte in target", get11("/a\x01.txt", ""), &[400], Either),
        row("DEL in target", get11("/a\x7f.txt", ""), &[400], Either),
        row("tab in target", get11("/a\t.txt", ""), &[400], Either),
        row("relative target", get11("a.txt", ""), &[400], Either),
        ok("one empty line before the request line", [b"\r\n".as_slice(), &get11("/a.txt", "")].concat(), b"alpha\n"),
        ok("directory index", get11("/dir/", ""), b"<h1>dir</h1>\n"),
    ];
    run_table(&server, &rows);
}

#[test]
fn versions() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let rows = [
        ok("HTTP/1.1", get11("/a.txt", ""), b"alpha\n"),
        ok("HTTP/1.0 without Host", b"GET /a.txt HTTP/1.0\r\n\r\n".to_vec(), b"alpha\n"),
        row("HTTP/2.0", "GET /a.txt HTTP/2.0\r\nHost: t\r\n\r\n", &[505], Either),
        row("HTTP/9.9", "GET /a.txt HTTP/9.9\r\nHost: t\r\n\r\n", &[505], Either),
        row("HTTP/3.0", "GET /a.txt HTTP/3.0\r\nHost: t\r\n\r\n", &[505], Either),
        row("HTTP/1.11", "GET /a.txt HTTP/1.11\r\nHost: t\r\n\r\n", &[400], Either),
        row("HTTP/1.0 x", "GET /a.txt HTTP/1.0 x\r\nHost: t\r\n\r\n", &[400], Either),
        row("HTTP/1", "GET /a.txt HTTP/1\r\nHost: t\r\n\r\n", &[400], Either),
        row("lower-case version", "GET /a.txt http/1.1\r\nHost: t\r\n\r\n", &[400], Either),
        row("no version (HTTP/0.9 style)", "GET /a.txt\r\nHost: t\r\n\r\n", &[400], Either),
        row("garbage version", "GET /a.txt FTP/1.1\r\nHost: t\r\n\r\n", &[400], Either),
    ];
    run_table(&server, &rows);
}

#[test]
fn host_field() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let h = |host_lines: &str| format!("GET /a.txt HTTP/1.1\r\n{host_lines}\r\n").into_bytes();
    let rows = [
        row("HTTP/1.1 without Host", h(""), &[400], Either),
        row("two Host fields", h("Host: a\r\nHost: a\r\n"), &[400], Either),
        row("two different Host fields", h("Host: a\r\nHost: b\r\n"), &[400], Either),
        row("Host with a space", h("Host: exa mple.com\r\n"), &[400], Either),
        row("Host with a slash", h("Host: example.com/x\r\n"), &[400], Either),
        row("Host with userinfo", h("Host: user@example.com\r\n"), &[400], Either),
        row("Host with a bad port", h("Host: example.com:abc\r\n"), &[400], Either),
        row("Host with an unclosed IPv6 literal", h("Host: [::1\r\n"), &[400], Either),
        row("Host list", h("Host: a, b\r\n"), &[400], Either),
        ok("Host name", h("Host: example.com\r\n"), b"alpha\n"),
        ok("Host with port", h("Host: example.com:8080\r\n"), b"alpha\n"),
        ok("Host IPv4", h("Host: 127.0.0.1\r\n"), b"alpha\n"),
        ok("Host IPv6 with port", h("Host: [::1]:8080\r\n"), b"alpha\n"),
        ok("Host name is case-insensitive", h("host: t\r\n"), b"alpha\n"),
        // RFC 9112 §3.2: an empty Host is what a client sends when the target has no authority.
        ok("empty Host", h("Host:\r\n"), b"alpha\n"),
    ];
    run_table(&server, &rows);
}

#[test]
fn field_syntax() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let rows = [
        row("whitespace before colon (Host)", "GET /a.txt HTTP/1.1\r\nHost : t\r\n\r\n", &[400], Either),
        row("whitespace before colon", get11("/a.txt", "X-A : 1\r\n"), &[400], Either),
        row("tab before colon", get11("/a.txt", "X-A\t: 1\r\n"), &[400], Either),
        row("obs-fold", get11("/a.txt", "X-A: 1\r\n 2\r\n"), &[400], Either),
        row("obs-fold with tab", get11("/a.txt", "X-A: 1\r\n\t2\r\n"), &[400], Either),
        row("bare CR in a value", get11("/a.txt", "X-A: 1\r2\r\n"), &[400], Either),
        row("NUL in a value", get11("/a.txt", "X-A: 1\x002\r\n"), &[400], Either),
        row("NUL in a name", get11("/a.txt", "X-\0A: 1\r\n"), &[400], Either),
        row("space in a name", get11("/a.txt", "X A: 1\r\n"), &[400], Either),
        row("line without a colon", get11("/a.txt", "XA\r\n"), &[400], Either),
        row("empty field name", get11("/a.txt", ": 1\r\n"), &[400], Either),
        ok("value with inner spaces and tabs", get11("/a.txt", "X-A: 1 \t 2\r\n"), b"alpha\n"),
        ok("value with obs-text", get11("/a.txt", "X-A: caf\u{e9}\r\n"), b"alpha\n"),
        ok("empty value", get11("/a.txt", "X-A:\r\n"), b"alpha\n"),
    ];
    run_table(&server, &rows);
}

#[test]
fn size_limits() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let long_target = format!("/{}", "a".repeat(9000));
    let near_limit_target = format!("/a.txt?{}", "q".repeat(7900));
    let big_value = "v".repeat(17 * 1024);
    let fields = |n: usize| -> String { (0..n).map(|i| format!("X-F{i}: {i}\r\n")).collect() };
    let rows = [
        row("request line over 8 KiB", get11(&long_target, ""), &[414], Either),
        ok("request line just under 8 KiB", get11(&near_limit_target, ""), b"alpha\n"),
        row("header section over 16 KiB", get11("/a.txt", &format!("X-Big: {big_value}\r\n")), &[431], Either),
        ok("header section of 15 KiB", get11("/a.txt", &format!("X-Big: {}\r\n", "v".repeat(15 * 1024))), b"alpha\n"),
        // Host plus 99 more is 100 fields: allowed; Host plus 100 is over the limit.
        ok("100 header fields", get11("/a.txt", &fields(99)), b"alpha\n"),
        row("101 header fields", get11("/a.txt", &fields(100)), &[431], Either),
    ];
    run_table(&server, &rows);
}

#[test]
fn max_header_bytes_option_moves_the_limit() {
    let root = site();
    let server = root.serve(&["--max-header-bytes", "4096"]);
    let rows = [
        row(
            "5000-byte header with --max-header-bytes 4096",
            get11("/a.txt", &format!("X-Big: {}\r\n", "v".repeat(5000))),
            &[431],
            After::Either,
        ),
        ok(
            "3000-byte header with --max-header-bytes 4096",
            get11("/a.txt", &format!("X-Big: {}\r\n", "v".repeat(3000))),
            b"alpha\n",
        ),
    ];
    run_table(&server, &rows);
}

#[test]
fn methods() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let m = |method: &str| format!("{method} /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
    let rows = [
        ok("GET", m("GET"), b"alpha\n"),
        row("HEAD", m("HEAD"), &[200], Either),
        row("OPTIONS", m("OPTIONS"), &[204], Either),
        row("POST", m("POST"), &[405], Either),
        row("PUT", m("PUT"), &[405], Either),
        row("DELETE", m("DELETE"), &[405], Either),
        row("PATCH", m("PATCH"), &[405], Either),
        row("TRACE", m("TRACE"), &[405], Either),
        // CONNECT needs authority-form, so an origin-form CONNECT may also be refused as malformed.
        row("CONNECT", m("CONNECT"), &[405, 400], Either),
        row("BREW", m("BREW"), &[501], Either),
        row("PROPFIND", m("PROPFIND"), &[501], Either),
        row("MKCOL", m("MKCOL"), &[501], Either),
        row("methods are case-sensitive", m("get"), &[501], Either),
        row("method that is not a token", m("G@T"), &[400], Either),
    ];
    run_table(&server, &rows);
    // Allow is checked by check_common on every 405; OPTIONS must carry it too.
    let resp = request(server.addr(), b"OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("allow"), Some("GET, HEAD, OPTIONS"));
    let resp = request(server.addr(), b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.header("allow"), Some("GET, HEAD, OPTIONS"), "OPTIONS *");
}

#[test]
fn content_length_framing() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let cl = |value: &str| get11("/a.txt", &format!("Content-Length: {value}\r\n"));
    let rows = [
        row("Content-Length +5", cl("+5"), &[400], Close),
        row("Content-Length -1", cl("-1"), &[400], Close),
        row("Content-Length 0x10", cl("0x10"), &[400], Close),
        row("Content-Length empty", cl(""), &[400], Close),
        row("Content-Length 20 digits", cl("99999999999999999999"), &[400], Close),
        row("Content-Length 1e3", cl("1e3"), &[400], Close),
        row("Content-Length 1 2", cl("1 2"), &[400], Close),
        row("Content-Length list of different values", cl("5, 6"), &[400], Close),
        row(
            "two different Content-Length fields",
            get11("/a.txt", "Content-Length: 5\r\nContent-Length: 6\r\n"),
            &[400],
            Close,
        ),
        ok("Content-Length 0", cl("0"), b"alpha\n"),
        ok("GET with a body, then the next request", [cl("5"), b"hello".to_vec()].concat(), b"alpha\n"),
        ok(
            "two equal Content-Length fields",
            [get11("/a.txt", "Content-Length: 5\r\nContent-Length: 5\r\n"), b"hello".to_vec()].concat(),
            b"alpha\n",
        ),
    ];
    run_table(&server, &rows);
}

#[test]
fn transfer_encoding_framing() {
    let root = site();
    let server = root.serve(&[]);
    use After::*;
    let te = |value: &str, body: &str| {
        [get11("/a.txt", &format!("Transfer-Encoding: {value}\r\n")), body.as_bytes().to_vec()].concat()
    };
    let rows = [
        row(
            "Transfer-Encoding with Content-Length",
            [get11("/a.txt", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), b"0\r\n\r\n".to_vec()].concat(),
            &[400],
            Close,
        ),
        row(
            "Transfer-Encoding in HTTP/1.0",
            "GET /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            &[400],
            Close,
        ),
        row("identity", te("identity", ""), &[501], Close),
        row("gzip, chunked", te("gzip, chunked", "0\r\n\r\n"), &[501], Close),
        row("gzip", te("gzip", ""), &[501], Close),
        row("malformed coding token", te("chu@nked", ""), &[400], Close),
        row("quoted coding", te("\"chunked\"", ""), &[400], Close),
        ok("chunked", te("chunked", "5\r\nhello\r\n0\r\n\r\n"), b"alpha\n"),
        ok("CHUNKED (names are case-insensitive)", te("CHUNKED", "5\r\nhello\r\n0\r\n\r\n"), b"alpha\n"),
        ok("several chunks, upper-case hex", te("chunked", "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n"), b"alpha\n"),
        ok("chunk extension", te("chunked", "5;name=value\r\nhello\r\n0\r\n\r\n"), b"alpha\n"),
        ok("trailer field", te("chunked", "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"), b"alpha\n"),
        ok("empty chunked body", te("chunked", "0\r\n\r\n"), b"alpha\n"),
        row("chunk size 0x5", te("chunked", "0x5\r\nhello\r\n0\r\n\r\n"), &[400], Close),
        row("chunk size +5", te("chunked", "+5\r\nhello\r\n0\r\n\r\n"), &[400], Close),
        row("chunk size -5", te("chunked", "-5\r\nhello\r\n0\r\n\r\n"), &[400], Close),
        row("chunk size with leading space", te("chunked", " 5\r\nhello\r\n0\r\n\r\n"), &[400], Close),
        row("chunk size not hex", te("chunked", "g\r\nhello\r\n0\r\n\r\n"), &[400], Close),
        row("chunk size empty", te("chunked", "\r\nhello\r\n0\r\n\r\n"), &[400], Close),
        row("LF-only chunk lines", te("chunked", "5\nhello\n0\n\n"), &[400], Close),
        row("bare CR after chunk size", te("chunked", "5\rhello\r\n0\r\n\r\n"), &[400], Close),
        row("chunk data longer than its size", te("chunked", "5\r\nhelloX\r\n0\r\n\r\n"), &[400], Close),
        row("chunk size overflows 64 bits", te("chunked", "10000000000000000\r\nx\r\n"), &[400, 413], Close),
        row(
            "unbounded chunk-size line",
            te("chunked", &format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(20_000))),
            &[400, 413],
            Close,
        ),
    ];
    run_table(&server, &rows);
}

/// Sends `raw` then `FOLLOW_UP` on one connection; asserts that `smuggled` (a request hidden in a
/// body) is never answered: only the first response and then either the follow-up or a close.
fn assert_not_smuggled(server: &Server, what: &str, raw: &[u8], first_status: &[u16]) {
    let mut stream = server.connect();
    stream.write_all(&[raw, FOLLOW_UP].concat()).expect("write");
    let mut buf = Vec::new();
    let first = read_response(&mut stream, &mut buf, false).expect("first response");
    assert!(
        first_status.contains(&first.status),
        "{what}: expected {first_status:?}, got {} ({:?})",
        first.status,
        first.body_str()
    );
    check_common(what, &first, false);
    if first.says_close() {
        expect_clean_close(&mut stream, buf, &format!("{what}: after Connection: close"));
        return;
    }
    let second = read_response(&mut stream, &mut buf, false).expect("second response");
    assert_ne!(second.body, b"bravo\n", "{what}: the request hidden in the body was answered");
    assert_eq!((second.status, second.body.as_slice()), (200, &b"charlie\n"[..]), "{what}: second response");
    expect_clean_close(&mut stream, buf, &format!("{what}: after the follow-up"));
}

#[test]
fn body_bytes_are_never_parsed_as_a_request() {
    let root = site();
    let server = root.serve(&[]);
    let hidden = "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let cl_body = format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{hidden}", hidden.len());
    assert_not_smuggled(&server, "GET with a Content-Length body", cl_body.as_bytes(), &[200]);
    let post = format!("POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{hidden}", hidden.len());
    assert_not_smuggled(&server, "POST with a body", post.as_bytes(), &[405]);
    let chunked = format!(
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{hidden}\r\n0\r\n\r\n",
        hidden.len()
    );
    assert_not_smuggled(&server, "chunked body", chunked.as_bytes(), &[200]);
    // CL.TE: a front end using Content-Length would see `0\r\n\r\n` as the body and the hidden
    // request as the next one; a back end using chunked would see an empty body. We must refuse.
    let clte = format!(
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"
    );
    assert_not_smuggled(&server, "CL.TE", clte.as_bytes(), &[400]);
    let te_te = format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n{hidden}");
    assert_not_smuggled(&server, "TE.TE", te_te.as_bytes(), &[400, 501]);
    let bad_cl = format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: +{}\r\n\r\n{hidden}", hidden.len());
    assert_not_smuggled(&server, "signed Content-Length", bad_cl.as_bytes(), &[400]);
}

#[test]
fn body_size_limit() {
    let root = site();
    let server = root.serve(&["--max-body-bytes", "1000"]);
    use After::*;
    let cl = |n: usize, body: usize| [get11("/a.txt", &format!("Content-Length: {n}\r\n")), vec![b'x'; body]].concat();
    let rows = [
        row("Content-Length over --max-body-bytes", cl(1001, 0), &[413], Close),
        ok("Content-Length at --max-body-bytes", cl(1000, 1000), b"alpha\n"),
        row(
            "chunked body over --max-body-bytes",
            [
                get11("/a.txt", "Transfer-Encoding: chunked\r\n"),
                format!("258\r\n{}\r\n258\r\n{}\r\n0\r\n\r\n", "x".repeat(600), "y".repeat(600)).into_bytes(),
            ]
            .concat(),
            &[413],
            Close,
        ),
        ok(
            "chunked body at --max-body-bytes",
            [
                get11("/a.txt", "Transfer-Encoding: chunked\r\n"),
                format!("1f4\r\n{}\r\n1f4\r\n{}\r\n0\r\n\r\n", "x".repeat(500), "y".repeat(500)).into_bytes(),
            ]
            .concat(),
            b"alpha\n",
        ),
    ];
    run_table(&server, &rows);
}

#[test]
fn default_body_limit_is_one_mebibyte() {
    let root = site();
    let server = root.serve(&[]);
    let over = get11("/a.txt", "Content-Length: 1048577\r\n");
    run_row(&server, &row("Content-Length 1 MiB + 1", over, &[413], After::Close));
    let at = [get11("/a.txt", "Content-Length: 1048576\r\n"), vec![b'x'; 1 << 20]].concat();
    run_row(&server, &ok("Content-Length 1 MiB", at, b"alpha\n"));
}

#[test]
fn head_gets_the_headers_get_would_get() {
    let root = site();
    let server = root.serve(&[]);
    for path in ["/a.txt", "/", "/dir/", "/missing.txt", "/dir"] {
        let g = get(server.addr(), path);
        let h = head(server.addr(), path);
        assert_eq!(h.status, g.status, "HEAD {path}");
        let strip = |r: &Response| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(strip(&h), strip(&g), "HEAD {path} headers differ from GET");
        assert_eq!(h.content_length(), Some(g.body.len() as u64), "HEAD {path} Content-Length");
    }
    // No body bytes after a HEAD: the next pipelined response must parse cleanly.
    let mut s = server.connect();
    s.write_all(
        b"HEAD /missing.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let mut buf = Vec::new();
    let h = read_response(&mut s, &mut buf, true).expect("HEAD 404");
    assert_eq!(h.status, 404);
    let g = read_response(&mut s, &mut buf, false).expect("GET after HEAD 404");
    assert_eq!((g.status, g.body.as_slice()), (200, &b"alpha\n"[..]));
}

/// Peak resident memory of a process in KiB.
fn vm_hwm_kib(pid: i32) -> u64 {
    proc_status_field(pid, "VmHWM").and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok())).unwrap_or(0)
}

/// Streams `prefix` then `filler` bytes for `total` bytes (in a thread: the server may stop reading)
/// and returns the response the server sent meanwhile.
fn flood(server: &Server, prefix: &[u8], filler: u8, total: usize) -> Response {
    let mut stream = server.connect();
    let mut writer = stream.try_clone().expect("clone");
    let prefix = prefix.to_vec();
    let t = thread::spawn(move || {
        let _ = writer.write_all(&prefix);
        let chunk = vec![filler; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
    });
    let mut buf = Vec::new();
    let resp = read_response(&mut stream, &mut buf, false).expect("a response to the flood");
    drop(stream);
    let _ = t.join();
    resp
}

#[test]
fn memory_stays_bounded_under_endless_heads() {
    let root = site();
    let server = root.serve(&["--linger-timeout", "1"]);
    let workers = server.wait_for_workers(2, LONG);
    // Warm up so the baseline includes whatever the first request allocates.
    assert_eq!(get(server.addr(), "/a.txt").status, 200);
    let before: u64 = workers.iter().map(|w| vm_hwm_kib(*w)).sum();
    let total = 32 * 1024 * 1024;
    let r = flood(&server, b"GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Endless: ", b'a', total);
    assert_eq!(r.status, 431, "endless header field");
    let r = flood(&server, b"GET /", b'a', total);
    assert_eq!(r.status, 414, "endless request line");
    let after: u64 = workers.iter().map(|w| vm_hwm_kib(*w)).sum();
    assert!(
        after.saturating_sub(before) < 16 * 1024,
        "worker peak memory grew from {before} KiB to {after} KiB after {} MiB of header bytes",
        (2 * total) >> 20
    );
    assert_eq!(server.worker_pids(), workers, "a worker died");
}
