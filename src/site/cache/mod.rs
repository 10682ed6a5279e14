//! The per-worker open-file cache: a hit serves a file with no open, fstat or close, and for small files no read.
//!
//! An entry maps the resolved request path (`/a/../b.html` and `/b.html` are one entry) to everything needed
//! to answer it: the file's precompressed siblings, their metadata, ETag, Last-Modified, content type,
//! pre-rendered header lines and, for small files, the body bytes; a large file keeps its descriptor open for
//! sendfile, a small one is served from memory and holds none. Answers that are not files (404, 403,
//! directory redirects) are remembered in a separate map, only when the directories they depend on are
//! watched, so a file created there is noticed at once.
//!
//! Bounds: both maps evict one entry at a time in CLOCK order (`clock.rs`); the files map also holds at most
//! [`descriptor_budget`] descriptors and 64 MiB of bodies, and when an open fails with EMFILE/ENFILE it reads
//! the descriptor limit again, closes entries and retries once.
//!
//! Freshness: the directory of every path looked up is watched with inotify before the path is opened, and an
//! event drops the answers of that directory only (`watches.rs`). The worker reads the inotify descriptor
//! before the connections of the same epoll batch, so an edit in a file's own directory that finished before
//! a request was sent is seen by it. An entry whose directory could not be watched (the watch budget is
//! spent, or the kernel refused) is checked on every use: its path (and its siblings' paths) are stated beneath
//! the root and compared (device, inode, size, mtime and ctime to the nanosecond); and one changed in the
//! last moments before it was built is not kept at all, since a second change within the same clock tick
//! would leave all of those equal. Watched entries are checked the same way once a second, the net for what
//! a directory watch cannot see (an ancestor directory renamed, a symlink's target edited elsewhere).

mod clock;
mod compressed;
mod watches;

use std::cell::RefCell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::compress::CompressLink;
use crate::config::Config;
use crate::http::date::format_http_date;
use crate::http::response;
use crate::shm::Shm;
use crate::site::encoding::ContentCoding;
use crate::site::mime::{self, Sample};
use crate::site::open::{self, Failure, OpenError, Opened};
use crate::site::write;
use crate::sys::{self, FileInfo, FileKind, FileStamp, WatchEvent};
use clock::Clock;
pub use compressed::Compressed;
pub use watches::DirId;
use watches::{Dropped, Watches};

/// Files up to this size are kept in memory and leave in the same write as their head.
pub const SMALL_BODY: u64 = 16 * 1024;
/// How much of a larger textual file is checked for UTF-8 before the charset is declared: as much as a small
/// file, whose bytes are all read anyway, so a rebuilt entry costs the same read either way.
const UTF8_PREFIX: usize = SMALL_BODY as usize;
/// A watched entry is checked against its path when used this long after the last check; a remembered
/// non-file answer this old is looked up again.
const MAX_AGE: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 32 * 1024;
/// Remembered misses (404s, 403s, redirects) live in their own map, so a flood of random paths can only
/// evict other misses, never the files being served.
const MAX_KNOWN: usize = 4096;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// A file whose ctime is this close to the wall clock when its entry is built may change again within the
/// same timestamp tick (the kernel's coarse clock moves every 1–10 ms): such an entry is not kept unless its
/// directory is watched.
const RACY: Duration = Duration::from_millis(100);

/// How many descriptors a worker's cache may hold, given its RLIMIT_NOFILE: a quarter, so connections, the
/// listeners' hand-over and logs keep three quarters, and within [16, 65,536]: at least a few large files
/// even under a tiny limit, and never more than a site's hot set of large files needs (small files hold
/// none). The master clamps `--max-conns` to what is left.
pub fn descriptor_budget(nofile_limit: u64) -> usize {
    (nofile_limit / 4).clamp(16, 65_536) as usize
}

/// The default watch budget of one worker: an eighth of the user's inotify watches shared among the
/// workers, at least 64. Other programs of the same user keep seven eighths.
pub fn default_watch_budget(max_user_watches: Option<u64>, workers: usize) -> usize {
    let share = max_user_watches.unwrap_or(8192) / 8 / workers.max(1) as u64;
    share.max(64) as usize
}

/// The site's own precompressed siblings, in the order their stamps follow the file's.
const SIBLINGS: [ContentCoding; 3] = [ContentCoding::Brotli, ContentCoding::Zstd, ContentCoding::Gzip];

