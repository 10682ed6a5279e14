//! Floods and limits (issue 5): thousands of concurrent keep-alive connections are all served, running out
//! of descriptors neither kills nor spins the master and service comes back once connections close, and
//! `--max-conns` caps each worker (the next client waits in the backlog until a slot frees).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const FLOOD: usize = 2000;

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("a.txt", b"alpha\n");
    root
}

#[test]
fn two_thousand_concurrent_keepalive_connections_are_all_served() {
    let descriptors = FLOOD as u64 + 200;
    if !require(
        ensure_own_nofile(descriptors),
        &format!("a hard descriptor limit of {descriptors} for the client sockets"),
    ) {
        return;
    }
    let root = site("flood2000");
    let server = root.serve(&[]);

    // Open them all first, so the server really holds 2,000 connections at once.
    let mut conns: Vec<TcpStream> = (0..FLOOD)
        .map(|i| {
            TcpStream::connect_timeout(&server.addr(), IO_TIMEOUT)
                .unwrap_or_else(|e| panic!("connection {i} of {FLOOD}: {e}"))
        })
        .collect();
    for s in &conns {
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    }
    for round in 0..2 {
        for (i, s) in conns.iter_mut().enumerate() {
            s.write_all(format!("GET /a.txt?c={i}&r={round} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .unwrap_or_else(|e| panic!("round {round}: write on connection {i}: {e}"));
        }
        for (i, s) in conns.iter_mut().enumerate() {
            let mut buf = Vec::new();
            let r = read_response(s, &mut buf, false)
                .unwrap_or_else(|e| panic!("round {round}: connection {i} of {FLOOD}: {e}"));
            assert_eq!(r.status, 200, "round {round}: connection {i}");
            assert_eq!(r.body, b"alpha\n", "round {round}: connection {i}");
            assert!(!r.says_close(), "round {round}: connection {i} was not kept alive");
        }
    }
    let workers = server.worker_pids();
    assert_eq!(workers.len(), 2, "a worker died under the flood");
}

/// Connections held open against a server whose descriptors are exhausted; each either got its response,
/// is waiting in the backlog, or was closed unanswered.
struct Crowd {
    answered: Vec<TcpStream>,
    waiting: Vec<TcpStream>,
    closed: usize,
    /// Statuses of the 5xx answers among `answered`.
    errors: Vec<u16>,
}

/// Runs `during` and returns the master's CPU time and the wall time it took.
fn master_cpu_during(master: i32, at_least: Duration, during: impl FnOnce() -> usize) -> (Duration, Duration) {
    let cpu0 = cpu_time(master).expect("master cpu time");
    let wall0 = Instant::now();
    let arrivals = during();
    if wall0.elapsed() < at_least {
        thread::sleep(at_least - wall0.elapsed());
    }
    let cpu = cpu_time(master).expect("master cpu time") - cpu0;
    println!("{arrivals} clients arrived during the measurement");
    (cpu, wall0.elapsed())
}

fn flood_with_requests(addr: std::net::SocketAddr, n: usize) -> Crowd {
    let mut all: Vec<TcpStream> = (0..n).filter_map(|_| TcpStream::connect_timeout(&addr, IO_TIMEOUT).ok()).collect();
    for s in &mut all {
        let _ = s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    // Give the server a moment to answer what it can.
    thread::sleep(Duration::from_millis(1500));
    let mut crowd = Crowd { answered: Vec::new(), waiting: Vec::new(), closed: 0, errors: Vec::new() };
    for mut s in all {
        s.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let mut buf = Vec::new();
        match read_response(&mut s, &mut buf, false) {
            Ok(r) if r.status == 200 => crowd.answered.push(s),
            // Out of descriptors, the worker cannot open the file: a server error is fair.
            Ok(r) if r.status == 500 || r.status == 503 => {
                crowd.errors.push(r.status);
                crowd.answered.push(s)
            }
            Ok(r) => panic!("unexpected {} {} under descriptor exhaustion", r.status, r.reason),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                crowd.waiting.push(s)
            }
            Err(_) => crowd.closed += 1,
        }
    }
    crowd
}

#[test]
fn descriptor_exhaustion_neither_kills_nor_spins_the_master_and_service_recovers() {
    const LIMIT: u64 = 64;
    let root = site("emfile");
    let mut server = Server::start_cmd(&["--listen", "127.0.0.1:0", "--workers", "1", root.path_str()], |cmd| {
        limit_nofile(cmd, LIMIT)
    });
    let master = server.pid();
    let worker = server.wait_for_workers(1, LONG)[0];
    assert_eq!(get(server.addr(), "/a.txt").status, 200);

    // Far more clients than descriptors: accept (or the hand-over to the worker) runs out of them.
    let crowd = flood_with_requests(server.addr(), 3 * LIMIT as usize);
    assert!(!crowd.answered.is_empty(), "nothing was served under the limit");

    // While the limit holds and the crowd stays, more clients keep arriving (each one more descriptor
    // the server does not have): the master must do its work and otherwise idle, not spin.
    let (cpu, wall) = master_cpu_during(master, Duration::from_secs(3), || {
        let mut pressure = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            for _ in 0..20 {
                if let Ok(mut s) = TcpStream::connect_timeout(&server.addr(), IO_TIMEOUT) {
                    let _ = s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
                    pressure.push(s);
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        pressure.len()
    });
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "the master died under descriptor exhaustion; stderr:\n{}",
        server.stderr_text()
    );
    assert!(
        cpu.as_secs_f64() < 0.2 * wall.as_secs_f64(),
        "the master used {cpu:?} of CPU in {wall:?} while descriptors were exhausted (spinning)"
    );
    assert!(pid_alive(worker), "the worker died under descriptor exhaustion");
    let answered = crowd.answered.len();
    let waiting = crowd.waiting.len();
    println!(
        "under --nofile {LIMIT}: {answered} answered ({:?} errors), {waiting} waiting, {} closed \
         unanswered; master cpu {cpu:?} in {wall:?}",
        crowd.errors, crowd.closed
    );
    let lines = server.stderr_lines();
    let said = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    println!(
        "server log: {} accept EMFILE pauses, {} truncated hand-overs, {} failed opens",
        said("accept: Too many open files"),
        said("MSG_CTRUNC"),
        said("Too many open files") - said("accept: Too many open files")
    );

    // Free the descriptors: the clients that waited are served now, and so are new ones.
    drop(crowd.answered);
    for (i, mut s) in crowd.waiting.into_iter().enumerate() {
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false)
            .unwrap_or_else(|e| panic!("waiting client {i} of {waiting} was not served after the crowd left: {e}"));
        assert_eq!(r.status, 200, "waiting client {i}");
        drop(s);
    }
    let recovered = wait_until(LONG, || {
        let mut s = server.connect();
        let _ = s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut buf = Vec::new();
        matches!(read_response(&mut s, &mut buf, false), Ok(r) if r.status == 200)
    });
    assert!(recovered, "service did not recover after the connections closed");
    // Several rounds of fresh clients, each more than the limit allowed at once before.
    for round in 0..3 {
        for i in 0..LIMIT {
            let r = get(server.addr(), "/a.txt");
            assert_eq!(r.status, 200, "round {round}, client {i} after recovery");
        }
    }

    // Now the master itself: with its soft limit at the descriptors it already has, every accept fails
    // with EMFILE for as long as that lasts. Clients wait in the backlog; the master must not spin.
    if !require_tool("prlimit") {
        return;
    }
    let have = fd_count(master) as u64;
    set_nofile_of(master, have, LIMIT);
    let mut waiting: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
    for s in &mut waiting {
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    }
    let (cpu, wall) = master_cpu_during(master, Duration::from_secs(3), || 0);
    assert!(
        cpu.as_secs_f64() < 0.2 * wall.as_secs_f64(),
        "the master used {cpu:?} of CPU in {wall:?} while every accept failed with EMFILE (spinning)"
    );
    assert!(server.wait_exit(Duration::ZERO).is_none(), "the master died while accept failed");
    let emfile = server.wait_for_stderr(|l| l.contains("accept") && l.contains("Too many open files"), LONG);
    assert!(emfile.is_some(), "accept never reported EMFILE; stderr:\n{}", server.stderr_text());
    // Descriptors free up (the soft limit goes back): the clients that waited are served, each as the one
    // before it leaves (the limit lowered --max-conns to a few connections, held by these keep-alive clients).
    set_nofile_of(master, LIMIT, LIMIT);
    for (i, mut s) in waiting.into_iter().enumerate() {
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false)
            .unwrap_or_else(|e| panic!("client {i} that waited out the master's EMFILE was not served: {e}"));
        assert_eq!(r.status, 200, "client {i} that waited out the master's EMFILE");
    }
    println!("master at EMFILE: cpu {cpu:?} in {wall:?}");
}

#[test]
fn max_conns_is_respected_per_worker() {
    let root = site("maxconns");
    let server = root.serve(&["--workers", "1", "--max-conns", "5", "--keepalive-timeout", "60"]);
    let mut held: Vec<(TcpStream, Vec<u8>)> = (0..5).map(|_| server.served_keepalive("/a.txt")).collect();

    let mut sixth = server.connect();
    sixth.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    sixth.set_read_timeout(Some(Duration::from_millis(1500))).expect("timeout");
    let mut byte = [0u8; 1];
    match sixth.read(&mut byte) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
        Ok(n) => panic!("the 6th connection got {n} byte(s) while 5 of --max-conns 5 were held: {:?}", byte),
        Err(e) => panic!("the 6th connection failed instead of waiting: {e}"),
    }

    // The held ones still work, and still count.
    let (s, buf) = &mut held[0];
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    assert_eq!(read_response(s, buf, false).expect("held").status, 200);

    // One leaves: the 6th is served.
    let left = held.remove(4);
    drop(left);
    sixth.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut buf = Vec::new();
    let r =
        read_response(&mut sixth, &mut buf, false).expect("the 6th connection must be served once one of the 5 closes");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha\n");
}

