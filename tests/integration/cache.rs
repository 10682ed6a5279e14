//! The open-file cache never serves a stale answer: every change made before a request was sent is seen by it.
//!
//! The cache remembers files, 404s, 403s and directory redirects per worker; inotify empties it on any change
//! in a watched directory. These tests change the tree between two requests with no pause at all, many times
//! over, on one worker (so every request hits the same cache).

use std::fs;

use crate::support::*;

const ROUNDS: usize = 50;

#[test]
fn a_missing_file_appears_the_moment_it_is_created() {
    let root = TempRoot::new("cache-create");
    root.mkdir("d");
    let server = root.serve(&["--workers", "1"]);
    for i in 0..ROUNDS {
        let path = format!("/d/new-{i}.txt");
        assert_eq!(get(server.addr(), &path).status, 404, "{path} before it exists");
        assert_eq!(get(server.addr(), &path).status, 404, "{path} again (now from the cache)");
        root.write(&path[1..], format!("file {i}").as_bytes());
        let r = get(server.addr(), &path);
        assert_eq!(r.status, 200, "{path} right after it was created");
        assert_eq!(r.body, format!("file {i}").as_bytes());
    }
}

#[test]
fn a_deleted_or_edited_file_is_never_served_again() {
    let root = TempRoot::new("cache-edit");
    let server = root.serve(&["--workers", "1"]);
    for i in 0..ROUNDS {
        let body = format!("version {i}");
        root.write("page.txt", body.as_bytes());
        let r = get(server.addr(), "/page.txt");
        assert_eq!((r.status, r.body.as_slice()), (200, body.as_bytes()), "round {i}");
        assert_eq!(get(server.addr(), "/page.txt").body, body.as_bytes(), "round {i}, cached");
    }
    fs::remove_file(root.path.join("page.txt")).unwrap();
    assert_eq!(get(server.addr(), "/page.txt").status, 404, "deleted file");
}

#[test]
fn directory_answers_follow_the_tree() {
    let root = TempRoot::new("cache-dir");
    let server = root.serve(&["--workers", "1"]);
    for i in 0..ROUNDS / 5 {
        let dir = format!("d{i}");
        assert_eq!(get(server.addr(), &format!("/{dir}")).status, 404);
        root.mkdir(&dir);
        let r = get(server.addr(), &format!("/{dir}"));
        assert_eq!(r.status, 301, "/{dir} right after mkdir");
        assert_eq!(r.header("Location"), Some(format!("/{dir}/").as_str()));
        let r = get(server.addr(), &format!("/{dir}?q=1"));
        assert_eq!(r.header("Location"), Some(format!("/{dir}/?q=1").as_str()), "the query is kept");
        assert_eq!(get(server.addr(), &format!("/{dir}/")).status, 403, "no index yet");
        root.write(&format!("{dir}/index.html"), b"hi");
        assert_eq!(get(server.addr(), &format!("/{dir}/")).status, 200, "index right after it was created");
        fs::remove_file(root.path.join(&dir).join("index.html")).unwrap();
        assert_eq!(get(server.addr(), &format!("/{dir}/")).status, 403, "index right after it was removed");
    }
}
