//! Deploying a new version of a site under a running server: whatever the pattern (move a directory into
//! place, switch a `current` symlink, recreate the directory), a HUP serves the new content, and no worker
//! keeps a descriptor of the old directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::support::*;

/// A site directory `base/<name>` holding an index that says `version`.
fn release(base: &TempRoot, name: &str, version: &str) {
    base.write(&format!("{name}/index.html"), version.as_bytes());
    base.write(&format!("{name}/only-{version}.txt"), version.as_bytes());
}

/// Serves `root` (two workers) and checks it answers `version`.
fn serve_version(root: &Path, version: &str) -> Server {
    let server = Server::start(root, &[]);
    assert_eq!(get(server.addr(), "/").body_str(), version);
    server
}

/// Sends HUP and waits until every answer is `version` (new workers of a reload serve new connections).
fn hup_until_serving(server: &Server, version: &str) {
    server.signal(libc::SIGHUP);
    let served = wait_until(LONG, || get(server.addr(), "/").body_str() == version);
    assert!(served, "still {:?} after HUP; stderr:\n{}", get(server.addr(), "/").body_str(), server.stderr_text());
    let only = format!("/only-{version}.txt");
    assert_eq!(get(server.addr(), &only).status, 200, "{only}");
}

#[test]
fn hup_serves_a_root_moved_into_place() {
    let base = TempRoot::new("deploy-mv");
    release(&base, "www", "v1");
    release(&base, "www.new", "v2");
    let server = serve_version(&base.path.join("www"), "v1");
    fs::rename(base.path.join("www"), base.path.join("www.old")).expect("mv www www.old");
    fs::rename(base.path.join("www.new"), base.path.join("www")).expect("mv www.new www");
    hup_until_serving(&server, "v2");
    assert_eq!(get(server.addr(), "/only-v1.txt").status, 404, "the old release is gone from view");
}

#[test]
fn hup_serves_a_root_recreated_in_place() {
    let base = TempRoot::new("deploy-rm");
    release(&base, "www", "v1");
    let server = serve_version(&base.path.join("www"), "v1");
    fs::remove_dir_all(base.path.join("www")).expect("rm -rf www");
    release(&base, "www", "v2");
    hup_until_serving(&server, "v2");
}

#[test]
fn hup_follows_a_switched_current_symlink() {
    let base = TempRoot::new("deploy-link");
    release(&base, "releases/v1", "v1");
    release(&base, "releases/v2", "v2");
    symlink("releases/v1", base.path.join("current")).expect("ln -s");
    let server = serve_version(&base.path.join("current"), "v1");
    // Switched atomically, the way deploy tools do: a new link renamed over the old one.
    symlink("releases/v2", base.path.join("current.tmp")).expect("ln -s");
    fs::rename(base.path.join("current.tmp"), base.path.join("current")).expect("mv -T");
    hup_until_serving(&server, "v2");
}

#[test]
fn no_worker_holds_a_descriptor_of_the_old_root() {
    // As root the workers are chrooted into the root; a descriptor of the directory that used to be there
    // would be one outside their chroot.
    if !require_root("chrooted workers") {
        return;
    }
    let base = TempRoot::new("deploy-fds");
    release(&base, "www", "v1");
    release(&base, "www.new", "v2");
    let server = serve_version(&base.path.join("www"), "v1");
    let old = base.path.join("www.old");
    fs::rename(base.path.join("www"), &old).expect("mv www www.old");
    fs::rename(base.path.join("www.new"), base.path.join("www")).expect("mv www.new www");
    // A worker respawned after a crash resolves the root afresh too.
    let first = server.wait_for_workers(2, LONG);
    kill(first[0], libc::SIGKILL);
    let (replaced, _) = server.wait_for_workers_without(first[0], 2, LONG);
    assert!(replaced, "the killed worker was not replaced");
    let old_text = old.to_string_lossy().into_owned();
    let respawned: Vec<i32> = server.worker_pids().into_iter().filter(|p| *p != first[1]).collect();
    for pid in respawned {
        let stale: Vec<String> = fd_targets(pid).into_iter().filter(|t| t.starts_with(&old_text)).collect();
        assert!(stale.is_empty(), "respawned worker {pid} holds the old root: {stale:?}");
    }
    hup_until_serving(&server, "v2");
    // The old generation is gone once its connections are: then every worker is new.
    let settled = wait_until(LONG, || {
        server.worker_pids().len() == 2
            && server.worker_pids().iter().all(|&pid| fd_targets(pid).iter().all(|t| !t.starts_with(&old_text)))
    });
    let held: Vec<(i32, Vec<String>)> = server.worker_pids().into_iter().map(|p| (p, fd_targets(p))).collect();
    assert!(settled, "a worker still holds {old_text}: {held:?}");
}
