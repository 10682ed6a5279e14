//! staticd: serve a folder over HTTP/1.1, fast and safely.
//!
//! `main` turns the command line (and the config file it names) into a validated `Config`, binds every
//! listener, and only then hands over to the master, so every operator mistake is reported (one line, exit
//! code 2) before anything forks.

use std::process::ExitCode;

use staticd::config::Invocation;
use staticd::listen;
use staticd::master::{preflight, Master};
use staticd::ops::systemd;
use staticd::{logging, sys};

fn main() -> ExitCode {
    let inv = Invocation::from_env();
    logging::init();
    let check_only = inv.check_only();
    let cfg = match inv.load() {
        Ok(cfg) => cfg,
        Err(msg) => return usage_error(&msg),
    };
    // Before anything else forks: a root the workers cannot read would start and answer every request 403,
    // and a bad line in the site's rule files is a configuration error like a bad option.
    // The compressed-file cache directory is made and checked here too (the workers' user must be able to
    // write it), and opened for the master to hand on.
    let cache_dir = match preflight::check(&cfg) {
        Ok(dir) => dir,
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
    let listeners = if activated.is_empty() { listen::bind_all(&cfg) } else { listen::adopt_all(activated) };
    let listeners = match listeners {
        Ok(l) => l,
        Err(msg) => return usage_error(&msg),
    };
    sys::ignore_sigpipe();
    let nofile = sys::raise_nofile_limit();
    let mut cfg = cfg;
    if let Some(warning) = preflight::fit_max_conns(&mut cfg, nofile) {
        eprintln!("staticd: warning: {warning}");
    }
    let workers = cfg.workers;
    if cfg.user.is_none() {
        eprintln!(
            "staticd: warning: not started as root, so workers are not chrooted; openat2(RESOLVE_BENEATH) alone keeps requests inside the root"
        );
    }
    for l in &listeners {
        if let Some(note) = &l.note {
            eprintln!("staticd: {note}");
        }
        eprintln!("{}", listen::serving_line(&cfg.root, l, workers));
        for url in &l.also {
            eprintln!("staticd:   also {url}");
        }
    }
    let result = Master::new(inv, cfg, listeners, cache_dir).and_then(Master::run);
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
