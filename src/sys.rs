//! The only module that talks to libc directly.
//!
//! Every system call the server makes goes through a small safe wrapper here, so the rest of the code deals in
//! `OwnedFd`, `io::Result` and plain Rust types. Each `unsafe` block says why it is sound; everything that can fail
//! returns `io::Error` built from `errno` by the `syscall!` macro.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

/// Runs a libc call and turns its `-1` return into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: every caller passes arguments that satisfy the documented contract of `$fn` (valid fds, live
        // buffers of the stated length); the macro only checks the return value.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// Takes ownership of a descriptor a syscall just returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel as a new descriptor and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

// ---------------------------------------------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------------------------------------------

/// A socket address in the kernel's layout, for bind/accept/getsockname.
struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn empty() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid (unspecified) value.
        let storage = unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() };
        RawAddr { storage, len: size_of::<libc::sockaddr_storage>() as libc::socklen_t }
    }

    fn from_socket_addr(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
                unsafe { ptr::write(&mut raw.storage as *mut _ as *mut libc::sockaddr_in, sin) };
                raw.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
                unsafe { ptr::write(&mut raw.storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                raw.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    fn to_socket_addr(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    syscall!(setsockopt(
        fd,
        level,
        name,
        &value as *const libc::c_int as *const libc::c_void,
        size_of::<libc::c_int>() as libc::socklen_t
    ))?;
    Ok(())
}

/// A non-blocking TCP listener bound to `addr` with SO_REUSEADDR and the given backlog.
pub fn tcp_listener(addr: &SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = owned(syscall!(socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0))?);
    setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        // One listener per address family: `[::]:80` must not silently take the IPv4 port too.
        setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let raw = RawAddr::from_socket_addr(addr);
    syscall!(bind(fd.as_raw_fd(), &raw.storage as *const _ as *const libc::sockaddr, raw.len))?;
    syscall!(listen(fd.as_raw_fd(), backlog))?;
    // Accepted sockets inherit TCP_NODELAY from the listener, saving a setsockopt per connection. Responses
    // are written whole, so Nagle's delay would only add latency.
    setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    Ok(fd)
}

/// Sets TCP_NODELAY (on a listener, accepted sockets inherit it).
pub fn set_nodelay(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Makes a descriptor non-blocking (sockets handed over by systemd may not be).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = syscall!(fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
    syscall!(fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    Ok(())
}

/// True for a Unix-domain socket (its connections have no IP peer).
pub fn is_unix_socket(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut raw = RawAddr::empty();
    syscall!(getsockname(fd.as_raw_fd(), &mut raw.storage as *mut _ as *mut libc::sockaddr, &mut raw.len))?;
    Ok(raw.storage.ss_family as libc::c_int == libc::AF_UNIX)
}

/// The address a socket is bound to (to learn the port the kernel picked for port 0).
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let mut raw = RawAddr::empty();
    syscall!(getsockname(fd.as_raw_fd(), &mut raw.storage as *mut _ as *mut libc::sockaddr, &mut raw.len))?;
    raw.to_socket_addr().ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))
}

/// Accepts one connection, non-blocking and close-on-exec, with the peer's address when it has one (TCP).
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
    let mut raw = RawAddr::empty();
    let fd = syscall!(accept4(
        listener.as_raw_fd(),
        &mut raw.storage as *mut _ as *mut libc::sockaddr,
        &mut raw.len,
        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
    ))?;
    Ok((owned(fd), raw.to_socket_addr()))
}

/// A non-blocking Unix-domain stream listener at `path` with permissions `mode`. A socket file left by a
/// crashed run (nobody accepts on it) is replaced; one a live server still answers on is an error, and so is
/// any other kind of file.
pub fn unix_listener(path: &std::path::Path, mode: u32, backlog: i32) -> io::Result<OwnedFd> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::{UnixListener, UnixStream};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket"));
        }
        match UnixStream::connect(path) {
            Ok(_) => return Err(io::Error::new(io::ErrorKind::AddrInUse, "a running server is using it")),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        }
    }
    let listener = UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    let fd = OwnedFd::from(listener);
    // std listens with a small backlog; listening again only raises it.
    syscall!(listen(fd.as_raw_fd(), backlog))?;
    Ok(fd)
}

