//! The limits the open-file cache sizes itself by: this process's descriptor limit and the user's inotify
//! watch limit. Read when a worker starts, and the descriptor limit again when an open says EMFILE (an
//! operator may have lowered it with `prlimit` since).

use std::io;

use nix::sys::resource::{getrlimit, Resource};

/// The soft RLIMIT_NOFILE: how many descriptors this process may hold.
pub fn nofile_soft_limit() -> io::Result<u64> {
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?.0)
}

/// `/proc/sys/fs/inotify/max_user_watches`: every watch of every process of this user counts against it.
pub fn max_user_watches() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")?;
    text.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "max_user_watches is not a number"))
}
