//! `--config PATH` with the real binary: a TOML file sets the listeners, the root (relative to the file) and
//! the headers, the command line overrides it, and `--check` reports a bad file as one line naming the file
//! and the line, exit code 2.

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
