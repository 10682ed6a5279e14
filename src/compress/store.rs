//! The compressed-file cache directory as the compressor sees it: which entries are there and how many bytes
//! they hold, putting a new entry in atomically, and evicting the least recently used ones so the directory
//! stays within `--compress-cache-size`.
//!
//! Workers only ever read entries, and mark one as used by touching its mtime (`sys::touch_at`), so an
//! entry's mtime is its last use and eviction takes the oldest mtime first. The index kept here is a cache of
//! what the directory holds: mtimes are read again from the directory before choosing what to evict, and the
//! whole directory is read again every [`RESCAN_PUTS`] puts or [`RESCAN_EVERY`], so entries another process
//! sharing the directory wrote (or an operator removed) are counted.
//!
//! An entry is written to a temporary file (`entry::TEMP_PREFIX` + "{pid}-{n}"), fsynced, and renamed to its
//! name, so a worker that can open an entry's name reads a complete entry, even after a crash. Temporary files
//! a dead compressor left behind are removed when the store is opened (and at each rescan).
//!
//! No error here is fatal: a full disk, a permission problem or a removed directory drops the one entry
//! (after removing its temporary file), is logged at warn at most once a minute per kind, and the server goes
//! on serving uncompressed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::compress::entry;
use crate::sys;

/// The whole directory is read again after this many puts…
pub const RESCAN_PUTS: u32 = 64;
/// …or when the last reading is this old, whichever comes first.
pub const RESCAN_EVERY: Duration = Duration::from_secs(60);
/// A temporary file this old is a leftover even if a process with its pid exists (pids are reused: in a
/// container the compressor may get the same pid on every start). Writing one takes well under a second.
const STALE_TEMP: Duration = Duration::from_secs(600);
/// One kind of failure is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Why an entry was not put.
#[derive(Debug)]
pub enum PutError {
    /// The entry alone would exceed a quarter of the cache: it is not written.
    TooBig,
    /// The file system refused (already logged, rate-limited).
    Io(io::Error),
}

enum Check {
    Valid(sys::FileInfo),
    /// Not one of ours for the key, or cut short.
    Damaged,
    Missing,
}

#[derive(Debug, Clone, Copy)]
struct Indexed {
    size: u64,
    /// Last use: (seconds, nanoseconds).
    mtime: (i64, i64),
}

#[derive(Default)]
struct Index {
    entries: HashMap<u128, Indexed>,
    total: u64,
    puts_since_scan: u32,
    scanned_at: Option<Instant>,
}

impl Index {
    fn insert(&mut self, key: u128, e: Indexed) {
        if let Some(old) = self.entries.insert(key, e) {
            self.total -= old.size;
        }
        self.total += e.size;
    }

    fn remove(&mut self, key: u128) {
        if let Some(old) = self.entries.remove(&key) {
            self.total -= old.size;
        }
    }
}

/// The cache directory, shared by the compressor's threads (`&self` everywhere; the index is behind a mutex,
/// and the slow part of a put — writing and fsyncing the temporary file — runs outside it).
pub struct Store {
    dir: OwnedFd,
    limit: u64,
    index: Mutex<Index>,
    temp_counter: AtomicU64,
    pid: u32,
    warnings: Warnings,
}

impl Store {
    /// Takes the cache directory: removes stale temporary files and reads which entries are there. Fails only
    /// when the directory cannot be read at all.
    pub fn open(dir: OwnedFd, limit: u64) -> io::Result<Store> {
        let store = Store {
            dir,
            limit,
            index: Mutex::new(Index::default()),
            temp_counter: AtomicU64::new(0),
            pid: std::process::id(),
            warnings: Warnings::default(),
        };
        let mut index = store.lock();
        *index = store.scan()?;
        drop(index);
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // A panic while holding the lock cannot leave the index inconsistent in a way that matters (it is
        // rebuilt from the directory at the next rescan), so a poisoned lock is used as it is.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes the entries hold, as last counted.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// How many entries the store counts.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether a valid entry for `key` is in the directory: named, with our header for that key and lengths
    /// that add up to its size. A damaged one is removed (so it is written again).
    pub fn has(&self, key: u128) -> bool {
        let name = entry::name(key);
        let checked = match sys::open_beneath(self.dir.as_fd(), name.as_bytes(), true) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Check::Missing,
            // Out of descriptors, say: this says nothing of the entry, which is left alone.
            Err(_) => return false,
            Ok(fd) => {
                let mut head = [0u8; entry::HEADER_LEN];
                match (sys::fstat(fd.as_fd()), sys::pread_from_start(fd.as_fd(), &mut head)) {
                    (Ok(info), Ok(n)) if entry::parse_header(&head[..n], key, info.size).is_some() => {
                        Check::Valid(info)
                    }
                    (Ok(_), Ok(_)) => Check::Damaged,
                    _ => return false,
                }
            }
        };
        let mut index = self.lock();
        match checked {
            Check::Valid(info) => {
                index.insert(key, Indexed { size: info.size, mtime: (info.mtime_sec, info.mtime_nsec) });
                true
            }
            Check::Damaged => {
                let _ = sys::unlink_at(self.dir.as_fd(), name.as_bytes());
                index.remove(key);
                false
            }
            Check::Missing => {
                index.remove(key);
                false
            }
        }
    }

