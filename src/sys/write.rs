//! The site's write mode: what a worker needs to store an upload beneath the root and nothing more. A
//! directory opened beneath the root without following any symlink, a new file created in it exclusively,
//! its bytes written and pushed to disk early, and the file renamed into place (or not over an existing one).
//!
//! The rest (fsync, renaming over, removing, lstat of one name) are the compressed-file cache's calls in
//! `cache_dir.rs`, shared: they take one name inside a directory descriptor, which is what writes need too.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag, RenameFlags};

use super::cache_dir::{create_exclusive_mode, one_name};
use super::files::openat2_beneath;

/// Opens the directory `rel` (empty: `dir` itself) beneath `dir` for creating files in, refusing every
/// symlink on the way (ELOOP) and any escape (EXDEV): `openat2(O_RDONLY|O_DIRECTORY, RESOLVE_BENEATH|
/// RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)`. A file where a directory is expected is ENOTDIR.
pub fn open_dir_beneath_nofollow(dir: BorrowedFd<'_>, rel: &[u8]) -> io::Result<OwnedFd> {
    let path: &[u8] = if rel.is_empty() { b"." } else { rel };
    openat2_beneath(dir, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, true)
}

/// Creates the new file `name` in `dir`, mode 0644 less the umask (the site's files are read by whoever
/// serves them), never through a symlink and never an existing file (EEXIST):
/// `O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY|O_CLOEXEC`, beneath `dir`.
pub fn create_exclusive_file(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    create_exclusive_mode(dir, name, 0o644)
}

/// Writes all of `data`, retrying short writes and EINTR.
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(Errno::ENOSPC.into()),
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `sync_file_range(fd, offset, len, SYNC_FILE_RANGE_WRITE)`: starts writing those bytes back without
/// waiting, so a large upload's final fsync has little left to do instead of the whole file.
pub fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else {
        return Err(Errno::EINVAL.into());
    };
    // SAFETY: sync_file_range takes a descriptor and plain integers and touches no memory of ours; `fd` is
    // borrowed, so open for the call.
    let r = unsafe { libc::sync_file_range(fd.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    Errno::result(r).map(drop).map_err(io::Error::from)
}

/// `renameat2(dir, from, dir, to, RENAME_NOREPLACE)`: puts `from` in place as `to` only if no `to` exists
/// (EEXIST otherwise), atomically, so a create-only write can never replace what another made meanwhile.
pub fn rename_noreplace(dir: BorrowedFd<'_>, from: &[u8], to: &[u8]) -> io::Result<()> {
    Ok(fcntl::renameat2(dir, one_name(from)?, dir, one_name(to)?, RenameFlags::RENAME_NOREPLACE)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{fsync, lstat_at, open_dir, rename_at, unlink_at, FileKind};
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_writes_and_renames_beneath_a_directory_without_following_links() {
        let base = std::env::temp_dir().join(format!("staticd-sys-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("up/sub")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("../elsewhere", base.join("up/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", base.join("up/sub/passwd")).unwrap();
        std::fs::write(base.join("up/file"), b"x").unwrap();
        let root = open_dir(&base).unwrap();
        let errno = |r: io::Result<OwnedFd>| r.err().and_then(|e| e.raw_os_error());

        assert!(open_dir_beneath_nofollow(root.as_fd(), b"up/sub").is_ok());
        assert!(open_dir_beneath_nofollow(root.as_fd(), b"").is_ok());
        assert_eq!(errno(open_dir_beneath_nofollow(root.as_fd(), b"up/link")), Some(libc::ELOOP));
        assert_eq!(errno(open_dir_beneath_nofollow(root.as_fd(), b"up/link/x")), Some(libc::ELOOP));
        assert_eq!(errno(open_dir_beneath_nofollow(root.as_fd(), b"../")), Some(libc::EXDEV));
        assert_eq!(errno(open_dir_beneath_nofollow(root.as_fd(), b"up/file")), Some(libc::ENOTDIR));
        assert_eq!(errno(open_dir_beneath_nofollow(root.as_fd(), b"up/missing")), Some(libc::ENOENT));

        let dir = open_dir_beneath_nofollow(root.as_fd(), b"up/sub").unwrap();
        let d = dir.as_fd();
        assert_eq!(errno(create_exclusive_file(d, b"passwd")), Some(libc::EEXIST), "a link is never written through");
        let f = create_exclusive_file(d, b".tmp").unwrap();
        write_all(f.as_fd(), &vec![7u8; 100_000]).unwrap();
        start_writeback(f.as_fd(), 0, 100_000).unwrap();
        fsync(f.as_fd()).unwrap();
        let mode = std::fs::metadata(base.join("up/sub/.tmp")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o022, 0o644 & !0o022);
        assert_eq!(errno(create_exclusive_file(d, b".tmp")), Some(libc::EEXIST));
        rename_noreplace(d, b".tmp", b"new").unwrap();
        assert_eq!(lstat_at(d, b"new").unwrap().size, 100_000);
        let g = create_exclusive_file(d, b".tmp2").unwrap();
        write_all(g.as_fd(), b"second").unwrap();
        let e = rename_noreplace(d, b".tmp2", b"new").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(rename_noreplace(d, b".tmp2", b"../x").unwrap_err().raw_os_error(), Some(libc::EINVAL));
        rename_at(d, b".tmp2", b"new").unwrap();
        assert_eq!(std::fs::read(base.join("up/sub/new")).unwrap(), b"second");
        assert_eq!(lstat_at(d, b"passwd").unwrap().kind, FileKind::Other, "lstat sees the link itself");
        unlink_at(d, b"new").unwrap();
        assert!(!base.join("up/sub/new").exists());
        let _ = std::fs::remove_dir_all(&base);
    }
}
