//! Path patterns — the path line of a `_headers` block and the FROM of a `_redirects` rule — compiled once
//! into segments, so a request is matched by comparing segments, never by running a regex.
//!
//! The language (Netlify's, minus what cannot be compiled into segments):
//! - literal segments, compared exactly (case-sensitive) with the decoded request path; a pattern is written
//!   percent-encoded or not (`/caf%C3%A9` and `/café` are the same pattern);
//! - `:name` as a whole segment matches any one segment and binds it;
//! - one `*`, in the last segment: alone (`/assets/*`) it matches the rest of the path, including nothing
//!   (`/assets` and `/assets/`); with text around it in that segment (`/*.css`, `/blog*`) the text must be
//!   there and the `*` matches the characters between, `/` included (greedy, as on Netlify). What it matched
//!   is `:splat`.
//!
//! Empty segments do not count on either side, so one trailing slash (and any doubled one) is ignored, as
//! Netlify treats `/a` and `/a/` alike.

use std::borrow::Cow;

use crate::http::syntax::hex_pair;

#[derive(Debug)]
pub(super) struct Pattern {
    segments: Vec<Segment>,
    tail: Option<Tail>,
    /// The placeholders' names in FROM order: capture `i` is `names[i]`, the splat is capture `names.len()`.
    names: Vec<Box<str>>,
}

#[derive(Debug)]
enum Segment {
    Literal(Box<str>),
    Placeholder,
}

/// The last segment when it holds the `*`: `prefix*suffix`, both decoded, either or both empty.
#[derive(Debug)]
struct Tail {
    prefix: Box<str>,
    suffix: Box<str>,
}

/// Where the index files a pattern, so a request looks at only the patterns that could match it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Key<'a> {
    /// All literal: the segments joined by '/' ("" for the root).
    Exact(String),
    /// Starts with this literal segment, then has a placeholder or a `*`.
    First(&'a str),
    /// Starts with a placeholder or a `*`: a candidate for every request.
    Any,
}

impl Pattern {
    /// `text` starts with '/'. The error says what is wrong, without the file and line.
    pub(super) fn parse(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!("'{text}' must be a path starting with '/'"));
        }
        if text.contains('?') {
            return Err(format!("'{text}': a query in a path pattern is not supported"));
        }
        if text.contains('#') {
            return Err(format!("'{text}': a fragment never reaches the server"));
        }
        let raw: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
        let mut pattern = Pattern { segments: Vec::with_capacity(raw.len()), tail: None, names: Vec::new() };
        for (i, seg) in raw.iter().enumerate() {
            if let Some((before, after)) = seg.split_once('*') {
                if i + 1 != raw.len() {
                    return Err(format!("'{text}': '*' is supported only in the last segment"));
                }
                if after.contains('*') {
                    return Err(format!("'{text}': only one '*' per pattern is supported"));
                }
                if before.starts_with(':') {
                    return Err(format!("'{text}': a placeholder and '*' cannot share a segment"));
                }
                let prefix = decode_segment(before, text)?.into();
                let suffix = decode_segment(after, text)?.into();
                pattern.tail = Some(Tail { prefix, suffix });
            } else if let Some(name) = seg.strip_prefix(':') {
                if name_len(name.as_bytes()) != name.len() || name.is_empty() {
                    return Err(format!(
                        "'{text}': ':{name}' is not a placeholder (a letter or '_', then letters, digits or '_')"
                    ));
                }
                if name == "splat" {
                    return Err(format!("'{text}': :splat is what '*' binds, not a placeholder name"));
                }
                if pattern.names.iter().any(|n| &**n == name) {
                    return Err(format!("'{text}': :{name} appears twice"));
                }
                pattern.names.push(name.into());
                pattern.segments.push(Segment::Placeholder);
            } else {
                let literal = decode_segment(seg, text)?;
                if literal == "." || literal == ".." {
                    return Err(format!("'{text}': '.' and '..' segments never match a resolved path"));
                }
                pattern.segments.push(Segment::Literal(literal.into()));
            }
        }
        Ok(pattern)
    }

    pub(super) fn key(&self) -> Key<'_> {
        fn literal(segment: &Segment) -> Option<&str> {
            match segment {
                Segment::Literal(text) => Some(text),
                Segment::Placeholder => None,
            }
        }
        if self.tail.is_none() {
            if let Some(all) = self.segments.iter().map(literal).collect::<Option<Vec<&str>>>() {
                return Key::Exact(all.join("/"));
            }
        }
        match self.segments.first().and_then(literal) {
            Some(first) => Key::First(first),
            None => Key::Any,
        }
    }

    /// The capture a TO's `:name` refers to: a placeholder's index, or the splat's after them.
    pub(super) fn capture_index(&self, name: &str) -> Option<usize> {
        if name == "splat" {
            return self.tail.as_ref().map(|_| self.names.len());
        }
        self.names.iter().position(|n| &**n == name)
    }

    /// How many captures a match fills: the placeholders and the splat.
    pub(super) fn capture_count(&self) -> usize {
        self.names.len() + usize::from(self.tail.is_some())
    }

    pub(super) fn is_match(&self, path: &str) -> bool {
        self.walk(path, |_| {})
    }

    /// Matches and fills `captures` (placeholders in order, then the splat), borrowed from `path`.
    pub(super) fn captures<'p>(&self, path: &'p str, captures: &mut Vec<&'p str>) -> bool {
        captures.clear();
        self.walk(path, |value| captures.push(value))
    }

    fn walk<'p>(&self, path: &'p str, mut bind: impl FnMut(&'p str)) -> bool {
        let mut segments = Segments::new(path);
        for pattern in &self.segments {
            let Some(segment) = segments.next() else { return false };
            match pattern {
                Segment::Literal(text) if **text != *segment => return false,
                Segment::Literal(_) => {}
                Segment::Placeholder => bind(segment),
            }
        }
        let rest = segments.rest();
        let Some(Tail { prefix, suffix }) = &self.tail else { return rest.is_empty() };
        // The trailing slash is ignored for the test, but a bare `*` keeps it in the splat, so
        // `/old/* /new/:splat` sends `/old/dir/` to `/new/dir/`.
        let trimmed = rest.strip_suffix('/').unwrap_or(rest);
        if trimmed.len() < prefix.len() + suffix.len()
            || !trimmed.starts_with(&**prefix)
            || !trimmed.ends_with(&**suffix)
        {
            return false;
        }
        let end = if suffix.is_empty() { rest.len() } else { trimmed.len() - suffix.len() };
        bind(rest.get(prefix.len()..end).unwrap_or_default());
        true
    }
}