/// Makes the next close() send RST and free the socket at once: for clients we abandon (stuck readers).
pub fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    let lg = libc::linger { l_onoff: 1, l_linger: 0 };
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &lg as *const libc::linger as *const libc::c_void,
        size_of::<libc::linger>() as libc::socklen_t
    ))?;
    Ok(())
}

/// A pair of connected SOCK_SEQPACKET sockets: message boundaries keep each batch of fds atomic.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    syscall!(socketpair(
        libc::AF_UNIX,
        libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0,
        fds.as_mut_ptr()
    ))?;
    Ok((owned(fds[0]), owned(fds[1])))
}

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let n = syscall!(read(fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()))?;
    Ok(n as usize)
}

pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let n = syscall!(write(fd.as_raw_fd(), buf.as_ptr() as *const libc::c_void, buf.len()))?;
    Ok(n as usize)
}

/// Opens (creating) a log file for appending: whole-line writes from several processes never interleave.
pub fn open_append(path: &std::path::Path) -> io::Result<OwnedFd> {
    let c =
        CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY;
    Ok(owned(syscall!(open(c.as_ptr(), flags, 0o640 as libc::c_uint))?))
}

/// Sends bytes on a socket; `more` sets MSG_MORE so a header and the sendfile body after it share packets.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8], more: bool) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    let n = syscall!(send(fd.as_raw_fd(), buf.as_ptr() as *const libc::c_void, buf.len(), flags))?;
    Ok(n as usize)
}

/// Copies up to `count` bytes of `file` at `offset` to `sock` inside the kernel.
pub fn sendfile(sock: BorrowedFd<'_>, file: BorrowedFd<'_>, offset: &mut u64, count: usize) -> io::Result<usize> {
    let mut off = *offset as libc::off_t;
    let n = syscall!(sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count))?;
    *offset = off as u64;
    Ok(n as usize)
}

/// Reads from `file` at `offset` without moving a file position (the fd is shared by many requests).
pub fn pread(file: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let n = syscall!(pread(file.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), offset as libc::off_t))?;
    Ok(n as usize)
}

pub fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    syscall!(shutdown(fd.as_raw_fd(), libc::SHUT_WR))?;
    Ok(())
}

/// Most descriptors one SCM_RIGHTS message may carry (the kernel's SCM_MAX_FD).
pub const MAX_FDS_PER_MSG: usize = 253;

/// Sends one message: `payload` bytes and, attached, the descriptors `fds` (at most MAX_FDS_PER_MSG).
pub fn send_with_fds(chan: BorrowedFd<'_>, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(!payload.is_empty() && fds.len() <= MAX_FDS_PER_MSG);
    let mut iov = libc::iovec { iov_base: payload.as_ptr() as *mut libc::c_void, iov_len: payload.len() };
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain old data; zero is a valid starting value for every field.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space;
        // SAFETY: msg_control points at `space` zeroed bytes, enough for one cmsghdr carrying `fds.len()` fds,
        // so CMSG_FIRSTHDR is non-null and CMSG_DATA has room for the copy.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
            ptr::copy_nonoverlapping(fds.as_ptr() as *const u8, libc::CMSG_DATA(cmsg), fd_bytes);
        }
    }
    syscall!(sendmsg(chan.as_raw_fd(), &msg, libc::MSG_NOSIGNAL))?;
    Ok(())
}

/// What one `recv_with_fds` call returned.
pub enum Received {
    /// A message of `len` payload bytes and the descriptors it carried (close-on-exec already set).
    Msg { len: usize, fds: Vec<OwnedFd> },
    /// The message lost descriptors (MSG_CTRUNC; those that arrived were closed). `len` payload bytes came.
    Truncated { len: usize },
    /// The other end closed the channel.
    Closed,
}

