//! Binding the listeners before anything forks: TCP and `unix:` addresses from the command line, or the
//! sockets systemd passed (socket activation). Every failure is a one-line message for exit code 2.

use std::os::fd::{AsFd, OwnedFd};

use crate::config::{Config, ListenAddr};
use crate::sys;

/// Listen backlog: bursts of connections wait in the kernel, not in SYN retries.
const BACKLOG: i32 = 4096;

/// A bound listening socket, ready for the master.
pub struct Listener {
    pub fd: OwnedFd,
    /// How the startup line names it: `http://127.0.0.1:8080/` or `unix:/run/staticd.sock`.
    pub name: String,
    /// A socket file this process created, removed on exit.
    pub unix_path: Option<std::path::PathBuf>,
}

pub fn bind_all(cfg: &Config) -> Result<Vec<Listener>, String> {
    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let listener = match addr {
            ListenAddr::Tcp(addr) => {
                let fd = sys::tcp_listener(addr, BACKLOG).map_err(|e| match e.raw_os_error() {
                    Some(libc::EADDRINUSE) => format!("cannot listen on {addr}: address already in use"),
                    Some(libc::EACCES) => format!("cannot listen on {addr}: permission denied"),
                    Some(libc::EADDRNOTAVAIL) => format!("cannot listen on {addr}: address not available on this host"),
                    _ => format!("cannot listen on {addr}: {e}"),
                })?;
                let bound =
                    sys::local_addr(fd.as_fd()).map_err(|e| format!("cannot read the address of {addr}: {e}"))?;
                Listener { fd, name: format!("http://{bound}/"), unix_path: None }
            }
            ListenAddr::Unix(path) => {
                let fd = sys::unix_listener(path, cfg.socket_mode, BACKLOG)
                    .map_err(|e| format!("cannot listen on unix:{}: {e}", path.display()))?;
                Listener { fd, name: format!("unix:{}", path.display()), unix_path: Some(path.clone()) }
            }
        };
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Takes over the listening sockets systemd passed (socket activation) instead of binding our own.
pub fn adopt_all(fds: Vec<OwnedFd>) -> Result<Vec<Listener>, String> {
    let mut listeners = Vec::new();
    for fd in fds {
        sys::set_nonblocking(fd.as_fd()).map_err(|e| format!("socket activation: {e}"))?;
        let name = match sys::local_addr(fd.as_fd()) {
            Ok(addr) => {
                // As for our own listeners: accepted connections inherit it.
                sys::set_nodelay(fd.as_fd()).map_err(|e| format!("socket activation: TCP_NODELAY: {e}"))?;
                format!("http://{addr}/ (from systemd)")
            }
            Err(_) if sys::is_unix_socket(fd.as_fd()).unwrap_or(false) => "a unix socket from systemd".to_string(),
            Err(e) => return Err(format!("socket activation: descriptor is not a usable socket: {e}")),
        };
        listeners.push(Listener { fd, name, unix_path: None });
    }
    Ok(listeners)
}
