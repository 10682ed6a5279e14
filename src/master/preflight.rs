//! What must hold before a configuration is put to work, at start and again at every reload: the workers'
//! user can read the root, the site's rule files parse, the write mode's directory is there and writable by
//! that user (`write_dir`), the compressed-file cache directory is there and writable by that user
//! (`cache_dir`), and --max-conns fits the descriptor limit (lowered with a warning when
//! it does not). Each failure is one line.

use std::os::fd::{AsFd, OwnedFd};

use crate::config::Config;
use crate::probe;
use crate::site::rule_files;
use crate::sys;

/// Checks that workers started with `cfg` could serve: the root as their user sees it, `_headers` /
/// `_redirects` (a bad line in them is a configuration error like a bad option), and the compressed-file
/// cache (created when missing). Returns the cache directory, opened, for the workers and the compressor
/// (None with `--no-compress`).
pub fn check(cfg: &Config) -> Result<Option<OwnedFd>, String> {
    probe::workers_can_read_root(cfg, &cfg.user_name)?;
    let root = sys::open_dir(&cfg.root).map_err(|e| format!("cannot open root {}: {e}", cfg.root.display()))?;
    rule_files::load(root.as_fd(), cfg.no_symlinks)?;
    super::write_dir::check(cfg)?;
    super::cache_dir::prepare(cfg)
}

/// Descriptors a worker holds besides its connections and its file cache: stdio, epoll, signalfd, channel,
/// inotify, access log, root, and a few directories a listing may have open, with room to spare.
pub const FIXED_WORKER_FDS: u64 = 32;

/// `clamp_max_conns` with the file cache's share of `nofile` (`site::cache::descriptor_budget`).
pub fn fit_max_conns(cfg: &mut Config, nofile: u64) -> Option<String> {
    clamp_max_conns(cfg, nofile, crate::site::cache::descriptor_budget(nofile) as u64)
}

/// Descriptors one connection may hold in write mode: its socket, and while it uploads, the target's
/// directory and the temporary file.
pub const UPLOADING_CONN_FDS: u64 = 3;

/// Lowers `cfg.max_conns` to what a worker can hold under an open-files limit of `nofile` with `cache_fds` of
/// it kept for the file cache, so a full worker leaves clients waiting in the backlog instead of failing to
/// take the connections it was given (or, in write mode, failing their uploads). Returns the warning to
/// print when it was lowered.
pub fn clamp_max_conns(cfg: &mut Config, nofile: u64, cache_fds: u64) -> Option<String> {
    let per_conn = if cfg.write.is_some() { UPLOADING_CONN_FDS } else { 1 };
    let room = (nofile.saturating_sub(cache_fds + FIXED_WORKER_FDS) / per_conn).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if cfg.max_conns <= room {
        return None;
    }
    let asked = std::mem::replace(&mut cfg.max_conns, room);
    let each = if per_conn > 1 {
        format!(", and each connection may need {per_conn} while it uploads")
    } else {
        String::new()
    };
    Some(format!(
        "--max-conns {asked} lowered to {room}: the open-files limit is {nofile}, and each worker keeps {cache_fds} for its file cache and {FIXED_WORKER_FDS} for itself{each} (raise the limit with LimitNOFILE= or ulimit -n)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Invocation;

    fn config(max_conns: &str) -> Config {
        let dir = std::env::temp_dir();
        let args = ["staticd", "--max-conns", max_conns, dir.to_str().expect("UTF-8 temp dir")];
        Invocation::from_args(args.map(std::ffi::OsString::from)).and_then(|i| i.load()).expect("config")
    }

    #[test]
    fn max_conns_fits_the_descriptor_limit() {
        let mut cfg = config("10000");
        assert_eq!(clamp_max_conns(&mut cfg, 1_048_576, 65_536), None);
        assert_eq!(cfg.max_conns, 10_000);
        let warning = clamp_max_conns(&mut cfg, 1024, 256).expect("lowered");
        assert_eq!(cfg.max_conns, 1024 - 256 - FIXED_WORKER_FDS as usize);
        assert!(warning.contains("--max-conns 10000 lowered to 736"), "{warning}");
        // Never below one connection, however small the limit.
        clamp_max_conns(&mut cfg, 20, 16);
        assert_eq!(cfg.max_conns, 1);
    }

    #[test]
    fn in_write_mode_a_connection_counts_the_descriptors_of_an_upload() {
        let mut cfg = config("10000");
        cfg.write = Some(crate::config::WriteMode::for_tests("/uploads/"));
        let warning = clamp_max_conns(&mut cfg, 1024, 256).expect("lowered");
        assert_eq!(cfg.max_conns, (1024 - 256 - FIXED_WORKER_FDS as usize) / 3);
        assert!(warning.contains("lowered to 245") && warning.contains("3 while it uploads"), "{warning}");
    }
}
