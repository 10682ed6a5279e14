//! Sockets: listeners, accepting, options, sending to clients, the master→worker channel that passes
//! descriptors with SCM_RIGHTS, and the addresses of the network interfaces (for the start-up lines).
//!
//! `send` and `sendfile` run for every response, so they stay single calls with no allocation. Two calls are
//! raw libc because nix's wrappers would change behaviour: nix's `accept4` drops the peer address the kernel
//! reports (asking again with getpeername costs a syscall per connection, and fails once the peer has reset),
//! and nix's `recvmsg` refuses to list the control messages of a truncated message, which would leak the
//! descriptors that did arrive instead of closing them.

use std::io::{self, IoSlice};
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::{
    self as nix_socket, sockopt, AddressFamily, Backlog, ControlMessage, MsgFlags, Shutdown, SockFlag, SockType,
    SockaddrLike, SockaddrStorage,
};

/// Takes ownership of a descriptor that a raw libc call just returned.
///
/// # Safety
/// `fd` must be a descriptor the kernel has just created for this process, which nothing else owns.
unsafe fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller guarantees `fd` is a fresh, open descriptor with no other owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Flags for `send`: never SIGPIPE, and with MSG_MORE a sendfile body follows (nix has no name for MSG_MORE,
/// so the bit is carried as is; nix passes the bits to send(2) unchanged).
const SEND: MsgFlags = MsgFlags::MSG_NOSIGNAL;
const SEND_MORE: MsgFlags = MsgFlags::MSG_NOSIGNAL.union(MsgFlags::from_bits_retain(libc::MSG_MORE));

/// A non-blocking TCP listener bound to `addr` with SO_REUSEADDR and the given backlog.
pub fn tcp_listener(addr: &SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = nix_socket::socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    nix_socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if addr.is_ipv6() {
        // One listener per address family: `[::]:80` must not silently take the IPv4 port too.
        nix_socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    nix_socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(*addr))?;
    nix_socket::listen(&fd, listen_backlog(backlog)?)?;
    // Accepted sockets inherit TCP_NODELAY from the listener, saving a setsockopt per connection. Responses
    // are written whole, so Nagle's delay would only add latency.
    nix_socket::setsockopt(&fd, sockopt::TcpNoDelay, &true)?;
    defer_accept(fd.as_fd(), DEFER_ACCEPT_SECS)?;
    Ok(fd)
}

/// HTTP clients speak first: with TCP_DEFER_ACCEPT the kernel hands a connection to accept only once its
/// first bytes have arrived, so the worker's first read finds the request instead of EAGAIN and another
/// epoll round. A client that stays silent is accepted anyway after about this long (then the header
/// timeout runs as usual), so it is never stuck in the kernel.
const DEFER_ACCEPT_SECS: libc::c_int = 1;

fn defer_accept(fd: BorrowedFd<'_>, secs: libc::c_int) -> io::Result<()> {
    // SAFETY: `secs` is a live c_int for the duration of the call and its size is passed with it; the
    // descriptor is borrowed, so it is open.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::addr_of!(secs).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(rc).map(drop).map_err(io::Error::from)
}

/// nix refuses a backlog above libc's SOMAXCONN constant (128 on musl), while the kernel quietly caps any
/// backlog at the net.core.somaxconn sysctl. For such a backlog, -1 asks for that cap directly.
fn listen_backlog(backlog: i32) -> io::Result<Backlog> {
    match Backlog::new(backlog) {
        Ok(b) => Ok(b),
        Err(_) if backlog > 0 => Ok(Backlog::MAXALLOWABLE),
        Err(e) => Err(e.into()),
    }
}

/// Sets TCP_NODELAY (on a listener, accepted sockets inherit it).
pub fn set_nodelay(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(nix_socket::setsockopt(&fd, sockopt::TcpNoDelay, &true)?)
}

/// Makes a descriptor non-blocking (sockets handed over by systemd may not be).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// True for a Unix-domain socket (its connections have no IP peer).
pub fn is_unix_socket(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let addr: SockaddrStorage = nix_socket::getsockname(fd.as_raw_fd())?;
    Ok(addr.family() == Some(AddressFamily::Unix))
}

/// The address a socket is bound to (to learn the port the kernel picked for port 0).
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let addr: SockaddrStorage = nix_socket::getsockname(fd.as_raw_fd())?;
    to_socket_addr(&addr).ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))
}

/// One IP address of a network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub interface: String,
    pub ip: IpAddr,
    /// The interface is administratively up (IFF_UP).
    pub up: bool,
    /// The interface is a loopback one (IFF_LOOPBACK).
    pub loopback: bool,
}

