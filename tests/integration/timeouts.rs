//! Connection deadlines, driven with short values on the command line: idle keep-alive, the whole
//! header section (slowloris), a reader that stops reading, and that an idle keep-alive connection
//! is governed by the keep-alive timeout rather than the header timeout.
//! Assertions use generous upper bounds (two shared cores) and only loose lower bounds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

fn site() -> TempRoot {
    let root = TempRoot::new("timeouts");
    root.write("a.txt", b"alpha\n");
    root
}

#[test]
fn idle_keepalive_connection_is_closed_quietly() {
    let root = site();
    let server = root.serve(&["--keepalive-timeout", "1"]);
    let (mut s, buf) = server.served_keepalive("/a.txt");
    let start = Instant::now();
    expect_clean_close(&mut s, buf, "--keepalive-timeout 1 (an idle timeout closes quietly)");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(500), "closed after {took:?}, before the timeout");
    assert!(took < Duration::from_secs(8), "closed after {took:?}");
}

#[test]
fn keepalive_connection_survives_shorter_idle_periods() {
    let root = site();
    let server = root.serve(&["--keepalive-timeout", "30", "--header-timeout", "1"]);
    let (mut s, mut buf) = server.served_keepalive("/a.txt");
    // Longer than the header timeout: between requests only the keep-alive timeout applies.
    thread::sleep(Duration::from_millis(2500));
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write after idling");
    let r =
        read_response(&mut s, &mut buf, false).expect("an idle keep-alive connection must outlive --header-timeout");
    assert_eq!(r.status, 200);
}

#[test]
fn silent_new_connection_is_closed_without_a_response() {
    let root = site();
    let server = root.serve(&["--header-timeout", "1"]);
    let mut s = server.connect();
    let start = Instant::now();
    expect_clean_close(&mut s, Vec::new(), "a silent connection with --header-timeout 1 (no 408 for it)");
    assert!(start.elapsed() >= Duration::from_millis(500), "closed before the timeout");
}

fn expect_408(s: &mut TcpStream, what: &str) -> Duration {
    let start = Instant::now();
    let mut buf = Vec::new();
    let r = read_response(s, &mut buf, false).unwrap_or_else(|e| panic!("{what}: no 408: {e}"));
    let took = start.elapsed();
    assert_eq!(r.status, 408, "{what}");
    assert!(r.says_close(), "{what}: 408 must say Connection: close");
    assert!(r.body_str().contains("408"), "{what}: body {:?}", r.body_str());
    expect_clean_close(s, buf, &format!("{what}: after the 408"));
    took
}

#[test]
fn partial_head_then_silence_gets_408() {
    let root = site();
    let server = root.serve(&["--header-timeout", "1"]);
    let mut s = server.connect();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n").expect("write");
    let took = expect_408(&mut s, "partial head");
    assert!(took < Duration::from_secs(8), "408 came after {took:?}");
}

#[test]
fn dribbling_client_gets_408_at_the_header_deadline() {
    let root = site();
    let server = root.serve(&["--header-timeout", "1"]);
    let mut s = server.connect();
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"GET /a.txt HTTP/1.1\r\n").expect("write");
    let mut writer = s.try_clone().expect("clone");
    // A slowloris: one byte every 200 ms, forever. Each byte is progress, but the deadline is
    // for the whole header section, so it must not be extended.
    let dribbler = thread::spawn(move || {
        for b in b"X-Slow: ".iter().chain([b'a'; 200].iter()) {
            if writer.write_all(std::slice::from_ref(b)).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    let took = expect_408(&mut s, "dribbling head");
    assert!(took < Duration::from_secs(8), "408 after {took:?}: the deadline was extended by dribbled bytes");
    drop(s);
    let _ = dribbler.join();
}

#[test]
fn stalled_reader_is_abandoned_after_send_timeout() {
    let root = site();
    let size: u64 = 512 * 1024 * 1024;
    root.write_sparse("huge.bin", size);
    let server = root.serve(&["--send-timeout", "1"]);
    let mut s = server.connect();
    let port = s.local_addr().expect("local addr").port();
    s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    // Never read: the buffers fill and the response stops making progress. The connection is in no
    // process's descriptor table while the master hands it to a worker, so first see a worker hold it.
    let held = wait_until(LONG, || server_side_state(&server, port) == Some("ESTABLISHED"));
    assert!(held, "no worker took the connection ({:?})", server_side_state(&server, port));
    let gone = wait_until(Duration::from_secs(30), || !matches!(server_side_state(&server, port), Some("ESTABLISHED")));
    assert!(
        gone,
        "the server still holds the stalled connection ({:?}) after --send-timeout 1",
        server_side_state(&server, port)
    );
    // What we can still read is a truncated response, then the end of the connection.
    let mut total = 0u64;
    let mut chunk = vec![0u8; 1 << 20];
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => {
                panic!("after abandoning, the connection should end; got {e} at {total} bytes")
            }
        }
    }
    assert!(total < size, "the whole {size}-byte response arrived: nothing was abandoned");
    assert_eq!(get(server.addr(), "/a.txt").status, 200, "still serving");
}

#[test]
fn a_slow_but_steady_reader_is_not_cut_off() {
    let root = site();
    let size: usize = 24 * 1024 * 1024;
    root.write_sparse("big.bin", size as u64);
    let server = root.serve(&["--send-timeout", "2"]);
    let mut s = server.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    let mut got = 0usize;
    let mut chunk = vec![0u8; 512 * 1024];
    let start = Instant::now();
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("slow reader cut off after {got} bytes: {e}"),
        }
        // About 5 MiB/s: always progressing, never idle for a whole send timeout.
        thread::sleep(Duration::from_millis(100));
        assert!(start.elapsed() < Duration::from_secs(60), "download too slow");
    }
    assert!(got > size, "slow reader got {got} bytes of a {size}-byte body plus head");
}
