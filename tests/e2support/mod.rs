//! Helpers shared by the abuse, crash, teardown and real-client tests (slow.rs, floods.rs, crashes.rs,
//! teardown.rs, clients.rs) that `support` does not already offer: per-process CPU time, settled descriptor
//! counts, the processes of a server's group, tool lookup, and a load generator.
//!
//! Kept apart from `support` so these suites can grow their own tools without touching the common harness;
//! every file that declares `mod e2support;` also declares `mod support;`, which this module builds on.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{read_response, wait_until, IO_TIMEOUT};

/// A client connection with the usual timeouts, or the reason there is none.
pub fn try_connect(addr: SocketAddr) -> Result<std::net::TcpStream, String> {
    let s = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("timeout: {e}"))?;
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("timeout: {e}"))?;
    Ok(s)
}

/// Clock ticks per second, the unit of utime/stime in /proc/PID/stat.
fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// The fields of /proc/PID/stat after the `(comm)` field (state is index 0, as in `man 5 proc` field 3).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 1..)?;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_used(pid: i32) -> Option<Duration> {
    let f = stat_fields(pid)?;
    // utime and stime are fields 14 and 15 of the stat line, i.e. 11 and 12 after the comm.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let ticks = clock_ticks_per_sec();
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}

/// Process name (`staticd-w0`, …) from /proc/PID/comm.
pub fn comm(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim_end().to_string())
}

/// A process seen in /proc: pid, name, state letter, parent, process group.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

/// Every process in /proc, zombies included.
pub fn all_processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let f = stat_fields(pid)?;
            Some(Proc {
                pid,
                comm: comm(pid).unwrap_or_default(),
                state: f.first()?.chars().next()?,
                ppid: f.get(1)?.parse().ok()?,
                pgrp: f.get(2)?.parse().ok()?,
            })
        })
        .collect()
}

/// Processes of a server's tree, alive or zombie: its process group (the master's pid, since tests
/// start it in a group of its own) plus anything whose parent is the master.
pub fn server_tree(master: i32) -> Vec<Proc> {
    all_processes().into_iter().filter(|p| p.pgrp == master || p.ppid == master || p.pid == master).collect()
}

/// Descriptor count of `pid` once it has stopped changing for `quiet` (or after `timeout`).
pub fn settled_fd_count(pid: i32, quiet: Duration, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    let mut last = crate::support::fd_count(pid);
    let mut since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = crate::support::fd_count(pid);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet || Instant::now() >= deadline {
            return now;
        }
    }
}

/// Waits until `pid` holds at most `n` descriptors; returns the last count seen.
pub fn wait_fd_count_at_most(pid: i32, n: usize, timeout: Duration) -> usize {
    let mut last = usize::MAX;
    wait_until(timeout, || {
        last = crate::support::fd_count(pid);
        last <= n
    });
    last
}

/// Whether `name` is an executable somewhere on PATH.
pub fn tool_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// Prints the conventional skip line when `tool` is missing; true means "return now".
pub fn skip_without(tool: &str) -> bool {
    if tool_path(tool).is_some() {
        false
    } else {
        println!("skipping: {tool} not installed");
        true
    }
}

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

fn one_get(stream: &mut std::net::TcpStream, buf: &mut Vec<u8>, path: &str, expect_len: usize) -> Result<(), String> {
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

type Conn = (std::net::TcpStream, Vec<u8>);

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

/// Raises this test process's soft descriptor limit to at least `want` (up to the hard limit).
/// Returns false when the hard limit is too low, so the caller can skip instead of failing.
pub fn ensure_own_nofile(want: u64) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    if lim.rlim_cur >= want {
        return true;
    }
    if lim.rlim_max < want {
        return false;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one rlimit from the struct we own; raising soft up to hard is allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// Makes `cmd` start with both descriptor limits at `n` (the master raises its soft limit to the hard one
/// at start, so lowering only the soft limit would not stick).
pub fn limit_nofile(cmd: &mut std::process::Command, n: u64) {
    use std::os::unix::process::CommandExt;
    let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which is
    // async-signal-safe, on a value copied into the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// What an external tool printed and how it ended.
#[derive(Debug)]
pub struct ToolRun {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl ToolRun {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs an external client (curl, python3, chromium) in its own process group, killing the whole group
/// if it outlives `timeout` and in any case once it has exited (browsers leave helpers behind).
pub fn run_tool(program: &str, args: &[&str], cwd: Option<&std::path::Path>, timeout: Duration) -> ToolRun {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let pgid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    // The tool's own status is what counts: if helpers it left behind keep the pipes open past the
    // timeout, killing the group closes them and the status is still the tool's.
    let outcome = match rx.recv_timeout(timeout) {
        Ok(out) => Ok(out),
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; the group is the tool's own.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            rx.recv_timeout(Duration::from_secs(10))
        }
    };
    // SAFETY: as above; clears out anything the tool left running.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    match outcome {
        Ok(Ok(out)) => ToolRun {
            status: out.status,
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("{program} {args:?}: {e}"),
        Err(_) => panic!("{program} {args:?} could not be stopped after {timeout:?}"),
    }
}

/// Sets the descriptor limits of a running process with util-linux `prlimit --pid` (lowering is always
/// allowed; raising the soft limit up to the hard one too).
pub fn set_nofile_of(pid: i32, soft: u64, hard: u64) {
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={soft}:{hard}"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run prlimit: {e}"));
    assert!(status.success(), "prlimit --pid={pid} --nofile={soft}:{hard}: {status}");
}