    /// Puts the entry for `key`, made of `parts` (the header, then each kept encoding), into the directory:
    /// written to a temporary file, fsynced, then renamed into place after making room for it.
    pub fn put(&self, key: u128, parts: &[&[u8]]) -> Result<(), PutError> {
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if size > self.limit / 4 {
            return Err(PutError::TooBig);
        }
        let n = self.temp_counter.fetch_add(1, Relaxed);
        let temp = format!("{}{}-{n}", entry::TEMP_PREFIX, self.pid);
        let written = self.write_temp(temp.as_bytes(), parts);
        if let Err(e) = written {
            let _ = sys::unlink_at(self.dir.as_fd(), temp.as_bytes());
            self.warnings.warn("cannot write a compressed file in the cache", &e);
            return Err(PutError::Io(e));
        }
        let name = entry::name(key);
        let mut index = self.lock();
        index.puts_since_scan += 1;
        let due = index.puts_since_scan >= RESCAN_PUTS || index.scanned_at.is_none_or(|t| t.elapsed() >= RESCAN_EVERY);
        if due {
            match self.scan() {
                Ok(fresh) => *index = fresh,
                Err(e) => self.warnings.warn("cannot read the compressed-file cache", &e),
            }
        }
        // An entry this replaces (another process wrote the same version meanwhile) goes with the rename:
        // its bytes are not counted.
        index.remove(key);
        if index.total + size > self.limit {
            self.evict(&mut index, size);
        }
        if index.total + size > self.limit {
            // Entries that could not be removed (their errors are logged): the bound wins over this entry.
            let _ = sys::unlink_at(self.dir.as_fd(), temp.as_bytes());
            return Err(PutError::Io(io::Error::other("the cache is full and nothing in it could be removed")));
        }
        if let Err(e) = sys::rename_at(self.dir.as_fd(), temp.as_bytes(), name.as_bytes()) {
            let _ = sys::unlink_at(self.dir.as_fd(), temp.as_bytes());
            self.warnings.warn("cannot rename a compressed file into the cache", &e);
            return Err(PutError::Io(e));
        }
        // A new entry counts as used now (its mtime is the write's).
        index.insert(key, Indexed { size, mtime: now() });
        Ok(())
    }

    fn write_temp(&self, temp: &[u8], parts: &[&[u8]]) -> io::Result<()> {
        let fd = sys::create_exclusive(self.dir.as_fd(), temp)?;
        let mut file = File::from(fd);
        for part in parts {
            file.write_all(part)?;
        }
        sys::fsync(file.as_fd())
    }

    /// Removes the least recently used entries until `incoming` more bytes fit with a tenth of the cache to
    /// spare (so the next puts do not each evict one entry). Last uses are read again from the directory
    /// first: workers touch the entries they serve.
    fn evict(&self, index: &mut Index, incoming: u64) {
        let target = (self.limit / 10 * 9).saturating_sub(incoming);
        let mut by_age: Vec<(u128, Indexed)> = Vec::with_capacity(index.entries.len());
        let keys: Vec<u128> = index.entries.keys().copied().collect();
        for key in keys {
            match sys::lstat_at(self.dir.as_fd(), entry::name(key).as_bytes()) {
                Ok(info) => {
                    let e = Indexed { size: info.size, mtime: (info.mtime_sec, info.mtime_nsec) };
                    index.insert(key, e);
                    by_age.push((key, e));
                }
                // Gone (another process evicted it, or an operator): nothing to count.
                Err(_) => index.remove(key),
            }
        }
        by_age.sort_by_key(|(key, e)| (e.mtime, *key));
        for (key, _) in by_age {
            if index.total <= target {
                break;
            }
            match sys::unlink_at(self.dir.as_fd(), entry::name(key).as_bytes()) {
                Ok(()) => index.remove(key),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => index.remove(key),
                Err(e) => self.warnings.warn("cannot remove a compressed file from the cache", &e),
            }
        }
    }

