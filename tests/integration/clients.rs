//! Real third-party clients against the real binary (issue 5): curl (GET, HEAD, range, resume of an
//! interrupted download, If-None-Match, HTTP/1.0), Python's `http.client` and `urllib`, and headless
//! Chromium rendering the shipped www/ site. Our own raw-socket tests can share our misreadings of the
//! RFCs; these clients cannot. A missing tool skips its test (and fails it under `STATICD_REQUIRE_ALL=1`;
//! .ci/run installs them).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
const FILE_LEN: usize = 1 << 20;
/// Big enough that a download limited to 100 KB/s cannot finish within a second.
const RESUME_LEN: usize = 8 << 20;

fn site() -> TempRoot {
    let root = TempRoot::new("clients");
    root.write("data.bin", &pattern(FILE_LEN, 0));
    root.write("resume.bin", &pattern(RESUME_LEN, 0));
    root.write("hello.txt", b"hello, clients\n");
    root
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr())
}

/// Runs curl with `-sS` and the given arguments; panics with its stderr unless it exits with `want_code`.
fn curl(args: &[&str], cwd: &Path, want_code: i32) -> Exit {
    let mut all = vec!["-sS", "--max-time", "30"];
    all.extend_from_slice(args);
    let run = run_tool("curl", &all, Some(cwd), TOOL_TIMEOUT);
    assert_eq!(run.status.code(), Some(want_code), "curl {args:?} exited with {}; stderr: {}", run.status, run.stderr);
    run
}

/// Reads the head and at least `body_bytes` of the body of `path`, then resets the connection mid-transfer.
/// Returns the body bytes received.
fn interrupted_download(server: &Server, path: &str, body_bytes: usize) -> Vec<u8> {
    use std::io::Write;
    let mut s = server.connect();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
    let (_, mut body) = read_head(&mut s);
    read_at_least(&mut s, &mut body, body_bytes);
    set_linger_zero(&s);
    body
}

/// A header's value from a `curl -I`/`-D -` dump (last response in the dump wins).
fn dumped_header(dump: &str, name: &str) -> Option<String> {
    dump.lines()
        .rev()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

#[test]
fn curl_get_head_range_resume_conditional_and_http10() {
    if !require_tool("curl") {
        return;
    }
    let root = site();
    let server = root.serve(&[]);
    let out = TempRoot::new("curl_out");
    let expected = pattern(FILE_LEN, 0);
    let data = url(&server, "/data.bin");

    // GET: the bytes, the status and the type.
    let run = curl(&["-o", "got.bin", "-w", "%{http_code} %{content_type}", &data], &out.path, 0);
    assert_eq!(run.stdout, "200 application/octet-stream");
    assert!(fs::read(out.path.join("got.bin")).expect("curl output") == expected);

    // HEAD: headers only, with the length of the GET body.
    let run = curl(&["-I", &data], &out.path, 0);
    let dump = run.stdout;
    assert!(dump.starts_with("HTTP/1.1 200"), "curl -I: {dump}");
    assert_eq!(dumped_header(&dump, "content-length").as_deref(), Some(FILE_LEN.to_string().as_str()));
    let etag = dumped_header(&dump, "etag").expect("an ETag on the HEAD response");

    // Range.
    let run = curl(&["-r", "1000-1999", "-o", "part.bin", "-w", "%{http_code}", &data], &out.path, 0);
    assert_eq!(run.stdout, "206");
    assert!(fs::read(out.path.join("part.bin")).expect("range output") == expected[1000..2000]);

    // An interrupted download: a client reads the head and part of the body, then drops the connection
    // (curl's own --limit-rate is too bursty on loopback to cut a download reliably); what it got is
    // what an interrupted `curl -o` leaves behind. Then `curl -C -` finishes it.
    let partial = out.path.join("resume.bin");
    let have = interrupted_download(&server, "/resume.bin", 300_000);
    fs::write(&partial, &have).expect("partial file");
    assert!(have.len() < RESUME_LEN);
    let have = have.len();
    let resume = url(&server, "/resume.bin");
    let run = curl(&["-C", "-", "-o", "resume.bin", "-w", "%{http_code}", &resume], &out.path, 0);
    assert_eq!(run.stdout, "206", "the resumed download was not a range");
    assert!(
        fs::read(&partial).expect("resumed file") == pattern(RESUME_LEN, 0),
        "the resumed download (from byte {have}) differs from the file"
    );

    // If-None-Match with the ETag: 304, no body.
    let inm = format!("If-None-Match: {etag}");
    let run = curl(&["-H", &inm, "-o", "cond.bin", "-w", "%{http_code} %{size_download}", &data], &out.path, 0);
    assert_eq!(run.stdout, "304 0");

    // HTTP/1.0: answered in full, and the server closes the connection (curl reports no reuse problem).
    let run = curl(&["--http1.0", "-D", "-", "-o", "old.bin", &url(&server, "/hello.txt")], &out.path, 0);
    let dump = run.stdout;
    assert!(dump.starts_with("HTTP/1.1 200") || dump.starts_with("HTTP/1.0 200"), "curl --http1.0: {dump}");
    assert_eq!(fs::read(out.path.join("old.bin")).expect("http/1.0 output"), b"hello, clients\n");
    assert!(
        !dumped_header(&dump, "connection").unwrap_or_default().eq_ignore_ascii_case("keep-alive"),
        "an HTTP/1.0 request without keep-alive must not be kept alive: {dump}"
    );
}

/// Python's standard clients: `http.client` on one persistent connection (GET, HEAD, range, 304, 404),
/// then `urllib.request` (redirect following and a plain GET). The script asserts and prints OK.
const PYTHON_SCRIPT: &str = r#"
import hashlib, http.client, sys, urllib.request, urllib.error
host, port, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]

