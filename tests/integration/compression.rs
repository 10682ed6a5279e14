//! Integration tests for compression (issue 14): compressible files get br, zstd and gzip forms made once
//! by the compressor process into `--compress-cache`, and served like originals.
//!
//! Covered, through the real binary over real sockets: each encoding decoded and compared with the original
//! byte for byte; the first request answered with identity at once (with `Vary`), without waiting for the
//! compression; negotiation by q-values (`q=0` refuses, `*`, identity, ties to the smallest form); ranges,
//! If-Range, multi-ranges and HEAD on the compressed bytes; a 304 per encoding's ETag; a rewritten file
//! never served from its old entry (same size, even with its old mtime put back); a precompressed sibling
//! older than its file ignored, a current one served as shipped; the cache bound held after compressing
//! more than fits; a restart reusing the cache; a worker answering other connections while a 20 MiB file
//! is compressed; a full cache directory (root only: a tiny tmpfs); and `--no-compress`.
//!
//! The fixtures are random words: text with enough entropy that each encoder's output is distinct and
//! sizeable, so a wrong or foreign body cannot decode to the original.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::support::*;

/// How long a compression may take: brotli runs at a high quality (11 up to 1 MiB), the tests run the debug
/// build (about ten times slower than release: 2–3 s for 120 KiB on an idle core, half a minute for 5 MiB),
/// the compressor is niced, and the machine is a loaded two-core box.
const COMPRESS_WAIT: Duration = Duration::from_secs(120);
/// The three encodings the compressor makes.
const CODINGS: [&str; 3] = ["br", "zstd", "gzip"];
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------
// Fixtures and helpers

/// `len` bytes of random lower-case words from a fixed vocabulary of 2048 (about 11 bits per word), in lines
/// of a dozen words: ASCII text that compresses to about 0.35–0.4 of its size, different for every `seed`.
fn words(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut v = 0x2545_F491_4F6C_DD1Du64;
    let vocabulary: Vec<Vec<u8>> = (0..2048)
        .map(|_| {
            v ^= v << 13;
            v ^= v >> 7;
            v ^= v << 17;
            let n = 2 + (v % 9) as usize;
            (0..n).map(|i| b'a' + ((v >> (8 + 5 * i)) % 26) as u8).collect()
        })
        .collect();
    let mut out = Vec::with_capacity(len + 16);
    let mut on_line = 0;
    while out.len() < len {
        out.extend_from_slice(&vocabulary[(next() % 2048) as usize]);
        on_line += 1;
        if on_line == 12 {
            out.push(b'\n');
            on_line = 0;
        } else {
            out.push(b' ');
        }
    }
    out.truncate(len);
    out
}

/// The compressed-file cache of a test: beside its root, removed with it.
fn cache_of(site: &TempRoot) -> PathBuf {
    site.beside("zcache")
}

/// Serves `site` with its own compressed-file cache (`cache_of`), given explicitly so that the test can
/// look into it and a restart can find it again.
fn serve(site: &TempRoot, extra: &[&str]) -> Server {
    let cache = cache_of(site);
    let mut args = vec!["--compress-cache", cache.to_str().expect("UTF-8 path")];
    args.extend_from_slice(extra);
    site.serve(&args)
}

fn has_vary_accept_encoding(r: &Response) -> bool {
    r.headers_named("Vary").iter().flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
}

/// One request with `Accept-Encoding: ae` (none when None) and `extra` headers.
fn ask(server: &Server, method: &str, path: &str, ae: Option<&str>, extra: &[(&str, &str)]) -> Response {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = ae {
        headers.push(("Accept-Encoding", a));
    }
    headers.extend_from_slice(extra);
    fetch(server.addr(), method, path, &headers)
}

/// The body decoded according to its Content-Encoding (identity when there is none).
fn decoded(r: &Response, what: &str) -> Vec<u8> {
    decode(r.header("Content-Encoding"), &r.body, what)
}

fn decode(coding: Option<&str>, body: &[u8], what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(body),
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("{what}: not valid brotli: {e}"));
        }
        Some("zstd") => out = zstd::decode_all(body).unwrap_or_else(|e| panic!("{what}: not valid zstd: {e}")),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("{what}: not valid gzip: {e}"));
        }
        Some(other) => panic!("{what}: unexpected Content-Encoding {other:?}"),
    }
    out
}

/// Asserts `got == want` without printing megabytes: the lengths and the first difference.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes differ from the expected {} bytes, first at offset {at}", got.len(), want.len());
    }
}