/// Receives one message into `payload`. In a truncated message (payload or control) the descriptors that did
/// arrive are closed (they are owned before the check, so dropping them closes them).
pub fn recv_with_fds(chan: BorrowedFd<'_>, payload: &mut [u8]) -> io::Result<Received> {
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr() as *mut libc::c_void, iov_len: payload.len() };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS_PER_MSG * size_of::<RawFd>()) as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain old data; zero is a valid starting value for every field.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space;
    let n = syscall!(recvmsg(chan.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC))?;
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed cmsghdrs; the CMSG_*
    // macros walk exactly those, and each SCM_RIGHTS payload holds (cmsg_len - CMSG_LEN(0)) / 4 fds that are
    // now ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = data_len / size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg) as *const RawFd;
                for i in 0..count {
                    fds.push(owned(ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0 {
        // Typically EMFILE in the receiver: the kernel dropped what did not fit. Close what did arrive.
        drop(fds);
        return Ok(Received::Truncated { len: n as usize });
    }
    if n == 0 && fds.is_empty() {
        return Ok(Received::Closed);
    }
    Ok(Received::Msg { len: n as usize, fds })
}

// ---------------------------------------------------------------------------------------------------------------
// epoll
// ---------------------------------------------------------------------------------------------------------------

pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
pub const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;
pub const EPOLLET: u32 = libc::EPOLLET as u32;
pub const EPOLLERR: u32 = libc::EPOLLERR as u32;
pub const EPOLLHUP: u32 = libc::EPOLLHUP as u32;

/// What an epoll registration reports back: a slot index and a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(u64);

impl Token {
    pub const fn new(slot: u32, generation: u32) -> Token {
        Token(((generation as u64) << 32) | slot as u64)
    }

    pub const fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// One reported event.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Event(libc::epoll_event);

impl Event {
    pub const EMPTY: Event = Event(libc::epoll_event { events: 0, u64: 0 });

    pub fn token(&self) -> Token {
        Token(self.0.u64)
    }

    pub fn flags(&self) -> u32 {
        self.0.events
    }
}

pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        Ok(Epoll { fd: owned(syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?) })
    }

    pub fn add(&self, fd: BorrowedFd<'_>, events: u32, token: Token) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd.as_raw_fd(), events, token.0)
    }

    pub fn modify(&self, fd: BorrowedFd<'_>, events: u32, token: Token) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd.as_raw_fd(), events, token.0)
    }

    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        syscall!(epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev))?;
        Ok(())
    }

    /// Waits for events; EINTR counts as "no events".
    pub fn wait(&self, events: &mut [Event], timeout_ms: i32) -> io::Result<usize> {
        match syscall!(epoll_wait(
            self.fd.as_raw_fd(),
            events.as_mut_ptr() as *mut libc::epoll_event,
            events.len() as libc::c_int,
            timeout_ms
        )) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Signals and processes
// ---------------------------------------------------------------------------------------------------------------

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset only sets bits of valid signal numbers.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks `signals` for normal delivery and returns a non-blocking signalfd that reports them instead.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: `set` is a valid initialised sigset.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(owned(syscall!(signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC))?))
}

/// Unblocks every signal (a forked worker must not inherit the master's mask forever).
pub fn unblock_all_signals() {
    // SAFETY: sigfillset initialises the set; unblocking signals cannot violate memory safety.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, ptr::null_mut());
    }
}

