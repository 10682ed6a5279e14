//! The binary under test as the tests run it: `staticd` started on port 0 with its printed address read back,
//! and staticd run to completion for start-up checks.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::client::connect;
use super::pipe::Lines;
use super::process::{run_to_exit, Exit, Process};
use super::procfs::all_processes;
use super::response::read_response;
use super::site::TempDir;
use super::sockets::tcp_states_of;
use super::wait::{wait_until, LONG};

/// Path of the binary under test, built by cargo for the integration tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_staticd")
}

const SERVING: &str = "staticd: serving ";

/// Extracts the address from `staticd: serving /root at http://127.0.0.1:PORT/ (N workers)` (None for a
/// Unix-socket listener).
pub fn parse_serving_line(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix(SERVING)?;
    let url_start = rest.rfind(" at http://")? + " at http://".len();
    let url = &rest[url_start..];
    url[..url.find('/')?].parse().ok()
}

/// How many listeners an argument list asks for (each prints one serving line).
fn listener_count(args: &[&str]) -> usize {
    args.iter().filter(|a| **a == "-l" || **a == "--listen" || a.starts_with("--listen=")).count().max(1)
}

/// The compressor child's process name (`compressor::PROCESS_NAME` in the server).
pub const COMPRESSOR_NAME: &str = "staticd-zip";

/// A running staticd master (its workers and its compressor are its children, all in its process group).
pub struct Server {
    process: Process,
    /// The TCP addresses it announced, in order.
    addrs: Vec<SocketAddr>,
    /// Directories it was given (its compressed-file cache, its XDG_CACHE_HOME), removed after it is stopped:
    /// declared after `process`, so dropped after it.
    scratch: Vec<TempDir>,
}