/// One servable form of a file: the file itself, a precompressed sibling, or a form the compressor made.
pub struct Representation {
    pub coding: ContentCoding,
    /// The open file, for sendfile; None when the whole body is in `body` (then no descriptor is held).
    pub fd: Option<Rc<OwnedFd>>,
    /// Where this form's bytes start in `fd` (a compressed-cache entry holds several forms back to back).
    pub offset: u64,
    /// The form's size (its Content-Length) and the mtime its Last-Modified says.
    pub info: FileInfo,
    pub etag: String,
    /// ETag, Last-Modified and Vary lines: what a 304 repeats (with the caching lines added per request).
    pub validator_lines: Vec<u8>,
    /// Accept-Ranges, X-Content-Type-Options and Content-Encoding lines.
    pub entity_lines: Vec<u8>,
    /// Every header line of a full 200 response after the validators and the caching lines, up to (not
    /// including) the final empty line.
    pub tail_200: Vec<u8>,
    /// The whole body, for small files.
    pub body: Option<Box<[u8]>>,
}

/// What a path's stat must still say for an entry to be current: the stamp of the regular file there, None
/// when there was none.
fn stamp_of_regular(info: &FileInfo) -> Option<FileStamp> {
    (info.kind == FileKind::Regular).then(|| info.stamp())
}

pub struct CachedFile {
    pub content_type: String,
    pub identity: Representation,
    /// The site's precompressed siblings that are current: `.br`, `.zst`, `.gz` not older than the file (a
    /// build that forgot to regenerate one must not serve yesterday's text).
    pub siblings: Vec<Representation>,
    /// What the compressor made of this version; None when it is not compressed (its type or size, the
    /// site's own siblings, `--no-compress`).
    pub compressed: Option<RefCell<Compressed>>,
    /// The file's root-relative path (the index file of `/d/`, the `.html` of a clean URL).
    rel: Box<[u8]>,
    /// Identity, .br, .zst, .gz.
    stamps: [Option<FileStamp>; 4],
    /// Changed too recently to be trusted without a watch.
    racy: bool,
    /// A sibling could not be opened (out of descriptors, an I/O error): served, never kept.
    complete: bool,
}

impl CachedFile {
    /// Every response about the file says `Vary: Accept-Encoding`: it has siblings, or may be compressed.
    pub fn varies(&self) -> bool {
        !self.siblings.is_empty() || self.compressed.is_some()
    }

    /// The compressed forms ready to serve, if any.
    pub fn compressed_forms(&self) -> Option<Rc<[Representation]>> {
        match &*self.compressed.as_ref()?.borrow() {
            Compressed::Ready { forms, .. } => Some(Rc::clone(forms)),
            _ => None,
        }
    }

    /// The identity and the siblings: what the entry held when it was inserted (compressed forms are
    /// accounted for when they are attached).
    fn reps(&self) -> impl Iterator<Item = &Representation> {
        std::iter::once(&self.identity).chain(self.siblings.iter())
    }

    fn body_bytes(&self) -> usize {
        self.reps().map(|r| r.body.as_ref().map_or(0, |b| b.len())).sum()
    }

    /// Descriptors this entry keeps open.
    fn fds(&self) -> usize {
        self.reps().filter(|r| r.fd.is_some()).count()
    }
}

impl Representation {
    /// A form that is a whole file of its own (the identity, a sibling).
    fn new(
        o: Opened,
        body: Option<Box<[u8]>>,
        coding: ContentCoding,
        content_type: &str,
        vary: bool,
    ) -> Representation {
        let etag = etag(&o.info, coding);
        // A body in memory needs no descriptor: it is closed here.
        let fd = if body.is_some() { None } else { Some(Rc::new(o.fd)) };
        Representation::with(fd, 0, o.info, etag, body, coding, content_type, vary)
    }

    #[allow(clippy::too_many_arguments)]
    fn with(
        fd: Option<Rc<OwnedFd>>,
        offset: u64,
        info: FileInfo,
        etag: String,
        body: Option<Box<[u8]>>,
        coding: ContentCoding,
        content_type: &str,
        vary: bool,
    ) -> Representation {
        let mut validator_lines = Vec::new();
        response::header(&mut validator_lines, "ETag", &etag);
        response::header(&mut validator_lines, "Last-Modified", &format_http_date(info.mtime_sec));
        if vary {
            response::header(&mut validator_lines, "Vary", "Accept-Encoding");
        }
        let mut entity_lines = Vec::new();
        response::header(&mut entity_lines, "Accept-Ranges", "bytes");
        response::header(&mut entity_lines, "X-Content-Type-Options", "nosniff");
        if coding != ContentCoding::Identity {
            response::header(&mut entity_lines, "Content-Encoding", coding.token());
        }
        let mut tail_200 = entity_lines.clone();
        response::header(&mut tail_200, "Content-Type", content_type);
        response::content_length(&mut tail_200, info.size);
        Representation { coding, fd, offset, info, etag, validator_lines, entity_lines, tail_200, body }
    }
}

