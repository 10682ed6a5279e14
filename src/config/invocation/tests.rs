//! The merge of the config file under the command line: which side wins, where a problem is reported, that
//! every load reads the file again, and that the documented example file is complete and valid.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::CommandFactory;

use super::*;
use crate::config::{AccessLogTarget, ListenAddr};

/// A fresh directory with a `www` root in it, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("staticd-invocation-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("www")).expect("create the temp root");
        Dir(dir)
    }

    /// Writes `staticd.toml` with `text`; returns its path.
    fn config(&self, text: &str) -> PathBuf {
        let path = self.0.join("staticd.toml");
        std::fs::write(&path, text).expect("write the config file");
        path
    }

    fn root(&self) -> PathBuf {
        self.0.join("www")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn invocation(args: &[&str]) -> Invocation {
    let argv = std::iter::once("staticd").chain(args.iter().copied()).map(OsString::from);
    Invocation::from_args(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `--config PATH`, then `args`.
fn with_config(path: &Path, args: &[&str]) -> Invocation {
    let path = path.to_str().expect("UTF-8 temp path");
    invocation(&[&["--config", path], args].concat())
}

fn loaded(inv: &Invocation) -> Config {
    inv.load().unwrap_or_else(|e| panic!("{inv:?}: {e}"))
}

fn load_err(inv: &Invocation) -> String {
    match inv.load() {
        Ok(cfg) => panic!("{inv:?} loaded: {cfg:?}"),
        Err(e) => e,
    }
}

fn tcp(cfg: &Config) -> Vec<String> {
    cfg.listen
        .iter()
        .map(|l| match l {
            ListenAddr::Tcp(a) => a.to_string(),
            ListenAddr::Unix(p) => format!("unix:{}", p.display()),
        })
        .collect()
}

#[test]
fn invocation_is_clone_and_send() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Invocation>();
}

#[test]
fn command_line_errors_are_claps() {
    let err = Invocation::from_args(["staticd", "--workers", "four"].map(OsString::from)).expect_err("bad value");
    assert!(err.contains("invalid value 'four'"), "{err}");
    let inv = invocation(&["--check"]);
    assert!(inv.check_only());
    assert_eq!(inv.config_file(), None);
}

#[test]
fn the_file_sets_options() {
    let dir = Dir::new();
    let path = dir.config(
        "root = \"www\"\nlisten = [\"127.0.0.1:0\", \"[::1]:0\"]\nworkers = 3\ndotfiles = true\nheader = \"X-A: b\"\n\
         keepalive-timeout = 1.5\nuser = \"nobody\"\n",
    );
    let inv = with_config(&path, &[]);
    assert_eq!(inv.config_file(), Some(path.as_path()));
    assert!(!inv.check_only());
    let cfg = loaded(&inv);
    assert_eq!(cfg.root, dir.root().canonicalize().expect("canonical root"));
    assert_eq!(tcp(&cfg), ["127.0.0.1:0", "[::1]:0"]);
    assert!(!cfg.default_listen);
    assert_eq!(cfg.workers, 3);
    assert!(cfg.dotfiles);
    assert_eq!(cfg.site.headers, [("X-A".to_string(), "b".to_string())]);
    assert_eq!(cfg.keepalive_timeout, std::time::Duration::from_millis(1500));
    assert_eq!(cfg.user_name, "nobody");
}

#[test]
fn the_command_line_wins_and_replaces_lists() {
    let dir = Dir::new();
    let other = Dir::new();
    let path = dir.config(
        "root = \"www\"\nlisten = [\"127.0.0.1:0\", \"[::1]:0\"]\nworkers = 3\nheader = [\"X-A: b\", \"X-B: c\"]\n\
         index = [\"a.html\", \"b.html\"]\nlisting = true\n",
    );
    let root = other.root();
    let root = root.to_str().expect("UTF-8 temp path");
    let inv = with_config(&path, &["-w", "5", "--header", "X-C: d", "--listen=127.0.0.2:0", root]);
    let cfg = loaded(&inv);
    assert_eq!(cfg.workers, 5);
    assert_eq!(tcp(&cfg), ["127.0.0.2:0"]);
    assert_eq!(cfg.site.headers, [("X-C".to_string(), "d".to_string())]);
    assert_eq!(cfg.root, other.root().canonicalize().expect("canonical root"));
    // What the command line did not give still comes from the file.
    assert_eq!(cfg.index, ["a.html", "b.html"]);
    assert!(cfg.site.listing);
    // A `--` on the command line with no root after it: the file's root still counts.
    let cfg = loaded(&with_config(&path, &["--"]));
    assert_eq!(cfg.root, dir.root().canonicalize().expect("canonical root"));
}

#[test]
fn relative_paths_follow_the_file_not_the_working_directory() {
    let dir = Dir::new();
    let path = dir.config("root = \"www\"\naccess-log = \"logs/access.log\"\nlisten = [\"unix:run/s.sock\"]\n");
    let cfg = loaded(&with_config(&path, &[]));
    assert_eq!(cfg.access_log, AccessLogTarget::File(dir.0.join("logs/access.log")));
    assert_eq!(cfg.listen, [ListenAddr::Unix(dir.0.join("run/s.sock"))]);
    // On the command line a relative path is relative to the working directory, as it always was.
    let cwd = std::env::current_dir().expect("cwd");
    let cfg = loaded(&with_config(&path, &["--access-log", "cmd.log"]));
    assert_eq!(cfg.access_log, AccessLogTarget::File(cwd.join("cmd.log")));
}

#[test]
fn problems_name_the_file_and_line() {
    let dir = Dir::new();
    let shown = dir.0.join("staticd.toml").display().to_string();
    let cases: &[(&str, &str)] = &[
        ("root = \"www\"\n\nworkers = 0\n", ":3: --workers must be at least 1"),
        ("root = \"www\"\nworkers = \"four\"\n", ":2: invalid value 'four' for '--workers <N>'"),
        (
            "root = \"www\"\nlisten = [\n  \"127.0.0.1:0\",\n  \"nonsense\",\n]\n",
            ":4: listen: cannot parse listen address 'nonsense'",
        ),
        ("root = \"missing\"\n", ":1: root: root directory "),
        ("root = \"www\"\nlissten = [\"x\"]\n", ":2: unknown key 'lissten' (did you mean 'listen'?)"),
        ("root = \"www\"\nworkers = 1\nworkers = 2\n", ":3: duplicate key"),
        ("root = \"www\"\nheader = [\"X: a\", \"Date: b\"]\n", ":2: --header 'Date: b': staticd sets Date itself"),
        ("root = \"www\"\nkeepalive-timeout = 0\n", ":2: invalid value '0' for '--keepalive-timeout <SECS>'"),
        ("root = \"www\"\nerror-page = [\"200=/x.html\"]\n", ":2: --error-page '200=/x.html'"),
    ];
    for (text, want) in cases {
        let err = load_err(&with_config(&dir.config(text), &[]));
        assert!(err.starts_with(&format!("{shown}{want}")), "{text:?}: got {err:?}, want {shown}{want}...");
        assert!(!err.contains('\n'), "{text:?}: {err:?} is more than one line");
    }
    if crate::sys::geteuid() == 0 {
        // Only root looks the user up.
        let err = load_err(&with_config(&dir.config("root = \"www\"\n\nuser = \"no-such-user-here\"\n"), &[]));
        assert_eq!(err, format!("{shown}:3: user: unknown user 'no-such-user-here'"));
    }
    // A problem in a value the command line gave is not the file's.
    let path = dir.config("root = \"www\"\n");
    assert_eq!(load_err(&with_config(&path, &["--workers", "0"])), "--workers must be at least 1");
    let missing = dir.0.join("nope.toml");
    let err = load_err(&with_config(&missing, &[]));
    assert!(err.starts_with(&format!("{}: cannot read the config file", missing.display())), "{err}");
}

#[test]
fn every_load_reads_the_file_again() {
    let dir = Dir::new();
    let path = dir.config("root = \"www\"\nworkers = 2\n");
    let inv = with_config(&path, &[]);
    assert_eq!(loaded(&inv).workers, 2);
    dir.config("root = \"www\"\nworkers = 7\nlisten = [\"127.0.0.1:0\"]\n");
    let cfg = loaded(&inv);
    assert_eq!((cfg.workers, tcp(&cfg)), (7, vec!["127.0.0.1:0".to_string()]));
    dir.config("root = \"www\"\nworkers = 0\n");
    assert!(load_err(&inv).contains(":2: "));
    // A kept copy works the same (the master keeps one for HUP).
    let copy = inv.clone();
    dir.config("root = \"www\"\n");
    assert_eq!(loaded(&copy).listen, [ListenAddr::Tcp(crate::config::DEFAULT_LISTEN)]);
}

const EXAMPLE: &str = include_str!("../../../docs/staticd.example.toml");

/// The keys the example sets or shows commented out (`# key = value`).
fn example_keys(text: &str) -> Vec<String> {
    let keys = option_keys();
    text.lines()
        .filter_map(|line| line.trim_start_matches('#').trim_start().split_once(" = ").map(|(k, _)| k.to_string()))
        .filter(|k| keys.contains(k))
        .collect()
}

/// Every option a file can set: the long names, and `root`.
fn option_keys() -> Vec<String> {
    let mut cmd = Cli::command();
    cmd.build();
    cmd.get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string).or_else(|| a.is_positional().then(|| a.get_id().to_string())))
        .filter(|k| !["config", "check", "help", "version"].contains(&k.as_str()))
        .collect()
}

