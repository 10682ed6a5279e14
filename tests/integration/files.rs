//! Integration tests for turning a request-target into a file (issue 4): traversal in every encoding,
//! dot-segments, dotfiles, directories and index files, Content-Type, special and unreadable files, and the
//! headers every file response carries.
//!
//! Each test builds its own document root with a secret planted *beside* it, talks to the real binary over
//! raw sockets, and checks exact statuses and headers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;

/// A root with a few ordinary files used by several tests.
fn basic_site(tag: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    site.write("index.html", b"<h1>root index</h1>\n");
    site.write("b.txt", b"file b\n");
    site.write("a/x.txt", b"file a/x\n");
    site
}

fn expect_body(addr: SocketAddr, target: &str, want: &[u8]) {
    let r = get(addr, target);
    expect_status(&r, 200, target);
    assert_eq!(r.body, want, "{target}: wrong body");
}

#[test]
fn traversal_attempts_never_leave_the_root() {
    let site = basic_site("traversal");
    let server = site.serve(&[]);
    // Climbing above the root in any encoding is a 400.
    let climbing = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/%2f../secret.txt",
        "/a/../../secret.txt",
        "/a/%2e%2e/%2e%2e/secret.txt",
        "/a%2f..%2f..%2fsecret.txt",
        "/./../secret.txt",
        "/a/./../../secret.txt",
        "/../root/b.txt",
        "/..",
        "/../",
        "/%2e%2e",
        "/a/b/c/../../../../secret.txt",
        "/../../../../../../../../../../etc/passwd",
    ];
    for target in climbing {
        let r = get(server.addr(), target);
        expect_status(&r, 400, target);
    }
    // Names that merely look like climbing are literal file names that do not exist: 404.
    let literal = [
        "/..%5csecret.txt",
        "/..%5c..%5csecret.txt",
        "/%2e%2e%5csecret.txt",
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%af..%c0%afsecret.txt",
        "/..;/secret.txt",
        "/....//secret.txt",
        "/%u002e%u002e/secret.txt",
    ];
    for target in literal {
        let r = get(server.addr(), target);
        // `%u002e` is not valid percent-encoding, so it may be refused outright.
        let ok = r.status == 404 || (target.contains("%u") && r.status == 400);
        assert!(ok, "{target}: expected 404, got {} {:?}", r.status, r.headers);
    }
    // A raw backslash may be refused by the parser or looked up literally, never followed.
    for target in ["/..\\secret.txt", "/a\\..\\..\\secret.txt"] {
        let r = get(server.addr(), target);
        assert!(r.status == 400 || r.status == 404, "{target}: got {}", r.status);
    }
    // Absolute-form targets go through the same resolution.
    let r = fetch(server.addr(), "GET", "http://t/../secret.txt", &[]);
    expect_status(&r, 400, "absolute-form with ..");
    // HEAD must refuse the same way.
    let r = fetch(server.addr(), "HEAD", "/%2e%2e/secret.txt", &[]);
    expect_status(&r, 400, "HEAD /%2e%2e/secret.txt");
}

#[test]
fn bad_percent_encoding_and_nul_are_400() {
    let site = basic_site("badpct");
    let server = site.serve(&[]);
    for target in ["/%zz", "/b%2", "/b.txt%", "/%g0.txt", "/%00", "/b.txt%00.html", "/a/%00/x.txt"] {
        let r = get(server.addr(), target);
        expect_status(&r, 400, target);
        assert!(r.body.starts_with(b"400"), "{target}: error body should name the status");
    }
}

