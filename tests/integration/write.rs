//! Write mode (`--write PREFIX --write-token-file PATH`) through the real binary over real sockets: PUT,
//! POST and DELETE under the prefix for clients that present the bearer token, and nothing else writable.
//!
//! Covered: 405 outside the prefix and without `--write`; OPTIONS; 401 (both challenges) answered before the
//! body; PUT creating (201, Location) and replacing (204), read back at once on the same and on new
//! connections of both workers; If-None-Match/If-Match; 409, 405, 403 for a missing parent, directories,
//! symlinks, dot names, rule files; traversal; Content-Length and chunked bodies, 100 Continue, the size
//! limit (413, before the body and mid-body); aborted and stalled uploads leaving nothing behind; readers
//! during replaces seeing one version whole; POST into a collection (names from Content-Type and Slug);
//! DELETE; compressed forms and listings never stale after a write; the access log.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// How long a compression may take in the debug build on a loaded two-core machine (see compression.rs).
const COMPRESS_WAIT: Duration = Duration::from_secs(120);
const WRITE_ALLOW: &str = "GET, HEAD, OPTIONS, PUT, POST, DELETE";
const READ_ALLOW: &str = "GET, HEAD, OPTIONS";

/// Sends a write's head with `Expect: 100-continue` and a `Content-Length` of `announced`, holding the body
/// back, and returns the first response: the server must answer without it (a 100 fails the test, and so
/// does a server that waits for the body: the read times out).
fn answered_before_body(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    announced: usize,
) -> Response {
    let mut s = connect(addr);
    let mut all = headers.to_vec();
    let len = announced.to_string();
    all.extend([("Content-Length", len.as_str()), ("Expect", "100-continue")]);
    s.write_all(&write_request(method, target, &all, None, false)).expect("write the head");
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false)
        .unwrap_or_else(|e| panic!("{method} {target}: no answer before the body: {e}"));
    assert_ne!(r.status, 100, "{method} {target}: 100 Continue for a request that must be answered at once");
    r
}

/// GET on a new connection, expected 200; returns the body.
fn get_body(addr: SocketAddr, target: &str) -> Vec<u8> {
    let r = get(addr, target);
    expect_status(&r, 200, &format!("GET {target}"));
    r.body
}

