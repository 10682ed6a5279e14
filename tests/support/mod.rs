//! Shared harness for the integration tests: spawns the real `staticd` binary on an ephemeral port,
//! builds throw-away document roots, and speaks raw HTTP/1.1 over `TcpStream`.
//!
//! It exists so that every test drives the server exactly as a user would (a real process, real
//! sockets) while never leaving processes, ports or files behind, even when a test panics: the server
//! runs in its own process group, which `Drop` kills and reaps.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Socket timeouts and condition deadlines: generous, because tests share two cores.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
pub const LONG: Duration = Duration::from_secs(20);

/// Path of the binary under test, built by cargo for integration tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_staticd")
}

/// Whether the test process runs as root (CI does; a developer usually does not).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Prints the conventional skip line and tells the caller to return.
pub fn skip_unless_root(why: &str) -> bool {
    if is_root() {
        false
    } else {
        println!("skipping: needs root ({why})");
        true
    }
}

/// uid and gid of a user from /etc/passwd (no NSS needed for `nobody`).
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

// ---------------------------------------------------------------------------------------------
// stderr capture

/// Lines a child wrote to a pipe (stderr, or stdout for access-log tests), shared with the thread that keeps
/// draining it (a server blocked on a full pipe would look like a hung server).
#[derive(Clone, Default)]
pub struct Lines {
    inner: Arc<(Mutex<Captured>, Condvar)>,
}

/// The lines so far, and whether the pipe has reached EOF.
type Captured = (Vec<String>, bool);

impl Lines {
    /// Starts draining `pipe` in the background.
    pub fn drain(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        lines.drain_from(pipe);
        lines
    }

