//! `--config PATH` with the real binary: a TOML file sets the listeners, the root (relative to the file) and
//! the headers, the command line overrides it, and `--check` reports a bad file as one line naming the file
//! and the line, exit code 2.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// A root with `/hello.txt`, and `staticd.toml` beside it holding `text`.
fn site_with_config(tag: &str, text: &str) -> (TempRoot, PathBuf) {
    let root = TempRoot::new(tag);
    root.write("hello.txt", b"hello from the config file\n");
    let config = root.beside("staticd.toml");
    std::fs::write(&config, text).expect("write the config file");
    (root, config)
}

/// Starts staticd with `args` and waits for `listeners` serving lines.
fn start(args: &[&str], listeners: usize) -> Server {
    let mut cmd = Command::new(binary());
    cmd.args(args).stdout(Stdio::null());
    Server::spawn(cmd, listeners)
}

/// The TCP addresses a server announced.
fn addrs(server: &Server) -> Vec<std::net::SocketAddr> {
    server.stderr_lines().iter().filter_map(|l| parse_serving_line(l)).collect()
}

const TWO_LISTENERS: &str = r#"
# Relative to this file's directory: the TempRoot's `root`.
root = "root"
listen = ["127.0.0.1:0", "127.0.0.1:0"]
workers = 1
header = ["X-From: file"]
"#;

#[test]
fn the_file_configures_listeners_root_and_headers() {
    let (_root, config) = site_with_config("config-serve", TWO_LISTENERS);
    let config = config.to_str().expect("UTF-8 temp path");
    let server = start(&["--config", config], 2);
    let addrs = addrs(&server);
    assert_eq!(addrs.len(), 2, "two listeners; stderr:\n{}", server.stderr_text());
    assert_ne!(addrs[0], addrs[1]);
    for addr in addrs {
        let resp = get(addr, "/hello.txt");
        assert_eq!(resp.status, 200, "GET /hello.txt at {addr}");
        assert_eq!(resp.body_str(), "hello from the config file\n");
        assert_eq!(resp.headers_named("X-From"), ["file"], "at {addr}");
    }
}

#[test]
fn the_command_line_overrides_the_file() {
    let (_root, config) = site_with_config("config-override", TWO_LISTENERS);
    let config = config.to_str().expect("UTF-8 temp path");
    // A command-line --listen replaces the file's two; a --header replaces the file's list.
    let server = start(&["--config", config, "--header", "X-From: command line", "--listen", "127.0.0.1:0"], 1);
    let addrs = addrs(&server);
    assert_eq!(addrs.len(), 1, "one listener; stderr:\n{}", server.stderr_text());
    let resp = get(addrs[0], "/hello.txt");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers_named("X-From"), ["command line"]);
}

#[test]
fn check_accepts_a_good_file() {
    let (_root, config) = site_with_config("config-check-ok", TWO_LISTENERS);
    let config = config.to_str().expect("UTF-8 temp path");
    let exit = run_capture(&["--check", "--config", config], EXIT_TIMEOUT, |_| {});
    assert_eq!(exit_code(&exit.status), 0, "stderr:\n{}", exit.stderr);
    assert!(exit.stderr.contains("staticd: configuration OK"), "stderr:\n{}", exit.stderr);
    assert!(exit.stderr.contains("2 listener(s)"), "stderr:\n{}", exit.stderr);
}

#[test]
fn check_reports_a_bad_file_at_its_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("syntax error", "root = \"root\"\n\nlisten = [\"127.0.0.1:0\"] x\n", 3, "unexpected"),
        ("unclosed array", "root = \"root\"\nworkers = [1,\n", 2, "unclosed array"),
        ("unknown key", "root = \"root\"\n\nlissten = [\"127.0.0.1:0\"]\n", 3, "lissten"),
        ("zero workers", "root = \"root\"\nworkers = 0\n", 2, "workers"),
        ("bad address", "root = \"root\"\nlisten = [\n  \"127.0.0.1:0\",\n  \"nonsense\",\n]\n", 4, "nonsense"),
        ("wrong type", "root = \"root\"\nlisten = [\"127.0.0.1:0\"]\nworkers = \"four\"\n", 3, "four"),
        ("flag not boolean", "root = \"root\"\ndotfiles = \"yes\"\n", 2, "dotfiles"),
        ("missing root", "root = \"no-such-dir\"\n", 1, "no-such-dir"),
    ];
    for (what, text, line, needle) in cases {
        let (_root, config) = site_with_config("config-check-bad", text);
        let config = config.to_str().expect("UTF-8 temp path");
        let exit = run_capture(&["--check", "--config", config], EXIT_TIMEOUT, |_| {});
        let lines: Vec<&str> = exit.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(exit_code(&exit.status), 2, "{what}: exit code; stderr:\n{}", exit.stderr);
        assert_eq!(lines.len(), 1, "{what}: one stderr line; got:\n{}", exit.stderr);
        let want = format!("staticd: {config}:{line}: ");
        assert!(lines[0].starts_with(&want), "{what}: {:?} should start with {want:?}", lines[0]);
        assert!(lines[0].contains(needle), "{what}: {:?} should name {needle:?}", lines[0]);
        assert!(!exit.leftovers, "{what}: a process outlived the check");
    }
    let exit = run_capture(&["--check", "--config", "/nonexistent/staticd.toml"], EXIT_TIMEOUT, |_| {});
    assert_eq!(exit_code(&exit.status), 2, "missing file; stderr:\n{}", exit.stderr);
    assert_eq!(exit.stderr.trim().lines().count(), 1, "missing file; stderr:\n{}", exit.stderr);
    assert!(exit.stderr.contains("/nonexistent/staticd.toml"), "stderr:\n{}", exit.stderr);
}

