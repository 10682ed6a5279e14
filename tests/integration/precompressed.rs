//! Integration tests for precompressed variants (issue 4): `name.br` / `name.gz` beside `name` are chosen by
//! Accept-Encoding with q-values, served with Content-Encoding, the original's Content-Type, their own ETag
//! and `Vary: Accept-Encoding` (on every response for such a file), ranges apply to the encoded bytes, and
//! `--no-precompressed` turns it all off.
//!
//! The variant files hold distinct marker bytes rather than real compressed data: the server must pick and
//! send them, never decode them, so the bytes on the wire tell which one was chosen.

use crate::support::*;

const JS: &[u8] = b"console.log('identity variant of app.js');\n";

struct Fixture {
    _site: TempRoot,
    server: Server,
    br: Vec<u8>,
    gz: Vec<u8>,
    css_gz: Vec<u8>,
}

fn site(tag: &str) -> (TempRoot, Vec<u8>, Vec<u8>, Vec<u8>) {
    let site = TempRoot::new(tag);
    let br = pattern(3000, 21);
    let gz = pattern(4000, 22);
    let css_gz = pattern(500, 23);
    site.write("app.js", JS);
    site.write("app.js.br", &br);
    site.write("app.js.gz", &gz);
    site.write("style.css", b"body { color: black }\n");
    site.write("style.css.gz", &css_gz);
    site.write("plain.txt", b"no variants here\n");
    site.write("dir/index.html", b"<p>index</p>\n");
    site.write("dir/index.html.gz", b"gzipped index marker");
    (site, br, gz, css_gz)
}

fn fixture(tag: &str, args: &[&str]) -> Fixture {
    let (site, br, gz, css_gz) = site(tag);
    let server = site.serve(args);
    Fixture { _site: site, server, br, gz, css_gz }
}

fn has_vary_accept_encoding(r: &Response) -> bool {
    r.headers_named("Vary").iter().flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
}

fn ae(fx: &Fixture, method: &str, path: &str, accept: Option<&str>, extra: &[(&str, &str)]) -> Response {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = accept {
        headers.push(("Accept-Encoding", a));
    }
    headers.extend_from_slice(extra);
    fetch(fx.server.addr(), method, path, &headers)
}

#[test]
fn accept_encoding_negotiation_with_q_values() {
    let fx = fixture("precomp-negotiate", &[]);
    // (Accept-Encoding, expected coding: "br", "gzip" or "" for identity)
    let cases: &[(Option<&str>, &str)] = &[
        (None, ""),
        (Some(""), ""),
        (Some("identity"), ""),
        (Some("gzip"), "gzip"),
        (Some("x-gzip"), "gzip"),
        (Some("GZIP"), "gzip"),
        (Some("br"), "br"),
        (Some("gzip, br"), "br"),
        (Some("br, gzip"), "br"),
        (Some("gzip, deflate, br, zstd"), "br"),
        (Some("gzip;q=1.0, br;q=0.5"), "gzip"),
        (Some("br;q=0.5, gzip;q=0.8"), "gzip"),
        (Some("br;q=0.8, gzip;q=0.5"), "br"),
        (Some("br;q=0, gzip"), "gzip"),
        (Some("br; q=0 , gzip ; q=0.001"), "gzip"),
        (Some("br;q=0, gzip;q=0"), ""),
        (Some("gzip;q=0"), ""),
        (Some("br;q=0.000"), ""),
        (Some("*"), "br"),
        (Some("*;q=0"), ""),
        (Some("gzip;q=0, *"), "br"),
        (Some("br;q=0, *"), "gzip"),
        (Some("*;q=0.5, gzip"), "gzip"),
        (Some("deflate, compress"), ""),
        (Some("br;q=0.5, gzip;q=0.5"), "br"),
        (Some("Br;Q=0.9, gzip;q=0.1"), "br"),
    ];
    for (accept, want) in cases {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} /app.js Accept-Encoding: {accept:?}");
            let r = ae(&fx, method, "/app.js", *accept, &[]);
            expect_status(&r, 200, &what);
            assert!(has_vary_accept_encoding(&r), "{what}: no Vary: Accept-Encoding");
            assert_eq!(
                header(&r, "Content-Type", &what),
                "text/javascript; charset=utf-8",
                "{what}: variant must keep the original's type"
            );
            assert_file_headers(&r, &what);
            let (coding, body): (Option<&str>, &[u8]) = match *want {
                "br" => (Some("br"), &fx.br),
                "gzip" => (Some("gzip"), &fx.gz),
                _ => (None, JS),
            };
            assert_eq!(r.header("Content-Encoding"), coding, "{what}");
            assert_eq!(content_length(&r, &what), body.len() as u64, "{what}");
            if method == "GET" {
                assert!(r.body == body, "{what}: wrong variant bytes");
            }
        }
    }
}

