//! The on-disk format of the compressed-file cache, shared by the compressor (which writes entries) and the
//! workers (which serve them): how an entry is named, and the header that says where each encoding's bytes
//! are.
//!
//! One entry holds every encoding of one version of one file, back to back after a 64-byte header, so a
//! worker finds all of them with one open and holds one descriptor for all of them, and sendfile serves each
//! from its offset. The name is a hash of what identifies the version (its root-relative path, device,
//! inode, size, and mtime and ctime to the nanosecond), so a changed file has a new name and can never be
//! served from an old entry; the header repeats the whole 128-bit hash, so a damaged or foreign file is
//! refused instead of served. A length of zero means that encoding did not pay for that file (it is not sent),
//! so a file that does not compress is remembered as such and not compressed again while its entry stays in
//! the cache (it is evicted by last use like any other).

use xxhash_rust::xxh3::Xxh3;

use crate::sys::FileStamp;

/// The encodings the compressor makes, in the order their bytes follow the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Zstd,
    Gzip,
}

pub const CODINGS: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

impl Coding {
    pub fn index(self) -> usize {
        match self {
            Coding::Brotli => 0,
            Coding::Zstd => 1,
            Coding::Gzip => 2,
        }
    }
}

/// Bumped whenever the format or what the encoders produce changes, so old entries are not mistaken for new.
/// Bumped together with [`ETAG_VERSION`] when the encoders' output changes (`codecs::tests::
/// the_encoders_output_is_pinned` says when).
const FORMAT: &[u8] = b"staticd-compressed-v1\0";
/// Part of every compressed form's strong ETag: the tag promises the same bytes from every server and every
/// build, so a change of what the encoders produce for the same input (a new brotli, zstd or flate2 version,
/// a level) must change the tags too. Bumped together with [`FORMAT`], never one without the other.
pub const ETAG_VERSION: &str = "c1";
pub const MAGIC: [u8; 8] = *b"SDZC0001";
pub const HEADER_LEN: usize = 64;
/// Entry file names end so; anything else in the directory (temporary files) is not an entry.
pub const SUFFIX: &str = ".sdz";
/// Temporary files start so (a dot: never mistaken for an entry, and a crashed writer's leftovers are found).
pub const TEMP_PREFIX: &str = ".tmp-";

/// The 128-bit key of one version of the file at `rel` (root-relative, no leading '/').
pub fn key(rel: &[u8], s: &FileStamp) -> u128 {
    let mut h = Xxh3::new();
    h.update(FORMAT);
    h.update(&(rel.len() as u64).to_le_bytes());
    h.update(rel);
    for n in [s.dev, s.inode, s.size] {
        h.update(&n.to_le_bytes());
    }
    for (sec, nsec) in [s.mtime, s.ctime] {
        h.update(&sec.to_le_bytes());
        h.update(&nsec.to_le_bytes());
    }
    h.digest128()
}

/// The entry's file name in the cache directory: 32 hex digits and [`SUFFIX`].
pub fn name(key: u128) -> String {
    format!("{key:032x}{SUFFIX}")
}

/// The key an entry's file name stands for; None for anything that is not an entry name.
pub fn key_of_name(name: &[u8]) -> Option<u128> {
    let hex = name.strip_suffix(SUFFIX.as_bytes())?;
    if hex.len() != 32 || !hex.iter().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    u128::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// The header of an entry whose encodings are `lens` bytes long (0: that encoding is not kept).
pub fn header(key: u128, lens: [u64; 3]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..24].copy_from_slice(&key.to_le_bytes());
    for (i, len) in lens.iter().enumerate() {
        h[24 + 8 * i..32 + 8 * i].copy_from_slice(&len.to_le_bytes());
    }
    h
}

/// Where each encoding's bytes are in an entry file of `file_size` bytes: (offset, length), None for an
/// encoding that is not kept. None when the header is not one of ours for `key`, or the lengths do not add up
/// to the file's size (a truncated or damaged file).
pub fn parse_header(h: &[u8], key: u128, file_size: u64) -> Option<[Option<(u64, u64)>; 3]> {
    if h.len() < HEADER_LEN || h[..8] != MAGIC || h[8..24] != key.to_le_bytes() || h[48..64] != [0u8; 16] {
        return None;
    }
    let mut parts = [None; 3];
    let mut offset = HEADER_LEN as u64;
    for (i, part) in parts.iter_mut().enumerate() {
        let len = u64::from_le_bytes(h[24 + 8 * i..32 + 8 * i].try_into().ok()?);
        if len > 0 {
            *part = Some((offset, len));
        }
        offset = offset.checked_add(len)?;
    }
    (offset == file_size).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> FileStamp {
        FileStamp { dev: 1, inode: 2, size: 3, mtime: (4, 5), ctime: (6, 7) }
    }

    #[test]
    fn every_part_of_the_stamp_and_the_path_changes_the_key() {
        let base = key(b"a.js", &stamp());
        assert_eq!(base, key(b"a.js", &stamp()), "stable");
        let changed = [
            key(b"b.js", &stamp()),
            key(b"a.js", &FileStamp { dev: 9, ..stamp() }),
            key(b"a.js", &FileStamp { inode: 9, ..stamp() }),
            key(b"a.js", &FileStamp { size: 9, ..stamp() }),
            key(b"a.js", &FileStamp { mtime: (4, 6), ..stamp() }),
            key(b"a.js", &FileStamp { ctime: (7, 7), ..stamp() }),
        ];
        for k in changed {
            assert_ne!(k, base);
        }
        // The hash is of a fixed algorithm, so a cache written by one build is found by the next.
        assert_eq!(name(base), name(key(b"a.js", &stamp())));
    }

    #[test]
    fn names_round_trip_and_nothing_else_is_an_entry() {
        let k = key(b"x", &stamp());
        assert_eq!(key_of_name(name(k).as_bytes()), Some(k));
        for other in [&b".tmp-1-2"[..], b"abc.sdz", b"0123456789ABCDEF0123456789abcdef.sdz", b"x.sdz.tmp"] {
            assert_eq!(key_of_name(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn headers_give_each_encoding_its_place_and_refuse_what_does_not_add_up() {
        let k = 42u128;
        let h = header(k, [10, 0, 20]);
        let parts = parse_header(&h, k, 64 + 30).unwrap();
        assert_eq!(parts, [Some((64, 10)), None, Some((74, 20))]);
        assert_eq!(parse_header(&h, k, 64 + 29), None, "truncated");
        assert_eq!(parse_header(&h, 43, 64 + 30), None, "another key");
        assert_eq!(parse_header(&h[..63], k, 64 + 30), None, "short");
        let mut bad = h;
        bad[0] = b'X';
        assert_eq!(parse_header(&bad, k, 64 + 30), None, "magic");
        let none = header(k, [0, 0, 0]);
        assert_eq!(parse_header(&none, k, 64), Some([None, None, None]), "compresses to nothing worth it");
        let huge = header(k, [u64::MAX, 2, 0]);
        assert_eq!(parse_header(&huge, k, 64), None, "overflow");
    }
}
