//! The process model as the operating system sees it: one master and N workers, connections
//! spread over workers, a killed worker replaced while service continues, a hung worker replaced but none
//! killed when the whole group was stopped, a USR1 log handoff that survives a full channel, TERM/INT/QUIT semantics,
//! and (as root) workers that are chrooted and unprivileged. Observed through /proc, not logs alone.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

fn small_site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>home</h1>\n");
    root.write("a.txt", b"alpha\n");
    root
}

fn assert_serves(server: &Server, what: &str) {
    // Several separate connections so that every worker gets a chance to answer.
    for i in 0..6 {
        let resp = get(server.addr(), "/a.txt");
        assert_eq!(resp.status, 200, "{what}: request {i}");
        assert_eq!(resp.body, b"alpha\n", "{what}: request {i}");
    }
}

fn exe_of(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/exe")).ok().map(|p| p.to_string_lossy().into_owned())
}

#[test]
fn one_master_and_n_workers() {
    let root = small_site("n-workers");
    let server = root.serve(&["--workers", "3"]);
    let line = server.wait_for_stderr(|l| l.starts_with("staticd: serving "), LONG).expect("serving line");
    assert!(line.ends_with("(3 workers)"), "{line:?}");
    let workers = server.wait_for_workers(3, LONG);
    // Stable: no worker exits and gets replaced right after start.
    thread::sleep(Duration::from_millis(500));
    assert_eq!(server.worker_pids(), workers, "workers changed shortly after start");
    let master_exe = exe_of(server.pid());
    for w in &workers {
        // Workers are forks of the master (same image), not helpers spawned from elsewhere.
        if let (Some(m), Some(e)) = (&master_exe, exe_of(*w)) {
            assert_eq!(&e, m, "worker {w} runs another program");
        }
        // No grandchildren: the tree is exactly master → workers.
        assert!(children_of(*w).is_empty(), "worker {w} has children");
    }
    assert_serves(&server, "3 workers");
}

#[test]
fn default_worker_count_is_cpus_online() {
    let root = small_site("default-workers");
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    assert!(online > 0, "sysconf(_SC_NPROCESSORS_ONLN)");
    let server = Server::start_with(&["--listen", "127.0.0.1:0", root.path_str()]);
    server.wait_for_workers(online as usize, LONG);
    let line = server.wait_for_stderr(|l| l.starts_with("staticd: serving "), LONG).expect("serving line");
    assert!(line.contains(&format!("({online} worker")), "{line:?}");
}

/// Workers owning at least one ESTABLISHED connection.
fn workers_with_connections(server: &Server) -> Vec<(i32, usize)> {
    server.worker_pids().into_iter().map(|w| (w, tcp_states_of(w).get("ESTABLISHED").copied().unwrap_or(0))).collect()
}

#[test]
fn a_burst_of_connections_lands_on_more_than_one_worker() {
    let root = small_site("spread");
    let server = root.serve(&[]);
    server.wait_for_workers(2, LONG);
    let addr = server.addr();
    // Four threads open connections concurrently and keep them; each does one request so the
    // connection is known to have reached a worker before we look.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut held = Vec::new();
                for _ in 0..10 {
                    let mut s = connect(addr);
                    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
                    let mut buf = Vec::new();
                    let r = read_response(&mut s, &mut buf, false).expect("response");
                    assert_eq!(r.status, 200);
                    held.push(s);
                }
                held
            })
        })
        .collect();
    let held: Vec<TcpStream> = handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
    assert_eq!(held.len(), 40);
    let mut spread = Vec::new();
    let ok = wait_until(LONG, || {
        spread = workers_with_connections(&server);
        let total: usize = spread.iter().map(|(_, n)| n).sum();
        total >= 40
    });
    assert!(ok, "the workers should hold all 40 live connections: {spread:?}");
    let busy = spread.iter().filter(|(_, n)| *n > 0).count();
    assert!(busy >= 2, "all 40 connections went to one worker: {spread:?}");
    // The master hands connections over and keeps none.
    let master = tcp_states_of(server.pid());
    assert_eq!(master.get("ESTABLISHED").copied().unwrap_or(0), 0, "master still holds client sockets: {master:?}");
}

