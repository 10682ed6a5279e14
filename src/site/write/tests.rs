//! The write mode's decision table, end to end through the site's `Handler` methods on real files: each
//! request is parsed, its body (if any) given to the upload `body_use` returns, and the response bytes read
//! back from the output queue.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use clap::Parser;

use crate::config::{Cli, Config};
use crate::engine::clock::Clock;
use crate::engine::output::Output;
use crate::engine::{Answer, BodyUse, Handler, Reply};
use crate::http::request::{parse, Limits, Parsed, Request};
use crate::http::response::Persist;
use crate::site::Site;

const TOKEN: &str = "s3cret-token-0123456789";
const AUTH: &str = "Authorization: Bearer s3cret-token-0123456789\r\n";

struct Fixture {
    base: PathBuf,
    site: Site,
}

impl Fixture {
    fn new(name: &str, extra: &[&str]) -> Fixture {
        let base = std::env::temp_dir().join(format!("staticd-site-write-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("www/up/sub")).expect("tree");
        std::fs::write(base.join("www/up/old.txt"), b"old").expect("file");
        std::fs::write(base.join("www/index.html"), b"home").expect("file");
        let token = base.join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let root = base.join("www");
        let mut args = vec![
            "staticd".to_string(),
            "--no-chroot".into(),
            "--no-compress".into(),
            "--workers".into(),
            "1".into(),
            "--write".into(),
            "/up/".into(),
            "--write-token-file".into(),
            token.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(root.to_string_lossy().into_owned());
        let cfg = Config::from_cli(Cli::parse_from(args)).expect("config");
        let root = crate::sys::open_dir(&cfg.root).expect("root");
        let shm = crate::shm::Shm::new(1).expect("shm");
        let site = Site::new(Rc::new(cfg), root, shm, None);
        Fixture { base, site }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.base.join("www").join(rel)
    }

    /// Sends `head` (request line and fields, without the final empty line) with `body`; returns the response.
    fn send(&mut self, head: &str, body: &[u8]) -> String {
        let framing = if body.is_empty() { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
        let head = head.trim_end_matches("\r\n");
        self.send_raw(&format!("{head}\r\nHost: x\r\n{framing}\r\n"), Some(body))
    }

    /// Sends a complete head; `body` is fed to a kept upload (None: the body ends early, the upload dropped).
    fn send_raw(&mut self, head: &str, body: Option<&[u8]>) -> String {
        exchange(&mut self.site, head, body)
    }

    /// Another worker's view of the same site.
    fn other_worker(&self) -> Site {
        let root = crate::sys::open_dir(&self.site.cfg.root).expect("root");
        Site::new(Rc::clone(&self.site.cfg), root, crate::shm::Shm::new(1).expect("shm"), None)
    }
}

/// One request to `site`, as the engine would make it; the response's bytes.
fn exchange(site: &mut Site, head: &str, body: Option<&[u8]>) -> String {
    {
        let limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1024 * 1024 };
        let req: Request = match parse(head.as_bytes(), &limits) {
            Ok(Parsed::Complete { request, .. }) => request,
            other => panic!("head did not parse: {other:?}"),
        };
        let mut out = Output::default();
        let mut pool = Vec::new();
        let clock = Clock::new();
        let mut reply = Reply::new(&mut out, &mut pool, &clock, Persist::KeepAlive11, None, b"");
        let framed =
            !matches!(req.body, crate::http::request::BodyFraming::None | crate::http::request::BodyFraming::Length(0));
        let use_ = if framed { site.body_use(&req) } else { BodyUse::Discard };
        match use_ {
            BodyUse::Keep { mut upload, limit } => {
                let Some(body) = body else {
                    drop(upload);
                    return "aborted".into();
                };
                assert!(body.len() as u64 <= limit);
                for piece in body.chunks(7) {
                    if let Err(status) = upload.write(piece) {
                        return format!("refused {status}");
                    }
                }
                site.finish_upload(&req, upload, &mut reply);
            }
            BodyUse::Discard | BodyUse::AnswerNow => match site.respond(&req, &mut reply) {
                Answer::Sent(_) => {}
                Answer::Later => panic!("a write is never deferred"),
            },
        }
        let (mut a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
        out.flush(b.as_fd(), u64::MAX, &mut pool).expect("flush");
        drop(b);
        let mut bytes = Vec::new();
        a.read_to_end(&mut bytes).expect("read");
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Fixture {
    /// Names in a directory, sorted.
    fn names(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(rel))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn status(response: &str) -> u16 {
    response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn put_creates_then_replaces_and_get_sees_each_version() {
    let mut f = Fixture::new("put", &[]);
    assert_eq!(status(&f.send("GET /up/new.txt HTTP/1.1", b"")), 404);
    let r = f.send(&format!("PUT /up/new.txt HTTP/1.1\r\n{AUTH}"), b"hello, world");
    assert_eq!(status(&r), 201, "{r}");
    assert_eq!(header(&r, "Location"), Some("/up/new.txt"));
    let etag = header(&r, "ETag").expect("etag").to_string();
    assert_eq!(std::fs::read(f.path("up/new.txt")).expect("stored"), b"hello, world");
    // The same worker answers the next GET from a fresh lookup, not from what it cached before.
    let get = f.send("GET /up/new.txt HTTP/1.1", b"");
    assert_eq!(status(&get), 200, "{get}");
    assert!(get.ends_with("hello, world"), "{get}");
    assert_eq!(header(&get, "ETag"), Some(etag.as_str()), "the ETag a GET sends");

    let r = f.send(&format!("PUT /up/new.txt HTTP/1.1\r\n{AUTH}"), b"second");
    assert_eq!(status(&r), 204, "{r}");
    assert!(header(&r, "ETag").is_some());
    assert!(r.ends_with("\r\n\r\n"), "no body on 204: {r}");
    assert!(f.send("GET /up/new.txt HTTP/1.1", b"").ends_with("second"));
    assert_eq!(f.names("up"), ["new.txt", "old.txt", "sub"], "no temporary file left");
}

#[test]
fn an_empty_put_stores_an_empty_file() {
    let mut f = Fixture::new("empty", &[]);
    let r = f.send(&format!("PUT /up/sub/empty HTTP/1.1\r\n{AUTH}"), b"");
    assert_eq!(status(&r), 201, "{r}");
    assert_eq!(std::fs::read(f.path("up/sub/empty")).expect("stored"), b"");
    let r = f.send_raw(&format!("PUT /up/sub/zero HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 0\r\n\r\n"), None);
    assert_eq!(status(&r), 201, "{r}");
    assert_eq!(f.names("up/sub"), ["empty", "zero"]);
}

#[test]
fn tokens() {
    let mut f = Fixture::new("auth", &[]);
    let r = f.send("PUT /up/x HTTP/1.1", b"data");
    assert_eq!(status(&r), 401);
    assert_eq!(header(&r, "WWW-Authenticate"), Some("Bearer realm=\"staticd\""));
    for auth in ["Bearer wrong-token-0123456789", "Basic czNjcmV0LXRva2VuLTAxMjM0NTY3ODk=", "Bearer"] {
        let r = f.send(&format!("PUT /up/x HTTP/1.1\r\nAuthorization: {auth}\r\n"), b"data");
        assert_eq!(status(&r), 401, "{auth}");
        assert_eq!(header(&r, "WWW-Authenticate"), Some("Bearer realm=\"staticd\", error=\"invalid_token\""));
    }
    for req in ["DELETE /up/old.txt HTTP/1.1", "POST /up/ HTTP/1.1"] {
        assert_eq!(status(&f.send(req, b"")), 401, "{req}");
    }
    // Refused before any target check: a client without the token learns nothing about the tree.
    assert_eq!(status(&f.send("PUT /up/.env HTTP/1.1", b"x")), 401);
    assert_eq!(f.names("up"), ["old.txt", "sub"]);
}

#[test]
fn outside_the_prefix_everything_stays_read_only() {
    let mut f = Fixture::new("outside", &[]);
    for req in ["PUT /index.html HTTP/1.1", "POST / HTTP/1.1", "DELETE /index.html HTTP/1.1", "PUT /upx HTTP/1.1"] {
        let r = f.send(&format!("{req}\r\n{AUTH}"), b"x");
        assert_eq!(status(&r), 405, "{req}");
        assert_eq!(header(&r, "Allow"), Some("GET, HEAD, OPTIONS"), "{req}");
    }
    let r = f.send("OPTIONS / HTTP/1.1", b"");
    assert_eq!(header(&r, "Allow"), Some("GET, HEAD, OPTIONS"));
    let r = f.send("OPTIONS /up/anything HTTP/1.1", b"");
    assert_eq!((status(&r), header(&r, "Allow")), (204, Some("GET, HEAD, OPTIONS, PUT, POST, DELETE")));
    for method in ["PATCH", "TRACE"] {
        let r = f.send(&format!("{method} /up/old.txt HTTP/1.1\r\n{AUTH}"), b"");
        assert_eq!((status(&r), header(&r, "Allow")), (405, Some("GET, HEAD, OPTIONS, PUT, POST, DELETE")));
    }
    assert_eq!(std::fs::read(f.path("index.html")).expect("untouched"), b"home");
}

#[test]
fn targets_a_write_may_not_touch() {
    let mut f = Fixture::new("targets", &[]);
    std::fs::create_dir_all(f.base.join("elsewhere")).expect("dir");
    std::os::unix::fs::symlink("../../elsewhere", f.path("up/linkdir")).expect("link");
    std::os::unix::fs::symlink("old.txt", f.path("up/link.txt")).expect("link");
    let cases: &[(&str, u16)] = &[
        ("PUT /up/.env", 403),
        ("PUT /up/%2ehtaccess", 403),
        ("PUT /up/sub/.staticd-upload-1-0000000000000000", 403),
        ("PUT /up/a%00b", 400),
        ("PUT /up/a%5cb", 400),
        ("PUT /up/a\\b", 400),
        ("PUT /up/%zz", 400),
        ("PUT /up/../../etc/passwd", 400),
        ("PUT /up/%2e%2e/index.html", 405),
        ("PUT /up/..%2findex.html", 405),
        ("PUT /up/linkdir/x", 403),
        ("PUT /up/link.txt", 403),
        ("PUT /up/", 405),
        ("PUT /up", 405),
        ("PUT /up/sub", 405),
        ("PUT /up/sub/", 405),
        ("PUT /up/missing/x", 409),
        ("PUT /up/old.txt/x", 409),
        ("POST /up/old.txt", 405),
        ("POST /up/old.txt/", 405),
        ("POST /up/sub", 405),
        ("POST /up/missing/", 404),
        ("POST /up/linkdir/", 403),
        ("DELETE /up/missing", 404),
        ("DELETE /up/sub", 409),
        ("DELETE /up/sub/", 409),
        ("DELETE /up/", 409),
        ("DELETE /up/link.txt", 403),
        ("DELETE /up/.env", 403),
        ("DELETE /up/old.txt/", 404),
    ];
    for (req, want) in cases {
        let r = f.send(&format!("{req} HTTP/1.1\r\n{AUTH}"), b"evil");
        assert_eq!(status(&r), *want, "{req}: {r}");
        if *want == 405 && !req.contains("%2e%2e") && !req.contains("..%2f") {
            assert_eq!(header(&r, "Allow"), Some("GET, HEAD, OPTIONS, PUT, POST, DELETE"), "{req}");
        }
    }
    assert_eq!(f.names("up"), ["link.txt", "linkdir", "old.txt", "sub"]);
    assert!(f.names("up/sub").is_empty());
    assert_eq!(std::fs::read_dir(f.base.join("elsewhere")).expect("dir").count(), 0, "nothing through the link");
    assert_eq!(std::fs::read(f.path("up/old.txt")).expect("file"), b"old");
}

#[test]
fn preconditions() {
    let mut f = Fixture::new("preconditions", &[]);
    let r = f.send(&format!("PUT /up/old.txt HTTP/1.1\r\n{AUTH}If-None-Match: *\r\n"), b"new");
    assert_eq!(status(&r), 412);
    let r = f.send(&format!("PUT /up/fresh HTTP/1.1\r\n{AUTH}If-None-Match: *\r\n"), b"new");
    assert_eq!(status(&r), 201);
    let r = f.send(&format!("PUT /up/absent HTTP/1.1\r\n{AUTH}If-Match: \"abc\"\r\n"), b"new");
    assert_eq!(status(&r), 412);
    let get = f.send("GET /up/old.txt HTTP/1.1", b"");
    let etag = header(&get, "ETag").expect("etag").to_string();
    let r = f.send(&format!("PUT /up/old.txt HTTP/1.1\r\n{AUTH}If-Match: \"not-it\"\r\n"), b"new");
    assert_eq!(status(&r), 412);
    let r = f.send(&format!("PUT /up/old.txt HTTP/1.1\r\n{AUTH}If-Match: {etag}\r\n"), b"newer");
    assert_eq!(status(&r), 204, "{r}");
    // The version matched is gone now: the same If-Match fails.
    let r = f.send(&format!("PUT /up/old.txt HTTP/1.1\r\n{AUTH}If-Match: {etag}\r\n"), b"lost update");
    assert_eq!(status(&r), 412);
    assert_eq!(std::fs::read(f.path("up/old.txt")).expect("file"), b"newer");
    let r = f.send(&format!("DELETE /up/old.txt HTTP/1.1\r\n{AUTH}If-Match: {etag}\r\n"), b"");
    assert_eq!(status(&r), 412);
    assert_eq!(f.names("up"), ["fresh", "old.txt", "sub"]);
}

#[test]
fn preconditions_are_checked_again_when_the_body_has_arrived() {
    let mut f = Fixture::new("recheck", &[]);
    let head = format!("PUT /up/race HTTP/1.1\r\nHost: x\r\n{AUTH}If-None-Match: *\r\nContent-Length: 4\r\n\r\n");
    let limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1024 };
    let Ok(Parsed::Complete { request: req, .. }) = parse(head.as_bytes(), &limits) else { panic!("parse") };
    let BodyUse::Keep { mut upload, .. } = f.site.body_use(&req) else { panic!("kept") };
    upload.write(b"mine").expect("write");
    std::fs::write(f.path("up/race"), b"theirs").expect("another writer");
    let mut out = Output::default();
    let mut pool = Vec::new();
    let clock = Clock::new();
    let mut reply = Reply::new(&mut out, &mut pool, &clock, Persist::KeepAlive11, None, b"");
    assert_eq!(f.site.finish_upload(&req, upload, &mut reply), 412);
    assert_eq!(std::fs::read(f.path("up/race")).expect("file"), b"theirs");
    assert_eq!(f.names("up"), ["old.txt", "race", "sub"]);
}

#[test]
fn too_large_is_refused_before_anything_is_written() {
    let mut f = Fixture::new("large", &["--max-upload-bytes", "1K"]);
    let head = format!("PUT /up/big HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 1025\r\n\r\n");
    assert_eq!(status(&f.send_raw(&head, None)), 413);
    let head = format!("PUT /up/ok HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 1024\r\n\r\n");
    assert_eq!(status(&f.send_raw(&head, Some(&[b'a'; 1024]))), 201);
    assert_eq!(f.names("up"), ["ok", "old.txt", "sub"]);
}

#[test]
fn an_aborted_upload_leaves_nothing_behind() {
    let mut f = Fixture::new("abort", &[]);
    let head = format!("PUT /up/partial HTTP/1.1\r\nHost: x\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n");
    assert_eq!(f.send_raw(&head, None), "aborted");
    assert_eq!(f.names("up"), ["old.txt", "sub"]);
}

#[test]
fn post_creates_a_new_resource_each_time() {
    let mut f = Fixture::new("post", &[]);
    let r1 = f.send(&format!("POST /up/ HTTP/1.1\r\n{AUTH}Content-Type: image/png\r\n"), b"\x89PNG one");
    let r2 = f.send(&format!("POST /up/ HTTP/1.1\r\n{AUTH}Content-Type: image/png\r\n"), b"\x89PNG two");
    assert_eq!((status(&r1), status(&r2)), (201, 201), "{r1}");
    let (l1, l2) = (header(&r1, "Location").expect("location"), header(&r2, "Location").expect("location"));
    assert_ne!(l1, l2);
    for l in [l1, l2] {
        assert!(l.starts_with("/up/") && l.ends_with(".png") && l.len() == "/up/.png".len() + 16, "{l}");
    }
    assert!(f.send(&format!("GET {l1} HTTP/1.1"), b"").ends_with("one"));
    let r = f.send(&format!("POST /up/sub/ HTTP/1.1\r\n{AUTH}Slug: My Report.txt\r\n"), b"report");
    assert_eq!(header(&r, "Location"), Some("/up/sub/My-Report.txt"), "{r}");
    let r = f.send(&format!("POST /up/sub/ HTTP/1.1\r\n{AUTH}Slug: My Report.txt\r\n"), b"again");
    let again = header(&r, "Location").expect("location");
    assert!(again.starts_with("/up/sub/My-Report-") && again.ends_with(".txt"), "{again}");
    let r = f.send(&format!("POST /up/sub/ HTTP/1.1\r\n{AUTH}Slug: ../../.hidden\r\n"), b"x");
    assert_eq!(header(&r, "Location"), Some("/up/sub/hidden"));
    assert_eq!(std::fs::read(f.path("up/sub/My-Report.txt")).expect("file"), b"report");
    assert_eq!(f.names("up").len(), 4, "two new files, no temporary ones: {:?}", f.names("up"));
}

#[test]
fn delete_removes_the_file_and_a_get_after_it_is_404() {
    let mut f = Fixture::new("delete", &["--listing"]);
    assert_eq!(status(&f.send("GET /up/old.txt HTTP/1.1", b"")), 200);
    let listing = f.send("GET /up/ HTTP/1.1", b"");
    assert!(listing.contains("old.txt"), "{listing}");
    let r = f.send(&format!("DELETE /up/old.txt HTTP/1.1\r\n{AUTH}"), b"");
    assert_eq!(status(&r), 204, "{r}");
    assert_eq!(status(&f.send("GET /up/old.txt HTTP/1.1", b"")), 404);
    let listing = f.send("GET /up/ HTTP/1.1", b"");
    assert!(!listing.contains("old.txt"), "{listing}");
    assert_eq!(status(&f.send(&format!("DELETE /up/old.txt HTTP/1.1\r\n{AUTH}"), b"")), 404);
}

#[test]
fn refusals_are_answered_before_the_body() {
    let mut f = Fixture::new("answer-now", &[]);
    let limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1024 };
    for head in [
        "PUT /up/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n".to_string(),
        format!("PUT /index.html HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 5\r\n\r\n"),
        format!("PUT /up/missing/x HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 5\r\n\r\n"),
        format!("PUT /up/old.txt HTTP/1.1\r\nHost: x\r\n{AUTH}If-None-Match: *\r\nContent-Length: 5\r\n\r\n"),
        format!("POST /up/old.txt HTTP/1.1\r\nHost: x\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n"),
    ] {
        let Ok(Parsed::Complete { request, .. }) = parse(head.as_bytes(), &limits) else { panic!("parse {head}") };
        assert!(matches!(f.site.body_use(&request), BodyUse::AnswerNow), "{head}");
    }
    let head = format!("PUT /up/x HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 5\r\n\r\n");
    let Ok(Parsed::Complete { request, .. }) = parse(head.as_bytes(), &limits) else { panic!("parse") };
    assert!(matches!(f.site.body_use(&request), BodyUse::Keep { .. }));
    assert_eq!(f.names("up"), ["old.txt", "sub"], "the kept upload was dropped with its temporary file");
}

#[test]
fn the_token_is_not_in_the_configuration_debug_output() {
    let f = Fixture::new("debug", &[]);
    let text = format!("{:?}", f.site.cfg);
    assert!(!text.contains(TOKEN));
    let _ = Path::new(&f.base);
}

#[test]
fn another_worker_sees_the_new_version_through_its_watches() {
    let mut f = Fixture::new("other-worker", &[]);
    let mut other = f.other_worker();
    let get =
        |site: &mut Site, target: &str| exchange(site, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"), None);
    assert!(get(&mut other, "/up/old.txt").ends_with("old"));
    assert_eq!(status(&get(&mut other, "/up/new.txt")), 404);
    assert_eq!(status(&f.send(&format!("PUT /up/old.txt HTTP/1.1\r\n{AUTH}"), b"replaced")), 204);
    assert_eq!(status(&f.send(&format!("PUT /up/new.txt HTTP/1.1\r\n{AUTH}"), b"created")), 201);
    // What the event loop does when the inotify descriptor is readable (the rename-over is IN_MOVED_TO).
    other.on_watch();
    assert!(get(&mut other, "/up/old.txt").ends_with("replaced"));
    assert!(get(&mut other, "/up/new.txt").ends_with("created"));
    assert_eq!(status(&f.send(&format!("DELETE /up/new.txt HTTP/1.1\r\n{AUTH}"), b"")), 204);
    other.on_watch();
    assert_eq!(status(&get(&mut other, "/up/new.txt")), 404);
}

#[test]
fn an_upload_in_progress_is_never_served_even_with_dotfiles() {
    let mut f = Fixture::new("in-progress", &["--dotfiles", "--listing"]);
    let head = format!("PUT /up/big HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 10\r\n\r\n");
    let limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1024 };
    let Ok(Parsed::Complete { request, .. }) = parse(head.as_bytes(), &limits) else { panic!("parse") };
    let BodyUse::Keep { mut upload, .. } = f.site.body_use(&request) else { panic!("kept") };
    upload.write(b"half").expect("write");
    let temp = f.names("up").into_iter().find(|n| n.starts_with(super::TEMP_PREFIX)).expect("temporary file");
    assert_eq!(status(&f.send(&format!("GET /up/{temp} HTTP/1.1"), b"")), 404);
    let listing = f.send("GET /up/ HTTP/1.1", b"");
    assert_eq!(status(&listing), 200);
    assert!(!listing.contains(".staticd-upload-"), "{listing}");
    assert_eq!(status(&f.send("GET /up/big HTTP/1.1", b"")), 404, "not there until whole");
    drop(upload);
}
