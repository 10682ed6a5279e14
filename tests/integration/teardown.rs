//! Clean teardown under load (issue 5): after a mixed run of keep-alive clients, `Connection: close`
//! clients, clients that half-close after sending, and clients that reset mid-transfer, and once the linger
//! deadline has passed, no server socket is left in CLOSE_WAIT, no client socket is stuck in FIN_WAIT2, and
//! every worker is back to the descriptor count it had before the run.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

const BIG: u64 = 8 << 20;
const PER_KIND: usize = 30;

/// The client behaviours of the mixed run.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Three requests on one connection, then the client closes.
    KeepAlive,
    /// `Connection: close`, read to the server's FIN.
    Close,
    /// Sends its request, shuts its write side, reads the answer to EOF.
    HalfClose,
    /// Starts a large download, reads a little, and resets (SO_LINGER 0).
    Reset,
}

/// One client of the mixed run; an `Err` says what the server did wrong.
fn run_client(addr: SocketAddr, kind: Kind, i: usize) -> Result<(), String> {
    let mut s = try_connect(addr)?;
    let mut buf = Vec::new();
    let status = |r: Response| if r.status == 200 { Ok(r) } else { Err(format!("status {}", r.status)) };
    match kind {
        Kind::KeepAlive => {
            for n in 0..3 {
                s.write_all(format!("GET /a.txt?{i}.{n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                    .map_err(|e| format!("write: {e}"))?;
                let r = read_response(&mut s, &mut buf, false).map_err(|e| format!("request {n}: {e}"))?;
                status(r)?;
            }
        }
        Kind::Close => {
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .map_err(|e| format!("write: {e}"))?;
            let r = status(read_response(&mut s, &mut buf, false).map_err(|e| e.to_string())?)?;
            if !r.says_close() {
                return Err("no Connection: close on the answer".into());
            }
            match read_ending(&mut s, buf) {
                Ending::Eof(b) if b.is_empty() => {}
                other => return Err(format!("after the answer, expected a clean EOF, got {other:?}")),
            }
        }
        Kind::HalfClose => {
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n").map_err(|e| format!("write: {e}"))?;
            s.shutdown(Shutdown::Write).map_err(|e| format!("shutdown(SHUT_WR): {e}"))?;
            status(read_response(&mut s, &mut buf, false).map_err(|e| e.to_string())?)?;
            match read_ending(&mut s, buf) {
                Ending::Eof(b) if b.is_empty() => {}
                other => {
                    return Err(format!(
                        "after SHUT_WR and the answer, expected the server's FIN, got {other:?} \
                         (the server did not close within {IO_TIMEOUT:?})"
                    ))
                }
            }
        }
        Kind::Reset => {
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").map_err(|e| format!("write: {e}"))?;
            let mut chunk = [0u8; 65536];
            let mut got = 0;
            while got < 256 * 1024 {
                match s.read(&mut chunk) {
                    Ok(0) => return Err(format!("EOF after {got} bytes of the download")),
                    Ok(n) => got += n,
                    Err(e) => return Err(format!("download: {e}")),
                }
            }
            set_linger_zero(&s);
        }
    }
    drop(s);
    Ok(())
}

/// Both files through every worker: each worker gets one of several simultaneous connections.
fn warm_up(server: &Server) {
    let mut conns: Vec<_> = (0..4).map(|_| server.connect()).collect();
    for s in &mut conns {
        let mut buf = Vec::new();
        for path in ["/a.txt", "/big.bin"] {
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
            let r = read_response(s, &mut buf, false).expect("warm-up response");
            assert_eq!(r.status, 200, "warm-up {path}");
        }
    }
}

/// The targets of a process's descriptors, for failure reports.
fn fd_targets(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|t| t.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn count(states: &HashMap<String, usize>, state: &str) -> usize {
    states.get(state).copied().unwrap_or(0)
}

#[test]
fn mixed_run_leaves_no_close_wait_no_fin_wait2_and_no_leaked_descriptors() {
    let root = TempRoot::new("teardown");
    root.write("a.txt", b"alpha\n");
    root.write_sparse("big.bin", BIG);
    let linger = Duration::from_secs(1);
    let server = root.serve(&["--linger-timeout", "1", "--keepalive-timeout", "30"]);
    let port = server.addr().port();
    let workers = server.wait_for_workers(2, LONG);

    // Warm up every worker (any per-file cache), then take the baselines. The connections are open at
    // the same time, so the balancer spreads them over both workers.
    warm_up(&server);
    let baseline: Vec<(i32, usize)> =
        workers.iter().map(|&w| (w, settled_fd_count(w, Duration::from_millis(600), LONG))).collect();

    let kinds = [Kind::KeepAlive, Kind::Close, Kind::HalfClose, Kind::Reset];
    let addr = server.addr();
    let threads: Vec<_> = kinds
        .iter()
        .flat_map(|&k| (0..PER_KIND).map(move |i| (k, i)))
        .map(|(k, i)| thread::spawn(move || run_client(addr, k, i).map_err(|e| format!("{k:?} #{i}: {e}"))))
        .collect();
    let failures: Vec<String> =
        threads.into_iter().filter_map(|t| t.join().unwrap_or_else(|_| Err("client panicked".into())).err()).collect();
    let done = Instant::now();
    thread::sleep(linger);

    // Wait (generously) for everything to settle, then check all three conditions together.
    let mut report = String::new();
    let clean = wait_until(Duration::from_secs(8), || {
        report.clear();
        let mut ok = true;
        for &(w, base) in &baseline {
            let states = tcp_states_of(w);
            let fds = fd_count(w);
            if count(&states, "CLOSE_WAIT") > 0 || fds > base {
                ok = false;
            }
            report += &format!("worker {w}: {fds} fds (baseline {base}), sockets {states:?}\n");
            if fds > base {
                report += &format!("  its fds: {:?}\n", fd_targets(w));
            }
        }
        let master = tcp_states_of(server.pid());
        if count(&master, "CLOSE_WAIT") > 0 {
            ok = false;
        }
        let clients = client_states_towards(port);
        if count(&clients, "FIN_WAIT2") > 0 {
            ok = false;
        }
        report += &format!("master sockets {master:?}\nclient sockets {clients:?}\n");
        ok
    });
    assert!(failures.is_empty(), "clients of the mixed run saw misbehaviour:\n{}", failures.join("\n"));
    assert!(
        clean,
        "{:?} after the mixed run (--linger-timeout 1) the teardown is not clean:\n{report}",
        done.elapsed()
    );
    assert_eq!(server.worker_pids(), workers, "a worker was replaced during the run");
    println!("clean {:?} after the run:\n{report}", done.elapsed());
}

/// A burst of clients that send a request and SHUT_WR at once: the request and the FIN often reach the
/// worker together, in one readiness event. Every one must get its answer and then the server's FIN, not
/// wait for the keep-alive timeout.
#[test]
fn burst_of_half_closing_clients_all_see_the_server_close() {
    const BURST: usize = 100;
    let root = TempRoot::new("halfclose_burst");
    root.write("a.txt", b"alpha\n");
    let server = root.serve(&["--linger-timeout", "1", "--keepalive-timeout", "60"]);
    let addr = server.addr();
    let gate = std::sync::Arc::new(std::sync::Barrier::new(BURST));
    let threads: Vec<_> = (0..BURST)
        .map(|i| {
            let gate = gate.clone();
            thread::spawn(move || {
                gate.wait();
                run_client(addr, Kind::HalfClose, i).map_err(|e| format!("half-closing client #{i}: {e}"))
            })
        })
        .collect();
    let failures: Vec<String> =
        threads.into_iter().filter_map(|t| t.join().unwrap_or_else(|_| Err("client panicked".into())).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {BURST} half-closing clients were left hanging (--keepalive-timeout 60):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
