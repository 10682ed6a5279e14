//! Start-up behaviour of the real binary: every configuration error is caught before anything forks
//! (one `staticd: ` line, exit code 2), and a good configuration announces each listener with the
//! port it actually bound. Scripts and people rely on both, so both are pinned here.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::support::*;

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Asserts the contract for a start-up error: exit code 2, exactly one stderr line starting with
/// `staticd: ` that contains every one of `names`, no serving line, and no process left behind.
pub(crate) fn assert_startup_error(exit: &Exit, args: &[&str], names: &[&str]) {
    let lines: Vec<&str> = exit.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(exit_code(&exit.status), 2, "args {args:?}: expected exit code 2; stderr:\n{}", exit.stderr);
    assert_eq!(lines.len(), 1, "args {args:?}: expected exactly one stderr line; got:\n{}", exit.stderr);
    let line = lines[0];
    assert!(line.starts_with("staticd: "), "args {args:?}: the error line must start with `staticd: `; got {line:?}");
    for name in names {
        assert!(
            line.to_lowercase().contains(&name.to_lowercase()),
            "args {args:?}: the error line should name {name:?}; got {line:?}"
        );
    }
    assert!(!exit.stderr.contains("serving"), "args {args:?}: must fail before serving; stderr:\n{}", exit.stderr);
    assert!(!exit.leftovers, "args {args:?}: a process of the server's group outlived the failed start (it forked)");
}

fn run(args: &[&str]) -> Exit {
    run_capture(args, EXIT_TIMEOUT, |_| {})
}

#[test]
fn missing_root_is_refused() {
    let tmp = TempRoot::new("missing-root");
    let missing = tmp.path.join("does-not-exist");
    let missing = missing.to_str().expect("utf-8 path");
    let args = ["--listen", "127.0.0.1:0", "--workers", "2", missing];
    assert_startup_error(&run(&args), &args, &["does-not-exist"]);
}

#[test]
fn root_that_is_a_file_is_refused() {
    let tmp = TempRoot::new("root-file");
    let file = tmp.write("plain-file.txt", b"not a directory\n");
    let file = file.to_str().expect("utf-8 path");
    let args = ["--listen", "127.0.0.1:0", "--workers", "2", file];
    assert_startup_error(&run(&args), &args, &["plain-file.txt"]);
}

#[test]
fn unparsable_addresses_are_refused() {
    let root = TempRoot::new("bad-addr");
    let table =
        ["127.0.0.1:notaport", "127.0.0.1", "127.0.0.1:70000", "999.1.1.1:80", "[::1]8080", "localhost:abc", ""];
    for addr in table {
        let args = ["--listen", addr, "--workers", "2", root.path_str()];
        let exit = run(&args);
        // The empty address cannot be quoted back meaningfully; the others must be named.
        let names: Vec<&str> = if addr.is_empty() { vec![] } else { vec![addr] };
        assert_startup_error(&exit, &args, &names);
    }
}

#[test]
fn address_in_use_is_refused() {
    let root = TempRoot::new("addr-in-use");
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let taken = holder.local_addr().expect("local addr").to_string();
    let args = ["--listen", &taken, "--workers", "2", root.path_str()];
    assert_startup_error(&run(&args), &args, &[&taken]);
    // The same address twice on the command line collides with itself.
    let addr = unclaimed_loopback_addr().to_string();
    let args = ["--listen", &addr, "--listen", &addr, "--workers", "2", root.path_str()];
    assert_startup_error(&run(&args), &args, &[&addr]);
}

#[test]
fn privileged_port_without_root_is_refused() {
    let unprivileged_start: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    let privileged_port_exists = unprivileged_start >= 1024;
    if !require(privileged_port_exists, "privileged ports (net.ipv4.ip_unprivileged_port_start is below 1024)") {
        return;
    }
    // As root, run the binary as `nobody` so the test means the same thing in CI and on a laptop.
    let nobody = user_ids("nobody");
    if !require(!is_root() || nobody.is_some(), "a `nobody` user to drop to when run as root") {
        return;
    }
    let root = TempRoot::new("low-port");
    let args = ["--listen", "127.0.0.1:1023", "--workers", "2", root.path_str()];
    let exit = run_capture(&args, EXIT_TIMEOUT, |cmd| {
        if is_root() {
            if let Some((uid, gid)) = nobody {
                cmd.uid(uid).gid(gid);
            }
        }
    });
    assert_startup_error(&exit, &args, &["1023"]);
}

#[test]
fn unknown_user_is_refused() {
    if !require_root("--user is only looked up when started as root") {
        return;
    }
    let root = TempRoot::new("unknown-user");
    let args = ["--listen", "127.0.0.1:0", "--workers", "2", "--user", "no-such-user-staticd", root.path_str()];
    assert_startup_error(&run(&args), &args, &["no-such-user-staticd"]);
}