    /// Waits for EOF (the writer and everything that inherited the pipe are gone).
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        self.wait(timeout, |_, closed| closed).2
    }

    pub fn closed(&self) -> bool {
        self.is_closed()
    }

    pub fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let (lines, _, _) = self.wait(timeout, |lines, _| lines.iter().any(|l| pred(l)));
        lines.into_iter().find(|l| pred(l))
    }

    fn drain_from(&self, pipe: impl Read + Send + 'static) -> thread::JoinHandle<()> {
        let me = self.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&raw).trim_end().to_string();
                        if std::env::var_os("STATICD_TEST_ECHO").is_some() {
                            eprintln!("[staticd] {line}");
                        }
                        me.push(line);
                    }
                }
            }
            me.finish();
        })
    }

    fn push(&self, line: String) {
        let (lock, cv) = &*self.inner;
        if let Ok(mut g) = lock.lock() {
            g.0.push(line);
        }
        cv.notify_all();
    }

    fn finish(&self) {
        let (lock, cv) = &*self.inner;
        if let Ok(mut g) = lock.lock() {
            g.1 = true;
        }
        cv.notify_all();
    }

    pub fn snapshot(&self) -> Vec<String> {
        let (lock, _) = &*self.inner;
        lock.lock().map(|g| g.0.clone()).unwrap_or_default()
    }

    fn is_closed(&self) -> bool {
        let (lock, _) = &*self.inner;
        lock.lock().map(|g| g.1).unwrap_or(true)
    }

    /// Waits until `done(lines, closed)` holds or the deadline passes; returns the last snapshot.
    fn wait(&self, timeout: Duration, done: impl Fn(&[String], bool) -> bool) -> (Vec<String>, bool, bool) {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.inner;
        let mut guard = match lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        loop {
            if done(&guard.0, guard.1) {
                return (guard.0.clone(), guard.1, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (guard.0.clone(), guard.1, false);
            }
            // Wake up periodically as well: callers also poll the child's exit status.
            let step = (deadline - now).min(Duration::from_millis(100));
            guard = match cv.wait_timeout(guard, step) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// Extracts the address from `staticd: serving /root at http://127.0.0.1:PORT/ (N workers)`.
pub fn parse_serving_line(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix("staticd: serving ")?;
    let url_start = rest.rfind(" at http://")? + " at http://".len();
    let url = &rest[url_start..];
    let host_port = &url[..url.find('/')?];
    host_port.parse().ok()
}

/// How many listeners an argument list asks for (each prints one serving line).
fn listener_count(args: &[&str]) -> usize {
    let explicit = args.iter().filter(|a| **a == "-l" || **a == "--listen" || a.starts_with("--listen=")).count();
    explicit.max(1)
}

// ---------------------------------------------------------------------------------------------
// Server

/// A running staticd: the master process (its own process group) and its captured stderr.
pub struct Server {
    pub addr: SocketAddr,
    pub addrs: Vec<SocketAddr>,
    pub child: Child,
    lines: Lines,
    reaped: Option<ExitStatus>,
}

impl Server {
    /// `--listen 127.0.0.1:0 --workers 2`, then `extra_args`, then the root. `--listen` or
    /// `--workers` in `extra_args` replace the default rather than repeat it.
    pub fn start(root: &Path, extra_args: &[&str]) -> Server {
        let root = root.to_str().expect("temp root path is UTF-8");
        let given = |short: &str, long: &str| {
            extra_args.iter().any(|a| *a == short || *a == long || a.starts_with(&format!("{long}=")))
        };
        let mut args = Vec::new();
        if !given("-l", "--listen") {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        if !given("-w", "--workers") {
            args.extend(["--workers", "2"]);
        }
        args.extend_from_slice(extra_args);
        args.push(root);
        Server::start_with(&args)
    }

    /// Full control over the arguments; still waits for one serving line per listener.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_cmd(args, |_| {})
    }

    /// Like `start_with`, letting the caller adjust the command (working directory, uid, env).
    pub fn start_cmd(args: &[&str], configure: impl FnOnce(&mut Command)) -> Server {
        let mut cmd = Command::new(binary());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        configure(&mut cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {}: {e}", binary()));
        let lines = Lines::default();
        if let Some(pipe) = child.stderr.take() {
            lines.drain_from(pipe);
        }
        let wanted = listener_count(args);
        let mut server = Server {
            addr: "127.0.0.1:0".parse().expect("literal address"),
            addrs: Vec::new(),
            child,
            lines,
            reaped: None,
        };
        let deadline = Instant::now() + LONG;
        loop {
            let addrs: Vec<SocketAddr> = server.lines.snapshot().iter().filter_map(|l| parse_serving_line(l)).collect();
            if addrs.len() >= wanted {
                server.addr = addrs[0];
                server.addrs = addrs;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                server.reaped = Some(status);
                // Let the drain thread collect the last words before reporting them.
                server.lines.wait(Duration::from_secs(2), |_, closed| closed);
                panic!(
                    "staticd {args:?} exited ({status}) before serving; stderr:\n{}",
                    server.lines.snapshot().join("\n")
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "staticd {args:?} printed no serving line within {LONG:?}; stderr:\n{}",
                    server.lines.snapshot().join("\n")
                );
            }
            server.lines.wait(Duration::from_millis(100), |l, c| {
                c || l.iter().filter(|x| parse_serving_line(x).is_some()).count() >= wanted
            });
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Live (non-zombie) children of the master, found through /proc.
    pub fn worker_pids(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    /// Waits until the master has exactly `n` live workers; returns them.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> Vec<i32> {
        let mut last = Vec::new();
        let ok = wait_until(timeout, || {
            last = self.worker_pids();
            last.len() == n
        });
        assert!(ok, "expected {n} workers, have {last:?}; stderr:\n{}", self.stderr_lines().join("\n"));
        last
    }

    /// The master and its workers.
    pub fn all_pids(&self) -> Vec<i32> {
        let mut pids = vec![self.pid()];
        pids.extend(self.worker_pids());
        pids
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines.snapshot()
    }

    pub fn wait_for_stderr(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let (lines, _, _) = self.lines.wait(timeout, |l, _| l.iter().any(|x| pred(x)));
        lines.into_iter().find(|x| pred(x))
    }

    /// Sends a signal to the master only.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.reaped {
            return Some(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.reaped = Some(status);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client connection with 10 s read/write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Sockets (by TCP state) held by the master and all workers together.
    pub fn tcp_states(&self) -> HashMap<String, usize> {
        let mut total = HashMap::new();
        for pid in self.all_pids() {
            for (state, n) in tcp_states_of(pid) {
                *total.entry(state).or_insert(0) += n;
            }
        }
        total
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pgid = self.pid();
        // SAFETY: kill has no memory-safety preconditions; a negative pid targets our own group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        if self.reaped.is_none() {
            let _ = self.child.wait();
        }
    }
}

/// Live children of `parent` (zombies excluded: they no longer run).
pub fn children_of(parent: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((state, ppid)) = proc_state_ppid(pid) {
            if ppid == parent && state != 'Z' && state != 'X' {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    pids
}

/// State letter and parent pid from /proc/PID/stat (the comm field may contain spaces or parens).
pub fn proc_state_ppid(pid: i32) -> Option<(char, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// A process counts as alive if it exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    matches!(proc_state_ppid(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// Whether any non-zombie process is still in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|entry| {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            return false;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the comm: state, ppid, pgrp.
        f.len() > 2 && f[0] != "Z" && f[0] != "X" && f[2].parse::<i32>().ok() == Some(pgid)
    })
}

/// A named line (`Uid:`, `Gid:`, `Groups:`, `NoNewPrivs:` …) of /proc/PID/status, without its name.
pub fn proc_status_field(pid: i32, name: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let prefix = format!("{name}:");
    status.lines().find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

// ---------------------------------------------------------------------------------------------
// Running to completion

/// What a process that was expected to exit on its own left behind.
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Some process of its group was still alive after the parent exited (it forked).
    pub leftovers: bool,
}

/// Runs the binary to completion (it must exit by itself within `timeout`).
pub fn run_to_exit(args: &[&str], timeout: Duration) -> (ExitStatus, String) {
    let exit = run_capture(args, timeout, |_| {});
    (exit.status, exit.stderr)
}

/// Like `run_to_exit`, with a hook to adjust the command and a report on leftover processes.
pub fn run_capture(args: &[&str], timeout: Duration, configure: impl FnOnce(&mut Command)) -> Exit {
    let mut cmd = Command::new(binary());
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    configure(&mut cmd);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {}: {e}", binary()));
    let pgid = child.id() as i32;
    let lines = Lines::default();
    if let Some(pipe) = child.stderr.take() {
        lines.drain_from(pipe);
    }
    let out_lines = Lines::default();
    if let Some(pipe) = child.stdout.take() {
        out_lines.drain_from(pipe);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = child.wait();
            panic!("staticd {args:?} did not exit within {timeout:?}; stderr:\n{}", lines.snapshot().join("\n"));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let leftovers = group_alive(pgid);
    // SAFETY: as above; cleans up whatever it may have forked.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    lines.wait(Duration::from_secs(5), |_, closed| closed);
    out_lines.wait(Duration::from_secs(5), |_, closed| closed);
    Exit { status, stdout: out_lines.snapshot().join("\n"), stderr: lines.snapshot().join("\n"), leftovers }
}

/// Exit code, or 128 + signal for a process killed by a signal.
pub fn exit_code(status: &ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Fixtures

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique document root under the system temp dir, world-readable, removed on drop.
pub struct TempRoot {
    pub path: PathBuf,
}

impl TempRoot {
    pub fn new(tag: &str) -> TempRoot {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let path = std::env::temp_dir().join(format!("staticd-test-{}-{n}-{clean}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp root");
        set_mode(&path, 0o755);
        TempRoot { path }
    }

    /// Writes a file (mode 0644), creating parent directories (0755).
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            self.make_dirs(parent);
        }
        fs::write(&path, data).expect("write fixture");
        set_mode(&path, 0o644);
        path
    }

    /// A sparse file of `len` zero bytes: big downloads without big disk writes.
    pub fn write_sparse(&self, rel: &str, len: u64) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            self.make_dirs(parent);
        }
        let f = fs::File::create(&path).expect("create sparse fixture");
        f.set_len(len).expect("size sparse fixture");
        set_mode(&path, 0o644);
        path
    }

    /// Creates a directory (and parents), mode 0755.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.path.join(rel);
        self.make_dirs(&path);
        path
    }

    pub fn symlink(&self, rel: &str, target: &str) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            self.make_dirs(parent);
        }
        symlink(target, &path).expect("create symlink fixture");
        path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temp root path is UTF-8")
    }

    fn make_dirs(&self, dir: &Path) {
        fs::create_dir_all(dir).expect("create fixture dir");
        let mut d = dir.to_path_buf();
        while d.starts_with(&self.path) && d != self.path {
            set_mode(&d, 0o755);
            if !d.pop() {
                break;
            }
        }
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod fixture");
}

/// Deterministic, position-dependent bytes: a truncated or shifted body cannot compare equal.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect()
}

// ---------------------------------------------------------------------------------------------
// HTTP client side

#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Connection: close` present (token comparison, case-insensitive).
    pub fn says_close(&self) -> bool {
        self.headers_named("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("close"))
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads more bytes into `buf`; EOF becomes `UnexpectedEof` naming what was expected.
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>, what: &str) -> io::Result<()> {
    let mut chunk = [0u8; 65536];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("EOF while reading {what} ({} bytes buffered)", buf.len()),
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Reads one response off the stream: head, then a Content-Length body unless `head_request` or the
/// status has none (1xx/204/304). Bytes past the response stay in `buf` for the next call.
pub fn read_response(stream: &mut impl Read, buf: &mut Vec<u8>, head_request: bool) -> io::Result<Response> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        fill(stream, buf, "a response head")?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    if !version.starts_with("HTTP/") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status: u16 =
        parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    buf.drain(..head_end + 4);
    let mut resp = Response { version, status, reason, headers, body: Vec::new() };
    let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    if bodiless {
        return Ok(resp);
    }
    match resp.content_length() {
        Some(len) => {
            let len = usize::try_from(len).map_err(|_| invalid("huge Content-Length"))?;
            while buf.len() < len {
                fill(stream, buf, "a response body")?;
            }
            resp.body = buf.drain(..len).collect();
        }
        None => {
            // Not something staticd should do, but read to EOF so the caller can see what came.
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest)?;
            buf.extend_from_slice(&rest);
            resp.body = std::mem::take(buf);
        }
    }
    Ok(resp)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A connected client with 10 s read/write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream
}

/// Connects, sends `raw`, reads one response (HEAD semantics when `raw` starts with "HEAD").
pub fn request(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = connect(addr);
    stream.write_all(raw).unwrap_or_else(|e| panic!("write {:?}: {e}", show(raw)));
    let mut buf = Vec::new();
    read_response(&mut stream, &mut buf, raw.starts_with(b"HEAD"))
        .unwrap_or_else(|e| panic!("no response to {:?}: {e}", show(raw)))
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    request(addr, raw.as_bytes())
}

pub fn head(addr: SocketAddr, path: &str) -> Response {
    let raw = format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    request(addr, raw.as_bytes())
}

/// Printable form of raw request bytes for failure messages (long runs are elided).
pub fn show(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if s.len() > 300 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…[{} bytes]", &s[..cut], raw.len())
    } else {
        s.into_owned()
    }
}

/// How a connection ended after the caller stopped expecting responses.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Orderly FIN: read returned 0 (carries any stray bytes that came first).
    Eof(Vec<u8>),
    /// The peer reset the connection.
    Reset(Vec<u8>),
    /// Still open when the read timeout expired.
    Open(Vec<u8>),
    Other(String),
}

