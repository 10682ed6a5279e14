//! The compression options (`--no-compress`, `--compress-types`, `--compress-cache`, `--compress-cache-size`)
//! validated into one [`Compression`]: which content types are worth compressing, where the compressed-file
//! cache lives and how big it may grow, and the size limits a file must fall within to be compressed.

use std::path::PathBuf;

use crate::config::{at, Cli, OptionError};

/// Compressed when no `--compress-types` is given: text and the textual application types a site serves
/// (scripts, data, markup, SVG, manifests, source maps), WebAssembly, and the font formats that are not
/// compressed already (TrueType, OpenType, EOT; WOFF and WOFF2 are), and ICO icons, mostly uncompressed
/// bitmaps. Never other images, audio, video or archives: their bytes are compressed already and would only
/// grow.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/*",
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/geo+json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/wasm",
    "application/toml",
    "application/yaml",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "font/ttf",
    "font/otf",
    "font/collection",
    "application/vnd.ms-fontobject",
];

/// Smaller files are not compressed: below about 1 KiB the bytes saved are a few hundred at best, no more
/// than the Content-Encoding and Vary lines and a TCP packet cost anyway (measured; see docs/architecture.md).
pub const MIN_SIZE: u64 = 1024;

/// Larger files are not compressed, whatever the cache's size: a 64 MiB file and its encodings are a few
/// hundred MiB of the compressor's memory per thread, and minutes of brotli.
pub const MAX_SIZE: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Where compressed files are kept, absolute.
    pub cache_dir: PathBuf,
    /// Most bytes the cache's entries may hold together.
    pub cache_size: u64,
    /// Lower-case `type/subtype` or `type/*` patterns.
    pub types: Vec<String>,
}

impl Compression {
    /// None with `--no-compress`.
    pub fn from_cli(cli: &Cli, is_root: bool) -> Result<Option<Compression>, OptionError> {
        if cli.no_compress {
            return Ok(None);
        }
        let types = parse_types(&cli.compress_types).map_err(at("compress_types"))?;
        let cache_dir = match &cli.compress_cache {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(OptionError { option: "compress_cache", message: "--compress-cache needs a path".into() })
            }
            Some(dir) => std::path::absolute(dir)
                .map_err(|e| format!("cannot use --compress-cache {}: {e}", dir.display()))
                .map_err(at("compress_cache"))?,
            None => default_cache_dir(is_root, |name| std::env::var_os(name)).map_err(at("compress_cache"))?,
        };
        if cli.compress_cache_size < 1024 * 1024 {
            return Err(OptionError {
                option: "compress_cache_size",
                message: "--compress-cache-size must be at least 1M".into(),
            });
        }
        Ok(Some(Compression { cache_dir, cache_size: cli.compress_cache_size, types }))
    }

    /// Whether a response of this Content-Type (parameters allowed) is compressed.
    pub fn compresses_type(&self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        self.types.iter().any(|pattern| type_matches(pattern, essence))
    }

    /// Whether a file of `size` bytes is compressed: at least [`MIN_SIZE`], and at most a quarter of the
    /// cache, so one file can never push out everything else, and at most [`MAX_SIZE`], since the
    /// compressor holds a file and its three encodings in memory while it works.
    pub fn compresses_size(&self, size: u64) -> bool {
        (MIN_SIZE..=(self.cache_size / 4).min(MAX_SIZE)).contains(&size)
    }
}

/// `--compress-types`: the patterns given, where `default` stands for [`DEFAULT_TYPES`]; none given is the
/// default list.
fn parse_types(given: &[String]) -> Result<Vec<String>, String> {
    let given: Vec<&str> = given.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    if given.is_empty() {
        return Ok(DEFAULT_TYPES.iter().map(|t| t.to_string()).collect());
    }
    let mut types = Vec::new();
    for t in given {
        if t.eq_ignore_ascii_case("default") {
            types.extend(DEFAULT_TYPES.iter().map(|t| t.to_string()));
            continue;
        }
        let valid = t.split_once('/').is_some_and(|(ty, sub)| {
            let token =
                |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
            token(ty) && (sub == "*" || token(sub))
        });
        if !valid {
            return Err(format!("--compress-types '{t}' is not a content type like text/css or text/*"));
        }
        types.push(t.to_ascii_lowercase());
    }
    Ok(types)
}

