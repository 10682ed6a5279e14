//! Integration tests for byte ranges (issue 4, RFC 9110 §14): single ranges in every form, clamping, numbers
//! past u64, 416 with `bytes */LEN`, ignored invalid headers, multipart/byteranges bodies parsed back and
//! compared byte for byte (with merging and the 32-range and overlap-flood limits), If-Range, and HEAD.

use crate::support::*;

const LEN: usize = 10_000;
const MTIME: u64 = 1_000_000_000;
const LM: &str = "Sun, 09 Sep 2001 01:46:40 GMT";

struct Fixture {
    _site: TempRoot,
    server: Server,
    data: Vec<u8>,
    etag: String,
}

fn fixture(tag: &str) -> Fixture {
    let site = TempRoot::new(tag);
    let data = pattern(LEN, 11);
    let path = site.write("data.txt", &data);
    set_mtime(&path, MTIME, 0);
    site.write("empty.txt", b"");
    // Ranges of one representation; the forms compression adds (and what If-Range dates mean for them) are
    // tested below and in compression.rs.
    let server = site.serve(&["--no-compress"]);
    let r = get(server.addr(), "/data.txt");
    expect_status(&r, 200, "/data.txt");
    let etag = header(&r, "ETag", "etag").to_string();
    Fixture { _site: site, server, data, etag }
}

fn ranged(fx: &Fixture, method: &str, range: &str, extra: &[(&str, &str)]) -> Response {
    let mut headers = vec![("Range", range)];
    headers.extend_from_slice(extra);
    fetch(fx.server.addr(), method, "/data.txt", &headers)
}

/// Asserts a single-part 206 for [start, end] on both GET and HEAD.
fn expect_single(fx: &Fixture, range: &str, start: u64, end: u64) {
    for method in ["GET", "HEAD"] {
        let what = format!("{method} Range: {range}");
        let r = ranged(fx, method, range, &[]);
        expect_status(&r, 206, &what);
        assert_eq!(header(&r, "Content-Range", &what), format!("bytes {start}-{end}/{LEN}"), "{what}");
        assert_eq!(content_length(&r, &what), end - start + 1, "{what}");
        assert_file_headers(&r, &what);
        assert_eq!(header(&r, "ETag", &what), fx.etag, "{what}");
        // The fixture is pseudo-random bytes, not UTF-8, so the text type declares no charset.
        assert_eq!(header(&r, "Content-Type", &what), "text/plain", "{what}");
        if method == "GET" {
            assert!(
                r.body == fx.data[start as usize..=end as usize],
                "{what}: body is not bytes {start}-{end} of the file"
            );
        } else {
            assert!(r.body.is_empty());
        }
    }
}

fn expect_whole(fx: &Fixture, range: &str) {
    for method in ["GET", "HEAD"] {
        let what = format!("{method} Range: {range}");
        let r = ranged(fx, method, range, &[]);
        expect_status(&r, 200, &what);
        assert_eq!(r.header("Content-Range"), None, "{what}");
        assert_eq!(content_length(&r, &what), LEN as u64, "{what}");
        if method == "GET" {
            assert!(r.body == fx.data, "{what}: not the whole file");
        }
    }
}

fn expect_416(fx: &Fixture, path: &str, range: &str, len: usize) {
    for method in ["GET", "HEAD"] {
        let what = format!("{method} {path} Range: {range}");
        let r = fetch(fx.server.addr(), method, path, &[("Range", range)]);
        expect_status(&r, 416, &what);
        assert_eq!(header(&r, "Content-Range", &what), format!("bytes */{len}"), "{what}");
        assert!(find(&r.body, &fx.data[..64]).is_none(), "{what}: file bytes in a 416");
    }
}