#[test]
fn at_max_conns_a_freed_slot_is_taken_at_once_not_on_a_timer() {
    // One slot, a queue of clients: each is answered only once the previous one's connection has ended. The
    // master learns of the free slot from the worker; polling (once a second as a fallback) would make these
    // 30 hand-offs take 30 s or more, far above the bound below on any machine.
    let root = site("maxconns-resume");
    let server = root.serve(&["--workers", "1", "--max-conns", "1"]);
    let started = std::time::Instant::now();
    let clients: Vec<_> = (0..30)
        .map(|i| {
            let addr = server.addr();
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let req = format!("GET /a.txt?{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                s.write_all(req.as_bytes()).expect("write");
                read_response(&mut s, &mut Vec::new(), false).map(|r| r.status)
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().expect("client thread").expect("answered"), 200);
    }
    let took = started.elapsed();
    println!("30 clients through one slot in {took:?}");
    assert!(took < Duration::from_secs(15), "a freed slot waited for the master's timer: {took:?}");
}

#[test]
fn max_conns_fits_the_descriptor_limit_and_the_rest_wait_in_the_backlog() {
    // Under a 300-descriptor limit a worker cannot hold --max-conns 10000: the limit lowers it (said at
    // start), so clients beyond it wait in the backlog and are served as others leave, instead of being
    // passed to a worker that cannot take them and reset.
    const CLIENTS: usize = 400;
    let root = site("maxconns-nofile");
    let args = ["--listen", "127.0.0.1:0", "--workers", "1", root.path_str()];
    let server = Server::start_cmd(&args, |cmd| limit_nofile(cmd, 300));
    let warned = server.wait_for_stderr(|l| l.contains("--max-conns 10000 lowered to"), LONG);
    assert!(warned.is_some(), "no warning about --max-conns; stderr:\n{}", server.stderr_text());
    let mut waiting: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            let mut s = connect(server.addr());
            s.write_all(format!("GET /a.txt?{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
            s
        })
        .collect();
    let mut served = 0;
    let deadline = std::time::Instant::now() + LONG;
    while !waiting.is_empty() {
        assert!(std::time::Instant::now() < deadline, "{} clients never served ({served} were)", waiting.len());
        let mut still = Vec::new();
        for mut s in waiting {
            s.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
            let mut byte = [0u8; 1];
            match s.peek(&mut byte) {
                Ok(0) => panic!("a client was closed without a response after {served} were served"),
                Ok(_) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                    let r = read_response(&mut s, &mut Vec::new(), false).expect("a whole response");
                    assert_eq!(r.status, 200);
                    served += 1;
                    // Leaving frees the slot for one that waits.
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    still.push(s)
                }
                Err(e) => panic!("a client failed instead of waiting, after {served} were served: {e}"),
            }
        }
        waiting = still;
    }
    assert_eq!(served, CLIENTS);
}
