//! Binding the listeners before anything forks: TCP and `unix:` addresses from the command line, or the
//! sockets systemd passed (socket activation). Every failure is a one-line message for exit code 2.
//!
//! Two conveniences for running staticd by hand: without `--listen`, a taken 127.0.0.1:8080 moves to the next
//! free port up to 8099 (an address given explicitly never moves: a script or a proxy expects it there), and a
//! listener on an unspecified address (`0.0.0.0`, `[::]`) names the machine's LAN addresses, the URLs another
//! device would use.
//!
//! A reload (HUP) with a changed configuration reconciles the set (`reconcile`): a listener whose address the
//! new configuration still names is kept as it is, so clients waiting in its backlog are not lost; new
//! addresses are bound, and the set changes only once all of them are.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};

use crate::config::{Config, ListenAddr};
use crate::sys::{self, InterfaceAddr};

/// Listen backlog: bursts of connections wait in the kernel, not in SYN retries.
const BACKLOG: i32 = 4096;
/// The last port the default listener may move to.
const LAST_DEFAULT_PORT: u16 = 8099;

/// A bound listening socket, ready for the master.
pub struct Listener {
    pub fd: OwnedFd,
    /// The configured address it was bound for; None for a socket systemd passed.
    pub configured: Option<ListenAddr>,
    /// How the startup line names it: `http://127.0.0.1:8080/` or `unix:/run/staticd.sock`.
    pub name: String,
    /// A socket file this process created, removed when its listener closes, if it is still the one we bound.
    pub unix_path: Option<SocketFile>,
    /// Said before the serving line: the default address was taken and this listener took another port.
    pub note: Option<String>,
    /// For a listener on an unspecified address: the URLs of the same port on this machine's LAN addresses.
    pub also: Vec<String>,
}

/// A socket file we bound, with the identity it had right after bind. By the time we remove it another
/// instance may have replaced it (ours was stale once our listener closed); unlinking the path then would
/// cut the new instance off, so removal checks the identity first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketFile {
    pub path: std::path::PathBuf,
    id: FileId,
}

/// Device and inode, plus the birth time: filesystems hand a freed inode number to the next file created
/// (tmpfs and ext4 do so at once), so a file made by unlink-and-bind often has our old number. Where the
/// birth time is not available, the status-change time stands in (a chmod after start then makes us leave
/// our own file behind, which the next start replaces as stale: the safe way to be wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    born: Option<std::time::SystemTime>,
    ctime: (i64, i64),
}

impl FileId {
    fn of(path: &std::path::Path) -> std::io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path)?;
        let born = meta.created().ok();
        let ctime = if born.is_some() { (0, 0) } else { (meta.ctime(), meta.ctime_nsec()) };
        Ok(FileId { dev: meta.dev(), ino: meta.ino(), born, ctime })
    }
}

impl SocketFile {
    /// Identifies the socket file just bound at `path`.
    fn bound_at(path: &std::path::Path) -> std::io::Result<SocketFile> {
        Ok(SocketFile { path: path.to_path_buf(), id: FileId::of(path)? })
    }

    /// Whether the path still names the file we bound (lstat: a symlink put there is not ours either).
    pub fn is_still_ours(&self) -> bool {
        FileId::of(&self.path).is_ok_and(|id| id == self.id)
    }

    /// Unlinks the file if it is still ours; another instance's file is left alone. There is a window between
    /// the check and the unlink, but only a restart racing our own close could fall into it.
    pub fn remove_if_ours(&self) {
        if !self.is_still_ours() {
            log::info!("{} is no longer our socket file; leaving it", self.path.display());
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::debug!("removing {}: {e}", self.path.display());
        }
    }
}

pub fn bind_all(cfg: &Config) -> Result<Vec<Listener>, String> {
    let mut listeners = Vec::new();
    // Read once, and only when some listener needs it.
    let mut interfaces: Option<Vec<InterfaceAddr>> = None;
    for addr in &cfg.listen {
        listeners.push(bind_one(cfg, addr, &mut interfaces)?);
    }
    Ok(listeners)
}

/// The line announcing a listener, at start and when a reload adds one. Scripts and tests read the address
/// from it: its format stays as it is.
pub fn serving_line(root: &std::path::Path, listener: &Listener, workers: usize) -> String {
    let plural = if workers == 1 { "worker" } else { "workers" };
    format!("staticd: serving {} at {} ({workers} {plural})", root.display(), listener.name)
}

/// What a reload changes in the listener set.
pub struct Reconciled {
    /// The new set, in the order the configuration gives.
    pub listeners: Vec<Listener>,
    /// Indexes into it of the listeners bound just now (to be announced).
    pub added: Vec<usize>,
    /// Listeners the configuration no longer names, to be closed.
    pub removed: Vec<Listener>,
}

