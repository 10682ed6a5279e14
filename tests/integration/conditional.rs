//! Integration tests for validators and conditional requests (issue 4, RFC 9110 §8.8 and §13): a strong
//! ETag that changes with the file, Last-Modified, If-None-Match / If-Modified-Since → 304,
//! If-Match / If-Unmodified-Since → 412, their precedence, and unparsable dates being ignored.

use std::time::Duration;

use crate::support::*;

/// mtime of the fixture file: 2001-09-09 01:46:40 UTC plus half a second (the fraction must not leak into
/// comparisons made at one-second resolution).
const MTIME: u64 = 1_000_000_000;
const LM: &str = "Sun, 09 Sep 2001 01:46:40 GMT";
const BEFORE: &str = "Sun, 09 Sep 2001 01:46:39 GMT";
const AFTER: &str = "Sun, 09 Sep 2001 01:46:41 GMT";
const BODY: &[u8] = b"conditional body\n";

struct Fixture {
    site: TempRoot,
    server: Server,
    etag: String,
}

fn fixture(tag: &str, args: &[&str]) -> Fixture {
    let site = TempRoot::new(tag);
    let path = site.write("doc.txt", BODY);
    set_mtime(&path, MTIME, 500_000_000);
    let server = site.serve(args);
    let r = get(server.addr(), "/doc.txt");
    expect_status(&r, 200, "/doc.txt");
    let etag = header(&r, "ETag", "/doc.txt").to_string();
    assert_strong_etag(&etag, "/doc.txt");
    assert_eq!(header(&r, "Last-Modified", "/doc.txt"), LM);
    Fixture { site, server, etag }
}

/// Sends GET and HEAD with `headers` and checks the status; for 304 checks the headers it must carry.
fn check(fx: &Fixture, headers: &[(&str, &str)], want: u16) {
    for method in ["GET", "HEAD"] {
        let what = format!("{method} /doc.txt {headers:?}");
        let r = fetch(fx.server.addr(), method, "/doc.txt", headers);
        expect_status(&r, want, &what);
        match want {
            200 => {
                if method == "GET" {
                    assert_eq!(r.body, BODY, "{what}");
                }
                assert_file_headers(&r, &what);
            }
            304 => {
                assert!(r.body.is_empty(), "{what}");
                assert_eq!(header(&r, "ETag", &what), fx.etag, "{what}");
                assert_eq!(header(&r, "Last-Modified", &what), LM, "{what}");
                header(&r, "Date", &what);
                assert_eq!(header(&r, "Server", &what), "staticd");
            }
            412 => {
                if method == "GET" {
                    assert!(r.body.starts_with(b"412"), "{what}: body names the status");
                }
                assert!(find(&r.body, BODY).is_none(), "{what}");
            }
            _ => {}
        }
    }
}

#[test]
fn etag_is_strong_stable_and_last_modified_matches_mtime() {
    let fx = fixture("etag-stable", &[]);
    // Every worker computes the same tag for the same file.
    for _ in 0..6 {
        let r = get(fx.server.addr(), "/doc.txt");
        assert_eq!(header(&r, "ETag", "again"), fx.etag);
        assert_eq!(header(&r, "Last-Modified", "again"), LM);
    }
    let h = fetch(fx.server.addr(), "HEAD", "/doc.txt", &[]);
    assert_eq!(header(&h, "ETag", "HEAD"), fx.etag);
    // The tag is what survives a copy (size, mtime to the nanosecond), not the inode: a copy with the same
    // bytes and mtime has the same tag, so origins serving copies of one tree agree.
    let other = fx.site.write("twin.txt", BODY);
    set_mtime(&other, MTIME, 500_000_000);
    let r = get(fx.server.addr(), "/twin.txt");
    assert_eq!(header(&r, "ETag", "twin"), fx.etag, "the ETag depends on the inode");
}

