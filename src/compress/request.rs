//! What a worker asks of the compressor: "compress this version of this file". One request is one packet on
//! a pipe opened in packet mode (`O_DIRECT`), which every worker writes and the compressor reads: a write of
//! at most `PIPE_BUF` bytes is atomic and a read returns exactly one packet, so requests from many workers
//! never interleave and need no framing beyond their own layout.
//!
//! The stamp travels with the path so the compressor compresses exactly the version the worker saw, and
//! drops the request when the file has changed since (the worker will ask again for the new version).

use crate::sys::FileStamp;

/// Atomic pipe writes are guaranteed up to this size (POSIX PIPE_BUF, 4096 on Linux).
pub const MAX_REQUEST: usize = 4096;
const TAG: [u8; 4] = *b"SDZ1";
/// Tag, dev, inode, size, mtime (sec, nsec), ctime (sec, nsec): 4 + 7 × 8 bytes.
const FIXED: usize = 4 + 7 * 8;
/// The longest root-relative path a request can carry; a longer one is simply not compressed.
pub const MAX_PATH: usize = MAX_REQUEST - FIXED;

/// One request, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Root-relative path, no leading '/'.
    pub rel: Vec<u8>,
    pub stamp: FileStamp,
}

/// The packet for a request; None when the path is too long to fit in one atomic write.
pub fn encode(rel: &[u8], s: &FileStamp) -> Option<Vec<u8>> {
    if rel.len() > MAX_PATH {
        return None;
    }
    let mut out = Vec::with_capacity(FIXED + rel.len());
    out.extend_from_slice(&TAG);
    for n in [s.dev, s.inode, s.size] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for n in [s.mtime.0, s.mtime.1, s.ctime.0, s.ctime.1] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(rel);
    Some(out)
}

/// Decodes one packet; None for anything malformed (it is dropped).
pub fn decode(packet: &[u8]) -> Option<Request> {
    if packet.len() < FIXED || packet[..4] != TAG {
        return None;
    }
    let word = |i: usize| -> [u8; 8] {
        let at = 4 + 8 * i;
        packet[at..at + 8].try_into().unwrap_or_default()
    };
    let u = |i| u64::from_le_bytes(word(i));
    let s = |i| i64::from_le_bytes(word(i));
    let rel = packet[FIXED..].to_vec();
    if rel.is_empty() || rel.contains(&0) {
        return None;
    }
    Some(Request {
        rel,
        stamp: FileStamp { dev: u(0), inode: u(1), size: u(2), mtime: (s(3), s(4)), ctime: (s(5), s(6)) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_malformed_packets_are_dropped() {
        let stamp = FileStamp { dev: 1, inode: u64::MAX, size: 3, mtime: (-4, 5), ctime: (6, 999_999_999) };
        let packet = encode(b"js/app.js", &stamp).unwrap();
        assert_eq!(decode(&packet), Some(Request { rel: b"js/app.js".to_vec(), stamp }));
        assert_eq!(decode(&packet[..FIXED]), None, "no path");
        assert_eq!(decode(&packet[..10]), None, "short");
        let mut bad = packet.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), None);
        let mut nul = packet;
        nul.push(0);
        assert_eq!(decode(&nul), None);
        assert!(encode(&vec![b'a'; MAX_PATH], &stamp).is_some_and(|p| p.len() == MAX_REQUEST));
        assert_eq!(encode(&vec![b'a'; MAX_PATH + 1], &stamp), None);
    }
}
