//! The TO of a `_redirects` rule, compiled into literal pieces and captures, and its expansion for a request.
//!
//! A redirect's TO becomes a Location value, so everything in it is made safe to send: the site's own text is
//! kept as written but for the bytes a URL cannot hold (non-ASCII, spaces, quotes and the like are
//! percent-encoded), and captured values — decoded request path text, possibly anything — are encoded, so
//! a captured `?`, `#`, `%` or `\` stays part of the path. A rewrite's or 404's TO is a site path instead,
//! decoded like the request paths it stands for, and never leaves the site.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::pattern::{name_len, percent_decode, Pattern};
use crate::http::syntax::hex_pair;

/// Bytes of the site's own TO text that are encoded in a Location: what RFC 3986 allows nowhere. '%', '?',
/// '#', '[' and ']' are kept, since the text is a URL already (escapes, a query, a fragment, an IPv6 host).
const TEXT: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'\\').add(b'^').add(b'`').add(b'{').add(b'|').add(b'}');

/// Bytes of a captured value encoded in a Location's path: also the ones that would end the path or begin
/// an escape. '/' is kept, so a splat keeps its segments.
const PATH_VALUE: &AsciiSet = &TEXT.add(b'%').add(b'?').add(b'#').add(b'[').add(b']');

/// A captured value in TO's query or fragment: also the query's own delimiters.
const QUERY_VALUE: &AsciiSet = &PATH_VALUE.add(b'&').add(b'=').add(b'+').add(b';');

/// The request's query is sent as the client wrote it (already encoded); this only keeps a query from
/// somewhere else from carrying bytes a header or a URL cannot hold.
const REQUEST_QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'#');

#[derive(Debug)]
pub(super) struct Target {
    pieces: Vec<Piece>,
    /// Expands to a site path (200, 404) rather than a Location.
    site_path: bool,
    /// TO has its own query, which replaces the request's.
    own_query: bool,
}

#[derive(Debug)]
enum Piece {
    Text(Box<str>),
    Capture { index: usize, in_query: bool },
}

impl Target {
    /// `raw` is TO as written; with `status` 200 or 404 it names a file to serve, so it is a site path;
    /// `from` binds the names TO may use. `:name` is read in the raw text, so `%3A` writes a literal ':'.
    pub(super) fn parse(raw: &str, status: u16, from: &Pattern) -> Result<Target, String> {
        let site_path = matches!(status, 200 | 404);
        check_form(raw, status)?;
        let mut target = Target { pieces: Vec::new(), site_path, own_query: raw.contains('?') };
        let bytes = raw.as_bytes();
        let (mut text_start, mut i) = (0, 0);
        while let Some(&b) = bytes.get(i) {
            let len = if b == b':' { name_len(bytes.get(i + 1..).unwrap_or_default()) } else { 0 };
            if len == 0 {
                i += 1;
                continue;
            }
            let name = raw.get(i + 1..i + 1 + len).unwrap_or_default();
            let Some(index) = from.capture_index(name) else {
                return Err(match name {
                    "splat" => format!("'{raw}' uses :splat, but FROM has no '*'"),
                    _ => format!("'{raw}' uses :{name}, which FROM does not bind"),
                });
            };
            target.push_text(raw.get(text_start..i).unwrap_or_default())?;
            let in_query = raw.get(..i).is_some_and(|before| before.contains(['?', '#']));
            target.pieces.push(Piece::Capture { index, in_query });
            i += 1 + len;
            text_start = i;
        }
        target.push_text(raw.get(text_start..).unwrap_or_default())?;
        if site_path {
            // Whatever the captures hold, '.' and '..' written in TO itself are a mistake to report now.
            let probe = target.expand(&vec!["x"; from.capture_count()], None);
            if probe.is_none() {
                return Err(format!("'{raw}' must stay inside the site (no '.' or '..' segments)"));
            }
        }
        Ok(target)
    }

    fn push_text(&mut self, raw: &str) -> Result<(), String> {
        if raw.is_empty() {
            return Ok(());
        }
        let text: String = match self.site_path {
            true => percent_decode(raw)?.into_owned(),
            false => location_text(raw),
        };
        self.pieces.push(Piece::Text(text.into()));
        Ok(())
    }

