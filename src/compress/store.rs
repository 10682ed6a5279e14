//! The compressed-file cache directory as the compressor sees it: which entries are there and how much disk
//! space they take (each entry's size rounded up to a 4 KiB block: [`on_disk`]), putting a new entry in
//! atomically, and evicting the least recently used ones so the directory stays within
//! `--compress-cache-size`, which so bounds the disk space the entries take.
//!
//! Workers only ever read entries, and mark one as used by touching its mtime (`sys::touch_at`), so an
//! entry's mtime is its last use and eviction takes the oldest mtime first. The index kept here is a cache of
//! what the directory holds: mtimes are read again from the directory before choosing what to evict, and the
//! whole directory is read again by a put once [`RESCAN_PUTS`] puts were made or [`RESCAN_EVERY`] passed
//! since the last reading (only ever inside a put: an idle compressor reads nothing), so entries another
//! process sharing the directory wrote (or an operator removed) are counted.
//!
//! An entry is written to a temporary file (`entry::TEMP_PREFIX` + "{pid}-{16 random hex digits}": random so
//! that compressors in different pid namespaces sharing one cache volume never meet), fsynced, and renamed to
//! its name, so a worker that can open an entry's name reads a complete entry, even after a crash. Only a
//! temporary file this process created is ever removed by the put that made it. Temporary files a dead
//! compressor (or start-up probe) left behind are removed when the store is opened (and at each rescan).
//!
//! No error here is fatal: a permission problem or a removed directory drops the one entry (after removing its
//! temporary file), is logged at warn at most once a minute per kind, and the server goes on serving
//! uncompressed. A full or read-only file system ([`PutError::Full`]) drops the entry too but is left to the
//! caller to log: the compressor then stops compressing for a while instead of finding out file by file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::compress::entry;
use crate::sys;

/// A put reads the whole directory again when this many puts were made since the last reading…
pub const RESCAN_PUTS: u32 = 64;
/// …or when the last reading is this old, whichever comes first (checked only by a put).
pub const RESCAN_EVERY: Duration = Duration::from_secs(60);
/// A temporary file this old is a leftover even if a process with its pid exists (pids are reused: in a
/// container the compressor may get the same pid on every start). Writing one takes well under a second.
const STALE_TEMP: Duration = Duration::from_secs(600);
/// What an entry is counted as: its size rounded up to a whole number of these, the block size of almost
/// every file system, so that `--compress-cache-size` bounds the disk space the entries take. A 64-byte
/// "does not compress" entry takes a whole 4 KiB block.
pub const BLOCK: u64 = 4096;
/// One kind of failure is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Why an entry was not put.
#[derive(Debug)]
pub enum PutError {
    /// The entry alone would exceed a quarter of the cache: it is not written.
    TooBig,
    /// The file system refused (already logged, rate-limited).
    Io(io::Error),
    /// The file system is full, over quota or read-only (ENOSPC, EDQUOT, EROFS): every other entry would be
    /// refused too. Not logged here: the caller stops putting for a while and says so once.
    Full(io::Error),
}

impl PutError {
    /// `e`, from writing or renaming an entry, logged (rate-limited) unless it is one that [`PutError::Full`]
    /// stands for.
    fn of(e: io::Error, what: &'static str, warnings: &Warnings) -> PutError {
        match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS) => PutError::Full(e),
            _ => {
                warnings.warn(what, &e);
                PutError::Io(e)
            }
        }
    }
}

enum Check {
    Valid(sys::FileInfo),
    /// Not one of ours for the key, or cut short.
    Damaged,
    Missing,
}

