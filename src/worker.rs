//! A worker process: confines itself (chroot, unprivileged user), then hands its connections to the engine's
//! event loop with the site as the handler of every request.
//!
//! This is where the two layers meet: the engine gets its settings and the site its options from the one
//! `Config`, and nothing below this module imports the other layer.

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Instant;

use crate::compress::CompressLink;
use crate::config::Config;
use crate::engine::event_loop::EventLoop;
use crate::engine::{Ctx, Settings};
use crate::http::request::Limits;
use crate::http::response;
use crate::ops::log_file::AccessLog;
use crate::shm::{Shm, WorkerSlot};
use crate::site::Site;
use crate::sys;

pub struct WorkerArgs {
    pub index: usize,
    /// This worker's slot in shared memory.
    pub slot: usize,
    pub cfg: Config,
    pub chan: OwnedFd,
    pub access_log: Option<OwnedFd>,
    pub shm: Shm,
    /// The compressed-file cache and the request pipe to the compressor; None with `--no-compress`.
    pub compress: Option<CompressLink>,
}

/// Runs a worker to completion and returns its exit code.
pub fn run(args: WorkerArgs) -> i32 {
    crate::logging::set_worker(args.index);
    sys::set_process_name(&format!("staticd-w{}", args.index));
    match start(args).and_then(|mut event_loop| event_loop.run()) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("worker failed: {e}");
            1
        }
    }
}

fn start(args: WorkerArgs) -> io::Result<EventLoop<Site>> {
    let master_pid = sys::getppid();
    let cfg = args.cfg;
    let chroot = cfg.user.is_some() && cfg.chroot;
    if let Some(user) = cfg.user {
        sys::drop_privileges(chroot.then_some(cfg.root.as_path()), user)?;
    }
    // Opened here, by path, after the chroot: each worker (a reload's, a respawn's) gets the directory that is
    // at that path now, and never a descriptor of one outside its own root.
    let root_path = if chroot { std::path::Path::new("/") } else { cfg.root.as_path() };
    let root = sys::open_dir(root_path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open root {}: {e}", cfg.root.display())))?;
    // Set after dropping privileges (a uid change clears it); a worker must not outlive its master.
    sys::set_parent_death_signal(libc::SIGTERM)?;
    if sys::getppid() != master_pid {
        return Err(io::Error::other("master exited during start-up"));
    }
    // HUP and USR1 are the master's business; blocked here so they cannot kill a worker.
    let sigfd = sys::signalfd(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGUSR1])?;
    let counters: &'static WorkerSlot = {
        let shm: &'static Shm = Box::leak(Box::new(args.shm));
        shm.slot(args.slot)
    };
    let settings = engine_settings(&cfg);
    let access_log =
        args.access_log.map(|fd| AccessLog::new(fd, cfg.log_format, Instant::now(), &counters.log_dropped_lines));
    let site = Site::new(Rc::new(cfg), root, args.shm, args.compress);
    let ctx = Ctx::new(settings, site, counters, access_log, args.index);
    EventLoop::new(ctx, args.chan, sigfd)
}

/// The engine's share of the configuration.
fn engine_settings(cfg: &Config) -> Settings {
    Settings {
        limits: Limits { max_header_bytes: cfg.max_header_bytes, max_body_bytes: cfg.max_body_bytes },
        header_timeout: cfg.header_timeout,
        keepalive_timeout: cfg.keepalive_timeout,
        send_timeout: cfg.send_timeout,
        linger_timeout: cfg.linger_timeout,
        drain_timeout: cfg.drain_timeout,
        keepalive_requests: cfg.keepalive_requests,
        max_conns: cfg.max_conns,
        proxy_protocol: cfg.proxy_protocol,
        trusted_proxies: cfg.trusted_proxies.clone(),
        common_headers: cfg.site.headers.iter().fold(Vec::new(), |mut lines, (name, value)| {
            response::header(&mut lines, name, value);
            lines
        }),
    }
}