#[test]
fn single_ranges() {
    let fx = fixture("range-single");
    let cases: &[(&str, u64, u64)] = &[
        ("bytes=0-99", 0, 99),
        ("bytes=0-0", 0, 0),
        ("bytes=1234-5677", 1234, 5677),
        ("bytes=9999-9999", 9999, 9999),
        ("bytes=-500", 9500, 9999),
        ("bytes=-1", 9999, 9999),
        ("bytes=9500-", 9500, 9999),
        ("bytes=0-", 0, 9999),
        // Clamping an end past EOF, and a suffix longer than the file.
        ("bytes=9990-20000", 9990, 9999),
        ("bytes=-20000", 0, 9999),
        ("bytes=-10000", 0, 9999),
        // Numbers too large for u64 never wrap.
        ("bytes=5-99999999999999999999999999", 5, 9999),
        ("bytes=0-18446744073709551615", 0, 9999),
        ("bytes=0-18446744073709551616", 0, 9999),
        ("bytes=-99999999999999999999999999", 0, 9999),
        ("bytes=-18446744073709551617", 0, 9999),
        // Unit case-insensitive, optional whitespace around the range.
        ("Bytes=10-19", 10, 19),
        ("BYTES=10-19", 10, 19),
        ("bytes= 10-19 ", 10, 19),
        // An unsatisfiable member next to a satisfiable one leaves a single range.
        ("bytes=20000-30000, 0-9", 0, 9),
        // Overlapping/adjacent members merge into one.
        ("bytes=0-99,100-199", 0, 199),
        ("bytes=0-99,50-149", 0, 149),
        ("bytes=100-199,0-99", 0, 199),
        ("bytes=0-9,5-5,2-7", 0, 9),
    ];
    for (range, start, end) in cases {
        expect_single(&fx, range, *start, *end);
    }
}

#[test]
fn unsatisfiable_ranges_are_416() {
    let fx = fixture("range-416");
    for range in [
        "bytes=10000-",
        "bytes=10000-10005",
        "bytes=20000-30000",
        "bytes=-0",
        "bytes=99999999999999999999999999-",
        "bytes=18446744073709551615-18446744073709551615",
        "bytes=10000-,20000-",
        "bytes=-0,10000-",
    ] {
        expect_416(&fx, "/data.txt", range, LEN);
    }
    // An empty file satisfies no range.
    for range in ["bytes=0-", "bytes=0-0", "bytes=-1"] {
        expect_416(&fx, "/empty.txt", range, 0);
    }
}

#[test]
fn invalid_range_headers_are_ignored() {
    let fx = fixture("range-invalid");
    for range in [
        "bytes=abc",
        "bytes=5-1",
        "bytes=",
        "bytes",
        "bytes 0-1",
        "bytes=--1",
        "bytes=1-2-3",
        "bytes=0x10-20",
        "bytes=+1-2",
        "bytes=1--2",
        "bytes=-",
        "bytes=0-1;2-3",
        "bytes=0-1,x",
        "items=0-1",
        "none",
        "=0-1",
        "bytes=0-1,5-1",
    ] {
        expect_whole(&fx, range);
    }
}