/// Reads until EOF, reset or timeout, starting with whatever is already buffered.
pub fn read_ending(stream: &mut TcpStream, buffered: Vec<u8>) -> Ending {
    let mut got = buffered;
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ending::Eof(got),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
                return Ending::Open(got)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ending::Reset(got),
            Err(e) => return Ending::Other(e.to_string()),
        }
    }
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sets SO_LINGER {on, 0} so that dropping the stream sends an RST instead of a FIN.
pub fn set_linger_zero(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is a live socket owned by `stream`; the option value is a properly sized linger.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}

// ---------------------------------------------------------------------------------------------
// Kernel views of sockets and fds

/// Name of a TCP state as numbered in /proc/net/tcp.
pub fn tcp_state_name(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        0x0C => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// One row of /proc/net/tcp{,6}.
#[derive(Debug, Clone)]
pub struct TcpRow {
    pub local_port: u16,
    pub remote_port: u16,
    pub state: &'static str,
    pub inode: u64,
}

fn parse_tcp_table(text: &str) -> Vec<TcpRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let port = |s: &str| u16::from_str_radix(s.rsplit(':').next()?, 16).ok();
            Some(TcpRow {
                local_port: port(f[1])?,
                remote_port: port(f[2])?,
                state: tcp_state_name(u8::from_str_radix(f[3], 16).ok()?),
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

/// Every TCP socket in the network namespace of `pid` (or of this process for `None`).
pub fn tcp_table(pid: Option<i32>) -> Vec<TcpRow> {
    let base = match pid {
        Some(p) => format!("/proc/{p}/net"),
        None => "/proc/net".to_string(),
    };
    let mut rows = Vec::new();
    for file in ["tcp", "tcp6"] {
        if let Ok(text) = fs::read_to_string(format!("{base}/{file}")) {
            rows.extend(parse_tcp_table(&text));
        }
    }
    rows
}

/// Socket inodes among the open fds of `pid`.
pub fn socket_inodes_of(pid: i32) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return inodes;
    };
    for entry in dir.flatten() {
        if let Ok(target) = fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(num) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                if let Ok(inode) = num.parse() {
                    inodes.insert(inode);
                }
            }
        }
    }
    inodes
}

