//! Reload (HUP), graceful stop (QUIT) and `--check` through the real binary.
//!
//! A reload is what an operator does on a live site, so it must be invisible to clients: requests keep
//! succeeding while old workers hand over to new ones, and a download that started before the signal
//! finishes byte for byte. `--check` is run against a live configuration, so it must bind nothing.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::support::*;

const BIG: usize = 32 * 1024 * 1024;

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>hello</h1>\n");
    root.write("mid.bin", &pattern(200_000, 0));
    root.write("big.bin", &pattern(BIG, 0));
    root
}

/// Failures seen by the load threads, with enough context to tell what broke.
type Failures = Arc<Mutex<Vec<String>>>;

/// Requests answered, and connections the server closed between keep-alive requests.
#[derive(Clone, Default)]
struct Counts {
    done: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

/// One keep-alive client: requests back to back on one connection, a new one only when the server says close.
///
/// A reload hands idle keep-alive connections over to the new workers, so nothing a client can see happens:
/// every error, including a close between two requests (which RFC 9112 §9.3.1 would let a client retry, and
/// which nginx's reload causes), is a failure here.
fn keepalive_client(addr: SocketAddr, stop: Arc<AtomicBool>, counts: Counts, failures: Failures, id: usize) {
    let mut stream: Option<(TcpStream, Vec<u8>, usize)> = None;
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let path = if n % 2 == 0 { "/index.html" } else { "/mid.bin" };
        let want_len = if n % 2 == 0 { 15 } else { 200_000 };
        let raw = format!("GET {path}?ka{id}-{n} HTTP/1.1\r\nHost: t\r\n\r\n");
        let (s, buf, used) = stream.get_or_insert_with(|| (connect(addr), Vec::new(), 0));
        let reused = *used > 0;
        *used += 1;
        match s.write_all(raw.as_bytes()).and_then(|_| read_response(s, buf, false)) {
            Ok(resp) if resp.status == 200 && resp.body.len() == want_len => {
                counts.done.fetch_add(1, Ordering::SeqCst);
                if resp.says_close() {
                    counts.closed.fetch_add(1, Ordering::SeqCst);
                    stream = None;
                }
            }
            Ok(resp) => {
                failures.lock().unwrap().push(format!("keep-alive {path}: {} {}", resp.status, resp.body.len()));
                stream = None;
            }
            Err(e) => {
                let which = if reused { "a reused" } else { "a fresh" };
                failures.lock().unwrap().push(format!("keep-alive request {n} ({path}) on {which} connection: {e}"));
                stream = None;
            }
        }
        n += 1;
    }
}

/// One client opening a fresh connection per request (`Connection: close`).
fn close_client(addr: SocketAddr, stop: Arc<AtomicBool>, counts: Counts, failures: Failures, id: usize) {
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let raw = format!("GET /index.html?c{id}-{n} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut s = connect(addr);
        let mut buf = Vec::new();
        match s.write_all(raw.as_bytes()).and_then(|_| read_response(&mut s, &mut buf, false)) {
            Ok(resp) if resp.status == 200 && resp.body == b"<h1>hello</h1>\n" => {
                counts.done.fetch_add(1, Ordering::SeqCst);
            }
            Ok(resp) => failures.lock().unwrap().push(format!("close-mode: {} {:?}", resp.status, resp.body_str())),
            Err(e) => failures.lock().unwrap().push(format!("close-mode request {n}: {e}")),
        }
        n += 1;
    }
}

