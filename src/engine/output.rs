//! A connection's queue of response bytes waiting to go out: memory segments and file regions.
//!
//! Small responses to pipelined requests are appended to the same memory segment, so many responses leave in
//! one `send`; a file body is a region sent with `sendfile` after its head (sent with MSG_MORE so head and body
//! share packets). Memory segments are recycled through a small per-worker pool.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use crate::sys;

/// A memory segment grows by coalescing only up to this size; past it a new one starts.
const COALESCE_LIMIT: usize = 64 * 1024;

/// Largest single sendfile call (the kernel caps one call near 2 GiB anyway).
const MAX_SENDFILE: u64 = 1 << 30;

enum Segment {
    Mem { buf: Vec<u8>, pos: usize },
    File { file: Rc<OwnedFd>, offset: u64, end: u64 },
}

/// Why a flush stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything queued has been handed to the kernel.
    Done,
    /// The socket buffer is full: wait for EPOLLOUT.
    WouldBlock,
    /// The per-wakeup budget is used up: let other connections run, then continue.
    Budget,
}

#[derive(Default)]
pub struct Output {
    segments: VecDeque<Segment>,
    /// Bytes queued and not yet sent.
    pending: u64,
    /// File regions queued (checked before every pipelined request, so counted rather than searched).
    files: usize,
    /// Bytes ever queued and ever sent on this connection: positions in its output stream, by which the
    /// access log knows when a response has left whole.
    queued_total: u64,
    sent_total: u64,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Bytes queued since the connection began (the position the next response starts at).
    pub fn queued_total(&self) -> u64 {
        self.queued_total
    }

    /// Bytes handed to the kernel since the connection began.
    pub fn sent_total(&self) -> u64 {
        self.sent_total
    }

    /// True when a file region is queued: no point parsing more pipelined requests until it has gone.
    pub fn has_file(&self) -> bool {
        self.files > 0
    }

    /// Appends to the memory tail whatever `write` adds (a head, a small body, a boundary) and counts it, so
    /// no caller has to measure what it wrote.
    pub fn append(&mut self, pool: &mut Vec<Vec<u8>>, write: impl FnOnce(&mut Vec<u8>)) {
        let buf = self.mem_tail(pool);
        let before = buf.len();
        write(buf);
        let added = buf.len() - before;
        self.pending += added as u64;
        self.queued_total += added as u64;
    }

    /// The memory buffer at the tail, started (from the pool) when the tail is a file or a full buffer.
    fn mem_tail(&mut self, pool: &mut Vec<Vec<u8>>) -> &mut Vec<u8> {
        let reuse = matches!(self.segments.back(), Some(Segment::Mem { buf, .. }) if buf.len() < COALESCE_LIMIT);
        if !reuse {
            let buf = pool.pop().unwrap_or_else(|| Vec::with_capacity(4096));
            self.segments.push_back(Segment::Mem { buf, pos: 0 });
        }
        match self.segments.back_mut() {
            Some(Segment::Mem { buf, .. }) => buf,
            _ => unreachable!("a memory segment was just ensured at the tail"),
        }
    }

    pub fn push_file(&mut self, file: Rc<OwnedFd>, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        self.segments.push_back(Segment::File { file, offset, end: offset + len });
        self.files += 1;
        self.pending += len;
        self.queued_total += len;
    }

