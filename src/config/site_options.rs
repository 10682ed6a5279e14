//! The options that shape what a request means beyond the file it names — listings, the single-page-app
//! fallback, clean URLs, error pages, extra headers, Cache-Control — validated once at start, so a typo is
//! one line and exit code 2, never a surprise at the first request.

use crate::config::{at, Cli, OptionError};
use crate::http::syntax;

/// Netlify's and Cloudflare Pages' default: browsers and CDNs may store a file but must revalidate it on
/// every use (a 304 when unchanged), so a deployed change is never hidden behind heuristic freshness.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";

/// Headers the server writes itself; `--header` cannot set them.
const OWNED_HEADERS: &[&str] = &["content-length", "content-range", "transfer-encoding", "connection", "date"];

/// Statuses an error page can be given for.
const ERROR_PAGE_STATUSES: &[u16] = &[403, 404, 500];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOptions {
    pub listing: bool,
    /// The file served for navigations to missing paths, relative to the root.
    pub fallback: Option<Vec<u8>>,
    pub clean_urls: bool,
    /// Error page per status, relative to the root. 404 defaults to `404.html` (used when it exists).
    pub error_pages: Vec<(u16, Vec<u8>)>,
    /// `--header` fields, in the order given, added to every response.
    pub headers: Vec<(String, String)>,
    /// Cache-Control of file responses; None sends none.
    pub cache_control: Option<String>,
}

impl SiteOptions {
    /// Each problem is tagged with the option (clap id) it is about.
    pub fn from_cli(cli: &Cli) -> Result<SiteOptions, OptionError> {
        let fallback =
            cli.fallback.as_deref().map(|p| site_path(p, "--fallback")).transpose().map_err(at("fallback"))?;
        let mut error_pages: Vec<(u16, Vec<u8>)> = Vec::new();
        for spec in &cli.error_page {
            let (status, path) = parse_error_page(spec).map_err(at("error_page"))?;
            error_pages.retain(|(s, _)| *s != status);
            error_pages.push((status, path));
        }
        if !error_pages.iter().any(|(s, _)| *s == 404) {
            error_pages.push((404, b"404.html".to_vec()));
        }
        let headers = cli.header.iter().map(|h| parse_header(h)).collect::<Result<_, _>>().map_err(at("header"))?;
        let bad_cache_control = at("cache_control");
        let cache_control = match cli.cache_control.trim() {
            "none" => None,
            "" => return Err(bad_cache_control("--cache-control needs a value (or 'none')".into())),
            value if value.bytes().any(|b| b < 0x20 || b == 0x7f) => {
                return Err(bad_cache_control("--cache-control must not contain control characters".into()))
            }
            value => Some(value.to_owned()),
        };
        Ok(SiteOptions {
            listing: cli.listing,
            fallback,
            clean_urls: cli.clean_urls,
            error_pages,
            headers,
            cache_control,
        })
    }
}

/// `STATUS=PATH`, e.g. `404=/errors/missing.html`.
fn parse_error_page(spec: &str) -> Result<(u16, Vec<u8>), String> {
    let Some((status, path)) = spec.split_once('=') else {
        return Err(format!("--error-page '{spec}' must be STATUS=PATH, e.g. 404=/404.html"));
    };
    let status: u16 =
        status.trim().parse().map_err(|_| format!("--error-page '{spec}': '{status}' is not a status"))?;
    if !ERROR_PAGE_STATUSES.contains(&status) {
        return Err(format!("--error-page '{spec}': pages can be set for 403, 404 and 500"));
    }
    Ok((status, site_path(path.trim(), "--error-page")?))
}

/// A file under the root named by its URL path (`/index.html`): root-relative bytes, with no way out.
fn site_path(path: &str, option: &str) -> Result<Vec<u8>, String> {
    let Some(rel) = path.strip_prefix('/') else {
        return Err(format!("{option} '{path}' must be a path starting with '/'"));
    };
    if path.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'?' || b == b'#') {
        return Err(format!("{option} '{path}' must be a plain path (no query, fragment or control characters)"));
    }
    let segments: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() || segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(format!("{option} '{path}' must name a file inside the root"));
    }
    Ok(segments.join("/").into_bytes())
}

/// `Name: value`: a token name the server does not own, and a value without CR, LF or NUL.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("--header '{text}' must be 'Name: value'"));
    };
    if !syntax::is_token(name.as_bytes()) {
        return Err(format!("--header '{text}': '{name}' is not a valid header name"));
    }
    if OWNED_HEADERS.iter().any(|owned| owned.eq_ignore_ascii_case(name)) {
        return Err(format!("--header '{text}': staticd sets {name} itself"));
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("--header '{text}': the value must not contain CR, LF or NUL"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header("X-Frame-Options: DENY"), Ok(("X-Frame-Options".into(), "DENY".into())));
        assert_eq!(parse_header("A:b"), Ok(("A".into(), "b".into())));
        assert_eq!(parse_header("Empty:"), Ok(("Empty".into(), String::new())));
        for bad in ["NoColon", "Bad Name: x", ": x", "Content-Length: 5", "date: x", "X: a\rb", "X: a\nb", "X: a\0b"] {
            assert!(parse_header(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(site_path("/index.html", "--fallback"), Ok(b"index.html".to_vec()));
        assert_eq!(site_path("//a//b.html", "--fallback"), Ok(b"a/b.html".to_vec()));
        for bad in ["index.html", "/", "/../x", "/a/./b", "/a?b", "/a#b", "/a\u{1}"] {
            assert!(site_path(bad, "--fallback").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn error_pages() {
        assert_eq!(parse_error_page("404=/e/404.html"), Ok((404, b"e/404.html".to_vec())));
        assert_eq!(parse_error_page("500 = /oops.html"), Ok((500, b"oops.html".to_vec())));
        for bad in ["404", "200=/x.html", "abc=/x.html", "404=x.html", "403=/../x"] {
            assert!(parse_error_page(bad).is_err(), "{bad:?} accepted");
        }
    }
}
