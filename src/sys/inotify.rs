//! inotify: how a worker learns that files it has cached changed on disk.
//!
//! The instance is handed out as a plain `OwnedFd` so the cache can hold it and the event loop can register
//! it like any other descriptor; the watch and drain calls borrow it back.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// A non-blocking inotify instance.
pub fn inotify() -> io::Result<OwnedFd> {
    Ok(Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?.into())
}

/// Watches a directory for any change to its entries (edits, renames, deletions, creations).
pub fn inotify_watch_dir(fd: BorrowedFd<'_>, path: &[u8]) -> io::Result<()> {
    let mask = AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR;
    // SAFETY: nix's `add_watch` needs an `Inotify`, which owns its descriptor; this one only lends `fd`, which
    // stays open while borrowed, and ManuallyDrop keeps it from being closed here. Were `fd` not an inotify
    // instance, the kernel would answer EINVAL; nothing else depends on it.
    let instance = ManuallyDrop::new(unsafe { Inotify::from_raw_fd(fd.as_raw_fd()) });
    instance.add_watch(path, mask)?;
    Ok(())
}

/// Reads and discards every queued inotify event; returns whether there was any.
pub fn inotify_drain(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 4096];
    let mut any = false;
    loop {
        match super::read(fd, &mut buf) {
            Ok(0) => return Ok(any),
            Ok(_) => any = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_change_in_a_watched_directory_is_seen_once() {
        let dir = std::env::temp_dir().join(format!("staticd-sys-inotify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fd = inotify().unwrap();
        inotify_watch_dir(fd.as_fd(), dir.as_os_str().as_encoded_bytes()).unwrap();
        assert!(!inotify_drain(fd.as_fd()).unwrap());
        std::fs::write(dir.join("new"), b"x").unwrap();
        assert!(inotify_drain(fd.as_fd()).unwrap());
        assert!(!inotify_drain(fd.as_fd()).unwrap());
        // The descriptor outlived the borrowed watch call: it still works.
        inotify_watch_dir(fd.as_fd(), dir.as_os_str().as_encoded_bytes()).unwrap();
        assert!(inotify_watch_dir(fd.as_fd(), dir.join("new").as_os_str().as_encoded_bytes()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