/// Sends HUP and waits until every old worker has finished and exactly `workers` new ones serve.
fn reload_and_wait(server: &Server, old: &[i32], workers: usize) -> Vec<i32> {
    let huped = server.stderr_count(|l| l.contains("received HUP"));
    server.signal(libc::SIGHUP);
    let seen = wait_until(LONG, || server.stderr_count(|l| l.contains("received HUP")) > huped);
    assert!(seen, "no 'received HUP' line; stderr:\n{}", server.stderr_text());
    for pid in old {
        let needle = format!("old worker (pid {pid}) finished after reload");
        let line = server.wait_for_stderr(|l| l.contains(&needle), LONG);
        assert!(line.is_some(), "{needle:?} missing; stderr:\n{}", server.stderr_text());
        assert!(wait_until(LONG, || !pid_alive(*pid)), "old worker {pid} still alive");
    }
    let new = server.wait_for_workers(workers, LONG);
    let overlap: Vec<&i32> = new.iter().filter(|p| old.contains(p)).collect();
    assert!(overlap.is_empty(), "new workers {new:?} must differ from old {old:?}");
    new
}

#[test]
fn hup_under_load_replaces_workers_and_fails_no_request() {
    let root = site("hup-load");
    let server = root.serve(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Counts::default();
    let done = counts.done.clone();
    let failures: Failures = Arc::default();
    let mut clients = Vec::new();
    // More fresh-connection clients than keep-alive ones: connections in flight from the master to a worker
    // at the moment of the reload are what a reload most easily loses.
    for id in 0..6 {
        let (addr, stop, counts, failures) = (server.addr(), stop.clone(), counts.clone(), failures.clone());
        clients.push(thread::spawn(move || {
            if id < 2 {
                keepalive_client(addr, stop, counts, failures, id)
            } else {
                close_client(addr, stop, counts, failures, id)
            }
        }));
    }
    let mut workers = server.wait_for_workers(2, LONG);
    let mut all_seen: HashSet<i32> = workers.iter().copied().collect();
    for round in 0..3 {
        let before = done.load(Ordering::SeqCst);
        assert!(wait_until(LONG, || done.load(Ordering::SeqCst) >= before + 100), "round {round}: load stalled");
        workers = reload_and_wait(&server, &workers, 2);
        for pid in &workers {
            assert!(all_seen.insert(*pid), "round {round}: worker pid {pid} reused");
        }
    }
    let before = done.load(Ordering::SeqCst);
    assert!(wait_until(LONG, || done.load(Ordering::SeqCst) >= before + 100), "load stalled after the last reload");
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread");
    }
    let failures = failures.lock().unwrap();
    let closed = counts.closed.load(Ordering::SeqCst);
    println!("{} requests answered, {closed} keep-alive connections closed by the server", done.load(Ordering::SeqCst));
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across 3 reloads:\n{}",
        failures.len(),
        done.load(Ordering::SeqCst) + failures.len(),
        failures.join("\n")
    );
    assert_eq!(closed, 0, "a reload must hand keep-alive connections over, not close them");
}

/// Starts a download of big.bin, reads its head and the first MiB, and leaves the rest in flight.
fn start_download(addr: SocketAddr) -> (TcpStream, Response, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    let (resp, mut body) = read_head(&mut s);
    read_at_least(&mut s, &mut body, 1024 * 1024);
    (s, resp, body)
}

/// What the server does with a download's connection once the body is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AfterBody {
    /// A reload: the connection is handed to a new worker and answers the next request.
    StaysOpen,
    /// A graceful stop: it closes.
    Closes,
}

/// Reads the rest of the download and checks it byte for byte, then what follows.
fn finish_download(mut s: TcpStream, resp: &Response, mut body: Vec<u8>, after: AfterBody) {
    assert_eq!(resp.status, 200);
    assert_eq!(resp.content_length(), Some(BIG as u64));
    let mut chunk = vec![0u8; 1 << 20];
    while body.len() < BIG {
        let n = s.read(&mut chunk).unwrap_or_else(|e| panic!("download cut at {} of {BIG} bytes: {e}", body.len()));
        assert!(n > 0, "download cut at {} of {BIG} bytes", body.len());
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), BIG, "extra bytes after the body");
    assert!(body == pattern(BIG, 0), "download content differs");
    if after == AfterBody::StaysOpen {
        s.write_all(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n").expect("write after the download");
        let resp = read_response(&mut s, &mut Vec::new(), false).expect("a response after the download");
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"<h1>hello</h1>\n"[..]));
        assert!(!resp.says_close(), "the connection should carry on in the new generation");
        return;
    }
    // Once the response is done a stopping worker closes the connection.
    let mut rest = Vec::new();
    let end = s.read_to_end(&mut rest);
    assert!(end.is_ok() && rest.is_empty(), "after the body: {end:?}, {} stray bytes", rest.len());
}

