//! Half-close and orderly closing — the reason staticd exists (the seed server leaked CLOSE_WAIT
//! sockets). Clients that SHUT_WR still get every response; responses are never destroyed by a
//! reset caused by unread request bytes; after any mix of polite and rude clients the server holds
//! no CLOSE_WAIT socket and leaves no client waiting in FIN_WAIT2; SIGPIPE never kills a worker.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use crate::support::*;

const BIG: usize = 4 * 1024 * 1024;

fn site() -> TempRoot {
    let root = TempRoot::new("halfclose");
    root.write("a.txt", b"alpha\n");
    root.write("big.bin", &pattern(BIG, 0));
    root.write_sparse("huge.bin", 256 * 1024 * 1024);
    root
}

#[test]
fn request_then_shut_wr_gets_the_full_response() {
    let root = site();
    let server = root.serve(&[]);
    let want = pattern(BIG, 0);
    for (path, body) in [("/a.txt", &b"alpha\n"[..]), ("/big.bin", want.as_slice())] {
        let mut s = server.connect();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
        s.shutdown(Shutdown::Write).expect("SHUT_WR");
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false)
            .unwrap_or_else(|e| panic!("GET {path} then SHUT_WR: no full response: {e}"));
        assert_eq!(r.status, 200, "GET {path}");
        assert!(r.body == body, "GET {path}: body differs ({} bytes)", r.body.len());
        expect_clean_close(&mut s, buf, &format!("GET {path} then SHUT_WR"));
    }
}

#[test]
fn pipelined_requests_then_shut_wr_all_get_answered() {
    let root = site();
    let server = root.serve(&[]);
    let want = pattern(BIG, 0);
    let mut raw = Vec::new();
    for i in 0..10 {
        let path = if i % 3 == 1 { "/big.bin" } else { "/a.txt" };
        raw.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    let mut s = server.connect();
    s.write_all(&raw).expect("write");
    s.shutdown(Shutdown::Write).expect("SHUT_WR");
    let mut buf = Vec::new();
    for i in 0..10 {
        let r =
            read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("response {i} of 10 after SHUT_WR: {e}"));
        assert_eq!(r.status, 200, "response {i}");
        if i % 3 == 1 {
            assert!(r.body == want, "response {i}: big body differs");
        } else {
            assert_eq!(r.body, b"alpha\n", "response {i}");
        }
    }
    expect_clean_close(&mut s, buf, "after 10 responses to a half-closed pipeline");
}

#[test]
fn shut_wr_mid_head_closes_without_hanging() {
    let root = site();
    // A header timeout longer than our read timeout: only noticing the FIN can end these.
    let server = root.serve(&["--header-timeout", "60"]);
    // The FIN often lands in the same segment burst as the bytes: repeat to catch a missed EOF.
    for i in 0..50 {
        let mut s = server.connect();
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHo").expect("write");
        s.shutdown(Shutdown::Write).expect("SHUT_WR");
        // An incomplete request can never complete: close (a 400 first is fine), never hang.
        match read_ending(&mut s, Vec::new()) {
            Ending::Eof(bytes) => {
                if !bytes.is_empty() {
                    let r = read_response(&mut bytes.as_slice(), &mut Vec::new(), false)
                        .expect("whatever is sent before the FIN is a response");
                    assert_eq!(r.status, 400, "try {i}: incomplete request then FIN");
                }
            }
            other => panic!(
                "try {i}: half a head then SHUT_WR: the server never closed (missed EOF, socket left \
                 in CLOSE_WAIT): {other:?}"
            ),
        }
    }
}

#[test]
fn every_half_closing_client_gets_its_fin() {
    let root = site();
    let server = root.serve(&[]);
    // Request and FIN back to back, many times: a server that takes a short read for "drained"
    // under edge-triggered epoll misses the FIN now and then and keeps the socket in CLOSE_WAIT.
    for i in 0..200 {
        let mut s = server.connect();
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
        s.shutdown(Shutdown::Write).expect("SHUT_WR");
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("try {i}: {e}"));
        assert_eq!(r.status, 200, "try {i}");
        // A missing FIN means a missed EOF: the server socket was left in CLOSE_WAIT.
        expect_clean_close(&mut s, buf, &format!("try {i}: GET then SHUT_WR"));
    }
}

