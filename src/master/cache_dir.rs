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
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
    create(path, cfg.user).map_err(|failure| match failure {
        Failure::NotADirectory(p) => not_a_directory(&p),
        Failure::Io(e) => cannot("create", &e),
    })?;
    let dir = sys::open_dir_readonly(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTDIR) => not_a_directory(path),
        _ => cannot("open", &e),
    })?;
    probe::workers_can_write_cache(cfg, path, dir.as_fd())?;
    Ok(Some(dir))
}

#[derive(Debug)]
enum Failure {
    /// This component of the path exists and is something else than a directory.
    NotADirectory(PathBuf),
    Io(io::Error),
}

/// Creates the missing components of `path`, outermost first, each mode 0700 (whatever the umask) and, when
/// `owner` is given, chowned to it. What exists already is left as it is.
fn create(path: &Path, owner: Option<UserIds>) -> Result<(), Failure> {
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
            Err(e) => return Err(Failure::Io(e)),
        }
        match at.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => at = parent,
            _ => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            // Made meanwhile by someone else (another instance starting): theirs, left as it is.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && fs::metadata(dir).is_ok_and(|m| m.is_dir()) => {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(Failure::NotADirectory(dir.into())),
            Err(e) => return Err(Failure::Io(e)),
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(Failure::Io)?;
        if let Some(user) = owner {
            std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).map_err(Failure::Io)?;
        }
    }
    Ok(())
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

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("staticd-cache-dir-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn missing_components_are_made_0700_and_the_rest_left_alone() {
        let base = scratch("mkdir");
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = base.join("a/b");
        create(&path, None).expect("created");
        for dir in [base.join("a"), path.clone()] {
            assert_eq!(fs::metadata(&dir).expect("made").permissions().mode() & 0o777, 0o700, "{}", dir.display());
        }
        assert_eq!(fs::metadata(&base).expect("base").permissions().mode() & 0o777, 0o755);
        create(&path, None).expect("existing is fine");
        fs::write(base.join("file"), b"x").expect("file");
        match create(&base.join("file/c"), None) {
            Err(Failure::NotADirectory(p)) => assert_eq!(p, base.join("file")),
            other => panic!("{other:?}"),
        }
        match create(&base.join("file/c/d"), None) {
            Err(Failure::NotADirectory(p)) => assert_eq!(p, base.join("file")),
            other => panic!("{other:?}"),
        }
        match create(&base.join("file"), None) {
            Err(Failure::NotADirectory(p)) => assert_eq!(p, base.join("file")),
            other => panic!("{other:?}"),
        }
        let _ = fs::remove_dir_all(&base);
    }
}
