//! The write-mode options (`--write`, `--write-token-file`, `--max-upload-bytes`) validated into one
//! [`WriteMode`]: which URL prefix accepts PUT, POST and DELETE, the bearer token writers must present, and
//! the largest body a write may store.
//!
//! The token is read here, by the master before anything chroots, and again on every HUP (the configuration
//! is rebuilt), so a rotated token takes effect with a reload. A token file others could read is refused, like
//! a weak token: either would let someone other than the operator write to the site. The token's `Debug`
//! never shows it, so no log line or panic message can carry it.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::{at, Cli, OptionError};
use crate::http::syntax::percent_decode_strict;

/// The shortest token accepted: 16 bytes of a random token68 string are ~96 bits, more than can be guessed
/// over the network.
pub const MIN_TOKEN_BYTES: usize = 16;

/// A longer file is not a token (a key file or a log named by mistake).
const MAX_TOKEN_BYTES: usize = 4096;

/// Writes accepted under `prefix`, from clients presenting `token`.
#[derive(Debug, Clone)]
pub struct WriteMode {
    /// The URL prefix as given: starts and ends with '/'.
    pub prefix: String,
    /// The prefix's directory relative to the root, decoded: segments joined by '/', no leading or trailing
    /// '/', no dot segments; empty for `/`, the whole root (deploy by `curl -T`).
    pub dir: Vec<u8>,
    pub token: Token,
    pub max_upload_bytes: u64,
}

/// The bearer token, kept out of every `Debug` output.
#[derive(Clone)]
pub struct Token(Box<[u8]>);

impl Token {
    /// The token's bytes, for the one constant-time comparison that needs them (`site::write::auth`).
    pub fn secret(&self) -> &[u8] {
        &self.0
    }

