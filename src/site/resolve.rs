//! Turns a request-target into a path relative to the document root.
//!
//! This is the first line of defence against path traversal, so it is pure (no syscalls) and exhaustively
//! tested; the second line is `openat2(RESOLVE_BENEATH)`, which keeps even a wrong answer from here inside the
//! root. The rules are strict on purpose: the path is percent-decoded exactly once, so `%252e` is the literal
//! name `%2e` rather than a second chance at `.`; a decoded `%2f` splits segments like a raw '/', so `..`
//! hidden behind an encoded slash is still seen as `..`; and any attempt to climb above the root is rejected
//! rather than clamped, because a client that sends one is not a browser following a link.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::http::syntax::{is_vchar, percent_decode_strict};

/// A request-target after decoding and normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// Decoded, normalised path relative to the root: no leading '/', no empty, "." or ".." segments,
    /// segments joined by single '/'. Empty for the root itself. Bytes, because a decoded name need not be
    /// UTF-8 (`%c0%ae` is the two bytes C0 AE, a literal file name).
    pub rel: Vec<u8>,
    /// The path named a directory explicitly: it ended in '/', or in a "." or ".." segment, or is the root.
    pub trailing_slash: bool,
    /// The query without its '?', exactly as sent, if there was a '?'.
    pub query: Option<String>,
}

/// Why a request-target cannot name anything under the root; every case is the client's fault (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    BadRequest,
}

/// Bytes left as they are in a redirect's path: RFC 3986 unreserved, sub-delims, ':' and '@' (pchar), and
/// '/'. Everything else, notably '%', '?', '#', '\\', space, controls and non-ASCII, is encoded so the
/// Location means exactly the path we resolved and cannot be re-read as another authority or a query.
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

/// `target` is an origin-form path+query as sent ("/a/%2e%2e/b?x"), always starting with '/'.
pub fn resolve(target: &str) -> Result<ResolvedPath, ResolveError> {
    let (path, query) = split_query(target);
    if !path.starts_with('/') {
        return Err(ResolveError::BadRequest);
    }
    let decoded = percent_decode_strict(path.as_bytes()).ok_or(ResolveError::BadRequest)?;
    let (rel, trailing_slash) = normalise(&decoded)?;
    Ok(ResolvedPath { rel, trailing_slash, query: query.map(str::to_owned) })
}

/// True when any segment starts with '.', except when the first segment is exactly ".well-known".
pub fn is_hidden(rel: &[u8]) -> bool {
    rel.split(|&b| b == b'/')
        .enumerate()
        .any(|(i, seg)| seg.first() == Some(&b'.') && !(i == 0 && seg == b".well-known"))
}

/// The Location for a directory requested without its trailing slash: "/" + percent-encoded rel + "/" and
/// "?query" when there was one. Always a path-absolute reference that starts with exactly one '/' followed by
/// a non-'/' char (or is "/" alone), so it can never be read as a scheme-relative URL (`//evil.example/`).
pub fn directory_redirect(resolved: &ResolvedPath) -> String {
    path_location(&resolved.rel, true, resolved.query.as_deref())
}

/// A Location naming the root-relative path `rel`: "/" + its percent-encoded segments (+ "/" for a
/// directory) + "?query". The same promise as `directory_redirect`: one leading '/', never `//`.
pub fn path_location(rel: &[u8], directory: bool, query: Option<&str>) -> String {
    let mut location = String::with_capacity(rel.len() + 2);
    location.push('/');
    // Joining only non-empty segments keeps the "one leading slash" promise even for a hand-built `rel`
    // that breaks the normalisation invariant (say, a leading '/').
    let mut segments = rel.split(|&b| b == b'/').filter(|s| !s.is_empty()).peekable();
    while let Some(seg) = segments.next() {
        push_encoded(&mut location, seg);
        if directory || segments.peek().is_some() {
            location.push('/');
        }
    }
    if let Some(query) = query.filter(|q| is_safe_query(q)) {
        location.push('?');
        location.push_str(query);
    }
    location
}

