//! Per-path rules a site ships in its own root, in Netlify's formats (also read by Cloudflare Pages): `_headers`
//! (extra response headers per path pattern) and `_redirects` (redirects, rewrites and 404 pages per pattern).
//!
//! The module is pure: it turns the two files' texts into a compiled [`Rules`] value and answers "which
//! headers" and "which redirect" for a resolved request path. Reading the files, watching them for changes
//! and acting on the answers belong to the site layer around it. It exists as its own module because the two
//! formats share one pattern language and one index (`pattern.rs`, `index.rs`), and because matching runs on
//! every request, so it is compiled once per file version and kept cheap with thousands of rules: a request
//! that matches nothing costs one or two hash lookups, never a test of every rule.
//!
//! Files: `pattern.rs` compiles and matches path patterns; `index.rs` narrows a request to the few rules
//! that could match it; `headers.rs` and `redirects.rs` parse the two formats; `target.rs` compiles a
//! redirect's TO and expands it; `tests.rs` holds the tests of the whole through this file's API.

mod headers;
mod index;
mod pattern;
mod redirects;
mod target;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::http::syntax;
use headers::HeaderRules;
use redirects::RedirectRules;

/// More rules than this in one file are refused: a site that needs more wants placeholders and splats, and
/// the bound keeps a file that grew by accident from costing every worker megabytes.
pub const MAX_RULES: usize = 10_000;
/// The longest line either file may have, in bytes (without its line end).
pub const MAX_LINE_BYTES: usize = 4 * 1024;
/// The longest text [`Rules::parse`] accepts for either file, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Both files, compiled.
#[derive(Debug, Default)]
pub struct Rules {
    headers: HeaderRules,
    redirects: RedirectRules,
}

/// What a matching `_redirects` rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// 301, 302, 303, 307, 308 (redirect), 200 (rewrite), 404 (serve `target` with status 404).
    pub status: u16,
    /// For redirects: the Location value (an absolute-path URL, or an absolute http(s):// URL), with the
    /// request's query appended unless TO has its own. For 200/404: the site path to serve, decoded, starting
    /// with '/' (no query, no '.' or '..' segments).
    pub target: String,
    /// The rule ends in `!`: it applies even when a file exists at the requested path.
    pub force: bool,
}

/// A line of `_headers` or `_redirects` that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// `_headers` or `_redirects`.
    pub file: &'static str,
    /// 1-based.
    pub line: usize,
    pub what: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

impl std::error::Error for RuleError {}

impl Rules {
    pub fn empty() -> Rules {
        Rules::default()
    }

    /// Compiles both files' texts (None = the file does not exist). The first bad line of either file is the
    /// error; `_headers` is checked first.
    pub fn parse(headers: Option<&str>, redirects: Option<&str>) -> Result<Rules, RuleError> {
        Ok(Rules {
            headers: headers.map(headers::parse).transpose()?.unwrap_or_default(),
            redirects: redirects.map(redirects::parse).transpose()?.unwrap_or_default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.redirects.is_empty()
    }

    /// Appends to `out`, as `Name: value\r\n` lines, the headers of every `_headers` block whose pattern
    /// matches `path`, in file order; a header named in several matching blocks (case-insensitively) appears
    /// once, its values joined with ", " in file order, except Set-Cookie, which cannot be joined and gets a
    /// line per value. Returns the names set (lower-case, once each) so the caller can leave out its own
    /// default for them (e.g. Cache-Control, Content-Type).
    pub fn headers_for(&self, path: &str, out: &mut Vec<u8>) -> Vec<String> {
        if self.headers.is_empty() {
            return Vec::new();
        }
        self.headers.headers_for(path, out)
    }

    /// The first `_redirects` rule matching `path` (first match wins), its TO expanded. `query` is the
    /// request's query without its '?'.
    pub fn redirect_for(&self, path: &str, query: Option<&str>) -> Option<Redirect> {
        if self.redirects.is_empty() {
            return None;
        }
        self.redirects.redirect_for(path, query)
    }
}

/// Calls `each` with every line of `text` (OWS-trimmed; line end and a leading BOM removed), after the
/// checks both formats share: the file and line lengths, and no control character but TAB anywhere, so no
/// value a rule produces can carry CR, LF or NUL into a response head. `each` says what is wrong with a line;
/// this adds the file and line number.
fn for_each_line(
    file: &'static str,
    text: &str,
    mut each: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), RuleError> {
    let error = |line: usize, what: String| RuleError { file, line, what };
    if text.len() > MAX_FILE_BYTES {
        let head = text.as_bytes().get(..MAX_FILE_BYTES).unwrap_or_default();
        let line = memchr::memchr_iter(b'\n', head).count() + 1;
        return Err(error(line, format!("the file is over {} MiB", MAX_FILE_BYTES >> 20)));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.split('\n').enumerate() {
        let number = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            return Err(error(number, format!("the line is over {MAX_LINE_BYTES} bytes")));
        }
        if let Some(b) = line.bytes().find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(error(number, format!("control character {b:#04x}")));
        }
        each(syntax::trim_ows_str(line)).map_err(|what| error(number, what))?;
    }
    Ok(())
}

/// The check both formats make as each rule is added: the 10,001st rule is an error on its own line.
fn count_rule(count: &mut usize) -> Result<(), String> {
    *count += 1;
    if *count > MAX_RULES {
        return Err(format!("over {MAX_RULES} rules"));
    }
    Ok(())
}

/// `http://` or `https://` at the start, in any case: a URL where a path was expected.
fn is_http_url(text: &str) -> bool {
    let starts = |scheme: &str| text.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme));
    starts("http://") || starts("https://")
}