#[test]
fn hup_lets_an_inflight_download_complete() {
    let root = site("hup-download");
    let server = root.serve(&["--workers", "1"]);
    let old = server.wait_for_workers(1, LONG);
    let (s, resp, body) = start_download(server.addr());
    server.signal(libc::SIGHUP);
    assert!(server.wait_for_stderr(|l| l.contains("received HUP"), LONG).is_some());
    // The new worker serves new clients while the old one is still sending.
    assert_eq!(get(server.addr(), "/index.html").status, 200);
    assert!(pid_alive(old[0]), "the old worker must stay until its download is done");
    finish_download(s, &resp, body, AfterBody::StaysOpen);
    let needle = format!("old worker (pid {}) finished after reload", old[0]);
    assert!(server.wait_for_stderr(|l| l.contains(&needle), LONG).is_some(), "{needle:?} missing");
    let new = server.wait_for_workers(1, LONG);
    assert_ne!(new, old);
}

#[test]
fn drain_timeout_ends_a_response_that_never_finishes() {
    // A client that stops reading would keep a retiring worker forever; --drain-timeout bounds it.
    let root = site("hup-drain-limit");
    let server = root.serve(&["--workers", "1", "--drain-timeout", "1"]);
    let old = server.wait_for_workers(1, LONG);
    let (mut s, _resp, body) = start_download(server.addr());
    server.signal(libc::SIGHUP);
    let needle = format!("old worker (pid {}) finished after reload", old[0]);
    assert!(server.wait_for_stderr(|l| l.contains(&needle), LONG).is_some(), "{needle:?} missing");
    assert!(server.stderr_count(|l| l.contains("drain limit reached")) > 0, "{}", server.stderr_text());
    // What the socket buffers held arrives, then the end: the download is cut short.
    let mut got = body.len();
    let mut chunk = vec![0u8; 1 << 20];
    while let Ok(n @ 1..) = s.read(&mut chunk) {
        got += n;
    }
    assert!(got < BIG, "the download completed although the worker had to stop");
    assert_eq!(get(server.addr(), "/index.html").status, 200, "the new worker serves");
}

#[test]
fn quit_drains_inflight_work_and_exits() {
    let root = site("quit-drain");
    let mut server = root.serve(&[]);
    let (s, resp, body) = start_download(server.addr());
    // An idle keep-alive connection is closed after a short grace, without a response.
    let (mut idle, buf) = server.served_keepalive("/index.html");
    server.signal(libc::SIGQUIT);
    assert!(server.wait_for_stderr(|l| l.contains("received QUIT"), LONG).is_some());
    assert!(matches!(read_ending(&mut idle, buf), Ending::Eof(b) if b.is_empty()), "idle connection closed cleanly");
    // New clients are refused rather than left waiting in a backlog.
    assert!(
        wait_until(LONG, || TcpStream::connect_timeout(&server.addr(), Duration::from_secs(2)).is_err()),
        "still accepting after QUIT"
    );
    assert!(server.wait_exit(Duration::from_millis(300)).is_none(), "must not exit before the download ends");
    finish_download(s, &resp, body, AfterBody::Closes);
    let status = server.wait_exit(LONG).expect("the server did not exit after draining");
    assert!(status.success(), "QUIT exit status {status}");
}