/// Splits at the first '?': everything after it is the query, even further '?'s (RFC 3986 §3.4).
fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Applies "." and ".." to the decoded path, returning the relative path and whether it named a directory.
/// A ".." with nothing left to pop would climb above the root: refused, never clamped.
fn normalise(decoded: &[u8]) -> Result<(Vec<u8>, bool), ResolveError> {
    let mut stack: Vec<&[u8]> = Vec::new();
    let mut last: &[u8] = b"";
    for seg in decoded.split(|&b| b == b'/') {
        last = seg;
        match seg {
            b"" | b"." => {}
            b".." => {
                stack.pop().ok_or(ResolveError::BadRequest)?;
            }
            name => stack.push(name),
        }
    }
    let names_directory = matches!(last, b"" | b"." | b"..") || stack.is_empty();
    Ok((stack.join(&b'/'), names_directory))
}

fn push_encoded(out: &mut String, bytes: &[u8]) {
    // `utf8_percent_encode` needs a &str; bytes that are not UTF-8 go through the byte-wise encoder,
    // which yields the same escapes.
    match std::str::from_utf8(bytes) {
        Ok(s) => out.extend(utf8_percent_encode(s, PATH_KEEP)),
        Err(_) => out.extend(percent_encoding::percent_encode(bytes, PATH_KEEP)),
    }
}

