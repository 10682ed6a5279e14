//! The packet-mode pipe the workers send compression requests down (`compress::request`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::unistd;

/// A pipe in packet mode (`O_DIRECT`): every write of at most PIPE_BUF bytes is one packet, written whole
/// and read whole, so many writers can share it. Returns (read end, write end); the write end is
/// non-blocking, so a worker never waits on a full pipe (its request is dropped and asked again later).
pub fn packet_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = unistd::pipe2(OFlag::O_DIRECT | OFlag::O_CLOEXEC)?;
    super::socket::set_nonblocking(write.as_fd())?;
    Ok((read, write))
}