#[test]
fn quit_answers_a_request_already_on_its_way() {
    // Nothing can hand connections over at a stop. A client that sends its next keep-alive request just as
    // QUIT arrives must still get its answer (with Connection: close), not a close in its face.
    let root = site("quit-on-the-wire");
    let mut server = root.serve(&["--workers", "1"]);
    let (mut s, mut buf) = server.served_keepalive("/index.html");
    server.signal(libc::SIGQUIT);
    assert!(server.wait_for_stderr(|l| l.contains("received QUIT"), LONG).is_some());
    // The worker gets QUIT a moment after the master logs it: keep sending (a request every 100 ms, well
    // inside the idle grace) until a response says close. Every request must be answered; a server that closed
    // idle connections at QUIT would meet one of them with a close.
    let mut answered = 0;
    loop {
        s.write_all(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
        let resp = read_response(&mut s, &mut buf, false)
            .unwrap_or_else(|e| panic!("request {answered} after QUIT got no answer: {e}"));
        assert_eq!(resp.status, 200);
        answered += 1;
        if resp.says_close() {
            break;
        }
        assert!(answered < 100, "no response ever said Connection: close after QUIT");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(matches!(read_ending(&mut s, buf), Ending::Eof(b) if b.is_empty()), "then a clean close");
    let status = server.wait_exit(LONG).expect("the server did not exit after draining");
    assert!(status.success(), "QUIT exit status {status}");
}

#[test]
fn check_accepts_a_good_configuration_and_binds_nothing() {
    let root = site("check-good");
    let sock = root.beside("s.sock");
    let sock_arg = format!("unix:{}", sock.display());
    // A port in use by a running server must not make --check fail: it does not bind.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let held_addr = held.local_addr().expect("addr").to_string();
    let exit = run_capture(
        &["--check", "--listen", &held_addr, "--listen", &sock_arg, "--workers", "2", root.path_str()],
        LONG,
        |_| {},
    );
    assert_eq!(exit_code(&exit.status), 0, "stderr:\n{}", exit.stderr);
    assert!(!exit.stderr.contains("serving"), "--check must not serve:\n{}", exit.stderr);
    assert!(!exit.leftovers, "--check forked");
    assert!(!sock.exists(), "--check created the socket file");
    // A free port given to --check is still free afterwards.
    let free = unclaimed_loopback_addr();
    let exit = run_capture(&["--check", "--listen", &free.to_string(), root.path_str()], LONG, |_| {});
    assert_eq!(exit_code(&exit.status), 0, "stderr:\n{}", exit.stderr);
    TcpListener::bind(free).unwrap_or_else(|e| panic!("port {free} not free after --check: {e}"));
}

#[test]
fn check_refuses_a_bad_configuration_with_one_line() {
    let root = site("check-bad");
    let file = root.write("a-file", b"x");
    let missing = root.path.join("missing");
    let (root_s, file_s, missing_s) =
        (root.path_str().to_string(), file.display().to_string(), missing.display().to_string());
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&missing_s], "does not exist"),
        (vec![&file_s], "not a directory"),
        (vec!["--listen", "localhost:8080", &root_s], "localhost:8080"),
        (vec!["--listen", "unix:", &root_s], "unix:"),
        (vec!["--workers", "0", &root_s], "--workers"),
    ];
    if require_root("the --user case: users are only looked up when started as root") {
        cases.push((vec!["--user", "no-such-user-staticd", &root_s], "no-such-user-staticd"));
    }
    for (args, names) in cases {
        let mut full = vec!["--check", "--listen", "127.0.0.1:0"];
        full.extend(args.iter().copied());
        let exit = run_capture(&full, LONG, |_| {});
        let lines: Vec<&str> = exit.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(exit_code(&exit.status), 2, "{full:?}: stderr:\n{}", exit.stderr);
        assert_eq!(lines.len(), 1, "{full:?}: one line expected:\n{}", exit.stderr);
        assert!(lines[0].starts_with("staticd: ") && lines[0].contains(names), "{full:?}: {:?}", lines[0]);
        assert!(!exit.leftovers, "{full:?} forked");
    }
}

