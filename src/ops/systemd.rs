//! systemd socket activation and readiness notification, without linking libsystemd.
//!
//! Both protocols are small and stable (sd_listen_fds(3), sd_notify(3)): the service manager passes
//! listening sockets as descriptors 3.. and names them through LISTEN_PID/LISTEN_FDS, and it listens on
//! the datagram socket in NOTIFY_SOCKET for state changes such as `READY=1`. Implementing them here keeps
//! the binary free of a C dependency it would only use for two calls.
//!
//! [`listen_fds`] edits the environment, so call it at start-up while the process is single-threaded.

use std::env;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use crate::sys;

/// First descriptor passed by the service manager (after stdin, stdout, stderr).
const LISTEN_FDS_START: RawFd = 3;

/// When LISTEN_PID equals our pid and LISTEN_FDS = n, returns the n descriptors 3..3+n (marked close-on-exec,
/// owned), and removes LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES from the environment; otherwise an empty Vec.
///
/// The variables are removed whenever LISTEN_PID is set (as libsystemd does), so they can never leak into
/// a child. A LISTEN_FDS that is missing or not a number while LISTEN_PID names us is an error: the
/// manager meant to pass sockets and serving on freshly bound ones instead would hide the problem.
pub fn listen_fds() -> io::Result<Vec<OwnedFd>> {
    let pid = env::var("LISTEN_PID").ok();
    let fds = env::var("LISTEN_FDS").ok();
    if pid.is_some() {
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            env::remove_var(name);
        }
    }
    let count = passed_fd_count(pid.as_deref(), fds.as_deref(), std::process::id())?;
    adopt_fds(LISTEN_FDS_START, count)
}

/// How many descriptors the environment passes to process `our_pid`.
fn passed_fd_count(pid: Option<&str>, fds: Option<&str>, our_pid: u32) -> io::Result<usize> {
    let for_us = pid.and_then(|p| p.parse::<u32>().ok()) == Some(our_pid);
    if !for_us {
        return Ok(0);
    }
    let count = fds.and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("LISTEN_PID names this process but LISTEN_FDS is {fds:?}"))
    })?;
    let last = RawFd::try_from(count).ok().and_then(|c| c.checked_add(LISTEN_FDS_START));
    match last {
        Some(_) => Ok(count),
        None => Err(io::Error::new(io::ErrorKind::InvalidData, format!("LISTEN_FDS={count} is out of range"))),
    }
}

/// Takes ownership of descriptors `first..first+count`, marking each close-on-exec so they do not leak
/// into anything we might execute. Fails (closing those already adopted) if one is not open.
fn adopt_fds(first: RawFd, count: usize) -> io::Result<Vec<OwnedFd>> {
    let mut owned = Vec::with_capacity(count);
    let mut fd = first;
    for _ in 0..count {
        sys::set_cloexec(fd)?;
        // SAFETY: the service manager passed this descriptor to us (LISTEN_PID matched our pid) and
        // set_cloexec just confirmed it is open; nothing else in the process owns it, so it is ours to close.
        owned.push(unsafe { OwnedFd::from_raw_fd(fd) });
        fd = fd.checked_add(1).ok_or(io::ErrorKind::InvalidInput)?;
    }
    Ok(owned)
}

/// Sends `state` (e.g. "READY=1\nMAINPID=123") to $NOTIFY_SOCKET (a path, or abstract when it starts with '@')
/// as one datagram; Ok(false) when NOTIFY_SOCKET is unset.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let Some(target) = target.to_str().filter(|t| !t.is_empty()) else {
        return Ok(false);
    };
    let addr = notify_addr(target)?;
    let sock = UnixDatagram::unbound()?;
    let sent = sock.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "notification datagram truncated"));
    }
    Ok(true)
}

