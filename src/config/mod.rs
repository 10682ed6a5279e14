//! The command line (and the config file it may name), turned into one validated `Config` before anything is
//! bound or forked.
//!
//! Every mistake an operator can make on the command line or in the config file is found here (or while
//! binding, in `main.rs`) and reported as one line with exit code 2, so a bad invocation never leaves half a
//! server running. `invocation.rs` keeps the command line so the configuration can be built again on HUP;
//! `file.rs` reads the config file as the command-line arguments it stands for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::ops::access_log::LogFormat;
use crate::ops::forwarded::Cidr;
use crate::sys::{self, UserIds};

mod compression;
mod file;
mod invocation;
mod site_options;
mod write;
pub use compression::Compression;
pub use invocation::Invocation;
pub use site_options::SiteOptions;
pub use write::{Token, WriteMode};

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

    /// Address to listen on (repeatable): 127.0.0.1:8080, [::1]:8080, 0.0.0.0:80, or unix:/run/staticd.sock.
    /// Port 0 picks a free port. Ignored when systemd passes sockets (LISTEN_FDS). [default: 127.0.0.1:8080,
    /// or the next free port up to 8099 when 8080 is taken]
    // No clap default_value: the default may move to another port, and an address given explicitly may not.
    #[arg(short, long = "listen", value_name = "ADDR")]
    pub listen: Vec<String>,

    /// Permissions of unix: listener socket files, in octal.
    #[arg(long, value_name = "MODE", default_value = "0660", value_parser = parse_mode)]
    pub socket_mode: u32,

    /// Require a PROXY protocol (v1 or v2) header on every connection and log the address it carries.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// A proxy whose X-Forwarded-For / Forwarded headers are believed (repeatable), e.g. 10.0.0.0/8.
    #[arg(long, value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,

    /// Access log: a file path, '-' for stdout, or 'off' [default: '-' when stdout is a terminal, else off].
    #[arg(long, value_name = "PATH|-|off")]
    pub access_log: Option<String>,

    /// Access log line format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "combined")]
    pub log_format: LogFormatArg,

    /// Serve Prometheus metrics at this path (to loopback and trusted-proxy clients only), e.g. /-/metrics.
    #[arg(long, value_name = "PATH")]
    pub status_path: Option<String>,

    /// Validate the configuration (root, addresses, user) and exit: 0 when it is usable, 2 when not.
    #[arg(long)]
    pub check: bool,

    /// Read options from this TOML file (keys are the long option names); the command line overrides it,
    /// and HUP reads it again.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Number of worker processes [default: CPUs online].
    #[arg(short, long, value_name = "N")]
    pub workers: Option<usize>,

    /// Most connections one worker holds at once; the master stops accepting when all workers are full.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_conns: usize,

    /// Most inotify watches one worker's file cache holds [default: max_user_watches / 8 / workers, at least
    /// 64]; files in unwatched directories are checked on every request.
    #[arg(long, value_name = "N")]
    pub max_watches: Option<usize>,

    /// User the workers run as when started as root.
    #[arg(long, value_name = "NAME", default_value = "nobody")]
    pub user: String,

    /// When started as root, do not chroot the workers into ROOT (they still drop to --user).
    #[arg(long)]
    pub no_chroot: bool,

    /// Largest request header section in bytes (request line limit is 8 KiB; over 100 fields is refused too).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Largest request body read and discarded (a GET's, say); larger ones get 413. Uploads have
    /// --max-upload-bytes.
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

    /// Seconds a reload's old workers and a graceful stop (QUIT) give open connections to finish before
    /// closing them.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    pub drain_timeout: Duration,

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

    /// Cache-Control of file responses (and their 304s); `none` sends none. `_headers` rules override it.
    #[arg(long, value_name = "VALUE", default_value = site_options::DEFAULT_CACHE_CONTROL)]
    pub cache_control: String,

    /// List the entries of a directory that has no index file (HTML; JSON for `Accept: application/json`).
    #[arg(long)]
    pub listing: bool,

    /// For navigations (requests accepting text/html) to paths that do not exist, serve this file with status
    /// 200, e.g. /index.html for a single-page app.
    #[arg(long, value_name = "PATH")]
    pub fallback: Option<String>,

    /// Serve NAME.html for /NAME when there is no NAME, and redirect /NAME.html to /NAME.
    #[arg(long)]
    pub clean_urls: bool,

    /// The body of responses with this status, a file under ROOT: 404=/errors/404.html (repeatable; 403, 404,
    /// 500) [default: /404.html for 404, when it exists].
    #[arg(long, value_name = "STATUS=PATH")]
    pub error_page: Vec<String>,

    /// Add this header to every response, errors and 304s included: 'Name: value' (repeatable).
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub header: Vec<String>,

    /// Do not compress files (NAME.br / NAME.gz shipped by the site are still served: see
    /// --no-precompressed).
    #[arg(long)]
    pub no_compress: bool,

    /// Content types compressed with br, zstd and gzip (repeatable or comma-separated): text/css, text/*,
    /// and `default` for the built-in list of text, script, data, SVG, wasm and uncompressed font types.
    #[arg(long, value_name = "TYPE", value_delimiter = ',')]
    pub compress_types: Vec<String>,

    /// Directory where compressed files are kept, across restarts [default: /var/cache/staticd when started
    /// as root, else $XDG_CACHE_HOME/staticd or ~/.cache/staticd].
    #[arg(long, value_name = "DIR")]
    pub compress_cache: Option<PathBuf>,

    /// Most bytes the compressed-file cache holds (K, M, G suffixes); the least recently used files go first.
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = compression::parse_bytes)]
    pub compress_cache_size: u64,

    /// Accept PUT, POST and DELETE under this URL prefix (e.g. /uploads/), from clients that present the
    /// token of --write-token-file. Everything else stays read-only.
    #[arg(long, value_name = "PREFIX")]
    pub write: Option<String>,

    /// File holding the bearer token writes must present (at least 16 bytes; not readable by group or
    /// others). Required with --write.
    #[arg(long, value_name = "PATH")]
    pub write_token_file: Option<PathBuf>,

    /// Largest body a write may store (K, M, G suffixes); larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value = "100M", value_parser = compression::parse_bytes)]
    pub max_upload_bytes: u64,

    /// Seconds an upload's body may take to arrive, from the end of its head.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_secs)]
    pub upload_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Combined,
    Json,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("'{s}' is not an octal file mode like 0660"))
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
    pub listen: Vec<ListenAddr>,
    /// No --listen was given: `listen` is [`DEFAULT_LISTEN`], which may move to the next free port.
    pub default_listen: bool,
    pub socket_mode: u32,
    pub proxy_protocol: bool,
    pub trusted_proxies: Vec<Cidr>,
    pub access_log: AccessLogTarget,
    pub log_format: LogFormat,
    pub status_path: Option<String>,
    pub workers: usize,
    pub max_conns: usize,
    /// `--max-watches`; None: the cache's default share of max_user_watches.
    pub max_watches: Option<usize>,
    /// Ids to drop to; `None` when not started as root (nothing to drop).
    pub user: Option<UserIds>,
    /// The `--user` name `user` was looked up by, for messages.
    pub user_name: String,
    pub chroot: bool,
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub keepalive_timeout: Duration,
    pub keepalive_requests: u64,
    pub header_timeout: Duration,
    pub send_timeout: Duration,
    pub upload_timeout: Duration,
    pub linger_timeout: Duration,
    pub drain_timeout: Duration,
    pub index: Vec<String>,
    pub dotfiles: bool,
    pub no_symlinks: bool,
    pub precompressed: bool,
    /// Compression into the compressed-file cache; None with `--no-compress`.
    pub compression: Option<Compression>,
    /// What a request means beyond the file it names: listings, fallbacks, error pages, headers.
    pub site: SiteOptions,
    /// PUT, POST and DELETE under a prefix; None (read-only) without `--write`.
    pub write: Option<WriteMode>,
}

