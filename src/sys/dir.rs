//! Reading a directory beneath the root, for directory listings: open it with openat2, read its entries
//! one at a time (so a caller can stop after a batch and go on later), and stat each entry — either the entry
//! itself (`lstat_entry`, never following a link) or what a symlink leads to, resolved beneath the root
//! again (`stat_beneath`), so a link can never make a listing show something outside it.
//!
//! Reading goes through nix's `Dir` (fdopendir/readdir): libc fills a 32 KiB getdents64 buffer per call, so
//! reading names costs about one system call per few hundred entries; the per-entry cost is the stat.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::dir::{Dir, OwningIter, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{self, SFlag};

use super::files::{file_info, fstat, openat2_beneath};
use super::FileInfo;

/// An open directory being read. Entries come in the order the file system keeps them, `.` and `..` included.
pub struct DirReader {
    // The owning iterator, not `Dir::iter`: nix's borrowed iterator rewinds the directory when it is dropped,
    // and a reader that stops after a batch must pick up where it stopped.
    entries: OwningIter,
}

/// What readdir (`d_type`) or lstat says an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Regular,
    Directory,
    Symlink,
    /// FIFOs, sockets, devices.
    Other,
    /// The file system does not fill `d_type` (some do not): ask lstat.
    Unknown,
}

/// One name read from the directory: arbitrary bytes without NUL or '/'.
#[derive(Debug)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub kind: EntryType,
}

impl DirReader {
    /// Opens `rel` (relative to `root`, empty for the root itself) with
    /// `openat2(O_RDONLY|O_DIRECTORY, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_SYMLINKS])`.
    pub fn open_beneath(root: BorrowedFd<'_>, rel: &[u8], no_symlinks: bool) -> io::Result<DirReader> {
        // openat2 refuses an empty path; "." is the root itself and stays beneath it.
        let path = if rel.is_empty() { &b"."[..] } else { rel };
        let fd = openat2_beneath(root, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, no_symlinks)?;
        Ok(DirReader { entries: Dir::from_fd(fd)?.into_iter() })
    }

    /// The next entry, or None when the directory is exhausted.
    pub fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        let Some(entry) = self.entries.next().transpose()? else {
            return Ok(None);
        };
        let kind = match entry.file_type() {
            Some(Type::File) => EntryType::Regular,
            Some(Type::Directory) => EntryType::Directory,
            Some(Type::Symlink) => EntryType::Symlink,
            Some(_) => EntryType::Other,
            None => EntryType::Unknown,
        };
        Ok(Some(DirEntry { name: entry.file_name().to_bytes().to_vec(), kind }))
    }

    /// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, a symlink as a symlink. `name` is one
    /// entry's name (no '/'), so this cannot reach outside the directory. Returns the type lstat saw (never
    /// `Unknown`) and the metadata.
    pub fn lstat_entry(&self, name: &[u8]) -> io::Result<(EntryType, FileInfo)> {
        let st = stat::fstatat(self.fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let format = st.st_mode & SFlag::S_IFMT.bits();
        let kind = if format == SFlag::S_IFREG.bits() {
            EntryType::Regular
        } else if format == SFlag::S_IFDIR.bits() {
            EntryType::Directory
        } else if format == SFlag::S_IFLNK.bits() {
            EntryType::Symlink
        } else {
            EntryType::Other
        };
        Ok((kind, file_info(&st)))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to the `Dir` inside `self.entries`, which stays open (closedir runs
        // only when the iterator is dropped) for as long as `&self` — the lifetime of the returned borrow.
        unsafe { BorrowedFd::borrow_raw(self.entries.as_raw_fd()) }
    }
}

/// The metadata of what `path` (relative to `root`) leads to, following symlinks but only beneath `root`:
/// `openat2(O_PATH, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_SYMLINKS])` then fstat. O_PATH opens
/// nothing (a FIFO does not block, no read permission is needed); a link that leaves the root fails with
/// EXDEV, a dangling one with ENOENT, a loop with ELOOP.
pub fn stat_beneath(root: BorrowedFd<'_>, path: &[u8], no_symlinks: bool) -> io::Result<FileInfo> {
    let fd = openat2_beneath(root, path, OFlag::O_PATH, no_symlinks)?;
    fstat(fd.as_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{open_dir, FileKind};

    #[test]
    fn reads_names_and_stats_beneath() {
        let dir = std::env::temp_dir().join(format!("staticd-sys-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("f.txt", dir.join("sub/in")).unwrap();
        std::os::unix::fs::symlink("../../x", dir.join("sub/out")).unwrap();
        let root = open_dir(&dir).unwrap();

        let mut reader = DirReader::open_beneath(root.as_fd(), b"sub", false).unwrap();
        let mut names = Vec::new();
        while let Some(entry) = reader.next_entry().unwrap() {
            if entry.name != b"." && entry.name != b".." {
                let (kind, info) = reader.lstat_entry(&entry.name).unwrap();
                names.push((entry.name, kind, info.size));
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(names[0], (b"f.txt".to_vec(), EntryType::Regular, 5));
        assert_eq!((&names[1].0[..], names[1].1), (&b"in"[..], EntryType::Symlink));
        assert_eq!((&names[2].0[..], names[2].1), (&b"out"[..], EntryType::Symlink));
        assert!(reader.next_entry().unwrap().is_none(), "stays exhausted");

        let info = stat_beneath(root.as_fd(), b"sub/in", false).unwrap();
        assert_eq!((info.kind, info.size), (FileKind::Regular, 5));
        let errno = |p: &[u8], no_symlinks| stat_beneath(root.as_fd(), p, no_symlinks).unwrap_err().raw_os_error();
        assert_eq!(errno(b"sub/out", false), Some(libc::EXDEV));
        assert_eq!(errno(b"sub/in", true), Some(libc::ELOOP));
        assert_eq!(
            DirReader::open_beneath(root.as_fd(), b"..", false).err().and_then(|e| e.raw_os_error()),
            Some(libc::EXDEV)
        );
        assert_eq!(
            DirReader::open_beneath(root.as_fd(), b"sub/f.txt", false).err().and_then(|e| e.raw_os_error()),
            Some(libc::ENOTDIR)
        );
        assert!(DirReader::open_beneath(root.as_fd(), b"", false).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
