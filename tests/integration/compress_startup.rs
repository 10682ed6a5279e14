//! The compressed-file cache and the compressor process as the real binary sets them up: a missing cache
//! directory is made (0700, owned by the workers' user), one the workers could not write is refused before
//! anything forks (one line, exit code 2, `--check` alike), a reload naming an unusable one is refused while
//! the server serves on, and the master keeps exactly one compressor child (`staticd-zip`) beside the workers,
//! none with `--no-compress`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::startup::assert_startup_error;
use crate::support::*;

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

fn small_site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>home</h1>\n");
    root
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temp path is UTF-8")
}

fn assert_serves(server: &Server, what: &str) {
    let resp = get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200, "{what}; stderr:\n{}", server.stderr_text());
    assert_eq!(resp.body, b"<h1>home</h1>\n", "{what}");
}

/// Waits for exactly one compressor child other than `not` and returns it.
fn wait_for_compressor(server: &Server, not: Option<i32>) -> i32 {
    let mut last = Vec::new();
    let found = wait_until(LONG, || {
        last = server.compressor_pids();
        last.len() == 1 && Some(last[0]) != not
    });
    assert!(found, "expected one compressor (not {not:?}), have {last:?}; stderr:\n{}", server.stderr_text());
    last[0]
}

/// `--check` and a normal start with `--compress-cache cache`, both expected to fail naming `names`.
fn assert_refused(root: &TempRoot, cache: &Path, names: &[&str]) {
    let check = ["--check", "--compress-cache", utf8(cache), root.path_str()];
    assert_startup_error(&run_capture(&check, EXIT_TIMEOUT, |_| {}), &check, names);
    let start = ["--listen", "127.0.0.1:0", "--workers", "2", "--compress-cache", utf8(cache), root.path_str()];
    assert_startup_error(&run_capture(&start, EXIT_TIMEOUT, |_| {}), &start, names);
}

#[test]
fn a_missing_cache_directory_is_made_0700_and_the_server_serves() {
    let root = small_site("zip-mkdir");
    let base = TempDir::new("zip-mkdir");
    let cache = base.join("a/b");
    let server = root.serve(&["--compress-cache", utf8(&cache)]);
    assert_serves(&server, "with a cache directory made at start");
    // Every worker holds the directory the master opened (and the compressor too), chrooted or not.
    let cached = utf8(&cache).to_string();
    let holders: Vec<i32> =
        server.wait_for_workers(2, LONG).into_iter().chain([wait_for_compressor(&server, None)]).collect();
    for pid in holders {
        assert!(fd_targets(pid).contains(&cached), "process {pid} does not hold {cached}: {:?}", fd_targets(pid));
    }
    // As root it belongs to the workers' user (nobody by default), the only one that uses it.
    let owner = if is_root() { user_ids("nobody").map(|(uid, _)| uid) } else { None };
    for dir in [base.join("a"), cache] {
        let meta = fs::metadata(&dir).unwrap_or_else(|e| panic!("{} was not made: {e}", dir.display()));
        assert!(meta.is_dir(), "{}", dir.display());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "{}", dir.display());
        if let Some(uid) = owner {
            assert_eq!(meta.uid(), uid, "{} is not the workers' user's", dir.display());
        }
    }
    // The workers' user could write there, and the probe file that showed it is gone again.
    let names: Vec<String> = fs::read_dir(base.join("a/b"))
        .expect("list the cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".tmp-")), "a probe file was left: {names:?}");
}

#[test]
fn a_cache_path_that_is_not_a_directory_is_refused() {
    let root = small_site("zip-file");
    let base = TempDir::new("zip-file");
    let file = base.join("file");
    fs::write(&file, b"not a directory").expect("write the file");
    assert_refused(&root, &file, &[utf8(&file), "not a directory", "--no-compress"]);
    // A file on the way to it is named as well.
    let below = file.join("cache");
    assert_refused(&root, &below, &[utf8(&file), "not a directory"]);
}

#[test]
fn a_cache_the_workers_cannot_write_is_refused() {
    let root = small_site("zip-closed");
    let base = TempDir::new("zip-closed");
    let cache = base.join("closed");
    fs::create_dir(&cache).expect("make the cache directory");
    if is_root() {
        // Owned by root (the test made it as root), mode 0700: the master could write it, `nobody` cannot.
        if !require(user_ids("nobody").is_some(), "a `nobody` user for the workers") {
            return;
        }
        let _guard = ModeGuard::chmod(&cache, 0o700, 0o755);
        assert_refused(&root, &cache, &["workers", "user nobody", utf8(&cache), "Permission denied", "--no-compress"]);
    } else {
        // Not root: the workers are this user, and 0500 closes the directory to it.
        let _guard = ModeGuard::chmod(&cache, 0o500, 0o755);
        assert_refused(&root, &cache, &["cannot write", utf8(&cache), "Permission denied", "--no-compress"]);
    }
}