/// The parser already limits a query to visible ASCII; re-checking here keeps a header injection impossible
/// even if this function is ever fed a query from somewhere else.
fn is_safe_query(query: &str) -> bool {
    query.bytes().all(is_vchar)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(rel: &[u8], trailing_slash: bool, query: Option<&str>) -> Result<ResolvedPath, ResolveError> {
        Ok(ResolvedPath { rel: rel.to_vec(), trailing_slash, query: query.map(str::to_owned) })
    }

    const BAD: Result<ResolvedPath, ResolveError> = Err(ResolveError::BadRequest);

    #[test]
    fn resolve_table() {
        let cases: &[(&str, Result<ResolvedPath, ResolveError>)] = &[
            // Plain paths and the root.
            ("/", ok(b"", true, None)),
            ("/index.html", ok(b"index.html", false, None)),
            ("/a/b/c.txt", ok(b"a/b/c.txt", false, None)),
            ("/docs/", ok(b"docs", true, None)),
            ("/docs", ok(b"docs", false, None)),
            // Empty and "." segments vanish.
            ("//a///b//", ok(b"a/b", true, None)),
            ("/./a/./b", ok(b"a/b", false, None)),
            ("/a/.", ok(b"a", true, None)),
            ("/.", ok(b"", true, None)),
            ("//", ok(b"", true, None)),
            // ".." pops, and ending in ".." names a directory.
            ("/a/../b", ok(b"b", false, None)),
            ("/a/b/..", ok(b"a", true, None)),
            ("/a/..", ok(b"", true, None)),
            ("/a/b/../../c/", ok(b"c", true, None)),
            // Climbing above the root is refused in every spelling.
            ("/..", BAD),
            ("/../", BAD),
            ("/../etc/passwd", BAD),
            ("/a/../..", BAD),
            ("/a/../../b", BAD),
            ("/./..", BAD),
            ("/%2e%2e", BAD),
            ("/%2E%2E/etc/passwd", BAD),
            ("/.%2e/x", BAD),
            ("/%2e./x", BAD),
            ("/a/%2e%2e/%2e%2e/x", BAD),
            // An encoded slash is a separator, so "..", hidden behind it is still "..".
            ("/%2f..", BAD),
            ("/a%2f..%2f..", BAD),
            ("/a%2F..", ok(b"", true, None)),
            ("/a%2fb", ok(b"a/b", false, None)),
            ("/a%2f", ok(b"a", true, None)),
            ("/%2e", ok(b"", true, None)),
            ("/a/%2e%2e/b", ok(b"b", false, None)),
            // Decoded exactly once: a double-encoded dot is a literal name.
            ("/%252e%252e/x", ok(b"%2e%2e/x", false, None)),
            ("/%252e", ok(b"%2e", false, None)),
            ("/%25", ok(b"%", false, None)),
            // Backslash is a name byte on Linux, never a separator.
            ("/..%5c", ok(b"..\\", false, None)),
            ("/..\\..\\etc", ok(b"..\\..\\etc", false, None)),
            ("/a%5c..", ok(b"a\\..", false, None)),
            // Overlong UTF-8 for '.' is just two bytes, not a dot.
            ("/%c0%ae%c0%ae/x", ok(b"\xc0\xae\xc0\xae/x", false, None)),
            // Other escapes decode to the raw bytes.
            ("/hello%20world.txt", ok(b"hello world.txt", false, None)),
            ("/caf%C3%A9", ok("café".as_bytes(), false, None)),
            ("/%ff", ok(b"\xff", false, None)),
            ("/a%3fb", ok(b"a?b", false, None)),
            ("/a%23b", ok(b"a#b", false, None)),
            // Broken escapes and NUL.
            ("/%", BAD),
            ("/a%", BAD),
            ("/a%2", BAD),
            ("/%zz", BAD),
            ("/%2g", BAD),
            ("/%g2", BAD),
            ("/% 2", BAD),
            ("/%%41", BAD),
            ("/%00", BAD),
            ("/a%00.html", BAD),
            ("/a\0b", BAD),
            // Not origin-form.
            ("", BAD),
            ("a/b", BAD),
            ("*", BAD),
            ("%2fa", BAD),
            // The query is split off at the first '?' and kept exactly as sent.
            ("/?", ok(b"", true, Some(""))),
            ("/a?x=1", ok(b"a", false, Some("x=1"))),
            ("/a/?x=1&y=%20", ok(b"a", true, Some("x=1&y=%20"))),
            ("/a?b?c", ok(b"a", false, Some("b?c"))),
            ("/a?../../etc", ok(b"a", false, Some("../../etc"))),
            ("/a?%", ok(b"a", false, Some("%"))),
            ("/..?x", BAD),
            ("/%?x", BAD),
        ];
        for (target, want) in cases {
            assert_eq!(&resolve(target), want, "target {target:?}");
        }
    }

    #[test]
    fn resolved_rel_upholds_its_invariants() {
        let targets = ["/", "//a//b//", "/a/./b/../c", "/%2fa%2f%2fb%2f", "/x/.%2e/y/", "/a/b/c/../../d"];
        for target in targets {
            let rel = match resolve(target) {
                Ok(r) => r.rel,
                Err(e) => panic!("{target:?}: {e:?}"),
            };
            assert_ne!(rel.first(), Some(&b'/'), "{target:?}");
            for seg in rel.split(|&b| b == b'/').filter(|_| !rel.is_empty()) {
                assert!(!matches!(seg, b"" | b"." | b".."), "{target:?} -> {rel:?}");
            }
        }
    }

    #[test]
    fn is_hidden_table() {
        let cases: &[(&[u8], bool)] = &[
            (b"", false),
            (b"index.html", false),
            (b"a/b/c", false),
            (b"a.b/c.d", false),
            (b".git", true),
            (b".git/config", true),
            (b"a/.env", true),
            (b"a/b/.htpasswd", true),
            (b"..\\x", true),
            (b".well-known", false),
            (b".well-known/acme-challenge/token", false),
            (b".well-known/.hidden", true),
            (b"a/.well-known/x", true),
            (b".well-knownx", true),
            (b".WELL-KNOWN", true),
        ];
        for (rel, want) in cases {
            assert_eq!(is_hidden(rel), *want, "{:?}", String::from_utf8_lossy(rel));
        }
    }

    fn rp(rel: &[u8], query: Option<&str>) -> ResolvedPath {
        ResolvedPath { rel: rel.to_vec(), trailing_slash: false, query: query.map(str::to_owned) }
    }

    #[test]
    fn directory_redirect_table() {
        let cases: &[(ResolvedPath, &str)] = &[
            (rp(b"", None), "/"),
            (rp(b"docs", None), "/docs/"),
            (rp(b"a/b", None), "/a/b/"),
            (rp(b"docs", Some("x=1&y=2")), "/docs/?x=1&y=2"),
            (rp(b"docs", Some("")), "/docs/?"),
            (rp(b"", Some("q")), "/?q"),
            // Kept as is: unreserved, sub-delims, ':' and '@'.
            (rp(b"a-._~!$&'()*+,;=:@z", None), "/a-._~!$&'()*+,;=:@z/"),
            // Encoded: everything that could change the meaning of the reference.
            (rp(b"a b", None), "/a%20b/"),
            (rp(b"100%", None), "/100%25/"),
            (rp(b"what?", None), "/what%3F/"),
            (rp(b"a#b", None), "/a%23b/"),
            (rp(b"\\evil.example", None), "/%5Cevil.example/"),
            (rp(b"a\r\nSet-Cookie: x", None), "/a%0D%0ASet-Cookie:%20x/"),
            (rp(b"\"<>`^{|}", None), "/%22%3C%3E%60%5E%7B%7C%7D/"),
            (rp("café".as_bytes(), None), "/caf%C3%A9/"),
            (rp(b"\xc0\xae", None), "/%C0%AE/"),
            (rp(b"\x7f\x01", None), "/%7F%01/"),
            // A rel that breaks the invariant still cannot yield "//host".
            (rp(b"/evil.example", None), "/evil.example/"),
            (rp(b"//evil.example//x", None), "/evil.example/x/"),
            (rp(b"/", None), "/"),
            // A query with bytes the parser would never let through is dropped.
            (rp(b"d", Some("a\r\nSet-Cookie: x")), "/d/"),
            (rp(b"d", Some("a b")), "/d/"),
            (rp(b"d", Some("a\tb")), "/d/"),
            (rp(b"d", Some("é")), "/d/"),
            (rp(b"d", Some("a\x7f")), "/d/"),
        ];
        for (resolved, want) in cases {
            assert_eq!(directory_redirect(resolved), *want, "{resolved:?}");
        }
    }

    #[test]
    fn path_location_table() {
        let cases: &[(&[u8], Option<&str>, &str)] = &[
            (b"about", None, "/about"),
            (b"docs/intro", Some("x=1"), "/docs/intro?x=1"),
            (b"a b/c#d", None, "/a%20b/c%23d"),
            (b"", None, "/"),
            (b"//evil.example", None, "/evil.example"),
            (b"d", Some("a\r\nb"), "/d"),
        ];
        for (rel, query, want) in cases {
            assert_eq!(path_location(rel, false, *query), *want, "{rel:?}");
        }
    }

    #[test]
    fn directory_redirect_never_starts_with_two_slashes() {
        let targets = [
            "/",
            "//",
            "/%2f",
            "/%2f%2fevil.example",
            "//evil.example",
            "/%5cevil.example",
            "/%5c%5cx",
            "/./%2f/x",
            "/a/..//b",
        ];
        for target in targets {
            let Ok(resolved) = resolve(target) else {
                panic!("{target:?} should resolve");
            };
            let location = directory_redirect(&resolved);
            assert!(location.starts_with('/'), "{target:?} -> {location}");
            assert!(!location.starts_with("//"), "{target:?} -> {location}");
            assert!(!location.starts_with("/\\"), "{target:?} -> {location}");
        }
    }

    #[test]
    fn redirect_round_trips_through_resolve() {
        let targets = ["/docs", "/a%20b", "/caf%C3%A9", "/%ff%fe", "/a%5cb", "/x%25y", "/q%3F"];
        for target in targets {
            let Ok(first) = resolve(target) else {
                panic!("{target:?} should resolve");
            };
            let Ok(again) = resolve(&directory_redirect(&first)) else {
                panic!("{target:?} redirect should resolve");
            };
            assert_eq!(again.rel, first.rel, "{target:?}");
            assert!(again.trailing_slash, "{target:?}");
        }
    }
}