#[test]
fn dot_segments_and_encodings_resolve_like_their_decoded_forms() {
    let site = basic_site("dotseg");
    let server = site.serve(&[]);
    for target in [
        "/b.txt",
        "/a/%2e%2e/b.txt",
        "/a/../b.txt",
        "/a/.%2e/b.txt",
        "/a/%2E./b.txt",
        "/./b.txt",
        "/%2e/b.txt",
        "//b.txt",
        "/a//..//b.txt",
        "/a%2f..%2fb.txt",
        "/a%2F%2E%2E%2Fb.txt",
        "/%62.txt",
        "/%62%2e%74%78%74",
        "/b.txt?x=/../../secret.txt",
        "/b.txt?",
        "/a/x.txt/../../b.txt",
    ] {
        expect_body(server.addr(), target, b"file b\n");
    }
    expect_body(server.addr(), "/a/./x.txt", b"file a/x\n");
    expect_body(server.addr(), "/a/%78.txt", b"file a/x\n");
}

#[test]
fn double_encoding_is_decoded_exactly_once() {
    let site = basic_site("doubleenc");
    site.write("%41.txt", b"literal percent name\n");
    site.write("A.txt", b"capital A\n");
    site.write("sp ace.txt", b"with a space\n");
    let server = site.serve(&[]);
    expect_body(server.addr(), "/%2541.txt", b"literal percent name\n");
    expect_body(server.addr(), "/%41.txt", b"capital A\n");
    expect_body(server.addr(), "/sp%20ace.txt", b"with a space\n");
    let r = get(server.addr(), "/%252e%252e/b.txt");
    expect_status(&r, 404, "/%252e%252e/b.txt");
}

#[test]
fn dotfiles_are_hidden_unless_enabled_and_well_known_is_always_served() {
    let site = basic_site("dotfiles");
    site.write(".env", b"PASSWORD=hunter2\n");
    site.write(".git/config", b"[core]\n");
    site.write("a/.hidden", b"hidden in a\n");
    site.write(".well-known/security.txt", b"Contact: mailto:x@example.com\n");
    site.write(".hiddendir/index.html", b"hidden index\n");
    {
        let server = site.serve(&[]);
        for target in [
            "/.env",
            "/%2eenv",
            "/.git/config",
            "/.git/",
            "/.git",
            "/a/.hidden",
            "/a/%2ehidden",
            "/.hiddendir/",
            "/.hiddendir/index.html",
        ] {
            let r = get(server.addr(), target);
            expect_status(&r, 404, target);
            assert!(find(&r.body, b"hunter2").is_none(), "{target}: leaked");
        }
        expect_body(server.addr(), "/.well-known/security.txt", b"Contact: mailto:x@example.com\n");
        expect_body(server.addr(), "/%2ewell-known/security.txt", b"Contact: mailto:x@example.com\n");
    }
    let server = site.serve(&["--dotfiles"]);
    expect_body(server.addr(), "/.env", b"PASSWORD=hunter2\n");
    expect_body(server.addr(), "/.git/config", b"[core]\n");
    expect_body(server.addr(), "/a/.hidden", b"hidden in a\n");
    expect_body(server.addr(), "/.hiddendir/", b"hidden index\n");
    expect_body(server.addr(), "/.well-known/security.txt", b"Contact: mailto:x@example.com\n");
}

/// A Location for a directory redirect must be path-absolute: one '/', then something that is not '/' or
/// '\' (browsers read both `//host` and `/\host` as another host), and no control bytes.
fn assert_safe_location(loc: &str, what: &str) {
    assert!(loc.starts_with('/'), "{what}: Location {loc:?} not path-absolute");
    assert!(!loc.starts_with("//") && !loc.starts_with("/\\"), "{what}: Location {loc:?} is an open redirect");
    assert!(
        !loc.bytes().any(|b| !(0x21..0x7f).contains(&b) || b == b'\\'),
        "{what}: Location {loc:?} has unencoded bytes"
    );
}