/// The entity-tag of one representation: what survives a copy (`cp -a`, `rsync -a`) — size and mtime to
/// the nanosecond — and the coding, so the identity and a precompressed sibling never share a tag. No
/// inode or device: two origins serving copies of one tree agree.
fn etag(info: &FileInfo, coding: ContentCoding) -> String {
    let suffix = match coding {
        ContentCoding::Identity => "",
        ContentCoding::Brotli => "-br",
        ContentCoding::Zstd => "-zst",
        ContentCoding::Gzip => "-gz",
    };
    format!("\"{:x}-{:x}{:08x}{suffix}\"", info.size, info.mtime_sec, info.mtime_nsec)
}

/// The entity-tag a GET of the file `info` describes is sent with (its identity form): what a write answers
/// with, and what its `If-Match` is compared to.
pub fn identity_etag(info: &FileInfo) -> String {
    etag(info, ContentCoding::Identity)
}

/// The entity-tag of a form the compressor made: the identity's tag, the format version of the compressed
/// cache and the coding, so it differs from the identity's, from a sibling's, and from what another version
/// of the encoders makes of the same file.
fn etag_of_compressed(identity: &FileInfo, coding: ContentCoding) -> String {
    let (token, version) = (coding.token(), crate::compress::entry::ETAG_VERSION);
    format!("\"{:x}-{:x}{:08x}-{version}{token}\"", identity.size, identity.mtime_sec, identity.mtime_nsec)
}

/// The whole body of a small file (None for a large one, or one that changed while it was read).
fn small_body(o: &Opened) -> Option<Box<[u8]>> {
    if o.info.size <= SMALL_BODY {
        read_whole(o.fd.as_fd(), o.info.size)
    } else {
        None
    }
}

/// Whether a file too large to keep in memory starts with UTF-8: its first `UTF8_PREFIX` bytes are read
/// (once per cache entry) and checked, a character cut off at the end of them allowed. A file that cannot be
/// read gets no charset: the header then claims nothing that was not checked.
fn prefix_is_utf8(fd: BorrowedFd<'_>) -> bool {
    let mut buf = vec![0u8; UTF8_PREFIX];
    match sys::pread_from_start(fd, &mut buf) {
        Ok(n) => mime::is_utf8(&buf[..n], Sample::Prefix),
        Err(_) => false,
    }
}

/// Reads a small file whole; None if it is not exactly `size` bytes any more (then it is sent with sendfile,
/// which notices a shrunk file).
fn read_whole(fd: BorrowedFd<'_>, size: u64) -> Option<Box<[u8]>> {
    let mut buf = vec![0u8; size as usize];
    match sys::pread_from_start(fd, &mut buf) {
        Ok(n) if n == buf.len() => Some(buf.into_boxed_slice()),
        _ => None,
    }
}

/// Whether a ctime is within `RACY` of the wall clock (or after it).
fn is_racy(ctime: (i64, i64), wall: Duration) -> bool {
    let ctime_ns = ctime.0 as i128 * 1_000_000_000 + ctime.1 as i128;
    wall.as_nanos() as i128 - ctime_ns < RACY.as_nanos() as i128
}

/// A remembered answer that is not a file.
#[derive(Clone)]
pub enum Known {
    Status(u16),
    /// A directory requested without its slash: the Location, without any query.
    Redirect(Rc<str>),
}

/// The directories an answer depends on, as watched for its lookup: `watched` is false when any of them
/// could not be watched (then a file is checked on every use and a non-file answer is not remembered).
#[derive(Debug, Clone, Copy)]
pub struct Deps {
    ids: [Option<DirId>; 2],
    pub watched: bool,
}

impl Default for Deps {
    /// An answer that depends on the path alone.
    fn default() -> Deps {
        Deps { ids: [None, None], watched: true }
    }
}