#[test]
fn a_killed_worker_is_replaced_and_service_continues() {
    let root = small_site("respawn");
    let server = root.serve(&[]);
    let before = server.wait_for_workers(2, LONG);
    let victim = before[0];
    // A keep-alive connection, possibly on the surviving worker, must live through the respawn.
    let (mut kept, mut kept_buf) = server.served_keepalive("/a.txt");
    let kept_on_victim = tcp_states_of(victim).contains_key("ESTABLISHED");

    kill(victim, libc::SIGKILL);
    let (replaced, after) = server.wait_for_workers_without(victim, 2, LONG);
    assert!(replaced, "worker {victim} was not replaced: workers {after:?}; stderr:\n{}", server.stderr_text());
    let died = server.wait_for_stderr(|l| l.contains("died"), LONG);
    assert!(died.is_some(), "no `died` log line; stderr:\n{}", server.stderr_text());
    let respawned = server.wait_for_stderr(|l| l.contains("respawn"), LONG);
    assert!(respawned.is_some(), "no `respawn` log line; stderr:\n{}", server.stderr_text());
    assert!(server.pid() > 0 && pid_alive(server.pid()), "the master died too");
    assert_serves(&server, "after respawn");
    if !kept_on_victim {
        kept.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .expect("write on the surviving worker's connection");
        let r = read_response(&mut kept, &mut kept_buf, false).expect("survivor still serves");
        assert_eq!(r.status, 200);
    }
}

#[test]
fn a_worker_that_keeps_dying_keeps_being_replaced() {
    let root = small_site("respawn-repeat");
    let server = root.serve(&[]);
    let mut workers = server.wait_for_workers(2, LONG);
    for round in 0..4 {
        let victim = workers[0];
        kill(victim, libc::SIGKILL);
        // Back-off may delay the replacement, but it must come.
        let (ok, now) = server.wait_for_workers_without(victim, 2, Duration::from_secs(40));
        workers = now;
        assert!(
            ok,
            "round {round}: worker {victim} not replaced, workers {workers:?}; stderr:\n{}",
            server.stderr_text()
        );
        assert_serves(&server, &format!("round {round}"));
    }
}

/// Waits for the master to exit and for every worker to be gone; returns how long that took.
fn assert_all_gone(server: &mut Server, workers: &[i32], within: Duration, what: &str) -> Duration {
    let start = Instant::now();
    let status = server.wait_exit(LONG);
    assert!(status.is_some(), "{what}: the master did not exit");
    let ok = wait_until(LONG, || workers.iter().all(|w| !pid_alive(*w)));
    let took = start.elapsed();
    let left: Vec<i32> = workers.iter().copied().filter(|w| pid_alive(*w)).collect();
    assert!(ok, "{what}: workers still running: {left:?}");
    assert!(!group_alive(server.pid()), "{what}: something of the server's group is still alive");
    assert!(took <= within, "{what}: took {took:?}, more than {within:?}");
    took
}

#[test]
fn term_and_int_stop_every_process() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let root = small_site(name);
        let mut server = root.serve(&[]);
        let workers = server.wait_for_workers(2, LONG);
        // An idle keep-alive connection must not hold the shutdown up.
        let _idle = server.served_keepalive("/a.txt");
        server.signal(sig);
        // "Within a second", plus slack for a loaded two-core CI machine.
        assert_all_gone(&mut server, &workers, Duration::from_secs(3), name);
    }
}