/// The IP addresses of this machine's network interfaces (getifaddrs), in the kernel's order; entries
/// without an address or of another family (AF_PACKET) are left out.
pub fn interface_addresses() -> io::Result<Vec<InterfaceAddr>> {
    let mut out = Vec::new();
    for entry in nix::ifaddrs::getifaddrs()? {
        let Some(ip) = entry.address.as_ref().and_then(to_socket_addr).map(|a| a.ip()) else { continue };
        out.push(InterfaceAddr {
            ip,
            up: entry.flags.contains(InterfaceFlags::IFF_UP),
            loopback: entry.flags.contains(InterfaceFlags::IFF_LOOPBACK),
            interface: entry.interface_name,
        });
    }
    Ok(out)
}

/// An IP socket address in std's terms; None for other families (Unix-domain peers).
fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some(SocketAddr::V4(SocketAddrV4::from(*v4)))
    } else {
        addr.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
    }
}

/// Accepts one connection, non-blocking and close-on-exec, with the peer's address when it has one (TCP).
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
    // SAFETY: sockaddr_storage is plain old data, for which all-zero is a valid (unspecified) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` is writable for `len` bytes and both outlive the call; accept4 writes at most `len`
    // bytes of address there and stores the address's real length in `len`.
    let fd = Errno::result(unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            ptr::addr_of_mut!(storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 succeeded, so `fd` is a new descriptor that nothing else owns.
    let fd = unsafe { owned(fd) };
    // SAFETY: the kernel wrote an address of `len` bytes into `storage`; from_raw rejects a length that does
    // not fit a sockaddr_storage and copies no more than `len` bytes.
    let peer = unsafe { SockaddrStorage::from_raw(ptr::addr_of!(storage).cast(), Some(len)) };
    Ok((fd, peer.as_ref().and_then(to_socket_addr)))
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
    nix_socket::listen(&fd, listen_backlog(backlog)?)?;
    Ok(fd)
}

/// Makes the next close() send RST and free the socket at once: for clients we abandon (stuck readers).
pub fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(nix_socket::setsockopt(&fd, sockopt::Linger, &libc::linger { l_onoff: 1, l_linger: 0 })?)
}

/// A pair of connected SOCK_SEQPACKET sockets: message boundaries keep each batch of fds atomic.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    Ok(nix_socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, flags)?)
}

/// Sends bytes on a socket; `more` sets MSG_MORE so a header and the sendfile body after it share packets.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8], more: bool) -> io::Result<usize> {
    Ok(nix_socket::send(fd.as_raw_fd(), buf, if more { SEND_MORE } else { SEND })?)
}

/// Copies up to `count` bytes of `file` at `offset` to `sock` inside the kernel, advancing `offset`.
pub fn sendfile(sock: BorrowedFd<'_>, file: BorrowedFd<'_>, offset: &mut u64, count: usize) -> io::Result<usize> {
    let mut off = *offset as libc::off_t;
    let n = nix::sys::sendfile::sendfile(sock, file, Some(&mut off), count)?;
    *offset = off as u64;
    Ok(n)
}

pub fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(nix_socket::shutdown(fd.as_raw_fd(), Shutdown::Write)?)
}

/// Most descriptors one SCM_RIGHTS message may carry (the kernel's SCM_MAX_FD).
pub const MAX_FDS_PER_MSG: usize = 253;

