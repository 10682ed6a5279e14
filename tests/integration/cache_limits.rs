//! The open-file cache under pressure keeps its bounds and never serves a stale answer: a descriptor limit
//! lowered under a running worker, a watch budget far smaller than the tree, a large tree edited while it is
//! read, and two origins serving copies of one tree (whose validators must agree).

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::support::*;

/// Larger than the cache keeps in memory, so every cached entry holds its descriptor.
const LARGE: usize = 20 * 1024;

fn large_body(tag: &str) -> Vec<u8> {
    let mut body = tag.as_bytes().to_vec();
    body.resize(LARGE, b'.');
    body
}

#[test]
fn a_low_descriptor_limit_never_turns_requests_into_errors() {
    const LIMIT: u64 = 512;
    let root = TempRoot::new("fd-limit");
    root.write("index.html", &large_body("index"));
    for i in 0..600 {
        root.write(&format!("f/{i}.bin"), &large_body(&format!("file {i}")));
    }
    // Started under the limit (a worker that drops to another user cannot have its limit changed by
    // `prlimit` from here): the master and its worker inherit it.
    let args = ["--listen", "127.0.0.1:0", "--workers", "1", root.path_str()];
    let server = Server::start_cmd(&args, |cmd| limit_nofile(cmd, LIMIT));
    let worker = server.wait_for_workers(1, LONG)[0];
    // One file, spelled 600 ways: one entry, one descriptor.
    for i in 0..600 {
        let path = format!("/{}index.html", "./".repeat(i));
        let r = get(server.addr(), &path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.starts_with(b"index"), "{path}");
    }
    let held = fd_count(worker) as u64;
    assert!(held < 64, "the worker holds {held} descriptors after one file spelled 600 ways");
    // 600 files that each keep a descriptor: the cache meets the limit, closes some of its own and goes on.
    for round in 0..2 {
        for i in 0..600 {
            let r = get(server.addr(), &format!("/f/{i}.bin"));
            assert_eq!(r.status, 200, "/f/{i}.bin (round {round}) under a {LIMIT}-descriptor limit");
            assert!(r.body.starts_with(format!("file {i}").as_bytes()), "/f/{i}.bin");
        }
    }
    let held = fd_count(worker) as u64;
    assert!(held <= LIMIT / 2, "the worker holds {held} of its {LIMIT} descriptors");
    assert_eq!(get(server.addr(), "/index.html").status, 200);
}

#[test]
fn a_descriptor_limit_lowered_under_a_running_worker_is_met_by_closing_cached_files() {
    if !require_tool("prlimit") {
        return;
    }
    const LIMIT: u64 = 512;
    let root = TempRoot::new("fd-lowered");
    for i in 0..600 {
        root.write(&format!("f/{i}.bin"), &large_body(&format!("file {i}")));
    }
    // As root the workers would drop to nobody, whose limit `prlimit` from here may not change: keep them
    // root (--user root) so the limit can be lowered under the running worker.
    let mut args = vec!["--workers", "1"];
    if is_root() {
        args.extend(["--user", "root"]);
    }
    let server = root.serve(&args);
    let worker = server.wait_for_workers(1, LONG)[0];
    // The worker started with a high limit (its cache sized to it); now it has 512.
    set_nofile_of(worker, LIMIT, LIMIT);
    for round in 0..2 {
        for i in 0..600 {
            let r = get(server.addr(), &format!("/f/{i}.bin"));
            assert_eq!(r.status, 200, "/f/{i}.bin (round {round}) after the limit fell to {LIMIT}");
            assert!(r.body.starts_with(format!("file {i}").as_bytes()), "/f/{i}.bin");
        }
    }
    let held = fd_count(worker) as u64;
    assert!(held <= LIMIT / 2, "the worker holds {held} of its {LIMIT} descriptors");
    let said = server.wait_for_stderr(|l| l.contains("out of descriptors"), LONG);
    assert!(said.is_some(), "the worker never said it closed cached files; stderr:\n{}", server.stderr_text());
}

/// The number of inotify watches `pid` holds: one `inotify wd:` line per watch in the fdinfo of its
/// inotify descriptors.
fn watch_count(pid: i32) -> usize {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    dir.flatten()
        .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify")))
        .filter_map(|e| fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy())).ok())
        .map(|info| info.lines().filter(|l| l.starts_with("inotify wd:")).count())
        .sum()
}