#[test]
fn quit_lets_a_running_download_finish() {
    let root = small_site("quit");
    let size = 64 * 1024 * 1024;
    root.write_sparse("big.bin", size as u64);
    let mut server = root.serve(&[]);
    let workers = server.wait_for_workers(2, LONG);
    let mut stream = server.connect();
    stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    // Read the head and a little body, so the download is provably in flight when QUIT lands.
    let (head, mut started) = read_head(&mut stream);
    read_at_least(&mut stream, &mut started, 256 * 1024);
    server.signal(libc::SIGQUIT);
    thread::sleep(Duration::from_millis(300));
    assert_eq!((head.version.as_str(), head.status), ("HTTP/1.1", 200), "{head:?}");
    let mut body = started.len();
    let mut chunk = vec![0u8; 65536];
    while body < size {
        match stream.read(&mut chunk) {
            Ok(0) => panic!("download cut short by QUIT: EOF after {body} of {size} bytes"),
            Ok(n) => body += n,
            Err(e) => panic!("download broken by QUIT after {body} of {size} bytes: {e}"),
        }
    }
    assert_eq!(body, size, "more body than Content-Length");
    // The connection is closed after the in-flight response (no more keep-alive while draining).
    expect_clean_close(&mut stream, Vec::new(), "the download finished after QUIT");
    assert_all_gone(&mut server, &workers, LONG, "SIGQUIT");
}

#[test]
fn quit_closes_idle_connections_and_exits() {
    let root = small_site("quit-idle");
    let mut server = root.serve(&[]);
    let workers = server.wait_for_workers(2, LONG);
    let (mut idle, buf) = server.served_keepalive("/a.txt");
    server.signal(libc::SIGQUIT);
    // The default keep-alive timeout is 60 s: only QUIT handling can close this within 10 s.
    expect_clean_close(&mut idle, buf, "an idle keep-alive connection on QUIT");
    assert_all_gone(&mut server, &workers, LONG, "SIGQUIT with idle connection");
}

/// "Uid:" / "Gid:" of /proc/PID/status: real, effective, saved, filesystem.
fn ids(pid: i32, field: &str) -> Vec<u32> {
    proc_status_field(pid, field).unwrap_or_default().split_whitespace().filter_map(|s| s.parse().ok()).collect()
}

fn assert_unprivileged(w: i32, uid: u32, gid: u32) {
    assert_eq!(ids(w, "Uid"), vec![uid; 4], "worker {w} uids");
    assert_eq!(ids(w, "Gid"), vec![gid; 4], "worker {w} gids");
    assert_eq!(proc_status_field(w, "Groups").unwrap_or_default(), "", "worker {w} groups");
    assert_eq!(proc_status_field(w, "NoNewPrivs").as_deref(), Some("1"), "worker {w}");
    assert_eq!(
        proc_status_field(w, "CapEff").as_deref(),
        Some("0000000000000000"),
        "worker {w} effective capabilities"
    );
}

#[test]
fn as_root_workers_are_chrooted_and_run_as_nobody() {
    if !require_root("workers only chroot and change user when started as root") {
        return;
    }
    let (uid, gid) = user_ids("nobody").expect("a nobody user");
    let root = small_site("chroot");
    let server = root.serve(&[]);
    let workers = server.wait_for_workers(2, LONG);
    // Drop happens before the first request; give the workers a moment to reach their loop.
    assert_serves(&server, "chrooted");
    let canonical = root.path.canonicalize().expect("canonical root");
    for w in workers {
        assert_unprivileged(w, uid, gid);
        let wroot = fs::read_link(format!("/proc/{w}/root")).expect("read /proc/W/root");
        assert_eq!(wroot, canonical, "worker {w} is not chrooted into the document root");
    }
    // The master keeps its privileges (it must be able to respawn workers that chroot).
    assert_eq!(ids(server.pid(), "Uid"), vec![0; 4], "master uids");
}

#[test]
fn as_root_no_chroot_workers_are_still_unprivileged() {
    if !require_root("--no-chroot only matters when started as root") {
        return;
    }
    let (uid, gid) = user_ids("nobody").expect("a nobody user");
    let root = small_site("no-chroot");
    let server = root.serve(&["--no-chroot"]);
    let workers = server.wait_for_workers(2, LONG);
    assert_serves(&server, "no-chroot");
    for w in workers {
        assert_unprivileged(w, uid, gid);
        let wroot = fs::read_link(format!("/proc/{w}/root")).expect("read /proc/W/root");
        assert_eq!(wroot.to_str(), Some("/"), "worker {w} should not be chrooted");
    }
}

