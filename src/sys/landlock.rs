//! Landlock: the kernel's own confinement of which files a process may open, applied by each worker and by
//! the compressor once they are set up.
//!
//! A chroot alone cannot hold a process that has a descriptor of a directory outside it: `openat(fd, "..")`
//! walks out. The compressed-file cache directory is such a descriptor (the master opens it before the
//! chroot and every worker and the compressor inherit it), so without more, code running in a compromised
//! worker could read anything the worker user can. Landlock rules are tied to file hierarchies, not to path
//! strings, so after [`confine_files`] a file can be opened only beneath the directories named, however it
//! is reached. It also narrows what each process may do there: workers only read, except beneath the write
//! mode's directory (`--write`), where they may create, write, rename and remove files; the compressor writes
//! only in the cache. On a kernel without Landlock (before 5.13, or not enabled) nothing is enforced and the
//! caller is told so.

use std::io;
use std::os::fd::BorrowedFd;

use landlock::{Access, AccessFs, PathBeneath, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, ABI};

/// The newest Landlock ABI whose file-system rights are all handled here; older kernels get what they
/// support (best effort), newer ones add no file right this code would have to grant.
const ABI_HANDLED: ABI = ABI::V5;

/// What the kernel enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    Enforced,
    /// Some rights are unknown to this kernel: what it knows is enforced.
    Partial,
    /// The kernel has no Landlock: only the chroot (if any) confines the process.
    Unavailable,
}

/// Restricts this thread, and every thread and child it starts afterwards, to opening files beneath `read`
/// (files read, directories listed), beneath `uploads` (also regular files created, written and
/// removed, and renamed within one directory: the write mode's directory) and beneath `write` (the same, and
/// renamed or linked across directories too: the compressed-file cache). Every other file-system right is
/// denied everywhere; descriptors already open are unaffected.
pub fn confine_files(
    read: &[BorrowedFd<'_>],
    uploads: &[BorrowedFd<'_>],
    write: &[BorrowedFd<'_>],
) -> io::Result<Confinement> {
    let reading = AccessFs::ReadFile | AccessFs::ReadDir;
    // A rename within one directory needs MakeReg and RemoveFile there, not Refer (which is for moving a file
    // to another directory).
    let uploading = reading | AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::RemoveFile;
    let writing = uploading | AccessFs::Refer;
    let mut ruleset =
        Ruleset::default().handle_access(AccessFs::from_all(ABI_HANDLED)).map_err(other)?.create().map_err(other)?;
    for fd in read {
        ruleset = ruleset.add_rule(PathBeneath::new(*fd, reading)).map_err(other)?;
    }
    for fd in uploads {
        ruleset = ruleset.add_rule(PathBeneath::new(*fd, uploading)).map_err(other)?;
    }
    for fd in write {
        ruleset = ruleset.add_rule(PathBeneath::new(*fd, writing)).map_err(other)?;
    }
    let status = ruleset.restrict_self().map_err(other)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Confinement::Enforced,
        RulesetStatus::PartiallyEnforced => Confinement::Partial,
        RulesetStatus::NotEnforced => Confinement::Unavailable,
    })
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("landlock: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_confined_thread_opens_only_beneath_its_directories_however_it_gets_there() {
        let base = std::env::temp_dir().join(format!("staticd-landlock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for d in ["site", "site/up", "cache"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("site/page.html"), b"hi").unwrap();
        std::fs::write(base.join("outside.txt"), b"secret").unwrap();
        let site = crate::sys::open_dir(&base.join("site")).unwrap();
        let cache = crate::sys::open_dir_readonly(&base.join("cache")).unwrap();
        let up = crate::sys::open_dir_readonly(&base.join("site/up")).unwrap();
        // Landlock restricts the calling thread only: a thread of its own keeps the test harness free.
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                let status = confine_files(&[site.as_fd()], &[up.as_fd()], &[cache.as_fd()]).unwrap();
                if status == Confinement::Unavailable {
                    return None;
                }
                let errno = |r: io::Result<std::os::fd::OwnedFd>| r.err().and_then(|e| e.raw_os_error());
                let read_site = crate::sys::open_beneath(site.as_fd(), b"page.html", false).is_ok();
                let write_site = errno(crate::sys::create_exclusive(site.as_fd(), b"new"));
                let write_cache = crate::sys::create_exclusive(cache.as_fd(), b"entry").is_ok();
                let upload = crate::sys::create_exclusive_file(up.as_fd(), b".tmp")
                    .and_then(|f| crate::sys::write_all(f.as_fd(), b"x"))
                    .and_then(|()| crate::sys::rename_at(up.as_fd(), b".tmp", b"f"))
                    .and_then(|()| crate::sys::unlink_at(up.as_fd(), b"f"));
                let walk_out = errno(
                    nix::fcntl::openat(
                        cache.as_fd(),
                        "../outside.txt",
                        nix::fcntl::OFlag::O_RDONLY,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(io::Error::from),
                );
                let absolute = std::fs::read(base.join("outside.txt")).err().and_then(|e| e.raw_os_error());
                Some((read_site, write_site, write_cache, upload.is_ok(), walk_out, absolute))
            })
            .join()
            .unwrap()
        });
        let _ = std::fs::remove_dir_all(&base);
        let Some((read_site, write_site, write_cache, upload, walk_out, absolute)) = outcome else {
            eprintln!("skipped: this kernel has no Landlock");
            assert!(std::env::var_os("STATICD_REQUIRE_ALL").is_none(), "Landlock is required (STATICD_REQUIRE_ALL)");
            return;
        };
        assert!(read_site, "reading beneath the site");
        assert_eq!(write_site, Some(libc::EACCES), "the site is read-only");
        assert!(write_cache, "the cache is writable");
        assert!(upload, "files are created, written, renamed and removed beneath the upload directory");
        assert_eq!(walk_out, Some(libc::EACCES), "'..' from the cache descriptor leads nowhere");
        assert_eq!(absolute, Some(libc::EACCES), "nor does any other path");
    }
}
