//! Files and plain descriptor I/O: opening (the site beneath its root with openat2, the root itself, log
//! files, the compressed-file cache directory), creating and removing a file beneath a directory, fstat,
//! positional reads, and read/write on any descriptor (client sockets and inotify included).
//!
//! `open_beneath` runs on every cache miss and `read` on every request, so neither allocates: nix copies a
//! path shorter than 1 KiB into a stack buffer to NUL-terminate it.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{self, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, FileStat, Mode, SFlag};

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    Ok(nix::unistd::read(fd, buf)?)
}

pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    Ok(nix::unistd::write(fd, buf)?)
}

/// Reads from `file` at `offset` without moving a file position (the fd is shared by many requests).
pub fn pread(file: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    Ok(nix::sys::uio::pread(file, buf, offset as libc::off_t)?)
}

/// Fills `buf` from the start of the file, or as much of it as the file holds; returns how many bytes.
pub fn pread_from_start(file: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match pread(file, &mut buf[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Opens (creating) a log file for appending: whole-line writes from several processes never interleave.
/// Readable too when permitted, so a writer can check that the file does not end mid-line after a full disk
/// cut a write (see `ops::log_file`); a file we may only write is opened write-only, as before.
pub fn open_append(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let mode = Mode::from_bits_truncate(0o640);
    match fcntl::open(path, flags | OFlag::O_RDWR, mode) {
        Err(Errno::EACCES) => Ok(fcntl::open(path, flags | OFlag::O_WRONLY, mode)?),
        r => Ok(r?),
    }
}

/// Fails (EACCES) unless this process may search the directory `dir`: look names up in it, which is all
/// opening files beneath it needs.
pub fn check_searchable(dir: BorrowedFd<'_>) -> io::Result<()> {
    Ok(nix::unistd::faccessat(dir, ".", nix::unistd::AccessFlags::X_OK, nix::fcntl::AtFlags::empty())?)
}

/// Opens a directory as an O_PATH handle to resolve files beneath it.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?)
}

/// Opens a directory for reading (`O_RDONLY|O_DIRECTORY`): a handle that files can be created, renamed and
/// removed beneath, as the compressed-file cache's is.
pub fn open_dir_readonly(path: &Path) -> io::Result<OwnedFd> {
    Ok(fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?)
}

/// Makes the directory `name` in `parent` (mode `mode`, less the umask) and opens it, not following a
/// symlink put in its place, so what is owned or chmodded next through the descriptor is the directory made.
pub fn make_dir_at(parent: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<OwnedFd> {
    stat::mkdirat(parent, name, Mode::from_bits_truncate(mode))?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(fcntl::openat(parent, name, flags, Mode::empty())?)
}

/// Gives the file behind `fd` to `uid`:`gid` and sets its permission bits (through the descriptor: no path
/// is looked up again, so nothing can be swapped in between).
pub fn set_owner_and_mode(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    nix::unistd::fchown(fd, Some(uid.into()), Some(gid.into()))?;
    stat::fchmod(fd, Mode::from_bits_truncate(mode))?;
    Ok(())
}

/// The owner's uid and the permission bits of the file behind `fd`.
pub fn owner_and_mode(fd: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    let st = stat::fstat(fd)?;
    Ok((st.st_uid, st.st_mode & 0o7777))
}

/// `openat2(dir, path, O_RDONLY|O_NONBLOCK|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_SYMLINKS])`:
/// the kernel refuses any path that would leave `dir`, whatever the string looks like.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &[u8], no_symlinks: bool) -> io::Result<OwnedFd> {
    openat2_beneath(dir, path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY, no_symlinks)
}

/// `openat2` with the resolution rules every open beneath the root shares; `flags` gain O_CLOEXEC.
/// `dir.rs` opens directories and O_PATH handles through it too, so the rules are written once.
pub(super) fn openat2_beneath(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlag,
    no_symlinks: bool,
) -> io::Result<OwnedFd> {
    // No file has a NUL in its name: that is "not found" (nix would call it EINVAL).
    if path.contains(&0) {
        return Err(Errno::ENOENT.into());
    }
    let mut resolve = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    if no_symlinks {
        resolve |= ResolveFlag::RESOLVE_NO_SYMLINKS;
    }
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(resolve);
    Ok(fcntl::openat2(dir, path, how)?)
}

/// What the server needs from fstat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: FileKind,
    pub size: u64,
    pub inode: u64,
    pub dev: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    /// Status change time: moves on every write and metadata change, and cannot be set back by `touch`.
    pub ctime_sec: i64,
    pub ctime_nsec: i64,
}

/// What tells one version of a file from another: which file (device, inode) and what was last done to it
/// (size; mtime and ctime to the nanosecond; ctime also moves on a rename or a link and cannot be set back).
/// Size and mtime alone are what an ETag promises; the rest also changes when a file is replaced by one with
/// the same size and mtime (a build that pins mtimes, SOURCE_DATE_EPOCH, a Nix store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStamp {
    pub dev: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileInfo {
    pub fn stamp(&self) -> FileStamp {
        FileStamp {
            dev: self.dev,
            inode: self.inode,
            size: self.size,
            mtime: (self.mtime_sec, self.mtime_nsec),
            ctime: (self.ctime_sec, self.ctime_nsec),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Other,
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileInfo> {
    Ok(file_info(&stat::fstat(fd)?))
}

/// The fields the server uses of a stat result (`dir.rs` converts fstatat's with it too).
pub(super) fn file_info(st: &FileStat) -> FileInfo {
    let format = st.st_mode & SFlag::S_IFMT.bits();
    let kind = if format == SFlag::S_IFREG.bits() {
        FileKind::Regular
    } else if format == SFlag::S_IFDIR.bits() {
        FileKind::Directory
    } else {
        FileKind::Other
    };
    FileInfo {
        kind,
        size: st.st_size as u64,
        inode: st.st_ino,
        dev: st.st_dev,
        mtime_sec: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
        ctime_sec: st.st_ctime,
        ctime_nsec: st.st_ctime_nsec,
    }
}

/// `fstatat(dir, path, 0)`: what `path` (relative to `dir`) names now, symlinks followed. Not confined to
/// `dir` the way openat2 is: for comparing a path with a file already opened beneath the root (the cache's
/// revalidation), where a different answer only ever means "open it again, beneath the root".
pub fn stat_at(dir: BorrowedFd<'_>, path: &[u8]) -> io::Result<FileInfo> {
    if path.contains(&0) {
        return Err(Errno::ENOENT.into());
    }
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    Ok(file_info(&stat::fstatat(dir, path, nix::fcntl::AtFlags::empty())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("staticd-sys-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f.txt"), b"hello world").unwrap();
        dir
    }

    #[test]
    fn opens_beneath_and_refuses_to_leave() {
        let dir = scratch_dir("beneath");
        let root = open_dir(&dir).unwrap();
        let f = open_beneath(root.as_fd(), b"sub/f.txt", false).unwrap();
        let info = fstat(f.as_fd()).unwrap();
        assert_eq!((info.kind, info.size), (FileKind::Regular, 11));
        let mut buf = [0u8; 5];
        assert_eq!(pread(f.as_fd(), &mut buf, 6).unwrap(), 5);
        assert_eq!(&buf, b"world");
        assert_eq!(
            fstat(open_beneath(root.as_fd(), b"sub", false).unwrap().as_fd()).unwrap().kind,
            FileKind::Directory
        );
        let errno = |p: &[u8]| open_beneath(root.as_fd(), p, false).unwrap_err().raw_os_error();
        assert_eq!(errno(b"../x"), Some(libc::EXDEV));
        assert_eq!(errno(b"/etc/passwd"), Some(libc::EXDEV));
        assert_eq!(errno(b"missing"), Some(libc::ENOENT));
        assert_eq!(errno(b"sub/f\0.txt"), Some(libc::ENOENT));
        std::os::unix::fs::symlink("sub/f.txt", dir.join("link")).unwrap();
        assert!(open_beneath(root.as_fd(), b"link", false).is_ok());
        assert_eq!(open_beneath(root.as_fd(), b"link", true).unwrap_err().raw_os_error(), Some(libc::ELOOP));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn opens_a_directory_for_reading_only_when_it_is_one() {
        let dir = scratch_dir("readonly");
        assert!(open_dir_readonly(&dir).is_ok());
        assert_eq!(open_dir_readonly(&dir.join("sub/f.txt")).unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn appends() {
        let dir = scratch_dir("append");
        let path = dir.join("log");
        for line in [&b"one\n"[..], b"two\n"] {
            let fd = open_append(&path).unwrap();
            assert_eq!(write(fd.as_fd(), line).unwrap(), 4);
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