#[test]
fn zero_workers_is_refused() {
    let root = TempRoot::new("zero-workers");
    let args = ["--listen", "127.0.0.1:0", "--workers", "0", root.path_str()];
    assert_startup_error(&run(&args), &args, &["workers"]);
}

#[test]
fn help_explains_every_option() {
    let exit = run(&["--help"]);
    assert_eq!(exit_code(&exit.status), 0, "--help must succeed; stderr:\n{}", exit.stderr);
    let text = format!("{}\n{}", exit.stdout, exit.stderr);
    let options = [
        "--listen",
        "--workers",
        "--max-conns",
        "--user",
        "--no-chroot",
        "--max-header-bytes",
        "--max-body-bytes",
        "--keepalive-timeout",
        "--keepalive-requests",
        "--header-timeout",
        "--send-timeout",
        "--linger-timeout",
        "--index",
        "--dotfiles",
        "--no-symlinks",
        "--no-precompressed",
        "--cache-control",
        "--help",
        "--version",
        "ROOT",
    ];
    for opt in options {
        assert!(text.contains(opt), "--help does not mention {opt}:\n{text}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let exit = run(&["--version"]);
    assert_eq!(exit_code(&exit.status), 0, "--version must succeed; stderr:\n{}", exit.stderr);
    let text = format!("{}\n{}", exit.stdout, exit.stderr);
    assert!(
        text.contains("staticd") && text.contains(env!("CARGO_PKG_VERSION")),
        "--version should print the name and {}; got:\n{text}",
        env!("CARGO_PKG_VERSION")
    );
}

fn ipv6_loopback_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn one_serving_line_per_listener_with_real_ports() {
    let root = TempRoot::new("two-listeners");
    root.write("index.html", b"<p>hi</p>\n");
    let canonical = root.path.canonicalize().expect("canonical root");
    let canonical = canonical.to_str().expect("utf-8");
    // Without an IPv6 loopback only the IPv4 listener is checked.
    let v6 = require(ipv6_loopback_available(), "an IPv6 loopback address for the second listener");
    let mut args = vec!["--listen", "127.0.0.1:0"];
    if v6 {
        args.extend(["--listen", "[::1]:0"]);
    }
    args.extend(["--workers", "2", root.path_str()]);
    let server = Server::start_with(&args);
    let serving: Vec<String> =
        server.stderr_lines().into_iter().filter(|l| l.starts_with("staticd: serving ")).collect();
    assert_eq!(serving.len(), if v6 { 2 } else { 1 }, "serving lines: {serving:?}");
    for line in &serving {
        let addr = parse_serving_line(line).expect("parsable serving line");
        assert_ne!(addr.port(), 0, "the line must show the bound port: {line}");
        let expected = if addr.is_ipv6() {
            format!("staticd: serving {canonical} at http://[::1]:{}/ (2 workers)", addr.port())
        } else {
            format!("staticd: serving {canonical} at http://127.0.0.1:{}/ (2 workers)", addr.port())
        };
        assert_eq!(line, &expected);
        let resp = get(addr, "/");
        assert_eq!(resp.status, 200, "GET / via {addr}");
        assert_eq!(resp.body, b"<p>hi</p>\n", "GET / via {addr}");
    }
}

#[test]
fn root_defaults_to_www_in_the_working_directory() {
    let dir = TempRoot::new("default-root");
    dir.write("www/index.html", b"default site\n");
    let expected_root = dir.path.join("www").canonicalize().expect("canonical www");
    let cwd = dir.path.clone();
    let server = Server::start_cmd(&["--listen", "127.0.0.1:0", "--workers", "1"], |cmd| {
        cmd.current_dir(&cwd);
    });
    let line = server.wait_for_stderr(|l| l.starts_with("staticd: serving "), LONG).expect("serving line");
    assert!(
        line.contains(&format!("serving {} at ", expected_root.display())),
        "expected the absolute path of ./www in {line:?}"
    );
    assert!(line.ends_with("(1 workers)") || line.ends_with("(1 worker)"), "{line:?}");
    let resp = get(server.addr(), "/");
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"default site\n"[..]));
}

#[test]
fn relative_root_is_printed_absolute() {
    let dir = TempRoot::new("relative-root");
    dir.write("site/a.txt", b"relative\n");
    let expected_root = dir.path.join("site").canonicalize().expect("canonical");
    let cwd = dir.path.clone();
    let server = Server::start_cmd(&["--listen", "127.0.0.1:0", "--workers", "2", "site"], |cmd| {
        cmd.current_dir(&cwd);
    });
    let line = server.wait_for_stderr(|l| l.starts_with("staticd: serving "), LONG).expect("serving line");
    assert!(
        line.starts_with(&format!("staticd: serving {} at http://127.0.0.1:", expected_root.display())),
        "{line:?}"
    );
    let resp = get(server.addr(), "/a.txt");
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"relative\n"[..]));
}

