//! The per-worker open-file cache: a hit serves a file with no open, fstat or close, and for small files no read.
//!
//! An entry maps the request path (as sent, without the query) to everything needed to answer it: the open
//! descriptor of the file and of its precompressed siblings, their metadata, ETag, Last-Modified, content type,
//! pre-rendered header lines and, for small files, the body bytes. Answers that are not files (404, 403,
//! directory redirects) are remembered in a separate bounded map, and only when the directories they depend on
//! are watched, so a file created there is noticed at once.
//!
//! Freshness: the directory of every path looked up is watched with inotify before the path is opened, and any
//! change in any watched directory empties the whole cache (sites change rarely; a simple rule is a correct
//! rule). The worker reads the inotify descriptor before the connections of the same epoll batch, so an edit in
//! a file's own directory that finished before a request was sent is seen by it. As a safety net for what
//! inotify cannot see (a symlink target edited elsewhere, an ancestor directory renamed, a watch that could not
//! be added), an entry older than one second is rebuilt before use.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::http::date::format_http_date;
use crate::http::response;
use crate::site::encoding::ContentCoding;
use crate::site::mime::{self, Sample};
use crate::site::open::{self, Opened};
use crate::sys::{self, FileInfo, FileKind};

/// Files up to this size are kept in memory and leave in the same write as their head.
pub const SMALL_BODY: u64 = 16 * 1024;
/// How much of a larger textual file is checked for UTF-8 before the charset is declared: as much as a small
/// file, whose bytes are all read anyway, so a rebuilt entry costs the same read either way.
const UTF8_PREFIX: usize = SMALL_BODY as usize;
/// An entry older than this is rebuilt before use.
const MAX_AGE: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 2048;
/// Remembered misses (404s, 403s, redirects) live in their own map, so a flood of random paths can only
/// evict other misses, never the files being served.
const MAX_KNOWN: usize = 4096;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One servable form of a file: the file itself or a precompressed sibling.
pub struct Representation {
    pub fd: Rc<OwnedFd>,
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

pub struct CachedFile {
    pub content_type: String,
    pub identity: Representation,
    pub brotli: Option<Representation>,
    pub gzip: Option<Representation>,
    built_at: Instant,
}

impl CachedFile {
    /// Builds the entry for an opened regular file at `rel`, finding its precompressed siblings.
    pub fn build(root: BorrowedFd<'_>, cfg: &Config, rel: &[u8], file: Opened, now: Instant) -> CachedFile {
        let identity_body = small_body(&file);
        // The siblings are the same document compressed, so the identity file's bytes decide for all three.
        let content_type = mime::content_type_for(rel, || match &identity_body {
            Some(body) => mime::is_utf8(body, Sample::Whole),
            None => prefix_is_utf8(file.fd.as_fd()),
        });
        let sibling = |coding: ContentCoding| -> Option<Opened> {
            if !cfg.precompressed {
                return None;
            }
            let mut path = rel.to_vec();
            path.extend_from_slice(coding.suffix().as_bytes());
            open::open(root, &path, cfg.no_symlinks).ok().filter(|o| o.info.kind == FileKind::Regular)
        };
        let br = sibling(ContentCoding::Brotli);
        let gz = sibling(ContentCoding::Gzip);
        let vary = br.is_some() || gz.is_some();
        let rep = |body, o: Opened, coding| Representation::new(o, body, coding, &content_type, vary);
        CachedFile {
            identity: rep(identity_body, file, ContentCoding::Identity),
            brotli: br.map(|o| rep(small_body(&o), o, ContentCoding::Brotli)),
            gzip: gz.map(|o| rep(small_body(&o), o, ContentCoding::Gzip)),
            content_type,
            built_at: now,
        }
    }

    pub fn has_variants(&self) -> bool {
        self.brotli.is_some() || self.gzip.is_some()
    }

