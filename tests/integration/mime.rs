//! Content-Type through the real binary (issue 11, items 8 and 9): `charset=utf-8` only on text whose bytes
//! are UTF-8 (a file up to 16 KiB is checked whole, a larger one by its first 16 KiB), precompressed siblings
//! typed by the identity file's bytes, and the registered types for fonts and media.

use crate::support::*;

/// How much of a large file the server checks (its `SMALL_BODY`): what the tests below straddle.
const CHECKED: usize = 16 * 1024;

/// The Content-Type of GET and of HEAD of `target`, which must agree and be a 200.
fn content_type(server: &Server, target: &str, headers: &[(&str, &str)]) -> String {
    let mut seen = Vec::new();
    for method in ["GET", "HEAD"] {
        let what = format!("{method} {target} {headers:?}");
        let r = fetch(server.addr(), method, target, headers);
        expect_status(&r, 200, &what);
        seen.push(header(&r, "Content-Type", &what).to_string());
    }
    assert_eq!(seen[0], seen[1], "{target}: GET and HEAD disagree on Content-Type");
    seen.remove(0)
}

/// `len` bytes of valid UTF-8 text with multi-byte characters throughout, one of them cut by the end of the
/// checked prefix (the 2-byte `é` at offsets CHECKED-1 and CHECKED).
fn utf8_text(len: usize) -> Vec<u8> {
    let mut out = b"/* ".to_vec();
    while out.len() < len {
        // Odd start, then two-byte characters: one of them straddles any even offset, CHECKED included.
        out.extend_from_slice("é".as_bytes());
    }
    out.truncate(len);
    if std::str::from_utf8(&out).is_err() {
        out.pop();
    }
    assert!(out[CHECKED - 1] == 0xc3 && out[CHECKED] == 0xa9, "the fixture must cut a character at {CHECKED}");
    out
}

/// `valid` bytes of ASCII, then Latin-1 (0xE9 bytes) to `len`.
fn valid_then_latin1(valid: usize, len: usize) -> Vec<u8> {
    let mut out = vec![b'a'; valid];
    out.resize(len, 0xe9);
    out
}

#[test]
fn charset_is_declared_only_for_utf8_bytes() {
    let site = TempRoot::new("mime-charset");
    site.write("latin1.txt", b"caf\xe9 cr\xe8me\n");
    site.write("ascii.txt", b"plain ASCII\n");
    site.write("utf8.html", "<!doctype html><title>café ☃</title>\n".as_bytes());
    site.write("latin1.html", b"<!doctype html><meta charset=iso-8859-1><title>caf\xe9</title>\n");
    site.write("empty.txt", b"");
    site.write("utf16.txt", b"\xff\xfeh\x00i\x00");
    site.write("big.css", &utf8_text(100 * 1024));
    site.write("big-latin1.txt", &valid_then_latin1(100, 100 * 1024));
    // Invalid inside the checked prefix: no charset.
    site.write("bad-at-5k.txt", &valid_then_latin1(5 * 1024, 100 * 1024));
    // Invalid only past the checked prefix: declared, as documented (the check reads one prefix, not the file).
    site.write("bad-at-20k.txt", &valid_then_latin1(20 * 1024, 100 * 1024));
    // A small file is checked whole: invalid in its last byte still counts.
    site.write("bad-last-byte.txt", &valid_then_latin1(CHECKED - 1, CHECKED));
    let server = site.serve(&[]);
    let cases = [
        ("/latin1.txt", "text/plain"),
        ("/ascii.txt", "text/plain; charset=utf-8"),
        ("/utf8.html", "text/html; charset=utf-8"),
        ("/latin1.html", "text/html"),
        ("/empty.txt", "text/plain; charset=utf-8"),
        ("/utf16.txt", "text/plain"),
        ("/big.css", "text/css; charset=utf-8"),
        ("/big-latin1.txt", "text/plain"),
        ("/bad-at-5k.txt", "text/plain"),
        ("/bad-at-20k.txt", "text/plain; charset=utf-8"),
        ("/bad-last-byte.txt", "text/plain"),
    ];
    for (target, want) in cases {
        // Twice: the second answer comes from the cache entry.
        for round in 0..2 {
            assert_eq!(content_type(&server, target, &[]), want, "{target} (round {round})");
        }
    }
    // The body is what is on disk, whatever the type says.
    assert_eq!(get(server.addr(), "/latin1.txt").body, b"caf\xe9 cr\xe8me\n");
    // A multipart range response names the same type in each part.
    let r = fetch(server.addr(), "GET", "/big-latin1.txt", &[("Range", "bytes=0-1,200-201")]);
    expect_status(&r, 206, "multipart range");
    for part in parse_multipart(&r) {
        assert_eq!(part.content_type.as_deref(), Some("text/plain"), "part Content-Type");
    }
}