#[test]
fn directory_without_slash_redirects_relatively_keeping_the_query() {
    let site = basic_site("dirredirect");
    site.write("dir/index.html", b"dir index\n");
    site.write("my dir/index.html", b"spaced\n");
    site.write("a/b/c/index.html", b"deep\n");
    let server = site.serve(&[]);
    let cases = [
        ("/dir", "/dir/"),
        ("/dir?a=1&b=2", "/dir/?a=1&b=2"),
        ("/a/b/c", "/a/b/c/"),
        ("/a/b/c?x=%2F", "/a/b/c/?x=%2F"),
        ("/my%20dir", "/my%20dir/"),
        ("/a/../dir", "/dir/"),
        ("/%64ir", "/dir/"),
    ];
    for (target, want) in cases {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {target}");
            let r = fetch(server.addr(), method, target, &[]);
            expect_status(&r, 301, &what);
            let loc = header(&r, "Location", &what);
            assert_eq!(loc, want, "{what}");
            assert_safe_location(loc, &what);
            header(&r, "Content-Length", &what);
        }
    }
}

#[test]
fn directory_redirect_is_never_an_open_redirect() {
    let site = basic_site("openredirect");
    site.write("evil.example/index.html", b"evil dir\n");
    site.write("\\evil.example/index.html", b"backslash dir\n");
    let server = site.serve(&[]);
    for target in [
        "//evil.example",
        "//evil.example/..",
        "//evil.example/%2e%2e",
        "/%2fevil.example",
        "/%2Fevil.example",
        "///evil.example",
        "/%2f%2fevil.example",
        "/%5cevil.example",
        "/%5Cevil.example",
        "//evil.example/a/..",
        "/./evil.example",
        "//evil.example?//x",
    ] {
        let r = get(server.addr(), target);
        assert!([200, 301, 400, 404].contains(&r.status), "{target}: unexpected {}", r.status);
        if let Some(loc) = r.header("Location") {
            assert_safe_location(loc, target);
        }
        if r.status == 301 {
            header(&r, "Location", target);
        }
    }
    // The ones that name an existing directory without a slash must redirect.
    let r = get(server.addr(), "//evil.example");
    expect_status(&r, 301, "//evil.example");
    assert_eq!(header(&r, "Location", "//evil.example"), "/evil.example/");
    let r = get(server.addr(), "/%5cevil.example");
    expect_status(&r, 301, "/%5cevil.example");
    // `//evil.example/..` is the root itself, which serves its index.
    expect_body(server.addr(), "//evil.example/..", b"<h1>root index</h1>\n");
}

#[test]
fn index_files_and_missing_index() {
    let site = basic_site("index");
    site.write("dir/index.html", b"dir index\n");
    site.mkdir("empty");
    site.write("noindex/other.html", b"other\n");
    let server = site.serve(&[]);
    for (target, body) in [
        ("/", &b"<h1>root index</h1>\n"[..]),
        ("/dir/", b"dir index\n"),
        ("/dir/index.html", b"dir index\n"),
        ("/dir/?q=1", b"dir index\n"),
        ("/dir/.", b"dir index\n"),
        ("/dir/x/..", b"dir index\n"),
    ] {
        let r = get(server.addr(), target);
        expect_status(&r, 200, target);
        assert_eq!(r.body, body, "{target}");
        assert_eq!(header(&r, "Content-Type", target), "text/html; charset=utf-8", "{target}");
        assert_file_headers(&r, target);
    }
    for target in ["/empty/", "/noindex/"] {
        let r = get(server.addr(), target);
        expect_status(&r, 403, target);
        assert!(r.body.starts_with(b"403"), "{target}: body names the status");
        let r = fetch(server.addr(), "HEAD", target, &[]);
        expect_status(&r, 403, &format!("HEAD {target}"));
    }
}

