//! How a child of the master that touches the site confines itself: the one sequence the workers and the
//! compressor run, and the chroot choice the start-up probe copies, so the three can never differ.
//!
//! Started as root, the child chroots into the root (unless `--no-chroot`) and drops to `--user`; then it
//! opens the root by its path as it now sees it ("/" inside the chroot), so every spawn gets the directory at
//! that path now and never holds one outside its own root; then it asks for the parent-death signal (a uid
//! change clears it) and checks the master did not exit meanwhile.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::config::Config;
use crate::sys;

/// The directory the workers chroot into: the root, when started as root and not `--no-chroot`.
pub fn chroot_dir(cfg: &Config) -> Option<&Path> {
    (cfg.user.is_some() && cfg.chroot).then_some(cfg.root.as_path())
}

/// The root's path as a confined child sees it.
pub fn root_path(cfg: &Config) -> &Path {
    if chroot_dir(cfg).is_some() {
        Path::new("/")
    } else {
        cfg.root.as_path()
    }
}

/// Drops privileges as configured and opens the root; `master_pid` is the parent read before anything else.
/// Returns the root, opened.
pub fn become_confined(cfg: &Config, master_pid: i32) -> io::Result<OwnedFd> {
    if let Some(user) = cfg.user {
        sys::drop_privileges(chroot_dir(cfg), user)?;
    }
    let root = sys::open_dir(root_path(cfg))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open root {}: {e}", cfg.root.display())))?;
    // After dropping privileges (a uid change clears it): nothing confined may outlive its master.
    sys::set_parent_death_signal(libc::SIGTERM)?;
    if sys::getppid() != master_pid {
        return Err(io::Error::other("master exited during start-up"));
    }
    Ok(root)
}