#[test]
fn multipart_ranges_are_parsed_back_byte_for_byte() {
    let fx = fixture("range-multi");
    let cases: &[(&str, &[(u64, u64)])] = &[
        ("bytes=0-99,200-299", &[(0, 99), (200, 299)]),
        ("bytes=0-0,9999-9999", &[(0, 0), (9999, 9999)]),
        ("bytes=-100,0-99", &[(0, 99), (9900, 9999)]),
        ("bytes=500-599,0-99", &[(0, 99), (500, 599)]),
        ("bytes=0-99, 50-149 ,500-599", &[(0, 149), (500, 599)]),
        ("bytes=0-99,100-199,300-399", &[(0, 199), (300, 399)]),
        ("bytes=9000-,100-199", &[(100, 199), (9000, 9999)]),
        ("bytes=1-1,3-3,5-5", &[(1, 1), (3, 3), (5, 5)]),
        ("bytes=10-19,9990-20000", &[(10, 19), (9990, 9999)]),
        ("bytes=0-9,20000-,30-39", &[(0, 9), (30, 39)]),
    ];
    let mut boundaries = Vec::new();
    for (range, want) in cases {
        let what = format!("GET Range: {range}");
        let r = ranged(&fx, "GET", range, &[]);
        expect_status(&r, 206, &what);
        assert_eq!(r.header("Content-Range"), None, "{what}: top-level Content-Range");
        assert_eq!(content_length(&r, &what), r.body.len() as u64);
        assert_eq!(header(&r, "ETag", &what), fx.etag);
        assert_eq!(header(&r, "Accept-Ranges", &what), "bytes");
        boundaries.push(boundary_of(&r));
        let parts = parse_multipart(&r);
        let got: Vec<(u64, u64)> = parts.iter().map(|p| (p.start, p.end)).collect();
        assert_eq!(got, *want, "{what}: parts");
        for p in &parts {
            assert_eq!(p.total, LEN as u64, "{what}");
            assert_eq!(p.content_type.as_deref(), Some("text/plain"), "{what}: part Content-Type");
            assert!(
                p.body == fx.data[p.start as usize..=p.end as usize],
                "{what}: part {}-{} differs from the file",
                p.start,
                p.end
            );
        }
        // HEAD: same status and Content-Length, no body.
        let h = ranged(&fx, "HEAD", range, &[]);
        expect_status(&h, 206, &format!("HEAD {range}"));
        assert!(h.body.is_empty());
        assert!(header(&h, "Content-Type", "HEAD multi").starts_with("multipart/byteranges"));
        let hl = content_length(&h, "HEAD multi");
        // The boundary is random, but its length should not vary; allow for that anyway.
        let diff = hl.abs_diff(r.body.len() as u64);
        assert!(
            diff <= parts.len() as u64 * 2 * 70 + 70,
            "HEAD {range}: Content-Length {hl} vs GET body {}",
            r.body.len()
        );
    }
    boundaries.sort();
    boundaries.dedup();
    assert!(boundaries.len() > 1, "the multipart boundary is not random");
}

#[test]
fn range_floods_and_too_many_ranges_get_the_whole_file() {
    let fx = fixture("range-flood");
    // 32 disjoint ranges are served as 32 parts.
    let r32: Vec<String> = (0..32).map(|i| format!("{}-{}", i * 100, i * 100 + 9)).collect();
    let range32 = format!("bytes={}", r32.join(","));
    let r = ranged(&fx, "GET", &range32, &[]);
    expect_status(&r, 206, "32 ranges");
    let parts = parse_multipart(&r);
    assert_eq!(parts.len(), 32);
    for p in &parts {
        assert!(p.body == fx.data[p.start as usize..=p.end as usize]);
    }
    // 33 → the whole file.
    let r33: Vec<String> = (0..33).map(|i| format!("{}-{}", i * 100, i * 100 + 9)).collect();
    expect_whole(&fx, &format!("bytes={}", r33.join(",")));
    // Many tiny overlapping ranges (an amplification attempt).
    let flood: Vec<&str> = vec!["0-"; 40];
    expect_whole(&fx, &format!("bytes={}", flood.join(",")));
    // Ranges that sum past the file size → 200, however few.
    expect_whole(&fx, "bytes=0-9999,0-9999");
    expect_whole(&fx, "bytes=0-,0-");
    expect_whole(&fx, "bytes=-6000,0-5000");
    // Just under the size is still served as ranges (sum 10000 is not "past" the size).
    let r = ranged(&fx, "GET", "bytes=0-4999,5000-9999", &[]);
    expect_status(&r, 206, "two halves");
    assert_eq!(header(&r, "Content-Range", "halves"), "bytes 0-9999/10000");
    assert!(r.body == fx.data);
}