#[test]
fn index_option_takes_a_list_in_order() {
    let site = basic_site("indexlist");
    site.write("both/home.htm", b"home\n");
    site.write("both/index.html", b"index\n");
    site.write("only/index.html", b"only index\n");
    site.write("txt/default.txt", b"default text\n");
    site.write("none/index.html.bak", b"nope\n");
    for args in [
        &["--index", "home.htm,index.html,default.txt"][..],
        &["--index", "home.htm", "--index", "index.html", "--index", "default.txt"],
    ] {
        let server = site.serve(args);
        expect_body(server.addr(), "/both/", b"home\n");
        expect_body(server.addr(), "/only/", b"only index\n");
        let r = get(server.addr(), "/txt/");
        expect_status(&r, 200, "/txt/ with default.txt in --index");
        assert_eq!(r.body, b"default text\n");
        assert_eq!(header(&r, "Content-Type", "/txt/"), "text/plain; charset=utf-8");
        let r = get(server.addr(), "/none/");
        expect_status(&r, 403, "/none/");
    }
    let server = site.serve(&["--index", "default.txt"]);
    let r = get(server.addr(), "/only/");
    expect_status(&r, 403, "/only/ when index.html is not in --index");
}

#[test]
fn file_with_trailing_slash_and_missing_paths_are_404() {
    let site = basic_site("notfound");
    site.write("file.html", b"<p>file</p>\n");
    let server = site.serve(&[]);
    let long_name = format!("/{}", "n".repeat(300));
    let long_path = format!("/{}", "d/".repeat(2100));
    for target in [
        "/file.html/",
        "/file.html/.",
        "/file.html/x",
        "/b.txt/",
        "/nope.txt",
        "/nope/",
        "/nope",
        "/a/nope.txt",
        long_name.as_str(),
        long_path.as_str(),
    ] {
        let r = get(server.addr(), target);
        expect_status(&r, 404, &target[..target.len().min(40)]);
        assert!(r.body.starts_with(b"404"), "body names the status");
        assert!(header(&r, "Content-Type", target).starts_with("text/plain"), "404 body is text/plain");
        for name in ["Date", "Server", "Content-Length"] {
            header(&r, name, target);
        }
        assert_eq!(header(&r, "Server", target), "staticd");
        let h = fetch(server.addr(), "HEAD", target, &[]);
        expect_status(&h, 404, "HEAD");
    }
}

#[test]
fn content_types_by_extension() {
    let site = basic_site("mime");
    let table: &[(&str, &str)] = &[
        ("p.html", "text/html; charset=utf-8"),
        ("p.htm", "text/html; charset=utf-8"),
        ("s.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "text/javascript; charset=utf-8"),
        ("d.json", "application/json; charset=utf-8"),
        ("t.txt", "text/plain; charset=utf-8"),
        ("i.svg", "image/svg+xml; charset=utf-8"),
        ("f.xml", "text/xml; charset=utf-8"),
        ("site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("i.png", "image/png"),
        ("i.jpg", "image/jpeg"),
        ("i.gif", "image/gif"),
        ("i.webp", "image/webp"),
        ("m.wasm", "application/wasm"),
        ("d.pdf", "application/pdf"),
        ("a.gz", "application/gzip"),
        ("noext", "application/octet-stream"),
        ("x.unknownextension", "application/octet-stream"),
        ("dir.d/file", "application/octet-stream"),
    ];
    for (name, _) in table {
        site.write(name, format!("content of {name}\n").as_bytes());
    }
    let server = site.serve(&[]);
    for (name, want) in table {
        let target = format!("/{name}");
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {target}");
            let r = fetch(server.addr(), method, &target, &[]);
            expect_status(&r, 200, &what);
            let ct = header(&r, "Content-Type", &what);
            // XML may legitimately be application/xml; what matters is the charset on a text-ish type.
            if *name == "f.xml" {
                assert!(ct == "text/xml; charset=utf-8" || ct == "application/xml; charset=utf-8", "{what}: {ct}");
            } else {
                assert_eq!(ct, *want, "{what}");
            }
            assert_file_headers(&r, &what);
            assert_eq!(content_length(&r, &what), format!("content of {name}\n").len() as u64);
            if method == "GET" {
                assert_eq!(r.body, format!("content of {name}\n").as_bytes());
            } else {
                assert!(r.body.is_empty(), "{what}: HEAD has a body");
            }
        }
    }
}

#[test]
fn head_carries_the_same_headers_as_get() {
    let site = basic_site("headget");
    site.write("data.bin", &pattern(70_000, 3));
    let server = site.serve(&["--cache-control", "max-age=5"]);
    for target in ["/b.txt", "/data.bin", "/", "/dir-missing"] {
        let g = get(server.addr(), target);
        let h = fetch(server.addr(), "HEAD", target, &[]);
        assert_eq!(g.status, h.status, "{target}");
        for name in [
            "Content-Length",
            "Content-Type",
            "ETag",
            "Last-Modified",
            "Accept-Ranges",
            "Cache-Control",
            "X-Content-Type-Options",
            "Location",
            "Server",
        ] {
            assert_eq!(g.header(name), h.header(name), "{target}: {name} differs between GET and HEAD");
        }
        assert!(h.body.is_empty());
    }
    let g = get(server.addr(), "/data.bin");
    assert_eq!(g.body, pattern(70_000, 3));
}

/// (method, target, extra headers, expected status)
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16);