/// The non-empty segments of a request path, front to back.
pub(super) struct Segments<'p> {
    path: &'p str,
    at: usize,
}

impl<'p> Segments<'p> {
    pub(super) fn new(path: &'p str) -> Segments<'p> {
        Segments { path, at: 0 }
    }

    fn skip_slashes(&mut self) {
        while self.path.as_bytes().get(self.at) == Some(&b'/') {
            self.at += 1;
        }
    }

    /// What is left, from the start of the next segment (so never starting with '/').
    fn rest(&mut self) -> &'p str {
        self.skip_slashes();
        self.path.get(self.at..).unwrap_or_default()
    }
}

impl<'p> Iterator for Segments<'p> {
    type Item = &'p str;

    fn next(&mut self) -> Option<&'p str> {
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        // Segments are short: a plain scan beats memchr's set-up (measured under callgrind).
        let len = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
        self.at += len;
        rest.get(..len)
    }
}

/// How long the placeholder name at the start of `bytes` is: a letter or '_', then letters, digits or '_'
/// (0 when there is none). A digit cannot start one, so `https://host:8080/` holds no placeholder.
pub(super) fn name_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
            bytes.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count()
        }
        _ => 0,
    }
}

/// Decodes `%XX` once. A '%' without two hex digits stays a literal '%' (the request `/100%25` is the path
/// `/100%`, which `/100%` in a rules file should match); a NUL or bytes that are not UTF-8 are refused,
/// because no resolved request path can hold them.
pub(super) fn percent_decode(raw: &str) -> Result<Cow<'_, str>, String> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex_pair(hi, lo),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    if out.contains(&0) {
        return Err(format!("'{raw}' holds an encoded NUL"));
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| format!("'{raw}' is not UTF-8 once percent-decoded"))
}

