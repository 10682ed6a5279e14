//! The anonymous shared mapping that holds the workers' statistics (see `shm`).
//!
//! It has no name, so nothing can outlive the server: it disappears with the last process that maps it.

use std::io;
use std::num::NonZeroUsize;

use nix::errno::Errno;
use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};

/// A zero-filled, readable and writable MAP_SHARED mapping of `len` bytes, kept across fork and never unmapped.
pub fn map_shared_anonymous(len: usize) -> io::Result<*mut u8> {
    let len = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    // SAFETY: with no address hint and no MAP_FIXED the kernel picks fresh pages, so the mapping aliases no
    // memory this process already uses; the caller receives a raw pointer and owns how it is accessed.
    let p = unsafe { mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED) }?;
    Ok(p.as_ptr().cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_zeroed_and_page_aligned() {
        let p = map_shared_anonymous(4096).unwrap();
        assert_eq!(p as usize % 4096, 0);
        // SAFETY: the mapping is 4096 readable bytes, just made and not shared with anything yet.
        let bytes = unsafe { std::slice::from_raw_parts(p, 4096) };
        assert!(bytes.iter().all(|&b| b == 0));
        assert!(map_shared_anonymous(0).is_err());
    }
}
