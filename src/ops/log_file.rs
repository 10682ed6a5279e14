//! A worker's access-log writer: whole lines, buffered, appended with single writes.
//!
//! Lines are formatted into a buffer and written when it reaches 64 KiB, once a second, when the file is
//! replaced (USR1), and when the worker exits, so none is lost on QUIT/TERM. The file is opened with O_APPEND,
//! so each write lands whole at the end even with several workers writing; on a pipe (stdout under a service
//! manager) only writes of at most PIPE_BUF bytes are atomic, so there the buffer is cut at line boundaries
//! into pieces of at most 4 KiB.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
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
}

impl AccessLog {
    pub fn new(fd: OwnedFd, format: LogFormat, now: Instant) -> AccessLog {
        let pipe_like = !is_regular(&fd);
        AccessLog { fd, format, buf: Vec::with_capacity(FLUSH_AT + 4096), pipe_like, last_flush: now }
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
    }

    pub fn flush(&mut self) {
        let mut start = 0;
        while start < self.buf.len() {
            let end = if self.pipe_like { cut_at_line(&self.buf, start, PIPE_BUF) } else { self.buf.len() };
            match write_all(&self.fd, &self.buf[start..end]) {
                Ok(()) => start = end,
                Err(e) => {
                    log::error!("access log write failed: {e}; {} bytes of log lines dropped", self.buf.len() - start);
                    break;
                }
            }
        }
        self.buf.clear();
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
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
