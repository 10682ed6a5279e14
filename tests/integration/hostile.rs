//! Hostile-input battery (issue 5): raw request bytes an attacker would send, each on its own connection to
//! the real binary, with the exact responses expected.
//!
//! The harness plants a secret file beside every document root, and symlinks inside this root point at it.
//! Every row asserts its statuses, that the connection then ends exactly where it should (the server closes:
//! no extra, smuggled response), that any Location is a safe path-absolute reference, and that the secret
//! never appears in a single byte received. When run as root the traversal table also runs with
//! `--no-chroot`, so the resolver and `openat2(RESOLVE_BENEATH)` are tested on their own, without the chroot
//! that would otherwise hide their mistakes.

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::support::*;

/// One attack: the bytes, and the statuses of the responses the connection must yield before the server
/// closes it (each row makes its last request `Connection: close`, or is refused, which always closes).
struct Row {
    name: &'static str,
    raw: Vec<u8>,
    want: Vec<u16>,
    /// The first request is a HEAD that parses, so its response carries no body.
    head: bool,
}

fn row(name: &'static str, raw: impl Into<Vec<u8>>, want: &[u16]) -> Row {
    Row { name, raw: raw.into(), want: want.to_vec(), head: false }
}

/// `GET target` on its own connection, closing after the response.
fn get_row(name: &'static str, target: &str, want: u16) -> Row {
    row(name, format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), &[want])
}

/// The request a smuggling row hides in its body: answered only if the server mis-frames the body.
const SMUGGLED: &str = "GET /ok.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// A request head (GET / unless `start` says otherwise) with `fields`, then `body`, then the smuggled
/// request.
fn smuggle(name: &'static str, start: &str, fields: &str, body: &str, want: &[u16]) -> Row {
    row(name, format!("{start}\r\nHost: t\r\n{fields}\r\n{body}{SMUGGLED}"), want)
}

const OK_BODY: &[u8] = b"just a public file\n";

/// The fixture: a small site whose symlinks and directory names bait traversal and open redirects.
fn site(tag: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    site.write("index.html", b"<!doctype html><p>home</p>\n");
    site.write("ok.txt", OK_BODY);
    site.write("sub/index.html", b"<p>sub</p>\n");
    site.write("sub/deeper/index.html", b"<p>deeper</p>\n");
    // Directories whose names an open-redirect attempt would like the Location to start with.
    site.write("evil.example/index.html", b"<p>not evil</p>\n");
    site.write("\\evil.example/index.html", b"<p>backslash</p>\n");
    site.write(".hidden/index.html", b"<p>dot dir</p>\n");
    site.symlink("link.txt", "../secret.txt");
    site.symlink("abs-link.txt", site.secret().to_str().expect("temp path is UTF-8"));
    site.symlink("up", "..");
    site.symlink("sub/up2", "../..");
    assert!(
        std::fs::read(site.path.join("../secret.txt")).is_ok_and(|s| s == SECRET),
        "the secret must really sit beside the root"
    );
    site
}

/// Sends one row on a fresh connection and checks everything about what comes back; returns a description
/// of each problem (empty when the row passed).
fn check_row(addr: SocketAddr, r: &Row) -> Vec<String> {
    let mut problems = Vec::new();
    let mut stream = connect(addr);
    // The server may refuse and close before all of a long row is written; what matters is what it answered.
    if let Err(e) = stream.write_all(&r.raw) {
        if !matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) {
            problems.push(format!("write failed: {e}"));
        }
    }
    let received = match read_ending(&mut stream, Vec::new()) {
        Ending::Eof(bytes) => bytes,
        Ending::Reset(bytes) => {
            problems.push("connection reset instead of closed".into());
            bytes
        }
        Ending::Open(bytes) => {
            problems.push(format!("connection still open after {IO_TIMEOUT:?} (server waits for more?)"));
            bytes
        }
        Ending::Other(e) => {
            problems.push(format!("read failed: {e}"));
            Vec::new()
        }
    };
    if find(&received, SECRET).is_some() {
        problems.push("SECRET MARKER LEAKED".into());
    }
    let mut buf = received;
    let mut got = Vec::new();
    while !buf.is_empty() {
        let head = r.head && got.is_empty();
        match read_response(&mut io::empty(), &mut buf, head) {
            Ok(resp) => {
                check_location(&resp, &mut problems);
                got.push(resp.status);
            }
            Err(e) => {
                problems.push(format!("unparsable response bytes: {e}: {:?}", show(&buf)));
                break;
            }
        }
    }
    if got != r.want {
        problems.push(format!("statuses {got:?}, want {:?}", r.want));
    }
    problems
}