#[test]
fn precompressed_siblings_take_the_identity_files_type() {
    let site = TempRoot::new("mime-precompressed");
    // The compressed bytes are never UTF-8; the identity file decides.
    site.write("app.js", b"console.log('ascii');\n");
    site.write("app.js.gz", &pattern(600, 31));
    site.write("app.js.br", &pattern(500, 32));
    site.write("old.txt", b"caf\xe9\n");
    site.write("old.txt.gz", b"\x1f\x8b\x08\x00 marker");
    site.write("big.css", &utf8_text(40 * 1024));
    site.write("big.css.br", &pattern(5000, 33));
    let server = site.serve(&[]);
    let cases = [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/old.txt", "text/plain"),
        ("/big.css", "text/css; charset=utf-8"),
    ];
    for (target, want) in cases {
        for accept in [None, Some("gzip"), Some("br")] {
            let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
            assert_eq!(content_type(&server, target, &headers), want, "{target} Accept-Encoding {accept:?}");
        }
    }
    // The .gz is served as gzip, and typed as the identity file.
    let r = fetch(server.addr(), "GET", "/old.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(header(&r, "Content-Encoding", "gzip variant"), "gzip");
    assert_eq!(r.body, b"\x1f\x8b\x08\x00 marker");
    // Requested by its own name, a .gz is a gzip download.
    assert_eq!(content_type(&server, "/old.txt.gz", &[]), "application/gzip");
}

#[test]
fn an_edit_that_changes_the_encoding_changes_the_type() {
    let site = TempRoot::new("mime-edit");
    let server = site.serve(&["--workers", "1"]);
    for round in 0..10 {
        site.write("page.txt", b"now ASCII\n");
        assert_eq!(content_type(&server, "/page.txt", &[]), "text/plain; charset=utf-8", "round {round}");
        site.write("page.txt", b"now Latin-1: \xe9\n");
        assert_eq!(content_type(&server, "/page.txt", &[]), "text/plain", "round {round}");
    }
}

#[test]
fn registered_types_for_fonts_and_media() {
    let site = TempRoot::new("mime-registered");
    let cases = [
        ("f.woff", "font/woff"),
        ("f.woff2", "font/woff2"),
        ("f.otf", "font/otf"),
        ("f.ttf", "font/ttf"),
        ("a.m4a", "audio/mp4"),
        ("a.opus", "audio/ogg"),
        ("v.mp4", "video/mp4"),
        ("v.webm", "video/webm"),
        ("i.avif", "image/avif"),
        ("i.ico", "image/x-icon"),
        ("m.wasm", "application/wasm"),
        ("d.gz", "application/gzip"),
        ("m.mjs", "text/javascript; charset=utf-8"),
        ("f.xml", "application/xml; charset=utf-8"),
        ("d.jsonld", "application/ld+json; charset=utf-8"),
        ("c.ics", "text/calendar; charset=utf-8"),
        ("s.webmanifest", "application/manifest+json; charset=utf-8"),
        ("app.js.map", "application/json; charset=utf-8"),
    ];
    for (name, _) in cases {
        site.write(name, format!("content of {name}\n").as_bytes());
    }
    let server = site.serve(&[]);
    for (name, want) in cases {
        assert_eq!(content_type(&server, &format!("/{name}"), &[]), want, "/{name}");
    }
}
