//! Listeners for proxies and service managers, through the real binary: Unix-domain sockets (mode, stale and
//! live socket files, removal on exit) and systemd socket activation with readiness notification.
//!
//! These are the ways staticd is wired into a real deployment (nginx in front over a socket file, systemd
//! owning the port); a mistake here shows up as a site that does not come back after a restart.

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>over a socket</h1>\n");
    root
}

/// staticd listening only on `unix:PATH`.
fn start_unix(root: &TempRoot, sock: &Path, extra: &[&str]) -> Server {
    let listen = format!("unix:{}", sock.display());
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let server = root.serve(&args);
    let want = format!("staticd: serving {} at unix:{} (2 workers)", root.path.display(), sock.display());
    assert!(server.stderr_lines().contains(&want), "expected the line {want:?}; stderr:\n{}", server.stderr_text());
    server
}

fn unix_socket_served_then_removed_on(sig: i32) {
    let root = site("unix");
    let sock = root.beside("staticd.sock");
    let log = root.beside("access.log");
    let mut server = start_unix(&root, &sock, &["--socket-mode", "0640", "--access-log", log.to_str().expect("utf-8")]);
    let meta = std::fs::symlink_metadata(&sock).expect("socket file exists");
    assert!(meta.file_type().is_socket(), "{} is not a socket", sock.display());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "mode of the socket file");
    let resp = unix_get(&sock, "/index.html");
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"<h1>over a socket</h1>\n"[..]));
    // A Unix-socket client has no address: logged as "-".
    let lines = wait_log_lines(&log, 1, LONG);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("- - - ["), "client of a unix socket is '-': {:?}", lines[0]);
    server.signal(sig);
    let status = server.wait_exit(LONG).unwrap_or_else(|| panic!("no exit after signal {sig}"));
    assert!(status.success() || sig == libc::SIGTERM, "exit status {status}");
    assert!(!sock.exists(), "signal {sig}: socket file left behind; stderr:\n{}", server.stderr_text());
}

#[test]
fn unix_socket_serves_with_its_mode_and_is_removed_on_term() {
    unix_socket_served_then_removed_on(libc::SIGTERM);
}

#[test]
fn unix_socket_is_removed_on_quit() {
    unix_socket_served_then_removed_on(libc::SIGQUIT);
}

#[test]
fn stale_socket_file_is_replaced() {
    let root = site("stale");
    let sock = root.beside("staticd.sock");
    // A crashed run leaves the file behind with nobody listening.
    drop(UnixListener::bind(&sock).expect("bind"));
    assert!(sock.exists());
    let _server = start_unix(&root, &sock, &[]);
    assert_eq!(unix_get(&sock, "/index.html").status, 200);
    assert_eq!(std::fs::metadata(&sock).expect("socket").permissions().mode() & 0o777, 0o660, "default mode");
}

/// Runs staticd on `sock` expecting the start-up error for a socket in use.
fn assert_refused_in_use(root: &TempRoot, sock: &Path) {
    let arg = format!("unix:{}", sock.display());
    let exit = run_capture(&["--listen", &arg, "--workers", "1", root.path_str()], LONG, |_| {});
    let lines: Vec<&str> = exit.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(exit_code(&exit.status), 2, "stderr:\n{}", exit.stderr);
    assert_eq!(lines.len(), 1, "one line:\n{}", exit.stderr);
    assert!(lines[0].starts_with("staticd: ") && lines[0].contains(&sock.display().to_string()), "{:?}", lines[0]);
    assert!(!exit.leftovers);
    assert!(sock.exists(), "the live socket file must not be removed");
}

#[test]
fn live_socket_held_by_another_process_is_an_error() {
    let root = site("live");
    let sock = root.beside("held.sock");
    let held = UnixListener::bind(&sock).expect("bind");
    assert_refused_in_use(&root, &sock);
    // Still ours: a client reaches our listener, not a new one.
    let _c = UnixStream::connect(&sock).expect("connect to the held listener");
    held.set_nonblocking(true).expect("nonblocking");
    assert!(held.accept().is_ok(), "the held listener lost its socket");
}

#[test]
fn live_socket_of_another_staticd_is_an_error() {
    let root = site("live2");
    let sock = root.beside("staticd.sock");
    let _first = start_unix(&root, &sock, &[]);
    assert_refused_in_use(&root, &sock);
    assert_eq!(unix_get(&sock, "/index.html").status, 200, "the first server still serves");
}

