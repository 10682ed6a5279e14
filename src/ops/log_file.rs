//! A worker's access-log writer: whole lines, buffered, appended with single writes.
//!
//! Lines are formatted into a buffer and written when it reaches 64 KiB, once a second, when the file is
//! replaced (USR1), and when the worker exits, so none is lost on QUIT/TERM. The file is opened with O_APPEND,
//! so each write lands whole at the end even with several workers writing; on a pipe (stdout under a service
//! manager) only writes of at most PIPE_BUF bytes are atomic, so there the buffer is cut at line boundaries
//! into pieces of at most 4 KiB.
//!
//! A regular file can take a short write (the disk fills up: ENOSPC after part of the buffer). The bytes
//! written may end mid-line, and the next record would then be glued onto that torn fragment, one line mixing
//! two requests. We do not truncate the fragment away: other workers append to the same file, so by the time
//! we could `ftruncate` someone else's lines may follow ours, and "the file still ends where our write ended"
//! cannot be checked and acted on atomically. Instead a write that would follow a fragment starts with a
//! newline, which ends the fragment as a (garbage) line of its own; every other line stays whole.
//!
//! The fragment may be another worker's, so a per-worker "my last write was cut" flag is not enough: before
//! each write to a regular file we read the file's last byte (an fstat and a one-byte pread, at most once per
//! 64 KiB flush or per second; the file is opened read-write for it when permitted, and a write-only one falls
//! back to remembering whether our own last write was cut). A last byte that is not a newline is believed only
//! if it stays so for a couple of milliseconds, since another worker's write in progress looks the same (see
//! `ends_mid_line`). What is left: a window of microseconds between that read and our write in which another
//! worker's write would have to be cut (two workers hitting a full disk at the same instant), and, the other
//! way, a blank line if another worker's write stalls midway for longer than the looks; both far rarer than
//! the merged line they replace.
//!
//! The rest of a cut write is not retried as-is (it would resume mid-line, possibly after another worker's
//! lines) but from the next line start, behind a newline; when that write fails too (the disk is still full)
//! the lines are dropped. Every line not written whole, the fragment included, counts as dropped, in the
//! worker's `staticd_access_log_dropped_lines_total`, and is reported in one error line per flush.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::ops::access_log::{self, LogFormat, Record};
use crate::sys;

const FLUSH_AT: usize = 64 * 1024;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const PIPE_BUF: usize = 4096;

pub struct AccessLog {
    fd: OwnedFd,
    format: LogFormat,
    buf: Vec<u8>,
    /// Not a regular file: writes must stay within PIPE_BUF to be atomic.
    pipe_like: bool,
    last_flush: Instant,
    /// Our last write stopped mid-line: used only when the file's last byte cannot be read (write-only).
    torn: bool,
    /// The worker's count of lines not written whole, in shared memory.
    dropped: &'static AtomicU64,
}

impl AccessLog {
    pub fn new(fd: OwnedFd, format: LogFormat, now: Instant, dropped: &'static AtomicU64) -> AccessLog {
        let pipe_like = !is_regular(&fd);
        AccessLog {
            fd,
            format,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            pipe_like,
            last_flush: now,
            torn: false,
            dropped,
        }
    }