/// Repeats `GET path` with `Accept-Encoding: ae` until the response has a Content-Encoding (the compressor
/// has made the forms), and returns that response. Every response must be a 200; the wait is
/// `COMPRESS_WAIT`.
fn until_encoded(server: &Server, path: &str, ae: &str) -> Response {
    let deadline = Instant::now() + COMPRESS_WAIT;
    let mut pause = Duration::from_millis(20);
    loop {
        let r = ask(server, "GET", path, Some(ae), &[]);
        expect_status(&r, 200, &format!("GET {path} AE={ae} while waiting for its compression"));
        if r.header("Content-Encoding").is_some() {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} AE={ae}: still no Content-Encoding after {COMPRESS_WAIT:?}; stderr:\n{}",
            server.stderr_text()
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// The entry files (`*.sdz`) in a cache directory, with their sizes; temporary files are left out.
fn entries(dir: &Path) -> Vec<(String, u64)> {
    let Ok(list) = fs::read_dir(dir) else {
        return Vec::new();
    };
    list.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().ok()?;
            (name.ends_with(".sdz") && meta.is_file()).then_some((name, meta.len()))
        })
        .collect()
}

/// CPU time the server's compressor has used so far (all its threads).
fn compressor_cpu(server: &Server) -> Duration {
    server.compressor_pids().into_iter().filter_map(cpu_time).sum()
}

/// The compressor's pid, once it has started (and renamed itself).
fn compressor_of(server: &Server) -> Vec<i32> {
    let mut pids = Vec::new();
    wait_until(LONG, || {
        pids = server.compressor_pids();
        !pids.is_empty()
    });
    assert!(!pids.is_empty(), "no compressor process in {:?}", server_tree(server.pid()));
    pids
}

/// The ETag a cached form of `coding` must carry: its own, ending in `-c1CODING"`.
fn assert_coding_etag(r: &Response, coding: &str, what: &str) {
    let tag = header(r, "ETag", what);
    assert_strong_etag(tag, what);
    assert!(tag.ends_with(&format!("-c1{coding}\"")), "{what}: ETag {tag:?} is not a cached {coding} form's");
}

// ---------------------------------------------------------------------------------------------------------
// 1. Every encoding decodes to the original