#[test]
fn socket_activation_serves_the_passed_socket_and_notifies_systemd() {
    let root = site("activation");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let notify_path = root.beside("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    let fd = listener.as_raw_fd();
    if !require_tool("sh") {
        return;
    }
    // `exec` keeps the shell's pid, so $$ is staticd's pid: what systemd puts in LISTEN_PID.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"LISTEN_PID=$$ exec "$0" "$@""#)
        .arg(binary())
        .args(["--workers", "2"])
        .arg(&root.path)
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null());
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself would keep FD_CLOEXEC; clear it instead.
                if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = Server::spawn(cmd, 1);
    let serving = server.wait_for_stderr(|l| l.starts_with("staticd: serving "), LONG).expect("serving line");
    assert!(
        serving.contains(&format!("at http://{addr}/ (from systemd)")),
        "must serve the passed socket, not bind its own: {serving:?}"
    );
    assert_eq!(parse_serving_line(&serving), Some(addr), "{serving:?}");
    let ready = recv_notify(&notify, LONG).expect("no READY=1 datagram");
    let mut fields: Vec<&str> = ready.lines().collect();
    fields.sort_unstable();
    assert_eq!(fields, ["MAINPID=".to_string() + &server.pid().to_string(), "READY=1".to_string()], "{ready:?}");
    // The test's own copy of the listener stays open; staticd accepts on the shared socket.
    drop(listener);
    let resp = get(addr, "/index.html");
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"<h1>over a socket</h1>\n"[..]));
    server.signal(libc::SIGTERM);
    let stopping = recv_notify(&notify, LONG).expect("no STOPPING=1 datagram on TERM");
    assert_eq!(stopping, "STOPPING=1");
    assert!(server.wait_exit(LONG).is_some(), "no exit after TERM");
}

/// A restart while the old instance drains: A (QUIT, still sending a download) and B (started on the same
/// path) overlap, and A's exit must not unlink the socket file B now listens on.
#[test]
fn draining_instance_leaves_the_new_instances_socket_file() {
    use std::io::Read;
    let root = site("handover");
    const SIZE: u64 = 256 << 20;
    root.write_sparse("big.bin", SIZE);
    let sock = root.beside("staticd.sock");
    let mut a = start_unix(&root, &sock, &[]);
    // A download far larger than the socket buffers: A cannot finish it while we do not read.
    let mut slow = UnixStream::connect(&sock).expect("connect to A");
    slow.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("write");
    let mut first = [0u8; 4096];
    let mut got = slow.read(&mut first).expect("first bytes from A") as u64;
    assert!(first.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&first[..64]));
    a.signal(libc::SIGQUIT);
    assert!(wait_until(LONG, || UnixStream::connect(&sock).is_err()), "A still accepts after QUIT");
    // A's listener is closed: B starts on the same path (over a stale file, or none).
    let b = start_unix(&root, &sock, &[]);
    assert!(a.wait_exit(Duration::from_millis(300)).is_none(), "A finished before the download; test is void");
    // Let A finish the download and exit.
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match slow.read(&mut buf).expect("download from A") {
            0 => break,
            n => got += n as u64,
        }
    }
    assert!(got > SIZE, "the whole download arrived ({got} bytes)");
    let status = a.wait_exit(LONG).expect("A exits after its download");
    assert!(status.success(), "A's exit status {status}");
    let meta = std::fs::symlink_metadata(&sock).unwrap_or_else(|e| panic!("B's socket file is gone ({e})"));
    assert!(meta.file_type().is_socket());
    let resp = unix_get(&sock, "/index.html");
    assert_eq!(resp.status, 200, "B answers; B's stderr:\n{}", b.stderr_text());
}

/// The path was taken over while A ran (its file deleted, B bound there): A's TERM must leave B's file.
#[test]
fn exit_leaves_a_socket_file_that_is_no_longer_ours() {
    let root = site("takenover");
    let sock = root.beside("staticd.sock");
    let mut a = start_unix(&root, &sock, &[]);
    std::fs::remove_file(&sock).expect("delete A's socket file");
    let b = start_unix(&root, &sock, &[]);
    a.signal(libc::SIGTERM);
    a.wait_exit(LONG).expect("A exits on TERM");
    assert!(sock.exists(), "A removed B's socket file; A's stderr:\n{}", a.stderr_text());
    assert_eq!(unix_get(&sock, "/index.html").status, 200, "B answers; B's stderr:\n{}", b.stderr_text());
}