/// Reads one pending signal number from a signalfd, or None when none is pending.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    // SAFETY: signalfd_siginfo is plain old data.
    let mut info: libc::signalfd_siginfo = unsafe { MaybeUninit::zeroed().assume_init() };
    let size = size_of::<libc::signalfd_siginfo>();
    match syscall!(read(fd.as_raw_fd(), &mut info as *mut _ as *mut libc::c_void, size)) {
        Ok(n) if n as usize == size => Ok(Some(info.ssi_signo as i32)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// SIGPIPE must never kill a process: a peer that vanishes is an EPIPE on one connection, nothing more.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

pub enum Forked {
    Parent(i32),
    Child,
}

/// Forks. The caller is single-threaded (master and workers never start threads), so the child may run
/// arbitrary code.
pub fn fork() -> io::Result<Forked> {
    match syscall!(fork())? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    syscall!(kill(pid, sig))?;
    Ok(())
}

pub fn getppid() -> i32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// How a reaped child ended.
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

/// Reaps one exited child without blocking.
pub fn reap_child() -> io::Result<Option<(i32, ExitKind)>> {
    let mut status = 0;
    let pid = match syscall!(waitpid(-1, &mut status, libc::WNOHANG)) {
        Ok(pid) => pid,
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(None),
        Err(e) => return Err(e),
    };
    if pid == 0 {
        return Ok(None);
    }
    let kind = if libc::WIFSIGNALED(status) {
        ExitKind::Signal(libc::WTERMSIG(status))
    } else {
        ExitKind::Code(libc::WEXITSTATUS(status))
    };
    Ok(Some((pid, kind)))
}

/// Closes every descriptor >= 3 except `keep`: a forked worker must not hold the master's listeners, other
/// workers' channels or descriptors queued for them. Uses close_range, and a plain loop where the kernel or a
/// seccomp filter refuses it.
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= 3).collect();
    keep.sort_unstable();
    let mut ranges = Vec::new();
    let mut from: libc::c_uint = 3;
    for fd in keep.iter().map(|&fd| fd as libc::c_uint) {
        if fd > from {
            ranges.push((from, fd - 1));
        }
        from = fd + 1;
    }
    ranges.push((from, libc::c_uint::MAX));
    for (first, last) in ranges {
        // SAFETY: close_range only closes descriptors; nothing in this process uses the closed ones again
        // (the forked child abandons the master's objects without dropping them).
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if rc != 0 {
            close_each(first, last)?;
        }
    }
    Ok(())
}