/// Polls until eight requests in a row (so every worker answers at least once, whatever its cache holds)
/// return the same ETag, different from `old`; returns that ETag and the body.
fn settled_new_etag(fx: &Fixture, old: &str, what: &str) -> (String, Vec<u8>) {
    let mut settled = None;
    let seen = wait_until(Duration::from_secs(15), || {
        let first = get(fx.server.addr(), "/doc.txt");
        let tag = header(&first, "ETag", what).to_string();
        if tag == old {
            return false;
        }
        for _ in 0..7 {
            let r = get(fx.server.addr(), "/doc.txt");
            if header(&r, "ETag", what) != tag || r.body != first.body {
                return false;
            }
        }
        settled = Some((tag, first.body));
        true
    });
    assert!(seen, "timed out waiting for {what}");
    settled.expect("set when seen")
}

#[test]
fn etag_changes_when_the_file_changes() {
    let fx = fixture("etag-changes", &[]);
    // Same size, same second, different nanoseconds: only a nanosecond mtime tells them apart.
    let path = fx.site.write("doc.txt", b"CONDITIONAL BODY\n");
    set_mtime(&path, MTIME, 700_000_000);
    let (etag2, body) = settled_new_etag(&fx, &fx.etag, "every worker serving a new ETag after an edit");
    assert_eq!(body, b"CONDITIONAL BODY\n", "new ETag with old bytes");
    assert_strong_etag(&etag2, "edited");
    // The stale tag no longer matches; the fresh one does.
    for _ in 0..4 {
        let r = fetch(fx.server.addr(), "GET", "/doc.txt", &[("If-None-Match", fx.etag.as_str())]);
        expect_status(&r, 200, "stale If-None-Match");
        let r = fetch(fx.server.addr(), "GET", "/doc.txt", &[("If-None-Match", etag2.as_str())]);
        expect_status(&r, 304, "fresh If-None-Match");
    }
    // A size change also changes it.
    fx.site.write("doc.txt", b"longer conditional body\n");
    set_mtime(&path, MTIME, 700_000_000);
    let (_, body) = settled_new_etag(&fx, &etag2, "every worker serving a new ETag after a resize");
    assert_eq!(body, b"longer conditional body\n");
}

#[test]
fn if_none_match() {
    let fx = fixture("inm", &[]);
    let e = fx.etag.clone();
    let weak = format!("W/{e}");
    let list = format!("\"nope\", {e}, \"other\"");
    let list_tight = format!("\"nope\",{e}");
    let weak_list = format!("\"a\" , W/\"b\", {weak}");
    for value in [e.as_str(), "*", weak.as_str(), list.as_str(), list_tight.as_str(), weak_list.as_str()] {
        check(&fx, &[("If-None-Match", value)], 304);
    }
    let unquoted = e.trim_matches('"').to_string();
    for value in ["\"nope\"", "\"nope\", W/\"nope2\"", unquoted.as_str(), "\"\""] {
        check(&fx, &[("If-None-Match", value)], 200);
    }
}