/// Writes `raw` and `junk` in one go, waits so the server has answered and decided to close
/// before we read, then expects every response intact followed by a clean FIN (never a reset).
fn assert_survives_junk(server: &Server, what: &str, raw: &[u8], expected: &[(u16, usize)]) {
    let mut s = server.connect();
    let junk = vec![b'J'; 64 * 1024];
    let mut writer = s.try_clone().expect("clone");
    let payload = [raw, junk.as_slice()].concat();
    // In a thread: the server stops reading after the error, so a large write may block for a
    // while (until it drains during its linger).
    let t = thread::spawn(move || writer.write_all(&payload).is_ok());
    thread::sleep(Duration::from_millis(1000));
    let mut buf = Vec::new();
    for (i, (status, len)) in expected.iter().enumerate() {
        let r =
            read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("{what}: response {i} destroyed: {e}"));
        assert_eq!(r.status, *status, "{what}: response {i}");
        assert_eq!(r.body.len(), *len, "{what}: response {i} body length");
    }
    match read_ending(&mut s, buf) {
        Ending::Eof(rest) => assert!(rest.is_empty(), "{what}: stray bytes"),
        Ending::Reset(_) => {
            panic!("{what}: the server reset the connection (closed with unread data)")
        }
        other => panic!("{what}: expected a clean FIN, got {other:?}"),
    }
    drop(s);
    let _ = t.join();
}

#[test]
fn error_response_followed_by_unread_junk_arrives_intact() {
    let root = site();
    let server = root.serve(&[]);
    let bad_cl = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\n";
    let r = request(server.addr(), bad_cl);
    let err_len = r.body.len();
    assert_survives_junk(&server, "400 then 64 KiB junk", bad_cl, &[(400, err_len)]);
    let te_cl = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_survives_junk(&server, "TE+CL 400 then 64 KiB junk", te_cl, &[(400, err_len)]);
    let too_big = b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n";
    let r413 = request(server.addr(), too_big);
    assert_survives_junk(&server, "413 then 64 KiB junk", too_big, &[(413, r413.body.len())]);
}

#[test]
fn large_responses_before_the_close_survive_unread_junk() {
    // A large response still sitting in the server's send buffer is what a premature close()
    // with unread input destroys (the kernel sends RST and drops the queue).
    let root = site();
    let server = root.serve(&[]);
    let close = b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_survives_junk(&server, "big file with Connection: close, then junk", close, &[(200, BIG)]);
    let bad = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n";
    let err_len = request(server.addr(), b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n").body.len();
    assert_survives_junk(&server, "big file, then a 400, then junk", bad.as_bytes(), &[(200, BIG), (400, err_len)]);
}

#[test]
fn server_closes_promptly_once_the_client_fin_arrives() {
    let root = site();
    // A long linger: only reacting to the client's FIN can free the socket within the test's wait. The close
    // is the server's decision (the request limit), so the client may still be sending: the server lingers.
    let server = root.serve(&["--linger-timeout", "60", "--keepalive-requests", "1"]);
    let mut s = server.connect();
    let port = s.local_addr().expect("local addr").port();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).expect("response");
    assert!(r.says_close());
    expect_clean_close(&mut s, buf, "request limit");
    // Still lingering for our FIN: the server's side exists, half-closed (FIN_WAIT2).
    let state = server_side_state(&server, port);
    assert!(
        matches!(state, Some("FIN_WAIT2") | Some("FIN_WAIT1") | None),
        "server side should be half-closed while lingering, is {state:?}"
    );
    let _ = s.write_all(b"late bytes the server must read and discard");
    s.shutdown(Shutdown::Write).expect("SHUT_WR");
    let gone = wait_until(LONG, || server_side_state(&server, port).is_none());
    assert!(gone, "the server still holds the socket ({:?}) after the client's FIN", server_side_state(&server, port));
}

#[test]
fn lingering_ends_at_the_deadline_when_the_client_never_closes() {
    let root = site();
    let server = root.serve(&["--linger-timeout", "1"]);
    let mut s = server.connect();
    let port = s.local_addr().expect("local addr").port();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).expect("400");
    assert_eq!(r.status, 400);
    expect_clean_close(&mut s, buf, "400");
    // We keep our socket open and silent; the server must let go after its linger deadline.
    let gone = wait_until(LONG, || server_side_state(&server, port).is_none());
    assert!(gone, "the server still holds the socket ({:?}) past --linger-timeout 1", server_side_state(&server, port));
    drop(s);
}