#[test]
fn an_if_range_date_never_validates_a_file_that_has_compressed_forms() {
    // Every form of a compressible file carries the file's Last-Modified, so the date cannot say whose bytes
    // the client holds (a resumed identity download must not be spliced with gzip bytes): only an ETag can.
    let site = TempRoot::new("if-range-forms");
    let data = pattern(LEN, 12);
    let path = site.write("data.txt", &data);
    set_mtime(&path, MTIME, 0);
    let server = site.serve(&[]);
    let r = fetch(server.addr(), "GET", "/data.txt", &[("Range", "bytes=10-19"), ("If-Range", LM)]);
    expect_status(&r, 200, "If-Range date on a compressible file");
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert!(r.body == data, "the whole file");
    let etag = r.header("ETag").expect("an ETag").to_string();
    let r = fetch(server.addr(), "GET", "/data.txt", &[("Range", "bytes=10-19"), ("If-Range", etag.as_str())]);
    expect_status(&r, 206, "If-Range ETag on a compressible file");
    assert!(r.body == data[10..20]);
}

#[test]
fn if_range_with_etag_or_date() {
    let fx = fixture("if-range");
    let weak = format!("W/{}", fx.etag);
    let cases: &[(&str, u16)] = &[
        (fx.etag.as_str(), 206),
        (LM, 206),
        ("\"other\"", 200),
        (weak.as_str(), 200),
        ("Sun, 09 Sep 2001 01:46:39 GMT", 200),
        ("Sun, 09 Sep 2001 01:46:41 GMT", 200),
        ("not a validator", 200),
    ];
    for (value, want) in cases {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} If-Range: {value}");
            let r = ranged(&fx, method, "bytes=10-19", &[("If-Range", value)]);
            expect_status(&r, *want, &what);
            if *want == 206 {
                assert_eq!(header(&r, "Content-Range", &what), "bytes 10-19/10000");
                if method == "GET" {
                    assert!(r.body == fx.data[10..20], "{what}");
                }
            } else {
                assert_eq!(r.header("Content-Range"), None, "{what}");
                assert_eq!(content_length(&r, &what), LEN as u64);
                if method == "GET" {
                    assert!(r.body == fx.data, "{what}");
                }
            }
        }
    }
    // If-Range that does not match makes an unsatisfiable range harmless: 200, not 416.
    let r = ranged(&fx, "GET", "bytes=20000-", &[("If-Range", "\"other\"")]);
    expect_status(&r, 200, "If-Range mismatch with unsatisfiable range");
    // A matching If-Range with a multi-range still gives multipart.
    let r = ranged(&fx, "GET", "bytes=0-1,5-6", &[("If-Range", fx.etag.as_str())]);
    expect_status(&r, 206, "If-Range match multi");
    assert_eq!(parse_multipart(&r).len(), 2);
}

#[test]
fn ranges_on_a_keepalive_connection_stay_in_sync() {
    // Several ranged responses on one connection: each Content-Length must be exact or the next
    // response would be read from the wrong offset.
    use std::io::Write;
    let fx = fixture("range-pipeline");
    let mut stream = connect(fx.server.addr());
    let ranges = ["bytes=0-9", "bytes=0-9,20-29", "bytes=10000-", "bytes=abc", "bytes=-5"];
    let mut raw = Vec::new();
    for r in ranges {
        raw.extend_from_slice(format!("GET /data.txt HTTP/1.1\r\nHost: t\r\nRange: {r}\r\n\r\n").as_bytes());
    }
    raw.extend_from_slice(b"HEAD /data.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,3-4\r\n\r\n");
    raw.extend_from_slice(b"GET /data.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=1-2\r\nConnection: close\r\n\r\n");
    stream.write_all(&raw).expect("send pipeline");
    let mut buf = Vec::new();
    let want = [206u16, 206, 416, 200, 206];
    for (i, w) in want.iter().enumerate() {
        let r = read_response(&mut stream, &mut buf, false).expect("pipelined response");
        expect_status(&r, *w, ranges[i]);
    }
    let r = read_response(&mut stream, &mut buf, true).expect("HEAD response");
    expect_status(&r, 206, "pipelined HEAD multi");
    let r = read_response(&mut stream, &mut buf, false).expect("last response");
    expect_status(&r, 206, "last");
    assert!(r.body == fx.data[1..3]);
    expect_clean_close(&mut stream, buf, "after the last pipelined ranged response");
}
