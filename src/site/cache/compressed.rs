//! A cached file's compressed forms: found in the compressed-file cache, or asked of the compressor.
//!
//! Nothing here waits. A request for a compressible file whose forms are not known yet looks for the file's
//! entry in the cache directory once (one openat2; a miss is ENOENT); when it is not there the request is
//! answered with the identity and the compressor is asked for it (one pipe write). From then on the file
//! waits: a request costs one load of the compressor's finished-entries count in shared memory, and only
//! when that count has moved is the directory looked at again. A request lost on a full pipe, or dropped by
//! a busy compressor, is asked again after [`ASK_AGAIN`], then less and less often. Once found, the forms are served like any file
//! (sendfile from their offsets in the one entry file, small ones from memory) until the entry is dropped
//! because the file changed: a new version has a new entry name, so an old form is never served for it.

use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::compress::entry::{self, CODINGS};
use crate::compress::request;
use crate::site::cache::{etag_of_compressed, CachedFile, FileCache, Representation, SMALL_BODY};
use crate::site::encoding::ContentCoding;
use crate::sys::{self, FileInfo, FileKind};

/// A file still waiting this long after it was first asked for is asked again (the request may have been
/// lost on a full pipe or a busy compressor's full queue); each further ask waits twice as long, up to
/// [`ASK_AGAIN_MAX`], so a file the compressor keeps failing on (a full disk) costs it little.
const ASK_AGAIN: Duration = Duration::from_secs(10);
const ASK_AGAIN_MAX: Duration = Duration::from_secs(3600);
/// A request that did not fit in the pipe is tried again this soon.
const PIPE_FULL_RETRY: Duration = Duration::from_secs(1);

/// How long after its `asks`-th ask a waiting file is asked again.
fn ask_again_after(asks: u32) -> Duration {
    ASK_AGAIN.saturating_mul(1 << asks.saturating_sub(1).min(12)).min(ASK_AGAIN_MAX)
}

pub enum Compressed {
    /// Not looked for since the entry was built (no client that accepts compression has asked yet).
    Unknown,
    /// Not in the cache when last looked for. `seen` is the compressor's count of finished entries then: it
    /// has to move before looking again is worth a system call. The compressor is asked again at `ask_at`;
    /// `asks` is how many requests reached the pipe.
    Waiting { seen: u64, ask_at: Instant, asks: u32 },
    /// In the cache: the forms that pay (none when the file does not compress), and when its entry file was
    /// last marked used.
    Ready { forms: Rc<[Representation]>, name: String, touched: Instant },
}

impl FileCache {
    /// For a request that accepts compression: looks for `file`'s compressed forms, or asks for them, as
    /// little as possible (see the module doc). `key` is the file's key in this cache, so forms found are
    /// counted against its budgets.
    pub fn refresh_compressed(&mut self, key: &[u8], file: &Rc<CachedFile>, now: Instant) {
        let Some(cell) = &file.compressed else { return };
        let (Some(link), Some(shm)) = (&self.link, &self.shm) else { return };
        let (ask, ask_at, asks) = match &*cell.borrow() {
            Compressed::Ready { .. } => return,
            Compressed::Unknown => (true, now, 0),
            Compressed::Waiting { seen, ask_at, asks } => {
                let ask = now >= *ask_at;
                if shm.compressed() == *seen && !ask {
                    return;
                }
                (ask, *ask_at, *asks)
            }
        };
        // Read before looking: an entry finished after this read moves the count again.
        let seen = shm.compressed();
        let stamp = file.identity.info.stamp();
        let key_hash = entry::key(&file.rel, &stamp);
        let name = entry::name(key_hash);
        match load(link.cache_dir.as_fd(), &name, key_hash, file) {
            Some((forms, last_used)) => {
                // Marked used, so the compressor evicts what is not served first; not again when it was
                // marked lately (a file rebuilt often, in a directory that changes, would write each time).
                let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
                if wall.saturating_sub(last_used) >= TOUCH_EVERY.as_secs() as i64 {
                    let _ = sys::touch_at(link.cache_dir.as_fd(), name.as_bytes());
                }
                let fds = usize::from(forms.iter().any(|f| f.fd.is_some()));
                let bytes = forms.iter().map(|f| f.body.as_ref().map_or(0, |b| b.len())).sum();
                *cell.borrow_mut() = Compressed::Ready { forms: forms.into(), name, touched: now };
                self.account_attached(key, file, fds, bytes);
            }
            None if ask => {
                let sent = request::encode(&file.rel, &stamp)
                    .is_some_and(|packet| sys::write(link.requests.as_fd(), &packet).is_ok());
                // A full pipe (EAGAIN) is the compressor catching up with a burst: asked again in a second,
                // not counted, so a burst never pushes a file's next ask back by minutes.
                let next = if sent {
                    Compressed::Waiting { seen, ask_at: now + ask_again_after(asks + 1), asks: asks + 1 }
                } else {
                    Compressed::Waiting { seen, ask_at: now + PIPE_FULL_RETRY, asks }
                };
                *cell.borrow_mut() = next;
            }
            None => *cell.borrow_mut() = Compressed::Waiting { seen, ask_at, asks },
        }
    }

