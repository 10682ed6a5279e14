//! Request bodies are framed and discarded within a fixed deadline: a client that dribbles a body one byte
//! at a time cannot hold a connection (and its worker's slot) open by making a little progress now and then.
//! An upload the server refuses whatever it holds (405) is answered at once and its body never read.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_dribbled_body_is_cut_off_at_the_deadline() {
    let root = TempRoot::new("bodies-dribble");
    root.write("a.txt", b"a");
    let server = root.serve(&["--header-timeout", "1"]);
    let mut s = server.connect();
    // A GET's body is framed (and discarded) before the GET is answered.
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n").unwrap();
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
    let raw = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let first = read_response(&mut s, &mut buf, false).unwrap();
    let second = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!((first.status, second.status), (200, 200), "the body is not taken for a request");
    assert_eq!(second.body, b"a");
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body() {
    let root = TempRoot::new("bodies-expect");
    root.write("a.txt", b"a");
    let server = root.serve(&[]);
    let mut s = server.connect();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
    // The client holds the body back: the server must speak first.
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf, true).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"hello").unwrap();
    let last = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(last.status, 200);
    assert_eq!(last.body, b"a");
}

#[test]
fn an_upload_to_a_read_only_server_is_refused_at_once_without_100_continue() {
    let root = TempRoot::new("bodies-refused");
    root.write("a.txt", b"a");
    let server = root.serve(&[]);
    for method in ["PUT", "POST", "DELETE", "PATCH"] {
        // 900 KB announced (under --max-body-bytes, which would be a 413), held back until the server says go
        // on: it says 405 instead, and closes.
        let mut s = server.connect();
        let head =
            format!("{method} /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 900000\r\nExpect: 100-continue\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(r.status, 405, "{method}: no 100 Continue, the final answer at once");
        assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"), "{method}");
        assert_eq!(r.header("Connection"), Some("close"), "{method}");
        expect_clean_close(&mut s, buf, method);
    }
    // A body sent straight after the head (no Expect) is not read either; the answer still reaches the
    // client, which may go on sending while the server lingers, and the connection ends with a FIN.
    let mut s = server.connect();
    s.write_all(b"PUT /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 900000\r\n\r\n").unwrap();
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < 900_000 && w.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            let _ = w.shutdown(std::net::Shutdown::Write);
        })
    };
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 405);
    writer.join().unwrap();
    // Nothing after the answer, and nothing of the body was taken for a request.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("HTTP/1.1"), "{:?}", String::from_utf8_lossy(&rest));
}
