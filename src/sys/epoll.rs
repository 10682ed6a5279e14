//! epoll, the readiness queue both event loops (master and worker) wait on.
//!
//! A registration carries a [`Token`] that the kernel hands back with each event; it is the only way an event
//! says which descriptor it is about. The token is a slot index plus a generation, so a slot reused after its
//! descriptor closed cannot be mistaken for the old one: each loop decides what slots and generations mean,
//! this file only packs them. `wait` is called once per loop turn, so it fills the caller's buffer in place
//! and allocates nothing.

use std::io;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::sys::epoll::{self as nix_epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

pub const EPOLLIN: u32 = EpollFlags::EPOLLIN.bits() as u32;
pub const EPOLLOUT: u32 = EpollFlags::EPOLLOUT.bits() as u32;
pub const EPOLLRDHUP: u32 = EpollFlags::EPOLLRDHUP.bits() as u32;
pub const EPOLLET: u32 = EpollFlags::EPOLLET.bits() as u32;
pub const EPOLLERR: u32 = EpollFlags::EPOLLERR.bits() as u32;
pub const EPOLLHUP: u32 = EpollFlags::EPOLLHUP.bits() as u32;

/// What an epoll registration reports back: a slot index and a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(u64);

impl Token {
    pub const fn new(slot: u32, generation: u32) -> Token {
        Token(((generation as u64) << 32) | slot as u64)
    }

    pub const fn slot(self) -> usize {
        self.0 as u32 as usize
    }

    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// One reported event (a thin wrapper, Copy, no allocation).
///
/// `repr(transparent)` so a buffer of them is a buffer of the kernel's `epoll_event`s, which `wait` relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Event(EpollEvent);

impl Event {
    /// A blank event, to fill a buffer for `wait`.
    pub const EMPTY: Event = Event(EpollEvent::new(EpollFlags::empty(), 0));

    pub fn token(&self) -> Token {
        Token(self.0.data())
    }

    /// The EPOLL* bits that are set.
    pub fn flags(&self) -> u32 {
        self.0.events().bits() as u32
    }
}

pub struct Epoll(nix_epoll::Epoll);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        Ok(Epoll(nix_epoll::Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?))
    }

    pub fn add(&self, fd: BorrowedFd<'_>, events: u32, token: Token) -> io::Result<()> {
        Ok(self.0.add(fd, registration(events, token))?)
    }

    pub fn modify(&self, fd: BorrowedFd<'_>, events: u32, token: Token) -> io::Result<()> {
        Ok(self.0.modify(fd, &mut registration(events, token))?)
    }

    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(self.0.delete(fd)?)
    }

    /// Waits up to `timeout_ms` (negative: forever) for events and returns how many were written to the front
    /// of `events`. EINTR counts as no events.
    pub fn wait(&self, events: &mut [Event], timeout_ms: i32) -> io::Result<usize> {
        // Every negative timeout means "forever" to the kernel; nix accepts only -1 for it.
        let timeout = EpollTimeout::try_from(timeout_ms.max(-1)).map_err(|_| io::Error::from(Errno::EINVAL))?;
        // SAFETY: `Event` is `repr(transparent)` over `EpollEvent`, so the two slice types have the same layout
        // and length; the new slice reborrows `events` exclusively and does not outlive this call.
        let raw = unsafe { std::slice::from_raw_parts_mut(events.as_mut_ptr().cast::<EpollEvent>(), events.len()) };
        match self.0.wait(raw, timeout) {
            Ok(n) => Ok(n),
            Err(Errno::EINTR) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

fn registration(events: u32, token: Token) -> EpollEvent {
    EpollEvent::new(EpollFlags::from_bits_retain(events as i32), token.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn token_round_trip() {
        for (slot, generation) in [(0, 0), (1, 0), (0, 1), (7, 42), (u32::MAX, 0), (0, u32::MAX), (u32::MAX, u32::MAX)]
        {
            let t = Token::new(slot, generation);
            assert_eq!((t.slot(), t.generation()), (slot as usize, generation), "{t:?}");
        }
    }

    #[test]
    fn token_layout_is_generation_over_slot() {
        // The layout the worker's tokens had before they had a type: generation in the high half.
        assert_eq!(Token::new(5, 3).0, (3 << 32) | 5);
        assert_eq!(Token::new(u32::MAX, u32::MAX).0, u64::MAX);
        assert_ne!(Token::new(1, 2), Token::new(2, 1));
    }

    #[test]
    fn flag_constants_match_the_kernel() {
        assert_eq!(EPOLLIN, libc::EPOLLIN as u32);
        assert_eq!(EPOLLOUT, libc::EPOLLOUT as u32);
        assert_eq!(EPOLLRDHUP, libc::EPOLLRDHUP as u32);
        assert_eq!(EPOLLET, libc::EPOLLET as u32);
        assert_eq!(EPOLLERR, libc::EPOLLERR as u32);
        assert_eq!(EPOLLHUP, libc::EPOLLHUP as u32);
    }

    #[test]
    fn reports_token_and_flags() {
        let epoll = Epoll::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let token = Token::new(3, 9);
        epoll.add(a.as_fd(), EPOLLIN | EPOLLET, token).unwrap();
        let mut events = [Event::EMPTY; 4];
        assert_eq!(epoll.wait(&mut events, 0).unwrap(), 0);
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        assert_eq!(epoll.wait(&mut events, 1000).unwrap(), 1);
        assert_eq!(events[0].token(), token);
        assert_ne!(events[0].flags() & EPOLLIN, 0);
        epoll.modify(a.as_fd(), EPOLLOUT, Token::new(4, 1)).unwrap();
        assert_eq!(epoll.wait(&mut events, 1000).unwrap(), 1);
        assert_eq!(events[0].token(), Token::new(4, 1));
        assert_eq!(events[0].flags() & EPOLLIN, 0);
        epoll.delete(a.as_fd()).unwrap();
        assert_eq!(epoll.wait(&mut events, 0).unwrap(), 0);
    }
}
