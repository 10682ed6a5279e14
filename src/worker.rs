//! A worker process: confines itself (chroot, unprivileged user), then hands its connections to the engine's
//! event loop with the site as the handler of every request.
//!
//! This is where the two layers meet: the engine gets its settings and the site its options from the one
//! `Config`, and nothing below this module imports the other layer.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::Instant;

use crate::compress::CompressLink;
use crate::config::Config;
use crate::confine;
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
    // The root is opened after the chroot: each worker (a reload's, a respawn's) gets the directory that is at
    // that path now.
    let root = confine::become_confined(&cfg, master_pid)?;
    // HUP and USR1 are the master's business; blocked here so they cannot kill a worker.
    let sigfd = sys::signalfd(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGUSR1])?;
    let counters: &'static WorkerSlot = {
        let shm: &'static Shm = Box::leak(Box::new(args.shm));
        shm.slot(args.slot)
    };
    let settings = engine_settings(&cfg);
    let access_log =
        args.access_log.map(|fd| AccessLog::new(fd, cfg.log_format, Instant::now(), &counters.log_dropped_lines));
    let confine_to = [Some(root.try_clone()?), args.compress.as_ref().map(|l| l.cache_dir.try_clone()).transpose()?];
    let uploads = upload_dir(&cfg, &root);
    let site = Site::new(Rc::new(cfg), root, args.shm, args.compress);
    // Last, once the site has read what it reads at start (the inotify limit under /proc, the rule files):
    // from here on the worker opens files only beneath the root and the compressed cache, read-only, even
    // through the cache's descriptor, which lies outside the chroot; and writes only beneath the write
    // mode's directory, when there is one.
    let dirs: Vec<_> = confine_to.iter().flatten().map(|fd| fd.as_fd()).collect();
    let upload_dirs: Vec<_> = uploads.iter().map(|fd| fd.as_fd()).collect();
    if sys::confine_files(&dirs, &upload_dirs, &[])? == sys::Confinement::Unavailable && args.index == 0 {
        log::warn!("this kernel has no Landlock: the workers are confined by the chroot alone");
    }
    drop(confine_to);
    drop(uploads);
    let ctx = Ctx::new(settings, site, counters, access_log, args.index);
    EventLoop::new(ctx, args.chan, sigfd)
}

/// The write mode's directory, opened beneath the root as writes open it (no symlink on the way), to give
/// Landlock's write rights to. The master checked it before forking; if it went since, writes there fail
/// (403) rather than the worker.
fn upload_dir(cfg: &Config, root: &OwnedFd) -> Option<OwnedFd> {
    let w = cfg.write.as_ref()?;
    sys::open_dir_beneath_nofollow(root.as_fd(), &w.dir)
        .map_err(|e| log::error!("cannot open the --write directory {}: {e}; writes there will fail", w.prefix))
        .ok()
}

/// The engine's share of the configuration.
fn engine_settings(cfg: &Config) -> Settings {
    Settings {
        limits: Limits { max_header_bytes: cfg.max_header_bytes, max_body_bytes: cfg.max_body_bytes },
        header_timeout: cfg.header_timeout,
        keepalive_timeout: cfg.keepalive_timeout,
        send_timeout: cfg.send_timeout,
        upload_timeout: cfg.upload_timeout,
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