    /// TO for this request's `captures` (in [`Pattern::captures`] order). None when a rewrite's path would
    /// hold a '.' or '..' segment (possible only through an odd capture), so the rule does not apply.
    pub(super) fn expand(&self, captures: &[&str], query: Option<&str>) -> Option<String> {
        let mut out = String::with_capacity(64);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Capture { index, in_query } => {
                    let value = captures.get(*index).copied().unwrap_or_default();
                    match (self.site_path, in_query) {
                        (true, _) => out.push_str(value),
                        (false, false) => out.extend(utf8_percent_encode(value, PATH_VALUE)),
                        (false, true) => out.extend(utf8_percent_encode(value, QUERY_VALUE)),
                    }
                }
            }
        }
        // An empty capture can double the leading slash (`/:splat/x` for `/old`): `//x` would name the host
        // `x`, so a path keeps exactly one.
        if out.starts_with("//") {
            let path = out.trim_start_matches('/');
            out = format!("/{path}");
        }
        if self.site_path {
            let bad = out.split('/').any(|s| s == "." || s == "..") || out.contains('\0');
            return (!bad).then_some(out);
        }
        if let Some(query) = query.filter(|q| !q.is_empty() && !self.own_query) {
            // Before TO's fragment, if it has one.
            let fragment = out.find('#').map(|at| out.split_off(at));
            out.push('?');
            out.extend(utf8_percent_encode(query, REQUEST_QUERY));
            out.push_str(fragment.as_deref().unwrap_or_default());
        }
        Some(out)
    }
}

/// The site's own TO text as Location text: [`TEXT`] encoded, and a '%' that does not start an escape
/// (`/100%`) written as `%25`, so the Location is a URL that means what the file says.
fn location_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, part) in raw.split('%').enumerate() {
        if i > 0 {
            let bytes = part.as_bytes();
            let escape = matches!((bytes.first(), bytes.get(1)), (Some(&hi), Some(&lo)) if hex_pair(hi, lo).is_some());
            out.push_str(if escape { "%" } else { "%25" });
        }
        out.extend(utf8_percent_encode(part, TEXT));
    }
    out
}

