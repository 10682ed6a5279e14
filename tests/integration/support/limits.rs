//! Descriptor limits: of this test process (which opens thousands of client sockets), of a staticd about to
//! start, and of a running master (through util-linux `prlimit`).

use std::process::Command;

/// Raises this test process's soft descriptor limit to at least `want` (up to the hard limit). Returns false
/// when the hard limit is too low. The limit is process-wide, so it is only ever raised: tests running
/// alongside are unaffected.
pub fn ensure_own_nofile(want: u64) -> bool {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    if lim.rlim_cur >= want {
        return true;
    }
    if lim.rlim_max < want {
        return false;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one rlimit from the struct we own; raising soft up to hard is allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// Makes `cmd` start with both descriptor limits at `n` (the master raises its soft limit to the hard one at
/// start, so lowering only the soft limit would not stick).
pub fn limit_nofile(cmd: &mut Command, n: u64) {
    use std::os::unix::process::CommandExt;
    let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which is
    // async-signal-safe, on a value copied into the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// Sets the descriptor limits of a running process with `prlimit --pid` (lowering is always allowed; raising
/// the soft limit up to the hard one too). The caller checks `require_tool("prlimit")` first.
pub fn set_nofile_of(pid: i32, soft: u64, hard: u64) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={soft}:{hard}"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run prlimit: {e}"));
    assert!(status.success(), "prlimit --pid={pid} --nofile={soft}:{hard}: {status}");
}
