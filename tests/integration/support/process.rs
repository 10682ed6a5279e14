//! The one handle on a child process (staticd itself or an external client such as curl): it runs in a process
//! group of its own, its output is drained in the background, and dropping the handle kills the whole group and
//! reaps the child, so no test leaves a process behind even when it panics.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::pipe::Lines;
use super::procfs::group_alive;
use super::wait::wait_until;

/// How long the pipes of a finished process may stay open (helpers it forked hold them until the group is
/// killed).
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// A running child in its own process group.
pub struct Process {
    child: Child,
    stderr: Lines,
    stdout: Option<Lines>,
    reaped: Option<ExitStatus>,
}

impl Process {
    /// Starts `cmd` with stdin closed and stderr captured; stdout is captured as well when the caller piped it.
    pub fn spawn(mut cmd: Command) -> Process {
        cmd.stdin(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        let label = Path::new(cmd.get_program()).file_name().unwrap_or_default().to_string_lossy().into_owned();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let stderr = Lines::drain(child.stderr.take().expect("stderr is piped"), &label);
        let stdout = child.stdout.take().map(|pipe| Lines::drain(pipe, &label));
        Process { child, stderr, stdout, reaped: None }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr(&self) -> &Lines {
        &self.stderr
    }

    /// The captured stdout; panics unless the command was started with stdout piped.
    pub fn stdout(&self) -> &Lines {
        self.stdout.as_ref().expect("the command was started with stdout piped")
    }

    /// Sends `sig` to the process itself (not its group).
    pub fn signal(&self, sig: i32) {
        kill(self.pid(), sig);
    }

    /// The exit status if the process has exited (reaping it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.reaped = Some(status);
            }
        }
        self.reaped
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || self.exited().is_some());
        self.reaped
    }

    fn kill_group(&self) {
        // A negative pid names the child's own process group.
        kill(-self.pid(), libc::SIGKILL);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_group();
        if self.reaped.is_none() {
            let _ = self.child.wait();
        }
    }
}

/// Sends `sig` to `pid` (a process group when negative); a process that is already gone is no error.
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// What a process that was expected to exit on its own left behind.
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Some process of its group was still alive after it exited (it forked and left something running).
    pub leftovers: bool,
}

/// Runs `cmd` (stdout captured) until it exits by itself; panics with its stderr if that takes longer than
/// `timeout`. Whatever it left running in its group is killed before the output is collected.
pub fn run_to_exit(mut cmd: Command, timeout: Duration) -> Exit {
    cmd.stdout(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut process = Process::spawn(cmd);
    let Some(status) = process.wait_exit(timeout) else {
        panic!("{what} did not exit within {timeout:?}; stderr:\n{}", process.stderr.text());
    };
    let leftovers = group_alive(process.pid());
    process.kill_group();
    process.stderr.wait_closed(PIPE_GRACE);
    process.stdout().wait_closed(PIPE_GRACE);
    Exit { status, stdout: process.stdout().text(), stderr: process.stderr.text(), leftovers }
}

/// Runs an external client (curl, python3, chromium) to completion, in `cwd` when given.
pub fn run_tool(program: &str, args: &[&str], cwd: Option<&Path>, timeout: Duration) -> Exit {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    run_to_exit(cmd, timeout)
}

/// Exit code, or 128 + signal for a process killed by a signal (the shell's convention).
pub fn exit_code(status: &ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