fn read_file(path: &std::path::Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Compressible text (16 letters and newlines), different for every `seed`.
fn text(len: usize, seed: u64) -> Vec<u8> {
    pattern(len, seed).iter().enumerate().map(|(i, b)| if i % 64 == 63 { b'\n' } else { b'a' + b % 16 }).collect()
}

fn gunzip(r: &Response, what: &str) -> Vec<u8> {
    match r.header("Content-Encoding") {
        None => r.body.clone(),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("{what}: not valid gzip: {e}"));
            out
        }
        Some(other) => panic!("{what}: asked for gzip only, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// What is writable, and who may write

#[test]
fn writes_outside_the_prefix_get_405_at_once_and_change_nothing() {
    let site = WriteSite::new("write-outside");
    site.root.write("a.txt", b"original");
    let server = site.serve(&[]);
    let auth = bearer();
    for (method, target) in [("PUT", "/a.txt"), ("POST", "/"), ("DELETE", "/a.txt"), ("PUT", "/uploadsx/b.txt")] {
        // Even with the right token: outside the prefix nothing is writable.
        let r = answered_before_body(server.addr(), method, target, &[("Authorization", &auth)], 500_000);
        let what = format!("{method} {target}");
        expect_status(&r, 405, &what);
        assert_eq!(r.header("Allow"), Some(READ_ALLOW), "{what}");
    }
    // A DELETE without a body, as curl -X DELETE sends it.
    let r = fetch(server.addr(), "DELETE", "/a.txt", &[("Authorization", &auth)]);
    expect_status(&r, 405, "DELETE /a.txt without a body");
    assert_eq!(r.header("Allow"), Some(READ_ALLOW));
    assert_eq!(read_file(&site.root.path.join("a.txt")), b"original");
    assert!(!site.root.path.join("uploadsx").exists());
    let r = fetch(server.addr(), "OPTIONS", "/a.txt", &[]);
    expect_status(&r, 204, "OPTIONS outside the prefix");
    assert_eq!(r.header("Allow"), Some(READ_ALLOW));
    // The same server does write under its prefix: the 405s above are the prefix's doing.
    expect_status(&put(server.addr(), "/uploads/a.txt", b"inside"), 201, "PUT under the prefix");
    assert_eq!(read_file(&site.root.path.join("a.txt")), b"original");
    assert_eq!(read_file(&site.dir().join("a.txt")), b"inside");
}

#[test]
fn without_write_mode_the_drop_folder_is_read_only() {
    let site = WriteSite::new("write-off");
    site.write("uploads/a.txt", b"original");
    let server = site.root.serve(&[]);
    let auth = bearer();
    for method in ["PUT", "POST", "DELETE"] {
        let target = if method == "POST" { "/uploads/" } else { "/uploads/a.txt" };
        let r = answered_before_body(server.addr(), method, target, &[("Authorization", &auth)], 1000);
        expect_status(&r, 405, method);
        assert_eq!(r.header("Allow"), Some(READ_ALLOW), "{method}");
    }
    assert_eq!(read_file(&site.dir().join("a.txt")), b"original");
    assert_eq!(dir_names(&site.dir()), BTreeSet::from(["a.txt".to_string()]));
}

#[test]
fn options_under_the_prefix_names_the_write_methods_without_a_token() {
    let site = WriteSite::new("write-options");
    site.write("uploads/a.txt", b"a");
    let server = site.serve(&[]);
    for target in ["/uploads/", "/uploads/a.txt", "/uploads/not-yet.txt"] {
        let r = fetch(server.addr(), "OPTIONS", target, &[]);
        expect_status(&r, 204, &format!("OPTIONS {target}"));
        assert_eq!(r.header("Allow"), Some(WRITE_ALLOW), "OPTIONS {target}");
    }
    // Reads under the prefix are public.
    assert_eq!(get_body(server.addr(), "/uploads/a.txt"), b"a");
    expect_status(&head(server.addr(), "/uploads/a.txt"), 200, "HEAD");
}

#[test]
fn a_write_without_the_right_token_is_401_before_its_body() {
    let site = WriteSite::new("write-401");
    site.write("uploads/keep.txt", b"keep me");
    let server = site.serve(&[]);
    let almost = format!("Bearer {}", &WRITE_TOKEN[..WRITE_TOKEN.len() - 1]);
    let longer = format!("Bearer {WRITE_TOKEN}x");
    let basic = format!("Basic {WRITE_TOKEN}");
    let bad: [&str; 5] = ["Bearer wrong-token-wrong-token-0", &almost, &longer, &basic, "Basic dXNlcjpwYXNz"];
    for (method, target) in [("PUT", "/uploads/keep.txt"), ("PUT", "/uploads/new.txt"), ("POST", "/uploads/")] {
        let what = format!("{method} {target} without a token");
        let r = answered_before_body(server.addr(), method, target, &[], 400_000);
        expect_status(&r, 401, &what);
        // No credentials is no invalid token: the bare challenge.
        assert_eq!(header(&r, "WWW-Authenticate", &what), "Bearer realm=\"staticd\"", "{what}");
        for auth in bad {
            let what = format!("{method} {target} with {auth:?}");
            let r = answered_before_body(server.addr(), method, target, &[("Authorization", auth)], 400_000);
            expect_status(&r, 401, &what);
            let challenge = header(&r, "WWW-Authenticate", &what);
            assert!(
                challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
                "{what}: {challenge}"
            );
        }
    }
    // DELETE has no body to hold back; it is refused all the same.
    expect_status(&fetch(server.addr(), "DELETE", "/uploads/keep.txt", &[]), 401, "DELETE without a token");
    let r = fetch(server.addr(), "DELETE", "/uploads/keep.txt", &[("Authorization", bad[0])]);
    expect_status(&r, 401, "DELETE with a wrong token");
    assert_eq!(read_file(&site.dir().join("keep.txt")), b"keep me");
    assert_eq!(dir_names(&site.dir()), BTreeSet::from(["keep.txt".to_string()]), "something was written");
}

// ---------------------------------------------------------------------------------------------------------
// PUT

#[test]
fn put_creates_then_replaces_and_the_new_bytes_are_served_at_once() {
    let site = WriteSite::new("write-put");
    site.mkdir("uploads/a");
    let server = site.serve(&[]);
    let first = pattern(100 * KIB + 7, 1);
    // Created, then read back on the same connection, pipelined behind the PUT.
    let mut s = server.connect();
    let mut raw = write_request("PUT", "/uploads/a/b.txt", &[("Authorization", &bearer())], Some(&first), false);
    raw.extend_from_slice(b"GET /uploads/a/b.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(&raw).expect("write");
    let mut buf = Vec::new();
    let created = read_response(&mut s, &mut buf, false).expect("the PUT's response");
    expect_status(&created, 201, "PUT of a new file");
    assert_eq!(created.header("Location"), Some("/uploads/a/b.txt"));
    let etag = header(&created, "ETag", "201").to_string();
    assert_strong_etag(&etag, "201");
    let read = read_response(&mut s, &mut buf, false).expect("the pipelined GET's response");
    expect_status(&read, 200, "GET pipelined after the PUT");
    assert!(read.body == first, "the pipelined GET did not return the bytes just PUT");
    assert_eq!(read.header("ETag"), Some(etag.as_str()), "the PUT's ETag is not the file's");
    assert_eq!(read_file(&site.dir().join("a/b.txt")), first);

    // Replaced: 204 without a body; a new connection reads the new bytes.
    let second = pattern(100 * KIB + 7, 2);
    let replaced = put(server.addr(), "/uploads/a/b.txt", &second);
    expect_status(&replaced, 204, "PUT over an existing file");
    assert!(replaced.body.is_empty());
    let etag2 = header(&replaced, "ETag", "204").to_string();
    assert_ne!(etag2, etag, "same ETag for different content");
    let r = get(server.addr(), "/uploads/a/b.txt");
    expect_status(&r, 200, "GET after the replace");
    assert!(r.body == second, "a new connection got the old or mixed bytes after the replace");
    assert_eq!(r.header("ETag"), Some(etag2.as_str()));
    // Nothing but the file in its directory.
    assert_eq!(dir_names(&site.dir().join("a")), BTreeSet::from(["b.txt".to_string()]));
}

/// `n` keep-alive connections, each of whose GET of `target` was answered 200 and kept open, all open at
/// once: the master hands each new one to its least-loaded worker, so with two workers both hold some.
fn held_connections(server: &Server, target: &str, n: usize) -> Vec<(TcpStream, Vec<u8>)> {
    (0..n).map(|_| server.served_keepalive(target)).collect()
}

/// Another GET on a held keep-alive connection.
fn get_on(conn: &mut (TcpStream, Vec<u8>), target: &str) -> Response {
    get_on_with(conn, target, "")
}

/// Another GET on a held keep-alive connection, with `fields` (complete `Name: value\r\n` lines).
fn get_on_with(conn: &mut (TcpStream, Vec<u8>), target: &str, fields: &str) -> Response {
    let (s, buf) = conn;
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes()).expect("write");
    read_response(s, buf, false).unwrap_or_else(|e| panic!("GET {target} on a held connection: {e}"))
}

/// The workers (by the JSON access log's `worker`) that answered requests whose target contains `marker`.
fn workers_that_served(log: &std::path::Path, lines: usize, marker: &str) -> BTreeSet<u64> {
    let lines = wait_log_lines(log, lines, LONG);
    lines
        .iter()
        .map(|l| parse_json_record(l).unwrap_or_else(|e| panic!("{e}")))
        .filter(|r| r.target.contains(marker))
        .map(|r| r.worker)
        .collect()
}

#[test]
fn after_a_replace_every_worker_serves_the_new_bytes() {
    let site = WriteSite::new("write-workers");
    let old = pattern(10 * KIB, 10);
    site.write("uploads/page.txt", &old);
    let log = site.root.beside("access.jsonl");
    let server = site.serve(&["--workers", "2", "--access-log", log.to_str().unwrap(), "--log-format", "json"]);
    server.wait_for_workers(2, LONG);
    // Both workers have served (and cached) the old version on connections they still hold.
    let mut held = held_connections(&server, "/uploads/page.txt?before", 4);
    let new = pattern(10 * KIB, 11);
    expect_status(&put(server.addr(), "/uploads/page.txt", &new), 204, "replace");
    for (i, conn) in held.iter_mut().enumerate() {
        let r = get_on(conn, "/uploads/page.txt?after-held");
        expect_status(&r, 200, "GET on a held connection");
        assert!(r.body == new, "GET on held connection {i} after the replace was stale");
    }
    for i in 0..8 {
        assert!(get_body(server.addr(), "/uploads/page.txt?after-new") == new, "GET {i} on a new connection was stale");
    }
    assert!(get_body(server.addr(), "/uploads/page.txt") != old);
    let workers = workers_that_served(&log, 4 + 1 + 4 + 8 + 1, "after-held");
    assert_eq!(workers.len(), 2, "the GETs after the replace did not reach both workers: {workers:?}");
}

#[test]
fn if_none_match_star_only_creates_and_if_match_needs_the_current_etag() {
    let site = WriteSite::new("write-cond");
    site.write("uploads/there.txt", b"there");
    let server = site.serve(&[]);
    let star = [("If-None-Match", "*")];
    let r = authed(server.addr(), "PUT", "/uploads/there.txt", &star, Some(b"overwritten"));
    expect_status(&r, 412, "If-None-Match: * on an existing file");
    assert_eq!(read_file(&site.dir().join("there.txt")), b"there");
    let r = authed(server.addr(), "PUT", "/uploads/fresh.txt", &star, Some(b"fresh"));
    expect_status(&r, 201, "If-None-Match: * on an absent file");
    assert_eq!(read_file(&site.dir().join("fresh.txt")), b"fresh");

    let etag = header(&get(server.addr(), "/uploads/there.txt"), "ETag", "GET").to_string();
    let r = authed(server.addr(), "PUT", "/uploads/there.txt", &[("If-Match", &etag)], Some(b"second"));
    expect_status(&r, 204, "If-Match with the current ETag");
    assert_eq!(read_file(&site.dir().join("there.txt")), b"second");
    // The same ETag is stale now.
    let r = authed(server.addr(), "PUT", "/uploads/there.txt", &[("If-Match", &etag)], Some(b"third"));
    expect_status(&r, 412, "If-Match with a stale ETag");
    assert_eq!(read_file(&site.dir().join("there.txt")), b"second");
    let names: BTreeSet<String> = ["fresh.txt", "there.txt"].map(String::from).into();
    assert_eq!(dir_names(&site.dir()), names);
}

#[test]
fn put_refuses_a_missing_parent_a_directory_and_a_slash_url() {
    let site = WriteSite::new("write-shape");
    site.mkdir("uploads/a");
    let server = site.serve(&[]);
    expect_status(&put(server.addr(), "/uploads/missing/b.txt", b"x"), 409, "PUT under a missing directory");
    assert!(!site.dir().join("missing").exists(), "the missing parent was made");
    expect_status(&put(server.addr(), "/uploads/a", b"x"), 405, "PUT over a directory");
    expect_status(&put(server.addr(), "/uploads/a/", b"x"), 405, "PUT to a directory's URL");
    expect_status(&put(server.addr(), "/uploads/new/", b"x"), 405, "PUT to a URL ending in /");
    expect_status(&put(server.addr(), "/uploads/", b"x"), 405, "PUT to the prefix itself");
    assert!(site.dir().join("a").is_dir());
    assert_eq!(tree_names(&site.dir()), BTreeSet::from(["a".to_string()]));
}

#[test]
fn put_through_a_symlink_is_403_and_its_target_untouched() {
    let site = WriteSite::new("write-symlink");
    site.root.write("outside.txt", b"outside the prefix");
    site.root.symlink("uploads/in-root", "../outside.txt");
    let secret = site.root.secret();
    site.root.symlink("uploads/beyond", secret.to_str().unwrap());
    site.root.symlink("uploads/dangling", "../made-by-link.txt");
    let server = site.serve(&[]);
    for name in ["in-root", "beyond", "dangling"] {
        let r = put(server.addr(), &format!("/uploads/{name}"), b"through the link");
        expect_status(&r, 403, &format!("PUT at the symlink {name}"));
        let meta = fs::symlink_metadata(site.dir().join(name)).unwrap();
        assert!(meta.file_type().is_symlink(), "{name} is no longer a symlink");
    }
    assert_eq!(read_file(&site.root.path.join("outside.txt")), b"outside the prefix");
    assert_eq!(read_file(&secret), SECRET);
    assert!(!site.root.path.join("made-by-link.txt").exists());
}

#[test]
fn traversal_and_encoded_slashes_are_refused_and_nothing_is_written_outside() {
    let site = WriteSite::new("write-traversal");
    site.root.write("a.txt", b"root file");
    site.mkdir("uploads/sub");
    let before = tree_names(&site.root.path);
    let server = site.serve(&[]);
    // Dot segments are removed from the path as for any request, so these lead outside the prefix (or
    // above the root) and must be refused; so must an encoded slash, which is no separator.
    let targets = [
        "/uploads/../a.txt",
        "/uploads/%2e%2e/a.txt",
        "/uploads/%2E%2E/a.txt",
        "/uploads/..%2fa.txt",
        "/uploads/%2e%2e%2fa.txt",
        "/uploads/sub/../../a.txt",
        "/uploads/sub%2fevil.txt",
        "/uploads/sub%2Fevil.txt",
        "/uploads/..%2f..%2fsecret.txt",
        "/uploads/%2e%2e/%2e%2e/secret.txt",
        "/uploads/../../secret.txt",
        "/uploads/a%00.txt",
    ];
    for target in targets {
        let r = put(server.addr(), target, b"EVIL");
        assert!(
            (400..500).contains(&r.status) && r.status != 401,
            "PUT {target}: expected a 4xx (400/403/404/405), got {} {:?}",
            r.status,
            r.headers
        );
        let r = authed(server.addr(), "DELETE", target, &[], None);
        assert!((400..500).contains(&r.status) && r.status != 401, "DELETE {target}: got {}", r.status);
    }
    // A `..` that stays inside the prefix is refused, or means the name it leads to: never anything else.
    let r = put(server.addr(), "/uploads/sub/../inside.txt", b"inside");
    if r.status == 201 {
        assert_eq!(location_path(&r, "PUT /uploads/sub/../inside.txt"), "/uploads/inside.txt");
        assert_eq!(read_file(&site.dir().join("inside.txt")), b"inside");
        fs::remove_file(site.dir().join("inside.txt")).unwrap();
    } else {
        assert!((400..500).contains(&r.status) && r.status != 401, "PUT /uploads/sub/../inside.txt: {}", r.status);
    }
    assert_eq!(read_file(&site.root.path.join("a.txt")), b"root file");
    assert_eq!(read_file(&site.root.secret()), SECRET);
    assert_eq!(tree_names(&site.root.path), before, "a file was made or removed");
    // A plain name in the same directory is written: the refusals above are the path's doing.
    expect_status(&put(server.addr(), "/uploads/sub/evil.txt", b"fine"), 201, "PUT of a plain name");
    assert_eq!(read_file(&site.dir().join("sub/evil.txt")), b"fine");
}

#[test]
fn dot_names_are_403() {
    let site = WriteSite::new("write-dots");
    site.mkdir("uploads/a");
    let server = site.serve(&[]);
    for target in ["/uploads/.hidden", "/uploads/a/.x", "/uploads/.tmp-upload"] {
        expect_status(&put(server.addr(), target, b"x"), 403, &format!("PUT {target}"));
    }
    assert_eq!(tree_names(&site.dir()), BTreeSet::from(["a".to_string()]));
}

#[test]
fn with_the_whole_root_writable_the_rule_files_are_not() {
    let site = WriteSite::with_prefix("write-rules", "/");
    let server = site.serve(&[]);
    for target in ["/_headers", "/_redirects"] {
        expect_status(&put(server.addr(), target, b"/*\n  X-Evil: 1\n"), 403, &format!("PUT {target}"));
        assert!(!site.root.path.join(&target[1..]).exists(), "{target} was written");
    }
    // The write mode itself works there.
    expect_status(&put(server.addr(), "/ok.txt", b"ok"), 201, "PUT /ok.txt");
    assert_eq!(get_body(server.addr(), "/ok.txt"), b"ok");
}

#[test]
fn a_post_into_the_whole_root_never_takes_a_rule_files_name() {
    let site = WriteSite::with_prefix("write-rules-post", "/");
    let server = site.serve(&[]);
    for slug in ["_redirects", "_headers"] {
        // No Content-Type: nothing adds an extension to the slug.
        let r = authed(server.addr(), "POST", "/", &[("Slug", slug)], Some(b"/* https://evil.example/ 302!\n"));
        expect_status(&r, 201, &format!("POST with Slug {slug}"));
        let location = location_path(&r, "POST");
        assert_ne!(location, format!("/{slug}"), "a POST created the rule file {slug}");
        assert!(!site.root.path.join(slug).exists(), "{slug} was created");
    }
    let page = get(server.addr(), "/index.html");
    assert_ne!(page.status, 302, "a posted rule file took over the site");
}

#[test]
fn an_upload_into_the_root_does_not_reload_the_rule_files_at_each_piece() {
    let site = WriteSite::with_prefix("write-rule-reloads", "/");
    site.write("_redirects", b"/a /b 301\n");
    let server = site.serve(&["--workers", "1"]);
    // A rule file that cannot be used: each time the workers read the rule files again, they say so.
    let staged = site.write(".redirects.new", b"/a /b 999\n");
    fs::rename(staged, site.root.path.join("_redirects")).unwrap();
    let said = |server: &Server| server.stderr_count(|l| l.contains("_redirects:1:"));
    assert!(wait_until(LONG, || said(&server) >= 1), "no stderr line for the bad rule file:\n{}", server.stderr_text());
    let before = said(&server);
    let mut s = server.connect();
    let pieces = 20;
    let piece = vec![b'x'; 16 * KIB];
    let len = (pieces * piece.len()).to_string();
    let head = [("Authorization", bearer()), ("Content-Length", len)];
    let head: Vec<(&str, &str)> = head.iter().map(|(n, v)| (*n, v.as_str())).collect();
    s.write_all(&write_request("PUT", "/big.bin", &head, None, false)).unwrap();
    for _ in 0..pieces {
        // Apart, so each piece is its own write to the temporary file, and its own inotify event.
        s.write_all(&piece).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let mut buf = Vec::new();
    expect_status(&read_response(&mut s, &mut buf, false).expect("answer to the PUT"), 201, "PUT /big.bin");
    // A GET after the PUT is answered after the worker has read every event the upload caused.
    thread::sleep(Duration::from_millis(300));
    expect_status(&get(server.addr(), "/big.bin"), 200, "GET /big.bin");
    // Once at most, for the rename that put the file in place (any change in the root may be a rule file's).
    let again = said(&server) - before;
    assert!(again <= 1, "the rule files were read again {again} times for one upload:\n{}", server.stderr_text());
    // The rule files are still watched: an edit of one is read again.
    let staged = site.write(".redirects.new", b"/a /c 999\n");
    fs::rename(staged, site.root.path.join("_redirects")).unwrap();
    assert!(wait_until(LONG, || said(&server) > before), "an edit of _redirects was not read again");
}

// ---------------------------------------------------------------------------------------------------------
// Bodies

#[test]
fn a_chunked_body_in_odd_sized_chunks_is_stored_whole() {
    let site = WriteSite::new("write-chunked");
    let server = site.serve(&[]);
    let body = pattern(300 * KIB + 13, 20);
    let encoded = chunked(&body, &[1, 7, 4093, 65_537, 3, 12_345]);
    let mut s = server.connect();
    let head = write_request(
        "PUT",
        "/uploads/chunked.bin",
        &[("Authorization", &bearer()), ("Transfer-Encoding", "chunked")],
        None,
        true,
    );
    s.write_all(&head).unwrap();
    // In separate writes, so the server sees chunks split across reads.
    for piece in encoded.chunks(50_001) {
        s.write_all(piece).unwrap();
        s.flush().unwrap();
    }
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).expect("response to the chunked PUT");
    expect_status(&r, 201, "chunked PUT");
    assert!(read_file(&site.dir().join("chunked.bin")) == body, "the stored file differs from the chunked body");
    assert!(get_body(server.addr(), "/uploads/chunked.bin") == body);
}

#[test]
fn expect_100_continue_on_an_accepted_put_gets_100_then_the_final_status() {
    let site = WriteSite::new("write-expect");
    let server = site.serve(&[]);
    let body = pattern(200 * KIB, 30);
    let mut s = server.connect();
    let len = body.len().to_string();
    let headers = [("Authorization", bearer()), ("Content-Length", len), ("Expect", "100-continue".into())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    s.write_all(&write_request("PUT", "/uploads/expect.bin", &headers, None, true)).unwrap();
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf, false).expect("an interim response");
    assert_eq!((interim.version.as_str(), interim.status), ("HTTP/1.1", 100), "{interim:?}");
    s.write_all(&body).unwrap();
    let r = read_response(&mut s, &mut buf, false).expect("the final response");
    expect_status(&r, 201, "PUT after 100 Continue");
    assert!(read_file(&site.dir().join("expect.bin")) == body);
}

#[test]
fn a_content_length_over_the_limit_is_413_before_the_body() {
    let site = WriteSite::new("write-413-cl");
    let server = site.serve(&["--max-upload-bytes", "64K"]);
    let auth = bearer();
    let r = answered_before_body(server.addr(), "PUT", "/uploads/big.bin", &[("Authorization", &auth)], 64 * KIB + 1);
    expect_status(&r, 413, "Content-Length one byte over --max-upload-bytes 64K");
    let r = answered_before_body(server.addr(), "POST", "/uploads/", &[("Authorization", &auth)], 10 * MIB);
    expect_status(&r, 413, "POST over the limit");
    assert_eq!(dir_names(&site.dir()), BTreeSet::new(), "something was created");
    // Exactly the limit is allowed.
    let body = pattern(64 * KIB, 40);
    expect_status(&put(server.addr(), "/uploads/exact.bin", &body), 201, "a body of exactly the limit");
    assert!(read_file(&site.dir().join("exact.bin")) == body);
}

/// Sends `head` then `body` from a thread (a server that refuses mid-body may stop reading), and reads
/// everything the server sends until it closes; returns the first response.
fn send_and_read(server: &Server, head: &[u8], body: Vec<u8>) -> Response {
    let mut s = server.connect();
    s.write_all(head).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        for piece in body.chunks(16 * KIB) {
            if w.write_all(piece).is_err() {
                return;
            }
        }
        let _ = w.shutdown(Shutdown::Write);
    });
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    writer.join().unwrap();
    read_response(&mut std::io::empty(), &mut got, false)
        .unwrap_or_else(|e| panic!("no response: {e}; got {:?}", String::from_utf8_lossy(&got)))
}