    fn body_bytes(&self) -> usize {
        [Some(&self.identity), self.brotli.as_ref(), self.gzip.as_ref()]
            .into_iter()
            .flatten()
            .map(|r| r.body.as_ref().map_or(0, |b| b.len()))
            .sum()
    }
}

impl Representation {
    fn new(
        o: Opened,
        body: Option<Box<[u8]>>,
        coding: ContentCoding,
        content_type: &str,
        vary: bool,
    ) -> Representation {
        let info = o.info;
        let etag = format!("\"{:x}-{:x}-{:x}{:08x}\"", info.inode, info.size, info.mtime_sec, info.mtime_nsec);
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
        Representation { fd: Rc::new(o.fd), info, etag, validator_lines, entity_lines, tail_200, body }
    }
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

/// A remembered answer that is not a file.
#[derive(Clone)]
pub enum Known {
    Status(u16),
    /// A directory requested without its slash: the Location, without any query.
    Redirect(Rc<str>),
}

pub struct FileCache {
    map: HashMap<Box<[u8]>, Rc<CachedFile>>,
    known: HashMap<Box<[u8]>, (Known, Instant)>,
    body_bytes: usize,
    inotify: Option<OwnedFd>,
    /// Directories already watched (relative to the root).
    watched: HashSet<Vec<u8>>,
    /// What makes a root-relative directory a path inotify understands: "/" when chrooted, else the root.
    watch_prefix: Vec<u8>,
}

impl FileCache {
    pub fn new(cfg: &Config) -> FileCache {
        let watch_prefix = if cfg.chroot {
            b"/".to_vec()
        } else {
            let mut p = cfg.root.as_os_str().as_encoded_bytes().to_vec();
            p.push(b'/');
            p
        };
        let inotify = sys::inotify()
            .map_err(|e| log::warn!("inotify unavailable ({e}); cached files are revalidated every second"))
            .ok();
        FileCache {
            map: HashMap::new(),
            known: HashMap::new(),
            body_bytes: 0,
            inotify,
            watched: HashSet::new(),
            watch_prefix,
        }
    }

    /// The inotify descriptor the event loop watches; readable means some watched directory changed.
    pub fn inotify_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(|fd| fd.as_fd())
    }

    /// A fresh entry for `key`, if there is one.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Rc<CachedFile>> {
        let entry = self.map.get(key)?;
        if now.saturating_duration_since(entry.built_at) >= MAX_AGE {
            return None;
        }
        Some(Rc::clone(entry))
    }

    /// A fresh remembered non-file answer for `key`, if there is one.
    pub fn get_known(&self, key: &[u8], now: Instant) -> Option<Known> {
        let (known, at) = self.known.get(key)?;
        (now.saturating_duration_since(*at) < MAX_AGE).then(|| known.clone())
    }

    /// Remembers a non-file answer. Only for answers whose directories are watched (or that depend on the
    /// path alone), so a file created there is noticed at once.
    pub fn insert_known(&mut self, key: &[u8], known: Known, now: Instant) {
        if self.known.len() >= MAX_KNOWN {
            self.known.clear();
        }
        self.known.insert(key.into(), (known, now));
    }

    /// Caches `file` under `key`. The caller watched the file's directory before opening it.
    pub fn insert(&mut self, key: &[u8], file: Rc<CachedFile>) {
        if self.map.len() >= MAX_ENTRIES || self.body_bytes + file.body_bytes() > MAX_BODY_BYTES {
            self.clear();
        }
        self.body_bytes += file.body_bytes();
        if let Some(old) = self.map.insert(key.into(), file) {
            self.body_bytes -= old.body_bytes();
        }
    }

    /// Watches the directory `dir` (relative to the root). Called *before* a file in it is opened, so an edit
    /// either happened before the open (and fstat sees it) or raises an event that empties the cache.
    /// Failure only costs freshness beyond the one-second revalidation.
    pub fn watch_dir(&mut self, dir: &[u8]) -> bool {
        let Some(inotify) = self.inotify.as_ref() else { return false };
        if self.watched.contains(dir) {
            return true;
        }
        let mut path = self.watch_prefix.clone();
        path.extend_from_slice(dir);
        match sys::inotify_watch_dir(inotify.as_fd(), &path) {
            Ok(()) => {
                self.watched.insert(dir.to_vec());
                true
            }
            Err(e) => {
                log::debug!("inotify watch on /{}: {e}", String::from_utf8_lossy(dir));
                false
            }
        }
    }

    /// Called when the inotify descriptor is readable: something changed, so forget everything. Returns
    /// whether anything did.
    pub fn on_change(&mut self) -> bool {
        let Some(inotify) = self.inotify.as_ref() else { return false };
        match sys::inotify_drain(inotify.as_fd()) {
            Ok(true) => {
                self.clear();
                true
            }
            Ok(false) => false,
            Err(e) => {
                log::warn!("inotify read: {e}");
                self.clear();
                true
            }
        }
    }

    /// Forgets every entry, and which directories are watched: one may have been replaced, and its new inode
    /// needs a new watch (re-adding an existing watch is harmless).
    pub fn clear(&mut self) {
        self.map.clear();
        self.known.clear();
        self.body_bytes = 0;
        self.watched.clear();
    }
}
