//! Persistent connections and pipelining over raw sockets: which requests keep the connection,
//! which close it (and that the last response says so), in-order answers to many pipelined
//! requests, and the per-connection request cap. Browsers and proxies depend on every one of these.

use std::io::Write;
use std::thread;
use std::time::Duration;

use crate::support::*;

fn site() -> TempRoot {
    let root = TempRoot::new("keepalive");
    for i in 0..10 {
        root.write(&format!("f{i}.txt"), format!("file number {i}\n").as_bytes());
    }
    root.write("a.txt", b"alpha\n");
    root
}

#[test]
fn http11_keeps_the_connection_until_close_is_asked() {
    let root = site();
    let server = root.serve(&[]);
    let mut s = server.connect();
    let mut buf = Vec::new();
    for i in 0..5 {
        s.write_all(format!("GET /f{i}.txt HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
        let r = read_response(&mut s, &mut buf, false).expect("response on the kept connection");
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body_str(), format!("file number {i}\n"));
        assert!(!r.says_close(), "request {i}: HTTP/1.1 should keep the connection");
    }
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    let r = read_response(&mut s, &mut buf, false).expect("last response");
    assert_eq!(r.status, 200);
    assert!(r.says_close(), "the response to Connection: close must say close");
    expect_clean_close(&mut s, buf, "HTTP/1.1 with Connection: close");
}

#[test]
fn connection_close_token_is_case_insensitive() {
    let root = site();
    let server = root.serve(&[]);
    for value in ["CLOSE", "Close", "keep-alive, close", "foo , close"] {
        let mut s = server.connect();
        s.write_all(format!("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: {value}\r\n\r\n").as_bytes())
            .expect("write");
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false).expect("response");
        assert!(r.says_close(), "Connection: {value}");
        expect_clean_close(&mut s, buf, &format!("Connection: {value}"));
    }
}

#[test]
fn http10_closes_by_default() {
    let root = site();
    let server = root.serve(&[]);
    let mut s = server.connect();
    s.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).expect("response");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha\n"[..]));
    assert!(r.says_close(), "the last response before closing carries Connection: close");
    expect_clean_close(&mut s, buf, "HTTP/1.0 without keep-alive");
}

#[test]
fn http10_keep_alive_is_honoured_and_echoed() {
    let root = site();
    let server = root.serve(&[]);
    for value in ["keep-alive", "Keep-Alive"] {
        let mut s = server.connect();
        let mut buf = Vec::new();
        for i in 0..3 {
            s.write_all(format!("GET /f{i}.txt HTTP/1.0\r\nConnection: {value}\r\n\r\n").as_bytes()).expect("write");
            let r = read_response(&mut s, &mut buf, false).expect("HTTP/1.0 keep-alive response");
            assert_eq!(r.status, 200);
            assert_eq!(r.body_str(), format!("file number {i}\n"));
            let conn = r.header("connection").unwrap_or_default().to_ascii_lowercase();
            assert_eq!(conn, "keep-alive", "HTTP/1.0 keep-alive must be echoed (request {i})");
        }
        // Without the header the 1.0 connection ends.
        s.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").expect("write");
        let r = read_response(&mut s, &mut buf, false).expect("final 1.0 response");
        assert!(r.says_close());
        expect_clean_close(&mut s, buf, "HTTP/1.0 after keep-alive");
    }
}

#[test]
fn pipelining_100_requests_in_one_write() {
    let root = site();
    let server = root.serve(&[]);
    let mut raw = Vec::new();
    for i in 0..100 {
        let close = if i == 99 { "Connection: close\r\n" } else { "" };
        raw.extend_from_slice(format!("GET /f{}.txt HTTP/1.1\r\nHost: t\r\n{close}\r\n", i % 10).as_bytes());
    }
    let mut s = server.connect();
    s.write_all(&raw).expect("one write of 100 requests");
    let mut buf = Vec::new();
    for i in 0..100 {
        let r =
            read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("pipelined response {i} missing: {e}"));
        assert_eq!(r.status, 200, "response {i}");
        assert_eq!(r.body_str(), format!("file number {}\n", i % 10), "response {i} out of order");
        assert_eq!(r.says_close(), i == 99, "response {i}: only the last one closes");
    }
    expect_clean_close(&mut s, buf, "after 100 pipelined responses");
}

#[test]
fn pipelined_small_responses_are_coalesced() {
    let root = site();
    let server = root.serve(&[]);
    let mut raw = Vec::new();
    for i in 0..100 {
        raw.extend_from_slice(format!("GET /f{}.txt HTTP/1.1\r\nHost: t\r\n\r\n", i % 10).as_bytes());
    }
    let mut s = server.connect();
    let before = tcp_data_segs_in(&s);
    s.write_all(&raw).expect("one write");
    let mut buf = Vec::new();
    for i in 0..100 {
        read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("response {i}: {e}"));
    }
    let after = tcp_data_segs_in(&s);
    let (Some(before), Some(after)) = (before, after) else {
        require(false, "a kernel whose TCP_INFO has tcpi_data_segs_in (Linux 4.6 or later)");
        return;
    };
    // ~25 KiB of responses to one segment of requests: one write per response would be ~100
    // segments on loopback; coalescing needs only a handful.
    let segs = after - before;
    println!("100 pipelined responses arrived in {segs} data segments");
    assert!(segs <= 25, "100 pipelined responses arrived in {segs} segments (not coalesced)");
}

