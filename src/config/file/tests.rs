//! The file → arguments translation: what each TOML value becomes, the line each problem is reported at,
//! and which paths are taken relative to the file's directory.

use std::ffi::OsString;
use std::path::Path;

use clap::CommandFactory;

use super::*;
use crate::config::Cli;

fn parse_ok(text: &str) -> Vec<Entry> {
    parse(text, Path::new("/etc/staticd"), &Cli::command()).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
}

fn parse_err(text: &str) -> (usize, String) {
    match parse(text, Path::new("/etc/staticd"), &Cli::command()) {
        Ok(entries) => panic!("{text:?} accepted: {entries:?}"),
        Err(e) => e,
    }
}

/// Every argument the file stands for, in order, as text.
fn args(text: &str) -> Vec<String> {
    parse_ok(text).iter().flat_map(Entry::args).map(|a| a.to_string_lossy().into_owned()).collect()
}

#[test]
fn values_become_arguments() {
    let text = r#"
workers = 4
keepalive-timeout = 1.5
cache-control = "no-cache"
dotfiles = true
listing = false
header = ["X-A: b", "X-C: d"]
trusted-proxy = "10.0.0.0/8"
socket-mode = 0o660
max-body-bytes = 1_000
"#;
    assert_eq!(
        args(text),
        [
            "--workers=4",
            "--keepalive-timeout=1.5",
            "--cache-control=no-cache",
            "--dotfiles",
            "--header=X-A: b",
            "--header=X-C: d",
            "--trusted-proxy=10.0.0.0/8",
            "--socket-mode=0o660",
            "--max-body-bytes=1000",
        ]
    );
}

#[test]
fn entries_know_their_ids_kinds_and_lines() {
    let entries =
        parse_ok("root = \"/srv/www\"\n\nno-symlinks = true\nlisten = [\n  \"127.0.0.1:1\",\n  \"[::1]:2\",\n]\n");
    let summary: Vec<(&str, &str, usize, Kind)> =
        entries.iter().map(|e| (e.id.as_str(), e.key.as_str(), e.line, e.kind)).collect();
    assert_eq!(
        summary,
        [
            ("root", "root", 1, Kind::Positional),
            ("no_symlinks", "no-symlinks", 3, Kind::Flag(true)),
            ("listen", "listen", 4, Kind::Repeatable),
        ]
    );
    let listen = &entries[2];
    assert_eq!(listen.values, [(OsString::from("127.0.0.1:1"), 5), (OsString::from("[::1]:2"), 6)]);
    assert_eq!(listen.line_of_value("[::1]:2"), 6);
    assert_eq!(listen.line_of_value("not there"), 4);
    assert_eq!(entries[0].args(), [OsString::from("/srv/www")]);
}

#[test]
fn lines_from_offsets() {
    assert_eq!(line_at(b"", 0), 1);
    assert_eq!(line_at(b"a\nb\nc", 0), 1);
    assert_eq!(line_at(b"a\nb\nc", 2), 2);
    assert_eq!(line_at(b"a\nb\nc", 4), 3);
    assert_eq!(line_at(b"a\nb\n", 99), 3);
}

#[test]
fn syntax_errors_are_at_their_line() {
    let (line, msg) = parse_err("workers = 4\n\nlisten = [\"a\"\nroot = 1\n");
    assert!(line >= 3, "line {line}: {msg}");
    assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
    assert_eq!(parse_err("workers = 4\nworkers = 5\n").0, 2);
    assert_eq!(parse_err("a b c\n").0, 1);
}

#[test]
fn unknown_keys() {
    assert_eq!(parse_err("workers = 1\nlissten = []\n"), (2, "unknown key 'lissten' (did you mean 'listen'?)".into()));
    assert_eq!(
        parse_err("keepalive_timeout = 3\n"),
        (1, "unknown key 'keepalive_timeout' (did you mean 'keepalive-timeout'?)".into())
    );
    assert_eq!(parse_err("\n\nfrobnicate = 1\n"), (3, "unknown key 'frobnicate'".into()));
    // A table is a key like any other: `[server]` is not an option.
    assert_eq!(parse_err("root = \"/x\"\n[server]\nworkers = 1\n"), (2, "unknown key 'server'".into()));
    for only in ["config", "check", "help", "version"] {
        let (line, msg) = parse_err(&format!("\n{only} = true\n"));
        assert_eq!(line, 2, "{only}");
        assert!(msg.contains(only), "{only}: {msg}");
    }
}

#[test]
fn wrong_types() {
    let cases: &[(&str, usize, &str)] = &[
        ("dotfiles = \"yes\"", 1, "dotfiles: expected true or false, not a string"),
        ("workers = true", 1, "workers: expected a string or a number, not a boolean"),
        ("workers = [1]", 1, "workers: expected a string or a number, not an array"),
        ("root = { path = \"/x\" }", 1, "root: expected a string or a number, not a table"),
        ("user = 1979-05-27", 1, "user: expected a string or a number, not a datetime"),
        ("header = [\n\"X: y\",\n true]", 3, "header: expected a string or a number, not a boolean"),
        ("listen = [[\"a\"]]", 1, "listen: expected a string or a number, not an array"),
    ];
    for (text, line, msg) in cases {
        assert_eq!(parse_err(text), (*line, msg.to_string()), "{text}");
    }
}

#[test]
fn relative_paths_are_under_the_files_directory() {
    let text = r#"
root = "www"
access-log = "logs/access.log"
listen = ["unix:run/s.sock", "unix:/run/abs.sock", "127.0.0.1:0"]
"#;
    assert_eq!(
        args(text),
        [
            "/etc/staticd/www",
            "--access-log=/etc/staticd/logs/access.log",
            "--listen=unix:/etc/staticd/run/s.sock",
            "--listen=unix:/run/abs.sock",
            "--listen=127.0.0.1:0",
        ]
    );
    // Absolute paths, the special access-log values, and options that are not paths are left alone.
    assert_eq!(args("root = \"/srv/www\"\naccess-log = \"-\""), ["/srv/www", "--access-log=-"]);
    assert_eq!(
        args("access-log = \"off\"\nfallback = \"/index.html\""),
        ["--access-log=off", "--fallback=/index.html"]
    );
    assert_eq!(args("listen = \"unix:\""), ["--listen=unix:"]);
}

#[test]
fn the_compressed_file_cache_is_under_the_files_directory() {
    assert_eq!(args("compress-cache = \"cache/zip\""), ["--compress-cache=/etc/staticd/cache/zip"]);
    assert_eq!(args("compress-cache = \"/var/cache/x\""), ["--compress-cache=/var/cache/x"]);
    assert_eq!(args("compress-cache = \"\""), ["--compress-cache="]);
}

#[test]
fn unreadable_and_non_utf8_files() {
    let cmd = Cli::command();
    let missing = Path::new("/nonexistent/staticd.toml");
    let err = read(missing, missing, &cmd).expect_err("a missing file");
    assert!(err.starts_with("/nonexistent/staticd.toml: cannot read"), "{err}");
    let dir = std::env::temp_dir().join(format!("staticd-file-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("latin1.toml");
    std::fs::write(&path, b"workers = 1\nuser = \"caf\xe9\"\n").expect("write");
    let err = read(Path::new("latin1.toml"), &path, &cmd).expect_err("not UTF-8");
    assert_eq!(err, "latin1.toml:2: the config file is not UTF-8");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn suggestions() {
    assert_eq!(edit_distance("listen", "listen"), 0);
    assert_eq!(edit_distance("lissten", "listen"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("workers", "wokrers"), 2);
}
