//! A tmpfs mounted for one test: a small file system that fills up, for the tests of a full disk (root only).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{require, wait_until};

/// A tmpfs mounted for one test, unmounted when dropped (lazily if something still holds it).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None (said on stderr, or a failure under STATICD_REQUIRE_ALL) where even root may not mount: a
    /// container without CAP_SYS_ADMIN.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir)
            .status();
        let mounted = status.as_ref().is_ok_and(|s| s.success());
        require(mounted, &format!("mount -t tmpfs to work (it gave {status:?})")).then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // The server's processes were killed just before; their last descriptors may take a moment to go.
        let umount = || Command::new("umount").arg(&self.0).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        if !wait_until(Duration::from_secs(5), umount) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}