/// A config file serving `root` on one TCP port (plus `extra_listen`), tagging every response `X-Gen: gen`.
fn generation(gen: u32, extra_listen: &[String]) -> String {
    let mut listen = vec!["\"127.0.0.1:0\"".to_string()];
    listen.extend(extra_listen.iter().map(|l| format!("{l:?}")));
    format!("root = \"root\"\nworkers = 1\nlisten = [{}]\nheader = [\"X-Gen: {gen}\"]\n", listen.join(", "))
}

/// The `X-Gen` header of a fresh GET of /hello.txt.
fn gen_at(addr: std::net::SocketAddr) -> String {
    get(addr, "/hello.txt").headers_named("X-Gen").join(",")
}

/// Sends HUP and waits for the reload's verdict: the next "reload refused" line, or None when it went through
/// (the generation's "starting new workers" line).
fn hup(server: &Server) -> Option<String> {
    let refused = |l: &str| l.contains("reload refused");
    let started = |l: &str| l.contains("starting new workers");
    let (r0, s0) = (server.stderr_count(refused), server.stderr_count(started));
    server.signal(libc::SIGHUP);
    let decided = wait_until(LONG, || server.stderr_count(refused) > r0 || server.stderr_count(started) > s0);
    assert!(decided, "no verdict on HUP; stderr:\n{}", server.stderr_text());
    if server.stderr_count(started) > s0 {
        return None;
    }
    server.stderr_lines().into_iter().filter(|l| refused(l)).nth(r0)
}

#[test]
fn hup_applies_an_edited_file_listeners_included() {
    let (root, config) = site_with_config("config-hup", &generation(1, &[]));
    let server = start(&["--config", config.to_str().expect("UTF-8")], 1);
    let addr = server.addr();
    assert_eq!(gen_at(addr), "1");
    // An idle keep-alive connection crosses the reload and is answered by the new generation.
    let (mut kept, mut buf) = server.served_keepalive("/hello.txt");
    let sock = root.beside("added.sock");
    let unix = format!("unix:{}", sock.display());
    std::fs::write(&config, generation(2, std::slice::from_ref(&unix))).expect("rewrite the config");
    assert_eq!(hup(&server), None, "a valid file is taken");
    let announced = format!("at unix:{}", sock.display());
    assert!(server.wait_for_stderr(|l| l.contains(&announced), LONG).is_some(), "the added listener is announced");
    assert!(wait_until(LONG, || gen_at(addr) == "2"), "still {} after the reload", gen_at(addr));
    assert_eq!(unix_get(&sock, "/hello.txt").headers_named("X-Gen"), ["2"], "the added unix listener serves");
    kept.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write on the kept connection");
    let resp = read_response(&mut kept, &mut buf, false).expect("the kept connection is answered");
    assert_eq!((resp.status, resp.headers_named("X-Gen")), (200, vec!["2"]));
    assert!(!resp.says_close());
    // Removing it closes it and its socket file; the TCP listener (unchanged) keeps its port.
    std::fs::write(&config, generation(3, &[])).expect("rewrite the config");
    assert_eq!(hup(&server), None);
    assert!(wait_until(LONG, || gen_at(addr) == "3"), "still {} after the second reload", gen_at(addr));
    assert!(wait_until(LONG, || !sock.exists()), "the removed listener's socket file is still there");
    assert!(std::os::unix::net::UnixStream::connect(&sock).is_err());
}

#[test]
fn hup_with_a_bad_file_keeps_serving_and_says_why() {
    let (root, config) = site_with_config("config-hup-bad", &generation(1, &[]));
    let notify_path = root.beside("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    let mut cmd = Command::new(binary());
    cmd.args(["--config", config.to_str().expect("UTF-8")]).env("NOTIFY_SOCKET", &notify_path).stdout(Stdio::null());
    let server = Server::spawn(cmd, 1);
    let addr = server.addr();
    let ready = recv_notify(&notify, LONG).expect("READY at start");
    assert!(ready.contains("READY=1"), "{ready:?}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let name = config.file_name().and_then(|n| n.to_str()).expect("name").to_string();
    let cases: Vec<(String, String)> = vec![
        (format!("{}listen = [\n", generation(9, &[])), format!("{name}:")),
        ("root = \"root\"\nlissten = [\"127.0.0.1:0\"]\n".into(), format!("{name}:2: unknown key 'lissten'")),
        ("root = \"root\"\nworkers = 0\n".into(), format!("{name}:2:")),
        (generation(9, std::slice::from_ref(&taken_addr)), "address already in use".into()),
        ("root = \"no-such-dir\"\n".into(), "no-such-dir".into()),
    ];
    for (text, want) in cases {
        std::fs::write(&config, &text).expect("write the config");
        let refused = hup(&server).unwrap_or_else(|| panic!("{text:?} was taken"));
        assert!(refused.contains(&want), "{text:?}: {refused:?} does not say {want:?}");
        // systemd shows the same line in `systemctl status`.
        let status = loop {
            let got = recv_notify(&notify, LONG).expect("a notification after HUP");
            if got.contains("STATUS=") {
                break got;
            }
        };
        assert!(status.contains("STATUS=reload refused") && status.contains(&want), "{status:?}");
        assert_eq!(gen_at(addr), "1", "the running configuration keeps serving after {text:?}");
    }
    drop(taken);
    std::fs::write(&config, generation(2, &[])).expect("write the config");
    assert_eq!(hup(&server), None, "a fixed file is taken");
    assert!(wait_until(LONG, || gen_at(addr) == "2"));
}