#[test]
fn if_modified_since() {
    let fx = fixture("ims", &[]);
    // Equal (the half second of mtime is below HTTP's resolution) or later → 304.
    check(&fx, &[("If-Modified-Since", LM)], 304);
    check(&fx, &[("If-Modified-Since", AFTER)], 304);
    // The two obsolete formats a recipient must accept (RFC 9110 §5.6.7).
    check(&fx, &[("If-Modified-Since", "Sunday, 09-Sep-01 01:46:40 GMT")], 304);
    check(&fx, &[("If-Modified-Since", "Sun Sep  9 01:46:40 2001")], 304);
    // Earlier → 200.
    check(&fx, &[("If-Modified-Since", BEFORE)], 200);
    check(&fx, &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")], 200);
    // Unparsable → ignored → 200.
    for value in [
        "garbage",
        "",
        "Sun, 32 Sep 2001 01:46:40 GMT",
        "Sun, 09 Sep 2001 25:46:40 GMT",
        "1000000000",
        "Sun, 09 Sep 2001 01:46:40",
    ] {
        check(&fx, &[("If-Modified-Since", value)], 200);
    }
    // With If-None-Match present, If-Modified-Since is ignored (RFC 9110 §13.1.3).
    check(&fx, &[("If-None-Match", "\"nope\""), ("If-Modified-Since", AFTER)], 200);
    check(&fx, &[("If-None-Match", fx.etag.as_str()), ("If-Modified-Since", BEFORE)], 304);
}

#[test]
fn if_match_and_if_unmodified_since() {
    let fx = fixture("im-ius", &[]);
    let e = fx.etag.clone();
    let weak = format!("W/{e}");
    let list = format!("\"nope\", {e}");
    // If-Match uses the strong comparison: a weak tag never matches.
    check(&fx, &[("If-Match", e.as_str())], 200);
    check(&fx, &[("If-Match", "*")], 200);
    check(&fx, &[("If-Match", list.as_str())], 200);
    check(&fx, &[("If-Match", "\"nope\"")], 412);
    check(&fx, &[("If-Match", weak.as_str())], 412);
    check(&fx, &[("If-Match", "\"nope\", \"nope2\"")], 412);
    // If-Unmodified-Since: modified after the date → 412; at or before → 200; unparsable → ignored.
    check(&fx, &[("If-Unmodified-Since", BEFORE)], 412);
    check(&fx, &[("If-Unmodified-Since", LM)], 200);
    check(&fx, &[("If-Unmodified-Since", AFTER)], 200);
    check(&fx, &[("If-Unmodified-Since", "not a date")], 200);
    // With If-Match present, If-Unmodified-Since is not evaluated (RFC 9110 §13.2.2 step 2).
    check(&fx, &[("If-Match", e.as_str()), ("If-Unmodified-Since", BEFORE)], 200);
    // A failed If-Match wins over a matching If-None-Match (step 1 comes first).
    check(&fx, &[("If-Match", "\"nope\""), ("If-None-Match", e.as_str())], 412);
    // If-Match passes, then If-None-Match matches → 304.
    check(&fx, &[("If-Match", e.as_str()), ("If-None-Match", e.as_str())], 304);
    // A precondition failure beats a Range.
    let r = fetch(fx.server.addr(), "GET", "/doc.txt", &[("If-Match", "\"nope\""), ("Range", "bytes=0-3")]);
    expect_status(&r, 412, "If-Match failing with Range");
}

#[test]
fn not_modified_wins_over_range_and_keeps_caching_headers() {
    let fx = fixture("inm-range", &["--cache-control", "max-age=600"]);
    let e = fx.etag.clone();
    for headers in [
        vec![("If-None-Match", e.as_str()), ("Range", "bytes=0-3")],
        vec![("If-Modified-Since", LM), ("Range", "bytes=0-3")],
    ] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {headers:?}");
            let r = fetch(fx.server.addr(), method, "/doc.txt", &headers);
            expect_status(&r, 304, &what);
            assert_eq!(r.header("Cache-Control"), Some("max-age=600"), "{what}");
            assert_eq!(r.header("ETag"), Some(e.as_str()), "{what}");
            assert_eq!(r.header("Content-Range"), None, "{what}");
        }
    }
}

#[test]
fn conditionals_on_a_directory_index() {
    let site = TempRoot::new("cond-index");
    let path = site.write("index.html", b"<p>home</p>\n");
    set_mtime(&path, MTIME, 0);
    let server = site.serve(&[]);
    let r = get(server.addr(), "/");
    let etag = header(&r, "ETag", "/").to_string();
    let r = fetch(server.addr(), "GET", "/", &[("If-None-Match", etag.as_str())]);
    expect_status(&r, 304, "If-None-Match on /");
    let r = fetch(server.addr(), "GET", "/", &[("If-Modified-Since", LM)]);
    expect_status(&r, 304, "If-Modified-Since on /");
    let r = fetch(server.addr(), "GET", "/", &[("If-Match", "\"x\"")]);
    expect_status(&r, 412, "If-Match on /");
}
