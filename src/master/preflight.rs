//! What must hold before a configuration is put to work, at start and again at every reload: the workers'
//! user can read the root, and the site's rule files parse. Each failure is one line.

use std::os::fd::AsFd;

use crate::config::Config;
use crate::probe;
use crate::site::rule_files;
use crate::sys;

/// Checks that workers started with `cfg` could serve: the root as their user sees it, and `_headers` /
/// `_redirects` (a bad line in them is a configuration error like a bad option).
pub fn check(cfg: &Config) -> Result<(), String> {
    probe::workers_can_read_root(cfg, &cfg.user_name)?;
    let root = sys::open_dir(&cfg.root).map_err(|e| format!("cannot open root {}: {e}", cfg.root.display()))?;
    rule_files::load(root.as_fd(), cfg.no_symlinks).map(drop)
}