impl Deps {
    /// Adds the result of a `watch_dir`.
    pub fn add(&mut self, watch: Option<DirId>) {
        let Some(id) = watch else {
            self.watched = false;
            return;
        };
        match self.ids {
            [Some(a), _] | [_, Some(a)] if a == id => {}
            [None, _] => self.ids[0] = Some(id),
            [_, None] => self.ids[1] = Some(id),
            _ => self.watched = false,
        }
    }

    fn iter(&self) -> impl Iterator<Item = DirId> + '_ {
        self.ids.iter().flatten().copied()
    }
}

struct FileEntry {
    file: Rc<CachedFile>,
    deps: Deps,
    checked_at: Instant,
    /// What this entry counts against the budgets, compressed forms attached later included.
    fds: usize,
    body_bytes: usize,
}

struct KnownEntry {
    known: Known,
    deps: Deps,
    at: Instant,
}

/// What an inotify wake-up changed, for the site: `any` (listings are dropped), `root` (the rule files are
/// read again).
#[derive(Debug, Default, Clone, Copy)]
pub struct Change {
    pub any: bool,
    pub root: bool,
}

pub struct FileCache {
    files: Clock<FileEntry>,
    known: Clock<KnownEntry>,
    watches: Watches,
    /// Descriptors held by cached entries, and how many they may hold.
    fds: usize,
    fd_budget: usize,
    body_bytes: usize,
    no_symlinks: bool,
    precompressed: bool,
    read_buf: Box<[u8]>,
    events: Vec<WatchEvent>,
    /// The compressed-file cache and the compressor's request pipe; None with `--no-compress`.
    link: Option<CompressLink>,
    /// The compressor's count of finished entries lives here.
    shm: Option<Shm>,
}

impl FileCache {
    pub fn new(cfg: &Config, link: Option<CompressLink>, shm: Option<Shm>) -> FileCache {
        let watch_prefix = if cfg.chroot {
            b"/".to_vec()
        } else {
            let mut p = cfg.root.as_os_str().as_encoded_bytes().to_vec();
            p.push(b'/');
            p
        };
        let inotify = sys::inotify()
            .map_err(|e| log::warn!("inotify unavailable ({e}); cached files are checked on every request"))
            .ok();
        let watch_budget =
            cfg.max_watches.unwrap_or_else(|| default_watch_budget(sys::max_user_watches().ok(), cfg.workers));
        let nofile = sys::nofile_soft_limit().unwrap_or(1024);
        let mut cache = FileCache::with_budgets(cfg, inotify, watch_prefix, watch_budget, descriptor_budget(nofile));
        cache.link = link.filter(|_| cfg.compression.is_some());
        cache.shm = shm;
        cache
    }

    fn with_budgets(
        cfg: &Config,
        inotify: Option<OwnedFd>,
        watch_prefix: Vec<u8>,
        watch_budget: usize,
        fd_budget: usize,
    ) -> FileCache {
        FileCache {
            files: Clock::default(),
            known: Clock::default(),
            watches: Watches::new(inotify, watch_prefix, watch_budget),
            fds: 0,
            fd_budget,
            body_bytes: 0,
            no_symlinks: cfg.no_symlinks,
            precompressed: cfg.precompressed,
            read_buf: vec![0u8; 16 * 1024].into_boxed_slice(),
            events: Vec::new(),
            link: None,
            shm: None,
        }
    }