#[test]
fn a_chunked_body_passing_the_limit_is_413_and_leaves_nothing_behind() {
    let site = WriteSite::new("write-413-chunked");
    site.write("uploads/old.bin", b"previous version");
    let server = site.serve(&["--max-upload-bytes", "64K"]);
    let before = dir_names(&site.dir());
    for target in ["/uploads/new.bin", "/uploads/old.bin"] {
        let head = write_request(
            "PUT",
            target,
            &[("Authorization", &bearer()), ("Transfer-Encoding", "chunked")],
            None,
            false,
        );
        let r = send_and_read(&server, &head, chunked(&pattern(200 * KIB, 50), &[10_000, 7_777]));
        expect_status(&r, 413, &format!("chunked PUT {target} of 200 KiB over a 64 KiB limit"));
    }
    let ok = wait_until(Duration::from_secs(10), || dir_names(&site.dir()) == before);
    assert!(ok, "left behind: {:?}", dir_names(&site.dir()));
    assert_eq!(read_file(&site.dir().join("old.bin")), b"previous version");
}

#[test]
fn an_empty_body_makes_an_empty_file() {
    let site = WriteSite::new("write-empty");
    let server = site.serve(&[]);
    expect_status(&put(server.addr(), "/uploads/empty.txt", b""), 201, "PUT with Content-Length: 0");
    let meta = fs::metadata(site.dir().join("empty.txt")).expect("the empty file exists");
    assert!(meta.is_file() && meta.len() == 0, "{meta:?}");
    let r = get(server.addr(), "/uploads/empty.txt");
    expect_status(&r, 200, "GET of the empty file");
    assert_eq!(content_length(&r, "GET"), 0);
}

