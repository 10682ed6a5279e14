//! Random bytes from the kernel, for multipart boundaries.
//!
//! Raw libc: nix has no getrandom wrapper, and a chrooted worker has no /dev/urandom to read instead.

use std::io;

use nix::errno::Errno;

/// Fills `buf` with random bytes (getrandom never blocks once the pool is initialised).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: `buf` is writable for `buf.len()` bytes and lives for the call; getrandom writes only there.
    let n = Errno::result(unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    if (n as usize) < buf.len() {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_buffer() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        random_bytes(&mut a).unwrap();
        random_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        random_bytes(&mut []).unwrap();
    }
}
