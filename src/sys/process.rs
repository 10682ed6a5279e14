//! Processes and signals: forking workers and reaping them, signals delivered through a signalfd instead of
//! handlers, the process name, the parent-death signal, and the descriptors and limits a process inherits.
//!
//! Raw libc where nix falls short: `waitpid`, because nix's decoded status has no room for a real-time signal
//! and reports EINVAL after the child was already reaped (a worker killed by one would be lost); `close_range`
//! and setting close-on-exec on a descriptor number nobody owns yet, for which nix has no call.

use std::ffi::CString;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{self, ForkResult, Pid, SysconfVar};

/// Blocks `signals` for normal delivery and returns a non-blocking signalfd that reports them instead.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<std::os::fd::OwnedFd> {
    let set = signals.iter().map(|&s| Signal::try_from(s)).collect::<Result<SigSet, _>>()?;
    set.thread_block()?;
    Ok(SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?.into())
}

/// Unblocks every signal (a forked worker must not inherit the master's mask forever).
pub fn unblock_all_signals() {
    // Cannot fail: the set is valid and SIG_UNBLOCK is a valid operation.
    let _ = SigSet::all().thread_unblock();
}

/// A signalfd read is one `signalfd_siginfo`, whose first field is the signal number.
const SIGINFO_BYTES: usize = size_of::<libc::signalfd_siginfo>();
const _: () = assert!(offset_of!(libc::signalfd_siginfo, ssi_signo) == 0);

/// Reads one pending signal number from a signalfd, or None when none is pending.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    let mut info = [0u8; SIGINFO_BYTES];
    match unistd::read(fd, &mut info) {
        Ok(n) if n == SIGINFO_BYTES => Ok(Some(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32)),
        Ok(_) => Ok(None),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// SIGPIPE must never kill a process: a peer that vanishes is an EPIPE on one connection, nothing more.
pub fn ignore_sigpipe() {
    // SAFETY: nix's `signal` is unsafe because a handler function must be async-signal-safe; SIG_IGN installs
    // no handler at all, so there is nothing to run in signal context.
    let _ = unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Ignores each of `signals` (SIG_IGN): for a process that must survive signals meant for others in its
/// group or unit (`systemctl kill` signals every process of the unit, a terminal's ^C or ^\\ the whole group).
/// SIGKILL and SIGSTOP cannot be ignored: EINVAL.
pub fn ignore_signals(signals: &[libc::c_int]) -> io::Result<()> {
    for &s in signals {
        let sig = Signal::try_from(s)?;
        // SAFETY: as in `ignore_sigpipe`: SIG_IGN installs no handler, so nothing runs in signal context.
        unsafe { signal::signal(sig, SigHandler::SigIgn) }?;
    }
    Ok(())
}

pub enum Forked {
    Parent(i32),
    Child,
}

/// Forks. The caller is single-threaded (master and workers never start threads), so the child may run
/// arbitrary code.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: nix's `fork` is unsafe because the child of a multi-threaded parent may only call
    // async-signal-safe functions. Master and workers never start threads, so the process forking is
    // single-threaded and its child inherits no lock another thread held.
    match unsafe { unistd::fork() }? {
        ForkResult::Child => Ok(Forked::Child),
        ForkResult::Parent { child } => Ok(Forked::Parent(child.as_raw())),
    }
}

pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    Ok(signal::kill(Pid::from_raw(pid), Signal::try_from(sig)?)?)
}

pub fn getppid() -> i32 {
    unistd::getppid().as_raw()
}

pub fn geteuid() -> u32 {
    unistd::geteuid().as_raw()
}

/// How a reaped child ended.
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

/// Reaps one exited child without blocking.
pub fn reap_child() -> io::Result<Option<(i32, ExitKind)>> {
    let mut status = 0;
    // SAFETY: `status` is a live, writable c_int for the call; waitpid writes only there.
    let pid = match Errno::result(unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) }) {
        Ok(pid) => pid,
        Err(Errno::ECHILD) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some((pid, exit_kind(status))))
}

/// Waits (blocking, through EINTR) for the child `pid` to end: for a short-lived helper child such as the
/// start-up probe, whose answer the caller needs before going on.
pub fn wait_child(pid: i32) -> io::Result<ExitKind> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live, writable c_int for the call; waitpid writes only there.
        match Errno::result(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(exit_kind(status)),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The text of an errno value without std's "(os error N)" suffix, for one-line messages to operators.
pub fn errno_text(code: i32) -> &'static str {
    Errno::from_raw(code).desc()
}