/// A pattern segment's literal text, decoded. An encoded '/' is refused: the request path it would have to
/// match has already been split at every decoded '/'.
fn decode_segment<'a>(raw: &'a str, pattern: &str) -> Result<Cow<'a, str>, String> {
    let decoded = percent_decode(raw)?;
    if decoded.contains('/') {
        return Err(format!("'{pattern}': an encoded '/' (%2F) in a pattern is not supported"));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, path, captures when it matches).
    const MATCHES: &[(&str, &str, Option<&[&str]>)] = &[
        ("/", "/", Some(&[])),
        ("/", "/a", None),
        ("/a", "/a", Some(&[])),
        ("/a", "/a/", Some(&[])),
        ("/a/", "/a", Some(&[])),
        ("/a", "/A", None),
        ("/a", "/ab", None),
        ("/a", "/a/b", None),
        ("/a/b", "/a", None),
        ("/a//b", "/a/b", Some(&[])),
        ("/a/b", "//a//b//", Some(&[])),
        ("/:x", "/", None),
        ("/:x", "/one", Some(&["one"])),
        ("/:x", "/one/", Some(&["one"])),
        ("/:x", "/one/two", None),
        ("/a/:x/c/:y", "/a/b/c/d", Some(&["b", "d"])),
        ("/a/:x/c/:y", "/a/b/x/d", None),
        ("/*", "/", Some(&[""])),
        ("/*", "/a/b/c", Some(&["a/b/c"])),
        ("/*", "/a/b/", Some(&["a/b/"])),
        ("/a/*", "/a", Some(&[""])),
        ("/a/*", "/a/", Some(&[""])),
        ("/a/*", "/a/b/c.txt", Some(&["b/c.txt"])),
        ("/a/*", "/ab", None),
        ("/a/*", "/b/a", None),
        ("/:lang/*", "/en/docs/x", Some(&["en", "docs/x"])),
        ("/:lang/*", "/", None),
        ("/*.css", "/a.css", Some(&["a"])),
        ("/*.css", "/x/y/a.css", Some(&["x/y/a"])),
        ("/*.css", "/x/y/a.css/", Some(&["x/y/a"])),
        ("/*.css", "/.css", Some(&[""])),
        ("/*.css", "/a.js", None),
        ("/*.css", "/css", None),
        ("/blog*", "/blog", Some(&[""])),
        ("/blog*", "/blogs/x", Some(&["s/x"])),
        ("/blog*", "/blo", None),
        ("/assets/app-*.js", "/assets/app-1f2e.js", Some(&["1f2e"])),
        ("/assets/app-*.js", "/assets/app-.js", Some(&[""])),
        ("/assets/app-*.js", "/assets/app.js", None),
        ("/a*a", "/a", None),
        ("/a*a", "/aa", Some(&[""])),
        ("/caf%C3%A9", "/café", Some(&[])),
        ("/café/*", "/café/ü/ñ", Some(&["ü/ñ"])),
        ("/:x", "/日本語", Some(&["日本語"])),
        ("/100%", "/100%", Some(&[])),
        ("/a%20b", "/a b", Some(&[])),
        ("/%2A", "/*", Some(&[])),
        ("/%2A", "/x", None),
        ("/%3Ax", "/:x", Some(&[])),
        ("/a:b", "/a:b", Some(&[])),
    ];

    #[test]
    fn matching() {
        for (text, path, want) in MATCHES {
            let pattern = Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let mut captures = Vec::new();
            let got = pattern.captures(path, &mut captures).then_some(captures);
            assert_eq!(got.as_deref(), *want, "{text} against {path}");
            assert_eq!(pattern.is_match(path), want.is_some(), "{text} against {path}");
        }
    }

    #[test]
    fn refused() {
        let rows: &[(&str, &str)] = &[
            ("a/b", "must be a path"),
            ("/a?b=1", "query"),
            ("/a#top", "fragment"),
            ("/*/a", "only in the last segment"),
            ("/a*b*", "only one '*'"),
            ("/:x*", "cannot share"),
            ("/:", "not a placeholder"),
            ("/:1a", "not a placeholder"),
            ("/:a-b", "not a placeholder"),
            ("/:splat", ":splat is what"),
            ("/:a/:a", "appears twice"),
            ("/a/../b", "'..' segments"),
            ("/%2e%2E", "'..' segments"),
            ("/./b", "'..' segments"),
            ("/a%2Fb", "%2F"),
            ("/a%00", "NUL"),
            ("/%C3", "not UTF-8"),
        ];
        for (text, want) in rows {
            match Pattern::parse(text) {
                Ok(p) => panic!("{text} accepted: {p:?}"),
                Err(e) => assert!(e.contains(want), "{text}: {e:?} does not say {want:?}"),
            }
        }
    }

    #[test]
    fn keys() {
        let rows: &[(&str, Key)] = &[
            ("/", Key::Exact(String::new())),
            ("/a/b/", Key::Exact("a/b".into())),
            ("/a/:x", Key::First("a")),
            ("/a/*", Key::First("a")),
            ("/a/b*", Key::First("a")),
            ("/a*", Key::Any),
            ("/*", Key::Any),
            ("/:x/a", Key::Any),
        ];
        for (text, want) in rows {
            let pattern = Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(pattern.key(), *want, "{text}");
        }
    }

    #[test]
    fn capture_indexes() {
        let pattern = Pattern::parse("/:a/:b/*").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(["a", "b", "splat", "c"].map(|n| pattern.capture_index(n)), [Some(0), Some(1), Some(2), None]);
        let pattern = Pattern::parse("/:a").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pattern.capture_index("splat"), None);
    }

    #[test]
    fn names() {
        for (text, want) in [("a", 1), ("_x9-", 3), ("9a", 0), ("", 0), ("ab/c", 2), ("é", 0)] {
            assert_eq!(name_len(text.as_bytes()), want, "{text:?}");
        }
    }
}