    pub fn record(&mut self, rec: &Record<'_>) {
        access_log::write_record(&mut self.buf, self.format, rec);
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// The periodic flush, from the event loop.
    pub fn tick(&mut self, now: Instant) {
        if !self.buf.is_empty() && now.saturating_duration_since(self.last_flush) >= FLUSH_EVERY {
            self.flush();
            self.last_flush = now;
        }
    }

    /// Writes out what is buffered to the current file, then switches to `fd`.
    pub fn replace(&mut self, fd: OwnedFd) {
        self.flush();
        self.pipe_like = !is_regular(&fd);
        self.fd = fd;
        self.torn = false;
    }

    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let (dropped, error) = if self.pipe_like {
            flush_pipe(&self.fd, &self.buf)
        } else {
            let fd = &self.fd;
            self.torn = ends_mid_line(fd).unwrap_or(self.torn);
            flush_file(&mut |bytes| sys::write(fd.as_fd(), bytes), &self.buf, &mut self.torn)
        };
        if dropped > 0 {
            // This worker is the counter's only writer (see `shm`): a plain load and store, no locked add.
            self.dropped.store(self.dropped.load(Relaxed).wrapping_add(dropped), Relaxed);
            let why = error.map_or_else(|| "short write".to_owned(), |e| e.to_string());
            log::error!("access log write failed: {why}; {dropped} log lines dropped");
        }
        self.buf.clear();
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Writes whole lines to a pipe in atomic pieces; returns the lines dropped and the error that dropped them.
fn flush_pipe(fd: &OwnedFd, buf: &[u8]) -> (u64, Option<io::Error>) {
    let mut start = 0;
    while start < buf.len() {
        let end = cut_at_line(buf, start, PIPE_BUF);
        match write_all(fd, &buf[start..end]) {
            Ok(()) => start = end,
            Err(e) => return (count_lines(&buf[start..]), Some(e)),
        }
    }
    (0, None)
}

/// Appends `buf` (whole lines) to a regular file through `write`, so that the file never ends mid-line before
/// a line of ours: `torn` says the file ends mid-line now, and is kept up to date as the writes land; while it
/// is set the next write starts with a newline. Returns the lines
/// not written whole and the error that stopped the flush, if any.
fn flush_file(
    write: &mut dyn FnMut(&[u8]) -> io::Result<usize>,
    buf: &[u8],
    torn: &mut bool,
) -> (u64, Option<io::Error>) {
    let mut start = 0;
    let mut dropped = 0;
    // Only built when a newline must go first; a copy is cheap next to a disk that just filled up.
    let mut joined = Vec::new();
    while start < buf.len() {
        let rest = &buf[start..];
        let (bytes, lead) = if *torn {
            joined.clear();
            joined.push(b'\n');
            joined.extend_from_slice(rest);
            (&joined[..], 1)
        } else {
            (rest, 0)
        };
        let n = match write(bytes) {
            Ok(0) => return (dropped + count_lines(rest), Some(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (dropped + count_lines(rest), Some(e)),
        };
        // The file now ends with bytes[..n]. On a short write, the line it stopped in is lost, and the lines
        // after it are tried again (behind a newline if the cut fell mid-line): the disk may have room again.
        *torn = bytes[n - 1] != b'\n';
        let cut_at = start + n.saturating_sub(lead);
        start = if *torn {
            dropped += 1;
            memchr::memchr(b'\n', &buf[cut_at..]).map_or(buf.len(), |i| cut_at + i + 1)
        } else {
            cut_at
        };
    }
    (dropped, None)
}

/// Whether the file's last byte is not a newline: a cut write (ours or another worker's) left a fragment there.
/// `None` when it cannot be read (a log file opened write-only).
///
/// Another worker's write in progress also shows a last byte that is not a newline (the size grows page by
/// page while the write copies, and a read does not wait for it); taking that for a fragment would add a blank
/// line. A fragment does not change, so it is believed only when the size and last byte stay the same across
/// three looks 1 ms apart; the sleeps happen only when the file looks torn, which is rare.
fn ends_mid_line(fd: &OwnedFd) -> Option<bool> {
    let mut seen = None;
    for look in 0..3 {
        if look > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let size = sys::fstat(fd.as_fd()).ok()?.size;
        if size == 0 {
            return Some(false);
        }
        let mut last = [0u8; 1];
        match sys::pread(fd.as_fd(), &mut last, size - 1) {
            Ok(1) if last[0] == b'\n' => return Some(false),
            Ok(1) if seen.is_none_or(|s| s == size) => seen = Some(size),
            // Still growing: a write in progress, which ends with its own newline.
            Ok(1) => return Some(false),
            _ => return None,
        }
    }
    Some(true)
}

fn count_lines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// The end of the longest run of whole lines from `start` that fits in `limit` bytes (or one whole line when a
/// single line is longer).
fn cut_at_line(buf: &[u8], start: usize, limit: usize) -> usize {
    let window_end = (start + limit).min(buf.len());
    if window_end == buf.len() {
        return window_end;
    }
    match memchr::memrchr(b'\n', &buf[start..window_end]) {
        Some(i) => start + i + 1,
        None => memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i + 1),
    }
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match sys::write(fd.as_fd(), bytes) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // A non-blocking pipe that is full: wait briefly rather than drop lines.
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn is_regular(fd: &OwnedFd) -> bool {
    sys::fstat(fd.as_fd()).map(|i| i.kind == sys::FileKind::Regular).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that takes at most the next entry of `room` bytes per write (`None`: ENOSPC), as a filling and
    /// freed disk does.
    struct FakeFile {
        data: Vec<u8>,
        room: Vec<Option<usize>>,
    }

    impl FakeFile {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let room = if self.room.is_empty() { Some(usize::MAX) } else { self.room.remove(0) };
            let n = room.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSPC))?.min(bytes.len());
            self.data.extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn flush(&mut self, buf: &[u8], torn: &mut bool) -> u64 {
            // As `AccessLog::flush` does, from the file itself.
            *torn = !self.data.is_empty() && !self.data.ends_with(b"\n");
            flush_file(&mut |b| self.write(b), buf, torn).0
        }
    }

    fn lines(n: std::ops::Range<usize>) -> Vec<u8> {
        n.map(|i| format!("request {i:03} complete\n")).collect::<String>().into_bytes()
    }

    /// Every line in the file is either one of ours, whole, or a fragment with no newline inside it, and no
    /// line holds two requests.
    fn assert_never_merged(data: &[u8]) {
        assert!(data.is_empty() || data.ends_with(b"\n"), "file ends mid-line: {:?}", String::from_utf8_lossy(data));
        for line in data.split(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            assert!(text.matches("request").count() <= 1, "two requests in one line: {text:?}");
        }
    }

    #[test]
    fn a_write_cut_by_a_full_disk_is_ended_by_the_next_one() {
        // 10 lines of 21 bytes; the disk takes 50 bytes (two lines and 8 bytes of a third), then is full.
        let mut f = FakeFile { data: Vec::new(), room: vec![Some(50), None] };
        let mut torn = false;
        assert_eq!(f.flush(&lines(0..10), &mut torn), 10 - 2);
        assert!(torn, "the cut fell mid-line");
        assert_eq!(f.data, b"request 000 complete\nrequest 001 complete\nrequest ".to_vec());
        // Space is freed: the next flush starts with a newline and lands whole.
        assert_eq!(f.flush(&lines(10..12), &mut torn), 0);
        assert!(!torn);
        assert_eq!(
            f.data,
            b"request 000 complete\nrequest 001 complete\nrequest \nrequest 010 complete\nrequest 011 complete\n"
                .to_vec()
        );
        assert_never_merged(&f.data);
    }

    #[test]
    fn after_a_transient_short_write_the_remaining_lines_still_land() {
        // 30 bytes, then room for everything: only the cut line is lost.
        let mut f = FakeFile { data: Vec::new(), room: vec![Some(30)] };
        let mut torn = false;
        assert_eq!(f.flush(&lines(0..4), &mut torn), 1);
        assert!(!torn);
        let want = b"request 000 complete\nrequest 0\nrequest 002 complete\nrequest 003 complete\n".to_vec();
        assert_eq!(f.data, want);
        assert_never_merged(&f.data);
    }

    #[test]
    fn a_cut_on_a_line_end_needs_no_newline() {
        let mut f = FakeFile { data: Vec::new(), room: vec![Some(42), None] };
        let mut torn = false;
        assert_eq!(f.flush(&lines(0..3), &mut torn), 1);
        assert!(!torn);
        assert_eq!(f.flush(&lines(3..4), &mut torn), 0);
        assert_eq!(f.data, lines(0..2).into_iter().chain(lines(3..4)).collect::<Vec<u8>>());
    }

    #[test]
    fn only_the_leading_newline_fits_then_the_disk_is_full_again() {
        let mut f = FakeFile { data: Vec::new(), room: vec![Some(5), None, Some(1), None] };
        let mut torn = false;
        assert_eq!(f.flush(&lines(0..2), &mut torn), 2);
        assert!(torn);
        // The newline ends the fragment; the lines themselves find no room and are dropped, nothing is torn.
        assert_eq!(f.flush(&lines(2..5), &mut torn), 3);
        assert!(!torn);
        assert_eq!(f.data, b"reque\n".to_vec());
        // Many cut writes in a row never merge two requests.
        let mut f =
            FakeFile { data: Vec::new(), room: vec![Some(7), Some(9), None, Some(3), Some(30), None, Some(13)] };
        let mut torn = false;
        for batch in 0..6 {
            f.flush(&lines(batch * 5..batch * 5 + 5), &mut torn);
        }
        assert_never_merged(&f.data);
    }

    #[test]
    fn cuts_fall_on_line_ends() {
        let buf = b"aaaa\nbbbb\ncccc\n";
        assert_eq!(cut_at_line(buf, 0, 100), buf.len());
        assert_eq!(cut_at_line(buf, 0, 12), 10);
        assert_eq!(cut_at_line(buf, 5, 5), 10);
        // A single line longer than the limit is still written whole.
        assert_eq!(cut_at_line(b"aaaaaaaa\nb\n", 0, 4), 9);
        assert_eq!(cut_at_line(b"aaaaaaaa", 0, 4), 8);
    }
}
