//! Which directories the cache watches, and which cached answers depend on each watch.
//!
//! Every watched directory is a record: its root-relative path, its inotify watch descriptor, the keys of
//! the cached files and remembered answers that rely on it, and the (device, inode) its path named when the
//! watch was added. An event drops the answers of the one directory it names; a directory deleted, moved or
//! unwatched (IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF) is forgotten with its answers; a subdirectory
//! created, deleted or renamed inside a watched one forgets every record beneath it (their watches follow
//! inodes that may no longer be at those paths). The number of records is bounded by the watch budget
//! (`--max-watches`, the root's included); the root's is never given back (the rule files live there) and is
//! added even when the budget is spent.
//!
//! A record whose last answer is evicted gives its watch back at once (`inotify_rm_watch`); one emptied by
//! an event, or watched for a lookup that cached nothing (a listing, a 500), stays until the budget needs
//! its place: it is about to be used again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sys::{self, FileKind, WatchEvent, IN_ENTRY_SET, IN_IGNORED, IN_ISDIR, IN_Q_OVERFLOW, IN_SELF_GONE};

/// A record's path is checked against the inode it was watched by when it is used this long after the last
/// check: what catches an ancestor directory renamed or replaced, which no watch of ours may have seen.
pub const VERIFY_AFTER: Duration = Duration::from_secs(1);

/// A watched directory, as the cache's entries name it. The generation makes an id stale once its record
/// is gone, even if the slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirId {
    index: u32,
    gen: u32,
}

/// What a watched directory holds, read once (getdents) and as fresh as its watch: an event in the directory
/// drops it with the directory's answers.
enum Names {
    Unread,
    /// More than `MAX_NAMES` entries (or unreadable): names are probed with openat2 as without a watch.
    Unknown,
    Read(HashSet<Box<[u8]>>),
}

/// Directories with more entries than this are not read whole: the work of one miss stays bounded.
pub const MAX_NAMES: usize = 4096;

struct Dir {
    path: Box<[u8]>,
    names: Names,
    wd: i32,
    gen: u32,
    files: HashSet<Box<[u8]>>,
    known: HashSet<Box<[u8]>>,
    pinned: bool,
    /// Already in the idle queue (at most once).
    queued: bool,
    ident: (u64, u64),
    verified_at: Instant,
}

impl Dir {
    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.known.is_empty()
    }
}

/// Keys of cached answers whose directory records went away: the cache forgets them.
#[derive(Default)]
pub struct Dropped {
    pub files: Vec<Box<[u8]>>,
    pub known: Vec<Box<[u8]>>,
}

/// What one event meant beyond dropped answers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// It was about the root directory (the rule files may have changed), or the queue overflowed.
    pub root: bool,
}

pub struct Watches {
    inotify: Option<OwnedFd>,
    /// What makes a root-relative directory a path inotify understands: "/" when chrooted, else the root.
    prefix: Vec<u8>,
    slots: Vec<Option<Dir>>,
    free: Vec<u32>,
    next_gen: u32,
    by_path: HashMap<Box<[u8]>, u32>,
    by_wd: HashMap<i32, Vec<u32>>,
    idle: VecDeque<DirId>,
    budget: usize,
    /// Records held: what the budget bounds.
    counted: usize,
    refusal_logged: bool,
}

impl Watches {
    pub fn new(inotify: Option<OwnedFd>, prefix: Vec<u8>, budget: usize) -> Watches {
        Watches {
            inotify,
            prefix,
            slots: Vec::new(),
            free: Vec::new(),
            next_gen: 1,
            by_path: HashMap::new(),
            by_wd: HashMap::new(),
            idle: VecDeque::new(),
            budget,
            counted: 0,
            refusal_logged: false,
        }
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(|fd| fd.as_fd())
    }

