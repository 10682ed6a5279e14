//! What the kernel says about TCP sockets: /proc/PID/net/tcp{,6} joined with a process's descriptors, so a
//! test can see which socket of *its own* server (or of the clients talking to it) is in which state, even
//! while other tests run servers of their own.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use super::procfs::fd_targets;
use super::server::Server;

/// One row of /proc/net/tcp{,6}.
#[derive(Debug, Clone)]
pub struct TcpRow {
    pub remote_port: u16,
    pub state: &'static str,
    inode: u64,
}

/// Name of a TCP state as numbered in /proc/net/tcp.
fn state_name(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        0x0C => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

fn parse_table(text: &str) -> Vec<TcpRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let port = |s: &str| u16::from_str_radix(s.rsplit(':').next()?, 16).ok();
            Some(TcpRow {
                remote_port: port(f[2])?,
                state: state_name(u8::from_str_radix(f[3], 16).ok()?),
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

/// Every TCP socket in the network namespace of `pid` (or of this process for `None`).
fn tcp_table(pid: Option<i32>) -> Vec<TcpRow> {
    let base = match pid {
        Some(p) => format!("/proc/{p}/net"),
        None => "/proc/net".to_string(),
    };
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|file| fs::read_to_string(format!("{base}/{file}")).ok())
        .flat_map(|t| parse_table(&t))
        .collect()
}

/// TCP sockets among the open descriptors of `pid`.
pub fn tcp_sockets_of(pid: i32) -> Vec<TcpRow> {
    let inodes: HashSet<u64> =
        fd_targets(pid).iter().filter_map(|t| t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()).collect();
    tcp_table(Some(pid)).into_iter().filter(|r| r.inode != 0 && inodes.contains(&r.inode)).collect()
}

/// Sockets of `pid` counted per TCP state.
pub fn tcp_states_of(pid: i32) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for row in tcp_sockets_of(pid) {
        *counts.entry(row.state.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Client-side sockets (of any process) connected to `server_port`, counted per state.
pub fn client_states_towards(server_port: u16) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for row in tcp_table(None).into_iter().filter(|r| r.remote_port == server_port) {
        *counts.entry(row.state.to_string()).or_insert(0) += 1;
    }
    counts
}

/// The state of the server side of the connection whose client port is `client_port`, if the master or a
/// worker holds it. (`None` also while the master is still handing it to a worker.)
pub fn server_side_state(server: &Server, client_port: u16) -> Option<&'static str> {
    server.all_pids().into_iter().flat_map(tcp_sockets_of).find(|r| r.remote_port == client_port).map(|r| r.state)
}

/// How many ports `unclaimed_loopback_addr` has tried so far in this process.
static UNCLAIMED_PORTS_TRIED: AtomicU16 = AtomicU16::new(0);

/// A loopback address that nothing listens on and that no other test can take meanwhile. A port freed
/// after `bind(:0)` could be handed out again by the kernel at once (to another test's `bind(:0)` or
/// `connect`), so this one lies below the ephemeral range those draw from (`ip_local_port_range`).
pub fn unclaimed_loopback_addr() -> SocketAddr {
    let ephemeral_start: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    // Well above the well-known ports and the usual 8080s, at an offset of this process's own so that test
    // runs in other worktrees on the machine try other ports.
    let base = 20_000 + (std::process::id() % 10_000) as u16;
    loop {
        let port = base + UNCLAIMED_PORTS_TRIED.fetch_add(1, Ordering::SeqCst);
        assert!(port < ephemeral_start, "no free port below the ephemeral range ({ephemeral_start})");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

/// Data-carrying segments this socket has received (`tcpi_data_segs_in` of `struct tcp_info`, Linux ≥ 4.6),
/// read by offset because libc's struct predates the field.
pub fn tcp_data_segs_in(stream: &TcpStream) -> Option<u32> {
    const OFFSET: usize = 152;
    let mut raw = [0u8; 256];
    let mut len = raw.len() as libc::socklen_t;
    // SAFETY: the fd is a live socket; `raw` is writable for `len` bytes and len is updated in place.
    let rc = unsafe {
        libc::getsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, raw.as_mut_ptr().cast(), &mut len)
    };
    if rc != 0 || (len as usize) < OFFSET + 4 {
        return None;
    }
    let bytes: [u8; 4] = raw.get(OFFSET..OFFSET + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

/// Sets SO_LINGER {on, 0} so that dropping the stream sends an RST instead of a FIN.
pub fn set_linger_zero(stream: &TcpStream) {
    let l = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is a live socket owned by `stream`; the option value is a properly sized linger.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}