#[test]
fn pipelining_mixes_get_head_and_errors_in_order() {
    let root = site();
    let server = root.serve(&[]);
    let raw = b"GET /f1.txt HTTP/1.1\r\nHost: t\r\n\r\n\
                HEAD /f2.txt HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /missing HTTP/1.1\r\nHost: t\r\n\r\n\
                OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n\
                DELETE /f3.txt HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /f4.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut s = server.connect();
    s.write_all(raw).expect("write");
    let mut buf = Vec::new();
    let expect: [(u16, bool, Option<&[u8]>); 6] = [
        (200, false, Some(b"file number 1\n")),
        (200, true, None),
        (404, false, None),
        (204, false, None),
        (405, false, None),
        (200, false, Some(b"file number 4\n")),
    ];
    for (i, (status, is_head, body)) in expect.iter().enumerate() {
        let r = read_response(&mut s, &mut buf, *is_head).unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert_eq!(r.status, *status, "response {i}");
        if *is_head {
            assert_eq!(r.content_length(), Some(14), "HEAD response {i}");
        }
        if let Some(b) = body {
            assert_eq!(r.body, *b, "response {i}");
        }
    }
    expect_clean_close(&mut s, buf, "mixed pipeline");
}

#[test]
fn pipelined_requests_split_into_single_bytes() {
    let root = site();
    let server = root.serve(&[]);
    let raw = b"GET /f1.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /f2.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut s = server.connect();
    s.set_nodelay(true).expect("nodelay");
    for b in raw.iter() {
        s.write_all(std::slice::from_ref(b)).expect("write one byte");
        thread::sleep(Duration::from_millis(1));
    }
    let mut buf = Vec::new();
    let r1 = read_response(&mut s, &mut buf, false).expect("first");
    let r2 = read_response(&mut s, &mut buf, false).expect("second");
    assert_eq!(r1.body, b"file number 1\n");
    assert_eq!(r2.body, b"file number 2\n");
    expect_clean_close(&mut s, buf, "byte-by-byte pipeline");
}

#[test]
fn a_framing_error_ends_the_pipeline() {
    let root = site();
    let server = root.serve(&[]);
    let raw = b"GET /f1.txt HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /f2.txt HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc\
                GET /f3.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut s = server.connect();
    s.write_all(raw).expect("write");
    let mut buf = Vec::new();
    let r1 = read_response(&mut s, &mut buf, false).expect("first");
    assert_eq!((r1.status, r1.body.as_slice()), (200, &b"file number 1\n"[..]));
    let r2 = read_response(&mut s, &mut buf, false).expect("second");
    assert_eq!(r2.status, 400, "invalid Content-Length");
    assert!(r2.says_close(), "a framing error must close the connection");
    expect_clean_close(&mut s, buf, "after the framing error (f3 must not be answered)");
}

#[test]
fn keepalive_requests_caps_requests_per_connection() {
    let root = site();
    let server = root.serve(&["--keepalive-requests", "3"]);
    // Pipelined: the third response closes and the rest are not answered.
    let mut s = server.connect();
    let raw: Vec<u8> = (0..5).flat_map(|i| format!("GET /f{i}.txt HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()).collect();
    s.write_all(&raw).expect("write");
    let mut buf = Vec::new();
    for i in 0..3 {
        let r = read_response(&mut s, &mut buf, false).expect("response within the cap");
        assert_eq!(r.body_str(), format!("file number {i}\n"));
        assert_eq!(r.says_close(), i == 2, "response {i}: only the third says close");
    }
    expect_clean_close(&mut s, buf, "after --keepalive-requests 3");
    // Sequential: same count.
    let mut s = server.connect();
    let mut buf = Vec::new();
    for i in 0..3 {
        s.write_all(format!("GET /f{i}.txt HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
        let r = read_response(&mut s, &mut buf, false).expect("response");
        assert_eq!(r.says_close(), i == 2, "sequential response {i}");
    }
    expect_clean_close(&mut s, buf, "sequential, after 3 requests");
}

#[test]
fn unlimited_requests_by_default() {
    let root = site();
    let server = root.serve(&[]);
    let mut s = server.connect();
    let raw: Vec<u8> =
        (0..300).flat_map(|i| format!("GET /f{}.txt HTTP/1.1\r\nHost: t\r\n\r\n", i % 10).into_bytes()).collect();
    s.write_all(&raw).expect("write");
    let mut buf = Vec::new();
    for i in 0..300 {
        let r = read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("response {i}: {e}"));
        assert!(!r.says_close(), "response {i} closes without any limit set");
    }
}
