//! staticd: serve a folder over HTTP/1.1, fast and safely.
//!
//! `main` turns the command line into a validated `Config`, binds every listener, and only then hands over to
//! the master, so every operator mistake is reported (one line, exit code 2) before anything forks.

mod config;
mod conn;
mod fs;
mod http;
mod logging;
mod master;
mod output;
mod serve;
mod shm;
mod sys;
mod worker;

use std::os::fd::AsFd;
use std::process::ExitCode;

use clap::Parser;

use crate::config::{Cli, Config};
use crate::master::{Listener, Master};

/// Listen backlog: bursts of connections wait in the kernel, not in SYN retries.
const BACKLOG: i32 = 4096;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let cfg = match Config::from_cli(cli) {
        Ok(cfg) => cfg,
        Err(msg) => return usage_error(&msg),
    };
    let listeners = match bind_all(&cfg) {
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
        eprintln!("staticd: serving {} at http://{}/ ({workers} {plural})", cfg.root.display(), l.addr);
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
        let fd = sys::tcp_listener(addr, BACKLOG).map_err(|e| match e.raw_os_error() {
            Some(libc::EADDRINUSE) => format!("cannot listen on {addr}: address already in use"),
            Some(libc::EACCES) => format!("cannot listen on {addr}: permission denied"),
            Some(libc::EADDRNOTAVAIL) => {
                format!("cannot listen on {addr}: address not available on this host")
            }
            _ => format!("cannot listen on {addr}: {e}"),
        })?;
        let bound = sys::local_addr(fd.as_fd()).map_err(|e| format!("cannot read the address of {addr}: {e}"))?;
        listeners.push(Listener { fd, addr: bound });
    }
    Ok(listeners)
}