#[test]
fn each_variant_has_its_own_etag() {
    let fx = fixture("precomp-etag", &[]);
    let id = ae(&fx, "GET", "/app.js", None, &[]);
    let gz = ae(&fx, "GET", "/app.js", Some("gzip"), &[]);
    let br = ae(&fx, "GET", "/app.js", Some("br"), &[]);
    let tags: Vec<&str> = [&id, &gz, &br].iter().map(|r| header(r, "ETag", "variant etag")).collect();
    assert_ne!(tags[0], tags[1], "identity and gzip share an ETag");
    assert_ne!(tags[0], tags[2], "identity and br share an ETag");
    assert_ne!(tags[1], tags[2], "gzip and br share an ETag");
    // A 304 for the variant that was negotiated, carrying Vary; a tag of another variant → 200.
    for (accept, tag, want) in [
        (Some("gzip"), tags[1], 304),
        (Some("br"), tags[2], 304),
        (None, tags[0], 304),
        (Some("gzip"), tags[0], 200),
        (None, tags[1], 200),
        (Some("br"), tags[1], 200),
    ] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} AE={accept:?} INM={tag}");
            let r = ae(&fx, method, "/app.js", accept, &[("If-None-Match", tag)]);
            expect_status(&r, want, &what);
            assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
            if want == 304 {
                assert_eq!(header(&r, "ETag", &what), tag, "{what}");
                assert!(r.body.is_empty());
            }
        }
    }
}

#[test]
fn ranges_apply_to_the_encoded_bytes() {
    let fx = fixture("precomp-range", &[]);
    for method in ["GET", "HEAD"] {
        let what = format!("{method} gzip Range 100-199");
        let r = ae(&fx, method, "/app.js", Some("gzip"), &[("Range", "bytes=100-199")]);
        expect_status(&r, 206, &what);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{what}");
        assert!(has_vary_accept_encoding(&r), "{what}");
        assert_eq!(header(&r, "Content-Range", &what), format!("bytes 100-199/{}", fx.gz.len()));
        if method == "GET" {
            assert!(r.body == fx.gz[100..200], "{what}");
        }
    }
    // A suffix range of the br variant.
    let r = ae(&fx, "GET", "/app.js", Some("br"), &[("Range", "bytes=-10")]);
    expect_status(&r, 206, "br suffix");
    assert_eq!(
        header(&r, "Content-Range", "br suffix"),
        format!("bytes {}-{}/{}", fx.br.len() - 10, fx.br.len() - 1, fx.br.len())
    );
    assert!(r.body == fx.br[fx.br.len() - 10..]);
    // Multi-range over the encoded bytes.
    let r = ae(&fx, "GET", "/app.js", Some("br"), &[("Range", "bytes=0-9,2000-2009")]);
    expect_status(&r, 206, "br multi");
    let parts = parse_multipart(&r);
    assert_eq!(parts.len(), 2);
    for p in &parts {
        assert_eq!(p.total, fx.br.len() as u64);
        assert!(p.body == fx.br[p.start as usize..=p.end as usize]);
    }
    // Past the identity length but inside the gzip length: satisfiable only for the variant.
    let start = JS.len() + 10;
    let range = format!("bytes={start}-{}", start + 9);
    let r = ae(&fx, "GET", "/app.js", Some("gzip"), &[("Range", range.as_str())]);
    expect_status(&r, 206, "gzip range past the identity length");
    assert!(r.body == fx.gz[start..start + 10]);
    let r = ae(&fx, "GET", "/app.js", None, &[("Range", range.as_str())]);
    expect_status(&r, 416, "identity range past its length");
    assert_eq!(header(&r, "Content-Range", "416"), format!("bytes */{}", JS.len()));
    // If-Range with the variant's ETag.
    let gz_tag = header(&ae(&fx, "GET", "/app.js", Some("gzip"), &[]), "ETag", "gz").to_string();
    let r = ae(&fx, "GET", "/app.js", Some("gzip"), &[("Range", "bytes=0-4"), ("If-Range", gz_tag.as_str())]);
    expect_status(&r, 206, "If-Range with the gzip ETag");
    assert!(r.body == fx.gz[..5]);
}

