//! Write mode's start-up checks: `--write` is refused before anything forks (one line on stderr, exit code
//! 2, `--check` alike) without a token file, with a token file that is missing, too short or open to group
//! or others, and with a prefix whose directory is missing or (as root) not the workers' user's to write;
//! a good setup passes `--check` and serves.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::startup::assert_startup_error;
use crate::support::*;

const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temp path is UTF-8")
}

/// `--check` and a normal start with `write_args` before the root, both expected to fail with one line
/// naming `names`.
fn assert_refused(root: &TempRoot, write_args: &[&str], names: &[&str]) {
    let mut check = vec!["--check", "--no-compress"];
    check.extend_from_slice(write_args);
    check.push(root.path_str());
    assert_startup_error(&run_capture(&check, EXIT_TIMEOUT, |_| {}), &check, names);
    let mut start = vec!["--listen", "127.0.0.1:0", "--workers", "2", "--no-compress"];
    start.extend_from_slice(write_args);
    start.push(root.path_str());
    assert_startup_error(&run_capture(&start, EXIT_TIMEOUT, |_| {}), &start, names);
}

/// `--check` with `write_args` must pass (exit 0).
fn assert_checks(root: &TempRoot, write_args: &[&str]) {
    let mut check = vec!["--check", "--no-compress"];
    check.extend_from_slice(write_args);
    check.push(root.path_str());
    let exit = run_capture(&check, EXIT_TIMEOUT, |_| {});
    assert_eq!(exit_code(&exit.status), 0, "{check:?} was refused; stderr:\n{}", exit.stderr);
}

#[test]
fn write_without_a_token_file_is_refused() {
    let site = WriteSite::new("wstart-notoken");
    assert_refused(&site.root, &["--write", "/uploads/"], &["--write-token-file"]);
}

#[test]
fn a_missing_token_file_is_refused() {
    let site = WriteSite::new("wstart-missing");
    let missing = site.root.beside("no-such.token");
    assert_refused(&site.root, &["--write", "/uploads/", "--write-token-file", utf8(&missing)], &["no-such.token"]);
}

#[test]
fn a_token_file_without_write_is_refused() {
    let site = WriteSite::new("wstart-nowrite");
    assert_refused(&site.root, &["--write-token-file", site.token_path()], &["--write"]);
}

#[test]
fn a_token_file_under_the_root_is_refused() {
    // It could be served (or, with --write /, overwritten).
    let site = WriteSite::new("wstart-inroot");
    let inside = site.root.path.join("write.token");
    fs::copy(&site.token_file, &inside).unwrap();
    set_mode(&inside, 0o600);
    assert_refused(&site.root, &["--write", "/uploads/", "--write-token-file", utf8(&inside)], &["write.token"]);
}

#[test]
fn a_token_under_16_bytes_is_refused_and_one_trailing_newline_does_not_count() {
    let site = WriteSite::new("wstart-short");
    let args = ["--write", "/uploads/", "--write-token-file", site.token_path()];
    // 15 characters and a newline: 16 bytes in the file, 15 of token.
    fs::write(&site.token_file, b"abcdefghij12345\n").unwrap();
    assert_refused(&site.root, &args, &[site.token_path()]);
    fs::write(&site.token_file, b"").unwrap();
    assert_refused(&site.root, &args, &[site.token_path()]);
    // Exactly 16 is enough, with or without its newline.
    fs::write(&site.token_file, b"abcdefghij123456\n").unwrap();
    assert_checks(&site.root, &args);
    fs::write(&site.token_file, b"abcdefghij123456").unwrap();
    assert_checks(&site.root, &args);
}

#[test]
fn a_token_file_group_or_others_can_read_or_write_is_refused() {
    let site = WriteSite::new("wstart-mode");
    let args = ["--write", "/uploads/", "--write-token-file", site.token_path()];
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
        set_mode(&site.token_file, mode);
        assert_refused(&site.root, &args, &[site.token_path()]);
    }
    // 0600 and 0400 are the owner's alone.
    for mode in [0o600, 0o400] {
        set_mode(&site.token_file, mode);
        assert_checks(&site.root, &args);
    }
}

#[test]
fn a_prefix_whose_directory_is_missing_is_refused() {
    let site = WriteSite::new("wstart-nodir");
    let args = ["--write", "/drop-box/", "--write-token-file", site.token_path()];
    assert_refused(&site.root, &args, &["drop-box"]);
    // A file is no directory either.
    site.root.write("drop-file", b"x");
    let args = ["--write", "/drop-file/", "--write-token-file", site.token_path()];
    assert_refused(&site.root, &args, &["drop-file"]);
}

#[test]
fn a_prefix_directory_the_workers_cannot_write_is_refused() {
    if !require_root("a drop folder owned by root while the workers run as nobody") {
        return;
    }
    let site = WriteSite::new("wstart-closed");
    // Root's own 0755 directory: the workers (nobody) could not create a file in it.
    let closed = site.root.mkdir("closed");
    assert!(fs::metadata(&closed).is_ok());
    let args = ["--write", "/closed/", "--write-token-file", site.token_path()];
    assert_refused(&site.root, &args, &["closed"]);
}

#[test]
fn a_good_setup_passes_check_and_serves_reads() {
    let site = WriteSite::new("wstart-ok");
    site.write("uploads/hello.txt", b"hello\n");
    let args = site.write_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_checks(&site.root, &args);
    let server = site.serve(&[]);
    let r = get(server.addr(), "/uploads/hello.txt");
    expect_status(&r, 200, "a public read under the prefix");
    assert_eq!(r.body, b"hello\n");
    // In write mode: OPTIONS under the prefix offers the write methods.
    let r = fetch(server.addr(), "OPTIONS", "/uploads/", &[]);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS, PUT, POST, DELETE"), "{:?}", r.headers);
    // The token is nowhere in what the server printed.
    assert!(!server.stderr_text().contains(WRITE_TOKEN), "stderr shows the token:\n{}", server.stderr_text());
}