/// The disk space an entry of `size` bytes is counted as: `size` rounded up to [`BLOCK`].
pub fn on_disk(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

#[derive(Debug, Clone, Copy)]
struct Indexed {
    /// The disk space it takes ([`on_disk`] of its size).
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
    /// Puts started (no longer part of any name): until the first, a temporary file carrying our pid is a
    /// previous compressor's with the same pid.
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

    /// The disk space the entries take (each rounded up to [`BLOCK`]), as last counted.
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
                index.insert(key, Indexed { size: on_disk(info.size), mtime: (info.mtime_sec, info.mtime_nsec) });
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
        let size = on_disk(parts.iter().map(|p| p.len() as u64).sum());
        if size > self.limit / 4 {
            return Err(PutError::TooBig);
        }
        self.temp_counter.fetch_add(1, Relaxed);
        let temp = match self.temp_name() {
            Ok(temp) => temp,
            Err(e) => {
                self.warnings.warn("cannot name a temporary file in the cache", &e);
                return Err(PutError::Io(e));
            }
        };
        if let Err(e) = self.write_temp(temp.as_bytes(), parts) {
            return Err(PutError::of(e, "cannot write a compressed file in the cache", &self.warnings));
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
            return Err(PutError::of(e, "cannot rename a compressed file into the cache", &self.warnings));
        }
        // A new entry counts as used now (its mtime is the write's).
        index.insert(key, Indexed { size, mtime: now() });
        Ok(())
    }

    /// A new temporary name, `entry::TEMP_PREFIX` + "{pid}-{16 random hex digits}": the pid says whose it is
    /// (for the stale rule in [`Store::temp_is_stale`]), the random part keeps compressors in different pid
    /// namespaces that share one cache volume (containers, each compressor often pid 2 or so) from meeting.
    fn temp_name(&self) -> io::Result<String> {
        Ok(format!("{}{}-{}", entry::TEMP_PREFIX, self.pid, sys::random_hex(8)?))
    }

    /// Creates `temp` (exclusively) and writes and fsyncs `parts` into it. On failure after creating it the
    /// file is removed; a name that was taken (EEXIST) is someone else's file and is left alone.
    fn write_temp(&self, temp: &[u8], parts: &[&[u8]]) -> io::Result<()> {
        let fd = sys::create_exclusive(self.dir.as_fd(), temp)?;
        let mut file = File::from(fd);
        let written = parts.iter().try_for_each(|part| file.write_all(part)).and_then(|()| sys::fsync(file.as_fd()));
        if written.is_err() {
            drop(file);
            let _ = sys::unlink_at(self.dir.as_fd(), temp);
        }
        written
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
                    let e = Indexed { size: on_disk(info.size), mtime: (info.mtime_sec, info.mtime_nsec) };
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
                    index.insert(key, Indexed { size: on_disk(info.size), mtime: (info.mtime_sec, info.mtime_nsec) });
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

    /// A temporary file "{pid}-{anything}" (ours: "{pid}-{random hex}"; the start-up probe's: "{pid}-probe")
    /// is stale when it is older than [`STALE_TEMP`], when no process `pid`
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
        assert_eq!((store.total(), store.len()), (4096, 1), "a whole block");
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
        let temp = store.temp_name().unwrap();
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
        // Entries of 10,000 bytes take three blocks, 12,288 bytes: ten fill the cache.
        let limit = 122_880u64;
        let store = open(&dir, limit);
        for key in 1..=9u128 {
            put(&store, key, 10_000).unwrap();
            // Key 1 the oldest use, key 9 the newest…
            age(&dir, key, 1000 - key as u64);
        }
        // …but key 1 was just served (a worker touched it).
        sys::touch_at(sys::open_dir(&dir).unwrap().as_fd(), entry::name(1).as_bytes()).unwrap();
        assert_eq!(store.total(), 9 * 12_288);
        put(&store, 10, 10_000).unwrap();
        assert_eq!(store.total(), limit, "exactly full is within the bound");
        put(&store, 11, 10_000).unwrap();
        assert!(store.total() <= limit * 9 / 10, "evicted to 90%: {}", store.total());
        let left = names(&dir);
        assert!(left.contains(&entry::name(1)), "touched, so kept");
        assert!(!left.contains(&entry::name(2)) && !left.contains(&entry::name(3)), "oldest out first");
        assert!(left.contains(&entry::name(11)) && left.contains(&entry::name(9)));
        let used: u64 = left.iter().map(|n| on_disk(std::fs::metadata(dir.join(n)).unwrap().len())).sum();
        assert_eq!(used, store.total());
        // 28,673 bytes are less than a quarter of the cache (30,720), but take eight blocks (32,768).
        assert!(matches!(put(&store, 12, 28_673), Err(PutError::TooBig)), "over a quarter of the cache");
        assert!(!dir.join(entry::name(12)).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn temporary_names_are_random_and_a_taken_one_is_left_alone() {
        let dir = scratch("temp");
        let store = open(&dir, 1 << 20);
        let (a, b) = (store.temp_name().unwrap(), store.temp_name().unwrap());
        assert_ne!(a, b);
        let prefix = format!("{}{}-", entry::TEMP_PREFIX, std::process::id());
        for name in [&a, &b] {
            let hex = name.strip_prefix(&prefix).expect(name);
            assert!(hex.len() == 16 && hex.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{name}");
        }
        // Another process's file under the name (another pid namespace, say): creating fails, and the file
        // stays as it was.
        std::fs::write(dir.join(&a), b"theirs").unwrap();
        let err = store.write_temp(a.as_bytes(), &[b"ours"]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(std::fs::read(dir.join(&a)).unwrap(), b"theirs");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_bound_counts_disk_blocks_not_bytes() {
        assert_eq!(
            [on_disk(0), on_disk(1), on_disk(4096), on_disk(4097), on_disk(u64::MAX)],
            [0, 4096, 4096, 8192, u64::MAX]
        );
        // Ten "does not compress" entries (a bare 64-byte header each) fill a 40 KiB cache: they take ten
        // blocks, not 640 bytes.
        let dir = scratch("blocks");
        let limit = 10 * 4096;
        let store = open(&dir, limit);
        for key in 1..=10u128 {
            store.put(key, &[&entry::header(key, [0, 0, 0])]).unwrap();
            age(&dir, key, 1000 - key as u64);
        }
        assert_eq!((store.len(), store.total()), (10, limit));
        store.put(11, &[&entry::header(11, [0, 0, 0])]).unwrap();
        assert!(store.total() <= limit * 9 / 10, "evicted to 90%: {}", store.total());
        assert_eq!(names(&dir).len() as u64 * 4096, store.total());
        assert!(!names(&dir).contains(&entry::name(1)), "the least recently used went");
        // A restart counts the same way.
        let total = store.total();
        drop(store);
        assert_eq!(open(&dir, limit).total(), total);
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
        // Names as they are now ("{pid}-{random hex}") and the start-up probe's ("{pid}-probe"): a dead
        // pid's go, a live one's stay until they are ten minutes old.
        let dead_hex = format!("{}{}-0123456789abcdef", entry::TEMP_PREFIX, i32::MAX - 1);
        let dead_probe = format!("{}{}-probe", entry::TEMP_PREFIX, i32::MAX - 1);
        let live_probe = format!("{}{parent}-probe", entry::TEMP_PREFIX);
        let old_probe = format!("{}1-probe", entry::TEMP_PREFIX);
        for name in [&dead_hex, &dead_probe, &live_probe, &old_probe] {
            std::fs::write(dir.join(name), b"z").unwrap();
        }
        File::options()
            .write(true)
            .open(dir.join(&old_probe))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(601))
            .unwrap();
        std::fs::write(dir.join("unrelated.txt"), b"not ours").unwrap();

        let store = open(&dir, 1 << 20);
        assert_eq!((store.len(), store.total()), (2, 2 * 4096));
        assert!(store.has(1) && store.has(2));
        let mut want = vec![entry::name(1), entry::name(2), live, live_probe, "unrelated.txt".to_string()];
        want.sort();
        assert_eq!(names(&dir), want);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_or_read_only_file_system_is_told_apart() {
        let w = Warnings::default();
        for errno in [libc::ENOSPC, libc::EDQUOT, libc::EROFS] {
            let e = PutError::of(io::Error::from_raw_os_error(errno), "test", &w);
            assert!(matches!(e, PutError::Full(ref e) if e.raw_os_error() == Some(errno)), "{e:?}");
        }
        for errno in [libc::EACCES, libc::ENOENT, libc::EIO] {
            assert!(matches!(PutError::of(io::Error::from_raw_os_error(errno), "test", &w), PutError::Io(_)));
        }
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