fn type_matches(pattern: &str, essence: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(ty) => essence.split_once('/').is_some_and(|(t, _)| t.eq_ignore_ascii_case(ty)),
        None => essence.eq_ignore_ascii_case(pattern),
    }
}

/// `/var/cache/staticd` for a server started as root; otherwise `$XDG_CACHE_HOME/staticd`, or
/// `$HOME/.cache/staticd` (the XDG base directory rules: a relative XDG_CACHE_HOME is ignored).
fn default_cache_dir(is_root: bool, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    if is_root {
        return Ok(PathBuf::from("/var/cache/staticd"));
    }
    let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = absolute("XDG_CACHE_HOME") {
        return Ok(xdg.join("staticd"));
    }
    match absolute("HOME") {
        Some(home) => Ok(home.join(".cache").join("staticd")),
        None => Err("no cache directory for compressed files: HOME is not set; give --compress-cache DIR \
                     or --no-compress"
            .into()),
    }
}

/// `--compress-cache-size`: bytes, with an optional K, M or G suffix (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(format!("'{s}' is not a size like 268435456, 256M or 1G")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("'{s}' is not a size like 268435456, 256M or 1G"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(types: &[&str]) -> Compression {
        Compression {
            cache_dir: "/c".into(),
            cache_size: (256 << 20),
            types: parse_types(&types.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap(),
        }
    }

    #[test]
    fn the_default_list_takes_text_and_leaves_compressed_media_alone() {
        let c = with(&[]);
        for yes in [
            "text/html; charset=utf-8",
            "text/css",
            "text/javascript",
            "application/json",
            "image/svg+xml",
            "application/wasm",
            "application/manifest+json",
            "font/ttf",
            "TEXT/PLAIN",
        ] {
            assert!(c.compresses_type(yes), "{yes}");
        }
        for no in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "application/zip",
            "application/gzip",
            "font/woff2",
            "font/woff",
            "application/octet-stream",
            "audio/mpeg",
            "application/pdf",
        ] {
            assert!(!c.compresses_type(no), "{no}");
        }
    }

    #[test]
    fn compress_types_replace_the_list_and_default_brings_it_back() {
        let c = with(&["text/css"]);
        assert!(c.compresses_type("text/css"));
        assert!(!c.compresses_type("text/html"));
        let c = with(&["default", "application/pdf"]);
        assert!(c.compresses_type("application/pdf") && c.compresses_type("text/html"));
        let c = with(&["image/*"]);
        assert!(c.compresses_type("image/png") && !c.compresses_type("text/html"));
        for bad in ["text", "/css", "text/", "te xt/css", "*/*x", "text/c;ss"] {
            assert!(parse_types(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_outside_the_bounds_are_not_compressed() {
        let c = with(&[]);
        assert!(!c.compresses_size(MIN_SIZE - 1));
        assert!(c.compresses_size(MIN_SIZE));
        assert!(c.compresses_size((256 << 20) / 4));
        assert!(!c.compresses_size((256 << 20) / 4 + 1));
        let huge = Compression { cache_size: 40 << 30, ..c };
        assert!(huge.compresses_size(MAX_SIZE) && !huge.compresses_size(MAX_SIZE + 1), "a fixed cap too");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("268435456"), Ok(256 << 20));
        assert_eq!(parse_bytes("256M"), Ok(256 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        for bad in ["", "M", "1.5G", "-1", "1X", "99999999999999999999", "18446744073709551615K"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_directory_follows_root_then_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.into())
        };
        assert_eq!(default_cache_dir(true, env(&[("HOME", "/h")])), Ok("/var/cache/staticd".into()));
        assert_eq!(default_cache_dir(false, env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])), Ok("/x/staticd".into()));
        assert_eq!(
            default_cache_dir(false, env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])),
            Ok("/h/.cache/staticd".into())
        );
        assert!(default_cache_dir(false, env(&[])).is_err());
    }
}
