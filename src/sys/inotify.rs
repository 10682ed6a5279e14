//! inotify: how a worker learns that files it has cached changed on disk, and in which directory.
//!
//! The instance is handed out as a plain `OwnedFd` so the cache can hold it and the event loop can register
//! it like any other descriptor; the watch, unwatch and read calls borrow it back. Events are parsed here
//! from the kernel's `struct inotify_event` records into [`WatchEvent`]s, so the cache can drop only the
//! entries of the directory an event names (and the raw record layout stays in this folder).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::inotify::{InitFlags, Inotify};

/// The kernel lost events (its queue filled): anything may have changed.
pub const IN_Q_OVERFLOW: u32 = libc::IN_Q_OVERFLOW;
/// The watch is gone (removed by us, or its directory was deleted or unmounted).
pub const IN_IGNORED: u32 = libc::IN_IGNORED;
/// The entry an event names is a directory.
pub const IN_ISDIR: u32 = libc::IN_ISDIR;
/// The watched directory itself was deleted, moved or unmounted: the watch no longer stands for its path.
pub const IN_SELF_GONE: u32 = libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_UNMOUNT;
/// An entry of the watched directory appeared, disappeared or was renamed (not merely edited).
pub const IN_ENTRY_SET: u32 = libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;

/// What the watches ask for: any change to a directory's entries (edits, renames, deletions, creations,
/// metadata) and to the directory itself.
const WATCH_MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// The fixed part of `struct inotify_event`: wd (i32), mask, cookie, len (u32 each).
const HEADER: usize = 16;

/// One inotify event: the watch it came from, what happened, and the entry name (empty for an event
/// about the watched directory itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub wd: i32,
    pub mask: u32,
    pub name: Vec<u8>,
}

/// A non-blocking inotify instance.
pub fn inotify() -> io::Result<OwnedFd> {
    Ok(Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?.into())
}

/// Watches a directory for any change to its entries; returns the watch descriptor. Watching a directory
/// already watched (by this instance) returns its existing descriptor.
pub fn inotify_watch_dir(fd: BorrowedFd<'_>, path: &[u8]) -> io::Result<i32> {
    // No directory has a NUL in its name.
    let path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
    // SAFETY: `fd` is a live descriptor for the duration of the borrow and `path` a NUL-terminated string we
    // own; the kernel only reads it. A descriptor that is not an inotify instance gets EINVAL.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), WATCH_MASK) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(wd)
}