    /// The inotify descriptor the event loop watches; readable means some watched directory changed.
    pub fn inotify_fd(&self) -> Option<BorrowedFd<'_>> {
        self.watches.fd()
    }

    /// A current entry for `key`. No system call when its directories are watched and it was checked less
    /// than a second ago; otherwise its paths are stated (and an entry that no longer matches is dropped).
    pub fn get(&mut self, root: BorrowedFd<'_>, key: &[u8], now: Instant) -> Option<Rc<CachedFile>> {
        let entry = self.files.get(key)?;
        if entry.deps.watched && now.saturating_duration_since(entry.checked_at) < MAX_AGE {
            return Some(Rc::clone(&entry.file));
        }
        let file = Rc::clone(&entry.file);
        // A watched entry's siblings are vouched for by its directory's watch: the net only asks whether the
        // path still leads to the same file (an ancestor renamed). An unwatched entry is checked whole.
        let siblings = self.precompressed && !entry.deps.watched;
        if still_current(root, &file, self.no_symlinks, siblings) {
            if let Some(entry) = self.files.get(key) {
                entry.checked_at = now;
            }
            self.touch_compressed(&file, now);
            return Some(file);
        }
        let deps = self.files.get(key).map(|e| e.deps);
        self.remove_file(key, false);
        // A watched entry that changed unseen: its watches missed something (an ancestor moved), so they are
        // forgotten and made again on the next lookup.
        if let Some(deps) = deps.filter(|d| d.watched) {
            let mut dropped = Dropped::default();
            for id in deps.iter() {
                self.watches.forget(id, &mut dropped);
            }
            self.forget_dropped(dropped);
        }
        None
    }

    /// A remembered non-file answer for `key`, if it is less than a second old.
    pub fn get_known(&mut self, key: &[u8], now: Instant) -> Option<Known> {
        let entry = self.known.get(key)?;
        if now.saturating_duration_since(entry.at) < MAX_AGE {
            return Some(entry.known.clone());
        }
        self.remove_known(key, false);
        None
    }

    /// Remembers a non-file answer, only if every directory it depends on is watched (so a file created there
    /// is noticed at once).
    pub fn insert_known(&mut self, key: &[u8], known: Known, deps: Deps, now: Instant) {
        if !deps.watched {
            return;
        }
        self.remove_known(key, false);
        while self.known.len() >= MAX_KNOWN {
            let Some((old, entry)) = self.known.evict() else { break };
            for id in entry.deps.iter() {
                self.watches.remove(id, &old, true);
            }
        }
        // Only now: evicting may have given back the watch of this answer's own directory.
        if !deps.iter().all(|id| self.watches.is_live(id)) {
            return;
        }
        for id in deps.iter() {
            self.watches.add_known(id, key);
        }
        self.known.insert(key, KnownEntry { known, deps, at: now });
    }

    /// Caches `file` under `key` (if it may be kept), evicting until it fits the bounds. The caller watched
    /// the file's directories (`deps`) before opening it.
    pub fn insert(&mut self, key: &[u8], file: Rc<CachedFile>, mut deps: Deps, now: Instant) {
        if !file.complete || file.fds() > self.fd_budget {
            return;
        }
        self.remove_file(key, false);
        while self.files.len() >= MAX_ENTRIES
            || self.fds + file.fds() > self.fd_budget
            || self.body_bytes + file.body_bytes() > MAX_BODY_BYTES
        {
            if !self.evict_file() {
                break;
            }
        }
        // Only after evicting: the entry evicted may have been the last of this file's own directory, and
        // given its watch back. Then this entry is an unwatched one, checked on every use.
        if !deps.iter().all(|id| self.watches.is_live(id)) {
            deps.watched = false;
        }
        if file.racy && !deps.watched {
            return;
        }
        if !deps.watched {
            deps.ids = [None, None];
        }
        let (fds, body_bytes) = (file.fds(), file.body_bytes());
        self.fds += fds;
        self.body_bytes += body_bytes;
        for id in deps.iter() {
            self.watches.add_file(id, key);
        }
        self.files.insert(key, FileEntry { file, deps, checked_at: now, fds, body_bytes });
    }

    fn evict_file(&mut self) -> bool {
        let Some((key, entry)) = self.files.evict() else { return false };
        self.account_removed(&key, &entry, true);
        true
    }

    fn remove_file(&mut self, key: &[u8], evicted: bool) {
        if let Some(entry) = self.files.remove(key) {
            self.account_removed(key, &entry, evicted);
        }
    }

    fn account_removed(&mut self, key: &[u8], entry: &FileEntry, evicted: bool) {
        self.fds -= entry.fds;
        self.body_bytes -= entry.body_bytes;
        for id in entry.deps.iter() {
            self.watches.remove(id, key, evicted);
        }
    }

    fn remove_known(&mut self, key: &[u8], evicted: bool) {
        if let Some(entry) = self.known.remove(key) {
            for id in entry.deps.iter() {
                self.watches.remove(id, key, evicted);
            }
        }
    }

    fn forget_dropped(&mut self, dropped: Dropped) {
        for key in dropped.files {
            self.remove_file(&key, false);
        }
        for key in dropped.known {
            self.remove_known(&key, false);
        }
    }

    /// Watches the root-relative directory `dir`. Called *before* a file in it is opened, so an edit either
    /// happened before the open (and fstat sees it) or raises an event that drops the entry. None when it
    /// cannot be watched (missing, the budget spent, the kernel refused): answers there are checked per use.
    pub fn watch_dir(&mut self, root: BorrowedFd<'_>, dir: &[u8], now: Instant) -> Option<DirId> {
        let mut dropped = Dropped::default();
        let id = self.watches.watch(root, dir, false, now, &mut dropped);
        self.forget_dropped(dropped);
        id
    }

    /// Watches the root (where the rule files live), even when the budget is spent.
    pub fn watch_root(&mut self, root: BorrowedFd<'_>, now: Instant) -> Option<DirId> {
        let mut dropped = Dropped::default();
        let id = self.watches.watch(root, b"", true, now, &mut dropped);
        self.forget_dropped(dropped);
        id
    }

    /// Opens `rel` beneath `root`: not found without a system call when its watched directory is known not
    /// to hold the name; out of descriptors, it closes some of the cache's and tries once more.
    pub fn open(&mut self, root: BorrowedFd<'_>, rel: &[u8], no_symlinks: bool) -> Result<Opened, OpenError> {
        let (dir, name) = match memchr::memrchr(b'/', rel) {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        if !name.is_empty() && self.watches.lacks(root, dir, name, no_symlinks) {
            return Err(OpenError::NotFound);
        }
        match open::try_open(root, rel, no_symlinks) {
            Ok(o) => Ok(o),
            Err(Failure::Refused(e)) => Err(e),
            Err(Failure::Exhausted) => {
                self.relieve_descriptors();
                open::open(root, rel, no_symlinks)
            }
        }
    }

    /// EMFILE/ENFILE: the limit may have been lowered since the worker started (prlimit), so it is read
    /// again and the budget shrunk to match; then a quarter of the held descriptors (at least) are closed.
    fn relieve_descriptors(&mut self) {
        let old_budget = self.fd_budget;
        if let Ok(limit) = sys::nofile_soft_limit() {
            self.fd_budget = self.fd_budget.min(descriptor_budget(limit));
        }
        let target = self.fd_budget.min(self.fds - self.fds / 4);
        let before = self.fds;
        while self.fds > target && self.evict_file() {}
        // Said once per budget change, so a worker that keeps meeting the limit does not flood the log.
        let level = if self.fd_budget < old_budget { log::Level::Warn } else { log::Level::Debug };
        log::log!(
            level,
            "out of descriptors: the file cache closed {} and now keeps at most {}",
            before - self.fds,
            self.fd_budget
        );
    }

    /// Builds the entry for an opened regular file at `rel`, finding its precompressed siblings.
    pub fn build(&mut self, root: BorrowedFd<'_>, cfg: &Config, rel: &[u8], file: Opened) -> Rc<CachedFile> {
        let identity_body = small_body(&file);
        // The siblings are the same document compressed, so the identity file's bytes decide for all three.
        let content_type = mime::content_type_for(rel, || match &identity_body {
            Some(body) => mime::is_utf8(body, Sample::Whole),
            None => prefix_is_utf8(file.fd.as_fd()),
        });
        let mut complete = true;
        let mut sibling = |coding: ContentCoding| -> Option<Opened> {
            if !cfg.precompressed {
                return None;
            }
            let mut path = rel.to_vec();
            path.extend_from_slice(coding.suffix().as_bytes());
            match self.open(root, &path, cfg.no_symlinks) {
                Ok(o) => Some(o).filter(|o| o.info.kind == FileKind::Regular),
                Err(OpenError::Internal) => {
                    complete = false;
                    None
                }
                Err(_) => None,
            }
        };
        let found = SIBLINGS.map(&mut sibling);
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let opened = [Some(&file), found[0].as_ref(), found[1].as_ref(), found[2].as_ref()];
        let racy = opened.iter().flatten().any(|o| is_racy((o.info.ctime_sec, o.info.ctime_nsec), wall));
        let stamps = opened.map(|o| o.and_then(|o| stamp_of_regular(&o.info)));
        // A sibling older than the file was not rebuilt with it: its text is yesterday's. Its stamp is kept,
        // so regenerating it makes the entry stale and the new sibling is found.
        let mtime = |o: &Opened| (o.info.mtime_sec, o.info.mtime_nsec);
        let current: Vec<(ContentCoding, Opened)> = SIBLINGS
            .into_iter()
            .zip(found)
            .filter_map(|(coding, o)| Some((coding, o?)))
            .filter(|(_, o)| mtime(o) >= mtime(&file))
            .collect();
        let compress = cfg.compression.as_ref().filter(|c| {
            self.link.is_some()
                && current.is_empty()
                && c.compresses_type(&content_type)
                && c.compresses_size(file.info.size)
                && rel.len() <= crate::compress::request::MAX_PATH
        });
        let vary = !current.is_empty() || compress.is_some();
        let rep = |body, o: Opened, coding| Representation::new(o, body, coding, &content_type, vary);
        let siblings = current.into_iter().map(|(coding, o)| rep(small_body(&o), o, coding)).collect();
        Rc::new(CachedFile {
            identity: rep(identity_body, file, ContentCoding::Identity),
            siblings,
            compressed: compress.map(|_| RefCell::new(Compressed::Unknown)),
            content_type,
            rel: rel.into(),
            stamps,
            racy,
            complete,
        })
    }

    /// Called when the inotify descriptor is readable: drops the answers of the directories the events name.
    pub fn on_change(&mut self) -> Change {
        let Some(fd) = self.watches.fd().and_then(|fd| fd.try_clone_to_owned().ok()) else {
            return Change::default();
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let read = sys::inotify_read(fd.as_fd(), &mut self.read_buf, &mut events);
        drop(fd);
        let mut change = Change::default();
        if let Err(e) = read {
            log::warn!("inotify read: {e}");
            events.push(WatchEvent { wd: -1, mask: sys::IN_Q_OVERFLOW, name: Vec::new() });
        }
        let mut dropped = Dropped::default();
        for event in &events {
            // An upload's temporary file is never served or listed, so the event of each piece written to it
            // changes nothing known here (in the root it would also have the rule files read again, at every
            // piece); the rename that puts it in place is an event of the final name.
            if event.mask & sys::IN_ISDIR == 0 && event.name.starts_with(write::TEMP_PREFIX.as_bytes()) {
                continue;
            }
            change.any = true;
            change.root |= self.watches.apply(event, &mut dropped).root;
        }
        self.forget_dropped(dropped);
        self.events = events;
        change
    }

    /// Forgets what this cache knows of the directory `dir` (root-relative, as `Target::parent` is) and of
    /// everything beneath it: entries whose key lies there, and entries (an index, a clean URL, a fallback)
    /// whose file does. Called by the worker that just wrote there, whose own inotify event has not been read
    /// yet when the next request on the connection comes.
    pub fn forget_dir(&mut self, dir: &[u8]) {
        let under = |path: &[u8]| {
            dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/'))
        };
        let key_under = |key: &[u8]| key.strip_prefix(b"/").is_some_and(under);
        // The directory's names first: a name it was known to lack would still answer 404 without a lookup.
        let mut dropped = Dropped::default();
        self.watches.changed_dir(dir, &mut dropped);
        self.forget_dropped(dropped);
        for key in self.files.keys() {
            let file_under = self.files.get(&key).is_some_and(|e| under(&e.file.rel));
            if key_under(&key) || file_under {
                self.remove_file(&key, false);
            }
        }
        for key in self.known.keys() {
            if key_under(&key) {
                self.remove_known(&key, false);
            }
        }
    }

    /// Forgets every entry, keeping the watches (and what they know of their directories): the state of a
    /// cache whose entries were all evicted, for the hot-path benchmark's miss.
    pub fn forget_entries(&mut self) {
        for key in self.files.keys() {
            self.remove_file(&key, false);
        }
        for key in self.known.keys() {
            self.remove_known(&key, false);
        }
    }
}

/// Whether the file's paths still name what the entry was built from: one stat for the file and, with
/// `siblings`, one for each precompressed sibling, present or not.
fn still_current(root: BorrowedFd<'_>, file: &CachedFile, no_symlinks: bool, siblings: bool) -> bool {
    let suffixes: &[&[u8]] = if siblings { &[b"", b".br", b".zst", b".gz"] } else { &[b""] };
    let mut path = Vec::with_capacity(file.rel.len() + 3);
    for (i, suffix) in suffixes.iter().enumerate() {
        path.clear();
        path.extend_from_slice(&file.rel);
        path.extend_from_slice(suffix);
        let info = if no_symlinks { sys::stat_beneath(root, &path, true) } else { sys::stat_at(root, &path) };
        let now = match info {
            Ok(info) => stamp_of_regular(&info),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => None,
            Err(_) => return false,
        };
        if now != file.stamps[i] {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
