//! The compressed-file cache directory: creating an entry's temporary file beneath the directory's
//! descriptor, making it durable, renaming it into place, removing entries, and touching one when it is used
//! (its mtime is its last use, which eviction orders by); plus the two process calls only the compressor
//! makes: lowering its own priority, and asking whether a temporary file's writer is still alive.
//!
//! Every name here is one component inside the directory (no '/'), resolved against the descriptor the
//! master opened, so the directory works from inside a chroot, and a symlink planted in it is never followed.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Pid, UnlinkatFlags};

use super::files::file_info;
use super::FileInfo;

/// Refuses anything that is not a single name in the directory (a '/' could reach through a planted link).
pub(super) fn one_name(name: &[u8]) -> io::Result<&[u8]> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) || name == b"." || name == b".." {
        return Err(Errno::EINVAL.into());
    }
    Ok(name)
}

/// `openat2(dir, name, O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC, 0600, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`: a new
/// file nobody else can have opened (EEXIST if the name is taken), readable only by our user (workers run
/// as the same user).
pub fn create_exclusive(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    create_exclusive_mode(dir, name, 0o600)
}

/// `create_exclusive` with the permission bits `mode` (less the umask); `write.rs` makes site files 0644.
pub(super) fn create_exclusive_mode(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        )
        .mode(Mode::from_bits_truncate(mode))
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    Ok(fcntl::openat2(dir, one_name(name)?, how)?)
}

/// `fsync`: the file's bytes are on disk before its name says it is complete.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(unistd::fsync(fd)?)
}

/// `renameat(dir, from, dir, to)`: atomically replaces `to`, so a reader opens either the old file or the
/// whole new one.
pub fn rename_at(dir: BorrowedFd<'_>, from: &[u8], to: &[u8]) -> io::Result<()> {
    Ok(fcntl::renameat(dir, one_name(from)?, dir, one_name(to)?)?)
}

/// `unlinkat(dir, name, 0)`.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    Ok(unistd::unlinkat(dir, one_name(name)?, UnlinkatFlags::NoRemoveDir)?)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: an entry's size and mtime (its last use) now.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<FileInfo> {
    Ok(file_info(&stat::fstatat(dir, one_name(name)?, AtFlags::AT_SYMLINK_NOFOLLOW)?))
}

/// `utimensat(dir, name, now, now, AT_SYMLINK_NOFOLLOW)`: marks an entry as used now (a worker does this when
/// it opens an entry and now and then while it keeps serving it), so the oldest mtime is the least recently
/// used entry.
pub fn touch_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    Ok(stat::utimensat(
        dir,
        one_name(name)?,
        &TimeSpec::UTIME_NOW,
        &TimeSpec::UTIME_NOW,
        UtimensatFlags::NoFollowSymlink,
    )?)
}

/// `setpriority(PRIO_PROCESS, 0, nice)`: sets the calling thread's nice value (on Linux each thread has its
/// own, and threads it starts afterwards inherit it).
pub fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, nice) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts the calling thread (and the threads it starts afterwards) in the `SCHED_BATCH` policy: the scheduler
/// no longer lets it preempt a running thread when it wakes up, so a worker that wakes the compressor with a
/// request finishes sending its response first; it still gets its share of the CPU, by its nice value.
pub fn set_batch_scheduling() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that outlives the call, which only reads it; pid 0 is the caller.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a process `pid` exists (`kill(pid, 0)`; EPERM means it exists but is not ours). A temporary file
/// named after a pid that does not exist has no writer left.
pub fn process_exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    !matches!(nix::sys::signal::kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::open_dir;
    use std::os::fd::AsFd;

    #[test]
    fn batch_scheduling_is_the_calling_threads() {
        let policy = std::thread::spawn(|| {
            set_batch_scheduling().unwrap();
            // SAFETY: sched_getscheduler only reads the policy of the calling thread.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_BATCH);
        // SAFETY: as above, for this (untouched) thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
    use std::time::{Duration, SystemTime};

    #[test]
    fn creates_renames_touches_and_removes_beneath_the_directory() {
        let path = std::env::temp_dir().join(format!("staticd-sys-cache-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let dir = open_dir(&path).unwrap();
        let d = dir.as_fd();

        let fd = create_exclusive(d, b".tmp-1").unwrap();
        assert_eq!(nix::unistd::write(&fd, b"abc").unwrap(), 3);
        fsync(fd.as_fd()).unwrap();
        assert_eq!(create_exclusive(d, b".tmp-1").unwrap_err().raw_os_error(), Some(libc::EEXIST));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path.join(".tmp-1")).unwrap().permissions().mode() & 0o777, 0o600);

        rename_at(d, b".tmp-1", b"e.sdz").unwrap();
        assert_eq!(std::fs::read(path.join("e.sdz")).unwrap(), b"abc");
        assert!(!path.join(".tmp-1").exists());

        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(path.join("e.sdz")).unwrap().set_modified(old).unwrap();
        let before = lstat_at(d, b"e.sdz").unwrap();
        assert_eq!(before.size, 3);
        touch_at(d, b"e.sdz").unwrap();
        let after = lstat_at(d, b"e.sdz").unwrap();
        assert!(after.mtime_sec >= before.mtime_sec + 3000, "touched to now");

        for bad in [&b"../x"[..], b"a/b", b"", b"..", b"a\0b"] {
            assert_eq!(create_exclusive(d, bad).unwrap_err().raw_os_error(), Some(libc::EINVAL));
            assert_eq!(touch_at(d, bad).unwrap_err().raw_os_error(), Some(libc::EINVAL));
        }
        std::os::unix::fs::symlink("e.sdz", path.join("link")).unwrap();
        assert_eq!(create_exclusive(d, b"link").unwrap_err().raw_os_error(), Some(libc::EEXIST));

        unlink_at(d, b"e.sdz").unwrap();
        assert_eq!(unlink_at(d, b"e.sdz").unwrap_err().raw_os_error(), Some(libc::ENOENT));
        assert!(process_exists(std::process::id() as i32));
        assert!(!process_exists(0));
        let _ = std::fs::remove_dir_all(&path);
    }
}
