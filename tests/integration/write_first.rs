//! Write mode (`--write PREFIX`) through the real binary: the start-up checks (token file, directory),
//! the refusals answered from the head alone, and PUT, POST and DELETE with bodies (those last ones need the
//! engine to stream kept bodies into the site's upload: see the `ignore` notes).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::startup::assert_startup_error;
use crate::support::*;

const TOKEN: &str = "integration-token-0123456789";

/// A root with `up/` (writable by the workers' user) and a token file beside it.
fn fixture(tag: &str) -> (TempRoot, PathBuf) {
    let root = TempRoot::new(tag);
    root.write("up/old.txt", b"old");
    fs::set_permissions(root.path.join("up"), fs::Permissions::from_mode(0o777)).expect("chmod");
    root.write("index.html", b"home");
    let token = root.beside("token");
    fs::write(&token, format!("{TOKEN}\n")).expect("token");
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).expect("chmod");
    (root, token)
}

fn serve(root: &TempRoot, token: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--no-compress", "--write", "/up/", "--write-token-file", token.to_str().expect("UTF-8")];
    args.extend_from_slice(extra);
    root.serve(&args)
}

fn auth() -> String {
    format!("Bearer {TOKEN}")
}

fn check(args: &[&str]) -> Exit {
    run_capture(args, Duration::from_secs(20), |_| {})
}

#[test]
fn start_up_refuses_a_missing_weak_or_open_token_and_a_missing_directory() {
    let (root, token) = fixture("write-startup");
    let token = token.to_str().expect("UTF-8").to_string();
    let r = root.path_str();
    let args = ["--check", "--no-compress", "--write", "/up/", r];
    assert_startup_error(&check(&args), &args, &["--write-token-file"]);
    let args = ["--check", "--no-compress", "--write-token-file", &token, r];
    assert_startup_error(&check(&args), &args, &["--write"]);
    let args = ["--check", "--no-compress", "--write", "/missing/", "--write-token-file", &token, r];
    assert_startup_error(&check(&args), &args, &["/missing/", "does not exist"]);
    let args = ["--check", "--no-compress", "--write", "/up/", "--write-token-file", &token, r];
    assert_eq!(exit_code(&check(&args).status), 0, "a usable configuration passes --check");

    fs::set_permissions(&token, fs::Permissions::from_mode(0o644)).expect("chmod");
    let args = ["--listen", "127.0.0.1:0", "--no-compress", "--write", "/up/", "--write-token-file", &token, r];
    assert_startup_error(&check(&args), &args, &["mode 0644"]);
    fs::write(&token, "short\n").expect("token");
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_startup_error(&check(&args), &args, &["too short"]);
    let missing = root.beside("no-such-token");
    let missing = missing.to_str().expect("UTF-8");
    let args = ["--listen", "127.0.0.1:0", "--no-compress", "--write", "/up/", "--write-token-file", missing, r];
    assert_startup_error(&check(&args), &args, &["no-such-token"]);
}

#[test]
fn refusals_and_bodiless_writes() {
    let (root, token) = fixture("write-refusals");
    let server = serve(&root, &token, &[]);
    let addr = server.addr();
    let a = auth();
    let auth = [("Authorization", a.as_str()), ("Content-Length", "0")];

    let r = fetch(addr, "OPTIONS", "/up/", &[]);
    assert_eq!((r.status, r.header("Allow")), (204, Some("GET, HEAD, OPTIONS, PUT, POST, DELETE")));
    let r = fetch(addr, "OPTIONS", "/", &[]);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));

    let r = fetch(addr, "PUT", "/up/x", &[("Content-Length", "3")]);
    assert_eq!((r.status, r.header("WWW-Authenticate")), (401, Some("Bearer realm=\"staticd\"")));
    let r = fetch(addr, "PUT", "/up/x", &[("Authorization", "Bearer nope-nope-nope-nope"), ("Content-Length", "3")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer realm=\"staticd\", error=\"invalid_token\""));
    let r = fetch(addr, "PUT", "/index.html", &auth);
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD, OPTIONS")));
    for (target, status) in [("/up/.env", 403), ("/up/a%00", 400), ("/up/missing/x", 409), ("/up/", 405)] {
        assert_eq!(fetch(addr, "PUT", target, &auth).status, status, "{target}");
    }

    let r = fetch(addr, "PUT", "/up/empty.txt", &auth);
    assert_eq!((r.status, r.header("Location")), (201, Some("/up/empty.txt")));
    let g = get(addr, "/up/empty.txt");
    assert_eq!((g.status, g.body.len()), (200, 0));
    assert_eq!(g.header("ETag"), r.header("ETag"));
    assert_eq!(fetch(addr, "DELETE", "/up/empty.txt", &auth).status, 204);
    assert_eq!(get(addr, "/up/empty.txt").status, 404);
    assert_eq!(fetch(addr, "DELETE", "/up/empty.txt", &auth).status, 404);
    assert_eq!(get(addr, "/up/old.txt").body_str(), "old", "reads under the prefix are public");
}

