//! The start-up probe: can the workers read the root?
//!
//! Started as root, the master reads everything, but the workers chroot and run as `--user`. A root that
//! user cannot read (mode 0700 owned by root, a parent directory closed to it) would otherwise start
//! "successfully" and answer every request 403 with nothing saying why. So before anything else forks, a
//! child drops privileges exactly as a worker does (the same `sys::drop_privileges`, chroot choice and ids)
//! and opens and lists the root; its exit status carries the answer back. `--check` and a normal start both
//! run it, so either says what is wrong in one line and exits 2.

use std::io;
use std::path::Path;

use crate::config::Config;
use crate::sys::{self, DirReader, ExitKind, Forked};

/// The child's exit code for success. A failure to open or read the root exits with its errno (1–126), a
/// failure to drop privileges with `DROP_FAILED` + errno; an errno that does not fit (none these calls
/// return) is sent as 127, an unknown reason. An exit code is all a child needs: no pipe to set up.
const OK: i32 = 0;
const DROP_FAILED: i32 = 128;

/// Checks that the workers will be able to read the root; Err is the one line to print (without the
/// `staticd: ` prefix). `user_name` is the `--user` name, for the message.
pub fn workers_can_read_root(cfg: &Config, user_name: &str) -> Result<(), String> {
    let cannot_read = |reason: &str| match cfg.user {
        Some(_) => format!("the workers (user {user_name}) cannot read the root {}: {reason}", cfg.root.display()),
        None => format!("cannot read the root {}: {reason}", cfg.root.display()),
    };
    let Some(user) = cfg.user else {
        // Not root: the workers are this very user, so the check needs no child.
        return read_root(&cfg.root, cfg.no_symlinks, cfg.site.listing).map_err(|e| cannot_read(&describe(&e)));
    };
    let pid = match sys::fork().map_err(|e| format!("cannot fork to check the root: {e}"))? {
        Forked::Child => {
            let chroot = if cfg.chroot { Some(cfg.root.as_path()) } else { None };
            let code = match sys::drop_privileges(chroot, user) {
                Err(e) => DROP_FAILED + errno_code(&e),
                // Inside the chroot the root is "/", as the worker sees it.
                Ok(()) => match read_root(
                    chroot.map_or(cfg.root.as_path(), |_| Path::new("/")),
                    cfg.no_symlinks,
                    cfg.site.listing,
                ) {
                    Ok(()) => OK,
                    Err(e) => errno_code(&e),
                },
            };
            std::process::exit(code);
        }
        Forked::Parent(pid) => pid,
    };
    match sys::wait_child(pid).map_err(|e| format!("cannot wait for the root check: {e}"))? {
        ExitKind::Code(OK) => Ok(()),
        ExitKind::Code(c) if c > DROP_FAILED => {
            Err(format!("the workers cannot drop privileges to user {user_name}: {}", errno_reason(c - DROP_FAILED)))
        }
        ExitKind::Code(c) => Err(cannot_read(&errno_reason(c))),
        ExitKind::Signal(s) => Err(format!("the check of the root as user {user_name} was killed by signal {s}")),
    }
}

/// What a worker needs of the root: to open it as a directory and search it (every file is looked up
/// beneath it); with `--listing` also to read it, since the root's listing is a page of the site. A root
/// that is searchable but not readable (0711) serves its files, so it passes without `--listing`.
fn read_root(root: &Path, no_symlinks: bool, listing: bool) -> io::Result<()> {
    let handle = sys::open_dir(root)?;
    sys::check_searchable(std::os::fd::AsFd::as_fd(&handle))?;
    if listing {
        let mut dir = DirReader::open_beneath(std::os::fd::AsFd::as_fd(&handle), b"", no_symlinks)?;
        dir.next_entry()?;
    }
    Ok(())
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