/// A Location must be a path-absolute reference: exactly one '/' then a byte that is neither '/' nor '\'
/// (or "/" alone), so no browser can read it as `//evil.example/`.
fn check_location(resp: &Response, problems: &mut Vec<String>) {
    if let Some(location) = resp.header("location") {
        let b = location.as_bytes();
        let safe = b.first() == Some(&b'/') && !matches!(b.get(1), Some(b'/' | b'\\'));
        if !safe {
            problems.push(format!("unsafe Location {location:?}"));
        }
    }
    if resp.status == 301 && resp.header("location").is_none() {
        problems.push("301 without Location".into());
    }
}

/// Runs every row against a fresh server on the site; fails listing every row that misbehaved.
fn run_table(tag: &str, extra_args: &[&str], rows: &[Row]) {
    let site = site(tag);
    let server = site.serve(extra_args);
    let mut failures = Vec::new();
    for r in rows {
        let problems = check_row(server.addr(), r);
        if !problems.is_empty() {
            failures.push(format!("row {:?} {:?}:\n    {}", r.name, show(&r.raw), problems.join("\n    ")));
        }
    }
    // A sanity row after the battery: the server still serves, and the public file is what it is.
    let ok = get(server.addr(), "/ok.txt");
    assert_eq!((ok.status, ok.body.as_slice()), (200, OK_BODY));
    assert!(
        failures.is_empty(),
        "{} of {} rows failed ({tag}, args {extra_args:?}):\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Tables

fn traversal_rows() -> Vec<Row> {
    vec![
        get_row("control: public file", "/ok.txt", 200),
        get_row("control: root index", "/", 200),
        get_row("plain ../", "/../secret.txt", 400),
        get_row("../ after a name", "/sub/../../secret.txt", 400),
        get_row("deep ../", "/sub/deeper/../../../secret.txt", 400),
        get_row("./ then ../", "/./../secret.txt", 400),
        get_row("bare ..", "/..", 400),
        get_row("%2e%2e", "/%2e%2e/secret.txt", 400),
        get_row("%2E%2E upper", "/%2E%2E/secret.txt", 400),
        get_row(".%2e mixed", "/.%2e/secret.txt", 400),
        get_row("%2e. mixed", "/%2e./secret.txt", 400),
        get_row("..%2f encoded slash", "/..%2fsecret.txt", 400),
        get_row("%2f.. after slash", "/%2f..%2fsecret.txt", 400),
        get_row("all encoded", "/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt", 400),
        get_row("..%5c is a name", "/..%5csecret.txt", 404),
        get_row("%2e%2e%5c is a name", "/%2e%2e%5csecret.txt", 404),
        get_row("raw backslashes", "/..\\secret.txt", 404),
        get_row("backslashes after a name", "/sub\\..\\..\\secret.txt", 404),
        get_row("overlong utf-8 dot", "/%c0%ae%c0%ae/secret.txt", 404),
        get_row("overlong utf-8 slash", "/..%c0%afsecret.txt", 404),
        get_row("double-encoded dots", "/%252e%252e/secret.txt", 404),
        get_row("double-encoded slash", "/..%252fsecret.txt", 404),
        get_row("triple-encoded dots", "/%25252e%25252e/secret.txt", 404),
        get_row("NUL encoded", "/ok.txt%00.html", 400),
        get_row("NUL encoded in ..", "/..%00/secret.txt", 400),
        row("NUL raw", &b"GET /ok.txt\0.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..], &[400]),
        get_row("broken escape", "/%2", 400),
        get_row("non-hex escape", "/%zz/secret.txt", 400),
        get_row("absolute-form ..", "http://t/../secret.txt", 400),
        get_row("absolute-form %2e%2e", "http://t/%2e%2e/secret.txt", 400),
        get_row("absolute-form deep ..", "http://t/sub/../../secret.txt", 400),
        get_row("absolute-form control", "http://t/ok.txt", 200),
        get_row("absolute-form userinfo", "http://evil@t/ok.txt", 400),
        get_row("relative target", "../secret.txt", 400),
        get_row("relative symlink out", "/link.txt", 403),
        get_row("absolute symlink out", "/abs-link.txt", 403),
        get_row("symlinked dir to parent", "/up/secret.txt", 403),
        get_row("nested symlink to grandparent", "/sub/up2/secret.txt", 403),
        get_row("dotdot inside root then up", "/sub/../up/secret.txt", 403),
        get_row("query is not a path", "/ok.txt?../../secret.txt", 200),
        get_row("fragment", "/ok.txt#/../../secret.txt", 400),
        get_row("hidden dir", "/.hidden/", 404),
        get_row("dots name", "/..../secret.txt", 404),
        get_row("..; name", "/..;/secret.txt", 404),
        Row {
            head: true,
            ..row("HEAD ..", "HEAD /../secret.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &[400])
        },
        Row {
            head: true,
            ..row("HEAD through symlink", "HEAD /link.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &[403])
        },
        get_row("name too long", &format!("/{}/../../secret.txt", "a".repeat(300)), 400),
        get_row("segment over NAME_MAX", &format!("/{}", "a".repeat(4000)), 404),
    ]
}

fn smuggling_rows() -> Vec<Row> {
    let get = "GET / HTTP/1.1";
    // A GET's body is framed and discarded before the GET is answered (an upload, a POST or PUT, is refused
    // before its body is read: the last rows), so the framing is tried on GETs.
    let post = "GET /ok.txt HTTP/1.1";
    vec![
        // Well-framed bodies: the second request is a real pipelined one and must be answered.
        smuggle("control: CL body", post, "Content-Length: 5\r\n", "hello", &[200, 200]),
        smuggle(
            "control: chunked body",
            post,
            "Transfer-Encoding: chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
            &[200, 200],
        ),
        smuggle("duplicate equal CL", post, "Content-Length: 5\r\nContent-Length: 5\r\n", "hello", &[200, 200]),
        smuggle("CL list of equal values", post, "Content-Length: 5, 5\r\n", "hello", &[200, 200]),
        smuggle("chunked odd case and spacing", post, "Transfer-Encoding:  ChUnKeD \r\n", "0\r\n\r\n", &[200, 200]),
        smuggle("chunked with tab OWS", post, "Transfer-Encoding:\tchunked\r\n", "0\r\n\r\n", &[200, 200]),
        smuggle(
            "chunk extension and trailer",
            post,
            "Transfer-Encoding: chunked\r\n",
            "3;x=\"y\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
            &[200, 200],
        ),
        // A misspelt TE is no TE: the body is parsed as the next request, which is garbage.
        smuggle("Transfer_Encoding underscore", get, "Transfer_Encoding: chunked\r\n", "0\r\n\r\n", &[200, 400]),
        // Ambiguous framing: refused, and nothing after it is read.
        smuggle("CL then TE", post, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n", &[400]),
        smuggle(
            "TE then CL",
            post,
            "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
            "5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
            &[400],
        ),
        smuggle("duplicate differing CL", post, "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!", &[400]),
        smuggle("CL list of differing values", post, "Content-Length: 5, 6\r\n", "hello!", &[400]),
        smuggle("CL +5", post, "Content-Length: +5\r\n", "hello", &[400]),
        smuggle("CL -1", post, "Content-Length: -1\r\n", "", &[400]),
        smuggle("CL 0x10", post, "Content-Length: 0x10\r\n", "0123456789abcdef", &[400]),
        smuggle("CL empty", post, "Content-Length:\r\n", "", &[400]),
        smuggle("CL 5.0", post, "Content-Length: 5.0\r\n", "hello", &[400]),
        smuggle("CL overflows u64", post, "Content-Length: 99999999999999999999\r\n", "", &[400]),
        smuggle("CL over the body limit", post, "Content-Length: 2000000\r\n", "", &[413]),
        smuggle("space before colon TE", post, "Transfer-Encoding : chunked\r\n", "0\r\n\r\n", &[400]),
        smuggle("space before colon CL", post, "Content-Length : 5\r\n", "hello", &[400]),
        smuggle("obs-fold TE", post, "X: y\r\n Transfer-Encoding: chunked\r\n", "0\r\n\r\n", &[400]),
        smuggle("xchunked", post, "Transfer-Encoding: xchunked\r\n", "0\r\n\r\n", &[501]),
        smuggle("chunked, identity", post, "Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n", &[501]),
        smuggle("identity", post, "Transfer-Encoding: identity\r\n", "0\r\n\r\n", &[501]),
        smuggle("gzip, chunked", post, "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n", &[501]),
        smuggle("TE twice", post, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n", &[501]),
        smuggle("TE quoted", post, "Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n", &[400]),
        smuggle("TE trailing comma", post, "Transfer-Encoding: chunked,\r\n", "0\r\n\r\n", &[400]),
        smuggle("TE vertical tab", post, "Transfer-Encoding: \x0bchunked\r\n", "0\r\n\r\n", &[400]),
        smuggle("TE in HTTP/1.0", "GET /ok.txt HTTP/1.0", "Transfer-Encoding: chunked\r\n", "0\r\n\r\n", &[400]),
        // Chunk-size tricks: a request is answered only once its body is framed, so a body that cannot be framed
        // gets 400 (or 413 when it is too large) in place of the 200, and the connection closes.
        smuggle("chunk size 0x5", post, "Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n", &[400]),
        smuggle("chunk size -1", post, "Transfer-Encoding: chunked\r\n", "-1\r\n\r\n", &[400]),
        smuggle("chunk size +5", post, "Transfer-Encoding: chunked\r\n", "+5\r\nhello\r\n0\r\n\r\n", &[400]),
        smuggle("chunk size then space", post, "Transfer-Encoding: chunked\r\n", "5 ;\r\nhello\r\n0\r\n\r\n", &[400]),
        smuggle("chunk size leading space", post, "Transfer-Encoding: chunked\r\n", " 5\r\nhello\r\n0\r\n\r\n", &[400]),
        smuggle(
            "chunk size 17 hex digits",
            post,
            "Transfer-Encoding: chunked\r\n",
            "10000000000000005\r\nhello\r\n0\r\n\r\n",
            &[400],
        ),
        smuggle(
            "chunk size huge",
            post,
            "Transfer-Encoding: chunked\r\n",
            "FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
            &[413],
        ),
        smuggle(
            "chunk size over body limit",
            post,
            "Transfer-Encoding: chunked\r\n",
            "200000\r\nhello\r\n0\r\n\r\n",
            &[413],
        ),
        smuggle("bare LF after size", post, "Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n", &[400]),
        smuggle("bare LF after data", post, "Transfer-Encoding: chunked\r\n", "5\r\nhello\n0\r\n\r\n", &[400]),
        smuggle("bare LF last chunk", post, "Transfer-Encoding: chunked\r\n", "0\n\n", &[400]),
        smuggle("data longer than size", post, "Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n", &[400]),
        smuggle("last chunk without final CRLF", post, "Transfer-Encoding: chunked\r\n", "0\r\n", &[400]),
        smuggle("empty chunk size", post, "Transfer-Encoding: chunked\r\n", "\r\n", &[400]),
        smuggle("bad trailer", post, "Transfer-Encoding: chunked\r\n", "0\r\nBad Trailer\r\n\r\n", &[400]),
        // An upload is refused before its body: never read, so nothing in it or after it is a request.
        smuggle("POST refused before its body", "POST / HTTP/1.1", "Content-Length: 5\r\n", "hello", &[405]),
        smuggle(
            "PUT refused before a body that cannot be framed",
            "PUT /ok.txt HTTP/1.1",
            "Transfer-Encoding: chunked\r\n",
            "0x5\r\nhello\r\n0\r\n\r\n",
            &[405],
        ),
    ]
}

fn limits_rows() -> Vec<Row> {
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "a".repeat(9000));
    let long_field = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "b".repeat(20_000));
    let many_fields = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}Connection: close\r\n\r\n",
        (0..120).map(|i| format!("X-F{i}: v\r\n")).collect::<String>()
    );
    let big_total = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}Connection: close\r\n\r\n",
        (0..50).map(|i| format!("X-F{i}: {}\r\n", "c".repeat(400))).collect::<String>()
    );
    let endless_line = format!("GET /{}", "a".repeat(20_000));
    let endless_head = format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}", "d".repeat(20_000));
    let at_limit = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}Connection: close\r\n\r\n",
        (0..98).map(|i| format!("X-F{i}: v\r\n")).collect::<String>()
    );
    vec![
        row("request line over 8 KiB", long_line, &[414]),
        row("request line never ends", endless_line, &[414]),
        row("one field over 16 KiB", long_field, &[431]),
        row("head never ends", endless_head, &[431]),
        row("120 fields", many_fields, &[431]),
        row("50 fields of 400 bytes", big_total, &[431]),
        row("100 fields is fine", at_limit, &[200]),
        row("two leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &[400]),
        row("one leading empty line is fine", "\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &[200]),
        row("no Host in 1.1", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &[400]),
        row("two Hosts", "GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\nConnection: close\r\n\r\n", &[400]),
        row("bad Host", "GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n", &[400]),
        row("bare CR in a field", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\nConnection: close\r\n\r\n", &[400]),
        row("NUL in a field", &b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\nConnection: close\r\n\r\n"[..], &[400]),
        row("space in a field name", "GET / HTTP/1.1\r\nHost: t\r\nX Y: z\r\nConnection: close\r\n\r\n", &[400]),
        row("binary garbage", &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..], &[400]),
    ]
}

fn version_and_method_rows() -> Vec<Row> {
    let line = |l: &str| format!("{l}\r\nHost: t\r\nConnection: close\r\n\r\n");
    vec![
        row("HTTP/2.0", line("GET / HTTP/2.0"), &[505]),
        row("HTTP/1.2", line("GET / HTTP/1.2"), &[505]),
        row("HTTP/0.9 with version", line("GET / HTTP/0.9"), &[505]),
        row("HTTP/3", line("GET / HTTP/3"), &[400]),
        row("lower-case version", line("GET / http/1.1"), &[400]),
        row("HTTP/1.10", line("GET / HTTP/1.10"), &[400]),
        row("HTTP/11", line("GET / HTTP/11"), &[400]),
        row("no version (0.9 simple request)", "GET /ok.txt\r\n\r\n", &[400]),
        row("trailing space after version", line("GET / HTTP/1.1 "), &[400]),
        row("two spaces after method", line("GET  / HTTP/1.1"), &[400]),
        row("tab separator", line("GET\t/ HTTP/1.1"), &[400]),
        // The h2 preface: '*' is only a target for OPTIONS, and the target is checked before the version.
        row("PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &[400]),
        row("POST", line("POST /ok.txt HTTP/1.1"), &[405]),
        row("PUT", line("PUT /ok.txt HTTP/1.1"), &[405]),
        row("DELETE", line("DELETE /ok.txt HTTP/1.1"), &[405]),
        row("PATCH", line("PATCH /ok.txt HTTP/1.1"), &[405]),
        row("TRACE", line("TRACE / HTTP/1.1"), &[405]),
        row("CONNECT authority-form", line("CONNECT t:443 HTTP/1.1"), &[400]),
        row("CONNECT origin-form", line("CONNECT / HTTP/1.1"), &[405]),
        row("lower-case get", line("get / HTTP/1.1"), &[501]),
        row("unknown method", line("BREW /pot HTTP/1.1"), &[501]),
        row("method with a bad byte", line("G@T / HTTP/1.1"), &[400]),
        row("asterisk with GET", line("GET * HTTP/1.1"), &[400]),
        row("OPTIONS *", line("OPTIONS * HTTP/1.1"), &[204]),
    ]
}

fn redirect_rows() -> Vec<Row> {
    vec![
        get_row("control: /sub", "/sub", 301),
        get_row("//evil.example/..", "//evil.example/..", 200),
        get_row("//evil.example/../sub", "//evil.example/../sub", 301),
        get_row("//evil.example", "//evil.example", 301),
        get_row("///evil.example", "///evil.example", 301),
        get_row("/\\evil.example", "/\\evil.example", 301),
        get_row("/%5cevil.example", "/%5cevil.example", 301),
        get_row("/%5Cevil.example", "/%5Cevil.example", 301),
        get_row("/%2fevil.example", "/%2fevil.example", 301),
        get_row("/%2f%2fevil.example", "/%2f%2fevil.example", 301),
        get_row("/./evil.example", "/./evil.example", 301),
        get_row("/%2e/%2fevil.example", "/%2e/%2fevil.example", 301),
        get_row("/sub?//evil.example", "/sub?//evil.example", 301),
        get_row("/sub?\\\\evil.example", "/sub?\\\\evil.example", 301),
        get_row("/%5c%5cevil.example (no such dir)", "/%5c%5cevil.example", 404),
        get_row("absolute-form //evil.example", "http://t//evil.example", 301),
        get_row("absolute-form to evil host", "http://evil.example/evil.example", 301),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn path_traversal_never_leaves_the_root() {
    run_table("traversal", &[], &traversal_rows());
}

/// As root the workers are chrooted into the root, which would hide a resolver bug; without the chroot the
/// secret is reachable on the filesystem and only the resolver and openat2 stand in the way.
#[test]
fn path_traversal_never_leaves_the_root_without_chroot() {
    if !require_root("--no-chroot only differs from the default when run as root") {
        return;
    }
    run_table("traversal-nochroot", &["--no-chroot"], &traversal_rows());
}

#[test]
fn smuggling_shapes_are_framed_strictly() {
    run_table("smuggling", &[], &smuggling_rows());
}

#[test]
fn oversized_and_malformed_heads_are_refused() {
    run_table("limits", &[], &limits_rows());
}

#[test]
fn bad_versions_and_methods_are_refused() {
    run_table("versions", &[], &version_and_method_rows());
}

#[test]
fn directory_redirects_are_never_open_redirects() {
    run_table("redirects", &[], &redirect_rows());
}

/// The exact Location of each redirect, beyond the "one leading slash" rule every row already checks.
#[test]
fn directory_redirect_locations_are_exact() {
    let site = site("locations");
    let server = site.serve(&[]);
    let cases = [
        ("/sub", "/sub/"),
        ("//evil.example/../sub", "/sub/"),
        ("//evil.example", "/evil.example/"),
        ("/%2fevil.example", "/evil.example/"),
        ("/\\evil.example", "/%5Cevil.example/"),
        ("/%5cevil.example", "/%5Cevil.example/"),
        ("/sub?//evil.example", "/sub/?//evil.example"),
        ("http://t//evil.example", "/evil.example/"),
    ];
    for (target, want) in cases {
        let resp = get(server.addr(), target);
        assert_eq!(resp.status, 301, "{target}");
        assert_eq!(resp.header("location"), Some(want), "{target}");
        assert!(find(&resp.body, SECRET).is_none(), "{target}: the secret leaked");
    }
}
