//! The packet-mode pipe the workers send compression requests down (`compress::request`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{self, OFlag};
use nix::unistd;

/// A pipe in packet mode (`O_DIRECT`): every write of at most PIPE_BUF bytes is one packet, written whole
/// and read whole, so many writers can share it. Returns (read end, write end); the write end is
/// non-blocking, so a worker never waits on a full pipe (its request is dropped and asked again later).
///
/// Each packet takes a whole buffer slot, so the default 64 KiB pipe holds only 16 of them: the pipe is
/// grown to [`PACKET_PIPE_BYTES`] (256 packets), or as far as the system allows.
pub fn packet_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = unistd::pipe2(OFlag::O_DIRECT | OFlag::O_CLOEXEC)?;
    super::socket::set_nonblocking(write.as_fd())?;
    // Unprivileged processes may grow a pipe up to /proc/sys/fs/pipe-max-size (1 MiB by default); a smaller
    // limit leaves the default size, which still works, with fewer requests in flight.
    let _ = fcntl::fcntl(write.as_fd(), fcntl::FcntlArg::F_SETPIPE_SZ(PACKET_PIPE_BYTES));
    Ok((read, write))
}

/// The size the request pipe is grown to.
pub const PACKET_PIPE_BYTES: i32 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_holds_hundreds_of_packets_each_read_whole() {
        let (read, write) = packet_pipe().unwrap();
        let mut sent = 0;
        while crate::sys::write(write.as_fd(), &[sent as u8; 100]).is_ok() {
            sent += 1;
            assert!(sent < 10_000, "never full");
        }
        assert!(sent >= 200, "only {sent} packets fit");
        let mut buf = [0u8; 4096];
        assert_eq!(crate::sys::read(read.as_fd(), &mut buf).unwrap(), 100, "one packet per read");
        assert_eq!(buf[0], 0);
        assert_eq!(crate::sys::read(read.as_fd(), &mut buf).unwrap(), 100);
        assert_eq!(buf[0], 1);
    }
}
