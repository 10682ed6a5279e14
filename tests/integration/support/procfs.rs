//! What the kernel says about processes, read from /proc: parents, process groups, liveness, CPU time, ids
//! and open descriptors. The tests judge the process model by these, not by the server's own log lines.

use std::fs;
use std::time::{Duration, Instant};

use super::wait::wait_until;

/// A process seen in /proc.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    /// The process name (`staticd-w0`, …).
    pub comm: String,
    /// The state letter: `R`, `S`, … and `Z` for a zombie.
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    /// User plus system CPU time, in clock ticks.
    cpu_ticks: u64,
}

impl Proc {
    /// Exists and is not a zombie (it still runs).
    pub fn alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// One process from /proc/PID/stat (the comm field may contain spaces or parentheses, so fields are counted
/// from its closing parenthesis).
pub fn proc_info(pid: i32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // After the comm: state (field 3 of `man 5 proc`), ppid, pgrp, …, utime (14), stime (15).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Proc {
        pid,
        comm,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        cpu_ticks: number(11)? + number(12)?,
    })
}

/// Every process in /proc, zombies included.
pub fn all_processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).filter_map(proc_info).collect()
}

/// Live children of `parent`, sorted.
pub fn children_of(parent: i32) -> Vec<i32> {
    let mut pids: Vec<i32> =
        all_processes().into_iter().filter(|p| p.ppid == parent && p.alive()).map(|p| p.pid).collect();
    pids.sort_unstable();
    pids
}

pub fn pid_alive(pid: i32) -> bool {
    proc_info(pid).is_some_and(|p| p.alive())
}

/// Whether any live process is still in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    all_processes().iter().any(|p| p.pgrp == pgid && p.alive())
}

/// A server's whole tree, alive or zombie: its process group (the master's pid, since the tests start it in
/// a group of its own) plus anything whose parent is the master.
pub fn server_tree(master: i32) -> Vec<Proc> {
    all_processes().into_iter().filter(|p| p.pgrp == master || p.ppid == master || p.pid == master).collect()
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(proc_info(pid)?.cpu_ticks * 1000 / ticks_per_second))
}

/// A named line (`Uid:`, `Gid:`, `Groups:`, `NoNewPrivs:`, `VmHWM:` …) of /proc/PID/status, without its name.
pub fn proc_status_field(pid: i32, name: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let prefix = format!("{name}:");
    status.lines().find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

/// What each open descriptor of `pid` refers to (`socket:[123]`, `pipe:[45]`, a path, …).
pub fn fd_targets(pid: i32) -> Vec<String> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten().filter_map(|e| fs::read_link(e.path()).ok()).map(|t| t.to_string_lossy().into_owned()).collect()
}

pub fn fd_count(pid: i32) -> usize {
    fd_targets(pid).len()
}

/// Open sockets and pipes of `pid`: the descriptors a connection can leak. (Regular files are left out: a
/// worker's open-file cache legitimately keeps them.)
pub fn socket_and_pipe_count(pid: i32) -> usize {
    fd_targets(pid).iter().filter(|t| t.starts_with("socket:") || t.starts_with("pipe:")).count()
}

/// Descriptor count of `pid` once it has stopped changing for `quiet` (or when `timeout` passes).
pub fn settled_fd_count(pid: i32, quiet: Duration, timeout: Duration) -> usize {
    let mut last = fd_count(pid);
    let mut since = Instant::now();
    wait_until(timeout, || {
        let now = fd_count(pid);
        if now != last {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= quiet
    });
    last
}