const ALSO: &str = "staticd:   also ";

/// What the server should name for a listener on an unspecified address of `ip`'s family, read here from
/// getifaddrs with the rule the README states: every address of an interface that is up and not loopback,
/// IPv6 link-local left out, each once.
fn lan_addresses(v6: bool) -> Vec<IpAddr> {
    use nix::net::if_::InterfaceFlags;
    let mut out = Vec::new();
    for entry in nix::ifaddrs::getifaddrs().expect("getifaddrs") {
        if !entry.flags.contains(InterfaceFlags::IFF_UP) || entry.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            continue;
        }
        let Some(addr) = entry.address else { continue };
        let ip: IpAddr = if let Some(a) = addr.as_sockaddr_in() {
            a.ip().into()
        } else if let Some(a) = addr.as_sockaddr_in6() {
            a.ip().into()
        } else {
            continue;
        };
        let wanted = match ip {
            IpAddr::V4(a) => !v6 && !a.is_loopback(),
            IpAddr::V6(a) => v6 && !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80,
        };
        if wanted && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

#[test]
fn unspecified_listeners_also_name_the_lan_addresses() {
    let root = TempRoot::new("lan-lines");
    root.write("index.html", b"<p>lan</p>\n");
    let v4 = lan_addresses(false);
    let v6_listener = require(TcpListener::bind("[::]:0").is_ok(), "IPv6 for the [::] listener");
    let v6 = if v6_listener { lan_addresses(true) } else { Vec::new() };
    if !require(!v4.is_empty() || !v6.is_empty(), "a network interface that is up with a non-loopback address") {
        return;
    }
    // A loopback listener first: it names no other address.
    let mut args = vec!["-l", "127.0.0.1:0", "-l", "0.0.0.0:0"];
    if v6_listener {
        args.extend(["-l", "[::]:0"]);
    }
    args.extend(["--workers", "1", root.path_str()]);
    let server = Server::start_with(&args);
    let expected = v4.len() + v6.len();
    let printed = |l: &str| l.starts_with(ALSO);
    assert!(
        wait_until(LONG, || server.stderr_count(printed) >= expected),
        "expected {expected} `also` lines; stderr:\n{}",
        server.stderr_text()
    );
    // Each listener's serving line, then the URLs that belong to it.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for line in server.stderr_lines() {
        if line.starts_with("staticd: serving ") {
            groups.push((line, Vec::new()));
        } else if let Some(url) = line.strip_prefix(ALSO) {
            let group = groups.last_mut().unwrap_or_else(|| panic!("{line:?} before any serving line"));
            group.1.push(url.to_string());
        }
    }
    assert_eq!(groups.len(), args.iter().filter(|a| **a == "-l").count(), "{groups:?}");
    for (serving, urls) in &groups {
        let addr = parse_serving_line(serving).expect("the serving line keeps its format");
        let want: Vec<String> = match addr.ip() {
            ip if ip.is_loopback() => Vec::new(),
            IpAddr::V4(_) => v4.iter().map(|ip| format!("http://{ip}:{}/", addr.port())).collect(),
            IpAddr::V6(_) => v6.iter().map(|ip| format!("http://[{ip}]:{}/", addr.port())).collect(),
        };
        assert_eq!(urls, &want, "after {serving:?}");
        // The URLs are real: each one serves the site.
        for url in urls {
            let target: SocketAddr =
                url.trim_start_matches("http://").trim_end_matches('/').parse().expect("URL authority");
            let r = get(target, "/");
            assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>lan</p>\n"[..]), "GET {url}");
        }
    }
}

