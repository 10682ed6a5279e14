//! Slow and stuck clients (issue 5): a slowloris crowd that dribbles header bytes must neither starve
//! normal clients nor outlive the header deadline, and a client that asks for a large file and never reads
//! must be dropped at the send deadline without leaking the worker's descriptors.
//! Bounds are generous (two shared cores, tests in parallel); lower bounds are loose.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const SLOWLORIS: usize = 500;
/// Bytes a slowloris client sends, one at a time: a request head that never ends.
const DRIBBLE: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: slow\r\nX-Slow: ";

/// How one slowloris connection ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// The server sent something (a 408 is expected) and then closed or reset.
    Answered(String),
    /// Orderly close with no bytes.
    Eof,
    /// Reset before any byte (our own late write can turn the server's close into an RST).
    Reset,
}

struct Slow {
    stream: TcpStream,
    opened: Instant,
    sent: usize,
    got: Vec<u8>,
    ended: Option<(Duration, End)>,
}

impl Slow {
    /// Reads whatever is there without blocking; records the end of the connection.
    fn poll_read(&mut self) {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return self.end(self.ending_with(End::Eof)),
                Ok(n) => self.got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.end(self.ending_with(End::Reset)),
            }
        }
    }

    fn ending_with(&self, bare: End) -> End {
        if self.got.is_empty() {
            bare
        } else {
            End::Answered(String::from_utf8_lossy(&self.got).into_owned())
        }
    }

    fn end(&mut self, how: End) {
        if self.ended.is_none() {
            self.ended = Some((self.opened.elapsed(), how));
        }
    }

    /// Sends the next byte of the never-ending head.
    fn dribble(&mut self) {
        if self.ended.is_some() || !self.got.is_empty() {
            return;
        }
        let byte = DRIBBLE.get(self.sent).copied().unwrap_or(b'a');
        match self.stream.write(&[byte]) {
            Ok(1) => self.sent += 1,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.end(self.ending_with(End::Reset)),
        }
    }
}