    /// Sends queued bytes until done, EAGAIN, or `budget` bytes. Returns bytes sent and why it stopped.
    /// A file that ends before its region does (it shrank while being sent) is an error: the response can no
    /// longer be completed as promised.
    pub fn flush(&mut self, sock: BorrowedFd<'_>, budget: u64, pool: &mut Vec<Vec<u8>>) -> io::Result<(u64, Flush)> {
        let mut sent = 0u64;
        loop {
            if sent >= budget {
                return Ok((sent, Flush::Budget));
            }
            let file_next = matches!(self.segments.get(1), Some(Segment::File { .. }));
            let result = match self.segments.front_mut() {
                None => return Ok((sent, Flush::Done)),
                Some(Segment::Mem { buf, pos }) => {
                    // MSG_MORE only when a file region follows: pipelined memory responses are already merged.
                    sys::send(sock, &buf[*pos..], file_next).map(|n| {
                        *pos += n;
                        (n, *pos == buf.len())
                    })
                }
                Some(Segment::File { file, offset, end }) => {
                    let want = (*end - *offset).min(budget - sent).min(MAX_SENDFILE) as usize;
                    match sys::sendfile(sock, file.as_fd(), offset, want) {
                        Ok(0) => {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"))
                        }
                        Ok(n) => Ok((n, *offset >= *end)),
                        Err(e) => Err(e),
                    }
                }
            };
            let result = result.map(|(n, segment_done)| {
                if segment_done {
                    match self.segments.pop_front() {
                        Some(Segment::Mem { buf, .. }) => recycle(buf, pool),
                        Some(Segment::File { .. }) => self.files -= 1,
                        None => {}
                    }
                }
                n
            });
            match result {
                Ok(n) => {
                    sent += n as u64;
                    self.pending -= n as u64;
                    self.sent_total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((sent, Flush::WouldBlock)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops everything queued (the connection is going away), recycling memory.
    pub fn clear(&mut self, pool: &mut Vec<Vec<u8>>) {
        while let Some(seg) = self.segments.pop_front() {
            if let Segment::Mem { buf, .. } = seg {
                recycle(buf, pool);
            }
        }
        self.pending = 0;
        self.files = 0;
    }
}

/// Most buffers a worker keeps for reuse; more would only hold memory after a burst.
const POOL_MAX: usize = 256;

pub fn recycle(mut buf: Vec<u8>, pool: &mut Vec<Vec<u8>>) {
    if pool.len() < POOL_MAX && buf.capacity() <= 2 * COALESCE_LIMIT {
        buf.clear();
        pool.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn temp_file(name: &str, data: &[u8]) -> (std::path::PathBuf, Rc<OwnedFd>) {
        let path = std::env::temp_dir().join(format!("staticd-output-{}-{name}", std::process::id()));
        std::fs::File::create(&path).unwrap().write_all(data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        (path, Rc::new(OwnedFd::from(file)))
    }

    fn drain(peer: &mut UnixStream) -> Vec<u8> {
        peer.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match peer.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        got
    }

    #[test]
    fn memory_and_file_segments_leave_in_order() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let (path, file) = temp_file("order", b"0123456789");
        let mut pool = Vec::new();
        let mut out = Output::default();
        out.append(&mut pool, |b| b.extend_from_slice(b"head1;"));
        out.append(&mut pool, |b| b.extend_from_slice(b"head2;"));
        out.push_file(Rc::clone(&file), 2, 5);
        out.append(&mut pool, |b| b.extend_from_slice(b";tail"));
        assert_eq!(out.pending(), 22);
        assert!(out.has_file());
        let (sent, why) = out.flush(ours.as_fd(), u64::MAX, &mut pool).unwrap();
        assert_eq!((sent, why), (22, Flush::Done));
        assert!(out.is_empty() && !out.has_file());
        assert_eq!(drain(&mut peer), b"head1;head2;23456;tail");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn the_budget_bounds_one_flush() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let data = vec![7u8; 100_000];
        let (path, file) = temp_file("budget", &data);
        let mut pool = Vec::new();
        let mut out = Output::default();
        out.push_file(file, 0, data.len() as u64);
        let (sent, why) = out.flush(ours.as_fd(), 10_000, &mut pool).unwrap();
        assert!(sent >= 10_000 && why == Flush::Budget, "sent {sent}, {why:?}");
        assert_eq!(out.pending(), data.len() as u64 - sent);
        let mut total = drain(&mut peer).len() as u64;
        while !out.is_empty() {
            let (n, _) = out.flush(ours.as_fd(), 10_000, &mut pool).unwrap();
            total += n;
            drain(&mut peer);
        }
        assert_eq!(total, data.len() as u64);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_file_that_shrank_is_an_error_not_a_hang() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        let (path, file) = temp_file("shrink", b"short");
        let mut pool = Vec::new();
        let mut out = Output::default();
        // The response promised 100 bytes; the file has 5.
        out.push_file(file, 0, 100);
        let err = out.flush(ours.as_fd(), u64::MAX, &mut pool).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_full_socket_says_would_block() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut pool = Vec::new();
        let mut out = Output::default();
        let big = vec![1u8; 8 * 1024 * 1024];
        out.append(&mut pool, |b| b.extend_from_slice(&big));
        let (sent, why) = out.flush(ours.as_fd(), u64::MAX, &mut pool).unwrap();
        assert_eq!(why, Flush::WouldBlock);
        assert_eq!(out.pending(), big.len() as u64 - sent);
        out.clear(&mut pool);
        assert!(out.is_empty() && out.pending() == 0);
    }
}