    /// Watch records held, the root's included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    fn dir(&self, id: DirId) -> Option<&Dir> {
        self.slots.get(id.index as usize)?.as_ref().filter(|d| d.gen == id.gen)
    }

    fn dir_mut(&mut self, id: DirId) -> Option<&mut Dir> {
        self.slots.get_mut(id.index as usize)?.as_mut().filter(|d| d.gen == id.gen)
    }

    pub fn is_live(&self, id: DirId) -> bool {
        self.dir(id).is_some()
    }

    /// The watch of the root-relative directory `dir`, added if the budget allows (never for a path that is
    /// not a directory now). A record not checked for `VERIFY_AFTER` is checked first: if its path now names
    /// another inode it is forgotten (its answers go to `dropped`) and watched afresh.
    pub fn watch(
        &mut self,
        root: BorrowedFd<'_>,
        dir: &[u8],
        pinned: bool,
        now: Instant,
        dropped: &mut Dropped,
    ) -> Option<DirId> {
        if let Some(&index) = self.by_path.get(dir) {
            let d = self.slots[index as usize].as_mut()?;
            let id = DirId { index, gen: d.gen };
            if now.saturating_duration_since(d.verified_at) < VERIFY_AFTER {
                return Some(id);
            }
            match sys::stat_at(root, dir) {
                Ok(info) if info.kind == FileKind::Directory && (info.dev, info.inode) == d.ident => {
                    d.verified_at = now;
                    return Some(id);
                }
                _ => self.drop_dir(index, true, dropped),
            }
        }
        self.inotify.as_ref()?;
        if !pinned && self.counted >= self.budget && !self.reclaim_idle(dropped) {
            return None;
        }
        // Stat first, then watch: if the directory is replaced in between, the record names the old inode
        // while the watch is on the new one, and the next check forgets it (the other order could trust a
        // watch on the wrong inode for good).
        let info = sys::stat_at(root, dir).ok().filter(|i| i.kind == FileKind::Directory)?;
        let mut path = self.prefix.clone();
        path.extend_from_slice(dir);
        let wd = match sys::inotify_watch_dir(self.inotify.as_ref()?.as_fd(), &path) {
            Ok(wd) => wd,
            Err(e) => {
                if e.raw_os_error() == Some(libc::ENOSPC) && !self.refusal_logged {
                    self.refusal_logged = true;
                    log::warn!(
                        "inotify refused a watch ({e}): files in unwatched directories are checked on every request"
                    );
                } else {
                    log::debug!("inotify watch on /{}: {e}", String::from_utf8_lossy(dir));
                }
                return None;
            }
        };
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let record = Dir {
            path: dir.into(),
            names: Names::Unread,
            wd,
            gen,
            files: HashSet::new(),
            known: HashSet::new(),
            pinned,
            queued: false,
            ident: (info.dev, info.inode),
            verified_at: now,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(record);
                i
            }
            None => {
                self.slots.push(Some(record));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_path.insert(dir.into(), index);
        self.by_wd.entry(wd).or_default().push(index);
        self.counted += 1;
        let id = DirId { index, gen };
        self.queue_idle(id);
        Some(id)
    }

    fn queue_idle(&mut self, id: DirId) {
        if let Some(d) = self.dir_mut(id) {
            if !d.queued && !d.pinned {
                d.queued = true;
                self.idle.push_back(id);
            }
        }
    }

    /// Gives back the watch of the longest-idle record that still has no answers. False when none has.
    fn reclaim_idle(&mut self, dropped: &mut Dropped) -> bool {
        while let Some(id) = self.idle.pop_front() {
            let Some(d) = self.dir_mut(id) else { continue };
            d.queued = false;
            if d.is_empty() && !d.pinned {
                self.drop_dir(id.index, true, dropped);
                return true;
            }
        }
        false
    }

    /// Whether the watched directory `dir` is known to hold no entry `name` (its names are read on first
    /// use). False when it is not watched or too large to read: then only opening the name can tell.
    pub fn lacks(&mut self, root: BorrowedFd<'_>, dir: &[u8], name: &[u8], no_symlinks: bool) -> bool {
        let Some(&index) = self.by_path.get(dir) else { return false };
        let Some(d) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else { return false };
        if let Names::Unread = d.names {
            d.names = read_names(root, dir, no_symlinks);
        }
        match &d.names {
            Names::Read(set) => !set.contains(name),
            Names::Unread | Names::Unknown => false,
        }
    }

    pub fn add_file(&mut self, id: DirId, key: &[u8]) {
        if let Some(d) = self.dir_mut(id) {
            d.files.insert(key.into());
        }
    }

    pub fn add_known(&mut self, id: DirId, key: &[u8]) {
        if let Some(d) = self.dir_mut(id) {
            d.known.insert(key.into());
        }
    }

    /// An answer of `id` left the cache: evicted (then an emptied record gives its watch back now) or
    /// dropped for another reason (then it waits in the idle queue).
    pub fn remove(&mut self, id: DirId, key: &[u8], evicted: bool) {
        let Some(d) = self.dir_mut(id) else { return };
        d.files.remove(key);
        d.known.remove(key);
        if !d.is_empty() || d.pinned {
            return;
        }
        if evicted {
            let mut none = Dropped::default();
            self.drop_dir(id.index, true, &mut none);
        } else {
            self.queue_idle(id);
        }
    }

    /// Forgets the record (and with `unwatch`, removes its watch unless another record shares it).
    fn drop_dir(&mut self, index: u32, unwatch: bool, dropped: &mut Dropped) {
        let Some(d) = self.slots.get_mut(index as usize).and_then(Option::take) else { return };
        self.free.push(index);
        self.by_path.remove(&d.path);
        self.counted -= 1;
        if let Some(users) = self.by_wd.get_mut(&d.wd) {
            users.retain(|&i| i != index);
            if users.is_empty() {
                self.by_wd.remove(&d.wd);
                if unwatch {
                    if let Some(fd) = self.inotify.as_ref() {
                        // Fails only for a watch the kernel already removed: nothing to do then.
                        let _ = sys::inotify_unwatch(fd.as_fd(), d.wd);
                    }
                }
            }
        }
        dropped.files.extend(d.files);
        dropped.known.extend(d.known);
    }

    /// This process changed an entry of the directory `dir` itself (a write): its answers and its names go
    /// as an event in it would make them go, before the event is read.
    pub fn changed_dir(&mut self, dir: &[u8], dropped: &mut Dropped) {
        if let Some(&index) = self.by_path.get(dir) {
            self.empty_dir(index, dropped);
        }
    }

    /// Drops the answers of a record, keeping its watch.
    fn empty_dir(&mut self, index: u32, dropped: &mut Dropped) {
        let Some(d) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else { return };
        d.names = Names::Unread;
        dropped.files.extend(d.files.drain());
        dropped.known.extend(d.known.drain());
        let id = DirId { index, gen: d.gen };
        self.queue_idle(id);
    }

    /// Applies one event: the answers it may have changed go to `dropped`.
    pub fn apply(&mut self, event: &WatchEvent, dropped: &mut Dropped) -> Applied {
        if event.mask & IN_Q_OVERFLOW != 0 {
            self.forget_all(false, dropped);
            return Applied { root: true };
        }
        let Some(users) = self.by_wd.get(&event.wd).cloned() else { return Applied::default() };
        let mut applied = Applied::default();
        for index in users {
            let Some(d) = self.slots.get(index as usize).and_then(Option::as_ref) else { continue };
            // Any event in the root may be about the rule files: one may be a symlink to another name there.
            // (The events of an upload's temporary file, one per piece written, never get this far.)
            applied.root |= d.path.is_empty();
            let child = (event.mask & IN_ISDIR != 0 && !event.name.is_empty()).then(|| {
                let mut c = d.path.to_vec();
                if !c.is_empty() {
                    c.push(b'/');
                }
                c.extend_from_slice(&event.name);
                c
            });
            if event.mask & IN_IGNORED != 0 {
                self.drop_dir(index, false, dropped);
            } else if event.mask & IN_SELF_GONE != 0 {
                self.drop_dir(index, true, dropped);
            } else {
                self.empty_dir(index, dropped);
            }
            if let Some(child) = child {
                self.subtree(&child, event.mask & IN_ENTRY_SET != 0, dropped);
            }
        }
        applied
    }

    /// A subdirectory changed: every record at or beneath `top` loses its answers, and with `forget` (it
    /// appeared, went or was renamed) its record and watch too.
    fn subtree(&mut self, top: &[u8], forget: bool, dropped: &mut Dropped) {
        let beneath: Vec<u32> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(top) && (p.len() == top.len() || p[top.len()] == b'/'))
            .map(|(_, &i)| i)
            .collect();
        for index in beneath {
            if forget {
                self.drop_dir(index, true, dropped);
            } else {
                self.empty_dir(index, dropped);
            }
        }
    }

    /// Forgets one record and its watch.
    pub fn forget(&mut self, id: DirId, dropped: &mut Dropped) {
        if self.is_live(id) {
            self.drop_dir(id.index, true, dropped);
        }
    }

    /// Forgets every record and watch (the event queue overflowed: anything may have changed, a directory
    /// may have moved; then the caller watches the root again), or every one but the root's.
    pub fn forget_all(&mut self, keep_pinned: bool, dropped: &mut Dropped) {
        for index in 0..self.slots.len() as u32 {
            let pinned = self.slots[index as usize].as_ref().is_some_and(|d| d.pinned);
            if !(keep_pinned && pinned) {
                self.drop_dir(index, true, dropped);
            }
        }
        self.idle.clear();
    }
}

