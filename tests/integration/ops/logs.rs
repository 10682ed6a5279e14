//! Access logs through the real binary: every field of both formats, escaping that no hostile target or
//! user agent can get past, whole lines from concurrent workers, nothing lost on QUIT/TERM, USR1 rotation,
//! and where the log goes by default.
//!
//! Operators feed these lines to log processors and security tooling, so a split, merged, lost or forged
//! line is a real bug; each property is pinned here by counting and parsing every line.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::support::*;

/// One request on its own connection: the response and every byte the server sent (what the log counts).
fn exchange(addr: SocketAddr, raw: &[u8]) -> (Response, u64) {
    let (resp, sent) = request_counted(addr, raw);
    assert_eq!(resp.version, "HTTP/1.1", "{:?}", show(raw));
    (resp, sent as u64)
}

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>hello</h1>\n");
    root.write("big.bin", &pattern(100_000, 0));
    root
}

fn start_logging(root: &TempRoot, log: &Path, extra: &[&str]) -> Server {
    let log = log.to_str().expect("utf-8 path");
    let mut args = vec!["--access-log", log];
    args.extend_from_slice(extra);
    root.serve(&args)
}

#[test]
fn combined_lines_carry_every_field() {
    let root = site("combined-fields");
    let log = root.beside("access.log");
    let server = start_logging(&root, &log, &[]);
    let requests: Vec<(String, u16)> = vec![
        (
            "GET /index.html?x=1 HTTP/1.1\r\nHost: t\r\nReferer: http://ref.example/p\r\nUser-Agent: probe/1.0\r\nConnection: close\r\n\r\n".into(),
            200,
        ),
        ("GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(), 404),
        ("HEAD /big.bin HTTP/1.0\r\nUser-Agent: h\r\n\r\n".into(), 200),
        ("GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(), 200),
    ];
    let mut sizes = Vec::new();
    for (raw, status) in &requests {
        let (resp, sent) = exchange(server.addr(), raw.as_bytes());
        assert_eq!(resp.status, *status, "{raw:?}");
        sizes.push(sent);
    }
    let lines = wait_log_lines(&log, requests.len(), LONG);
    assert_eq!(lines.len(), requests.len(), "one line per request; log:\n{}", lines.join("\n"));
    let parsed: Vec<Combined> = lines.iter().map(|l| parse_combined(l).unwrap_or_else(|e| panic!("{e}"))).collect();
    // Requests went one after another on fresh connections, so lines are in order whichever worker wrote them
    // only if they share a buffer; match them by request line instead.
    let expect = [
        ("GET /index.html?x=1 HTTP/1.1", 200, "http://ref.example/p", "probe/1.0", sizes[0]),
        ("GET /missing HTTP/1.1", 404, "-", "-", sizes[1]),
        ("HEAD /big.bin HTTP/1.0", 200, "-", "h", sizes[2]),
        ("GET /big.bin HTTP/1.1", 200, "-", "-", sizes[3]),
    ];
    for (request, status, referer, ua, bytes) in expect {
        let rec = parsed
            .iter()
            .find(|p| p.request == request)
            .unwrap_or_else(|| panic!("no line for {request:?}; log:\n{}", lines.join("\n")));
        assert_eq!(rec.client, "127.0.0.1", "{rec:?}");
        assert!(is_clf_time(&rec.time), "time field {:?}", rec.time);
        assert_eq!(rec.status, status, "{rec:?}");
        assert_eq!((rec.referer.as_str(), rec.user_agent.as_str()), (referer, ua), "{rec:?}");
        assert_eq!(rec.bytes, bytes, "bytes sent (head + body) for {request:?}: {rec:?}");
    }
}

#[test]
fn json_lines_carry_every_field() {
    let root = site("json-fields");
    let log = root.beside("access.jsonl");
    let server = start_logging(&root, &log, &["--log-format", "json"]);
    let (_, ok) = exchange(
        server.addr(),
        b"GET /index.html HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\nUser-Agent: probe/2.0\r\nConnection: close\r\n\r\n",
    );
    let (_, missing) = exchange(server.addr(), b"GET /nope?q HTTP/1.0\r\n\r\n");
    let lines = wait_log_lines(&log, 2, LONG);
    assert_eq!(lines.len(), 2, "log:\n{}", lines.join("\n"));
    let recs: Vec<JsonRecord> = lines.iter().map(|l| parse_json_record(l).unwrap_or_else(|e| panic!("{e}"))).collect();
    let first = recs.iter().find(|r| r.target == "/index.html").expect("line for /index.html");
    assert_eq!(
        (first.client.as_str(), first.method.as_str(), first.version.as_str(), first.status),
        ("127.0.0.1", "GET", "HTTP/1.1", 200)
    );
    assert_eq!((first.referer.as_deref(), first.user_agent.as_deref()), (Some("http://r/"), Some("probe/2.0")));
    assert_eq!(first.bytes, ok);
    let second = recs.iter().find(|r| r.target == "/nope?q").expect("line for /nope?q");
    assert_eq!((second.version.as_str(), second.status, second.bytes), ("HTTP/1.0", 404, missing));
    assert_eq!((second.referer.as_deref(), second.user_agent.as_deref()), (None, None), "absent → null");
    for r in &recs {
        assert!(is_rfc3339_utc(&r.time), "time {:?}", r.time);
        assert!(r.worker < 2, "worker id {} with --workers 2", r.worker);
        assert!(r.duration_us < 10_000_000, "duration {}µs", r.duration_us);
    }
}

/// Hostile requests: (target, user agent, referer) as raw bytes; each is sent on its own connection.
/// (target, user agent, referer) of one hostile request.
type HostileCase = (Vec<u8>, Vec<u8>, Vec<u8>);

fn hostile_requests() -> Vec<HostileCase> {
    // Quotes that would end the user-agent field early and fake the fields after it (a header value cannot
    // carry CR or LF: the parser refuses those, so a fake line boundary cannot even be attempted).
    let forged_combined = br#"x" 200 1 "-" "-"#.to_vec();
    let forged_json = br#"x","worker":9,"client":"6.6.6.6"}{"client":"7.7.7.7"#.to_vec();
    vec![
        (b"/q\"uote\"s".to_vec(), b"a\"b\\c".to_vec(), b"\\".to_vec()),
        (b"/back\\slash\\x22\\u0022".to_vec(), b"\\x0A\\n\\r\\u000a literal escapes".to_vec(), b"\\x22".to_vec()),
        // Targets must be ASCII (anything else is a 400, below); headers may carry obs-text.
        (b"/caf%C3%A9".to_vec(), b"raw \xff\xfe\x80 bytes \xe2\x80\xa8 \xf0\x9f\x98\x80".to_vec(), b"r\xe9f".to_vec()),
        (b"/tab".to_vec(), b"a\tb\t\"c\"".to_vec(), b"-".to_vec()),
        (b"/forge1".to_vec(), forged_combined, b"\" \"".to_vec()),
        (b"/forge2".to_vec(), forged_json, br#""},{"#.to_vec()),
        (b"/%22%0A%5C?a=\"&b=\\".to_vec(), b"}\"{".to_vec(), b"\" 404 0 \"".to_vec()),
    ]
}

fn send_hostile(addr: SocketAddr, (target, ua, referer): &(Vec<u8>, Vec<u8>, Vec<u8>)) -> u16 {
    let mut raw = b"GET ".to_vec();
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\nUser-Agent: ");
    raw.extend_from_slice(ua);
    raw.extend_from_slice(b"\r\nReferer: ");
    raw.extend_from_slice(referer);
    raw.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    exchange(addr, &raw).0.status
}

/// A request line with raw non-ASCII bytes (and a quote) in the target: refused with 400, logged as one line
/// with no request.
const RAW_TARGET: &[u8] = b"GET /caf\xc3\xa9\xff\"x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// What the server can know of a header value: obs-text that is not UTF-8 becomes U+FFFD.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Sends every hostile request and one refused raw target, stops the server (which flushes the log), and
/// returns the cases with the log's lines, checked to be exactly one per request.
fn log_of_hostile_requests(tag: &str, extra: &[&str]) -> (Vec<HostileCase>, Vec<String>) {
    let root = site(tag);
    let log = root.beside("access.log");
    let mut server = start_logging(&root, &log, extra);
    let cases = hostile_requests();
    for case in &cases {
        let status = send_hostile(server.addr(), case);
        assert!(status == 404 || status == 200, "{:?} → {status}", lossy(&case.0));
    }
    assert_eq!(exchange(server.addr(), RAW_TARGET).0.status, 400);
    // Stopping flushes everything, so a forged extra line would be there to count.
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some(), "QUIT did not end the server");
    let lines = log_lines(&log);
    assert_eq!(lines.len(), cases.len() + 1, "one request = one line; log:\n{}", lines.join("\n"));
    (cases, lines)
}

#[test]
fn hostile_targets_and_agents_cannot_forge_combined_lines() {
    let (cases, lines_after) = log_of_hostile_requests("hostile-combined", &[]);
    let parsed: Vec<Combined> = lines_after
        .iter()
        .map(|l| parse_combined(l).unwrap_or_else(|e| panic!("forged or broken line: {e}")))
        .collect();
    let refused: Vec<&Combined> = parsed.iter().filter(|p| p.status == 400).collect();
    assert_eq!(refused.len(), 1, "{parsed:?}");
    assert_eq!((refused[0].request.as_str(), refused[0].user_agent.as_str()), ("-", "-"), "{:?}", refused[0]);
    for (target, ua, referer) in &cases {
        let want_request = format!("GET {} HTTP/1.1", lossy(target));
        let rec = parsed
            .iter()
            .find(|p| unescape_combined(&p.request).ok().as_deref() == Some(want_request.as_bytes()))
            .unwrap_or_else(|| {
                panic!("no line whose request decodes to {want_request:?}; log:\n{}", lines_after.join("\n"))
            });
        assert_eq!(rec.client, "127.0.0.1");
        assert_eq!(unescape_combined(&rec.user_agent).map(|b| lossy(&b)), Ok(lossy(ua)), "{rec:?}");
        assert_eq!(unescape_combined(&rec.referer).map(|b| lossy(&b)), Ok(lossy(referer)), "{rec:?}");
    }
}

#[test]
fn hostile_targets_and_agents_cannot_forge_json_lines() {
    let (cases, lines) = log_of_hostile_requests("hostile-json", &["--log-format", "json"]);
    let recs: Vec<JsonRecord> =
        lines.iter().map(|l| parse_json_record(l).unwrap_or_else(|e| panic!("forged or broken line: {e}"))).collect();
    let refused: Vec<&JsonRecord> = recs.iter().filter(|r| r.status == 400).collect();
    assert_eq!(refused.len(), 1, "{recs:?}");
    assert_eq!((refused[0].method.as_str(), refused[0].target.as_str()), ("", ""), "{:?}", refused[0]);
    for (target, ua, referer) in &cases {
        let rec = recs
            .iter()
            .find(|r| r.target == lossy(target))
            .unwrap_or_else(|| panic!("no line with target {:?}; log:\n{}", lossy(target), lines.join("\n")));
        assert_eq!(rec.client, "127.0.0.1", "{rec:?}");
        assert_eq!(rec.user_agent.as_deref(), Some(lossy(ua).as_str()), "{rec:?}");
        assert_eq!(rec.referer.as_deref(), Some(lossy(referer).as_str()), "{rec:?}");
    }
    if require_tool("python3") {
        // A second opinion from a real JSON implementation.
        let script = "import json,sys\nfor l in sys.argv[1:]:\n  o=json.loads(l)\n  assert isinstance(o, dict) and len(o)==12, l\n  assert o['client']=='127.0.0.1', l\n";
        let mut args = vec!["-c", script];
        args.extend(lines.iter().map(String::as_str));
        let run = run_tool("python3", &args, None, LONG);
        assert!(run.status.success(), "python3 json.loads refused a line: {}", run.stderr);
    }
}

/// `threads` clients, each sending `per_thread` keep-alive requests with unique targets; returns the targets.
fn load(addr: SocketAddr, threads: usize, per_thread: usize, ua_len: usize) -> Vec<String> {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let ua = "u".repeat(ua_len);
                let mut targets = Vec::new();
                let mut stream = connect(addr);
                let mut buf = Vec::new();
                for i in 0..per_thread {
                    let target = if i % 3 == 0 { format!("/index.html?t{t}-{i}") } else { format!("/nf/t{t}-{i}") };
                    let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nUser-Agent: {ua}\r\n\r\n");
                    stream.write_all(raw.as_bytes()).expect("write");
                    let resp = read_response(&mut stream, &mut buf, false).expect("response");
                    assert!(resp.status == 200 || resp.status == 404, "{target}: {}", resp.status);
                    assert!(!resp.says_close(), "keep-alive connection closed by the server");
                    targets.push(target);
                }
                targets
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect()
}

#[test]
fn concurrent_workers_never_split_or_interleave_lines() {
    let root = site("interleave");
    let log = root.beside("access.jsonl");
    let mut server = start_logging(&root, &log, &["--log-format", "json"]);
    // Long lines (~2.3 KB) so each worker's 64 KiB buffer fills and flushes many times while both write.
    let targets = load(server.addr(), 8, 150, 2000);
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some(), "QUIT did not end the server");
    let lines = log_lines(&log);
    assert_eq!(lines.len(), targets.len(), "every request logged exactly once");
    let mut seen = HashMap::new();
    let mut workers = HashSet::new();
    for line in &lines {
        let rec = parse_json_record(line).unwrap_or_else(|e| panic!("split or interleaved line: {e}"));
        assert_eq!(rec.user_agent.as_deref().map(str::len), Some(2000), "user agent cut: {}", show(line.as_bytes()));
        workers.insert(rec.worker);
        *seen.entry(rec.target).or_insert(0) += 1;
    }
    for t in &targets {
        assert_eq!(seen.get(t), Some(&1), "target {t} logged {:?} times", seen.get(t));
    }
    assert_eq!(workers.len(), 2, "both workers served (and logged) under load: {workers:?}");
}

/// Requests answered just before a stop signal are still in the workers' buffers (flushed once a second);
/// none may be lost.
fn no_line_lost_on(sig: i32) {
    let root = site("lost");
    let log = root.beside("access.log");
    let mut server = start_logging(&root, &log, &[]);
    let targets = load(server.addr(), 4, 100, 10);
    server.signal(sig);
    let status = server.wait_exit(LONG).expect("the server did not exit");
    let lines = log_lines(&log);
    let mut logged = HashMap::new();
    for line in &lines {
        let rec = parse_combined(line).unwrap_or_else(|e| panic!("{e}"));
        *logged.entry(rec.request).or_insert(0) += 1;
    }
    let missing: Vec<&String> =
        targets.iter().filter(|t| logged.get(&format!("GET {t} HTTP/1.1")) != Some(&1)).collect();
    assert!(
        missing.is_empty() && lines.len() == targets.len(),
        "signal {sig}: {} requests, {} lines (exit {status}); missing/duplicated: {:?}",
        targets.len(),
        lines.len(),
        &missing[..missing.len().min(10)]
    );
}

#[test]
fn no_line_lost_on_quit() {
    no_line_lost_on(libc::SIGQUIT);
}

#[test]
fn no_line_lost_on_term() {
    no_line_lost_on(libc::SIGTERM);
}

#[test]
fn usr1_rotation_puts_every_request_in_exactly_one_file() {
    let root = site("rotate");
    let log = root.beside("access.log");
    let rotated = root.beside("access.log.1");
    let mut server = start_logging(&root, &log, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (stop, sent, addr) = (stop.clone(), sent.clone(), server.addr());
            thread::spawn(move || {
                let mut targets = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    // Alternate fresh connections and short keep-alive runs.
                    let mut stream = connect(addr);
                    let mut buf = Vec::new();
                    for _ in 0..(1 + i % 4) {
                        let target = format!("/rot/{t}/{i}");
                        let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
                        stream.write_all(raw.as_bytes()).expect("write");
                        let resp = read_response(&mut stream, &mut buf, false).expect("response");
                        assert_eq!(resp.status, 404);
                        targets.push(target);
                        sent.fetch_add(1, Ordering::SeqCst);
                        i += 1;
                    }
                }
                targets
            })
        })
        .collect();
    assert!(wait_until(LONG, || sent.load(Ordering::SeqCst) >= 200), "clients made no progress");
    std::fs::rename(&log, &rotated).expect("rename the log");
    server.signal(libc::SIGUSR1);
    let reopened = server.wait_for_stderr(|l| l.contains("reopened access log"), LONG);
    assert!(reopened.is_some(), "no 'reopened access log' line; stderr:\n{}", server.stderr_text());
    let at_reopen = sent.load(Ordering::SeqCst);
    assert!(wait_until(LONG, || sent.load(Ordering::SeqCst) >= at_reopen + 200), "clients stalled after USR1");
    stop.store(true, Ordering::SeqCst);
    let targets: Vec<String> = clients.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
    // Lines still buffered are flushed within a second; all must arrive without stopping the server.
    let count = || log_lines(&rotated).len() + log_lines(&log).len();
    assert!(
        wait_until(LONG, || count() >= targets.len()),
        "{} requests but {} lines in the two files after waiting",
        targets.len(),
        count()
    );
    let old = log_lines(&rotated);
    let new = log_lines(&log);
    assert!(!old.is_empty() && !new.is_empty(), "both files get lines: old {}, new {}", old.len(), new.len());
    let mut where_logged: HashMap<String, Vec<&str>> = HashMap::new();
    for (name, lines) in [("old", &old), ("new", &new)] {
        for line in lines {
            let rec = parse_combined(line).unwrap_or_else(|e| panic!("{name}: {e}"));
            let target = rec.request.trim_start_matches("GET ").trim_end_matches(" HTTP/1.1").to_string();
            where_logged.entry(target).or_default().push(name);
        }
    }
    for t in &targets {
        let places = where_logged.get(t).cloned().unwrap_or_default();
        assert_eq!(places.len(), 1, "{t} logged in {places:?}");
    }
    assert_eq!(old.len() + new.len(), targets.len(), "no extra lines");
    // Lines logged after USR1 go to the new file: the last requests of every client are there.
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some());
}

