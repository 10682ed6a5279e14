//! The write mode's directory, checked by the master before anything that writes there forks: at start
//! (and `--check`) and for every reload, so a prefix the workers could not write to is one line and exit
//! code 2 (a refused reload), never a server answering every upload 403 or 500 with nothing saying why.
//!
//! The prefix names a directory beneath the root that must exist already (writes make no directories), be a
//! real directory reached without any symlink (workers open it with RESOLVE_NO_SYMLINKS, so one on the way
//! would refuse every write), and be writable by the workers' user: a child that drops privileges as a
//! worker does creates, writes and removes a file in it (`probe::workers_can_write`). Then the temporary
//! files of uploads whose worker died mid-upload (killed: nothing ran to remove them) are removed.

use std::os::fd::{AsFd, BorrowedFd};

use crate::config::Config;
use crate::probe;
use crate::site::write::TEMP_PREFIX;
use crate::sys;

/// Checks the write mode's directory of `cfg` (nothing without `--write`). Err is the one line to print.
pub fn check(cfg: &Config) -> Result<(), String> {
    let Some(w) = &cfg.write else { return Ok(()) };
    let path = cfg.root.join(String::from_utf8_lossy(&w.dir).as_ref());
    let named = format!("the --write directory {} ({})", w.prefix, path.display());
    let root = sys::open_dir(&cfg.root).map_err(|e| format!("cannot open root {}: {e}", cfg.root.display()))?;
    let dir = sys::open_dir_beneath_nofollow(root.as_fd(), &w.dir).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => format!("{named} does not exist (writes make no directories: create it)"),
        Some(libc::ENOTDIR) => format!("{named} is not a directory"),
        Some(libc::ELOOP | libc::EXDEV) => {
            format!("{named} is reached through a symbolic link, which writes never follow")
        }
        _ => format!("cannot open {named}: {}", sys::errno_text(e.raw_os_error().unwrap_or(0))),
    })?;
    let probe_name = format!("{TEMP_PREFIX}{}-probe", std::process::id());
    probe::workers_can_write(cfg, &named, dir.as_fd(), &probe_name)?;
    let removed = sweep(root.as_fd(), &w.dir);
    if removed > 0 {
        log::info!("removed {removed} temporary file(s) of uploads whose worker is gone, under {}", w.prefix);
    }
    Ok(())
}

/// Directories and entries `sweep` looks at, at most: a start never waits long on a huge upload tree.
const SWEEP_DIRS: usize = 1000;
const SWEEP_ENTRIES: usize = 100_000;

/// Removes the temporary files (`.staticd-upload-<pid>-…`) that uploads left in `dir` (root-relative) and
/// beneath it when their worker died without dropping them (killed mid-upload): those whose pid is no
/// process now. A running worker's (a reload's old generation) are left alone. No symlink is followed, and
/// only regular files are removed. Returns how many.
fn sweep(root: BorrowedFd<'_>, dir: &[u8]) -> usize {
    let mut pending = vec![dir.to_vec()];
    let (mut dirs, mut entries, mut removed) = (0, 0, 0);
    while let Some(rel) = pending.pop() {
        dirs += 1;
        if dirs > SWEEP_DIRS {
            break;
        }
        let (Ok(mut reader), Ok(handle)) =
            (sys::DirReader::open_beneath(root, &rel, true), sys::open_dir_beneath_nofollow(root, &rel))
        else {
            continue;
        };
        while let Ok(Some(entry)) = reader.next_entry() {
            entries += 1;
            if entries > SWEEP_ENTRIES {
                return removed;
            }
            let kind = match entry.kind {
                sys::EntryType::Unknown => reader.lstat_entry(&entry.name).map_or(sys::EntryType::Other, |(k, _)| k),
                kind => kind,
            };
            match kind {
                sys::EntryType::Directory if entry.name.first() != Some(&b'.') => {
                    let mut sub = rel.clone();
                    sub.push(b'/');
                    sub.extend_from_slice(&entry.name);
                    pending.push(sub);
                }
                sys::EntryType::Regular if writer_is_gone(&entry.name) => {
                    removed += usize::from(sys::unlink_at(handle.as_fd(), &entry.name).is_ok());
                }
                _ => {}
            }
        }
    }
    removed
}

/// Whether `name` is an upload's temporary file whose writer (the pid in its name) no longer exists.
fn writer_is_gone(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX.as_bytes()) else { return false };
    let pid = rest.split(|&b| b == b'-').next().and_then(|p| std::str::from_utf8(p).ok()?.parse::<i32>().ok());
    pid.is_some_and(|pid| !sys::process_exists(pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Invocation;
    use std::os::unix::fs::PermissionsExt;

    fn config(base: &std::path::Path, prefix: &str) -> Result<Config, String> {
        let token = base.join("token");
        std::fs::write(&token, "0123456789abcdef").expect("token");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let root = base.join("www");
        let args = [
            "staticd",
            "--no-compress",
            "--no-chroot",
            "--write",
            prefix,
            "--write-token-file",
            token.to_str().expect("UTF-8"),
            root.to_str().expect("UTF-8"),
        ];
        Invocation::from_args(args.map(std::ffi::OsString::from)).and_then(|i| i.load())
    }

    #[test]
    fn the_directory_must_exist_be_real_and_writable() {
        let base = std::env::temp_dir().join(format!("staticd-write-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("www/up")).expect("tree");
        std::fs::create_dir_all(base.join("elsewhere")).expect("tree");
        std::fs::write(base.join("www/file"), b"x").expect("file");
        std::os::unix::fs::symlink("../elsewhere", base.join("www/link")).expect("link");
        let run = |prefix: &str| check(&config(&base, prefix).expect("config"));
        if sys::geteuid() == 0 {
            // The workers run as nobody: a directory only root may write is refused, naming the user.
            let e = run("/up/").expect_err("root's directory");
            assert!(e.contains("the workers (user nobody) cannot write") && e.contains("Permission denied"), "{e}");
            std::fs::set_permissions(base.join("www/up"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        // A dead writer's temporary file goes (beneath the directory too); a live one's and other names stay.
        std::fs::create_dir_all(base.join("www/up/deep")).expect("tree");
        let dead = format!("{TEMP_PREFIX}999999999-00ff");
        let live = format!("{TEMP_PREFIX}{}-00ff", std::process::id());
        for name in [dead.as_str(), live.as_str(), ".staticd-upload-x-1", "keep.txt"] {
            std::fs::write(base.join("www/up/deep").join(name), b"x").expect("file");
        }
        std::fs::write(base.join("www/up").join(&dead), b"x").expect("file");
        run("/up/").expect("usable");
        let mut left: Vec<String> = std::fs::read_dir(base.join("www/up/deep"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![".staticd-upload-x-1".to_string(), live.clone(), "keep.txt".into()];
        want.sort();
        assert_eq!(left, want);
        assert!(!base.join("www/up").join(&dead).exists());
        std::fs::remove_dir_all(base.join("www/up/deep")).expect("clean");
        run("/up/").expect("usable");
        assert!(std::fs::read_dir(base.join("www/up")).expect("dir").next().is_none(), "the probe file is removed");
        let e = run("/missing/").expect_err("missing");
        assert!(e.contains("--write directory /missing/") && e.contains("does not exist"), "{e}");
        assert!(run("/file/").expect_err("file").contains("is not a directory"));
        assert!(run("/link/").expect_err("link").contains("symbolic link"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