/// Builds the listener set `cfg` asks for out of `current`: the same configured address keeps its socket,
/// a new one is bound. On a bind failure nothing changes: `current` comes back whole with the message. Sockets
/// from systemd are the service manager's to change, and a default listener (no --listen before or now) may
/// have moved port: both stay as they are.
pub fn reconcile(
    cfg: &Config,
    current: Vec<Listener>,
    was_default: bool,
) -> Result<Reconciled, (String, Vec<Listener>)> {
    let unchanged = |listeners| Reconciled { listeners, added: Vec::new(), removed: Vec::new() };
    if current.iter().any(|l| l.configured.is_none()) {
        if !cfg.default_listen {
            log::warn!("listening on the sockets systemd passed; the configured addresses are not used");
        }
        return Ok(unchanged(current));
    }
    if was_default && cfg.default_listen {
        return Ok(unchanged(current));
    }
    let mut old: Vec<Option<Listener>> = current.into_iter().map(Some).collect();
    let mut interfaces: Option<Vec<InterfaceAddr>> = None;
    // Each new listener, with the index in `old` it was kept from (None: bound now).
    let mut listeners: Vec<(Listener, Option<usize>)> = Vec::new();
    for addr in &cfg.listen {
        let kept = old.iter().position(|l| l.as_ref().is_some_and(|l| l.configured.as_ref() == Some(addr)));
        if let Some(listener) = kept.and_then(|i| old[i].take()) {
            listeners.push((listener, kept));
            continue;
        }
        match bind_one(cfg, addr, &mut interfaces) {
            Ok(listener) => listeners.push((listener, None)),
            Err(msg) => {
                // Undo: close what was bound just now, and put the kept ones back where they were.
                let mut fresh = Vec::new();
                for (listener, from) in listeners {
                    match from {
                        Some(i) => old[i] = Some(listener),
                        None => fresh.push(listener),
                    }
                }
                close_all(fresh);
                return Err((msg, old.into_iter().flatten().collect()));
            }
        }
    }
    let added = listeners.iter().enumerate().filter(|(_, (_, from))| from.is_none()).map(|(i, _)| i).collect();
    let listeners = listeners.into_iter().map(|(l, _)| l).collect();
    Ok(Reconciled { listeners, added, removed: old.into_iter().flatten().collect() })
}

/// Closes listeners and removes the socket files among them that are still ours.
pub fn close_all(listeners: Vec<Listener>) {
    for l in listeners {
        drop(l.fd);
        if let Some(file) = l.unix_path {
            file.remove_if_ours();
        }
    }
}

fn bind_one(cfg: &Config, addr: &ListenAddr, interfaces: &mut Option<Vec<InterfaceAddr>>) -> Result<Listener, String> {
    let listener = match addr {
        ListenAddr::Tcp(addr) => {
            let (fd, moved_to) = if cfg.default_listen { bind_default(addr)? } else { (bind_tcp(addr)?, None) };
            let bound = sys::local_addr(fd.as_fd()).map_err(|e| format!("cannot read the address of {addr}: {e}"))?;
            let also = if bound.ip().is_unspecified() {
                let interfaces = interfaces.get_or_insert_with(|| {
                    sys::interface_addresses()
                        .map_err(|e| log::debug!("cannot list the network interfaces: {e}"))
                        .unwrap_or_default()
                });
                lan_urls(bound, interfaces)
            } else {
                Vec::new()
            };
            let note = moved_to.map(|to| format!("{addr} is in use; using {to}"));
            // A default listener that moved is known by where it is: a reload naming the address it could not
            // have must bind that address, not keep this socket.
            let configured = Some(ListenAddr::Tcp(moved_to.unwrap_or(*addr)));
            Listener { fd, configured, name: format!("http://{bound}/"), unix_path: None, note, also }
        }
        ListenAddr::Unix(path) => {
            let fd = sys::unix_listener(path, cfg.socket_mode, BACKLOG)
                .map_err(|e| format!("cannot listen on unix:{}: {e}", path.display()))?;
            let file = SocketFile::bound_at(path)
                .map_err(|e| format!("cannot stat the socket file unix:{}: {e}", path.display()))?;
            Listener {
                fd,
                configured: Some(ListenAddr::Unix(path.clone())),
                name: format!("unix:{}", path.display()),
                unix_path: Some(file),
                note: None,
                also: Vec::new(),
            }
        }
    };
    Ok(listener)
}