/// Starts an upload of `announced` bytes to `target` with `Expect: 100-continue`, and once the server has
/// said go on (it has accepted the upload and is reading its body) sends `sent` of them; returns the
/// connection.
fn start_upload(server: &Server, target: &str, announced: usize, sent: usize) -> TcpStream {
    let mut s = server.connect();
    let len = announced.to_string();
    let headers = [("Authorization", bearer()), ("Content-Length", len), ("Expect", "100-continue".into())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    s.write_all(&write_request("PUT", target, &headers, None, false)).unwrap();
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("PUT {target}: {e}"));
    expect_status(&interim, 100, &format!("PUT {target} with Expect: 100-continue"));
    assert!(buf.is_empty(), "PUT {target}: more than the 100 Continue before the body: {:?}", show(&buf));
    s.write_all(&pattern(sent, 60)).unwrap();
    let port = s.local_addr().unwrap().port();
    assert!(wait_connection_held(server, port, LONG), "no worker took the upload's connection");
    s
}

#[test]
fn an_aborted_upload_leaves_nothing_behind_and_the_old_version_intact() {
    let site = WriteSite::new("write-abort");
    site.write("uploads/old.bin", b"previous version");
    let server = site.serve(&[]);
    let before = dir_names(&site.dir());
    for target in ["/uploads/new.bin", "/uploads/old.bin"] {
        let s = start_upload(&server, target, MIB, MIB / 2);
        // Let the server take in what was sent before the client goes.
        thread::sleep(Duration::from_millis(300));
        let port = s.local_addr().unwrap().port();
        drop(s);
        assert!(wait_connection_gone(&server, port, LONG), "{target}: the server still holds the aborted upload");
        let ok = wait_until(Duration::from_secs(10), || dir_names(&site.dir()) == before);
        assert!(ok, "{target}: left behind after the abort: {:?}", dir_names(&site.dir()));
        assert_eq!(read_file(&site.dir().join("old.bin")), b"previous version", "{target}");
    }
    assert_eq!(get_body(server.addr(), "/uploads/old.bin"), b"previous version");
    expect_status(&get(server.addr(), "/uploads/new.bin"), 404, "the aborted new file");
}