/// What TO may be for each kind of rule.
fn check_form(raw: &str, status: u16) -> Result<(), String> {
    let absolute = super::is_http_url(raw);
    match status {
        200 if absolute => Err(format!("'{raw}': proxying is not supported (a 200 rule must serve a site path)")),
        404 if absolute => Err(format!("'{raw}': a 404 rule must serve a path inside the site")),
        200 | 404 if !raw.starts_with('/') || raw.starts_with("//") => {
            Err(format!("'{raw}' must be a path inside the site, starting with '/'"))
        }
        200 | 404 if raw.contains('?') || raw.contains('#') => {
            Err(format!("'{raw}': a {status} rule serves a file; its TO cannot have a query or fragment"))
        }
        _ if absolute => {
            let authority = raw.split_once("://").map_or("", |(_, rest)| rest);
            let host_len = authority.find(['/', '?', '#']).unwrap_or(authority.len());
            match host_len {
                0 => Err(format!("'{raw}' has no host")),
                _ => Ok(()),
            }
        }
        _ if raw.starts_with("//") => Err(format!("'{raw}' would name another host; write it as https://host/path")),
        _ if !raw.starts_with('/') => {
            Err(format!("'{raw}' must be a path starting with '/' or an http:// or https:// URL"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(to: &str, status: u16, from: &str) -> Result<Target, String> {
        let from = Pattern::parse(from).unwrap_or_else(|e| panic!("{from}: {e}"));
        Target::parse(to, status, &from)
    }

    /// (FROM, TO, status, captures, request query, expansion).
    type ExpansionRow =
        (&'static str, &'static str, u16, &'static [&'static str], Option<&'static str>, Option<&'static str>);

    #[test]
    fn expansion() {
        let rows: &[ExpansionRow] = &[
            ("/a", "/b", 301, &[], None, Some("/b")),
            ("/a", "/b", 301, &[], Some("x=1&y"), Some("/b?x=1&y")),
            ("/a", "/b", 301, &[], Some(""), Some("/b")),
            ("/a", "/b?v=2", 301, &[], Some("x=1"), Some("/b?v=2")),
            ("/a", "/b#top", 302, &[], Some("x=1"), Some("/b?x=1#top")),
            ("/a", "https://example.com", 301, &[], Some("x"), Some("https://example.com?x")),
            ("/a", "https://example.com:8443/p", 308, &[], None, Some("https://example.com:8443/p")),
            ("/*", "/new/:splat", 301, &["a/b c/"], None, Some("/new/a/b%20c/")),
            ("/*", "/new/:splat", 301, &["a?b#c%d\\e"], None, Some("/new/a%3Fb%23c%25d%5Ce")),
            ("/*", "/:splat/x", 301, &[""], None, Some("/x")),
            ("/:y/:m", "/blog/:y-:m.html", 301, &["2024", "05"], None, Some("/blog/2024-05.html")),
            ("/:id", "/s?id=:id", 302, &["a&b=c"], Some("q"), Some("/s?id=a%26b%3Dc")),
            ("/:id", "/é/:id", 301, &["ü"], None, Some("/%C3%A9/%C3%BC")),
            ("/:id", "/ok%20/:id", 301, &["x"], None, Some("/ok%20/x")),
            ("/a", "/100%", 301, &[], None, Some("/100%25")),
            ("/a", "/%zz%2", 301, &[], None, Some("/%25zz%252")),
            ("/:x", "/%:x%4:x", 301, &["1"], None, Some("/%251%2541")),
            ("/a", "/b", 301, &[], Some("a b#c"), Some("/b?a%20b%23c")),
            ("/:x", "https://:x.example.com/", 302, &["de"], None, Some("https://de.example.com/")),
            // Site paths: decoded, values as they are, no query.
            ("/*", "/index.html", 200, &["x"], Some("q"), Some("/index.html")),
            ("/*", "/app/:splat", 200, &["a b/c%"], None, Some("/app/a b/c%")),
            ("/*", "/caf%C3%A9/:splat", 404, &["x"], None, Some("/café/x")),
            ("/*", "/:splat", 200, &["a/../b"], None, None),
            ("/*", "/:splat", 200, &["."], None, None),
            ("/*", "/:splat", 200, &[""], None, Some("/")),
            ("/:a", "/:a./x", 200, &["."], None, None),
        ];
        for (from, to, status, captures, query, want) in rows {
            let t = target(to, *status, from).unwrap_or_else(|e| panic!("{to}: {e}"));
            assert_eq!(t.expand(captures, *query).as_deref(), *want, "{from} {to} {status} {captures:?} {query:?}");
        }
    }

    #[test]
    fn refused() {
        let rows: &[(&str, &str, u16, &str)] = &[
            ("/a", "https://other.example/", 200, "proxying is not supported"),
            ("/a", "HTTP://other.example/", 200, "proxying is not supported"),
            ("/a", "https://other.example/", 404, "inside the site"),
            ("/a", "b.html", 200, "inside the site"),
            ("/a", "//b.html", 200, "inside the site"),
            ("/a", "/b?x=1", 200, "query or fragment"),
            ("/a", "/b#x", 404, "query or fragment"),
            ("/a", "/../etc/passwd", 200, "stay inside"),
            ("/a", "/x/%2e%2e/y", 200, "stay inside"),
            ("/a", "/x/./y", 404, "stay inside"),
            ("/a", "/%00", 200, "NUL"),
            ("/a", "/%FF", 200, "UTF-8"),
            ("/a", "https:///x", 301, "no host"),
            ("/a", "https://", 301, "no host"),
            ("/a", "//evil.example/", 301, "another host"),
            ("/a", "ftp://x/", 301, "must be a path"),
            ("/a", "b", 302, "must be a path"),
            ("/a", "/b/:splat", 301, "FROM has no '*'"),
            ("/:x", "/b/:y", 301, ":y, which FROM does not bind"),
            ("/a", "/wiki/Help:Contents", 301, ":Contents"),
        ];
        for (from, to, status, want) in rows {
            match target(to, *status, from) {
                Ok(t) => panic!("{from} {to} {status} accepted: {t:?}"),
                Err(e) => assert!(e.contains(want), "{to}: {e:?} does not say {want:?}"),
            }
        }
    }
}