/// The one test that needs fixed ports: the default address 127.0.0.1:8080 taken (by this test, or by
/// whatever already holds it). Other tests listen on port 0, which the kernel picks from the ephemeral range
/// (32768 and up), and `unclaimed_loopback_addr` picks below that but from 20000, so neither meets 8080–8099.
#[test]
fn without_listen_a_taken_8080_moves_to_the_next_free_port() {
    let default: SocketAddr = "127.0.0.1:8080".parse().expect("address");
    let holder = match TcpListener::bind(default) {
        Ok(l) => Some(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => {
            require(false, &format!("127.0.0.1:8080 to hold or already taken (bind: {e})"));
            return;
        }
    };
    let some_free = (8081..=8099).any(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
    if !require(some_free, "a free port among 127.0.0.1:8081..8099") {
        return;
    }
    let root = TempRoot::new("default-port");
    root.write("index.html", b"moved\n");

    // --check binds nothing, so a taken default port does not concern it.
    let exit = run(&["--check", root.path_str()]);
    assert_eq!(exit_code(&exit.status), 0, "--check with 8080 taken; stderr:\n{}", exit.stderr);
    assert!(exit.stderr.contains("configuration OK"), "{}", exit.stderr);
    // An address given explicitly never moves.
    let args = ["--listen", "127.0.0.1:8080", "--workers", "1", root.path_str()];
    assert_startup_error(&run(&args), &args, &["127.0.0.1:8080", "in use"]);

    // No --listen: the next free port, announced.
    let server = Server::start_with(&["--workers", "1", root.path_str()]);
    let addr = server.addr();
    assert!(addr.ip().is_loopback() && (8081..=8099).contains(&addr.port()), "serving at {addr}");
    let note = format!("staticd: 127.0.0.1:8080 is in use; using {addr}");
    assert!(server.stderr_lines().contains(&note), "expected {note:?}; stderr:\n{}", server.stderr_text());
    let r = get(addr, "/");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"moved\n"[..]), "GET / at {addr}");

    // Every port up to 8099 taken (the server above holds one of them): one line, exit 2.
    let held: Vec<TcpListener> = (8081..=8099).filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok()).collect();
    let args = ["--workers", "1", root.path_str()];
    assert_startup_error(&run(&args), &args, &["127.0.0.1:8080", "8099"]);
    drop(held);
    drop(holder);
}

#[test]
fn root_the_workers_cannot_read_is_refused() {
    if !require_root("the workers drop to --user only when started as root") {
        return;
    }
    if !require(user_ids("nobody").is_some(), "a `nobody` user for the workers") {
        return;
    }
    // Mode 0700, owned by root (the test created it as root): the master can read it, `nobody` cannot.
    let root = TempRoot::new("unreadable-root");
    root.write("index.html", b"hello\n");
    let guard = ModeGuard::chmod(&root.path, 0o700, 0o755);
    for chroot in [&[][..], &["--no-chroot"][..]] {
        let check: Vec<&str> = [&["--check"][..], chroot, &[root.path_str()][..]].concat();
        assert_startup_error(&run(&check), &check, &["workers", "user nobody", root.path_str(), "Permission denied"]);
        // A normal start says the same and exits before binding or forking a worker.
        let start: Vec<&str> =
            [&["--listen", "127.0.0.1:0", "--workers", "2"][..], chroot, &[root.path_str()][..]].concat();
        assert_startup_error(&run(&start), &start, &["workers", "user nobody", root.path_str(), "Permission denied"]);
    }
    drop(guard);
    // Readable by everyone again: the same configuration passes.
    for chroot in [&[][..], &["--no-chroot"][..]] {
        let check: Vec<&str> = [&["--check"][..], chroot, &[root.path_str()][..]].concat();
        let exit = run(&check);
        assert_eq!(exit_code(&exit.status), 0, "{check:?} on a 0755 root; stderr:\n{}", exit.stderr);
    }
}

/// A root the workers may search but not read (0711) serves its files, so only `--listing`, which reads it,
/// makes it an error.
#[test]
fn a_searchable_but_unreadable_root_is_refused_only_for_listings() {
    if !require_root("the workers drop to --user only when started as root") {
        return;
    }
    if !require(user_ids("nobody").is_some(), "a `nobody` user for the workers") {
        return;
    }
    let root = TempRoot::new("search-only-root");
    root.write("index.html", b"hello\n");
    let _guard = ModeGuard::chmod(&root.path, 0o711, 0o755);
    let check = ["--check", root.path_str()];
    let exit = run(&check);
    assert_eq!(exit_code(&exit.status), 0, "{check:?} on a 0711 root; stderr:\n{}", exit.stderr);
    let server = root.serve(&[]);
    assert_eq!(get(server.addr(), "/index.html").body, b"hello\n", "a 0711 root serves its files");
    drop(server);
    let check = ["--check", "--listing", root.path_str()];
    assert_startup_error(&run(&check), &check, &["user nobody", root.path_str(), "Permission denied"]);
}

#[test]
fn without_chroot_the_path_to_the_root_must_be_searchable_too() {
    if !require_root("the workers drop to --user only when started as root") {
        return;
    }
    if !require(user_ids("nobody").is_some(), "a `nobody` user for the workers") {
        return;
    }
    // The root itself is open to all, but its parent is root's alone: a chrooted worker never walks the
    // parent (chroot happens as root), an unchrooted one must.
    let root = TempRoot::new("closed-parent");
    let parent = root.path.parent().expect("the root has a parent").to_path_buf();
    let _guard = ModeGuard::chmod(&parent, 0o700, 0o755);
    let check = ["--check", root.path_str()];
    let exit = run(&check);
    assert_eq!(exit_code(&exit.status), 0, "{check:?}: the chroot hides the parent; stderr:\n{}", exit.stderr);
    let check = ["--check", "--no-chroot", root.path_str()];
    assert_startup_error(&run(&check), &check, &["user nobody", root.path_str(), "Permission denied"]);
}