#[test]
fn an_upload_that_stalls_past_the_upload_timeout_is_cut_off_and_leaves_nothing() {
    let site = WriteSite::new("write-stall");
    site.write("uploads/old.bin", b"previous version");
    // The header timeout is long, so only the upload timeout can end the stall within the bound below.
    let server = site.serve(&["--upload-timeout", "1", "--header-timeout", "60"]);
    let before = dir_names(&site.dir());
    for target in ["/uploads/new.bin", "/uploads/old.bin"] {
        let mut s = start_upload(&server, target, 100 * KIB, 10 * KIB);
        let started = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(45))).unwrap();
        match read_ending(&mut s, Vec::new()) {
            Ending::Eof(got) | Ending::Reset(got) => {
                let text = String::from_utf8_lossy(&got);
                assert!(
                    got.is_empty() || text.starts_with("HTTP/1.1 408 "),
                    "{target}: expected 408 or a close: {text:?}"
                );
            }
            other => panic!("{target}: a stalled upload was not cut off: {other:?}"),
        }
        // Long before the default 300 s and the 60 s header timeout.
        assert!(started.elapsed() < Duration::from_secs(30), "{target}: cut off after {:?}", started.elapsed());
        let ok = wait_until(Duration::from_secs(10), || dir_names(&site.dir()) == before);
        assert!(ok, "{target}: left behind after the timeout: {:?}", dir_names(&site.dir()));
        assert_eq!(read_file(&site.dir().join("old.bin")), b"previous version", "{target}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Atomic replace

#[test]
fn readers_during_replaces_get_one_version_whole() {
    let site = WriteSite::new("write-atomic");
    let a = Arc::new(pattern(4 * MIB, 70));
    let b = Arc::new(pattern(4 * MIB, 71));
    site.write("uploads/big.bin", &a);
    let server = site.serve(&["--workers", "2"]);
    let addr = server.addr();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (a, b, done, reads) = (a.clone(), b.clone(), done.clone(), reads.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let r = get(addr, "/uploads/big.bin");
                    assert_eq!(r.status, 200, "a GET during the replaces");
                    assert!(r.body == *a || r.body == *b, "a GET got neither version whole ({} bytes)", r.body.len());
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for i in 0..20 {
        let body = if i % 2 == 0 { &b } else { &a };
        let r = put(addr, "/uploads/big.bin", body);
        if r.status != 204 {
            done.store(true, Ordering::SeqCst);
            panic!("PUT {i}: expected 204, got {} {:?}", r.status, r.headers);
        }
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.join().expect("a reader failed");
    }
    assert!(reads.load(Ordering::SeqCst) > 0, "no GET completed");
    // The last PUT (i = 19) wrote A.
    assert!(read_file(&site.dir().join("big.bin")) == *a);
    assert_eq!(dir_names(&site.dir()), BTreeSet::from(["big.bin".to_string()]));
}

// ---------------------------------------------------------------------------------------------------------
// POST

/// POSTs `body` to `collection`, expects 201 and a Location under it; returns that path.
fn post_new(server: &Server, collection: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let r = authed(server.addr(), "POST", collection, headers, Some(body));
    expect_status(&r, 201, &format!("POST {collection}"));
    let loc = location_path(&r, "POST");
    let name = loc.strip_prefix(collection).unwrap_or_else(|| panic!("Location {loc} is not under {collection}"));
    assert!(!name.is_empty() && !name.contains('/') && !name.starts_with('.'), "Location {loc}");
    loc
}

#[test]
fn post_to_the_collection_makes_a_new_resource_each_time() {
    let site = WriteSite::new("write-post");
    let server = site.serve(&[]);
    let first = post_new(&server, "/uploads/", &[], b"same body");
    let second = post_new(&server, "/uploads/", &[], b"same body");
    assert_ne!(first, second, "two POSTs made one resource");
    for loc in [&first, &second] {
        assert_eq!(get_body(server.addr(), loc), b"same body", "GET {loc}");
    }
    assert_eq!(dir_names(&site.dir()).len(), 2, "{:?}", dir_names(&site.dir()));
}

#[test]
fn post_names_come_from_content_type_and_a_sanitized_slug() {
    let site = WriteSite::new("write-slug");
    site.mkdir("uploads/docs");
    let server = site.serve(&[]);
    let txt = post_new(&server, "/uploads/", &[("Content-Type", "text/plain")], b"plain");
    assert!(txt.ends_with(".txt"), "text/plain made {txt}");
    let png = post_new(&server, "/uploads/", &[("Content-Type", "image/png")], b"\x89PNG");
    assert!(png.ends_with(".png"), "image/png made {png}");
    assert_eq!(get(server.addr(), &png).header("Content-Type"), Some("image/png"));
    let slug = [("Slug", "My Report!.txt")];
    let one = post_new(&server, "/uploads/docs/", &slug, b"report one");
    let two = post_new(&server, "/uploads/docs/", &slug, b"report two");
    assert_ne!(one, two, "the same Slug twice made one resource");
    for (loc, body) in [(&one, &b"report one"[..]), (&two, b"report two")] {
        let name = loc.rsplit('/').next().unwrap();
        assert!(name.contains("Report"), "Slug `My Report!.txt` made {loc}");
        assert!(name.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)), "unsanitized name {loc}");
        assert_eq!(get_body(server.addr(), loc), body);
    }
    // A Slug cannot lead anywhere else.
    let before = tree_names(&site.root.path);
    let evil = post_new(&server, "/uploads/docs/", &[("Slug", "../../evil")], b"evil");
    assert!(evil.starts_with("/uploads/docs/"), "{evil}");
    let mut after = tree_names(&site.root.path);
    after.remove(evil.trim_start_matches('/'));
    assert_eq!(after, before, "a Slug with ../ wrote elsewhere");
}