#[test]
fn as_root_user_option_picks_the_worker_identity() {
    if !require_root("--user only matters when started as root") {
        return;
    }
    // `daemon` or `bin` exist on Debian-like systems; use whichever is there.
    let Some((name, (uid, gid))) = ["daemon", "bin"].iter().find_map(|n| user_ids(n).map(|ids| (*n, ids))) else {
        require(false, "a `daemon` or `bin` user to switch to");
        return;
    };
    let root = small_site("user-opt");
    let server = root.serve(&["--user", name]);
    let workers = server.wait_for_workers(2, LONG);
    assert_serves(&server, "--user");
    for w in workers {
        assert_unprivileged(w, uid, gid);
    }
}

#[test]
fn without_root_there_is_a_no_chroot_warning() {
    let root = small_site("nonroot-warning");
    let nobody = user_ids("nobody");
    if !require(!is_root() || nobody.is_some(), "a `nobody` user to run the server unprivileged as root") {
        return;
    }
    // As root, run the binary as nobody: the unprivileged path is then exercised in CI too.
    let args = ["--listen", "127.0.0.1:0", "--workers", "2", root.path_str()];
    let server = Server::start_cmd(&args, |cmd| {
        if is_root() {
            if let Some((uid, gid)) = nobody {
                cmd.uid(uid).gid(gid);
            }
        }
    });
    server.wait_for_workers(2, LONG);
    assert_serves(&server, "unprivileged");
    let warning = server.wait_for_stderr(|l| l.to_lowercase().contains("chroot"), LONG);
    assert!(warning.is_some(), "no warning about running without chroot; stderr:\n{}", server.stderr_text());
    for w in server.worker_pids() {
        let wroot = fs::read_link(format!("/proc/{w}/root")).expect("read /proc/W/root");
        assert_eq!(wroot.to_str(), Some("/"), "an unprivileged worker cannot chroot");
    }
}

#[test]
fn a_full_worker_gets_no_more_connections_until_one_closes() {
    let root = small_site("max-conns");
    let server = root.serve(&["--workers", "1", "--max-conns", "3"]);
    let workers = server.wait_for_workers(1, LONG);
    // Within --max-conns: each is served.
    let mut held: Vec<_> = (0..3).map(|_| server.served_keepalive("/a.txt").0).collect();
    // A fourth client waits in the kernel backlog: connected, but nobody answers it.
    let mut waiting = server.connect();
    waiting.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    waiting.set_read_timeout(Some(Duration::from_millis(1500))).expect("timeout");
    let cpu_before = cpu_time(server.pid()).expect("master cpu time");
    let mut one = [0u8; 1];
    match waiting.read(&mut one) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("a client beyond --max-conns was served or closed: {other:?}"),
    }
    // Not polling a listener it cannot serve: no busy loop in the master meanwhile.
    let burned = cpu_time(server.pid()).expect("master cpu time") - cpu_before;
    assert!(
        burned < Duration::from_millis(500),
        "the master used {burned:?} of CPU in 1.5 s while all workers were full (busy loop?)"
    );
    assert_eq!(server.worker_pids(), workers);
    // Room again: the waiting client is served.
    drop(held.pop());
    waiting.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut buf = Vec::new();
    let r = read_response(&mut waiting, &mut buf, false).expect("served once a slot frees up");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha\n"[..]));
}

/// Longer than the master's 30 s hung-worker limit (`HEARTBEAT_LIMIT_MS` in src/master.rs).
const PAST_HEARTBEAT_LIMIT: Duration = Duration::from_secs(32);

#[test]
fn stopping_the_whole_process_group_past_the_heartbeat_limit_kills_no_worker() {
    // Ctrl-Z then fg, a laptop suspend or a VM pause stops the master with its workers: when they all run
    // again, the workers' heartbeats are old, but only because nobody ran. None of them is hung.
    let root = small_site("group-stop");
    let server = root.serve(&[]);
    let before = {
        let mut w = server.wait_for_workers(2, LONG);
        w.sort();
        w
    };
    assert_serves(&server, "before the stop");
    // The server's process group is the master's pid (support spawns it with process_group(0)).
    kill(-server.pid(), libc::SIGSTOP);
    thread::sleep(PAST_HEARTBEAT_LIMIT);
    kill(-server.pid(), libc::SIGCONT);
    assert_serves(&server, "after the stop");
    // The master runs its check at least once a second: give it a few rounds to (wrongly) kill someone.
    thread::sleep(Duration::from_secs(3));
    let mut after = server.worker_pids();
    after.sort();
    assert_eq!(after, before, "workers changed across the stop; stderr:\n{}", server.stderr_text());
    assert_eq!(server.stderr_count(|l| l.contains("has not run")), 0, "stderr:\n{}", server.stderr_text());
    assert_serves(&server, "a few seconds after the stop");
}