/// TCP sockets of `pid`, as rows.
pub fn tcp_sockets_of(pid: i32) -> Vec<TcpRow> {
    let inodes = socket_inodes_of(pid);
    tcp_table(Some(pid)).into_iter().filter(|r| r.inode != 0 && inodes.contains(&r.inode)).collect()
}

/// Counts sockets of `pid` per TCP state (/proc/PID/net/tcp{,6} joined with /proc/PID/fd inodes).
pub fn tcp_states_of(pid: i32) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for row in tcp_sockets_of(pid) {
        *counts.entry(row.state.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Open sockets and pipes of `pid`: fds a connection can leak. (Regular files are left out: a
/// worker's open-file cache legitimately keeps them.)
pub fn socket_and_pipe_count(pid: i32) -> usize {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t.starts_with("socket:") || t.starts_with("pipe:")
        })
        .count()
}

pub fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Client-side sockets (any process) connected to `server_port`, by state.
pub fn client_states_towards(server_port: u16) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for row in tcp_table(None) {
        if row.remote_port == server_port {
            *counts.entry(row.state.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Data-carrying segments this socket has received (`tcpi_data_segs_in` of `struct tcp_info`,
/// Linux ≥ 4.6), read by offset because libc's struct predates the field.
pub fn tcp_data_segs_in(stream: &TcpStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    const OFFSET: usize = 152;
    let mut raw = [0u8; 256];
    let mut len = raw.len() as libc::socklen_t;
    // SAFETY: the fd is a live socket; `raw` is writable for `len` bytes and len is updated in place.
    let rc = unsafe {
        libc::getsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, raw.as_mut_ptr().cast(), &mut len)
    };
    if rc != 0 || (len as usize) < OFFSET + 4 {
        return None;
    }
    let bytes: [u8; 4] = raw.get(OFFSET..OFFSET + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

/// The state of the server-side socket of the connection whose client port is `client_port`,
/// if the master or a worker still holds it.
pub fn server_side_state(server: &Server, client_port: u16) -> Option<&'static str> {
    server.all_pids().into_iter().flat_map(tcp_sockets_of).find(|r| r.remote_port == client_port).map(|r| r.state)
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: i32) -> Duration {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let Some(close) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the comm: state is field 3 of the man page, utime 14 and stime 15.
    let ticks: u64 = [11, 12].iter().filter_map(|i| f.get(*i).and_then(|v| v.parse::<u64>().ok())).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}