    /// A token made without a file, for the site's unit tests.
    #[cfg(test)]
    pub fn for_tests(bytes: &[u8]) -> Token {
        Token(bytes.into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl WriteMode {
    /// A write mode made without options or a token file, for other modules' unit tests.
    #[cfg(test)]
    pub fn for_tests(prefix: &str) -> WriteMode {
        let dir = prefix_dir(prefix).expect("a valid prefix");
        let token = Token::for_tests(b"0123456789abcdef");
        WriteMode { prefix: prefix.to_string(), dir, token, max_upload_bytes: 100 << 20 }
    }

    /// None without `--write`. Each problem is tagged with the option (clap id) it is about.
    /// `root` is the canonical document root: a token file beneath it could be served.
    pub fn from_cli(cli: &Cli, root: &Path) -> Result<Option<WriteMode>, OptionError> {
        let (prefix, token_file) = match (&cli.write, &cli.write_token_file) {
            (None, None) => return Ok(None),
            (None, Some(_)) => {
                return Err(OptionError {
                    option: "write_token_file",
                    message: "--write-token-file is only used with --write PREFIX".into(),
                })
            }
            (Some(_), None) => {
                return Err(OptionError {
                    option: "write",
                    message: "--write needs --write-token-file PATH (the bearer token writers must present)".into(),
                })
            }
            (Some(prefix), Some(file)) => (prefix, file),
        };
        let dir = prefix_dir(prefix).map_err(at("write"))?;
        if std::fs::canonicalize(token_file).is_ok_and(|real| real.starts_with(root)) {
            return Err(OptionError {
                option: "write_token_file",
                message: format!(
                    "--write-token-file {} is inside the root {}: it could be served",
                    token_file.display(),
                    root.display()
                ),
            });
        }
        let token = read_token(token_file).map_err(at("write_token_file"))?;
        if cli.max_upload_bytes == 0 {
            return Err(OptionError {
                option: "max_upload_bytes",
                message: "--max-upload-bytes must be at least 1".into(),
            });
        }
        Ok(Some(WriteMode { prefix: prefix.clone(), dir, token, max_upload_bytes: cli.max_upload_bytes }))
    }
}

/// The directory a prefix names, relative to the root and decoded. Refused: anything that is not a plain
/// path of one or more directory names between slashes, since a prefix that a request path could reach in
/// two spellings, or that names a hidden or parent directory, would make "under the prefix" ambiguous.
fn prefix_dir(prefix: &str) -> Result<Vec<u8>, String> {
    let refuse = |why: &str| format!("--write '{prefix}' {why}");
    if prefix == "/" {
        return Ok(Vec::new());
    }
    if !prefix.starts_with('/') || !prefix.ends_with('/') {
        return Err(refuse("must be a directory path like /uploads/ or / (starting and ending with '/')"));
    }
    if prefix.bytes().any(|b| b <= 0x20 || b >= 0x7f || b == b'?' || b == b'#' || b == b'\\') {
        return Err(refuse("must be a plain path (no spaces, controls, '?', '#', '\\' or non-ASCII)"));
    }
    let decoded = percent_decode_strict(prefix.as_bytes()).ok_or_else(|| refuse("has a broken %-escape or a NUL"))?;
    let inner = &decoded[1..decoded.len() - 1];
    let mut segments = Vec::new();
    for seg in inner.split(|&b| b == b'/') {
        match seg {
            b"" => return Err(refuse("has an empty segment ('//')")),
            b"." | b".." => return Err(refuse("has a '.' or '..' segment")),
            s if s.first() == Some(&b'.') => {
                return Err(refuse("names a hidden directory (a segment starts with '.')"))
            }
            s if s.contains(&0) || s.contains(&b'\\') => return Err(refuse("has a NUL or '\\' in a segment")),
            s => segments.push(s),
        }
    }
    Ok(segments.join(&b'/'))
}

/// Reads the token file: a regular file closed to group and others, holding one token68 string of at
/// least [`MIN_TOKEN_BYTES`] (one trailing newline allowed, as `echo` and editors leave).
fn read_token(path: &Path) -> Result<Token, String> {
    let name = path.display();
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open --write-token-file {name}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat --write-token-file {name}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("--write-token-file {name} is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "--write-token-file {name} is readable or writable by group or others (mode {mode:04o}); chmod 600 it"
        ));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_TOKEN_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read --write-token-file {name}: {e}"))?;
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(format!("--write-token-file {name} is longer than {MAX_TOKEN_BYTES} bytes: not a token"));
    }
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    if bytes.len() < MIN_TOKEN_BYTES {
        return Err(format!(
            "the token in --write-token-file {name} is too short ({} bytes; at least {MIN_TOKEN_BYTES})",
            bytes.len()
        ));
    }
    if !is_token68(&bytes) {
        return Err(format!(
            "the token in --write-token-file {name} must be one token68 string (A-Z a-z 0-9 - . _ ~ + /, then '=' \
             padding), with no spaces"
        ));
    }
    Ok(Token(bytes.into_boxed_slice()))
}

/// RFC 9110 §11.2 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_token68(bytes: &[u8]) -> bool {
    let body_len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0 && bytes[..body_len].iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("staticd-config-write-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch");
            Scratch(dir)
        }

        fn token(&self, contents: &[u8], mode: u32) -> std::path::PathBuf {
            let path = self.0.join("token");
            std::fs::write(&path, contents).expect("token file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["staticd"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses")
    }

    fn from(args: &[&str]) -> Result<Option<WriteMode>, OptionError> {
        WriteMode::from_cli(&cli(args), Path::new("/nonexistent-root"))
    }

    fn err(args: &[&str]) -> OptionError {
        match from(args) {
            Err(e) => e,
            Ok(w) => panic!("{args:?} accepted: {w:?}"),
        }
    }

    #[test]
    fn off_unless_asked() {
        assert!(from(&[]).expect("valid").is_none());
    }

    #[test]
    fn each_option_needs_the_other() {
        let s = Scratch::new("pair");
        let token = s.token(b"0123456789abcdef\n", 0o600);
        let token = token.to_str().expect("UTF-8");
        assert_eq!(err(&["--write", "/uploads/"]).option, "write");
        assert_eq!(err(&["--write-token-file", token]).option, "write_token_file");
        let mode = from(&["--write", "/uploads/", "--write-token-file", token]).expect("valid").expect("on");
        assert_eq!((mode.prefix.as_str(), mode.dir.as_slice()), ("/uploads/", &b"uploads"[..]));
        assert_eq!(mode.token.secret(), b"0123456789abcdef");
        assert_eq!(mode.max_upload_bytes, 100 * 1024 * 1024);
        let mode = from(&["--write", "/a/b%20c/", "--write-token-file", token, "--max-upload-bytes", "1K"]);
        let mode = mode.expect("valid").expect("on");
        assert_eq!((mode.dir.as_slice(), mode.max_upload_bytes), (&b"a/b c"[..], 1024));
    }

    #[test]
    fn a_token_file_under_the_root_is_refused() {
        let s = Scratch::new("in-root");
        let token = s.token(b"0123456789abcdef", 0o600);
        let args = cli(&["--write", "/up/", "--write-token-file", token.to_str().expect("UTF-8")]);
        let root = std::fs::canonicalize(&s.0).expect("canonical");
        let e = WriteMode::from_cli(&args, &root).expect_err("served token accepted");
        assert!(e.message.contains("inside the root"), "{}", e.message);
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_dir("/uploads/").as_deref(), Ok(&b"uploads"[..]));
        assert_eq!(prefix_dir("/a/b/").as_deref(), Ok(&b"a/b"[..]));
        assert_eq!(prefix_dir("/a%2fb/").as_deref(), Ok(&b"a/b"[..]));
        assert_eq!(prefix_dir("/").as_deref(), Ok(&b""[..]));
        for bad in [
            "uploads/",
            "/uploads",
            "//",
            "/a//b/",
            "/../",
            "/a/../b/",
            "/./a/",
            "/%2e%2e/",
            "/a%2f..%2f/",
            "/.git/",
            "/a/.hidden/",
            "/%2e/",
            "/a%00/",
            "/a%/",
            "/a%zz/",
            "/a b/",
            "/a?b/",
            "/a#/",
            "/a\\b/",
            "/caf\u{e9}/",
            "/a%5cb/",
            "/a%2f%2fb/",
        ] {
            assert!(prefix_dir(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tokens() {
        let s = Scratch::new("tokens");
        let ok = |contents: &[u8]| read_token(&s.token(contents, 0o600)).map(|t| t.secret().to_vec());
        assert_eq!(ok(b"0123456789abcdef").as_deref(), Ok(&b"0123456789abcdef"[..]));
        assert_eq!(ok(b"0123456789abcdef\r\n").as_deref(), Ok(&b"0123456789abcdef"[..]));
        assert_eq!(ok(b"abcdefghij-._~+/ABCD==\n").as_deref(), Ok(&b"abcdefghij-._~+/ABCD=="[..]));
        for weak in [&b""[..], b"\n", b"short\n", b"0123456789abcde\n", b"0123456789abcdef\n\n"] {
            let e = ok(weak).expect_err("weak token accepted");
            assert!(e.contains("too short") || e.contains("token68"), "{e}");
        }
        for bad in [&b"0123456789 abcdef"[..], b"0123456789abcdef=x", b"====================", b"0123456789abcdef\t"] {
            assert!(ok(bad).expect_err("accepted").contains("token68"), "{bad:?}");
        }
        assert!(ok(&[b'a'; MAX_TOKEN_BYTES + 1]).is_err());
        for mode in [0o640, 0o604, 0o660, 0o644, 0o620] {
            let e = read_token(&s.token(b"0123456789abcdef", mode)).expect_err("open file accepted");
            assert!(e.contains(&format!("mode {mode:04o}")), "{e}");
        }
        assert!(read_token(&s.token(b"0123456789abcdef", 0o400)).is_ok());
        let e = read_token(&s.0.join("missing")).expect_err("missing accepted");
        assert!(e.starts_with("cannot open --write-token-file"), "{e}");
        assert!(read_token(&s.0).expect_err("directory").contains("not a regular file"));
    }

    #[test]
    fn the_token_is_never_printed() {
        let s = Scratch::new("debug");
        let token = s.token(b"SuperSecretToken1234", 0o600);
        let mode = from(&["--write", "/up/", "--write-token-file", token.to_str().expect("UTF-8")]);
        let text = format!("{:?}", mode.expect("valid"));
        assert!(!text.contains("SuperSecret"), "{text}");
        assert!(text.contains("Token(<redacted>)"), "{text}");
    }

    #[test]
    fn upload_limit_is_positive() {
        let s = Scratch::new("limit");
        let token = s.token(b"0123456789abcdef", 0o600);
        let args = ["--write", "/up/", "--write-token-file", token.to_str().expect("UTF-8"), "--max-upload-bytes", "0"];
        assert_eq!(err(&args).option, "max_upload_bytes");
    }
}
