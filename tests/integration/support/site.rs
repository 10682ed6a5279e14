//! Throw-away document roots: one builder for every fixture tree the tests serve, with exact modes and
//! mtimes, symlinks and sparse files, a secret planted *beside* the root that no response may ever contain,
//! and room beside the root for files that must not be served (logs, sockets, downloads); and plain
//! throw-away directories (a server's compressed-file cache).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use super::server::Server;

/// Planted next to every document root; no response may ever contain it.
pub const SECRET: &[u8] = b"TOP-SECRET-7f3a91-staticd-must-never-serve-this";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique temp directory holding the document root `path` (`DIR/root`) and, beside it, `DIR/secret.txt`;
/// everything is world-readable (workers may run as `nobody`) and removed on drop.
pub struct TempRoot {
    /// The document root.
    pub path: PathBuf,
    dir: PathBuf,
}

impl TempRoot {
    pub fn new(tag: &str) -> TempRoot {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        // Short: a Unix socket created beside the root must fit in sun_path's 108 bytes.
        let dir = std::env::temp_dir().join(format!("staticd-test-{}-{n}-{clean}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("root");
        fs::create_dir_all(&path).expect("create temp root");
        set_mode(&dir, 0o755);
        set_mode(&path, 0o755);
        let root = TempRoot { path, dir };
        fs::write(root.secret(), SECRET).expect("plant the secret");
        set_mode(&root.secret(), 0o644);
        root
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temp root path is UTF-8")
    }

    /// The file beside the root that holds `SECRET`.
    pub fn secret(&self) -> PathBuf {
        self.dir.join("secret.txt")
    }

    /// A path beside the root, outside it: for logs, sockets and downloads that must not be served.
    pub fn beside(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file under the root (mode 0644), creating parent directories (0755).
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.parent_made(rel);
        fs::write(&path, data).expect("write fixture");
        set_mode(&path, 0o644);
        path
    }

    /// A sparse file of `len` zero bytes: big downloads without big disk writes.
    pub fn write_sparse(&self, rel: &str, len: u64) -> PathBuf {
        let path = self.parent_made(rel);
        fs::File::create(&path).and_then(|f| f.set_len(len)).expect("create sparse fixture");
        set_mode(&path, 0o644);
        path
    }

    /// Creates a directory under the root (and its parents), mode 0755.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.path.join(rel);
        self.make_dirs(&path);
        path
    }

    /// Creates a symlink at `rel` (under the root) whose content is exactly `target`.
    pub fn symlink(&self, rel: &str, target: &str) -> PathBuf {
        let path = self.parent_made(rel);
        symlink(target, &path).expect("create symlink fixture");
        path
    }

    /// Serves this root: `Server::start` with the default listener and two workers unless `args` say otherwise.
    pub fn serve(&self, args: &[&str]) -> Server {
        Server::start(&self.path, args)
    }

    fn parent_made(&self, rel: &str) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            self.make_dirs(parent);
        }
        path
    }

    fn make_dirs(&self, dir: &Path) {
        fs::create_dir_all(dir).expect("create fixture dir");
        let mut d = dir.to_path_buf();
        while d.starts_with(&self.path) && d != self.path {
            set_mode(&d, 0o755);
            if !d.pop() {
                break;
            }
        }
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A unique empty temp directory, removed with everything in it on drop, whoever owns what the server made
/// there. Mode 1777 like /tmp: a server the test runs as `nobody` can make its directories in it, and
/// workers running as `nobody` can pass through it.
#[derive(Debug)]
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let path = std::env::temp_dir().join(format!("staticd-test-{}-{n}-{clean}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        set_mode(&path, 0o1777);
        TempDir { path }
    }

    /// A path inside it (not created).
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod fixture");
}

/// Sets a file's mtime to `secs` + `nanos` after the epoch.
pub fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let file = fs::File::options().write(true).open(path).expect("open for mtime");
    file.set_modified(UNIX_EPOCH + Duration::new(secs, nanos)).expect("set_modified");
}

/// Restores a mode when dropped, so a chmod-000 fixture never outlives a panicking test or blocks cleanup.
pub struct ModeGuard {
    path: PathBuf,
    mode: u32,
}

impl ModeGuard {
    pub fn chmod(path: &Path, mode: u32, restore: u32) -> ModeGuard {
        set_mode(path, mode);
        ModeGuard { path: path.to_path_buf(), mode: restore }
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(self.mode));
    }
}

/// Deterministic bytes that depend on their position and on `seed`: a truncated, shifted or foreign body
/// (another file's bytes) cannot compare equal. Every prefix of `pattern(n, s)` is `pattern(k, s)`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
