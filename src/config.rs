//! The command line, turned into one validated `Config` before anything is bound or forked.
//!
//! Every mistake an operator can make on the command line is found here (or while binding, in `listen.rs`)
//! and reported as one line with exit code 2, so a bad invocation never leaves half a server running.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::sys::{self, UserIds};

/// A fast, safe static-file HTTP/1.1 server.
///
/// staticd serves the files under ROOT (default: ./www) with a master process that accepts connections and
/// N single-threaded worker processes that answer them. Started as root, workers chroot into ROOT and run as
/// --user.
#[derive(Parser, Debug)]
#[command(name = "staticd", version, about, long_about)]
pub struct Cli {
    /// Directory to serve.
    #[arg(value_name = "ROOT", default_value = "www")]
    pub root: PathBuf,

    /// Address to listen on (repeatable): 127.0.0.1:8080, [::1]:8080, 0.0.0.0:80. Port 0 picks a free port.
    #[arg(short, long = "listen", value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: Vec<String>,

    /// Number of worker processes [default: CPUs online].
    #[arg(short, long, value_name = "N")]
    pub workers: Option<usize>,

    /// Most connections one worker holds at once; the master stops accepting when all workers are full.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_conns: usize,

    /// User the workers run as when started as root.
    #[arg(long, value_name = "NAME", default_value = "nobody")]
    pub user: String,

    /// When started as root, do not chroot the workers into ROOT (they still drop to --user).
    #[arg(long)]
    pub no_chroot: bool,

    /// Largest request header section in bytes (request line limit is 8 KiB; over 100 fields is refused too).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Largest request body accepted (and discarded); larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    pub keepalive_timeout: Duration,

    /// Requests served on one connection before it is closed (0 = unlimited).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keepalive_requests: u64,

    /// Seconds a client has to send a whole request header section.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub header_timeout: Duration,

    /// Seconds a response may make no progress before it is abandoned.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    pub send_timeout: Duration,

    /// Seconds to wait for the client's FIN after the server has closed its side.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub linger_timeout: Duration,

    /// Index file names tried for a directory, in order (repeatable or comma-separated).
    #[arg(long, value_name = "NAME", default_value = "index.html", value_delimiter = ',')]
    pub index: Vec<String>,

    /// Serve files and directories whose names start with '.' (/.well-known/ is always served).
    #[arg(long)]
    pub dotfiles: bool,

    /// Refuse every symbolic link (403); by default links that stay inside ROOT are followed.
    #[arg(long)]
    pub no_symlinks: bool,

    /// Do not serve NAME.br / NAME.gz in place of NAME to clients that accept them.
    #[arg(long)]
    pub no_precompressed: bool,

    /// Cache-Control header value added to every file response.
    #[arg(long, value_name = "VALUE")]
    pub cache_control: Option<String>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > 365.0 * 86400.0 {
        return Err(format!("'{s}' is not a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Everything the master and the workers need, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute, canonical document root.
    pub root: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub workers: usize,
    pub max_conns: usize,
    /// Ids to drop to; `None` when not started as root (nothing to drop).
    pub user: Option<UserIds>,
    pub chroot: bool,
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub keepalive_timeout: Duration,
    pub keepalive_requests: u64,
    pub header_timeout: Duration,
    pub send_timeout: Duration,
    pub linger_timeout: Duration,
    pub index: Vec<String>,
    pub dotfiles: bool,
    pub no_symlinks: bool,
    pub precompressed: bool,
    pub cache_control: Option<String>,
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        let root = validate_root(&cli.root)?;
        let is_root = sys::geteuid() == 0;
        let mut listen = Vec::new();
        for text in &cli.listen {
            let addr = parse_listen_addr(text)?;
            if addr.port() != 0 && addr.port() < 1024 && !is_root {
                return Err(format!("cannot listen on {addr}: ports below 1024 need root"));
            }
            listen.push(addr);
        }
        let workers = match cli.workers {
            Some(0) => return Err("--workers must be at least 1".into()),
            Some(n) if n > 1024 => return Err("--workers must be at most 1024".into()),
            Some(n) => n,
            None => sys::cpus_online(),
        };
        if cli.max_conns == 0 {
            return Err("--max-conns must be at least 1".into());
        }
        if cli.max_header_bytes < 256 {
            return Err("--max-header-bytes must be at least 256".into());
        }
        let user = if is_root {
            match sys::lookup_user(&cli.user) {
                Ok(Some(ids)) => Some(ids),
                Ok(None) => return Err(format!("unknown user '{}'", cli.user)),
                Err(e) => return Err(format!("cannot look up user '{}': {e}", cli.user)),
            }
        } else {
            None
        };
        let mut index = Vec::new();
        for name in cli.index.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if name.contains('/') || name == "." || name == ".." {
                return Err(format!("--index '{name}' must be a plain file name"));
            }
            index.push(name.to_string());
        }
        if let Some(cc) = &cli.cache_control {
            if cc.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err("--cache-control must not contain control characters".into());
            }
        }
        Ok(Config {
            root,
            listen,
            workers,
            max_conns: cli.max_conns,
            user,
            chroot: is_root && !cli.no_chroot,
            max_header_bytes: cli.max_header_bytes,
            max_body_bytes: cli.max_body_bytes,
            keepalive_timeout: cli.keepalive_timeout,
            keepalive_requests: cli.keepalive_requests,
            header_timeout: cli.header_timeout,
            send_timeout: cli.send_timeout,
            linger_timeout: cli.linger_timeout,
            index,
            dotfiles: cli.dotfiles,
            no_symlinks: cli.no_symlinks,
            precompressed: !cli.no_precompressed,
            cache_control: cli.cache_control,
        })
    }
}

fn validate_root(root: &std::path::Path) -> Result<PathBuf, String> {
    let meta = std::fs::metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("root directory {} does not exist", root.display()),
        _ => format!("cannot use root {}: {e}", root.display()),
    })?;
    if !meta.is_dir() {
        return Err(format!("root {} is not a directory", root.display()));
    }
    std::fs::canonicalize(root).map_err(|e| format!("cannot resolve root {}: {e}", root.display()))
}

/// Parses `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080` is refused (an address, not a name, is wanted).
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse::<SocketAddr>().map_err(|_| {
        format!("cannot parse listen address '{text}' (expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1:8080", Some("127.0.0.1:8080")),
            ("[::1]:0", Some("[::1]:0")),
            ("0.0.0.0:80", Some("0.0.0.0:80")),
            ("localhost:80", None),
            ("127.0.0.1", None),
            ("127.0.0.1:99999", None),
            ("::1:80", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = parse_listen_addr(text).ok().map(|a| a.to_string());
            assert_eq!(got.as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_secs("60"), Ok(Duration::from_secs(60)));
        for bad in ["0", "-1", "x", "inf", "NaN", ""] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