#[test]
fn post_to_something_other_than_a_collection_is_405() {
    let site = WriteSite::new("write-post-405");
    site.write("uploads/file.txt", b"file");
    let server = site.serve(&[]);
    for target in ["/uploads/file.txt", "/uploads/new.txt", "/uploads/missing/"] {
        let r = authed(server.addr(), "POST", target, &[], Some(b"body"));
        if target == "/uploads/missing/" {
            // A collection that does not exist: not created (405, 404 or 409 are all fair).
            assert!((400..500).contains(&r.status) && r.status != 401, "POST {target}: {}", r.status);
        } else {
            expect_status(&r, 405, &format!("POST {target}"));
        }
    }
    assert_eq!(read_file(&site.dir().join("file.txt")), b"file");
    assert_eq!(tree_names(&site.dir()), BTreeSet::from(["file.txt".to_string()]));
    // The collection itself takes a POST: the 405s above are the target's doing.
    let loc = post_new(&server, "/uploads/", &[], b"posted");
    assert_eq!(get_body(server.addr(), &loc), b"posted");
}

// ---------------------------------------------------------------------------------------------------------
// DELETE

#[test]
fn delete_removes_a_file_and_refuses_a_directory() {
    let site = WriteSite::new("write-delete");
    site.write("uploads/gone.txt", b"soon gone");
    site.write("uploads/d/inside.txt", b"inside");
    let server = site.serve(&["--workers", "2"]);
    server.wait_for_workers(2, LONG);
    // Served (and cached) by both workers first, on connections they still hold.
    let mut held = held_connections(&server, "/uploads/gone.txt", 4);
    let r = authed(server.addr(), "DELETE", "/uploads/gone.txt", &[], None);
    expect_status(&r, 204, "DELETE of a file");
    assert!(r.body.is_empty());
    assert!(!site.dir().join("gone.txt").exists());
    for (i, conn) in held.iter_mut().enumerate() {
        expect_status(&get_on(conn, "/uploads/gone.txt"), 404, &format!("GET on held connection {i} after DELETE"));
    }
    for i in 0..4 {
        expect_status(&get(server.addr(), "/uploads/gone.txt"), 404, &format!("GET {i} after DELETE"));
    }
    expect_status(&authed(server.addr(), "DELETE", "/uploads/gone.txt", &[], None), 404, "DELETE again");
    expect_status(&authed(server.addr(), "DELETE", "/uploads/never.txt", &[], None), 404, "DELETE of nothing");
    for target in ["/uploads/d", "/uploads/d/"] {
        expect_status(&authed(server.addr(), "DELETE", target, &[], None), 409, &format!("DELETE {target}"));
    }
    assert_eq!(read_file(&site.dir().join("d/inside.txt")), b"inside");
    assert_eq!(tree_names(&site.dir()), ["d", "d/inside.txt"].map(String::from).into());
}