impl Server {
    /// `--listen 127.0.0.1:0 --workers 2 --compress-cache FRESH`, then `extra_args`, then the root. `--listen`,
    /// `--workers` or `--compress-cache` in `extra_args` replace the default rather than repeat it (and
    /// `--no-compress` leaves the cache out), so no test writes into `~/.cache` or `/var/cache`. The cache is a
    /// path in a fresh temp directory that does not exist yet: the server makes it, owned by its workers'
    /// user, as it would in production (a directory the tests made as root would be closed to `nobody`).
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
        let cache = (!given("--no-compress", "--compress-cache")).then(|| TempDir::new("zip"));
        let cache_path = cache.as_ref().map(|dir| dir.join("cache"));
        if let Some(path) = &cache_path {
            args.extend(["--compress-cache", path.to_str().expect("temp path is UTF-8")]);
        }
        args.extend_from_slice(extra_args);
        args.push(root);
        let mut server = Server::start_with(&args);
        server.scratch.extend(cache);
        server
    }

    /// Exactly these arguments.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_cmd(args, |_| {})
    }

    /// These arguments, letting the caller adjust the command (working directory, uid, limits, stdout).
    pub fn start_cmd(args: &[&str], configure: impl FnOnce(&mut Command)) -> Server {
        let mut cmd = Command::new(binary());
        cmd.args(args).stdout(Stdio::null());
        configure(&mut cmd);
        Server::spawn(cmd, listener_count(args))
    }

    /// Any command that ends up running staticd (a wrapper script, for instance); returns once it has printed
    /// `listeners` serving lines. Unless the command sets XDG_CACHE_HOME, it gets a fresh one, so a server
    /// started without `--compress-cache` by a user other than root keeps its cache there (as root the default
    /// is /var/cache/staticd whatever XDG says).
    pub fn spawn(mut cmd: Command, listeners: usize) -> Server {
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let xdg = sets_no_cache_home(&cmd).then(|| TempDir::new("xdg"));
        if let Some(dir) = &xdg {
            cmd.env("XDG_CACHE_HOME", &dir.path);
        }
        let what = format!("{cmd:?}");
        let mut process = Process::spawn(cmd);
        let serving = |p: &Process| p.stderr().count(|l| l.starts_with(SERVING));
        let ready = wait_until(LONG, || serving(&process) >= listeners || process.exited().is_some());
        if let Some(status) = process.exited() {
            // Let the drain thread collect the last words before reporting them.
            process.stderr().wait_closed(Duration::from_secs(2));
            panic!("{what} exited ({status}) before serving; stderr:\n{}", process.stderr().text());
        }
        assert!(ready, "{what} printed no serving line within {LONG:?}; stderr:\n{}", process.stderr().text());
        let addrs = process.stderr().snapshot().iter().filter_map(|l| parse_serving_line(l)).collect();
        Server { process, addrs, scratch: xdg.into_iter().collect() }
    }

    /// The first TCP address it serves.
    pub fn addr(&self) -> SocketAddr {
        *self.addrs.first().expect("this server has no TCP listener")
    }

    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// Live workers (children of the master other than the compressor), found through /proc. A compressor
    /// just forked is named `staticd` until its first instruction renames it, so for that instant it counts
    /// here; the tests poll (`wait_for_workers` and the like), so that window only ever costs another round.
    pub fn worker_pids(&self) -> Vec<i32> {
        self.children(|comm| comm != COMPRESSOR_NAME)
    }

    /// The live compressor child (normally one; none with `--no-compress`).
    pub fn compressor_pids(&self) -> Vec<i32> {
        self.children(|comm| comm == COMPRESSOR_NAME)
    }

    fn children(&self, wanted: impl Fn(&str) -> bool) -> Vec<i32> {
        let mut pids: Vec<i32> = all_processes()
            .into_iter()
            .filter(|p| p.ppid == self.pid() && p.alive() && wanted(&p.comm))
            .map(|p| p.pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Waits until the master has exactly `n` live workers; returns them.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> Vec<i32> {
        let mut last = Vec::new();
        let ok = wait_until(timeout, || {
            last = self.worker_pids();
            last.len() == n
        });
        assert!(ok, "expected {n} workers, have {last:?}; stderr:\n{}", self.stderr_text());
        last
    }

    /// Waits up to `timeout` for `n` live workers, none of them `gone` (a killed worker's replacement);
    /// returns whether that happened, and the workers last seen.
    pub fn wait_for_workers_without(&self, gone: i32, n: usize, timeout: Duration) -> (bool, Vec<i32>) {
        let mut last = Vec::new();
        let ok = wait_until(timeout, || {
            last = self.worker_pids();
            last.len() == n && !last.contains(&gone)
        });
        (ok, last)
    }

    /// The master and its workers.
    pub fn all_pids(&self) -> Vec<i32> {
        let mut pids = vec![self.pid()];
        pids.extend(self.worker_pids());
        pids
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.process.stderr().snapshot()
    }

    /// All of stderr so far, for failure messages.
    pub fn stderr_text(&self) -> String {
        self.process.stderr().text()
    }

    /// How many stderr lines so far satisfy `pred`.
    pub fn stderr_count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.process.stderr().count(pred)
    }

    pub fn wait_for_stderr(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        self.process.stderr().wait_for(pred, timeout)
    }

    /// Its stdout, when it was started with stdout piped.
    pub fn stdout(&self) -> &Lines {
        self.process.stdout()
    }

    /// Sends a signal to the master only.
    pub fn signal(&self, sig: i32) {
        self.process.signal(sig);
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(timeout)
    }

    /// A client connection to `addr()`.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr())
    }

    /// A fresh keep-alive connection whose GET of `path` was answered 200 and kept open: a connection that a
    /// worker now holds. Returns it with the read buffer.
    pub fn served_keepalive(&self, path: &str) -> (TcpStream, Vec<u8>) {
        let mut stream = self.connect();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).expect("write");
        let mut buf = Vec::new();
        let resp = read_response(&mut stream, &mut buf, false).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(resp.status, 200, "GET {path}");
        assert!(!resp.says_close(), "GET {path}: the connection was not kept alive");
        (stream, buf)
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

/// Runs staticd with `args` to completion (it must exit by itself within `timeout`), letting the caller
/// adjust the command. Like `Server::spawn`, it gets a fresh XDG_CACHE_HOME unless the caller sets one.
pub fn run_capture(args: &[&str], timeout: Duration, configure: impl FnOnce(&mut Command)) -> Exit {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    configure(&mut cmd);
    let xdg = sets_no_cache_home(&cmd).then(|| TempDir::new("xdg"));
    if let Some(dir) = &xdg {
        cmd.env("XDG_CACHE_HOME", &dir.path);
    }
    let exit = run_to_exit(cmd, timeout);
    drop(xdg);
    exit
}

/// Whether `cmd` leaves XDG_CACHE_HOME as the tests' own environment has it.
fn sets_no_cache_home(cmd: &Command) -> bool {
    !cmd.get_envs().any(|(name, _)| name == "XDG_CACHE_HOME")
}