/// One client behaviour in the mixed crowd.
fn client(addr: std::net::SocketAddr, kind: usize) {
    let mut s = connect(addr);
    let mut buf = Vec::new();
    match kind {
        // Keep-alive, two requests, then a polite close.
        0 => {
            for _ in 0..2 {
                s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
                read_response(&mut s, &mut buf, false).expect("response");
            }
        }
        // Connection: close, read to EOF.
        1 => {
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
            read_response(&mut s, &mut buf, false).expect("response");
            let _ = read_ending(&mut s, buf);
        }
        // Half-close after the request.
        2 => {
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
            s.shutdown(Shutdown::Write).expect("SHUT_WR");
            read_response(&mut s, &mut buf, false).expect("response");
            let _ = read_ending(&mut s, buf);
        }
        // Reset in the middle of a big download.
        3 => {
            s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
            let mut chunk = [0u8; 32 * 1024];
            let _ = s.read(&mut chunk);
            set_linger_zero(&s);
        }
        // Reset right after asking, without reading anything.
        4 => {
            s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
            set_linger_zero(&s);
        }
        // Connect and leave without a word.
        5 => {}
        // Half a head, then FIN.
        6 => {
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHo").expect("write");
        }
        // Half a head, then RST.
        7 => {
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHo").expect("write");
            set_linger_zero(&s);
        }
        // Ask, then close without reading the response (our kernel answers it with RST).
        8 => {
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
            thread::sleep(Duration::from_millis(50));
        }
        // A malformed request plus junk, leave after the error.
        _ => {
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\nJUNKJUNK").expect("write");
            let _ = read_response(&mut s, &mut buf, false);
        }
    }
}

#[test]
fn no_close_wait_or_fin_wait2_after_a_mixed_crowd() {
    let root = site();
    let server = root.serve(&["--linger-timeout", "1"]);
    let workers = server.wait_for_workers(2, LONG);
    assert_eq!(get(server.addr(), "/a.txt").status, 200);
    let baseline: usize = workers.iter().map(|w| socket_and_pipe_count(*w)).sum();
    let addr = server.addr();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                for round in 0..3 {
                    for kind in 0..10 {
                        client(addr, (kind + t + round) % 10);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread panicked");
    }
    let port = addr.port();
    let mut states = Default::default();
    let settled = wait_until(Duration::from_secs(30), || {
        states = server.tcp_states();
        states.keys().all(|s| s == "LISTEN")
    });
    assert!(settled, "the server still holds connection sockets after every client left: {states:?}");
    let mut clients = Default::default();
    let clean = wait_until(LONG, || {
        clients = client_states_towards(port);
        !clients.contains_key("FIN_WAIT2") && !clients.contains_key("ESTABLISHED")
    });
    assert!(clean, "clients left waiting on the server: {clients:?}");
    let after: usize = workers.iter().map(|w| socket_and_pipe_count(*w)).sum();
    assert!(after <= baseline, "worker sockets and pipes grew from {baseline} to {after} (leak)");
    assert_eq!(server.worker_pids(), workers, "a worker died during the crowd");
    assert_eq!(get(server.addr(), "/a.txt").status, 200, "still serving");
}

#[test]
fn resetting_readers_never_kill_a_worker() {
    let root = site();
    let server = root.serve(&[]);
    let workers = server.wait_for_workers(2, LONG);
    for _ in 0..20 {
        let mut s = server.connect();
        s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
        let mut chunk = [0u8; 4096];
        let _ = s.read(&mut chunk);
        set_linger_zero(&s);
        drop(s);
    }
    // A write to a reset socket raises SIGPIPE unless handled; give it time to bite.
    thread::sleep(Duration::from_millis(500));
    assert_eq!(get(server.addr(), "/a.txt").status, 200);
    assert_eq!(server.worker_pids(), workers, "a worker was replaced: it died");
    assert!(server.stderr_count(|l| l.contains("died")) == 0, "stderr reports a death:\n{}", server.stderr_text());
}