fn bind_tcp(addr: &SocketAddr) -> Result<OwnedFd, String> {
    sys::tcp_listener(addr, BACKLOG).map_err(|e| bind_error(addr, &e))
}

fn bind_error(addr: &SocketAddr, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => format!("cannot listen on {addr}: address already in use"),
        Some(libc::EACCES) => format!("cannot listen on {addr}: permission denied"),
        Some(libc::EADDRNOTAVAIL) => format!("cannot listen on {addr}: address not available on this host"),
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

/// The default address, or, while its port is in use, the next ports up to `LAST_DEFAULT_PORT` (then also
/// the address it moved to): someone running a second site by hand gets one instead of an error. Any other
/// failure is reported as it is.
fn bind_default(addr: &SocketAddr) -> Result<(OwnedFd, Option<SocketAddr>), String> {
    for port in addr.port()..=LAST_DEFAULT_PORT {
        let candidate = SocketAddr::new(addr.ip(), port);
        match sys::tcp_listener(&candidate, BACKLOG) {
            Ok(fd) => return Ok((fd, (port != addr.port()).then_some(candidate))),
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => continue,
            Err(e) => return Err(bind_error(&candidate, &e)),
        }
    }
    Err(format!(
        "cannot listen on {addr}: address already in use, and so is every port up to {LAST_DEFAULT_PORT} (use --listen)"
    ))
}

/// The URLs a listener bound to an unspecified address (`bound`) is reachable at from other machines: the
/// same port on every address of that family on an interface that is up and not loopback, in the kernel's
/// order, each once. IPv6 link-local addresses (fe80::/10) are left out: they work only with a zone id
/// (`%eth0`), which browsers do not accept in a URL.
pub fn lan_urls(bound: SocketAddr, interfaces: &[InterfaceAddr]) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for entry in interfaces {
        let usable = entry.up
            && !entry.loopback
            && !entry.ip.is_loopback()
            && !entry.ip.is_unspecified()
            && !entry.ip.is_multicast()
            && match (bound.ip(), entry.ip) {
                (IpAddr::V4(_), IpAddr::V4(_)) => true,
                (IpAddr::V6(_), IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                _ => false,
            };
        if !usable {
            continue;
        }
        let url = format!("http://{}/", SocketAddr::new(entry.ip, bound.port()));
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
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
        listeners.push(Listener { fd, configured: None, name, unix_path: None, note: None, also: Vec::new() });
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, ip: &str, up: bool, loopback: bool) -> InterfaceAddr {
        InterfaceAddr { interface: name.into(), ip: ip.parse().expect("test address"), up, loopback }
    }

    #[test]
    fn a_socket_file_is_removed_only_while_it_is_the_one_we_bound() {
        let dir = std::env::temp_dir().join(format!("staticd-sockfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let ours = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let file = SocketFile::bound_at(&path).expect("stat");
        assert!(file.is_still_ours());
        // Another instance replaced the stale file: same path, another inode.
        drop(ours);
        std::fs::remove_file(&path).expect("unlink");
        let _theirs = std::os::unix::net::UnixListener::bind(&path).expect("rebind");
        assert!(!file.is_still_ours());
        file.remove_if_ours();
        assert!(path.exists(), "the other instance's socket file was removed");
        let theirs = SocketFile::bound_at(&path).expect("stat");
        theirs.remove_if_ours();
        assert!(!path.exists(), "our own socket file stayed");
        // Already gone: nothing to do, no panic.
        theirs.remove_if_ours();
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn lan_urls_name_the_reachable_addresses_of_the_listeners_family() {
        let interfaces = [
            iface("lo", "127.0.0.1", true, true),
            iface("lo", "::1", true, true),
            iface("eth0", "192.168.1.20", true, false),
            iface("eth0", "fd00::2", true, false),
            iface("eth0", "2001:db8::20", true, false),
            iface("eth0", "fe80::fc:ff:fe00:1", true, false),
            iface("wlan0", "10.0.0.5", false, false),
            iface("wlan0", "2001:db8::5", false, false),
            iface("docker0", "172.17.0.1", true, false),
            // The same address on a second interface is named once.
            iface("br0", "192.168.1.20", true, false),
        ];
        let v4: SocketAddr = "0.0.0.0:8080".parse().expect("v4");
        assert_eq!(lan_urls(v4, &interfaces), ["http://192.168.1.20:8080/", "http://172.17.0.1:8080/"]);
        let v6: SocketAddr = "[::]:8443".parse().expect("v6");
        assert_eq!(lan_urls(v6, &interfaces), ["http://[fd00::2]:8443/", "http://[2001:db8::20]:8443/"]);
        assert!(lan_urls(v4, &[]).is_empty());
    }
}