/// Starts staticd with stdout piped (not a terminal), returning the server and its stdout lines.
fn start_with_stdout(root: &TempRoot, extra: &[&str]) -> (Server, Lines) {
    let mut args = vec!["--listen", "127.0.0.1:0", "--workers", "2"];
    args.extend_from_slice(extra);
    args.push(root.path_str());
    let server = Server::start_cmd(&args, |cmd| {
        cmd.stdout(Stdio::piped());
    });
    let out = server.stdout().clone();
    (server, out)
}

#[test]
fn access_log_is_off_by_default_when_stdout_is_not_a_terminal() {
    let root = site("default-off");
    let (mut server, out) = start_with_stdout(&root, &[]);
    for _ in 0..5 {
        assert_eq!(get(server.addr(), "/index.html").status, 200);
    }
    // Exiting flushes whatever a worker buffered: if anything was logged, it is on the pipe by EOF.
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some());
    assert!(out.wait_closed(LONG), "stdout pipe never closed");
    assert_eq!(out.snapshot(), Vec::<String>::new(), "nothing on stdout without --access-log");
}

#[test]
fn access_log_dash_writes_to_stdout() {
    let root = site("dash");
    let (mut server, out) = start_with_stdout(&root, &["--access-log", "-"]);
    for i in 0..5 {
        assert_eq!(get(server.addr(), &format!("/index.html?n={i}")).status, 200);
    }
    let early = out.wait_for(|l| l.contains("/index.html?n=4"), LONG);
    assert!(early.is_some(), "lines reach stdout within the flush interval: {:?}", out.snapshot());
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some());
    assert!(out.wait_closed(LONG), "stdout pipe never closed");
    let lines = out.snapshot();
    assert_eq!(lines.len(), 5, "stdout:\n{}", lines.join("\n"));
    for (i, line) in lines.iter().enumerate() {
        let rec = parse_combined(line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rec.status, 200);
        assert!(lines.iter().any(|l| l.contains(&format!("GET /index.html?n={i} HTTP/1.1"))));
    }
}