/// The socket address NOTIFY_SOCKET names: a filesystem path, or '@' for Linux's abstract namespace.
fn notify_addr(target: &str) -> io::Result<SocketAddr> {
    if let Some(name) = target.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes())
    } else if target.starts_with('/') {
        SocketAddr::from_pathname(target)
    } else {
        // systemd also knows vsock: addresses (for VMs), which a static-file server does not need.
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsupported NOTIFY_SOCKET address {target:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::os::fd::{AsRawFd, IntoRawFd};
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    #[test]
    fn passed_fd_count_table() {
        let me = 4242;
        // (LISTEN_PID, LISTEN_FDS, expected count or None for an error)
        let cases: &[(Option<&str>, Option<&str>, Option<usize>)] = &[
            (None, None, Some(0)),
            (None, Some("2"), Some(0)),
            (Some("4242"), Some("2"), Some(2)),
            (Some("4242"), Some("0"), Some(0)),
            (Some("4243"), Some("2"), Some(0)),
            (Some(""), Some("2"), Some(0)),
            (Some("x"), Some("2"), Some(0)),
            (Some("+4242"), Some("2"), Some(2)), // what str::parse accepts
            (Some("4242"), None, None),
            (Some("4242"), Some(""), None),
            (Some("4242"), Some("-1"), None),
            (Some("4242"), Some("two"), None),
            (Some("4242"), Some("99999999999"), None),
        ];
        for (pid, fds, want) in cases {
            let got = passed_fd_count(*pid, *fds, me).ok();
            assert_eq!(got, *want, "LISTEN_PID={pid:?} LISTEN_FDS={fds:?}");
        }
    }

    fn is_open(fd: RawFd) -> bool {
        std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok()
    }

    /// Two sockets moved to free descriptors far above anything the test harness uses, so adopting them
    /// cannot steal a descriptor another test thread owns (as taking 3 and 4 here could).
    fn sockets_at_high_fds() -> RawFd {
        let first: RawFd = 200 + RawFd::try_from(std::process::id() % 50).unwrap();
        for fd in [first, first + 1] {
            assert!(!is_open(fd), "fd {fd} unexpectedly open");
            let listener = UnixListener::bind_addr(
                &SocketAddr::from_abstract_name(format!("staticd-test-{}-{fd}", std::process::id())).unwrap(),
            )
            .unwrap();
            // SAFETY: `fd` was just checked not to be open, so the duplicate replaces no descriptor anyone owns;
            // its ownership goes straight back to the bare number, which the test's adopt_fds takes over.
            let _ = unsafe { nix::unistd::dup2_raw(&listener, fd) }.unwrap().into_raw_fd();
        }
        first
    }

    #[test]
    fn adopts_passed_descriptors() {
        let first = sockets_at_high_fds();
        let fds = adopt_fds(first, 2).unwrap();
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        assert_eq!(raw, vec![first, first + 1]);
        for fd in &fds {
            let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
            assert!(flags.contains(FdFlag::FD_CLOEXEC));
        }
        drop(fds);
        assert!(!is_open(first) && !is_open(first + 1), "owned fds closed on drop");
        // A descriptor that is not open is an error, not a silent adoption.
        assert!(adopt_fds(first, 1).is_err());
        assert_eq!(adopt_fds(first, 0).unwrap().len(), 0);
    }

    #[test]
    fn notify_addr_table() {
        let abs = notify_addr("@/org/freedesktop/systemd1/notify").unwrap();
        assert_eq!(abs.as_abstract_name(), Some(&b"/org/freedesktop/systemd1/notify"[..]));
        let path = notify_addr("/run/systemd/notify").unwrap();
        assert_eq!(path.as_pathname(), Some(std::path::Path::new("/run/systemd/notify")));
        assert!(notify_addr("vsock:2:1234").is_err());
        assert!(notify_addr("relative/path").is_err());
    }

    fn temp_dir() -> PathBuf {
        let dir = env::temp_dir().join(format!("staticd-systemd-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// Every case that reads or writes the environment lives here: tests run on parallel threads and the
    /// environment is process-wide.
    #[test]
    fn environment_cases() {
        let me = std::process::id().to_string();

        // Socket activation meant for another process: nothing adopted, variables removed.
        env::set_var("LISTEN_PID", "1");
        env::set_var("LISTEN_FDS", "2");
        env::set_var("LISTEN_FDNAMES", "http:https");
        assert_eq!(listen_fds().unwrap().len(), 0);
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            assert!(env::var_os(name).is_none(), "{name} removed");
        }

        // Meant for us with zero sockets.
        env::set_var("LISTEN_PID", &me);
        env::set_var("LISTEN_FDS", "0");
        assert_eq!(listen_fds().unwrap().len(), 0);
        assert!(env::var_os("LISTEN_FDS").is_none());

        // Meant for us with a broken count.
        env::set_var("LISTEN_PID", &me);
        env::set_var("LISTEN_FDS", "lots");
        assert!(listen_fds().is_err());
        assert!(env::var_os("LISTEN_PID").is_none());

        // Not socket-activated at all.
        assert_eq!(listen_fds().unwrap().len(), 0);

        // Notification: unset, path socket, abstract socket, unreachable socket.
        env::remove_var("NOTIFY_SOCKET");
        assert!(!notify("READY=1").unwrap());
        env::set_var("NOTIFY_SOCKET", "");
        assert!(!notify("READY=1").unwrap());

        let dir = temp_dir();
        let path = dir.join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1\nMAINPID=123").unwrap());
        assert_eq!(recv(&receiver), "READY=1\nMAINPID=123");
        assert!(notify("STOPPING=1").unwrap());
        assert_eq!(recv(&receiver), "STOPPING=1");

        let name = format!("staticd-notify-test-{me}");
        let abs = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        env::set_var("NOTIFY_SOCKET", format!("@{name}"));
        assert!(notify("READY=1").unwrap());
        assert_eq!(recv(&abs), "READY=1");

        drop(receiver);
        env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1").is_err(), "no one listening");
        env::set_var("NOTIFY_SOCKET", "vsock:2:1");
        assert!(notify("READY=1").is_err());

        env::remove_var("NOTIFY_SOCKET");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