    /// Reads the directory: every entry's size and last use, and removes temporary files whose writer is gone.
    fn scan(&self) -> io::Result<Index> {
        let mut index = Index { scanned_at: Some(Instant::now()), ..Index::default() };
        let mut reader = sys::DirReader::open_beneath(self.dir.as_fd(), b"", true)?;
        let now = SystemTime::now();
        while let Some(e) = reader.next_entry()? {
            if let Some(key) = entry::key_of_name(&e.name) {
                if let Ok((sys::EntryType::Regular, info)) = reader.lstat_entry(&e.name) {
                    index.insert(key, Indexed { size: info.size, mtime: (info.mtime_sec, info.mtime_nsec) });
                }
            } else if let Some(rest) = e.name.strip_prefix(entry::TEMP_PREFIX.as_bytes()) {
                let Ok((_, info)) = reader.lstat_entry(&e.name) else { continue };
                if self.temp_is_stale(rest, &info, now) {
                    let _ = sys::unlink_at(self.dir.as_fd(), &e.name);
                }
            }
        }
        Ok(index)
    }

    /// A temporary file "{pid}-{n}" is stale when it is older than [`STALE_TEMP`], when no process `pid`
    /// exists, or when it carries our pid but no put of ours has started yet (a previous compressor with the
    /// same pid left it: in a container the pid is often the same on every start).
    fn temp_is_stale(&self, rest: &[u8], info: &sys::FileInfo, now: SystemTime) -> bool {
        let modified =
            UNIX_EPOCH + Duration::new(info.mtime_sec.max(0) as u64, info.mtime_nsec.clamp(0, 999_999_999) as u32);
        if now.duration_since(modified).is_ok_and(|age| age >= STALE_TEMP) {
            return true;
        }
        let pid = rest.split(|&b| b == b'-').next().and_then(|p| std::str::from_utf8(p).ok()?.parse::<i32>().ok());
        match pid {
            Some(pid) if pid == self.pid as i32 => self.temp_counter.load(Relaxed) == 0,
            Some(pid) => !sys::process_exists(pid),
            None => false,
        }
    }
}

fn now() -> (i64, i64) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i64)
}