#[test]
fn each_encoding_decodes_to_the_original() {
    let site = TempRoot::new("z-each");
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("app.js", words(60 * KIB, 1)),
        ("style.css", words(9 * KIB, 2)),
        ("page.html", words(3 * KIB + 7, 3)),
        ("icon.svg", words(20 * KIB, 4)),
        ("data.json", words(1024, 5)),
    ];
    for (name, data) in &files {
        site.write(name, data);
    }
    let server = serve(&site, &[]);
    for (name, data) in &files {
        let path = format!("/{name}");
        let id = ask(&server, "GET", &path, None, &[]);
        expect_status(&id, 200, &format!("GET {path}"));
        assert_eq!(id.header("Content-Encoding"), None, "GET {path} without Accept-Encoding");
        assert!(has_vary_accept_encoding(&id), "GET {path}: identity of a compressible file without Vary");
        assert_same(&id.body, data, &format!("GET {path} identity"));
        let id_type = header(&id, "Content-Type", "identity").to_string();
        let id_tag = header(&id, "ETag", "identity").to_string();
        for coding in CODINGS {
            let what = format!("GET {path} AE={coding}");
            let r = until_encoded(&server, &path, coding);
            assert_eq!(r.header("Content-Encoding"), Some(coding), "{what}");
            assert_eq!(content_length(&r, &what), r.body.len() as u64, "{what}: Content-Length");
            assert!(
                r.body.len() < data.len(),
                "{what}: {} encoded bytes for {} bytes of text",
                r.body.len(),
                data.len()
            );
            assert_eq!(header(&r, "Content-Type", &what), id_type, "{what}: Content-Type differs from identity's");
            assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
            assert_file_headers(&r, &what);
            assert_coding_etag(&r, coding, &what);
            assert_ne!(header(&r, "ETag", &what), id_tag, "{what}: the identity's ETag");
            assert_same(&decoded(&r, &what), data, &format!("{what} decoded"));
            let h = ask(&server, "HEAD", &path, Some(coding), &[]);
            let hwhat = format!("HEAD {path} AE={coding}");
            expect_status(&h, 200, &hwhat);
            assert_eq!(h.header("Content-Encoding"), Some(coding), "{hwhat}");
            assert_eq!(content_length(&h, &hwhat), r.body.len() as u64, "{hwhat}");
            assert_eq!(h.header("ETag"), r.header("ETag"), "{hwhat}");
            assert!(h.body.is_empty(), "{hwhat}: a body");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// 2. The first request never waits

#[test]
fn the_first_request_gets_identity_at_once() {
    let site = TempRoot::new("z-first");
    let data = words(5 * MIB, 6);
    site.write("big.txt", &data);
    let server = serve(&site, &["--workers", "1"]);
    let cache = cache_of(&site);
    assert!(entries(&cache).is_empty(), "a fresh cache has entries: {:?}", entries(&cache));
    compressor_of(&server);
    let cpu_before = compressor_cpu(&server);

    let mut stream = server.connect();
    stream
        .write_all(b"GET /big.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nConnection: close\r\n\r\n")
        .expect("write");
    let (r, mut body) = read_head(&mut stream);
    // The head is here; had the worker compressed before answering, the entry would exist by now (three
    // encoders over 5 MiB take seconds, far longer than one head).
    let made_before_head = entries(&cache);
    expect_status(&r, 200, "first GET /big.txt");
    assert_eq!(r.header("Content-Encoding"), None, "the first request was made to wait for its compression");
    assert!(has_vary_accept_encoding(&r), "first GET /big.txt: no Vary");
    assert_eq!(content_length(&r, "first"), data.len() as u64);
    read_at_least(&mut stream, &mut body, data.len());
    assert_same(&body, &data, "first GET /big.txt");
    expect_clean_close(&mut stream, body.split_off(data.len()), "first GET /big.txt");
    assert!(
        made_before_head.is_empty(),
        "the compressed entry existed when the first response's head arrived: the response waited for it"
    );
    // The compression was queued by that request and runs now, after the response: the compressor works (a
    // second of CPU at least, or done). Its end is not awaited: in the debug build, niced, on a loaded
    // machine, 5 MiB can take minutes (the smaller files of the other tests show the forms arriving).
    let mut used = Duration::ZERO;
    let working = wait_until(COMPRESS_WAIT, || {
        used = compressor_cpu(&server).saturating_sub(cpu_before);
        used >= Duration::from_secs(1) || !entries(&cache).is_empty()
    });
    assert!(working, "the compressor used only {used:?} of CPU after the first request: nothing was queued");
    let r = ask(&server, "GET", "/big.txt", Some("br"), &[]);
    expect_status(&r, 200, "GET /big.txt AE=br while compressing");
    assert_same(&decoded(&r, "while compressing"), &data, "GET /big.txt AE=br while compressing");
}

// ---------------------------------------------------------------------------------------------------------
// 3. Negotiation

#[test]
fn negotiation_by_q_values() {
    let site = TempRoot::new("z-q");
    let data = words(40 * KIB, 7);
    site.write("app.js", &data);
    let server = serve(&site, &[]);
    until_encoded(&server, "/app.js", "br");
    let len = |coding: &str| until_encoded(&server, "/app.js", coding).body.len();
    let sizes: Vec<(&str, usize)> = CODINGS.iter().map(|c| (*c, len(c))).collect();
    let smallest_of = |allowed: &[&str]| -> &str {
        sizes.iter().filter(|(c, _)| allowed.contains(c)).min_by_key(|(_, n)| *n).map(|(c, _)| *c).unwrap()
    };
    let smallest = smallest_of(&CODINGS);
    let cases: Vec<(Option<&str>, Option<&str>)> = vec![
        (None, None),
        (Some(""), None),
        (Some("identity"), None),
        (Some("br"), Some("br")),
        (Some("zstd"), Some("zstd")),
        (Some("gzip"), Some("gzip")),
        (Some("x-gzip"), Some("gzip")),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("gzip;q=0.5, br;q=0.8"), Some("br")),
        (Some("br;q=0.5, gzip;q=0.8"), Some("gzip")),
        (Some("gzip;q=0.9, zstd"), Some("zstd")),
        (Some("*"), Some(smallest)),
        (Some("gzip, deflate, br, zstd"), Some(smallest)),
        (Some("zstd;q=0.5, gzip;q=0.5, br;q=0.5"), Some(smallest)),
        (Some("br;q=0, *"), Some(smallest_of(&["zstd", "gzip"]))),
        (Some("*;q=0.1, gzip;q=0.5"), Some("gzip")),
        (Some("identity;q=1, gzip;q=0.5"), None),
        (Some("zstd;q=0, br;q=0, gzip;q=0"), None),
        (Some("*;q=0"), None),
        (Some("deflate, compress"), None),
    ];
    for (ae, want) in cases {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} /app.js AE={ae:?}");
            let r = ask(&server, method, "/app.js", ae, &[]);
            expect_status(&r, 200, &what);
            assert_eq!(r.header("Content-Encoding"), want, "{what} (sizes {sizes:?})");
            assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
            match want {
                Some(coding) => assert_coding_etag(&r, coding, &what),
                None => assert_eq!(content_length(&r, &what), data.len() as u64, "{what}"),
            }
            if method == "GET" {
                assert_same(&decoded(&r, &what), &data, &what);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// 4. Ranges on the compressed bytes

#[test]
fn ranges_and_if_range_on_the_compressed_bytes() {
    let site = TempRoot::new("z-range");
    let data = words(50 * KIB, 8);
    site.write("app.js", &data);
    let server = serve(&site, &[]);
    let full = until_encoded(&server, "/app.js", "gzip");
    let gz = full.body.clone();
    let gz_tag = header(&full, "ETag", "gzip").to_string();
    let id_tag = header(&ask(&server, "GET", "/app.js", None, &[]), "ETag", "identity").to_string();
    assert!(gz.len() > 1000, "a gzip form of {} bytes is too short for these ranges", gz.len());

    for method in ["GET", "HEAD"] {
        let what = format!("{method} AE=gzip Range: bytes=10-99");
        let r = ask(&server, method, "/app.js", Some("gzip"), &[("Range", "bytes=10-99")]);
        expect_status(&r, 206, &what);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{what}");
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
        assert_eq!(header(&r, "Content-Range", &what), format!("bytes 10-99/{}", gz.len()), "{what}");
        assert_eq!(content_length(&r, &what), 90, "{what}");
        assert_eq!(header(&r, "ETag", &what), gz_tag, "{what}");
        if method == "GET" {
            assert!(r.body == gz[10..=99], "{what}: not bytes 10-99 of the gzip form");
        }
    }
    // A suffix range: the end of the gzip form (its CRC and length).
    let r = ask(&server, "GET", "/app.js", Some("gzip"), &[("Range", "bytes=-8")]);
    expect_status(&r, 206, "gzip Range: bytes=-8");
    assert!(r.body == gz[gz.len() - 8..], "gzip Range: bytes=-8");

    // If-Range: the gzip form's ETag keeps the range, the identity's gets the whole gzip form.
    let r = ask(&server, "GET", "/app.js", Some("gzip"), &[("Range", "bytes=10-99"), ("If-Range", &gz_tag)]);
    expect_status(&r, 206, "If-Range with the gzip ETag");
    assert!(r.body == gz[10..=99], "If-Range with the gzip ETag: wrong bytes");
    let r = ask(&server, "GET", "/app.js", Some("gzip"), &[("Range", "bytes=10-99"), ("If-Range", &id_tag)]);
    expect_status(&r, 200, "If-Range with the identity ETag");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"), "If-Range with the identity ETag");
    assert!(r.body == gz, "If-Range with the identity ETag: not the whole gzip form");

    // A multi-range over the gzip bytes.
    let r = ask(&server, "GET", "/app.js", Some("gzip"), &[("Range", "bytes=0-9,500-599,-20")]);
    expect_status(&r, 206, "gzip multi-range");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"), "gzip multi-range");
    assert!(has_vary_accept_encoding(&r), "gzip multi-range: no Vary");
    let parts = parse_multipart(&r);
    assert_eq!(parts.len(), 3, "gzip multi-range: parts");
    for p in &parts {
        assert_eq!(p.total, gz.len() as u64, "gzip multi-range: part total");
        assert!(p.body == gz[p.start as usize..=p.end as usize], "gzip multi-range: part {}-{}", p.start, p.end);
    }
    assert_eq!((parts[0].start, parts[1].start, parts[2].end), (0, 500, gz.len() as u64 - 1));

    // HEAD: the same head as GET, no body.
    let h = ask(&server, "HEAD", "/app.js", Some("gzip"), &[]);
    expect_status(&h, 200, "HEAD AE=gzip");
    assert!(h.body.is_empty());
    let comparable = |r: &Response| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> =
            r.headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("date")).cloned().collect();
        v.sort();
        v
    };
    assert_eq!(comparable(&h), comparable(&full), "HEAD and GET with AE=gzip differ in their heads");

    // Another encoding's ranges are on its own bytes.
    let r = ask(&server, "GET", "/app.js", Some("br"), &[("Range", "bytes=0-4")]);
    expect_status(&r, 206, "br Range: bytes=0-4");
    assert_eq!(r.header("Content-Encoding"), Some("br"));
    let br = until_encoded(&server, "/app.js", "br").body;
    assert!(r.body == br[..5], "br Range: bytes=0-4");
}

// ---------------------------------------------------------------------------------------------------------
// 5. A 304 per encoding

#[test]
fn not_modified_per_encoding() {
    let site = TempRoot::new("z-304");
    let data = words(30 * KIB, 9);
    site.write("app.js", &data);
    let server = serve(&site, &[]);
    let br = until_encoded(&server, "/app.js", "br");
    let br_tag = header(&br, "ETag", "br").to_string();
    let gz_tag = header(&until_encoded(&server, "/app.js", "gzip"), "ETag", "gzip").to_string();
    let id_tag = header(&ask(&server, "GET", "/app.js", None, &[]), "ETag", "identity").to_string();
    assert!(br_tag != id_tag && gz_tag != id_tag && br_tag != gz_tag, "ETags not distinct: {br_tag} {gz_tag} {id_tag}");

    for method in ["GET", "HEAD"] {
        let what = format!("{method} AE=br If-None-Match: br's ETag");
        let r = ask(&server, method, "/app.js", Some("br"), &[("If-None-Match", &br_tag)]);
        expect_status(&r, 304, &what);
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
        assert_eq!(header(&r, "ETag", &what), br_tag, "{what}");
        assert!(r.body.is_empty(), "{what}: a body");

        let what = format!("{method} AE=br If-None-Match: the identity's ETag");
        let r = ask(&server, method, "/app.js", Some("br"), &[("If-None-Match", &id_tag)]);
        expect_status(&r, 200, &what);
        assert_eq!(r.header("Content-Encoding"), Some("br"), "{what}");
        assert_eq!(header(&r, "ETag", &what), br_tag, "{what}");
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
        if method == "GET" {
            assert_same(&decoded(&r, &what), &data, &what);
        }

        let what = format!("{method} no AE, If-None-Match: br's ETag");
        let r = ask(&server, method, "/app.js", None, &[("If-None-Match", &br_tag)]);
        expect_status(&r, 200, &what);
        assert_eq!(r.header("Content-Encoding"), None, "{what}");
        assert_eq!(header(&r, "ETag", &what), id_tag, "{what}");
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
        if method == "GET" {
            assert_same(&r.body, &data, &what);
        }

        let what = format!("{method} AE=gzip If-None-Match: br's ETag");
        let r = ask(&server, method, "/app.js", Some("gzip"), &[("If-None-Match", &br_tag)]);
        expect_status(&r, 200, &what);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{what}");

        let what = format!("{method} AE=gzip If-None-Match: a list with gzip's ETag");
        let list = format!("\"nope\", {gz_tag}");
        let r = ask(&server, method, "/app.js", Some("gzip"), &[("If-None-Match", &list)]);
        expect_status(&r, 304, &what);
        assert_eq!(header(&r, "ETag", &what), gz_tag, "{what}");
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");

        let what = format!("{method} no AE If-None-Match: the identity's ETag");
        let r = ask(&server, method, "/app.js", None, &[("If-None-Match", &id_tag)]);
        expect_status(&r, 304, &what);
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
    }
}

// ---------------------------------------------------------------------------------------------------------
// 6. Never stale

/// Requests `path` with every Accept-Encoding until all three encodings are served, asserting that every
/// response (identity or encoded) decodes to `want`.
fn only_fresh_until_all_encoded(server: &Server, path: &str, want: &[u8], what: &str) {
    let deadline = Instant::now() + COMPRESS_WAIT;
    loop {
        let mut encoded = 0;
        for ae in [None, Some("br"), Some("zstd"), Some("gzip")] {
            let w = format!("{what}: GET {path} AE={ae:?}");
            let r = ask(server, "GET", path, ae, &[]);
            expect_status(&r, 200, &w);
            let got = decoded(&r, &w);
            assert_same(
                &got,
                want,
                &format!("{w} (Content-Encoding {:?}): stale or wrong", r.header("Content-Encoding")),
            );
            if let Some(coding) = r.header("Content-Encoding") {
                assert_eq!(Some(coding), ae, "{w}");
                encoded += 1;
            }
        }
        if encoded == 3 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {path} not served in all three encodings after {COMPRESS_WAIT:?}; stderr:\n{}",
            server.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mtime_of(path: &Path) -> SystemTime {
    fs::metadata(path).and_then(|m| m.modified()).expect("mtime")
}

/// Rewrites a file in place (same inode) and puts its old mtime back.
fn rewrite_keeping_mtime(path: &Path, data: &[u8]) {
    let old = mtime_of(path);
    fs::write(path, data).expect("rewrite");
    fs::File::options().write(true).open(path).and_then(|f| f.set_modified(old)).expect("set_modified");
    assert_eq!(mtime_of(path), old, "the mtime was not put back");
}

#[test]
fn a_changed_file_is_never_served_stale() {
    let site = TempRoot::new("z-stale");
    let len = 30 * KIB;
    let (old, new) = (words(len, 10), words(len, 11));
    let a = site.write("a.js", &old);
    let b = site.write("b.js", &old);
    let c = site.write("c.js", &old);
    let server = serve(&site, &[]);

    // a.js: rewritten with other text of the same size (the mtime moves on).
    only_fresh_until_all_encoded(&server, "/a.js", &old, "a.js before the change");
    fs::write(&a, &new).expect("rewrite a.js");
    only_fresh_until_all_encoded(&server, "/a.js", &new, "a.js rewritten, same size");

    // b.js: the same, with its old mtime put back: only the ctime tells the versions apart.
    only_fresh_until_all_encoded(&server, "/b.js", &old, "b.js before the change");
    rewrite_keeping_mtime(&b, &new);
    only_fresh_until_all_encoded(&server, "/b.js", &new, "b.js rewritten, same size and mtime");

    // c.js: changed while its first compression is queued (or running).
    let r = ask(&server, "GET", "/c.js", Some("br, zstd, gzip"), &[]);
    assert_same(&decoded(&r, "c.js first"), &old, "c.js first request");
    rewrite_keeping_mtime(&c, &new);
    only_fresh_until_all_encoded(&server, "/c.js", &new, "c.js rewritten while queued");

    // a.js once more, now replaced by a rename (a new inode), same size, old mtime.
    let old_mtime = mtime_of(&a);
    let tmp = site.write("a.js.new", &old);
    fs::File::options().write(true).open(&tmp).and_then(|f| f.set_modified(old_mtime)).expect("set_modified");
    fs::rename(&tmp, &a).expect("rename over a.js");
    only_fresh_until_all_encoded(&server, "/a.js", &old, "a.js replaced by rename");
}

// ---------------------------------------------------------------------------------------------------------
// 7. Precompressed siblings: a stale one is ignored, a current one served as shipped

fn gzip_of(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn set_age(path: &Path, seconds_ago: u64) {
    let when = SystemTime::now() - Duration::from_secs(seconds_ago);
    fs::File::options().write(true).open(path).and_then(|f| f.set_modified(when)).expect("set_modified");
}

#[test]
fn a_stale_sibling_is_ignored_and_a_current_one_served() {
    let site = TempRoot::new("z-sibling");
    let (current, old) = (words(20 * KIB, 12), words(20 * KIB, 13));
    // app.js was edited after its .gz was built: the .gz holds the old text.
    site.write("app.js", &current);
    let stale = gzip_of(&old);
    let stale_path = site.write("app.js.gz", &stale);
    set_age(&stale_path, 3600);
    // lib.js's .gz was built after it: current, served byte for byte.
    let lib = words(20 * KIB, 14);
    let lib_path = site.write("lib.js", &lib);
    set_age(&lib_path, 3600);
    let shipped = gzip_of(&lib);
    site.write("lib.js.gz", &shipped);
    let server = serve(&site, &[]);

    let deadline = Instant::now() + COMPRESS_WAIT;
    loop {
        let r = ask(&server, "GET", "/app.js", Some("gzip"), &[]);
        expect_status(&r, 200, "GET /app.js AE=gzip");
        assert!(r.body != stale, "GET /app.js AE=gzip: served the stale app.js.gz");
        assert!(has_vary_accept_encoding(&r), "GET /app.js AE=gzip: no Vary");
        assert_same(&decoded(&r, "app.js"), &current, "GET /app.js AE=gzip: not the current text");
        if r.header("Content-Encoding").is_some() {
            assert_coding_etag(&r, "gzip", "GET /app.js AE=gzip, compressed");
            break;
        }
        assert!(Instant::now() < deadline, "app.js never compressed; stderr:\n{}", server.stderr_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The other encodings are the current text too.
    for coding in ["br", "zstd"] {
        let r = until_encoded(&server, "/app.js", coding);
        assert_same(&decoded(&r, coding), &current, &format!("GET /app.js AE={coding}"));
    }

    // The current sibling: the same shipped bytes every time, also after a compression would have had time.
    for round in 0..10 {
        let what = format!("GET /lib.js AE=gzip (round {round})");
        let r = ask(&server, "GET", "/lib.js", Some("gzip"), &[]);
        expect_status(&r, 200, &what);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{what}");
        assert!(r.body == shipped, "{what}: not the shipped lib.js.gz");
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------------------
// 8. The cache bound

#[test]
fn the_cache_stays_within_its_size() {
    let site = TempRoot::new("z-bound");
    let files: Vec<(String, Vec<u8>)> =
        (0..40).map(|i| (format!("/f{i:02}.txt"), words(120 * KIB, 100 + i as u64))).collect();
    for (path, data) in &files {
        site.write(&path[1..], data);
    }
    let server = serve(&site, &["--compress-cache-size", "1M"]);
    let cache = cache_of(&site);
    let bound = MIB as u64;
    let mut made = 0u64;
    let mut compressed = 0;
    // Until the compressor has made twice what fits (about 16 files; the rest are spare).
    for (path, data) in &files {
        if made > 2 * bound {
            break;
        }
        compressed += 1;
        let br = until_encoded(&server, path, "br");
        assert_same(&decoded(&br, path), data, &format!("GET {path} AE=br"));
        // One entry holds the three forms behind a 64-byte header.
        made += 64 + br.body.len() as u64;
        for coding in ["zstd", "gzip"] {
            let r = ask(&server, "GET", path, Some(coding), &[]);
            expect_status(&r, 200, &format!("GET {path} AE={coding}"));
            made += r.body.len() as u64;
        }
    }
    assert!(made > 2 * bound, "all {compressed} files compressed to only {made} bytes, not twice the bound");
    let mut total = 0;
    let held = wait_until(LONG, || {
        total = entries(&cache).iter().map(|(_, n)| n).sum::<u64>();
        total <= bound
    });
    assert!(
        held,
        "after compressing {made} bytes, the cache's entries hold {total} bytes, more than --compress-cache-size \
         1M ({bound}): {:?}",
        entries(&cache)
    );
    assert!(entries(&cache).len() < compressed, "nothing was evicted");
    // The most recently used entry is still there.
    let (last, data) = &files[compressed - 1];
    let r = ask(&server, "GET", last, Some("br"), &[]);
    assert_eq!(r.header("Content-Encoding"), Some("br"), "the newest entry was evicted");
    assert_same(&decoded(&r, last), data, last);
}

// ---------------------------------------------------------------------------------------------------------
// 9. A restart reuses the cache

#[test]
fn a_restart_reuses_the_cache() {
    let site = TempRoot::new("z-restart");
    let data = words(40 * KIB, 15);
    site.write("app.js", &data);
    let mut first = serve(&site, &[]);
    let before = until_encoded(&first, "/app.js", "br");
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit(LONG).is_some(), "the first server did not stop on SIGTERM");
    drop(first);
    assert!(!entries(&cache_of(&site)).is_empty(), "no entry left in the cache after the stop");

    let second = serve(&site, &[]);
    let r = ask(&second, "GET", "/app.js", Some("br"), &[]);
    expect_status(&r, 200, "first GET after the restart");
    assert_eq!(
        r.header("Content-Encoding"),
        Some("br"),
        "the first request after a restart was not served from the cache"
    );
    assert!(r.body == before.body, "the br form after the restart differs from the one before");
    assert_eq!(r.header("ETag"), before.header("ETag"), "the br ETag changed across the restart");
    assert_same(&decoded(&r, "after restart"), &data, "br after the restart");
}

// ---------------------------------------------------------------------------------------------------------
// 10. Other connections are served while a large file is compressed

#[test]
fn a_worker_answers_others_while_a_large_file_is_compressed() {
    let site = TempRoot::new("z-busy");
    let big = words(20 * MIB, 16);
    site.write("big.js", &big);
    site.write("small.txt", b"small and quick\n");
    let server = serve(&site, &["--workers", "1"]);
    compressor_of(&server);
    let cpu_before = compressor_cpu(&server);

    let started = Instant::now();
    let mut stream = server.connect();
    stream
        .write_all(b"GET /big.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, zstd, gzip\r\nConnection: close\r\n\r\n")
        .expect("write");
    let (r, buffered) = read_head(&mut stream);
    let head_took = started.elapsed();
    expect_status(&r, 200, "GET /big.js");
    assert_eq!(r.header("Content-Encoding"), None, "GET /big.js: the first request waited for its compression");
    assert!(head_took < Duration::from_secs(5), "the first response's head took {head_took:?}");
    // Read the big identity body on the side while the small requests go.
    let drain = std::thread::spawn(move || {
        let mut body = buffered;
        read_at_least(&mut stream, &mut body, 20 * MIB);
        body
    });

    let mut conn = server.connect();
    let mut buf = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    let busy_until = Instant::now() + Duration::from_secs(30);
    // At least 200, and on until the compressor has visibly worked meanwhile (it is niced: on a loaded
    // machine its first CPU tick may take a while).
    while n < 200 || (compressor_cpu(&server) <= cpu_before && Instant::now() < busy_until) {
        let t = Instant::now();
        conn.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
        let r = read_response(&mut conn, &mut buf, false).unwrap_or_else(|e| panic!("small request {n}: {e}"));
        let took = t.elapsed();
        expect_status(&r, 200, &format!("small request {n}"));
        assert_eq!(r.body, b"small and quick\n", "small request {n}");
        assert!(took < Duration::from_secs(2), "small request {n} took {took:?} while big.js was compressed");
        slowest = slowest.max(took);
        n += 1;
    }
    let worked = compressor_cpu(&server) > cpu_before || !entries(&cache_of(&site)).is_empty();
    assert!(worked, "the compressor never worked on big.js (found {:?})", server.compressor_pids());
    let body = drain.join().expect("the big body");
    assert_same(&body[..20 * MIB], &big, "GET /big.js identity");
    eprintln!("{n} small requests while big.js was compressed, the slowest {slowest:?}");
}

// ---------------------------------------------------------------------------------------------------------
// 11. A full cache directory

#[test]
fn a_full_cache_directory_leaves_serving_intact() {
    if !require_root("mounting a tiny tmpfs as the cache directory") {
        return;
    }
    let site = TempRoot::new("z-tmpfs");
    // Its three forms (about 650 KB together) cannot fit in 256 KiB.
    let big = words(600 * KIB, 17);
    site.write("big.txt", &big);
    let small = words(8 * KIB, 18);
    site.write("small.js", &small);
    let mount_point = site.beside("ztiny");
    // Declared before the server, so dropped after it: the server is gone when the mount goes.
    let Some(_mount) = Tmpfs::mount(&mount_point, "256k") else { return };
    // A directory staticd makes on the tmpfs, so that it belongs to the workers' user.
    let cache = mount_point.join("cache");
    let server = site.serve(&["--workers", "1", "--compress-cache", cache.to_str().expect("UTF-8 path")]);
    let zips = compressor_of(&server);

    // The compressor's warning names the cache and the errno's text (the test's paths hold neither).
    let is_warning = |l: &str| {
        let l = l.to_ascii_lowercase();
        l.contains("cache") && l.contains("no space left on device")
    };
    let deadline = Instant::now() + COMPRESS_WAIT;
    let mut requests = 0;
    while server.stderr_count(is_warning) == 0 {
        let what = format!("GET /big.txt AE=br,zstd,gzip with a full cache (request {requests})");
        let r = ask(&server, "GET", "/big.txt", Some("br, zstd, gzip"), &[]);
        expect_status(&r, 200, &what);
        assert_same(&decoded(&r, &what), &big, &what);
        requests += 1;
        assert!(
            Instant::now() < deadline,
            "no warning about the full cache after {COMPRESS_WAIT:?}; stderr:\n{}",
            server.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still serving, the compressor still the same process, and no partial entry left behind.
    for i in 0..20 {
        let what = format!("GET /big.txt after the warning ({i})");
        let r = ask(&server, "GET", "/big.txt", Some("br, zstd, gzip"), &[]);
        expect_status(&r, 200, &what);
        assert_same(&decoded(&r, &what), &big, &what);
    }
    for pid in &zips {
        assert!(pid_alive(*pid), "compressor {pid} died with a full cache; stderr:\n{}", server.stderr_text());
    }
    let temp_files = || -> Vec<String> {
        fs::read_dir(&cache)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !n.ends_with(".sdz"))
            .collect()
    };
    assert!(wait_until(LONG, || temp_files().is_empty()), "files left in the full cache: {:?}", temp_files());
    // The failed entry's space was given back: a small file still gets compressed into the same directory.
    let r = until_encoded(&server, "/small.js", "gzip");
    assert_same(&decoded(&r, "small.js"), &small, "GET /small.js AE=gzip after the cache was full");
    for pid in &zips {
        assert!(pid_alive(*pid), "compressor {pid} died; stderr:\n{}", server.stderr_text());
    }
}

// ---------------------------------------------------------------------------------------------------------
// 12. --no-compress

#[test]
fn no_compress_turns_it_off() {
    let site = TempRoot::new("z-off");
    let data = words(30 * KIB, 19);
    site.write("app.js", &data);
    let lib = words(30 * KIB, 20);
    let lib_path = site.write("lib.js", &lib);
    set_age(&lib_path, 3600);
    let shipped = gzip_of(&lib);
    site.write("lib.js.gz", &shipped);
    let server = site.serve(&["--no-compress"]);
    for round in 0..10 {
        for ae in ["br", "zstd", "gzip", "*", "gzip, deflate, br, zstd"] {
            for method in ["GET", "HEAD"] {
                let what = format!("{method} /app.js --no-compress AE={ae} (round {round})");
                let r = ask(&server, method, "/app.js", Some(ae), &[]);
                expect_status(&r, 200, &what);
                assert_eq!(r.header("Content-Encoding"), None, "{what}");
                assert!(!has_vary_accept_encoding(&r), "{what}: Vary on a file with no other form");
                assert_eq!(content_length(&r, &what), data.len() as u64, "{what}");
                if method == "GET" {
                    assert_same(&r.body, &data, &what);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // A shipped sibling is still served.
    let r = ask(&server, "GET", "/lib.js", Some("gzip"), &[]);
    expect_status(&r, 200, "GET /lib.js AE=gzip --no-compress");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert!(r.body == shipped, "GET /lib.js AE=gzip --no-compress: not the shipped lib.js.gz");
    assert!(has_vary_accept_encoding(&r));
    // Only gzip is shipped: br gets identity.
    let r = ask(&server, "GET", "/lib.js", Some("br"), &[]);
    assert_eq!(r.header("Content-Encoding"), None, "GET /lib.js AE=br --no-compress");
    assert_same(&r.body, &lib, "GET /lib.js AE=br --no-compress");
}