/// Drives every slowloris socket from one thread: each round reads first (so a server close is seen
/// before we write into it), then sends one more byte, then sleeps ~200 ms.
fn run_slowloris(addr: std::net::SocketAddr, deadline: Duration) -> Vec<Slow> {
    let mut crowd: Vec<Slow> = (0..SLOWLORIS)
        .map(|i| {
            let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
                .unwrap_or_else(|e| panic!("slowloris connection {i}: {e}"));
            stream.set_nonblocking(true).expect("non-blocking");
            Slow { stream, opened: Instant::now(), sent: 0, got: Vec::new(), ended: None }
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < deadline && crowd.iter().any(|s| s.ended.is_none()) {
        for s in crowd.iter_mut().filter(|s| s.ended.is_none()) {
            s.poll_read();
            s.dribble();
        }
        thread::sleep(Duration::from_millis(200));
    }
    crowd
}

#[test]
fn slowloris_crowd_does_not_starve_normal_clients_and_is_cut_at_the_header_deadline() {
    let root = TempRoot::new("slowloris");
    root.write("a.txt", b"alpha\n");
    let header_timeout = Duration::from_secs(2);
    let server = root.serve(&["--header-timeout", "2", "--linger-timeout", "1"]);
    let addr = server.addr();

    let crowd = thread::spawn(move || run_slowloris(addr, Duration::from_secs(20)));

    // Normal clients keep coming while the crowd dribbles: each must be answered promptly.
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    let normal_start = Instant::now();
    while normal_start.elapsed() < Duration::from_secs(4) {
        let t = Instant::now();
        let r = get(addr, "/a.txt");
        let took = t.elapsed();
        assert_eq!(r.status, 200, "normal request during the slowloris run");
        assert_eq!(r.body, b"alpha\n");
        slowest = slowest.max(took);
        served += 1;
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        slowest < Duration::from_secs(3),
        "a normal request took {slowest:?} while {SLOWLORIS} slowloris clients were connected"
    );
    assert!(served >= 5, "only {served} normal requests in 4 s");

    let crowd = crowd.join().expect("slowloris driver");
    let mut too_early = Vec::new();
    let mut never = 0;
    let mut answers = std::collections::HashMap::<String, usize>::new();
    for (i, s) in crowd.iter().enumerate() {
        match &s.ended {
            None => never += 1,
            Some((after, how)) => {
                if *after < header_timeout / 2 {
                    too_early.push((i, *after, how.clone()));
                }
                let kind = match how {
                    End::Answered(text) => text.lines().next().unwrap_or_default().to_string(),
                    other => format!("{other:?}"),
                };
                *answers.entry(kind).or_insert(0) += 1;
                if let End::Answered(text) = how {
                    assert!(
                        text.starts_with("HTTP/1.1 408"),
                        "slowloris connection {i} got {text:?}, expected a 408 or a bare close"
                    );
                }
            }
        }
    }
    assert_eq!(
        never, 0,
        "{never} of {SLOWLORIS} slowloris connections were still open 20 s after connecting \
         (--header-timeout 2); endings so far: {answers:?}"
    );
    assert!(
        too_early.is_empty(),
        "closed well before the 2 s header deadline: {:?}",
        &too_early[..too_early.len().min(5)]
    );
    let latest = crowd.iter().filter_map(|s| s.ended.as_ref().map(|e| e.0)).max().unwrap_or_default();
    assert!(
        latest < header_timeout + Duration::from_secs(6),
        "the last slowloris connection was closed {latest:?} after it opened (--header-timeout 2)"
    );
    println!("slowloris endings: {answers:?}; slowest normal request {slowest:?}; latest close {latest:?}");
}

#[test]
fn client_that_never_reads_a_large_file_is_dropped_at_the_send_deadline() {
    const BIG: u64 = 64 << 20;
    let root = TempRoot::new("never_reads");
    root.write_sparse("big.bin", BIG);
    root.write("a.txt", b"alpha\n");
    let server = root.serve(&["--workers", "1", "--send-timeout", "2", "--linger-timeout", "1"]);
    let worker = server.wait_for_workers(1, LONG)[0];

    // Warm up: one full download (so any per-file cache is already populated), then the baseline.
    let mut s = server.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("full download");
    assert!(all.len() as u64 > BIG, "warm-up download short: {}", all.len());
    drop(s);
    assert_eq!(get(server.addr(), "/a.txt").status, 200);
    let baseline = settled_fd_count(worker, Duration::from_millis(600), LONG);

    let mut stuck = server.connect();
    stuck.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    let sent_at = Instant::now();
    assert!(
        wait_until(LONG, || fd_count(worker) > baseline),
        "the worker never took the stuck connection (baseline {baseline} fds)"
    );
    let during = fd_count(worker);
    let mut back = usize::MAX;
    wait_until(LONG, || {
        back = fd_count(worker);
        back <= baseline
    });
    let took = sent_at.elapsed();
    assert!(
        back <= baseline,
        "worker still holds {back} fds (baseline {baseline}) {took:?} after the client stopped reading \
         (--send-timeout 2)"
    );
    assert!(took >= Duration::from_millis(1500), "dropped after {took:?}, before the 2 s send deadline");
    assert!(took < Duration::from_secs(10), "dropped only after {took:?}");
    assert!(during > baseline);

    // The client sees a truncated body and then the end of the connection, never a hang.
    let mut got = Vec::new();
    let ending = read_ending(&mut stuck, Vec::new());
    if let Ending::Eof(b) | Ending::Reset(b) = &ending {
        got.extend_from_slice(b);
    } else {
        panic!("stuck client: expected EOF or reset once dropped, got {ending:?}");
    }
    assert!((got.len() as u64) < BIG, "the whole file arrived after all");

    // And the worker still serves.
    assert_eq!(get(server.addr(), "/a.txt").status, 200);
    assert!(server.worker_pids().contains(&worker), "the worker was replaced");
}
