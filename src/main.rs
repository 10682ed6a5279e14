//! staticd: serve a folder over HTTP/1.1, fast and safely.
//!
//! `main` turns the command line (and the config file it names) into a validated `Config`, binds every
//! listener, and only then hands over to the master, so every operator mistake is reported (one line, exit
//! code 2) before anything forks.

use std::os::fd::AsFd;
use std::process::ExitCode;

use staticd::config::Invocation;
use staticd::listen;
use staticd::master::Master;
use staticd::ops::systemd;
use staticd::probe;
use staticd::site::rule_files;
use staticd::{logging, sys};

fn main() -> ExitCode {
    let inv = Invocation::from_env();
    logging::init();
    let check_only = inv.check_only();
    let cfg = match inv.load() {
        Ok(cfg) => cfg,
        Err(msg) => return usage_error(&msg),
    };
    // Before anything else forks: a root the workers cannot read would start and answer every request 403.
    if let Err(msg) = probe::workers_can_read_root(&cfg, &cfg.user_name) {
        return usage_error(&msg);
    }
    // The site's own rule files are part of the configuration: a bad line stops the start.
    if let Err(msg) = sys::open_dir(&cfg.root)
        .map_err(|e| format!("cannot open root {}: {e}", cfg.root.display()))
        .and_then(|root| rule_files::load(root.as_fd(), cfg.no_symlinks).map(drop))
    {
        return usage_error(&msg);
    }
    if check_only {
        // Addresses are parsed but not bound: the server being checked may be running on them.
        eprintln!("staticd: configuration OK (root {}, {} listener(s))", cfg.root.display(), cfg.listen.len());
        return ExitCode::SUCCESS;
    }
    let activated = match systemd::listen_fds() {
        Ok(fds) => fds,
        Err(e) => return usage_error(&format!("socket activation: {e}")),
    };
    let listeners = if activated.is_empty() { listen::bind_all(&cfg) } else { listen::adopt_all(activated) };
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
        if let Some(note) = &l.note {
            eprintln!("staticd: {note}");
        }
        // Scripts and tests parse this line: its format stays as it is.
        eprintln!("staticd: serving {} at {} ({workers} {plural})", cfg.root.display(), l.name);
        for url in &l.also {
            eprintln!("staticd:   also {url}");
        }
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