/// Warnings at most once a minute per (what, errno): a full disk while hundreds of files wait must not
/// write hundreds of lines.
#[derive(Default)]
pub struct Warnings {
    last: Mutex<HashMap<(&'static str, Option<i32>), Instant>>,
}

impl Warnings {
    pub fn warn(&self, what: &'static str, e: &io::Error) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let due = last.get(&(what, e.raw_os_error())).is_none_or(|t| now.duration_since(*t) >= WARN_EVERY);
        if due {
            last.insert((what, e.raw_os_error()), now);
            log::warn!("{what}: {e} (the file is served uncompressed; said at most once a minute)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("staticd-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn open(dir: &Path, limit: u64) -> Store {
        Store::open(sys::open_dir(dir).unwrap(), limit).unwrap()
    }

    /// An entry of `size` bytes in all for `key`: a header and one body.
    fn put(store: &Store, key: u128, size: usize) -> Result<(), PutError> {
        let body = vec![b'x'; size - entry::HEADER_LEN];
        let head = entry::header(key, [body.len() as u64, 0, 0]);
        store.put(key, &[&head, &body])
    }

    fn age(dir: &Path, key: u128, secs_ago: u64) {
        let at = SystemTime::now() - Duration::from_secs(secs_ago);
        File::options().write(true).open(dir.join(entry::name(key))).unwrap().set_modified(at).unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        n.sort();
        n
    }

    #[test]
    fn a_put_entry_is_complete_under_its_name_and_valid() {
        let dir = scratch("put");
        let store = open(&dir, 1 << 20);
        let key = 7u128;
        assert!(!store.has(key));
        put(&store, key, 1000).unwrap();
        assert_eq!(names(&dir), vec![entry::name(key)], "no temporary file left");
        let bytes = std::fs::read(dir.join(entry::name(key))).unwrap();
        assert_eq!(bytes.len(), 1000);
        assert_eq!(entry::parse_header(&bytes, key, 1000), Some([Some((64, 936)), None, None]));
        assert!(store.has(key));
        assert_eq!((store.total(), store.len()), (1000, 1));
        // A damaged entry is not "had", and is removed.
        std::fs::write(dir.join(entry::name(key)), b"short").unwrap();
        assert!(!store.has(key));
        assert!(names(&dir).is_empty());
        assert_eq!(store.total(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_name_appears_only_when_the_entry_is_whole() {
        // The writer's steps, observed from outside between them: while the bytes are being written and synced
        // the entry's name does not exist.
        let dir = scratch("atomic");
        let store = open(&dir, 1 << 20);
        let temp = format!("{}{}-99", entry::TEMP_PREFIX, std::process::id());
        store.write_temp(temp.as_bytes(), &[b"partial"]).unwrap();
        assert_eq!(names(&dir), vec![temp.clone()]);
        assert!(!store.has(5));
        std::fs::remove_file(dir.join(&temp)).unwrap();
        put(&store, 5, 200).unwrap();
        assert!(names(&dir).iter().all(|n| !n.starts_with(entry::TEMP_PREFIX)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_bound_holds_and_the_least_recently_used_go_first() {
        let dir = scratch("bound");
        let limit = 100_000u64;
        let store = open(&dir, limit);
        for key in 1..=9u128 {
            put(&store, key, 10_000).unwrap();
            // Key 1 the oldest use, key 9 the newest…
            age(&dir, key, 1000 - key as u64);
        }
        // …but key 1 was just served (a worker touched it).
        sys::touch_at(sys::open_dir(&dir).unwrap().as_fd(), entry::name(1).as_bytes()).unwrap();
        assert_eq!(store.total(), 90_000);
        put(&store, 10, 10_000).unwrap();
        assert_eq!(store.total(), 100_000, "exactly full is within the bound");
        put(&store, 11, 10_000).unwrap();
        assert!(store.total() <= limit * 9 / 10, "evicted to 90%: {}", store.total());
        let left = names(&dir);
        assert!(left.contains(&entry::name(1)), "touched, so kept");
        assert!(!left.contains(&entry::name(2)) && !left.contains(&entry::name(3)), "oldest out first");
        assert!(left.contains(&entry::name(11)) && left.contains(&entry::name(9)));
        let on_disk: u64 = left.iter().map(|n| std::fs::metadata(dir.join(n)).unwrap().len()).sum();
        assert_eq!(on_disk, store.total());
        assert!(matches!(put(&store, 12, 25_001), Err(PutError::TooBig)), "over a quarter of the cache");
        assert!(!dir.join(entry::name(12)).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_restart_sees_the_entries_and_removes_stale_temporary_files() {
        let dir = scratch("restart");
        let store = open(&dir, 1 << 20);
        put(&store, 1, 500).unwrap();
        put(&store, 2, 700).unwrap();
        drop(store);
        // A dead writer's file, an old file of a live process, and a fresh one of a live process (kept).
        let dead = format!("{}{}-0", entry::TEMP_PREFIX, i32::MAX - 1);
        std::fs::write(dir.join(&dead), b"x").unwrap();
        let parent = std::os::unix::process::parent_id();
        let old = format!("{}{parent}-1", entry::TEMP_PREFIX);
        std::fs::write(dir.join(&old), b"x").unwrap();
        File::options()
            .write(true)
            .open(dir.join(&old))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        let live = format!("{}{parent}-2", entry::TEMP_PREFIX);
        std::fs::write(dir.join(&live), b"x").unwrap();
        let mine = format!("{}{}-3", entry::TEMP_PREFIX, std::process::id());
        std::fs::write(dir.join(&mine), b"x").unwrap();
        std::fs::write(dir.join("unrelated.txt"), b"not ours").unwrap();

        let store = open(&dir, 1 << 20);
        assert_eq!((store.len(), store.total()), (2, 1200));
        assert!(store.has(1) && store.has(2));
        let mut want = vec![entry::name(1), entry::name(2), live, "unrelated.txt".to_string()];
        want.sort();
        assert_eq!(names(&dir), want);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_removed_directory_drops_the_entry_without_panicking() {
        let dir = scratch("removed");
        let store = open(&dir, 1 << 20);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(put(&store, 1, 500), Err(PutError::Io(_))));
        assert!(matches!(put(&store, 2, 500), Err(PutError::Io(_))));
        assert!(!store.has(1));
    }
}