/// Removes a watch. The kernel queues an IN_IGNORED event for it.
pub fn inotify_unwatch(fd: BorrowedFd<'_>, wd: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments; a stale `wd` is refused with EINVAL, nothing else depends on them.
    if unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads every queued event into `out` (appending), using `buf` as the read buffer, which must hold at
/// least one whole event (`HEADER + NAME_MAX + 1` bytes; 4 KiB is plenty). Returns whether any was read.
pub fn inotify_read(fd: BorrowedFd<'_>, buf: &mut [u8], out: &mut Vec<WatchEvent>) -> io::Result<bool> {
    let mut any = false;
    loop {
        match super::read(fd, buf) {
            Ok(0) => return Ok(any),
            Ok(n) => {
                any = true;
                parse_events(&buf[..n], out);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Parses the records of one read. The kernel only returns whole records; a truncated one (which it never
/// writes) ends the parse, reported as an overflow so the caller forgets everything rather than trusting
/// a half-read queue.
pub fn parse_events(mut bytes: &[u8], out: &mut Vec<WatchEvent>) {
    while !bytes.is_empty() {
        let field = |i: usize| bytes.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes);
        let (Some(wd), Some(mask), Some(len)) = (field(0), field(4), field(12)) else {
            out.push(WatchEvent { wd: -1, mask: IN_Q_OVERFLOW, name: Vec::new() });
            return;
        };
        let Some(raw_name) = bytes.get(HEADER..HEADER + len as usize) else {
            out.push(WatchEvent { wd: -1, mask: IN_Q_OVERFLOW, name: Vec::new() });
            return;
        };
        // The name is NUL-padded to an alignment boundary.
        let name = raw_name.split(|&b| b == 0).next().unwrap_or_default().to_vec();
        out.push(WatchEvent { wd: wd as i32, mask, name });
        bytes = &bytes[HEADER + len as usize..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn record(wd: i32, mask: u32, name: &[u8]) -> Vec<u8> {
        let padded = if name.is_empty() { 0 } else { (name.len() + 1).div_ceil(16) * 16 };
        let mut r = Vec::new();
        r.extend_from_slice(&wd.to_ne_bytes());
        r.extend_from_slice(&mask.to_ne_bytes());
        r.extend_from_slice(&0u32.to_ne_bytes());
        r.extend_from_slice(&(padded as u32).to_ne_bytes());
        r.extend_from_slice(name);
        r.resize(HEADER + padded, 0);
        r
    }

    #[test]
    fn parses_records_with_padded_names_and_refuses_truncated_ones() {
        let mut bytes = record(3, libc::IN_MODIFY, b"index.html");
        bytes.extend(record(4, IN_IGNORED, b""));
        bytes.extend(record(5, libc::IN_CREATE | IN_ISDIR, b"a-sixteen-bytes!"));
        let mut out = Vec::new();
        parse_events(&bytes, &mut out);
        assert_eq!(
            out,
            vec![
                WatchEvent { wd: 3, mask: libc::IN_MODIFY, name: b"index.html".to_vec() },
                WatchEvent { wd: 4, mask: IN_IGNORED, name: Vec::new() },
                WatchEvent { wd: 5, mask: libc::IN_CREATE | IN_ISDIR, name: b"a-sixteen-bytes!".to_vec() },
            ]
        );
        out.clear();
        let whole = record(3, libc::IN_MODIFY, b"x");
        parse_events(&whole[..whole.len() - 1], &mut out);
        assert_eq!(out.last().map(|e| e.mask), Some(IN_Q_OVERFLOW), "a cut record is an overflow");
        out.clear();
        parse_events(&whole[..7], &mut out);
        assert_eq!(out.last().map(|e| e.mask), Some(IN_Q_OVERFLOW), "a cut header is an overflow");
    }

    #[test]
    fn events_name_the_watch_and_the_entry() {
        let dir = std::env::temp_dir().join(format!("staticd-sys-inotify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let fd = inotify().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut events = Vec::new();
        let wd = inotify_watch_dir(fd.as_fd(), dir.as_os_str().as_encoded_bytes()).unwrap();
        let sub = inotify_watch_dir(fd.as_fd(), dir.join("sub").as_os_str().as_encoded_bytes()).unwrap();
        assert_ne!(wd, sub);
        assert!(!inotify_read(fd.as_fd(), &mut buf, &mut events).unwrap());
        std::fs::write(dir.join("sub/new"), b"x").unwrap();
        assert!(inotify_read(fd.as_fd(), &mut buf, &mut events).unwrap());
        assert!(events.iter().all(|e| e.wd == sub && e.name == b"new"), "{events:?}");
        // Watching again gives the same descriptor.
        assert_eq!(inotify_watch_dir(fd.as_fd(), dir.as_os_str().as_encoded_bytes()).unwrap(), wd);
        assert!(inotify_watch_dir(fd.as_fd(), dir.join("sub/new").as_os_str().as_encoded_bytes()).is_err());
        assert!(inotify_watch_dir(fd.as_fd(), dir.join("missing").as_os_str().as_encoded_bytes()).is_err());
        // Removing a watch says IN_IGNORED for it.
        events.clear();
        inotify_unwatch(fd.as_fd(), sub).unwrap();
        assert!(inotify_read(fd.as_fd(), &mut buf, &mut events).unwrap());
        assert!(events.iter().any(|e| e.wd == sub && e.mask & IN_IGNORED != 0), "{events:?}");
        // A deleted directory's watch goes too.
        events.clear();
        std::fs::remove_dir_all(dir.join("sub")).unwrap();
        std::fs::create_dir(dir.join("d2")).unwrap();
        let d2 = inotify_watch_dir(fd.as_fd(), dir.join("d2").as_os_str().as_encoded_bytes()).unwrap();
        std::fs::remove_dir(dir.join("d2")).unwrap();
        assert!(inotify_read(fd.as_fd(), &mut buf, &mut events).unwrap());
        assert!(events.iter().any(|e| e.wd == d2 && e.mask & IN_IGNORED != 0), "{events:?}");
        assert!(events.iter().any(|e| e.wd == wd && e.mask & IN_ISDIR != 0 && e.name == b"d2"), "{events:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