c = http.client.HTTPConnection(host, port, timeout=20)
c.request("GET", "/data.bin")
r = c.getresponse(); body = r.read()
assert r.status == 200, r.status
assert hashlib.sha256(body).hexdigest() == digest, "GET body differs"
etag = r.getheader("ETag"); assert etag, "no ETag"
sock = c.sock

c.request("HEAD", "/data.bin")
r = c.getresponse(); assert r.read() == b""
assert r.status == 200 and r.getheader("Content-Length") == str(len(body)), r.getheaders()

c.request("GET", "/data.bin", headers={"Range": "bytes=-100"})
r = c.getresponse(); tail = r.read()
assert r.status == 206 and tail == body[-100:], r.status
assert r.getheader("Content-Range") == "bytes %d-%d/%d" % (len(body) - 100, len(body) - 1, len(body))

c.request("GET", "/data.bin", headers={"If-None-Match": etag})
r = c.getresponse(); assert r.status == 304 and r.read() == b"", r.status

c.request("GET", "/missing")
r = c.getresponse(); assert r.status == 404 and r.read().startswith(b"404"), r.status
assert c.sock is sock, "http.client had to reconnect: keep-alive broken"
c.close()

with urllib.request.urlopen("http://%s:%d/hello.txt" % (host, port), timeout=20) as r:
    assert r.status == 200 and r.read() == b"hello, clients\n"
    assert r.headers.get_content_type() == "text/plain"
with urllib.request.urlopen("http://%s:%d/sub" % (host, port), timeout=20) as r:
    assert r.status == 200 and r.url.endswith("/sub/"), r.url
    assert r.read() == b"<p>sub index</p>\n"
try:
    urllib.request.urlopen("http://%s:%d/nope" % (host, port), timeout=20)
    raise AssertionError("404 expected")
except urllib.error.HTTPError as e:
    assert e.code == 404
print("OK")
"#;

#[test]
fn python_http_client_and_urllib() {
    if !require_tool("python3") {
        return;
    }
    let root = site();
    root.write("sub/index.html", b"<p>sub index</p>\n");
    let server = root.serve(&[]);
    // The digest comes from Python too (hashlib), computed over the fixture file itself.
    let digest = run_tool(
        "python3",
        &[
            "-c",
            "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
            root.path.join("data.bin").to_str().expect("utf-8 path"),
        ],
        None,
        TOOL_TIMEOUT,
    )
    .stdout
    .trim()
    .to_string();
    let port = server.addr().port().to_string();
    let run = run_tool("python3", &["-c", PYTHON_SCRIPT, "127.0.0.1", &port, &digest], None, TOOL_TIMEOUT);
    assert!(
        run.status.success() && run.stdout.trim() == "OK",
        "python clients failed ({}):\nstdout: {}\nstderr: {}",
        run.status,
        run.stdout,
        run.stderr
    );
}

/// Subresources a page references through `<link href>`, `<script src>` and `<img src>`.
fn subresources(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (tag, attr) in [("<link", "href="), ("<script", "src="), ("<img", "src=")] {
        let mut rest = html;
        while let Some(at) = rest.find(tag) {
            rest = &rest[at + tag.len()..];
            let end = rest.find('>').unwrap_or(rest.len());
            let element = &rest[..end];
            if let Some(a) = element.find(attr) {
                let value = &element[a + attr.len()..];
                let quote = value.chars().next().unwrap_or('"');
                if let Some(v) = value.get(1..).and_then(|v| v.split(quote).next()) {
                    found.push(v.to_string());
                }
            }
        }
    }
    found
}

/// The Content-Type staticd must send for a subresource, by extension.
fn expected_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("png") => "image/png",
        Some("html") => "text/html; charset=utf-8",
        _ => "",
    }
}

#[test]
fn headless_chromium_renders_the_shipped_site() {
    if !require_tool("chromium") {
        return;
    }
    let www = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/www"));
    let server = Server::start(www, &[]);
    let profile = TempRoot::new("chromium_profile");
    let user_data = format!("--user-data-dir={}", profile.path_str());
    let page = url(&server, "/");
    let run = run_tool(
        "chromium",
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &user_data,
            "--dump-dom",
            &page,
        ],
        None,
        Duration::from_secs(90),
    );
    let dom = run.stdout;
    assert!(
        dom.contains(r#"data-staticd-ready="yes""#) && dom.contains("JavaScript loaded."),
        "the page did not run its script (chromium exit {}):\nDOM: {dom}\nstderr: {}",
        run.status,
        run.stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );

    // Every subresource the page references is served 200 with the right type.
    let index = fs::read_to_string(www.join("index.html")).expect("www/index.html");
    let subs = subresources(&index);
    assert!(subs.len() >= 3, "expected the stylesheet, the script and the logo in index.html, found {subs:?}");
    for sub in &subs {
        let path = format!("/{}", sub.trim_start_matches('/'));
        let r = get(server.addr(), &path);
        assert_eq!(r.status, 200, "subresource {path}");
        assert_eq!(r.header("content-type"), Some(expected_type(&path)), "Content-Type of {path}");
        let on_disk = fs::read(www.join(path.trim_start_matches('/'))).expect("subresource file");
        assert!(r.body == on_disk, "{path}: served bytes differ from www/");
    }
}