/// Reads the names of `dir` beneath the root (the caller watches it already, so a name added after the
/// read raises an event that drops the set).
fn read_names(root: BorrowedFd<'_>, dir: &[u8], no_symlinks: bool) -> Names {
    let Ok(mut reader) = sys::DirReader::open_beneath(root, dir, no_symlinks) else { return Names::Unknown };
    let mut names = HashSet::new();
    loop {
        match reader.next_entry() {
            Ok(Some(entry)) => {
                if names.len() >= MAX_NAMES {
                    return Names::Unknown;
                }
                names.insert(entry.name.into_boxed_slice());
            }
            Ok(None) => return Names::Read(names),
            Err(_) => return Names::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        dir: std::path::PathBuf,
        root: OwnedFd,
    }

    impl Tree {
        fn new(tag: &str, dirs: &[&str]) -> Tree {
            let dir = std::env::temp_dir().join(format!("staticd-watches-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for d in dirs {
                std::fs::create_dir_all(dir.join(d)).unwrap();
            }
            let root = sys::open_dir(&dir).unwrap();
            Tree { dir, root }
        }

        fn watches(&self, budget: usize) -> Watches {
            let mut prefix = self.dir.as_os_str().as_encoded_bytes().to_vec();
            prefix.push(b'/');
            Watches::new(Some(sys::inotify().unwrap()), prefix, budget)
        }

        fn events(&self, w: &mut Watches) -> (Dropped, Applied) {
            let mut buf = vec![0u8; 4096];
            let mut events = Vec::new();
            let fd = w.fd().unwrap().try_clone_to_owned().unwrap();
            sys::inotify_read(fd.as_fd(), &mut buf, &mut events).unwrap();
            let mut dropped = Dropped::default();
            let mut applied = Applied::default();
            for e in &events {
                applied.root |= w.apply(e, &mut dropped).root;
            }
            (dropped, applied)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn budget_reclaims_idle_watches_and_never_watches_what_is_missing() {
        let t = Tree::new("budget", &["a", "b", "c"]);
        let mut w = t.watches(3);
        let now = Instant::now();
        let mut dropped = Dropped::default();
        let root = w.watch(t.root.as_fd(), b"", true, now, &mut dropped).unwrap();
        let a = w.watch(t.root.as_fd(), b"a", false, now, &mut dropped).unwrap();
        w.add_file(a, b"/a/x");
        let b = w.watch(t.root.as_fd(), b"b", false, now, &mut dropped).unwrap();
        // b has no answers: c takes its place; a keeps its watch (it has one), and so does the root.
        let c = w.watch(t.root.as_fd(), b"c", false, now, &mut dropped).unwrap();
        assert!(!w.is_live(b) && w.is_live(a) && w.is_live(c) && w.is_live(root));
        assert_eq!(w.len(), 3);
        w.add_file(c, b"/c/y");
        assert!(w.watch(t.root.as_fd(), b"b", false, now, &mut dropped).is_none(), "budget spent");
        assert!(w.watch(t.root.as_fd(), b"nope/deeper", false, now, &mut dropped).is_none());
        // The last answer of a evicted: its watch goes at once.
        w.remove(a, b"/a/x", true);
        assert!(!w.is_live(a));
        assert!(w.watch(t.root.as_fd(), b"b", false, now, &mut dropped).is_some());
        assert!(dropped.files.is_empty());
    }

    #[test]
    fn an_event_drops_only_its_directory_and_a_deleted_directory_is_forgotten() {
        let t = Tree::new("events", &["a/sub", "b"]);
        let mut w = t.watches(10);
        let now = Instant::now();
        let mut dropped = Dropped::default();
        let root = w.watch(t.root.as_fd(), b"", true, now, &mut dropped).unwrap();
        let a = w.watch(t.root.as_fd(), b"a", false, now, &mut dropped).unwrap();
        let sub = w.watch(t.root.as_fd(), b"a/sub", false, now, &mut dropped).unwrap();
        let b = w.watch(t.root.as_fd(), b"b", false, now, &mut dropped).unwrap();
        w.add_file(a, b"/a/1");
        w.add_known(a, b"/a/missing");
        w.add_file(sub, b"/a/sub/2");
        w.add_file(b, b"/b/3");
        std::fs::write(t.dir.join("a/new"), b"x").unwrap();
        let (dropped, applied) = t.events(&mut w);
        let mut keys: Vec<_> = dropped.files.iter().chain(&dropped.known).map(|k| k.to_vec()).collect();
        keys.sort();
        assert_eq!(keys, vec![b"/a/1".to_vec(), b"/a/missing".to_vec()]);
        assert!(!applied.root);
        assert!(w.is_live(a), "the watch stays");
        // Renaming a/sub away: its record goes (the root and a learn of it), b is untouched.
        std::fs::rename(t.dir.join("a/sub"), t.dir.join("moved")).unwrap();
        let (dropped, _) = t.events(&mut w);
        assert_eq!(dropped.files, vec![Box::from(&b"/a/sub/2"[..])]);
        assert!(!w.is_live(sub) && w.is_live(b) && w.is_live(root));
        // b deleted: IN_IGNORED forgets it; the root hears of it.
        std::fs::remove_dir_all(t.dir.join("b")).unwrap();
        let (dropped, applied) = t.events(&mut w);
        assert_eq!(dropped.files, vec![Box::from(&b"/b/3"[..])]);
        assert!(!w.is_live(b) && applied.root);
    }

    #[test]
    fn a_watched_directory_answers_which_names_it_lacks_until_it_changes() {
        let t = Tree::new("names", &["d", "big"]);
        std::fs::write(t.dir.join("d/a.html"), b"x").unwrap();
        std::fs::write(t.dir.join("d/a.html.gz"), b"x").unwrap();
        for i in 0..=MAX_NAMES {
            std::fs::write(t.dir.join(format!("big/{i}")), b"").unwrap();
        }
        let mut w = t.watches(10);
        let now = Instant::now();
        let mut dropped = Dropped::default();
        let root = t.root.as_fd();
        assert!(!w.lacks(root, b"d", b"a.html", false), "not watched: nothing is known");
        let d = w.watch(root, b"d", false, now, &mut dropped).unwrap();
        w.add_file(d, b"/d/a.html");
        assert!(!w.lacks(root, b"d", b"a.html", false));
        assert!(!w.lacks(root, b"d", b"a.html.gz", false));
        assert!(w.lacks(root, b"d", b"a.html.br", false));
        assert!(w.lacks(root, b"d", b"missing", false));
        std::fs::write(t.dir.join("d/a.html.br"), b"x").unwrap();
        let (dropped, _) = t.events(&mut w);
        assert_eq!(dropped.files.len(), 1);
        assert!(!w.lacks(root, b"d", b"a.html.br", false), "read again after the event");
        w.watch(root, b"big", false, now, &mut Dropped::default()).unwrap();
        assert!(!w.lacks(root, b"big", b"missing", false), "a huge directory is probed, not read");
    }

    #[test]
    fn a_replaced_directory_is_watched_afresh_after_the_check_interval() {
        let t = Tree::new("verify", &["d"]);
        let mut w = t.watches(10);
        let now = Instant::now();
        let mut dropped = Dropped::default();
        let d = w.watch(t.root.as_fd(), b"d", false, now, &mut dropped).unwrap();
        w.add_file(d, b"/d/f");
        // Replaced behind an unwatched parent (the root is not watched here): no event reaches d's record.
        std::fs::rename(t.dir.join("d"), t.dir.join("old")).unwrap();
        std::fs::create_dir(t.dir.join("d")).unwrap();
        assert_eq!(w.watch(t.root.as_fd(), b"d", false, now, &mut dropped), Some(d), "trusted within the interval");
        let later = now + VERIFY_AFTER;
        let fresh = w.watch(t.root.as_fd(), b"d", false, later, &mut dropped).unwrap();
        assert_ne!(fresh, d);
        assert_eq!(dropped.files, vec![Box::from(&b"/d/f"[..])]);
    }
}
