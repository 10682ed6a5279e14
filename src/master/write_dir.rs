//! The write mode's directory, checked by the master before anything that writes there forks: at start
//! (and `--check`) and for every reload, so a prefix the workers could not write to is one line and exit
//! code 2 (a refused reload), never a server answering every upload 403 or 500 with nothing saying why.
//!
//! The prefix names a directory beneath the root that must exist already (writes make no directories), be a
//! real directory reached without any symlink (workers open it with RESOLVE_NO_SYMLINKS, so one on the way
//! would refuse every write), and be writable by the workers' user: a child that drops privileges as a
//! worker does creates, writes and removes a file in it (`probe::workers_can_write`).

use std::os::fd::AsFd;

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
    probe::workers_can_write(cfg, &named, dir.as_fd(), &probe_name)
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
        run("/up/").expect("usable");
        assert!(std::fs::read_dir(base.join("www/up")).expect("dir").next().is_none(), "the probe file is removed");
        let e = run("/missing/").expect_err("missing");
        assert!(e.contains("--write directory /missing/") && e.contains("does not exist"), "{e}");
        assert!(run("/file/").expect_err("file").contains("is not a directory"));
        assert!(run("/link/").expect_err("link").contains("symbolic link"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
