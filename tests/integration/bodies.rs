//! Request bodies are framed and discarded within a fixed deadline: a client that dribbles a body one byte
//! at a time cannot hold a connection (and its worker's slot) open by making a little progress now and then.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_dribbled_body_is_cut_off_at_the_deadline() {
    let root = TempRoot::new("bodies-dribble");
    root.write("a.txt", b"a");
    let server = root.serve(&["--header-timeout", "1"]);
    let mut s = server.connect();
    s.write_all(b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    // One byte every 300 ms would take 30 s; the body deadline (1 s after the head) must end it long before.
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        if started.elapsed() > Duration::from_secs(20) {
            panic!("connection still open after 20 s; got {:?}", String::from_utf8_lossy(&got));
        }
        let _ = s.write_all(b"x");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "expected a 408, got {text:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn a_body_that_arrives_in_time_is_discarded_and_the_request_answered() {
    let root = TempRoot::new("bodies-ok");
    root.write("a.txt", b"a");
    let server = root.serve(&[]);
    let raw = b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let first = read_response(&mut s, &mut buf, false).unwrap();
    let second = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!((first.status, second.status), (405, 200));
    assert_eq!(second.body, b"a");
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body() {
    let root = TempRoot::new("bodies-expect");
    root.write("a.txt", b"a");
    let server = root.serve(&[]);
    let mut s = server.connect();
    s.write_all(b"PUT /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
    // The client holds the body back: the server must speak first.
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf, true).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"hello").unwrap();
    let last = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(last.status, 405);
    assert_eq!(last.header("Allow"), Some("GET, HEAD, OPTIONS"));
}