/// Sends one message: `payload` bytes and, attached, the descriptors `fds` (at most MAX_FDS_PER_MSG).
pub fn send_with_fds(chan: BorrowedFd<'_>, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(!payload.is_empty() && fds.len() <= MAX_FDS_PER_MSG);
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    let iov = [IoSlice::new(payload)];
    nix_socket::sendmsg::<()>(chan.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// Room for the control message of the largest batch.
// SAFETY: CMSG_SPACE only computes a size from its argument.
const RECV_CONTROL_BYTES: usize = unsafe { libc::CMSG_SPACE((MAX_FDS_PER_MSG * size_of::<RawFd>()) as u32) } as usize;

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
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // u64 elements keep the buffer aligned for cmsghdr.
    let mut cbuf = [0u64; RECV_CONTROL_BYTES.div_ceil(8)];
    // SAFETY: msghdr is plain old data; zero is a valid starting value for every field.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = RECV_CONTROL_BYTES;
    // SAFETY: `msg` points at one iovec covering `payload` and at RECV_CONTROL_BYTES bytes of `cbuf`, all writable and
    // alive for the call; recvmsg writes only into them and into `msg`'s length and flag fields.
    let n = Errno::result(unsafe { libc::recvmsg(chan.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed cmsghdrs (also when it
    // set MSG_CTRUNC: it only ever writes whole headers); the CMSG_* macros walk exactly those, and each
    // SCM_RIGHTS payload holds (cmsg_len - CMSG_LEN(0)) / 4 descriptors that the kernel installed for us and
    // nothing else owns.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn round_trip(addr: SocketAddr) -> Option<SocketAddr> {
        to_socket_addr(&SockaddrStorage::from(addr))
    }

    #[test]
    fn ip_addresses_convert_both_ways() {
        let cases = [
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            "255.255.255.255:65535".parse().unwrap(),
            "[::1]:443".parse().unwrap(),
            "[2001:db8::17]:1".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0x0001_2345, 3)),
        ];
        for addr in cases {
            assert_eq!(round_trip(addr), Some(addr));
        }
    }

    #[test]
    fn unix_addresses_have_no_ip() {
        let (a, _b) = seqpacket_pair().unwrap();
        let addr: SockaddrStorage = nix_socket::getsockname(a.as_raw_fd()).unwrap();
        assert_eq!(to_socket_addr(&addr), None);
        assert!(is_unix_socket(a.as_fd()).unwrap());
    }

    #[test]
    fn listener_reports_its_port_and_accepts_with_the_peer_address() {
        let l = tcp_listener(&"127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let bound = local_addr(l.as_fd()).unwrap();
        assert_ne!(bound.port(), 0);
        assert!(!is_unix_socket(l.as_fd()).unwrap());
        assert_eq!(accept(l.as_fd()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let client = std::net::TcpStream::connect(bound).unwrap();
        let (conn, peer) = loop {
            match accept(l.as_fd()) {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("accept: {e}"),
            }
        };
        assert_eq!(peer, Some(client.local_addr().unwrap()));
        assert_eq!(local_addr(conn.as_fd()).unwrap(), bound);
    }

    #[test]
    fn ipv6_listener_is_v6_only() {
        // Hosts without IPv6 cannot bind ::1; there is nothing to check then.
        let Ok(l) = tcp_listener(&"[::1]:0".parse().unwrap(), 16) else { return };
        let bound = local_addr(l.as_fd()).unwrap();
        assert!(bound.is_ipv6() && bound.port() != 0);
        assert_eq!(nix_socket::getsockopt(&l, sockopt::Ipv6V6Only), Ok(true));
        assert_eq!(nix_socket::getsockopt(&l, sockopt::TcpNoDelay), Ok(true));
    }

    #[test]
    fn backlog_above_the_libc_constant_is_capped_by_the_kernel() {
        assert_eq!(i32::from(listen_backlog(16).unwrap()), 16);
        assert_eq!(i32::from(listen_backlog(i32::MAX).unwrap()), -1);
        assert!(listen_backlog(-2).is_err());
    }

    #[test]
    fn descriptors_travel_with_their_payload() {
        let (a, b) = seqpacket_pair().unwrap();
        let (x, _y) = seqpacket_pair().unwrap();
        send_with_fds(a.as_fd(), b"hi", &[x.as_raw_fd(), x.as_raw_fd()]).unwrap();
        send_with_fds(a.as_fd(), b"no fds", &[]).unwrap();
        let mut buf = [0u8; 16];
        match recv_with_fds(b.as_fd(), &mut buf).unwrap() {
            Received::Msg { len, fds } => {
                assert_eq!(&buf[..len], b"hi");
                assert_eq!(fds.len(), 2);
                assert!(is_unix_socket(fds[0].as_fd()).unwrap());
            }
            _ => panic!("expected a message"),
        }
        match recv_with_fds(b.as_fd(), &mut buf).unwrap() {
            Received::Msg { len, fds } => assert_eq!((&buf[..len], fds.len()), (&b"no fds"[..], 0)),
            _ => panic!("expected a message"),
        }
        assert_eq!(recv_with_fds(b.as_fd(), &mut buf).err().map(|e| e.kind()), Some(io::ErrorKind::WouldBlock));
        drop(a);
        assert!(matches!(recv_with_fds(b.as_fd(), &mut buf).unwrap(), Received::Closed));
    }

    #[test]
    fn a_short_payload_buffer_is_a_truncated_message() {
        let (a, b) = seqpacket_pair().unwrap();
        let (x, _y) = seqpacket_pair().unwrap();
        send_with_fds(a.as_fd(), b"longer than four", &[x.as_raw_fd()]).unwrap();
        let mut buf = [0u8; 4];
        assert!(matches!(recv_with_fds(b.as_fd(), &mut buf).unwrap(), Received::Truncated { len: 4 }));
    }
}