/// A problem `Config::from_cli` found, with the id of the option (the `Cli` field's name, clap's id) whose
/// value caused it, so a value that came from the config file can be reported at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    pub option: &'static str,
    pub message: String,
}

/// Tags a plain message with the option it is about.
fn at(option: &'static str) -> impl Fn(String) -> OptionError {
    move |message| OptionError { option, message }
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        Config::from_cli_tagged(cli).map_err(|e| e.message)
    }

    /// `from_cli`, saying which option each problem is about.
    pub fn from_cli_tagged(cli: Cli) -> Result<Config, OptionError> {
        let fail = |option: &'static str, message: String| Err(OptionError { option, message });
        let root = validate_root(&cli.root).map_err(at("root"))?;
        let is_root = sys::geteuid() == 0;
        let default_listen = cli.listen.is_empty();
        let mut listen = Vec::new();
        if default_listen {
            listen.push(ListenAddr::Tcp(DEFAULT_LISTEN));
        }
        for text in &cli.listen {
            let addr = parse_listen_addr(text).map_err(at("listen"))?;
            if let ListenAddr::Tcp(tcp) = addr {
                if tcp.port() != 0 && tcp.port() < 1024 && !is_root {
                    return fail("listen", format!("cannot listen on {tcp}: ports below 1024 need root"));
                }
            }
            listen.push(addr);
        }
        let mut trusted_proxies = Vec::new();
        for text in &cli.trusted_proxy {
            let cidr = text.parse::<Cidr>().map_err(|e| format!("--trusted-proxy '{text}': {e}"));
            trusted_proxies.push(cidr.map_err(at("trusted_proxy"))?);
        }
        let access_log = match cli.access_log.as_deref() {
            None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => AccessLogTarget::Stdout,
            None | Some("off") => AccessLogTarget::Off,
            Some("-") => AccessLogTarget::Stdout,
            Some("") => return fail("access_log", "--access-log needs a path, '-' or 'off'".into()),
            Some(path) => AccessLogTarget::File(absolute(path).map_err(at("access_log"))?),
        };
        if let Some(p) = &cli.status_path {
            if !p.starts_with('/') || p.contains('?') || p.bytes().any(|b| b <= 0x20 || b >= 0x7f) {
                return fail("status_path", format!("--status-path '{p}' must be a path starting with '/'"));
            }
        }
        let workers = match cli.workers {
            Some(0) => return fail("workers", "--workers must be at least 1".into()),
            Some(n) if n > 1024 => return fail("workers", "--workers must be at most 1024".into()),
            Some(n) => n,
            None => sys::cpus_online(),
        };
        if cli.max_conns == 0 {
            return fail("max_conns", "--max-conns must be at least 1".into());
        }
        if cli.max_header_bytes < 256 {
            return fail("max_header_bytes", "--max-header-bytes must be at least 256".into());
        }
        let user = if is_root {
            match sys::lookup_user(&cli.user) {
                Ok(Some(ids)) => Some(ids),
                Ok(None) => return fail("user", format!("unknown user '{}'", cli.user)),
                Err(e) => return fail("user", format!("cannot look up user '{}': {e}", cli.user)),
            }
        } else {
            None
        };
        let mut index = Vec::new();
        for name in cli.index.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if name.contains('/') || name == "." || name == ".." {
                return fail("index", format!("--index '{name}' must be a plain file name"));
            }
            index.push(name.to_string());
        }
        let site = SiteOptions::from_cli(&cli)?;
        let compression = Compression::from_cli(&cli, is_root)?;
        let write = WriteMode::from_cli(&cli, &root)?;
        Ok(Config {
            root,
            listen,
            default_listen,
            socket_mode: cli.socket_mode,
            proxy_protocol: cli.proxy_protocol,
            trusted_proxies,
            access_log,
            log_format: match cli.log_format {
                LogFormatArg::Combined => LogFormat::Combined,
                LogFormatArg::Json => LogFormat::Json,
            },
            status_path: cli.status_path,
            workers,
            max_conns: cli.max_conns,
            max_watches: cli.max_watches,
            user,
            user_name: cli.user,
            chroot: is_root && !cli.no_chroot,
            max_header_bytes: cli.max_header_bytes,
            max_body_bytes: cli.max_body_bytes,
            keepalive_timeout: cli.keepalive_timeout,
            keepalive_requests: cli.keepalive_requests,
            header_timeout: cli.header_timeout,
            send_timeout: cli.send_timeout,
            upload_timeout: cli.upload_timeout,
            linger_timeout: cli.linger_timeout,
            drain_timeout: cli.drain_timeout,
            index,
            dotfiles: cli.dotfiles,
            no_symlinks: cli.no_symlinks,
            precompressed: !cli.no_precompressed,
            compression,
            site,
            write,
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

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stdout,
    File(PathBuf),
}

/// Where staticd listens when no --listen is given (if its port is taken, `listen.rs` tries the next ones).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080));

/// A listener: TCP on an IP address, or a Unix-domain socket file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Makes a relative path absolute now: the working directory means nothing to a chrooted worker later.
fn absolute(path: &str) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("cannot use path '{path}': {e}"))
}

/// Parses `127.0.0.1:8080`, `[::1]:8080` or `unix:/path`; `localhost:8080` is refused (an address, not a name).
pub fn parse_listen_addr(text: &str) -> Result<ListenAddr, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("listen address 'unix:' needs a socket path".into());
        }
        return Ok(ListenAddr::Unix(absolute(path)?));
    }
    text.trim().parse::<SocketAddr>().map(ListenAddr::Tcp).map_err(|_| {
        format!(
            "cannot parse listen address '{text}' (expected IP:PORT like 127.0.0.1:8080 or [::1]:8080, or unix:PATH)"
        )
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
            let got = match parse_listen_addr(text) {
                Ok(ListenAddr::Tcp(a)) => Some(a.to_string()),
                _ => None,
            };
            assert_eq!(got.as_deref(), *want, "{text}");
        }
        assert_eq!(parse_listen_addr("unix:/run/s.sock"), Ok(ListenAddr::Unix("/run/s.sock".into())));
        assert!(parse_listen_addr("unix:").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("777"), Ok(0o777));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("1777").is_err());
        assert_eq!(parse_secs("60"), Ok(Duration::from_secs(60)));
        for bad in ["0", "-1", "x", "inf", "NaN", ""] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
