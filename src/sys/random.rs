//! Random bytes from the kernel, for multipart boundaries and the names of temporary files.
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

/// `bytes` random bytes as lower-case hex (twice as many digits), for names and boundaries.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut raw = vec![0u8; bytes];
    random_bytes(&mut raw)?;
    let mut out = String::with_capacity(2 * bytes);
    for b in raw {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(out)
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

    #[test]
    fn hex_has_two_lower_case_digits_a_byte() {
        let h = random_hex(8).unwrap();
        assert_eq!(h.len(), 16);
        assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{h}");
        assert_ne!(h, random_hex(8).unwrap());
    }
}
