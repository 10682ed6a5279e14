//! The site's own `_headers` and `_redirects` (Netlify's formats) through the real binary: headers per path
//! on every kind of answer, redirects, rewrites and 404 rules, what a file at the path changes, bad lines at
//! start (exit 2) and at run time (the rules in force stay), and edits taking effect.

use std::time::Duration;

use crate::support::*;

fn ruled_site(tag: &str, headers: &str, redirects: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    site.write("index.html", b"home");
    site.write("assets/app.js", b"app");
    site.write("blog/post.html", b"post");
    site.write("app/index.html", b"single page app");
    site.write("gone.html", b"the 404 page of /legacy");
    site.write("exists.txt", b"a real file");
    site.write("_headers", headers.as_bytes());
    site.write("_redirects", redirects.as_bytes());
    site
}

const HEADERS: &str = "\
# security headers everywhere
/*
  X-Frame-Options: DENY
  X-Test: first
/assets/*
  Cache-Control: public, max-age=31536000, immutable
  X-Test: second
/blog/:slug
  X-Blog: yes
";

const REDIRECTS: &str = "\
/old /new 301
/moved/* /blog/:splat 302
/posts/:year/:slug /blog/:slug.html 308
/external https://example.com/landing
/app/* /app/index.html 200
/legacy/* /gone.html 404
/exists.txt /elsewhere 301
/forced.txt /index.html 200!
/first /one 301
/first /two 301
";

#[test]
fn headers_rules_apply_per_path_on_every_answer() {
    let site = ruled_site("rules-headers", HEADERS, "");
    let server = site.serve(&[]);
    let r = get(server.addr(), "/index.html");
    expect_status(&r, 200, "/index.html");
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
    assert_eq!(r.header("X-Test"), Some("first"));
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=0, must-revalidate"), "the default stays");
    let r = get(server.addr(), "/assets/app.js");
    assert_eq!(r.header("X-Test"), Some("first, second"), "joined in file order");
    assert_eq!(r.headers_named("Cache-Control"), ["public, max-age=31536000, immutable"], "replaces the default");
    let etag = header(&r, "ETag", "etag").to_string();
    let r = fetch(server.addr(), "GET", "/assets/app.js", &[("If-None-Match", etag.as_str())]);
    expect_status(&r, 304, "304");
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=31536000, immutable"), "a 304 carries them too");
    let r = get(server.addr(), "/assets/missing.js");
    expect_status(&r, 404, "404");
    assert_eq!(r.header("X-Test"), Some("first, second"), "errors about the path carry them");
    assert_eq!(get(server.addr(), "/blog/post.html").header("X-Blog"), Some("yes"));
    assert_eq!(get(server.addr(), "/blog/a/b").header("X-Blog"), None, ":slug is one segment");
    let r = fetch(server.addr(), "HEAD", "/assets/app.js", &[("Range", "bytes=0-1")]);
    expect_status(&r, 206, "range");
    assert_eq!(r.header("X-Test"), Some("first, second"));
}

#[test]
fn redirects_rules_redirect_rewrite_and_serve_404_pages() {
    let site = ruled_site("rules-redirects", "", REDIRECTS);
    let server = site.serve(&[]);
    let cases = [
        ("/old", 301, "/new"),
        ("/old?x=1", 301, "/new?x=1"),
        ("/moved/2024/hello", 302, "/blog/2024/hello"),
        ("/posts/2024/hello", 308, "/blog/hello.html"),
        ("/external?utm=1", 301, "https://example.com/landing?utm=1"),
        ("/first", 301, "/one"),
    ];
    for (target, status, location) in cases {
        let r = get(server.addr(), target);
        expect_status(&r, status, target);
        assert_eq!(r.header("Location"), Some(location), "{target}");
    }
    // A rewrite serves the target's content at the requested URL.
    let r = get(server.addr(), "/app/settings/profile");
    expect_status(&r, 200, "rewrite");
    assert_eq!(r.body, b"single page app");
    assert_eq!(r.header("Location"), None);
    // A 404 rule serves its page with status 404.
    let r = get(server.addr(), "/legacy/page");
    expect_status(&r, 404, "404 rule");
    assert_eq!(r.body, b"the 404 page of /legacy");
    // A file at the path wins over a rule that is not forced; a forced one wins over the file.
    let r = get(server.addr(), "/exists.txt");
    expect_status(&r, 200, "file beats rule");
    assert_eq!(r.body, b"a real file");
    site.write("forced.txt", b"shadowed");
    let r = get(server.addr(), "/forced.txt");
    expect_status(&r, 200, "forced rewrite");
    assert_eq!(r.body, b"home");
    // HEAD gets the same answers without bodies.
    let r = head(server.addr(), "/old");
    expect_status(&r, 301, "HEAD");
    assert_eq!(r.header("Location"), Some("/new"));
}

#[test]
fn a_bad_rule_stops_the_start_with_its_file_and_line() {
    let cases = [
        ("", "/a /b 301\n/c /d 299\n", "_redirects:2:"),
        ("", "/a https://other.example/x 200\n", "_redirects:1:"),
        ("", "/a\n", "_redirects:1:"),
        ("/*\n  Bad Name: x\n", "", "_headers:2:"),
        ("  X-Orphan: 1\n", "", "_headers:1:"),
    ];
    for (headers, redirects, want) in cases {
        let site = ruled_site("rules-bad", headers, redirects);
        for check in [true, false] {
            let mut args = vec!["-l", "127.0.0.1:0"];
            if check {
                args.push("--check");
            }
            args.push(site.path_str());
            let exit = run_capture(&args, Duration::from_secs(20), |_| {});
            assert_eq!(exit.status.code(), Some(2), "{want} (check {check}): {}", exit.stderr);
            let lines: Vec<&str> = exit.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{}", exit.stderr);
            assert!(lines[0].starts_with(&format!("staticd: {want}")), "{want}: {}", exit.stderr);
        }
    }
    let mut many = String::new();
    for i in 0..10_001 {
        many.push_str(&format!("/r{i} /t{i} 301\n"));
    }
    let site = ruled_site("rules-many", "", &many);
    let exit = run_capture(&["--check", site.path_str()], Duration::from_secs(20), |_| {});
    assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
    assert!(exit.stderr.contains("_redirects:10001:"), "{}", exit.stderr);
}

/// Replaces a rule file the way deploy tools do (a new file renamed over the old one): an edit in place can be
/// read half-written, and a truncated file is a valid, empty set of rules.
fn replace(site: &TempRoot, name: &str, text: &[u8]) {
    let staged = site.write(&format!(".{name}.new"), text);
    std::fs::rename(staged, site.path.join(name)).expect("rename into place");
}

#[test]
fn edits_take_effect_and_a_bad_edit_keeps_the_rules_in_force() {
    let site = ruled_site("rules-edit", "", "/a /first 301\n");
    let server = site.serve(&["--workers", "1"]);
    assert_eq!(get(server.addr(), "/a").header("Location"), Some("/first"));
    replace(&site, "_redirects", b"/a /second 301\n");
    let changed = wait_until(LONG, || get(server.addr(), "/a").header("Location") == Some("/second"));
    assert!(changed, "the edit never took effect");
    replace(&site, "_redirects", b"/a /third 999\n");
    let logged = server.wait_for_stderr(|l| l.contains("_redirects:1:"), LONG);
    assert!(logged.is_some(), "no stderr line for the bad edit:\n{}", server.stderr_text());
    assert_eq!(get(server.addr(), "/a").header("Location"), Some("/second"), "the rules in force stay");
    replace(&site, "_headers", b"/*\n  X-Late: 1\n");
    let added = wait_until(LONG, || get(server.addr(), "/index.html").header("X-Late") == Some("1"));
    assert!(added, "a new _headers never took effect");
    std::fs::remove_file(site.path.join("_headers")).expect("remove _headers");
    let removed = wait_until(LONG, || get(server.addr(), "/index.html").header("X-Late").is_none());
    assert!(removed, "removing _headers never took effect");
}
