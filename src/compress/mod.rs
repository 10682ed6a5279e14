//! Compression done once per file version, outside the workers' event loops, into a bounded cache of files
//! that workers serve exactly like originals (sendfile, ranges, validators).
//!
//! The pieces: a worker that sees a request for a compressible file whose compressed forms are not in the
//! cache yet answers with the identity at once and sends a [`request`] down a shared packet pipe; the
//! compressor process (`process.rs`, forked and supervised by the master, unprivileged and chrooted like a
//! worker, niced) reads the file, makes br, zstd and gzip (`codecs.rs`), and writes one [`entry`] per file
//! version into the cache directory (`store.rs`: atomic rename, least recently used out first to stay within
//! `--compress-cache-size`), then bumps a counter in shared memory; workers waiting for that file look again.
//!
//! A separate process rather than a thread pool in each worker: the cache is bounded by one owner that knows
//! its size, two workers asking for one file cause one compression, the concurrency bound holds for the
//! machine rather than per worker, a codec's crash or memory use cannot take a worker's connections with it,
//! and nice applies to the whole process. The workers stay single-threaded.

pub mod codecs;
pub mod entry;
pub mod process;
pub mod request;
mod store;

use std::os::fd::OwnedFd;

/// What a worker holds to use the compressed-file cache: the cache directory (opened by the master before
/// any chroot; entries are opened beneath it) and the write end of the request pipe.
#[derive(Debug)]
pub struct CompressLink {
    pub cache_dir: OwnedFd,
    pub requests: OwnedFd,
}
