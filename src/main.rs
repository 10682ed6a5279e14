//! staticd: serve a folder over HTTP/1.1, fast and safely.
//!
//! `main` turns the command line into a validated `Config`, binds every listener, and only then hands over to
//! the master, so every operator mistake is reported (one line, exit code 2) before anything forks.

mod accesslog;
mod channel;
mod config;
mod conn;
mod fs;
mod http;
mod logging;
mod master;
mod ops;
mod output;
#[cfg(test)]
mod proptests;
mod serve;
mod shm;
mod status;
mod sys;
mod worker;

use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;

use clap::Parser;

use crate::config::{Cli, Config, ListenAddr};
use crate::master::{Listener, Master};
use crate::ops::systemd;

/// Listen backlog: bursts of connections wait in the kernel, not in SYN retries.
const BACKLOG: i32 = 4096;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let check_only = cli.check;
    let cfg = match Config::from_cli(cli) {
        Ok(cfg) => cfg,
        Err(msg) => return usage_error(&msg),
    };
    if check_only {
        // Addresses are parsed but not bound: the server being checked may be running on them.
        eprintln!("staticd: configuration OK (root {}, {} listener(s))", cfg.root.display(), cfg.listen.len());
        return ExitCode::SUCCESS;
    }
    let activated = match systemd::listen_fds() {
        Ok(fds) => fds,
        Err(e) => return usage_error(&format!("socket activation: {e}")),
    };
    let listeners = if activated.is_empty() { bind_all(&cfg) } else { adopt_all(activated) };
    let listeners = match listeners {
        Ok(l) => l,
        Err(msg) => return usage_error(&msg),
    };
    sys::ignore_sigpipe();
    sys::raise_nofile_limit();
    let workers = cfg.workers;
    let plural = if workers == 1 { "worker" } else { "workers" };
    if cfg.user.is_none() {
        eprintln!(
            "staticd: warning: not started as root, so workers are not chrooted; openat2(RESOLVE_BENEATH) alone keeps requests inside the root"
        );
    }
    for l in &listeners {
        eprintln!("staticd: serving {} at {} ({workers} {plural})", cfg.root.display(), l.name);
    }
    let result = Master::new(cfg, listeners).and_then(Master::run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("staticd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("staticd: {msg}");
    ExitCode::from(2)
}

fn bind_all(cfg: &Config) -> Result<Vec<Listener>, String> {
    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let listener = match addr {
            ListenAddr::Tcp(addr) => {
                let fd = sys::tcp_listener(addr, BACKLOG).map_err(|e| match e.raw_os_error() {
                    Some(libc::EADDRINUSE) => format!("cannot listen on {addr}: address already in use"),
                    Some(libc::EACCES) => format!("cannot listen on {addr}: permission denied"),
                    Some(libc::EADDRNOTAVAIL) => format!("cannot listen on {addr}: address not available on this host"),
                    _ => format!("cannot listen on {addr}: {e}"),
                })?;
                let bound =
                    sys::local_addr(fd.as_fd()).map_err(|e| format!("cannot read the address of {addr}: {e}"))?;
                Listener { fd, name: format!("http://{bound}/"), unix_path: None }
            }
            ListenAddr::Unix(path) => {
                let fd = sys::unix_listener(path, cfg.socket_mode, BACKLOG)
                    .map_err(|e| format!("cannot listen on unix:{}: {e}", path.display()))?;
                Listener { fd, name: format!("unix:{}", path.display()), unix_path: Some(path.clone()) }
            }
        };
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Takes over the listening sockets systemd passed (socket activation) instead of binding our own.
fn adopt_all(fds: Vec<OwnedFd>) -> Result<Vec<Listener>, String> {
    let mut listeners = Vec::new();
    for fd in fds {
        sys::set_nonblocking(fd.as_fd()).map_err(|e| format!("socket activation: {e}"))?;
        let name = match sys::local_addr(fd.as_fd()) {
            Ok(addr) => {
                // As for our own listeners: accepted connections inherit it.
                sys::set_nodelay(fd.as_fd()).map_err(|e| format!("socket activation: TCP_NODELAY: {e}"))?;
                format!("http://{addr}/ (from systemd)")
            }
            Err(_) if sys::is_unix_socket(fd.as_fd()).unwrap_or(false) => "a unix socket from systemd".to_string(),
            Err(e) => return Err(format!("socket activation: descriptor is not a usable socket: {e}")),
        };
        listeners.push(Listener { fd, name, unix_path: None });
    }
    Ok(listeners)
}
