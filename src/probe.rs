//! The start-up probes: can the workers read the root, and can they write the compressed-file cache (and,
//! with `--write`, the directory writes go to)?
//!
//! Started as root, the master reads and writes everything, but the workers (and the compressor) chroot and
//! run as `--user`. A root that user cannot read (mode 0700 owned by root, a parent directory closed to it)
//! would otherwise start "successfully" and answer every request 403 with nothing saying why; a cache
//! directory it cannot write would never hold a compressed file. So before anything else forks, a child drops
//! privileges exactly as a worker does (the same `sys::drop_privileges`, chroot choice and ids) and opens and
//! lists the root, or creates, writes and removes a file beneath the cache directory's descriptor (opened by
//! the master, inherited across the chroot as the workers inherit it); its exit status carries the answer
//! back. Not started as root, the workers are this very user, and the same checks run in the process itself.
//! `--check` and a normal start both run them, so either says what is wrong in one line and exits 2.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::config::Config;
use crate::confine;
use crate::sys::{self, DirReader, ExitKind, Forked};

/// The child's exit code for success. A failed check exits with its errno (1–126), a failure to drop
/// privileges with `DROP_FAILED` + errno; an errno that does not fit (none these calls return) is sent as
/// 127, an unknown reason. An exit code is all a child needs: no pipe to set up.
const OK: i32 = 0;
const DROP_FAILED: i32 = 128;

/// Checks that the workers will be able to read the root; Err is the one line to print (without the
/// `staticd: ` prefix). `user_name` is the `--user` name, for the message.
pub fn workers_can_read_root(cfg: &Config, user_name: &str) -> Result<(), String> {
    let cannot_read = |reason: &str| match cfg.user {
        Some(_) => format!("the workers (user {user_name}) cannot read the root {}: {reason}", cfg.root.display()),
        None => format!("cannot read the root {}: {reason}", cfg.root.display()),
    };
    // Inside the chroot the root is "/", as the worker sees it.
    let outcome = as_worker(cfg, "the root", || read_root(confine::root_path(cfg), cfg.no_symlinks, cfg.site.listing))?;
    outcome.map_err(|reason| cannot_read(&reason))
}

/// Checks that the workers can create, write and remove a file beneath `dir`, the compressed-file cache
/// directory opened from `path` (named in the message).
pub fn workers_can_write_cache(cfg: &Config, path: &Path, dir: BorrowedFd<'_>) -> Result<(), String> {
    let name = format!(".tmp-{}-probe", std::process::id());
    let what = format!("the compressed-file cache {}", path.display());
    workers_can_write(cfg, &what, dir, &name).map_err(|e| format!("{e} (give --compress-cache DIR, or --no-compress)"))
}

/// Checks that the workers can create, write and remove a file named `probe_name` beneath `dir` (`what`
/// names it in the message: "the compressed-file cache /var/cache/staticd", the write mode's directory).
pub fn workers_can_write(cfg: &Config, what: &str, dir: BorrowedFd<'_>, probe_name: &str) -> Result<(), String> {
    let outcome = as_worker(cfg, what, || write_probe_file(dir, probe_name))?;
    outcome.map_err(|reason| {
        let who = match cfg.user {
            Some(_) => format!("the workers (user {}) cannot", cfg.user_name),
            None => "cannot".to_string(),
        };
        format!("{who} write {what}: {reason}")
    })
}

/// Runs `check` with the workers' privileges: in a child that drops them as a worker does (chrooted when a
/// worker would be), or here when not started as root. The outer Err is a failure of the probe
/// itself (a complete message); the inner one the reason `check` failed, to put in the caller's message.
fn as_worker(cfg: &Config, what: &str, check: impl FnOnce() -> io::Result<()>) -> Result<Result<(), String>, String> {
    let Some(user) = cfg.user else {
        return Ok(check().map_err(|e| describe(&e)));
    };
    let user_name = &cfg.user_name;
    let pid = match sys::fork().map_err(|e| format!("cannot fork to check {what}: {e}"))? {
        Forked::Child => {
            let chroot = confine::chroot_dir(cfg);
            let code = match sys::drop_privileges(chroot, user) {
                Err(e) => DROP_FAILED + errno_code(&e),
                Ok(()) => match check() {
                    Ok(()) => OK,
                    Err(e) => errno_code(&e),
                },
            };
            std::process::exit(code);
        }
        Forked::Parent(pid) => pid,
    };
    match sys::wait_child(pid).map_err(|e| format!("cannot wait for the check of {what}: {e}"))? {
        ExitKind::Code(OK) => Ok(Ok(())),
        ExitKind::Code(c) if c > DROP_FAILED => {
            Err(format!("the workers cannot drop privileges to user {user_name}: {}", errno_reason(c - DROP_FAILED)))
        }
        ExitKind::Code(c) => Ok(Err(errno_reason(c))),
        ExitKind::Signal(s) => Err(format!("the check of {what} as user {user_name} was killed by signal {s}")),
    }
}

/// What a worker needs of the root: to open it as a directory and search it (every file is looked up
/// beneath it); with `--listing` also to read it, since the root's listing is a page of the site. A root
/// that is searchable but not readable (0711) serves its files, so it passes without `--listing`.
fn read_root(root: &Path, no_symlinks: bool, listing: bool) -> io::Result<()> {
    let handle = sys::open_dir(root)?;
    sys::check_searchable(handle.as_fd())?;
    if listing {
        let mut dir = DirReader::open_beneath(handle.as_fd(), b"", no_symlinks)?;
        dir.next_entry()?;
    }
    Ok(())
}

/// What a writable directory needs: a new file beneath it, written and removed again. For the cache the name
/// is one of the compressor's temporary names (`.tmp-{pid}-…`, see `compress::entry::TEMP_PREFIX`) with this
/// process's id, so two probes (a start and a `--check`) never meet, and one left by a crash is removed by
/// the compressor's clean-up of dead processes' temporary files; for the write mode's directory, an upload's.
fn write_probe_file(dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let file = sys::create_exclusive(dir, name.as_bytes())?;
    let written = sys::write(file.as_fd(), b"z");
    drop(file);
    let removed = sys::unlink_at(dir, name.as_bytes());
    match written {
        Ok(1) => removed,
        Ok(_) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
        Err(e) => Err(e),
    }
}

fn errno_code(e: &io::Error) -> i32 {
    e.raw_os_error().filter(|c| (1..=126).contains(c)).unwrap_or(127)
}

fn errno_reason(code: i32) -> String {
    if code == 127 {
        "unknown error".into()
    } else {
        sys::errno_text(code).into()
    }
}

fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => sys::errno_text(code).into(),
        None => e.to_string(),
    }
}