#[test]
fn a_watch_budget_bounds_the_watches_and_unwatched_files_are_never_stale() {
    const DIRS: usize = 300;
    const BUDGET: usize = 50;
    let root = TempRoot::new("watch-budget");
    for d in 0..DIRS {
        root.write(&format!("d{d}/f.txt"), format!("d{d} v0").as_bytes());
    }
    let server = root.serve(&["--workers", "1", "--max-watches", &BUDGET.to_string()]);
    let worker = server.wait_for_workers(1, LONG)[0];
    for d in 0..DIRS {
        let r = get(server.addr(), &format!("/d{d}/f.txt"));
        assert_eq!((r.status, r.body_str()), (200, format!("d{d} v0")), "/d{d}/f.txt");
        assert_eq!(get(server.addr(), &format!("/d{d}/missing.txt")).status, 404);
        assert_eq!(get(server.addr(), &format!("/nowhere{d}/a/b/c/missing.txt")).status, 404);
    }
    let watches = watch_count(worker);
    assert!(watches <= BUDGET, "the worker holds {watches} watches with --max-watches {BUDGET}");
    assert!(watches > 0, "no watch at all: the count is not read right");
    // Every file, watched directory or not, is fresh on the very next request: edited in place ...
    for d in 0..DIRS {
        let path = root.path.join(format!("d{d}/f.txt"));
        fs::write(&path, format!("d{d} v1, edited in place")).unwrap();
        let r = get(server.addr(), &format!("/d{d}/f.txt"));
        assert_eq!(r.body_str(), format!("d{d} v1, edited in place"), "/d{d}/f.txt after an edit in place");
    }
    // ... and replaced by rename, with the same size as before.
    for d in 0..DIRS {
        let tmp = root.path.join(format!("d{d}/.f.tmp"));
        fs::write(&tmp, format!("d{d} v2, replaced by rename")).unwrap();
        fs::rename(&tmp, root.path.join(format!("d{d}/f.txt"))).unwrap();
        let r = get(server.addr(), &format!("/d{d}/f.txt"));
        assert_eq!(r.body_str(), format!("d{d} v2, replaced by rename"), "/d{d}/f.txt after a rename");
    }
    let watches = watch_count(worker);
    assert!(watches <= BUDGET, "the worker holds {watches} watches with --max-watches {BUDGET}");
}