/// The close_range fallback: every descriptor in [first, last] below the descriptor limit.
fn close_each(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    let end = (lim.rlim_cur.min(1 << 20) as libc::c_uint).min(last.saturating_add(1));
    for fd in first..end {
        // SAFETY: as in close_fds_except; EBADF for descriptors that are not open is expected and ignored.
        unsafe { libc::close(fd as libc::c_int) };
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one: 10,000 connections per worker need it.
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Names the process (as shown by ps/top): "staticd" for the master, "staticd-w3" for worker 3.
pub fn set_process_name(name: &str) {
    let Ok(c) = CString::new(name) else { return };
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of which the kernel uses the first 15 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Asks the kernel to send `sig` to this process when its parent dies (cleared by setuid, so call it after).
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    syscall!(prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------------------------------------------

/// A user's numeric ids, looked up before anything forks (the chrooted worker has no /etc/passwd).
#[derive(Debug, Clone, Copy)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
}

/// Looks a user name up in the passwd database; Ok(None) when there is no such user.
pub fn lookup_user(name: &str) -> io::Result<Option<UserIds>> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain old data.
    let mut pwd: libc::passwd = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut result: *mut libc::passwd = ptr::null_mut();
    // SAFETY: all pointers are valid for the stated sizes; getpwnam_r writes only into pwd and buf.
    let rc = unsafe {
        libc::getpwnam_r(cname.as_ptr(), &mut pwd, buf.as_mut_ptr() as *mut libc::c_char, buf.len(), &mut result)
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Ok(None);
    }
    Ok(Some(UserIds { uid: pwd.pw_uid, gid: pwd.pw_gid }))
}

/// Confines this process to `root` (chroot + chdir) when asked, then gives up root for good: supplementary
/// groups cleared, gid and uid set, no new privileges, and a check that regaining root now fails.
pub fn drop_privileges(chroot_to: Option<&std::path::Path>, user: UserIds) -> io::Result<()> {
    if let Some(dir) = chroot_to {
        let c = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        syscall!(chroot(c.as_ptr()))?;
        syscall!(chdir(c"/".as_ptr()))?;
    }
    syscall!(setgroups(0, ptr::null()))?;
    syscall!(setgid(user.gid))?;
    syscall!(setuid(user.uid))?;
    syscall!(prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0))?;
    if user.uid != 0 {
        // SAFETY: setuid has no memory-safety preconditions; success here would be the failure we look for.
        if unsafe { libc::setuid(0) } == 0 {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "setuid(0) succeeded after dropping root"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------------------

/// Opens a directory as an O_PATH handle to resolve files beneath it.
pub fn open_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    let c =
        CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(owned(syscall!(open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC))?))
}

/// `openat2(dir, path, O_RDONLY|O_NONBLOCK|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_SYMLINKS])`:
/// the kernel refuses any path that would leave `dir`, whatever the string looks like.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &[u8], no_symlinks: bool) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
    let mut resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    if no_symlinks {
        resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    // SAFETY: open_how is plain old data (non-exhaustive only for future fields); zero is its neutral value.
    let mut how: libc::open_how = unsafe { MaybeUninit::zeroed().assume_init() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
    how.resolve = resolve;
    // SAFETY: `c` is NUL-terminated and `how` is a valid open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned(fd as libc::c_int))
}

/// What the server needs from fstat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: FileKind,
    pub size: u64,
    pub inode: u64,
    pub dev: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Other,
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileInfo> {
    // SAFETY: stat is plain old data.
    let mut st: libc::stat = unsafe { MaybeUninit::zeroed().assume_init() };
    syscall!(fstat(fd.as_raw_fd(), &mut st))?;
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::Regular,
        libc::S_IFDIR => FileKind::Directory,
        _ => FileKind::Other,
    };
    Ok(FileInfo {
        kind,
        size: st.st_size as u64,
        inode: st.st_ino,
        dev: st.st_dev,
        mtime_sec: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
    })
}

/// Reads random bytes for multipart boundaries (getrandom never blocks once the pool is initialised).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let n = syscall!(getrandom(buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0))?;
    if (n as usize) < buf.len() {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Shared memory
// ---------------------------------------------------------------------------------------------------------------

/// An anonymous MAP_SHARED mapping: it has no name, so it disappears with the last process that maps it.
pub fn map_shared_anonymous(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh anonymous mapping does not alias any existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

/// Online CPUs, for the default worker count.
pub fn cpus_online() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n < 1 {
        1
    } else {
        n as usize
    }
}

// ---------------------------------------------------------------------------------------------------------------
// inotify
// ---------------------------------------------------------------------------------------------------------------

/// A non-blocking inotify instance.
pub fn inotify() -> io::Result<OwnedFd> {
    Ok(owned(syscall!(inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC))?))
}

/// Watches a directory for any change to its entries (edits, renames, deletions, creations).
pub fn inotify_watch_dir(fd: BorrowedFd<'_>, path: &[u8]) -> io::Result<()> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mask = libc::IN_MODIFY
        | libc::IN_ATTRIB
        | libc::IN_CLOSE_WRITE
        | libc::IN_CREATE
        | libc::IN_DELETE
        | libc::IN_MOVED_FROM
        | libc::IN_MOVED_TO
        | libc::IN_DELETE_SELF
        | libc::IN_MOVE_SELF
        | libc::IN_ONLYDIR;
    syscall!(inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask))?;
    Ok(())
}

/// Reads and discards every queued inotify event; returns whether there was any.
pub fn inotify_drain(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 4096];
    let mut any = false;
    loop {
        match read(fd, &mut buf) {
            Ok(0) => return Ok(any),
            Ok(_) => any = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(any),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
