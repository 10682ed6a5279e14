//! A load generator for the crash tests: threads making keep-alive GETs until stopped, so a test can kill a
//! worker or signal the master under load and then count what failed.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::client::try_connect;
use super::response::read_response;
use super::wait::wait_until;

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: usize,
    /// Requests that failed on a kept-alive connection and then succeeded on a fresh one.
    pub retried: usize,
    /// Requests that failed even on a fresh connection, with the reason.
    pub failures: Vec<String>,
}

/// Several threads making keep-alive GETs of `path` (expecting `expect_len` body bytes) until `stop`.
/// A request that fails on a reused connection is retried once on a fresh one: connections that belong
/// to a worker that was killed die with it, which is not a failure of the server as a whole.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<(usize, Vec<String>)>>,
}

impl Load {
    pub fn start(addr: SocketAddr, path: &str, expect_len: usize, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                let ok = ok.clone();
                let path = path.to_string();
                thread::spawn(move || load_loop(addr, &path, expect_len, &stop, &ok))
            })
            .collect();
        Load { stop, ok, threads }
    }

    /// Successful requests so far.
    pub fn ok_count(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until `more` further requests have succeeded (false on timeout).
    pub fn wait_progress(&self, more: usize, timeout: Duration) -> bool {
        let target = self.ok_count() + more;
        wait_until(timeout, || self.ok_count() >= target)
    }

    pub fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = LoadReport::default();
        for t in self.threads {
            match t.join() {
                Ok((retried, failures)) => {
                    report.retried += retried;
                    report.failures.extend(failures);
                }
                Err(_) => report.failures.push("load thread panicked".to_string()),
            }
        }
        report.ok = self.ok.load(Ordering::SeqCst);
        report
    }
}

fn one_get(stream: &mut TcpStream, buf: &mut Vec<u8>, path: &str, expect_len: usize) -> Result<(), String> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: load\r\n\r\n");
    stream.write_all(raw.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let r = read_response(stream, buf, false).map_err(|e| format!("read: {e}"))?;
    if r.status != 200 || r.body.len() != expect_len {
        return Err(format!("status {} with {} body bytes (want 200, {expect_len})", r.status, r.body.len()));
    }
    if r.says_close() {
        return Err("unexpected Connection: close".to_string());
    }
    Ok(())
}

fn fresh_get(addr: SocketAddr, path: &str, expect_len: usize) -> Result<Conn, String> {
    let mut fresh = (try_connect(addr)?, Vec::new());
    one_get(&mut fresh.0, &mut fresh.1, path, expect_len)?;
    Ok(fresh)
}

type Conn = (TcpStream, Vec<u8>);

fn load_loop(
    addr: SocketAddr,
    path: &str,
    expect_len: usize,
    stop: &AtomicBool,
    ok: &AtomicUsize,
) -> (usize, Vec<String>) {
    let mut retried = 0;
    let mut failures = Vec::new();
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::SeqCst) {
        let first = match conn.as_mut() {
            Some((stream, buf)) => one_get(stream, buf, path, expect_len),
            None => match fresh_get(addr, path, expect_len) {
                Ok(c) => {
                    conn = Some(c);
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        match first {
            Ok(()) => {
                ok.fetch_add(1, Ordering::SeqCst);
            }
            Err(first) => {
                conn = None;
                match fresh_get(addr, path, expect_len) {
                    Ok(c) => {
                        retried += 1;
                        ok.fetch_add(1, Ordering::SeqCst);
                        conn = Some(c);
                    }
                    Err(second) => {
                        failures.push(format!("{first}; retry on a fresh connection: {second}"));
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
        // Yield a little so two shared cores also run the server.
        thread::sleep(Duration::from_millis(2));
    }
    (retried, failures)
}