#[test]
fn only_the_variants_present_are_offered() {
    let fx = fixture("precomp-partial", &[]);
    // style.css has only a .gz.
    for (accept, gz) in [(Some("br, gzip"), true), (Some("br"), false), (Some("*"), true), (None, false)] {
        let what = format!("/style.css AE={accept:?}");
        let r = ae(&fx, "GET", "/style.css", accept, &[]);
        expect_status(&r, 200, &what);
        assert!(has_vary_accept_encoding(&r), "{what}: no Vary");
        assert_eq!(header(&r, "Content-Type", &what), "text/css; charset=utf-8");
        if gz {
            assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{what}");
            assert!(r.body == fx.css_gz, "{what}");
        } else {
            assert_eq!(r.header("Content-Encoding"), None, "{what}");
            assert_eq!(r.body, b"body { color: black }\n", "{what}");
        }
    }
    // A file without variants is served as is.
    let r = ae(&fx, "GET", "/plain.txt", Some("br, gzip"), &[]);
    expect_status(&r, 200, "plain");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.body, b"no variants here\n");
    // A directory index with a variant.
    let r = ae(&fx, "GET", "/dir/", Some("gzip"), &[]);
    expect_status(&r, 200, "/dir/ gzip");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.body, b"gzipped index marker");
    assert_eq!(header(&r, "Content-Type", "/dir/"), "text/html; charset=utf-8");
    // Asking for the .gz file by name gets the file itself, never a Content-Encoding that would make a
    // client decode it.
    let r = ae(&fx, "GET", "/app.js.gz", Some("gzip"), &[]);
    expect_status(&r, 200, "/app.js.gz by name");
    assert!(r.body == fx.gz);
    assert_ne!(r.header("Content-Encoding"), Some("gzip"), "/app.js.gz by name");
}

#[test]
fn no_precompressed_turns_it_off() {
    let fx = fixture("precomp-off", &["--no-precompressed"]);
    for accept in ["br", "gzip", "br, gzip", "*"] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} --no-precompressed AE={accept}");
            let r = ae(&fx, method, "/app.js", Some(accept), &[]);
            expect_status(&r, 200, &what);
            assert_eq!(r.header("Content-Encoding"), None, "{what}");
            assert_eq!(content_length(&r, &what), JS.len() as u64);
            if method == "GET" {
                assert_eq!(r.body, JS, "{what}");
            }
        }
    }
    let r = ae(&fx, "GET", "/app.js", Some("gzip"), &[("Range", "bytes=0-6")]);
    expect_status(&r, 206, "range --no-precompressed");
    assert_eq!(r.body, &JS[..7]);
}

#[test]
fn cache_control_and_vary_on_variants() {
    let fx = fixture("precomp-cache", &["--cache-control", "max-age=31536000"]);
    for accept in [None, Some("gzip"), Some("br")] {
        let r = ae(&fx, "GET", "/app.js", accept, &[]);
        assert_eq!(r.header("Cache-Control"), Some("max-age=31536000"), "{accept:?}");
        assert!(has_vary_accept_encoding(&r));
        let tag = header(&r, "ETag", "tag").to_string();
        let r = ae(&fx, "GET", "/app.js", accept, &[("If-None-Match", tag.as_str())]);
        expect_status(&r, 304, "304 variant");
        assert_eq!(r.header("Cache-Control"), Some("max-age=31536000"), "304 {accept:?}");
        assert!(has_vary_accept_encoding(&r), "304 {accept:?}");
    }
}

/// (method, Accept-Encoding, extra headers, expected status)
type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>, u16);

#[test]
fn every_response_for_a_file_with_variants_has_vary() {
    let fx = fixture("precomp-vary", &[]);
    let id_tag = header(&ae(&fx, "GET", "/app.js", None, &[]), "ETag", "id").to_string();
    let cases: Vec<Case> = vec![
        ("GET", None, vec![], 200),
        ("HEAD", Some("gzip"), vec![], 200),
        ("GET", Some("br"), vec![("Range", "bytes=0-1")], 206),
        ("GET", None, vec![("Range", "bytes=0-1,4-5")], 206),
        ("GET", None, vec![("If-None-Match", id_tag.as_str())], 304),
        ("GET", None, vec![("If-Match", "\"nope\"")], 412),
        ("GET", Some("gzip"), vec![("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")], 412),
        ("GET", None, vec![("Range", "bytes=100000-")], 416),
        ("HEAD", Some("br"), vec![("Range", "bytes=100000-")], 416),
    ];
    let mut missing = Vec::new();
    for (method, accept, extra, want) in cases {
        let what = format!("{method} AE={accept:?} {extra:?}");
        let r = ae(&fx, method, "/app.js", accept, &extra);
        expect_status(&r, want, &what);
        if !has_vary_accept_encoding(&r) {
            missing.push(format!("{what} -> {} headers={:?}", r.status, r.headers));
        }
    }
    assert!(missing.is_empty(), "responses without Vary: Accept-Encoding:\n{}", missing.join("\n"));
}
