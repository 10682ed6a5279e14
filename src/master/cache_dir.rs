//! The compressed-file cache directory, made ready by the master before anything that uses it forks: at
//! start and again for every reload, so a configuration naming an unusable directory is refused like any
//! other bad configuration (one line, exit code 2 at start; the reload refused while the old generation
//! serves on).
//!
//! Ready means: the directory exists (the missing components are created as `mkdir -p` would, mode 0700, and
//! owned by the workers' user when started as root, since only the workers and the compressor ever use it),
//! it is opened here, before any chroot, for workers and the compressor to inherit, and the workers' user
//! can create, write and remove a file in it (`probe::workers_can_write_cache`).

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::probe;
use crate::sys::{self, UserIds};

/// What every message about the directory ends with: the two ways out.
const WAYS_OUT: &str = "(give --compress-cache DIR, or --no-compress)";

/// The cache directory of `cfg`, created if missing, opened and checked; None with `--no-compress`. Err is the
/// one line to print (without the `staticd: ` prefix).
pub fn prepare(cfg: &Config) -> Result<Option<OwnedFd>, String> {
    let Some(compression) = &cfg.compression else { return Ok(None) };
    let path = compression.cache_dir.as_path();
    let cannot = |what: &str, e: &io::Error| {
        format!("cannot {what} the compressed-file cache {}: {} {WAYS_OUT}", path.display(), reason(e))
    };
    let not_a_directory = |p: &Path| {
        if p == path {
            format!("the compressed-file cache {} is not a directory {WAYS_OUT}", path.display())
        } else {
            format!(
                "cannot create the compressed-file cache {}: {} is not a directory {WAYS_OUT}",
                path.display(),
                p.display()
            )
        }
    };
    let dir = create(path, cfg.user).map_err(|failure| match failure {
        Failure::NotADirectory(p) => not_a_directory(&p),
        Failure::Io(what, e) if e.raw_os_error() == Some(libc::ENOTDIR) && what == "open" => not_a_directory(path),
        Failure::Io(what, e) => cannot(what, &e),
    })?;
    // Served files must never include the cache's, nor its writes churn the site's watches.
    if let Ok(real) = fs::canonicalize(path) {
        if real.starts_with(&cfg.root) {
            return Err(format!(
                "the compressed-file cache {} is inside the root {}: its files would be served {WAYS_OUT}",
                path.display(),
                cfg.root.display()
            ));
        }
    }
    check_owner(cfg, path, dir.as_fd())?;
    probe::workers_can_write_cache(cfg, path, dir.as_fd())?;
    Ok(Some(dir))
}

/// Only the workers' user may write the cache: anyone else who could would choose what visitors are sent (an
/// entry's name is a hash of what `stat` tells about the file it stands for). So the directory must belong
/// to that user and be closed to group and others for writing.
fn check_owner(cfg: &Config, path: &Path, dir: std::os::fd::BorrowedFd<'_>) -> Result<(), String> {
    let (uid, mode) = sys::owner_and_mode(dir)
        .map_err(|e| format!("cannot stat the compressed-file cache {}: {}", path.display(), reason(&e)))?;
    let workers_uid = cfg.user.map_or_else(sys::geteuid, |u| u.uid);
    if uid != workers_uid {
        return Err(format!(
            "the compressed-file cache {} belongs to uid {uid}, not to the workers' user {} (uid {workers_uid}) \
             {WAYS_OUT}",
            path.display(),
            if cfg.user.is_some() { cfg.user_name.as_str() } else { "(this user)" }
        ));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "the compressed-file cache {} is writable by others (mode {:04o}): anyone who can write there chooses \
             what is served {WAYS_OUT}",
            path.display(),
            mode
        ));
    }
    Ok(())
}

#[derive(Debug)]
enum Failure {
    /// This component of the path exists and is something else than a directory.
    NotADirectory(PathBuf),
    Io(&'static str, io::Error),
}

/// Opens `path`, creating what is missing first. The directories above the cache are made as `mkdir -p`
/// would, mode 0755 and owned by whoever runs this (root, when started as root: nothing the workers could
/// rename or replace). The cache itself is made 0700 through a descriptor of its parent, opened without
/// following a symlink, and owned by `owner` through that descriptor, so no path is looked up twice and a
/// symlink swapped in meanwhile cannot make root chown or chmod anything else. What exists already is left as
/// it is (and judged by `check_owner`).
fn create(path: &Path, owner: Option<UserIds>) -> Result<OwnedFd, Failure> {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        match fs::metadata(at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(Failure::NotADirectory(at.to_path_buf())),
            // ENOTDIR: a component above is something else than a directory, found on the way up.
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                missing.push(at)
            }
            Err(e) => return Err(Failure::Io("create", e)),
        }
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    let Some((&cache, above)) = missing.split_first() else {
        return sys::open_dir_readonly(path).map_err(|e| Failure::Io("open", e));
    };
    for dir in above.iter().rev() {
        match fs::DirBuilder::new().mode(0o755).create(dir) {
            Ok(()) => {}
            // Made meanwhile by someone else (another instance starting).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && fs::metadata(dir).is_ok_and(|m| m.is_dir()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(Failure::NotADirectory(dir.into())),
            Err(e) => return Err(Failure::Io("create", e)),
        }
    }
    let (Some(parent), Some(name)) = (cache.parent(), cache.file_name()) else {
        return sys::open_dir_readonly(path).map_err(|e| Failure::Io("open", e));
    };
    let parent = sys::open_dir_readonly(parent).map_err(|e| Failure::Io("create", e))?;
    let dir = match sys::make_dir_at(parent.as_fd(), Path::new(name), 0o700) {
        Ok(dir) => dir,
        // Made meanwhile by another instance starting: theirs, judged like any existing one.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return sys::open_dir_readonly(path).map_err(|e| Failure::Io("open", e));
        }
        Err(e) => return Err(Failure::Io("create", e)),
    };
    let (uid, gid) = owner.map_or_else(|| (sys::geteuid(), u32::MAX), |u| (u.uid, u.gid));
    // gid u32::MAX (-1) leaves the group as it is when no owner is given.
    sys::set_owner_and_mode(dir.as_fd(), uid, gid, 0o700).map_err(|e| Failure::Io("create", e))?;
    Ok(dir)
}

/// An errno's text without std's "(os error N)".
fn reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => sys::errno_text(code).into(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("staticd-cache-dir-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn the_cache_is_made_0700_the_directories_above_it_0755_and_the_rest_left_alone() {
        let base = scratch("mkdir");
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = base.join("a/b");
        create(&path, None).expect("created");
        let mode = |p: &Path| fs::metadata(p).expect("made").permissions().mode() & 0o777;
        assert_eq!(mode(&base.join("a")), 0o755, "above the cache");
        assert_eq!(mode(&path), 0o700, "the cache");
        assert_eq!(mode(&base), 0o755);
        create(&path, None).expect("existing is fine");
        fs::write(base.join("file"), b"x").expect("file");
        for (asked, culprit) in [("file/c", "file"), ("file/c/d", "file"), ("file", "file")] {
            match create(&base.join(asked), None) {
                Err(Failure::NotADirectory(p)) => assert_eq!(p, base.join(culprit), "{asked}"),
                other => panic!("{asked}: {other:?}"),
            }
        }
        let _ = fs::remove_dir_all(&base);
    }
}