#[test]
fn a_large_tree_edited_in_place_and_by_rename_while_read_is_never_stale() {
    const DIRS: usize = 40;
    const FILES: usize = 25;
    const ROUNDS: u64 = 6;
    let root = TempRoot::new("edit-while-read");
    let name = |i: usize| format!("d{}/f{}.txt", i / FILES, i % FILES);
    let content = |i: usize, v: u64| {
        // Sizes vary with the version, and some files are large (sendfile, a held descriptor).
        let mut s = format!("file {i} version {v}\n");
        let len = if i % 7 == 0 { LARGE + v as usize } else { s.len() + (v as usize % 3) * 10 };
        s.extend(std::iter::repeat_n('.', len - s.len()));
        s
    };
    let total = DIRS * FILES;
    for i in 0..total {
        root.write(&name(i), content(i, 0).as_bytes());
    }
    // A budget below the tree's directory count: some directories are watched, some checked per request.
    let server = root.serve(&["--workers", "2", "--max-watches", "16"]);
    let started: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let done: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let finished = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (started, done, finished) = (Arc::clone(&started), Arc::clone(&done), Arc::clone(&finished));
            let addr = server.addr();
            std::thread::spawn(move || {
                let mut checked = 0u64;
                let mut i = t * 13;
                while !finished.load(Ordering::SeqCst) {
                    i = (i + 37) % total;
                    let before = done[i].load(Ordering::SeqCst);
                    let r = try_get(addr, &format!("/{}", name(i)));
                    let after = started[i].load(Ordering::SeqCst);
                    let Some(r) = r else {
                        // A large file truncated by an edit in place while it was sent: the server closes
                        // the connection rather than send a short body.
                        assert!(after > before, "/{}: no whole response with no edit under way", name(i));
                        continue;
                    };
                    assert_eq!(r.status, 200, "/{}", name(i));
                    let text = r.body_str();
                    let version = text
                        .strip_prefix(&format!("file {i} version "))
                        .and_then(|rest| rest.split('\n').next())
                        .and_then(|v| v.parse::<u64>().ok());
                    match version {
                        Some(v) => {
                            assert!(v >= before, "/{} served version {v} after version {before} was written", name(i));
                            assert!(v <= after, "/{} served version {v} before it was written", name(i));
                            if text != content(i, v) {
                                // A torn body: only while an edit in place was under way.
                                assert!(after > before, "/{} torn with no edit under way", name(i));
                            }
                        }
                        None => assert!(after > before, "/{} unreadable with no edit under way: {text:?}", name(i)),
                    }
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    for v in 1..=ROUNDS {
        for i in (0..total).filter(|i| (i + v as usize) % 3 != 0) {
            started[i].store(v, Ordering::SeqCst);
            let path = root.path.join(name(i));
            if (i + v as usize) % 2 == 0 {
                fs::write(&path, content(i, v)).unwrap();
            } else {
                let tmp = root.path.join(format!("{}.tmp", name(i)));
                fs::write(&tmp, content(i, v)).unwrap();
                fs::rename(&tmp, &path).unwrap();
            }
            done[i].store(v, Ordering::SeqCst);
        }
    }
    finished.store(true, Ordering::SeqCst);
    let checked: u64 = readers.into_iter().map(|r| r.join().expect("a reader saw a stale body")).sum();
    assert!(checked > 0);
    // Settled: every file reads as its last version, on either worker.
    for i in 0..total {
        let want = content(i, done[i].load(Ordering::SeqCst));
        for _ in 0..2 {
            assert_eq!(get(server.addr(), &format!("/{}", name(i))).body_str(), want, "/{}", name(i));
        }
    }
}

/// A GET whose response may legitimately be cut short (None then).
fn try_get(addr: std::net::SocketAddr, target: &str) -> Option<Response> {
    use std::io::{Read, Write};
    let mut stream = connect(addr);
    stream.write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    read_response(&mut std::io::empty(), &mut bytes, false).ok()
}

/// Copies `from` to `to` as `cp -a` would for what a server can see: bytes and mtimes (to the nanosecond).
fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            let mtime = entry.metadata().unwrap().modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
            set_mtime(&target, mtime.as_secs(), mtime.subsec_nanos());
        }
    }
}

#[test]
fn two_origins_serving_copies_agree_on_etags_and_honour_each_others() {
    let a = TempRoot::new("fleet-a");
    a.write("small.txt", b"small file");
    a.write("docs/large.bin", &large_body("large"));
    a.write("app.js", b"console.log('hello, fleet');");
    a.write("app.js.gz", b"pretend gzip bytes");
    set_mtime(&a.path.join("small.txt"), 1_700_000_000, 123_456_789);
    let b = TempRoot::new("fleet-b");
    copy_tree(&a.path, &b.path);
    let sa = a.serve(&["--workers", "1"]);
    let sb = b.serve(&["--workers", "1"]);
    for (path, coding) in
        [("/small.txt", None), ("/docs/large.bin", None), ("/app.js", None), ("/app.js", Some("gzip"))]
    {
        let headers: Vec<(&str, &str)> = coding.map(|c| ("Accept-Encoding", c)).into_iter().collect();
        let ra = fetch(sa.addr(), "GET", path, &headers);
        let rb = fetch(sb.addr(), "GET", path, &headers);
        assert_eq!((ra.status, rb.status), (200, 200), "{path} {coding:?}");
        let (ea, eb) = (header(&ra, "ETag", path).to_string(), header(&rb, "ETag", path).to_string());
        assert_strong_etag(&ea, path);
        assert_eq!(ea, eb, "{path} ({coding:?}): the copies' ETags differ");
        for (server, etag) in [(&sb, &ea), (&sa, &eb)] {
            let mut h = headers.clone();
            h.push(("If-None-Match", etag));
            assert_eq!(fetch(server.addr(), "GET", path, &h).status, 304, "{path} {coding:?} with the other's {etag}");
        }
    }
    // The gzip representation has a tag of its own.
    let identity = get(sa.addr(), "/app.js");
    let gzip = fetch(sa.addr(), "GET", "/app.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzip.header("Content-Encoding"), Some("gzip"));
    assert_ne!(identity.header("ETag"), gzip.header("ETag"));
}