// ---------------------------------------------------------------------------------------------------------
// Never stale

#[test]
fn a_replaced_text_file_is_never_served_from_its_old_compressed_form() {
    let site = WriteSite::new("write-gzip");
    let old = text(64 * KIB, 80);
    site.write("uploads/style.css", &old);
    let server = site.serve(&["--workers", "2"]);
    server.wait_for_workers(2, LONG);
    let gzip = "Accept-Encoding: gzip\r\n";
    // Connections both workers hold, each of which has been served the old version's gzip form: it exists,
    // and each worker knows it.
    let mut held = held_connections(&server, "/uploads/style.css", 3);
    for (i, conn) in held.iter_mut().enumerate() {
        let start = Instant::now();
        loop {
            let r = get_on_with(conn, "/uploads/style.css", gzip);
            expect_status(&r, 200, "GET before the replace");
            assert!(gunzip(&r, "GET before") == old);
            if r.header("Content-Encoding") == Some("gzip") {
                break;
            }
            assert!(start.elapsed() < COMPRESS_WAIT, "held connection {i}: the old version was never served gzip");
            thread::sleep(Duration::from_millis(200));
        }
    }
    // Same size, different bytes.
    let new = text(64 * KIB, 81);
    expect_status(&put(server.addr(), "/uploads/style.css", &new), 204, "replace");
    for (i, conn) in held.iter_mut().enumerate() {
        let r = get_on_with(conn, "/uploads/style.css", gzip);
        expect_status(&r, 200, "GET after the replace");
        assert!(gunzip(&r, "GET after") == new, "held connection {i} after the replace served the old content");
    }
    // And on new connections, until the new version's own gzip form is served.
    let start = Instant::now();
    let mut saw_new_gzip = false;
    while !saw_new_gzip {
        for i in 0..4 {
            let r = fetch(server.addr(), "GET", "/uploads/style.css", &[("Accept-Encoding", "gzip")]);
            expect_status(&r, 200, "GET");
            assert!(gunzip(&r, "GET") == new, "GET {i} on a new connection after the replace served the old content");
            saw_new_gzip |= r.header("Content-Encoding") == Some("gzip");
        }
        assert!(start.elapsed() < COMPRESS_WAIT, "the new version was never served gzip");
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_listing_follows_puts_posts_and_deletes() {
    let site = WriteSite::new("write-listing");
    site.write("uploads/present-file.txt", b"x");
    let server = site.serve(&["--listing", "--workers", "2"]);
    let listing = |what: &str| {
        let r = get(server.addr(), "/uploads/");
        expect_status(&r, 200, what);
        r.body_str()
    };
    for _ in 0..4 {
        let l = listing("listing before");
        assert!(l.contains("present-file.txt") && !l.contains("put-made-file.txt"), "{l}");
    }
    expect_status(&put(server.addr(), "/uploads/put-made-file.txt", b"p"), 201, "PUT");
    let posted = post_new(&server, "/uploads/", &[("Slug", "postmadefile")], b"q");
    let posted_name = posted.rsplit('/').next().unwrap().to_string();
    for i in 0..4 {
        let l = listing("listing after PUT and POST");
        assert!(l.contains("put-made-file.txt") && l.contains(&posted_name), "stale listing {i}: {l}");
    }
    for target in ["/uploads/put-made-file.txt", posted.as_str()] {
        expect_status(&authed(server.addr(), "DELETE", target, &[], None), 204, "DELETE");
    }
    for i in 0..4 {
        let l = listing("listing after DELETE");
        assert!(!l.contains("put-made-file.txt") && !l.contains(&posted_name), "stale listing {i}: {l}");
        assert!(l.contains("present-file.txt"));
    }
}

// ---------------------------------------------------------------------------------------------------------
// The access log

#[test]
fn an_upload_is_logged_with_its_status_and_bytes_received_and_the_token_never() {
    let site = WriteSite::new("write-log");
    let log = site.root.beside("access.log");
    let server = site.serve(&["--access-log", log.to_str().unwrap()]);
    expect_status(&put(server.addr(), "/uploads/logged.bin", &pattern(1234, 90)), 201, "PUT");
    let bad = format!("Bearer {WRITE_TOKEN}-not");
    let r = answered_before_body(server.addr(), "PUT", "/uploads/x.bin", &[("Authorization", &bad)], 5000);
    expect_status(&r, 401, "PUT with a wrong token");
    expect_status(&get(server.addr(), "/uploads/logged.bin"), 200, "GET");
    let lines = wait_log_lines(&log, 3, LONG);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let recs: Vec<Combined> = lines.iter().map(|l| parse_combined(l).unwrap_or_else(|e| panic!("{e}"))).collect();
    let put_line = recs.iter().find(|r| r.request == "PUT /uploads/logged.bin HTTP/1.1").expect("the PUT's line");
    assert_eq!(put_line.status, 201, "{put_line:?}");
    assert_eq!(put_line.received, Some(1234), "the PUT's body bytes: {put_line:?}");
    let refused = recs.iter().find(|r| r.request == "PUT /uploads/x.bin HTTP/1.1").expect("the 401's line");
    assert_eq!(refused.status, 401);
    let get_line = recs.iter().find(|r| r.request.starts_with("GET ")).expect("the GET's line");
    assert_eq!(get_line.received, None, "a GET without a body has no received field: {get_line:?}");
    let all = fs::read_to_string(&log).unwrap();
    assert!(!all.contains(WRITE_TOKEN) && !all.contains("Bearer"), "the token is in the access log:\n{all}");
    assert!(!server.stderr_text().contains(WRITE_TOKEN), "the token is on stderr");
}

#[test]
fn in_json_every_line_has_bytes_received() {
    let site = WriteSite::new("write-log-json");
    let log = site.root.beside("access.log");
    let server = site.serve(&["--access-log", log.to_str().unwrap(), "--log-format", "json"]);
    expect_status(&put(server.addr(), "/uploads/logged.bin", &pattern(4321, 91)), 201, "PUT");
    expect_status(&get(server.addr(), "/uploads/logged.bin"), 200, "GET");
    let lines = wait_log_lines(&log, 2, LONG);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let recs: Vec<JsonRecord> = lines.iter().map(|l| parse_json_record(l).unwrap_or_else(|e| panic!("{e}"))).collect();
    // (parse_json_record insists on the field on every line.)
    let put_rec = recs.iter().find(|r| r.method == "PUT").expect("the PUT's line");
    assert_eq!((put_rec.status, put_rec.bytes_received), (201, 4321), "{put_rec:?}");
    let get_rec = recs.iter().find(|r| r.method == "GET").expect("the GET's line");
    assert_eq!(get_rec.bytes_received, 0, "{get_rec:?}");
    assert!(!fs::read_to_string(&log).unwrap().contains(WRITE_TOKEN));
}

#[test]
fn an_aborted_upload_is_logged_with_the_bytes_that_came() {
    let site = WriteSite::new("write-log-abort");
    let log = site.root.beside("access.log");
    let server = site.serve(&["--access-log", log.to_str().unwrap()]);
    let s = start_upload(&server, "/uploads/cut.bin", MIB, 100 * KIB);
    let port = s.local_addr().unwrap().port();
    // Let the server take in what was sent before the client goes.
    thread::sleep(Duration::from_millis(300));
    drop(s);
    assert!(wait_connection_gone(&server, port, LONG), "the server still holds the aborted upload");
    let lines = wait_log_lines(&log, 1, LONG);
    let recs: Vec<Combined> = lines.iter().map(|l| parse_combined(l).unwrap_or_else(|e| panic!("{e}"))).collect();
    let cut = recs.iter().find(|r| r.request == "PUT /uploads/cut.bin HTTP/1.1").expect("a line for the aborted PUT");
    assert_eq!((cut.status, cut.bytes), (400, 0), "{cut:?}");
    assert_eq!(cut.received, Some(100 * KIB as u64), "the bytes of the body that came: {cut:?}");
}

#[test]
fn a_full_disk_is_507_and_leaves_nothing_behind() {
    if !require_root("mounting a tiny tmpfs as the drop folder") {
        return;
    }
    let site = WriteSite::new("write-full");
    // Declared before the server, so dropped after it: the server is gone when the mount goes.
    let Some(_mount) = Tmpfs::mount(&site.dir(), "1m") else { return };
    give_to_workers(&site.dir());
    let server = site.serve(&[]);
    let r = put(server.addr(), "/uploads/big.bin", &pattern(3 * MIB, 71));
    expect_status(&r, 507, "PUT of more than the file system holds");
    let ok = wait_until(Duration::from_secs(10), || dir_names(&site.dir()).is_empty());
    assert!(ok, "left behind after a full disk: {:?}", dir_names(&site.dir()));
    // The space came back with the temporary file: a small write fits.
    expect_status(&put(server.addr(), "/uploads/small.txt", b"fits"), 201, "PUT after the full disk");
    assert_eq!(get_body(server.addr(), "/uploads/small.txt"), b"fits");
}

#[test]
fn uploads_slow_or_fast_never_hold_the_workers_other_connections() {
    let site = WriteSite::new("write-busy");
    site.write("small.txt", b"small");
    let server = site.serve(&["--workers", "1"]);
    // A slow uploader: its head and a little of its body, then nothing for now.
    let mut slow = start_upload(&server, "/uploads/slow.bin", MIB, 10 * KIB);
    // A fast one: 32 MiB as quickly as loopback takes it, from another thread.
    let fast_body = Arc::new(pattern(32 * MIB, 5));
    let fast = {
        let (addr, body) = (server.addr(), Arc::clone(&fast_body));
        thread::spawn(move || put(addr, "/uploads/fast.bin", &body).status)
    };
    // Meanwhile the one worker answers GETs on other connections, each well within a generous bound.
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while !fast.is_finished() || answered < 20 {
        let started = Instant::now();
        expect_status(&get(server.addr(), "/small.txt"), 200, "GET beside the uploads");
        slowest = slowest.max(started.elapsed());
        answered += 1;
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fast.join().expect("fast uploader"), 201, "the fast upload");
    assert!(slowest < Duration::from_secs(5), "a GET waited {slowest:?} beside the uploads");
    assert!(read_file(&site.dir().join("fast.bin")) == *fast_body, "the fast upload was stored wrong");
    // The slow one is still being waited for, and finishes when the rest comes.
    slow.write_all(&pattern(MIB - 10 * KIB, 60)[..]).unwrap();
    let mut buf = Vec::new();
    expect_status(&read_response(&mut slow, &mut buf, false).expect("the slow upload's answer"), 201, "slow PUT");
    assert_eq!(fs::metadata(site.dir().join("slow.bin")).unwrap().len(), MIB as u64);
}