#[test]
fn cache_control_option_is_on_every_file_response_and_revalidate_by_default() {
    let site = basic_site("cachecontrol");
    site.write("data.bin", &pattern(5000, 4));
    {
        let server = site.serve(&[]);
        let r = get(server.addr(), "/b.txt");
        expect_status(&r, 200, "/b.txt");
        let etag = header(&r, "ETag", "etag").to_string();
        let default = Some("public, max-age=0, must-revalidate");
        assert_eq!(r.header("Cache-Control"), default, "browsers and CDNs revalidate by default");
        let r = fetch(server.addr(), "GET", "/b.txt", &[("If-None-Match", etag.as_str())]);
        expect_status(&r, 304, "revalidation");
        assert_eq!(r.header("Cache-Control"), default, "a 304 carries the 200's Cache-Control");
        let r = get(server.addr(), "/missing.txt");
        assert_eq!(r.header("Cache-Control"), None, "errors are not marked cacheable");
    }
    {
        let server = site.serve(&["--cache-control", "none"]);
        let r = get(server.addr(), "/b.txt");
        assert_eq!(r.header("Cache-Control"), None, "--cache-control none sends none");
    }
    let value = "public, max-age=3600, immutable";
    let server = site.serve(&["--cache-control", value]);
    let r = get(server.addr(), "/b.txt");
    let etag = header(&r, "ETag", "etag").to_string();
    let cases: Vec<Case> = vec![
        ("GET", "/b.txt", vec![], 200),
        ("HEAD", "/b.txt", vec![], 200),
        ("GET", "/", vec![], 200),
        ("GET", "/data.bin", vec![("Range", "bytes=0-9")], 206),
        ("HEAD", "/data.bin", vec![("Range", "bytes=0-9")], 206),
        ("GET", "/b.txt", vec![("If-None-Match", etag.as_str())], 304),
        ("HEAD", "/b.txt", vec![("If-None-Match", etag.as_str())], 304),
    ];
    for (method, target, headers, status) in cases {
        let what = format!("{method} {target} {headers:?}");
        let r = fetch(server.addr(), method, target, &headers);
        expect_status(&r, status, &what);
        assert_eq!(r.header("Cache-Control"), Some(value), "{what}");
    }
}

/// Requests `target` (a special file) on both methods, several rounds so every worker meets it, and checks
/// each answer is a prompt 403 and that the workers keep serving afterwards.
fn expect_special_refused(site: &TempRoot, target: &str) {
    let server = site.serve(&[]);
    for round in 0..4 {
        for method in ["GET", "HEAD"] {
            let start = Instant::now();
            let r = fetch(server.addr(), method, target, &[]);
            expect_status(&r, 403, &format!("{method} {target} round {round}"));
            assert!(start.elapsed() < Duration::from_secs(5), "{target}: took {:?}", start.elapsed());
        }
    }
    // Range or conditional headers change nothing.
    for extra in [("Range", "bytes=0-10"), ("If-None-Match", "*")] {
        let r = fetch(server.addr(), "GET", target, &[extra]);
        expect_status(&r, 403, &format!("{target} with {extra:?}"));
    }
    for _ in 0..6 {
        expect_body(server.addr(), "/b.txt", b"file b\n");
    }
}