#[test]
fn a_body_over_the_limit_is_refused_before_it_is_sent() {
    let (root, token) = fixture("write-limit");
    let server = serve(&root, &token, &["--max-upload-bytes", "1K"]);
    let a = auth();
    let r = fetch(server.addr(), "PUT", "/up/big", &[("Authorization", a.as_str()), ("Content-Length", "2000")]);
    assert_eq!(r.status, 413);
    assert_eq!(fs::read_dir(root.path.join("up")).expect("dir").count(), 1, "nothing written");
}

/// One request with a body, `Connection: close`.
fn send(addr: std::net::SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n", body.len()).into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"Connection: close\r\n\r\n");
    raw.extend_from_slice(body);
    request(addr, &raw)
}

#[test]
fn put_post_and_delete_with_bodies() {
    let (root, token) = fixture("write-bodies");
    let server = serve(&root, &token, &[]);
    let addr = server.addr();
    let a = auth();
    let auth = [("Authorization", a.as_str())];
    let r = send(addr, "PUT", "/up/new.txt", &auth, b"hello");
    assert_eq!((r.status, r.header("Location")), (201, Some("/up/new.txt")));
    assert_eq!(get(addr, "/up/new.txt").body_str(), "hello");
    let r = send(addr, "PUT", "/up/new.txt", &auth, b"again");
    assert_eq!(r.status, 204);
    assert_eq!(get(addr, "/up/new.txt").body_str(), "again");
    let etag = get(addr, "/up/new.txt").header("ETag").expect("etag").to_string();
    let create_only = [("Authorization", a.as_str()), ("If-None-Match", "*")];
    assert_eq!(send(addr, "PUT", "/up/new.txt", &create_only, b"x").status, 412);
    let stale = [("Authorization", a.as_str()), ("If-Match", "\"stale\"")];
    assert_eq!(send(addr, "PUT", "/up/new.txt", &stale, b"x").status, 412);
    let current = [("Authorization", a.as_str()), ("If-Match", etag.as_str())];
    assert_eq!(send(addr, "PUT", "/up/new.txt", &current, b"third").status, 204);

    let png = [("Authorization", a.as_str()), ("Content-Type", "image/png")];
    let (p1, p2) = (send(addr, "POST", "/up/", &png, b"one"), send(addr, "POST", "/up/", &png, b"two"));
    assert_eq!((p1.status, p2.status), (201, 201));
    let (l1, l2) = (p1.header("Location").expect("location"), p2.header("Location").expect("location"));
    assert!(l1 != l2 && l1.ends_with(".png") && l2.ends_with(".png"), "{l1} {l2}");
    assert_eq!(get(addr, l2).body_str(), "two");
    assert_eq!(send(addr, "POST", "/up/new.txt", &auth, b"x").status, 405);
    assert_eq!(fetch(addr, "DELETE", "/up/new.txt", &auth).status, 204);
    let names: Vec<_> =
        fs::read_dir(root.path.join("up")).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names.len(), 3, "old.txt and the two POSTed files, no temporary file: {names:?}");
}
