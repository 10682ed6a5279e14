//! The one way a test gives up on a missing precondition (root, an external tool, a kernel feature): it says
//! why on stderr, and under `STATICD_REQUIRE_ALL=1` (which CI sets) it fails instead, so a skip cannot hide a
//! test that CI was supposed to run.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Whether the test process runs as root (CI does; a developer usually does not).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// True when `available`; otherwise reports `needs` (what is missing) and returns false, so the caller can
/// return (or leave out the part that needs it). Panics instead under `STATICD_REQUIRE_ALL=1`.
pub fn require(available: bool, needs: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("STATICD_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("cannot skip under STATICD_REQUIRE_ALL=1: needs {needs}");
    }
    // Straight to the process's stderr, past the harness's capture, so that the skip shows in a passing run;
    // the harness names each test's thread after the test.
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr(), "skipped {test}: needs {needs}");
    false
}

/// `require` for root; `why` says what the test checks that only root can.
pub fn require_root(why: &str) -> bool {
    require(is_root(), &format!("root ({why})"))
}

/// `require` for an executable on PATH.
pub fn require_tool(name: &str) -> bool {
    require(tool_path(name).is_some(), &format!("{name} on PATH"))
}

fn tool_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}
