//! Crashes and restarts (issue 5): a worker SIGKILLed under load is replaced at once and service goes on,
//! QUIT lets a large download finish byte-complete before the master exits, and TERM under load takes the
//! whole process tree down quickly, leaving no worker and no zombie behind.

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const SMALL: usize = 16 * 1024;

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("a.bin", &pattern(SMALL, 0));
    root
}

/// Opens a keep-alive connection and makes one request on it; returns it with the time the answer came.
fn served_connection(server: &Server) -> (std::net::TcpStream, Instant) {
    let (s, _) = server.served_keepalive("/a.bin");
    (s, Instant::now())
}

/// Whether worker `pid` holds the server side of the client socket `s`.
fn owns(pid: i32, s: &std::net::TcpStream) -> bool {
    let port = s.local_addr().map(|a| a.port()).unwrap_or(0);
    tcp_sockets_of(pid).iter().any(|row| row.remote_port == port)
}

#[test]
fn killed_worker_is_replaced_at_once_and_service_goes_on() {
    let root = site("sigkill");
    let server = root.serve(&[]);
    let before = server.wait_for_workers(2, LONG);
    let load = Load::start(server.addr(), "/a.bin", SMALL, 4);
    assert!(load.wait_progress(100, LONG), "the load run did not get going");

    let victim = before[0];
    let killed_at = Instant::now();
    kill(victim, libc::SIGKILL);
    let (replaced, now) = server.wait_for_workers_without(victim, 2, LONG);
    let replaced_after = killed_at.elapsed();
    assert!(replaced, "no replacement for worker {victim}: workers now {now:?}");
    let replacement = now.iter().copied().find(|p| !before.contains(p)).expect("a new worker pid");

    // The replacement takes connections: the master gives new ones to the least-loaded worker, which a
    // fresh worker is, so one of a few new connections lands on it.
    // Answer times are taken as answers arrive; the /proc scans that attribute them come afterwards.
    let mut held = Vec::new();
    let mut first_served: Option<Instant> = None;
    let deadline = Instant::now() + LONG;
    while first_served.is_none() && Instant::now() < deadline {
        let batch: Vec<_> = (0..4).map(|_| served_connection(&server)).collect();
        first_served = batch.iter().filter(|(s, _)| owns(replacement, s)).map(|(_, at)| *at).min();
        held.extend(batch);
    }
    let Some(serving_after) = first_served.map(|at| at.duration_since(killed_at)) else {
        panic!("the replacement worker {replacement} never held a served connection");
    };
    assert!(load.wait_progress(100, LONG), "requests stopped succeeding after the kill");
    let report = load.stop();
    assert!(
        report.failures.is_empty(),
        "requests failed even when retried on a fresh connection: {:?}",
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(replaced_after < Duration::from_secs(1), "the replacement appeared {replaced_after:?} after the kill");
    assert!(
        serving_after < Duration::from_secs(1),
        "the replacement served its first connection {serving_after:?} after the kill"
    );

    let died = server.wait_for_stderr(|l| l.contains("died") && l.contains(&victim.to_string()), LONG);
    assert!(died.is_some(), "no log line reports the death of worker {victim}; stderr:\n{}", server.stderr_text());
    let respawn = server.wait_for_stderr(|l| l.contains("respawn") && l.contains(&replacement.to_string()), LONG);
    assert!(respawn.is_some(), "no log line reports the respawn as {replacement}; stderr:\n{}", server.stderr_text());
    println!(
        "replaced after {replaced_after:?}, serving after {serving_after:?}; {} requests ok, {} retried",
        report.ok, report.retried
    );
}

#[test]
fn quit_lets_a_large_download_finish_byte_complete_then_the_master_exits() {
    const BIG: usize = 24 << 20;
    let root = TempRoot::new("quit_download");
    let content = pattern(BIG, 0);
    root.write("big.bin", &content);
    let mut server = root.serve(&[]);

    let mut s = server.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    // Take the head and the first MiB, so the download is under way when QUIT arrives.
    let (head, mut body) = read_head(&mut s);
    read_at_least(&mut s, &mut body, 1 << 20);
    server.signal(libc::SIGQUIT);
    // Dawdle a little: the rest of the body cannot have been written yet (socket buffers are far smaller).
    thread::sleep(Duration::from_millis(500));
    s.read_to_end(&mut body).expect("the rest of the download after QUIT");

    assert_eq!((head.version.as_str(), head.status), ("HTTP/1.1", 200), "head: {head:?}");
    assert_eq!(body.len(), BIG, "the download after QUIT has {} of {BIG} bytes", body.len());
    assert!(body == content, "the download's bytes differ from the file");

    let status = server.wait_exit(LONG);
    assert!(status.is_some(), "the master did not exit after QUIT and the download; stderr:\n{}", server.stderr_text());
    let tree = server_tree(server.pid());
    assert!(tree.is_empty(), "left behind after QUIT: {tree:?}");
}

#[test]
fn term_under_load_takes_the_whole_tree_down_quickly() {
    let root = site("term_load");
    let mut server = root.serve(&[]);
    let master = server.pid();
    server.wait_for_workers(2, LONG);
    let load = Load::start(server.addr(), "/a.bin", SMALL, 4);
    assert!(load.wait_progress(100, LONG), "the load run did not get going");

    let sent = Instant::now();
    server.signal(libc::SIGTERM);
    let exited = server.wait_exit(Duration::from_secs(3));
    let master_after = sent.elapsed();
    let mut left = Vec::new();
    let tree_gone = wait_until(Duration::from_secs(3).saturating_sub(sent.elapsed()), || {
        left = server_tree(master);
        left.is_empty()
    });
    let tree_after = sent.elapsed();
    drop(load.stop());

    assert!(exited.is_some(), "the master was still running 3 s after TERM; stderr:\n{}", server.stderr_text());
    assert!(tree_gone, "3 s after TERM these remain (zombies included): {left:?}");
    let stray: Vec<Proc> = all_processes()
        .into_iter()
        .filter(|p| p.comm.starts_with("staticd-w") && (p.pgrp == master || p.ppid == master))
        .collect();
    assert!(stray.is_empty(), "workers left after TERM: {stray:?}");
    println!("master exited after {master_after:?}, whole tree after {tree_after:?}");
}
