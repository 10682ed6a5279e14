//! Opening a resolved path beneath the document root, and what each failure means to a client.
//!
//! The kernel does the confinement: `openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)` relative to the root's
//! descriptor refuses `..` escapes and symlinks that leave the root, chrooted or not. Files are opened
//! non-blocking so a FIFO under the root can never stall the worker; only regular files and directories are
//! served.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::sys::{self, FileInfo, FileKind};

/// An open file or directory and its metadata.
pub struct Opened {
    pub fd: OwnedFd,
    pub info: FileInfo,
}

/// Why a path could not be served, as an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    NotFound,
    Forbidden,
    Internal,
}

impl OpenError {
    pub fn status(self) -> u16 {
        match self {
            OpenError::NotFound => 404,
            OpenError::Forbidden => 403,
            OpenError::Internal => 500,
        }
    }

    pub fn from_errno(e: &io::Error) -> OpenError {
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => OpenError::NotFound,
            // EXDEV: RESOLVE_BENEATH refused an escape; ELOOP: a symlink where none is allowed.
            Some(libc::EACCES | libc::EPERM | libc::ELOOP | libc::EXDEV) => OpenError::Forbidden,
            // Opening a socket file (ENXIO) or a device without a driver (ENODEV): not a servable file.
            Some(libc::ENXIO | libc::ENODEV) => OpenError::Forbidden,
            _ => OpenError::Internal,
        }
    }
}

/// Why an open failed, keeping apart the one failure a caller can do something about: the process (or the
/// system) is out of descriptors, EMFILE/ENFILE, which the open-file cache answers by closing some of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Exhausted,
    Refused(OpenError),
}

/// Opens `rel` (empty means the root itself) beneath `root` and stats it. FIFOs, sockets and devices are
/// refused.
pub fn open(root: BorrowedFd<'_>, rel: &[u8], no_symlinks: bool) -> Result<Opened, OpenError> {
    try_open(root, rel, no_symlinks).map_err(|f| match f {
        Failure::Exhausted => log_internal(rel, io::Error::from_raw_os_error(libc::EMFILE)),
        Failure::Refused(e) => e,
    })
}

/// `open`, saying when the failure was running out of descriptors (not logged: the caller retries).
pub fn try_open(root: BorrowedFd<'_>, rel: &[u8], no_symlinks: bool) -> Result<Opened, Failure> {
    let path: &[u8] = if rel.is_empty() { b"." } else { rel };
    let classify = |e: io::Error| match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => Failure::Exhausted,
        _ => Failure::Refused(log_internal(rel, e)),
    };
    let fd = sys::open_beneath(root, path, no_symlinks).map_err(classify)?;
    let info = sys::fstat(std::os::fd::AsFd::as_fd(&fd)).map_err(classify)?;
    if info.kind == FileKind::Other {
        return Err(Failure::Refused(OpenError::Forbidden));
    }
    Ok(Opened { fd, info })
}

fn log_internal(rel: &[u8], e: io::Error) -> OpenError {
    let err = OpenError::from_errno(&e);
    if err == OpenError::Internal {
        log::error!("open /{}: {e}", String::from_utf8_lossy(rel));
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        let cases = [
            (libc::ENOENT, 404),
            (libc::ENOTDIR, 404),
            (libc::ENAMETOOLONG, 404),
            (libc::EACCES, 403),
            (libc::ELOOP, 403),
            (libc::EXDEV, 403),
            (libc::ENXIO, 403),
            (libc::ENODEV, 403),
            (libc::EIO, 500),
            (libc::EMFILE, 500),
        ];
        for (errno, status) in cases {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(OpenError::from_errno(&e).status(), status, "errno {errno}");
        }
    }
}