#[test]
fn the_example_file_documents_every_option() {
    let documented = example_keys(EXAMPLE);
    for key in option_keys() {
        let n = documented.iter().filter(|k| **k == key).count();
        assert_eq!(n, 1, "docs/staticd.example.toml should show `{key} = ...` exactly once (found {n})");
    }
}

#[test]
fn the_readme_shows_the_example_file() {
    let readme = include_str!("../../../README.md");
    assert!(readme.contains(EXAMPLE), "README.md's config-file example should be docs/staticd.example.toml verbatim");
}

#[test]
fn the_example_file_is_valid_as_written_and_uncommented() {
    let dir = Dir::new();
    let root = dir.root();
    let root = root.to_str().expect("UTF-8 temp path");
    let path = dir.config(EXAMPLE);
    let cfg = loaded(&with_config(&path, &[root]));
    assert_eq!(tcp(&cfg), ["127.0.0.1:8080"]);
    // Every commented-out default, switched on, is valid too.
    let keys = option_keys();
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| {
            let bare = line.trim_start_matches('#').trim_start();
            let is_setting = bare.split_once(" = ").is_some_and(|(k, _)| keys.iter().any(|key| key == k));
            if is_setting {
                format!("{bare}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    // The example's write-token-file, relative to the file's directory (a token file must be mode 0600).
    let token = dir.0.join("write.token");
    std::fs::write(&token, "an-example-token-0123456789\n").expect("token file");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let path = dir.config(&uncommented);
    let cfg = loaded(&with_config(&path, &[root]));
    assert_eq!(cfg.workers, 4);
    assert_eq!(cfg.write.as_ref().map(|w| w.prefix.as_str()), Some("/uploads/"));
    assert_eq!(cfg.status_path.as_deref(), Some("/-/metrics"));
    assert_eq!(cfg.trusted_proxies.len(), 1);
}
