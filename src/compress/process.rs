//! PLACEHOLDER for the compressor process (replaced at merge by the real one from the compressor branch): the
//! entry point with its final API, so the master can fork and supervise it. It only reads the request pipe
//! until every writer has closed it.

use std::os::fd::{AsFd, OwnedFd};

use crate::sys;

/// What the master hands the compressor it forks.
pub struct CompressorArgs {
    pub cfg: crate::config::Config,
    pub cache_dir: OwnedFd,
    /// The read end of the request pipe.
    pub requests: OwnedFd,
    pub shm: crate::shm::Shm,
}

/// Runs the compressor to completion (in the forked child) and returns its exit code.
pub fn run(args: CompressorArgs) -> i32 {
    let mut packet = [0u8; 4096];
    loop {
        match sys::read(args.requests.as_fd(), &mut packet) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return 1,
        }
    }
}