    /// Marks a ready entry used again, at most every [`TOUCH_EVERY`], while the file keeps being served
    /// (called from the once-a-second check of a cached file).
    pub(super) fn touch_compressed(&self, file: &CachedFile, now: Instant) {
        let (Some(cell), Some(link)) = (&file.compressed, &self.link) else { return };
        if let Compressed::Ready { name, touched, forms } = &mut *cell.borrow_mut() {
            if !forms.is_empty() && now.saturating_duration_since(*touched) >= TOUCH_EVERY {
                let _ = sys::touch_at(link.cache_dir.as_fd(), name.as_bytes());
                *touched = now;
            }
        }
    }

    /// Counts forms attached to the entry at `key` against the budgets (evicting others to make room), if
    /// `file` is still what is cached there.
    fn account_attached(&mut self, key: &[u8], file: &Rc<CachedFile>, fds: usize, bytes: usize) {
        while self.fds + fds > self.fd_budget || self.body_bytes + bytes > super::MAX_BODY_BYTES {
            if !self.evict_file() {
                break;
            }
        }
        if let Some(entry) = self.files.get(key).filter(|e| Rc::ptr_eq(&e.file, file)) {
            entry.fds += fds;
            entry.body_bytes += bytes;
            self.fds += fds;
            self.body_bytes += bytes;
        }
    }
}

/// How often a served entry's use time is renewed: eviction is by the day, so minutes are precise enough.
const TOUCH_EVERY: Duration = Duration::from_secs(300);

/// The forms in the entry `name`, if it is there and whole, and when it was last marked used (its mtime).
/// Each form is served with the identity's Last-Modified and an ETag of its own derived from the identity's.
fn load(dir: BorrowedFd<'_>, name: &str, key: u128, file: &CachedFile) -> Option<(Vec<Representation>, i64)> {
    let fd = sys::open_beneath(dir, name.as_bytes(), true).ok()?;
    let info = sys::fstat(fd.as_fd()).ok()?;
    if info.kind != FileKind::Regular {
        return None;
    }
    let mut header = [0u8; entry::HEADER_LEN];
    if sys::pread(fd.as_fd(), &mut header, 0).ok()? != header.len() {
        return None;
    }
    let parts = entry::parse_header(&header, key, info.size)?;
    let fd = Rc::new(fd);
    let mut forms = Vec::new();
    for (coding, part) in CODINGS.into_iter().zip(parts) {
        let Some((offset, len)) = part else { continue };
        let coding = match coding {
            entry::Coding::Brotli => ContentCoding::Brotli,
            entry::Coding::Zstd => ContentCoding::Zstd,
            entry::Coding::Gzip => ContentCoding::Gzip,
        };
        let body = if len <= SMALL_BODY { Some(read_part(fd.as_fd(), offset, len)?) } else { None };
        let info = FileInfo { size: len, ..file.identity.info };
        let etag = etag_of_compressed(&file.identity.info, coding);
        let fd = if body.is_some() { None } else { Some(Rc::clone(&fd)) };
        forms.push(Representation::with(fd, offset, info, etag, body, coding, &file.content_type, true));
    }
    Some((forms, info.mtime_sec))
}

fn read_part(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Option<Box<[u8]>> {
    let mut buf = vec![0u8; len as usize];
    let mut done = 0;
    while done < buf.len() {
        match sys::pread(fd, &mut buf[done..], offset + done as u64) {
            Ok(0) | Err(_) => return None,
            Ok(n) => done += n,
        }
    }
    Some(buf.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_again_backs_off_to_an_hour() {
        assert_eq!(ask_again_after(1), Duration::from_secs(10));
        assert_eq!(ask_again_after(2), Duration::from_secs(20));
        assert_eq!(ask_again_after(4), Duration::from_secs(80));
        assert_eq!(ask_again_after(30), ASK_AGAIN_MAX);
    }
}