#[test]
fn with_no_compress_there_is_no_compressor() {
    let root = small_site("zip-off");
    let server = root.serve(&["--no-compress"]);
    let workers = server.wait_for_workers(2, LONG);
    // Time for a compressor forked by mistake to have named itself.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.compressor_pids(), Vec::<i32>::new(), "stderr:\n{}", server.stderr_text());
    assert_eq!(server.worker_pids(), workers);
    assert_serves(&server, "without compression");
}

#[test]
fn the_compressor_runs_beside_the_workers_and_is_respawned_after_kill_9() {
    let root = small_site("zip-respawn");
    let server = root.serve(&[]);
    let workers = server.wait_for_workers(2, LONG);
    let zip = wait_for_compressor(&server, None);
    assert!(!workers.contains(&zip), "the compressor {zip} counted as a worker: {workers:?}");
    kill(zip, libc::SIGKILL);
    let again = wait_for_compressor(&server, Some(zip));
    let died = server.wait_for_stderr(|l| l.contains(&format!("compressor (pid {zip}) died")), LONG);
    assert!(died.is_some_and(|l| l.contains("warn")), "no warning for the death; stderr:\n{}", server.stderr_text());
    // The workers were left alone, and none was started in its place.
    assert_eq!(server.worker_pids(), workers);
    assert_ne!(again, zip);
    assert_serves(&server, "after the compressor was killed");
}

/// Sends HUP and waits for the verdict: Some(the "reload refused" line), or None when it was taken.
fn hup(server: &Server) -> Option<String> {
    let refused = |l: &str| l.contains("reload refused");
    let started = |l: &str| l.contains("starting new workers");
    let (r0, s0) = (server.stderr_count(refused), server.stderr_count(started));
    server.signal(libc::SIGHUP);
    let decided = wait_until(LONG, || server.stderr_count(refused) > r0 || server.stderr_count(started) > s0);
    assert!(decided, "no verdict on HUP; stderr:\n{}", server.stderr_text());
    if server.stderr_count(started) > s0 {
        return None;
    }
    server.stderr_lines().into_iter().filter(|l| refused(l)).nth(r0)
}

fn config_naming(cache: &str) -> String {
    format!("root = \"root\"\nworkers = 1\nlisten = [\"127.0.0.1:0\"]\ncompress-cache = \"{cache}\"\n")
}

#[test]
fn a_reload_naming_an_unusable_cache_is_refused_and_one_naming_a_new_cache_replaces_the_compressor() {
    let root = small_site("zip-hup");
    let config = root.beside("staticd.toml");
    // Relative: under the file's directory, beside the root.
    fs::write(&config, config_naming("zip-cache")).expect("write the config file");
    let server = Server::start_with(&["--config", utf8(&config)]);
    assert!(root.beside("zip-cache").is_dir(), "the cache is not under the config file's directory");
    let workers = server.wait_for_workers(1, LONG);
    let zip = wait_for_compressor(&server, None);

    fs::write(root.beside("plain-file"), b"x").expect("write a file");
    fs::write(&config, config_naming("plain-file")).expect("rewrite the config file");
    let refused =
        hup(&server).unwrap_or_else(|| panic!("a file as the cache was taken; stderr:\n{}", server.stderr_text()));
    assert!(refused.contains("plain-file") && refused.contains("not a directory"), "{refused}");
    assert_serves(&server, "after the refused reload");
    assert_eq!(server.worker_pids(), workers, "a refused reload replaced the workers");
    assert_eq!(server.compressor_pids(), [zip], "a refused reload replaced the compressor");

    fs::write(&config, config_naming("zip-cache-2")).expect("rewrite the config file");
    assert_eq!(hup(&server), None, "a usable new cache was refused; stderr:\n{}", server.stderr_text());
    assert!(root.beside("zip-cache-2").is_dir(), "the new cache was not made");
    let replaced = wait_for_compressor(&server, Some(zip));
    let stopped = server.wait_for_stderr(|l| l.contains(&format!("compressor (pid {zip}) stopped")), LONG);
    assert!(stopped.is_some(), "the old compressor did not stop; stderr:\n{}", server.stderr_text());
    assert_ne!(replaced, zip);
    server.wait_for_workers_without(workers[0], 1, LONG);
    assert_serves(&server, "after the reload to a new cache");
}
