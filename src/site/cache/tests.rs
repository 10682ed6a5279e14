//! The cache's bounds and its per-use checks, on a real tree in a temp directory.

use super::*;
use clap::Parser;
use std::time::Duration;

struct Tree {
    dir: std::path::PathBuf,
    root: OwnedFd,
    cfg: Config,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!("staticd-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        let cli = crate::config::Cli::parse_from(["staticd", "--workers", "1", dir.to_str().unwrap()]);
        let cfg = Config::from_cli(cli).unwrap();
        let root = sys::open_dir(&dir).unwrap();
        Tree { dir, root, cfg }
    }

    fn cache(&self, watch_budget: usize, fd_budget: usize) -> FileCache {
        let mut prefix = self.dir.as_os_str().as_encoded_bytes().to_vec();
        prefix.push(b'/');
        FileCache::with_budgets(&self.cfg, Some(sys::inotify().unwrap()), prefix, watch_budget, fd_budget)
    }

    fn write(&self, rel: &str, len: usize) {
        std::fs::write(self.dir.join(rel), vec![b'x'; len]).unwrap();
    }

    /// Looks `rel` up the way `files::find` does and caches it under "/" + rel.
    fn add(&self, cache: &mut FileCache, rel: &str, now: Instant) -> Rc<CachedFile> {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let mut deps = Deps::default();
        deps.add(cache.watch_dir(self.root.as_fd(), parent.as_bytes(), now));
        let opened = cache.open(self.root.as_fd(), rel.as_bytes(), false).unwrap();
        let file = cache.build(self.root.as_fd(), &self.cfg, rel.as_bytes(), opened);
        cache.insert(format!("/{rel}").as_bytes(), Rc::clone(&file), deps, now);
        file
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A time after every file written so far stopped being "racy" (changed within the last clock ticks).
fn settle() {
    std::thread::sleep(RACY + Duration::from_millis(20));
}

#[test]
fn budgets() {
    assert_eq!(descriptor_budget(20), 16);
    assert_eq!(descriptor_budget(1024), 256);
    assert_eq!(descriptor_budget(1 << 30), 65_536);
    assert_eq!(default_watch_budget(Some(192_530), 2), 12_033);
    assert_eq!(default_watch_budget(Some(8192), 64), 64);
    assert_eq!(default_watch_budget(None, 1), 1024);
}

#[test]
fn descriptors_are_counted_and_bounded_evicting_one_entry_at_a_time() {
    let t = Tree::new("fds");
    let large = SMALL_BODY as usize + 1;
    for i in 0..40 {
        t.write(&format!("d/big{i}"), large);
        t.write(&format!("d/small{i}"), 10);
    }
    t.write("d/big0.gz", large);
    t.write("d/big0.br", 10);
    settle();
    let mut cache = t.cache(100, 16);
    let now = Instant::now();
    // Small files are served from memory: no descriptor held.
    for i in 0..40 {
        t.add(&mut cache, &format!("d/small{i}"), now);
    }
    assert_eq!((cache.fds, cache.files.len()), (0, 40));
    // big0 holds two (itself and its large .gz; the small .br is in memory).
    let big0 = t.add(&mut cache, "d/big0", now);
    assert_eq!(big0.fds(), 2);
    assert_eq!(cache.fds, 2);
    for i in 1..40 {
        t.add(&mut cache, &format!("d/big{i}"), now);
        assert!(cache.fds <= 16, "{} descriptors held with a budget of 16", cache.fds);
    }
    assert_eq!(cache.fds, 16, "evicted one at a time, not emptied");
    // The small entries that were not used again made room first; a used one survives.
    assert!(cache.get(t.root.as_fd(), b"/d/big39", now).is_some(), "the newest entry is kept");
    let total_fds: usize = cache.files.keys().iter().filter_map(|k| cache.files.get(k).map(|e| e.file.fds())).sum();
    assert_eq!(total_fds, cache.fds, "the count matches the entries");
}

#[test]
fn remembered_answers_are_bounded_evicting_one_at_a_time() {
    let t = Tree::new("known");
    let mut cache = t.cache(100, 16);
    let now = Instant::now();
    let mut deps = Deps::default();
    deps.add(cache.watch_dir(t.root.as_fd(), b"d", now));
    assert!(deps.watched);
    for i in 0..MAX_KNOWN + 10 {
        cache.insert_known(format!("/d/missing{i}").as_bytes(), Known::Status(404), deps, now);
    }
    assert_eq!(cache.known.len(), MAX_KNOWN);
    assert!(cache.get_known(format!("/d/missing{}", MAX_KNOWN + 9).as_bytes(), now).is_some());
    // Not remembered where the directory is not watched.
    let mut unwatched = Deps::default();
    unwatched.add(cache.watch_dir(t.root.as_fd(), b"nope", now));
    cache.insert_known(b"/nope/x", Known::Status(404), unwatched, now);
    assert!(cache.get_known(b"/nope/x", now).is_none());
}

#[test]
fn an_unwatched_entry_is_checked_on_every_use_and_a_racy_one_not_kept() {
    let t = Tree::new("unwatched");
    t.write("d/f", 10);
    t.write("d/g", 10);
    settle();
    // No watch budget at all: nothing but the root could be watched, and it is not asked for here.
    let mut cache = t.cache(0, 16);
    let now = Instant::now();
    t.add(&mut cache, "d/f", now);
    assert!(cache.get(t.root.as_fd(), b"/d/f", now).is_some(), "unchanged: served from the cache");
    std::fs::write(t.dir.join("d/f"), b"same size!").unwrap();
    assert!(cache.get(t.root.as_fd(), b"/d/f", now).is_none(), "edited in place (same size)");
    // Just changed: kept only where a watch would report the next change.
    t.add(&mut cache, "d/f", now);
    assert!(cache.get(t.root.as_fd(), b"/d/f", now).is_none(), "a racy entry was kept unwatched");
    settle();
    t.add(&mut cache, "d/g", now);
    std::fs::write(t.dir.join("d/g.gz"), b"gz").unwrap();
    assert!(cache.get(t.root.as_fd(), b"/d/g", now).is_none(), "a sibling appeared");
}

#[test]
fn an_event_drops_only_the_entries_of_its_directory() {
    let t = Tree::new("events");
    std::fs::create_dir_all(t.dir.join("e")).unwrap();
    t.write("d/f", 10);
    t.write("e/f", 10);
    let mut cache = t.cache(100, 16);
    let now = Instant::now();
    t.add(&mut cache, "d/f", now);
    t.add(&mut cache, "e/f", now);
    t.write("e/other", 1);
    let change = cache.on_change();
    assert!(change.any && !change.root);
    assert!(cache.get(t.root.as_fd(), b"/d/f", now).is_some(), "another directory's entry was dropped");
    assert!(cache.get(t.root.as_fd(), b"/e/f", now).is_none(), "the changed directory's entry was kept");
}

/// A cache wired to a compressed-file cache directory and a request pipe, as a worker's is.
struct Compressing {
    dir: std::path::PathBuf,
    pipe: OwnedFd,
    shm: Shm,
}

impl Compressing {
    fn attach(tag: &str, cache: &mut FileCache) -> Compressing {
        let dir = std::env::temp_dir().join(format!("staticd-zcache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (read, write) = sys::packet_pipe().unwrap();
        sys::set_nonblocking(read.as_fd()).unwrap();
        let shm = Shm::new(1).unwrap();
        cache.link = Some(CompressLink { cache_dir: sys::open_dir(&dir).unwrap(), requests: write });
        cache.shm = Some(shm);
        Compressing { dir, pipe: read, shm }
    }

    /// The next request the cache sent, if any.
    fn request(&self) -> Option<crate::compress::request::Request> {
        let mut buf = [0u8; 4096];
        let n = sys::read(self.pipe.as_fd(), &mut buf).ok()?;
        crate::compress::request::decode(&buf[..n])
    }
}

impl Drop for Compressing {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn state(file: &CachedFile) -> &'static str {
    match &*file.compressed.as_ref().unwrap().borrow() {
        Compressed::Unknown => "unknown",
        Compressed::Waiting { .. } => "waiting",
        Compressed::Ready { .. } => "ready",
    }
}

#[test]
fn compressed_forms_are_asked_for_once_then_found_when_the_count_moves() {
    use crate::compress::entry;
    let t = Tree::new("zforms");
    let mut cache = t.cache(64, 64);
    let z = Compressing::attach("zforms", &mut cache);
    t.write("app.js", 5000);
    settle();
    let now = Instant::now();
    let file = t.add(&mut cache, "app.js", now);
    assert!(file.varies() && state(&file) == "unknown");

    cache.refresh_compressed(b"/app.js", &file, now);
    assert_eq!(state(&file), "waiting");
    let asked = z.request().expect("the compressor was asked");
    assert_eq!(asked.rel, b"app.js");
    assert_eq!(asked.stamp, file.identity.info.stamp());
    cache.refresh_compressed(b"/app.js", &file, now);
    assert!(z.request().is_none(), "asked once while waiting");

    // The compressor's work: a small br form, no zstd, a large gzip form.
    let key = entry::key(b"app.js", &asked.stamp);
    let mut bytes = entry::header(key, [3, 0, 20_000]).to_vec();
    bytes.extend_from_slice(b"BRR");
    bytes.extend(std::iter::repeat_n(b'g', 20_000));
    std::fs::write(z.dir.join(entry::name(key)), &bytes).unwrap();
    cache.refresh_compressed(b"/app.js", &file, now);
    assert_eq!(state(&file), "waiting", "the count has not moved: not looked for");

    z.shm.note_compressed();
    let fds_before = cache.fds;
    cache.refresh_compressed(b"/app.js", &file, now);
    assert_eq!(state(&file), "ready");
    let forms = file.compressed_forms().unwrap();
    assert_eq!(forms.len(), 2);
    assert_eq!((forms[0].coding, forms[0].body.as_deref()), (ContentCoding::Brotli, Some(&b"BRR"[..])));
    assert!(forms[0].fd.is_none());
    assert_eq!((forms[1].coding, forms[1].offset, forms[1].info.size), (ContentCoding::Gzip, 67, 20_000));
    assert!(forms[1].fd.is_some() && forms[1].body.is_none());
    assert_eq!(cache.fds, fds_before + 1, "the entry's descriptor is counted");
    assert_ne!(forms[0].etag, file.identity.etag);
    assert!(forms[0].etag.ends_with("-c1br\"") && forms[1].etag.ends_with("-c1gzip\""));
    assert_eq!(forms[1].info.mtime_sec, file.identity.info.mtime_sec, "Last-Modified is the file's");

    // Dropping the entry gives its descriptors back, the attached one included.
    cache.forget_entries();
    assert_eq!(cache.fds, 0);
}

#[test]
fn a_damaged_entry_is_not_served_and_an_uncompressible_type_is_never_asked_for() {
    use crate::compress::entry;
    let t = Tree::new("zdamaged");
    let mut cache = t.cache(64, 64);
    let z = Compressing::attach("zdamaged", &mut cache);
    t.write("a.css", 3000);
    t.write("p.png", 3000);
    t.write("tiny.css", 100);
    settle();
    let now = Instant::now();
    let file = t.add(&mut cache, "a.css", now);
    let key = entry::key(b"a.css", &file.identity.info.stamp());
    let mut bytes = entry::header(key, [10, 0, 0]).to_vec();
    bytes.extend_from_slice(b"short");
    std::fs::write(z.dir.join(entry::name(key)), &bytes).unwrap();
    cache.refresh_compressed(b"/a.css", &file, now);
    assert_eq!(state(&file), "waiting", "a truncated entry is refused");
    assert!(z.request().is_some());
    for rel in ["p.png", "tiny.css"] {
        let f = t.add(&mut cache, rel, now);
        assert!(f.compressed.is_none() && !f.varies(), "{rel}");
    }
}

#[test]
fn a_sibling_older_than_its_file_is_ignored_and_a_current_one_wins_over_compression() {
    let t = Tree::new("zsiblings");
    let mut cache = t.cache(64, 64);
    let _z = Compressing::attach("zsiblings", &mut cache);
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    t.write("old.css.zst", 50);
    t.write("old.css.gz", 50);
    for sibling in ["old.css.zst", "old.css.gz"] {
        std::fs::File::options().write(true).open(t.dir.join(sibling)).unwrap().set_modified(long_ago).unwrap();
    }
    t.write("old.css", 3000);
    t.write("new.css", 3000);
    t.write("new.css.zst", 40);
    settle();
    let now = Instant::now();
    let old = t.add(&mut cache, "old.css", now);
    assert!(old.siblings.is_empty(), "stale siblings are not served");
    assert!(old.compressed.is_some() && old.varies(), "it is compressed afresh instead");
    let new = t.add(&mut cache, "new.css", now);
    assert_eq!(new.siblings.len(), 1);
    assert_eq!(new.siblings[0].coding, ContentCoding::Zstd);
    assert!(new.compressed.is_none() && new.varies(), "the site's own form has priority");
    // Regenerating the stale sibling makes the entry stale, so it is found.
    t.write("old.css.gz", 60);
    assert!(still_current(t.root.as_fd(), &old, false, false), "the file itself is unchanged");
    assert!(!still_current(t.root.as_fd(), &old, false, true), "its sibling is not");
}