fn exit_kind(status: libc::c_int) -> ExitKind {
    if libc::WIFSIGNALED(status) {
        ExitKind::Signal(libc::WTERMSIG(status))
    } else {
        ExitKind::Code(libc::WEXITSTATUS(status))
    }
}

/// Marks an inherited descriptor number close-on-exec, failing with EBADF when nothing is open there. It takes
/// a number rather than a borrowed descriptor because it is the check made before anything owns it.
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD only changes the flags of descriptor `fd` and touches no memory of ours; a number with
    // nothing open behind it yields EBADF.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(())
}

/// Closes every descriptor >= 3 except `keep`: a forked worker must not hold the master's listeners, other
/// workers' channels or descriptors queued for them. Uses close_range, and a plain loop where the kernel or a
/// seccomp filter refuses it.
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    for (first, last) in ranges_to_close(keep) {
        // SAFETY: close_range only closes descriptors and touches no memory; nothing in this process uses the
        // closed ones again (the forked child abandons the master's objects without dropping them).
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if rc != 0 {
            close_each(first, last)?;
        }
    }
    Ok(())
}

/// The inclusive ranges of descriptors from 3 up that are not in `keep`.
fn ranges_to_close(keep: &[RawFd]) -> Vec<(libc::c_uint, libc::c_uint)> {
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
    ranges
}

/// The close_range fallback: every descriptor in [first, last] below the descriptor limit.
fn close_each(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let end = (soft.min(1 << 20) as libc::c_uint).min(last.saturating_add(1));
    for fd in first..end {
        // As in close_fds_except, these descriptors are closed on purpose although nothing here owns them;
        // EBADF for those that are not open is expected and ignored.
        let _ = unistd::close(fd as RawFd);
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one (10,000 connections per worker need it) and returns the
/// limit now in force.
pub fn raise_nofile_limit() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        // Unknown: assume the common default rather than refuse to start.
        Err(_) => 1024,
    }
}

/// Online CPUs, for the default worker count.
pub fn cpus_online() -> usize {
    match unistd::sysconf(SysconfVar::_NPROCESSORS_ONLN) {
        Ok(Some(n)) if n >= 1 => n as usize,
        _ => 1,
    }
}

/// Names the process (as shown by ps/top): "staticd" for the master, "staticd-w3" for worker 3.
pub fn set_process_name(name: &str) {
    let Ok(c) = CString::new(name) else { return };
    // The kernel keeps the first 15 bytes; a failure only leaves the old name.
    let _ = prctl::set_name(&c);
}

/// Asks the kernel to send `sig` to this process when its parent dies (cleared by setuid, so call it after).
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    Ok(prctl::set_pdeathsig(Signal::try_from(sig)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_skip_kept_descriptors() {
        let max = libc::c_uint::MAX;
        assert_eq!(ranges_to_close(&[]), vec![(3, max)]);
        assert_eq!(ranges_to_close(&[0, 1, 2]), vec![(3, max)]);
        assert_eq!(ranges_to_close(&[3]), vec![(4, max)]);
        assert_eq!(ranges_to_close(&[9, 5, 6]), vec![(3, 4), (7, 8), (10, max)]);
    }

    #[test]
    fn exit_statuses_decode() {
        assert!(matches!(exit_kind(3 << 8), ExitKind::Code(3)));
        assert!(matches!(exit_kind(libc::SIGKILL), ExitKind::Signal(9)));
        // A real-time signal, which nix's WaitStatus cannot represent.
        assert!(matches!(exit_kind(libc::SIGRTMIN() + 1), ExitKind::Signal(s) if s == libc::SIGRTMIN() + 1));
    }

    #[test]
    fn cloexec_needs_an_open_descriptor() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        set_cloexec(std::os::fd::AsRawFd::as_raw_fd(&a)).unwrap();
        assert_eq!(set_cloexec(-1).unwrap_err().raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn ignored_signals_do_not_kill() {
        // SIGURG is ignored by default anyway, so ignoring it changes nothing for the rest of the test binary;
        // that it is then ignored (and raising it is harmless) shows the disposition was set.
        ignore_signals(&[libc::SIGURG]).unwrap();
        // SAFETY: a null `act` only reads the current disposition into `old`, a live local.
        let old = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(libc::SIGURG, std::ptr::null(), &mut old), 0);
            old
        };
        assert_eq!(old.sa_sigaction, libc::SIG_IGN);
        assert_eq!(ignore_signals(&[libc::SIGKILL]).unwrap_err().raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn cpus_and_ids() {
        assert!(cpus_online() >= 1);
        assert_eq!(getppid(), std::os::unix::process::parent_id() as i32);
        assert!(kill(std::process::id() as i32, 4242).is_err());
    }
}