/// Creates a special file (a FIFO or a device node) at `path` with exactly `mode` (mknod would apply the
/// umask).
fn make_node(path: &std::path::Path, kind: libc::mode_t, dev: libc::dev_t, mode: u32) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c_path` is a NUL-terminated path that outlives the call; mknod has no other preconditions.
    let rc = unsafe { libc::mknod(c_path.as_ptr(), kind | 0o600, dev) };
    assert_eq!(rc, 0, "mknod {}: {}", path.display(), std::io::Error::last_os_error());
    set_mode(path, mode);
}

#[test]
fn fifo_is_refused_promptly() {
    let site = basic_site("special-fifo");
    make_node(&site.path.join("pipe"), libc::S_IFIFO, 0, 0o644);
    expect_special_refused(&site, "/pipe");
}

#[test]
fn unix_socket_is_refused() {
    let site = basic_site("special-sock");
    let _sock = std::os::unix::net::UnixListener::bind(site.path.join("sock")).expect("bind unix");
    set_mode(&site.path.join("sock"), 0o666);
    expect_special_refused(&site, "/sock");
}

#[test]
fn device_is_refused() {
    if !require_root("mknod of a character device") {
        return;
    }
    let site = basic_site("special-dev");
    // 1:3 is the device number of /dev/null.
    make_node(&site.path.join("null"), libc::S_IFCHR, libc::makedev(1, 3), 0o666);
    expect_special_refused(&site, "/null");
}

#[test]
fn unreadable_file_and_directory_are_403() {
    // As root the workers run as `nobody`, so chmod 000 denies them too; as a normal user it denies the
    // same user: the test is meaningful either way.
    let site = basic_site("unreadable");
    let secret_file = site.write("locked.txt", b"locked contents\n");
    site.write("lockeddir/inside.txt", b"inside locked dir\n");
    site.write("lockeddir/index.html", b"locked index\n");
    let _g1 = ModeGuard::chmod(&secret_file, 0o000, 0o644);
    let _g2 = ModeGuard::chmod(&site.path.join("lockeddir"), 0o000, 0o755);
    let server = site.serve(&[]);
    for target in ["/locked.txt", "/lockeddir/inside.txt", "/lockeddir/"] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {target}");
            let r = fetch(server.addr(), method, target, &[]);
            expect_status(&r, 403, &what);
            assert!(find(&r.body, b"locked contents").is_none(), "{what}");
            assert!(find(&r.body, b"inside locked dir").is_none(), "{what}");
        }
    }
    let r = fetch(server.addr(), "GET", "/locked.txt", &[("Range", "bytes=0-3")]);
    expect_status(&r, 403, "ranged unreadable");
    expect_body(server.addr(), "/b.txt", b"file b\n");
}

#[test]
fn file_responses_carry_validators_and_nosniff() {
    let site = basic_site("fileheaders");
    let path = site.write("page.html", b"<p>hello</p>\n");
    set_mtime(&path, 1_000_000_000, 0);
    let server = site.serve(&[]);
    let r = get(server.addr(), "/page.html");
    expect_status(&r, 200, "/page.html");
    assert_file_headers(&r, "/page.html");
    assert_eq!(header(&r, "Last-Modified", "lm"), "Sun, 09 Sep 2001 01:46:40 GMT");
    assert_eq!(header(&r, "Server", "server"), "staticd");
    assert_eq!(content_length(&r, "cl"), 13);
    // The Date header is an IMF-fixdate close to now.
    let date = header(&r, "Date", "date");
    assert!(date.ends_with(" GMT") && date.len() == 29, "Date {date:?} is not an IMF-fixdate");
}