/// A download's line is written when it has left, with what really left: a client that hangs up after 1 MB
/// of a 50 MB file is logged with about 1 MB, and a slow download with its real duration.
#[test]
fn lines_record_the_bytes_sent_and_the_time_to_the_last_byte() {
    let root = site("logs-sent");
    root.write_sparse("huge.bin", 50 << 20);
    // Larger than the socket buffers on both sides, so the last byte leaves only as the client reads.
    root.write_sparse("slow.bin", 32 << 20);
    let log = root.beside("sent.log");
    let server = start_logging(&root, &log, &["--log-format", "json"]);

    // Read 1 MiB, then hang up.
    let mut s = server.connect();
    s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    while got < 1 << 20 {
        got += std::io::Read::read(&mut s, &mut buf).expect("read");
    }
    drop(s);

    // Read 32 MiB slowly: a pause of 20 ms after every read of at most 1 MiB.
    let started = std::time::Instant::now();
    let mut s = server.connect();
    s.write_all(b"GET /slow.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    let mut total = 0usize;
    loop {
        let n = std::io::Read::read(&mut s, &mut buf).expect("read slow");
        if n == 0 {
            break;
        }
        total += n;
        thread::sleep(std::time::Duration::from_millis(20));
    }
    let took = started.elapsed();
    assert!(total > 32 << 20, "the slow download arrived whole");

    let lines = wait_log_lines(&log, 2, LONG);
    let records: Vec<JsonRecord> =
        lines.iter().map(|l| parse_json_record(l).unwrap_or_else(|e| panic!("{e}"))).collect();
    let huge = records.iter().find(|r| r.target == "/huge.bin").expect("line of the cut download");
    assert_eq!(huge.status, 200);
    assert!(huge.bytes >= 1 << 20, "logged {} bytes, the client read {got}", huge.bytes);
    assert!(huge.bytes < 50 << 20, "the cut download is logged as whole: {} bytes", huge.bytes);
    let slow = records.iter().find(|r| r.target == "/slow.bin").expect("line of the slow download");
    assert_eq!(slow.bytes, total as u64, "every byte sent, head included");
    assert!(
        slow.duration_us >= 200_000,
        "duration_us {} for a download that took {took:?} at the client",
        slow.duration_us
    );
}

/// A small tmpfs, unmounted (lazily, so a still-open log cannot block it) when dropped, even if the test fails.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(dir: std::path::PathBuf, size: &str) -> TinyFs {
        std::fs::create_dir_all(&dir).expect("mount point");
        let opts = format!("size={size}");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(ok.success(), "mount tmpfs on {}", dir.display());
        TinyFs(dir)
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![b'x'; 512];
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Issue 12, item 7: after ENOSPC cut a flush mid-line, the next flush used to be glued onto the fragment.
#[test]
fn a_full_disk_never_merges_two_requests_into_one_line() {
    if !require_root("mounting a 64 KiB tmpfs to fill up") {
        return;
    }
    let root = site("disk-full");
    let fs = TinyFs::mount(root.beside("tinyfs"), "64k");
    let log = fs.0.join("access.log");
    let mut server = start_logging(&root, &log, &["--status-path", "/status"]);
    let ua = "f".repeat(300);
    let send = |tag: &str, n: usize| {
        for i in 0..n {
            let raw = format!(
                "GET /index.html?{tag}-{i} HTTP/1.1\r\nHost: t\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n"
            );
            assert_eq!(exchange(server.addr(), raw.as_bytes()).0.status, 200);
        }
    };
    send("before", 5);
    wait_log_lines(&log, 5, LONG);
    // The disk fills up; the log's last page still has room for part of a flush, so writes are cut short.
    fill(&fs.0.join("filler"));
    for round in 0..3 {
        send(&format!("full{round}"), 20);
        thread::sleep(std::time::Duration::from_millis(1300));
    }
    // Room again: these land, and must not be glued onto a fragment.
    std::fs::remove_file(fs.0.join("filler")).expect("free space");
    send("after", 10);
    thread::sleep(std::time::Duration::from_millis(1300));
    let metrics = String::from_utf8_lossy(&get(server.addr(), "/status").body).into_owned();
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some(), "QUIT did not end the server");

    let bytes = std::fs::read(&log).expect("read log");
    assert!(bytes.ends_with(b"\n"), "the log ends mid-line");
    let lines = log_lines(&log);
    let mut whole = HashSet::new();
    for line in &lines {
        assert!(
            line.matches(" HTTP/1.1\"").count() <= 1 && line.matches("GET ").count() <= 1,
            "two requests in one line: {line}"
        );
        if let Ok(rec) = parse_combined(line) {
            whole.insert(rec.request);
        }
    }
    for tag in ["before", "after"] {
        let n = if tag == "before" { 5 } else { 10 };
        for i in 0..n {
            let want = format!("GET /index.html?{tag}-{i} HTTP/1.1");
            assert!(whole.contains(&want), "{want} not logged whole; log:\n{}", lines.join("\n"));
        }
    }
    let dropped: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("staticd_access_log_dropped_lines_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    let logged_full = whole.iter().filter(|r| r.contains("?full")).count() as u64;
    assert!(dropped > 0, "the disk never filled: nothing was cut; metrics:\n{metrics}");
    assert_eq!(dropped, 60 - logged_full, "dropped-lines counter; metrics:\n{metrics}");
}