#[test]
fn overlapping_reloads_keep_every_worker_counted() {
    // Two HUPs while the first old worker is still finishing a download: three workers exist at once (two
    // retiring, one current) and must not share a statistics slot.
    let root = site("hup-twice");
    let server = root.serve(&["--workers", "1", "--status-path", "/-/metrics"]);
    let first = server.wait_for_workers(1, LONG);
    let (s, resp, body) = start_download(server.addr());
    server.signal(libc::SIGHUP);
    let second = wait_until(LONG, || server.worker_pids().iter().any(|p| !first.contains(p)));
    assert!(second, "no new worker after the first HUP");
    server.signal(libc::SIGHUP);
    assert!(
        wait_until(LONG, || server.stderr_count(|l| l.contains("received HUP")) == 2),
        "second HUP not taken; stderr:\n{}",
        server.stderr_text()
    );
    finish_download(s, &resp, body, AfterBody::StaysOpen);
    let needle = format!("old worker (pid {}) finished after reload", first[0]);
    assert!(server.wait_for_stderr(|l| l.contains(&needle), LONG).is_some(), "{needle:?} missing");
    // Once the old ones are gone exactly one worker is counted, and it is the one answering.
    let settled = wait_until(LONG, || {
        let page = get(server.addr(), "/-/metrics");
        page.status == 200 && page.body_str().lines().any(|l| l == "staticd_workers 1")
    });
    assert!(settled, "metrics never settled on one worker: {}", get(server.addr(), "/-/metrics").body_str());
    assert_eq!(get(server.addr(), "/index.html").status, 200);
}

/// The figures of a wrk run that tell whether any client noticed something.
#[derive(Debug, Default)]
struct WrkErrors {
    requests: u64,
    /// connect, read, write and timeout errors, summed.
    socket_errors: u64,
    non_2xx: u64,
}

/// Reads `N requests in`, `Socket errors: connect A, read B, write C, timeout D` and `Non-2xx or 3xx responses:
/// N` from wrk's report.
fn parse_wrk(report: &str) -> WrkErrors {
    let mut out = WrkErrors::default();
    for line in report.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            out.socket_errors =
                rest.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            out.non_2xx = rest.trim().parse().unwrap_or(u64::MAX);
        } else if let Some((n, _)) = line.split_once(" requests in ") {
            out.requests = n.trim().parse().unwrap_or(0);
        }
    }
    out
}

#[test]
fn wrk_sees_no_error_across_five_reloads() {
    // The measurement: 64 keep-alive connections and 5 HUPs in 8 s. nginx loses a request on every
    // idle connection it closes at reload; handing connections over must lose none.
    if !require_tool("wrk") {
        return;
    }
    let root = site("hup-wrk");
    let server = root.serve(&[]);
    let url = format!("http://{}/index.html", server.addr());
    let wrk = std::process::Command::new("wrk")
        .args(["-t2", "-c64", "-d8s", "--latency", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start wrk");
    let mut workers = server.wait_for_workers(2, LONG);
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(1200));
        let huped = server.stderr_count(|l| l.contains("received HUP"));
        server.signal(libc::SIGHUP);
        assert!(wait_until(LONG, || server.stderr_count(|l| l.contains("received HUP")) > huped), "HUP not taken");
        let new = wait_until(LONG, || {
            let now = server.worker_pids();
            now.len() == 2 && now.iter().all(|p| !workers.contains(p))
        });
        assert!(new, "the new generation never took over");
        workers = server.worker_pids();
    }
    let output = wrk.wait_with_output().expect("wrk finished");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {report}\n{}", String::from_utf8_lossy(&output.stderr));
    let seen = parse_wrk(&report);
    println!("wrk across 5 reloads: {seen:?}");
    assert!(seen.requests > 1000, "wrk made too few requests to tell: {report}");
    assert_eq!((seen.socket_errors, seen.non_2xx), (0, 0), "clients noticed the reloads:\n{report}");
}

#[test]
fn wrk_report_parsing() {
    let report = "Running 8s test @ http://127.0.0.1:1/\n  123456 requests in 8.00s, 1.00MB read\n  Socket errors: connect 0, read 16, write 2, timeout 1\n  Non-2xx or 3xx responses: 3\n";
    let seen = parse_wrk(report);
    assert_eq!((seen.requests, seen.socket_errors, seen.non_2xx), (123_456, 19, 3));
}