#[test]
fn a_worker_stopped_alone_is_killed_as_hung_and_replaced() {
    // The master keeps running while one worker does not: that worker is hung and must be replaced.
    let root = small_site("worker-stop");
    let server = root.serve(&[]);
    let before = server.wait_for_workers(2, LONG);
    let victim = before[0];
    kill(victim, libc::SIGSTOP);
    let started = Instant::now();
    let verdict = server.wait_for_stderr(|l| l.contains("has not run"), PAST_HEARTBEAT_LIMIT + LONG);
    assert!(verdict.is_some(), "a stopped worker was never judged hung; stderr:\n{}", server.stderr_text());
    assert!(started.elapsed() >= Duration::from_secs(29), "judged hung after only {:?}", started.elapsed());
    let (replaced, after) = server.wait_for_workers_without(victim, 2, LONG);
    assert!(replaced, "worker {victim} was not replaced: workers {after:?}; stderr:\n{}", server.stderr_text());
    assert_serves(&server, "after the hung worker was replaced");
}

#[test]
fn usr1_reaches_a_worker_whose_channel_was_full() {
    // One worker, stopped so it reads nothing from its channel; connections arriving one by one each become a
    // message, which fills the channel (a SOCK_SEQPACKET receive queue holds only a handful of messages). The
    // USR1 that follows cannot be sent at once; it must be queued and delivered when the worker runs again.
    // A socketpair's queue is bounded by the sender's buffer (about 200 KiB by default, under a KiB per small
    // message), so a few hundred one-connection messages fill it.
    let root = small_site("usr1-full");
    let log = root.beside("access.log");
    let rotated = root.beside("access.log.1");
    let log_arg = log.to_string_lossy().into_owned();
    let server = root.serve(&["--workers", "1", "--access-log", &log_arg]);
    let worker = server.wait_for_workers(1, LONG)[0];
    let resp = get(server.addr(), "/a.txt");
    assert_eq!(resp.status, 200);
    assert!(!wait_log_lines(&log, 1, LONG).is_empty(), "no line before the rotation");

    kill(worker, libc::SIGSTOP);
    let mut held = Vec::new();
    for _ in 0..600 {
        held.push(server.connect());
        // Let the master accept it alone, so each connection is a message of its own.
        thread::sleep(Duration::from_millis(3));
    }
    fs::rename(&log, &rotated).expect("rename the log");
    server.signal(libc::SIGUSR1);
    let reopened = server.wait_for_stderr(|l| l.contains("reopened access log"), LONG);
    assert!(reopened.is_some(), "no 'reopened access log' line; stderr:\n{}", server.stderr_text());
    // A second rotation while the first file is still waiting to be handed over: only the newest counts.
    let rotated_again = root.beside("access.log.2");
    fs::rename(&log, &rotated_again).expect("rename the reopened log");
    server.signal(libc::SIGUSR1);
    let twice = wait_until(LONG, || server.stderr_count(|l| l.contains("reopened access log")) >= 2);
    assert!(twice, "the second USR1 was not handled; stderr:\n{}", server.stderr_text());
    kill(worker, libc::SIGCONT);
    drop(held);

    let resp = get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200);
    let new = wait_log_lines(&log, 1, LONG);
    assert!(
        new.iter().any(|l| l.contains("GET /index.html")),
        "the request after USR1 is not in the new file: new {new:?}, rotated {:?}; stderr:\n{}",
        log_lines(&rotated),
        server.stderr_text()
    );
    for old in [&rotated, &rotated_again] {
        let lines = log_lines(old);
        assert!(!lines.iter().any(|l| l.contains("GET /index.html")), "logged into {}", old.display());
    }
}
