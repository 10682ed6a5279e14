//! Conditional requests (RFC 9110 §13): decides between sending the file, 304 Not Modified and
//! 412 Precondition Failed, and whether an If-Range lets a Range through.
//!
//! Caches and download managers depend on these answers being exactly right: a wrong 304 serves
//! stale content forever, a wrong If-Range match splices two versions of a file together. So the
//! evaluation order is the one in RFC 9110 §13.2.2, comparisons are the strong/weak ones of §8.8.3.2,
//! and anything malformed is treated as "does not match" rather than guessed at.

use crate::http::date::parse_http_date;
use crate::http::request::Headers;
use crate::http::syntax::{is_field_vchar, is_ows, trim_ows_str};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

/// `etag` is the current strong entity tag including quotes ("\"abc\""), `mtime` the Last-Modified time in
/// unix seconds. `is_get_or_head` decides between 304 and 412 for a matching If-None-Match.
pub fn evaluate(headers: &Headers, etag: &str, mtime: i64, is_get_or_head: bool) -> Precondition {
    if let Some(if_match) = &headers.if_match {
        if !list_matches(if_match, etag, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(since) = valid_date(headers.if_unmodified_since.as_deref()) {
        if mtime > since {
            return Precondition::Failed;
        }
    }

    if let Some(if_none_match) = &headers.if_none_match {
        if list_matches(if_none_match, etag, Comparison::Weak) {
            return if is_get_or_head { Precondition::NotModified } else { Precondition::Failed };
        }
    } else if is_get_or_head {
        if let Some(since) = valid_date(headers.if_modified_since.as_deref()) {
            if mtime <= since {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

/// If-Range: true when the range may be honoured: a strong etag equal to `etag` (weak tags never match), or
/// an HTTP date exactly equal to `mtime`. `mtime` is None when the date does not tell this representation
/// apart from another one (a compressed form shares its file's Last-Modified): then only a tag can match.
pub fn if_range_matches(if_range: &str, etag: &str, mtime: Option<i64>) -> bool {
    let value = trim_ows_str(if_range);
    if value.starts_with('"') || value.starts_with("W/") {
        let mut tags = EntityTags::new(value);
        return match (tags.next(), tags.next()) {
            (Some(Ok(tag)), None) => tag.matches(etag, Comparison::Strong),
            _ => false,
        };
    }
    mtime.is_some() && parse_http_date(value) == mtime
}

fn valid_date(value: Option<&str>) -> Option<i64> {
    value.and_then(parse_http_date)
}

/// RFC 9110 §8.8.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and their opaque parts equal.
    Strong,
    /// Opaque parts equal, weakness ignored.
    Weak,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The quoted part, quotes included.
    opaque: &'a str,
}

impl EntityTag<'_> {
    /// Compares with our current tag; a malformed current tag matches nothing.
    fn matches(self, current: &str, comparison: Comparison) -> bool {
        let mut parsed = EntityTags::new(current);
        let (Some(Ok(ours)), None) = (parsed.next(), parsed.next()) else {
            return false;
        };
        let strength_ok = comparison == Comparison::Weak || (!self.weak && !ours.weak);
        strength_ok && self.opaque == ours.opaque
    }
}

/// `"*" / #entity-tag`: true when any tag matches, `*` matches any current representation, and a
/// malformed list matches nothing.
fn list_matches(value: &str, etag: &str, comparison: Comparison) -> bool {
    if trim_ows_str(value) == "*" {
        return true;
    }
    let mut matched = false;
    for tag in EntityTags::new(value) {
        match tag {
            Ok(tag) => matched |= tag.matches(etag, comparison),
            Err(Malformed) => return false,
        }
    }
    matched
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed;

/// Iterates the members of a comma-separated entity-tag list (RFC 9110 §5.6.1: empty members
/// are allowed and skipped). After a malformed member it yields one error and stops.
struct EntityTags<'a> {
    text: &'a str,
    pos: usize,
    /// A tag was just read, so only OWS, a comma or the end may follow.
    need_separator: bool,
    failed: bool,
}

impl<'a> EntityTags<'a> {
    fn new(text: &'a str) -> Self {
        EntityTags { text, pos: 0, need_separator: false, failed: false }
    }

    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    /// `[ "W/" ] DQUOTE *etagc DQUOTE`, with etagc = %x21 / %x23-7E / obs-text.
    fn read_tag(&mut self) -> Option<EntityTag<'a>> {
        let weak = self.rest().starts_with(b"W/");
        if weak {
            self.pos += 2;
        }
        let start = self.pos;
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let body_len = rest.iter().skip(1).take_while(|&&b| is_field_vchar(b) && b != b'"').count();
        if rest.get(1 + body_len) != Some(&b'"') {
            return None;
        }
        self.pos = start + body_len + 2;
        // Both ends are ASCII quotes, so the slice lies on character boundaries.
        let opaque = self.text.get(start..self.pos)?;
        Some(EntityTag { weak, opaque })
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = Result<EntityTag<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.rest().first() {
                None => return None,
                Some(&b) if is_ows(b) => self.pos += 1,
                Some(b',') => {
                    self.pos += 1;
                    self.need_separator = false;
                }
                Some(_) if self.need_separator => break,
                Some(_) => match self.read_tag() {
                    Some(tag) => {
                        self.need_separator = true;
                        return Some(Ok(tag));
                    }
                    None => break,
                },
            }
        }
        self.failed = true;
        Some(Err(Malformed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"abc\"";
    const MTIME: i64 = 784_111_777;
    const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    #[derive(Default, Clone, Copy)]
    struct Conditions<'a> {
        if_match: Option<&'a str>,
        if_unmodified_since: Option<&'a str>,
        if_none_match: Option<&'a str>,
        if_modified_since: Option<&'a str>,
    }

    fn request(c: Conditions<'_>) -> Headers {
        Headers {
            if_none_match: c.if_none_match.map(str::to_owned),
            if_match: c.if_match.map(str::to_owned),
            if_modified_since: c.if_modified_since.map(str::to_owned),
            if_unmodified_since: c.if_unmodified_since.map(str::to_owned),
            ..Headers::default()
        }
    }

    fn im(v: &str) -> Conditions<'_> {
        Conditions { if_match: Some(v), ..Conditions::default() }
    }
    fn ius(v: &str) -> Conditions<'_> {
        Conditions { if_unmodified_since: Some(v), ..Conditions::default() }
    }
    fn inm(v: &str) -> Conditions<'_> {
        Conditions { if_none_match: Some(v), ..Conditions::default() }
    }
    fn ims(v: &str) -> Conditions<'_> {
        Conditions { if_modified_since: Some(v), ..Conditions::default() }
    }

    use Precondition::{Failed, NotModified, Proceed};

    /// (name, conditions, result for GET/HEAD, result for other methods)
    type Row<'a> = (&'a str, Conditions<'a>, Precondition, Precondition);

    #[test]
    fn evaluation_table() {
        let rows: &[Row<'_>] = &[
            ("no conditions", Conditions::default(), Proceed, Proceed),
            // If-Match: strong comparison.
            ("im equal", im("\"abc\""), Proceed, Proceed),
            ("im star", im("*"), Proceed, Proceed),
            ("im star ows", im(" * "), Proceed, Proceed),
            ("im list", im("\"x\", \"abc\""), Proceed, Proceed),
            ("im list no spaces", im("\"x\",\"abc\""), Proceed, Proceed),
            ("im list empty members", im(", ,\"abc\",,"), Proceed, Proceed),
            ("im differs", im("\"abd\""), Failed, Failed),
            ("im weak never matches", im("W/\"abc\""), Failed, Failed),
            ("im unquoted", im("abc"), Failed, Failed),
            ("im malformed after match", im("\"abc\", x"), Failed, Failed),
            ("im missing comma", im("\"abc\" \"x\""), Failed, Failed),
            ("im star in list", im("\"abc\", *"), Failed, Failed),
            ("im empty", im(""), Failed, Failed),
            ("im case differs", im("\"ABC\""), Failed, Failed),
            ("im unterminated", im("\"abc"), Failed, Failed),
            ("im lower w", im("w/\"abc\""), Failed, Failed),
            // If-Unmodified-Since.
            ("ius equal", ius(AT), Proceed, Proceed),
            ("ius after", ius(AFTER), Proceed, Proceed),
            ("ius before", ius(BEFORE), Failed, Failed),
            ("ius invalid ignored", ius("yesterday"), Proceed, Proceed),
            (
                "ius ignored with im",
                Conditions { if_match: Some("*"), if_unmodified_since: Some(BEFORE), ..Conditions::default() },
                Proceed,
                Proceed,
            ),
            // If-None-Match: weak comparison.
            ("inm equal", inm("\"abc\""), NotModified, Failed),
            ("inm weak equal", inm("W/\"abc\""), NotModified, Failed),
            ("inm star", inm("*"), NotModified, Failed),
            ("inm list", inm("\"x\", W/\"abc\""), NotModified, Failed),
            ("inm differs", inm("\"x\""), Proceed, Proceed),
            ("inm malformed", inm("\"abc\" junk"), Proceed, Proceed),
            ("inm unquoted", inm("abc"), Proceed, Proceed),
            ("inm empty", inm(""), Proceed, Proceed),
            ("inm obs-text", inm("\"\u{e9}\""), Proceed, Proceed),
            ("inm ctl in tag", inm("\"a\u{1}c\""), Proceed, Proceed),
            ("inm inner quote", inm("\"ab\"c\""), Proceed, Proceed),
            // If-Modified-Since: GET/HEAD only.
            ("ims equal", ims(AT), NotModified, Proceed),
            ("ims after", ims(AFTER), NotModified, Proceed),
            ("ims before", ims(BEFORE), Proceed, Proceed),
            ("ims invalid ignored", ims("Sun, 06 Nov 1994"), Proceed, Proceed),
            ("ims rfc850", ims("Sunday, 06-Nov-94 08:49:37 GMT"), NotModified, Proceed),
            ("ims asctime", ims("Sun Nov  6 08:49:37 1994"), NotModified, Proceed),
            (
                "ims ignored with inm",
                Conditions { if_none_match: Some("\"x\""), if_modified_since: Some(AFTER), ..Conditions::default() },
                Proceed,
                Proceed,
            ),
            // Order: a failing If-Match wins over a matching If-None-Match.
            (
                "im fails before inm",
                Conditions { if_match: Some("\"x\""), if_none_match: Some("*"), ..Conditions::default() },
                Failed,
                Failed,
            ),
            (
                "im passes then inm",
                Conditions { if_match: Some("\"abc\""), if_none_match: Some("\"abc\""), ..Conditions::default() },
                NotModified,
                Failed,
            ),
            (
                "ius fails before ims",
                Conditions {
                    if_unmodified_since: Some(BEFORE),
                    if_modified_since: Some(AFTER),
                    ..Conditions::default()
                },
                Failed,
                Failed,
            ),
            (
                "ius passes then ims",
                Conditions { if_unmodified_since: Some(AT), if_modified_since: Some(AT), ..Conditions::default() },
                NotModified,
                Proceed,
            ),
        ];
        for (name, conditions, get_head, other) in rows {
            let req = request(*conditions);
            assert_eq!(evaluate(&req, ETAG, MTIME, true), *get_head, "row {name} (GET/HEAD)");
            assert_eq!(evaluate(&req, ETAG, MTIME, false), *other, "row {name} (other)");
        }
    }

    #[test]
    fn current_tag_shapes() {
        let rows: &[(&str, &str, Comparison, bool)] = &[
            ("\"abc\"", "\"abc\"", Comparison::Strong, true),
            ("W/\"abc\"", "\"abc\"", Comparison::Strong, false),
            ("W/\"abc\"", "\"abc\"", Comparison::Weak, true),
            ("\"abc\"", "W/\"abc\"", Comparison::Weak, true),
            ("\"abc\"", "W/\"abc\"", Comparison::Strong, false),
            ("\"abc\"", "abc", Comparison::Weak, false),
            ("\"abc\"", "\"abc\", \"d\"", Comparison::Weak, false),
            ("\"\"", "\"\"", Comparison::Strong, true),
        ];
        for (theirs, ours, comparison, expected) in rows {
            assert_eq!(list_matches(theirs, ours, *comparison), *expected, "{theirs} vs {ours}");
        }
    }

    #[test]
    fn if_range() {
        let rows: &[(&str, bool)] = &[
            ("\"abc\"", true),
            (" \"abc\" ", true),
            ("\"abd\"", false),
            ("W/\"abc\"", false),
            ("\"abc\", \"abc\"", false),
            ("\"abc\" x", false),
            ("\"abc", false),
            ("*", false),
            ("", false),
            (AT, true),
            (BEFORE, false),
            (AFTER, false),
            ("Sunday, 06-Nov-94 08:49:37 GMT", true),
            ("Sun Nov  6 08:49:37 1994", true),
            ("not a date", false),
        ];
        for (value, expected) in rows {
            assert_eq!(if_range_matches(value, ETAG, Some(MTIME)), *expected, "{value:?}");
            let only_tags = value.trim().starts_with('"') && *expected;
            assert_eq!(if_range_matches(value, ETAG, None), only_tags, "{value:?} without a date validator");
        }
    }

    #[test]
    fn entity_tag_lists_never_panic() {
        let samples = ["W/", "W", "\"", ",", "W/\"", "\u{e9}", "\"\u{e9}\"", "W/\u{e9}", "\"a\"\u{e9}", ", W/\"x\" ,"];
        for sample in samples {
            for end in 0..=sample.len() {
                if let Some(prefix) = sample.get(..end) {
                    let _ = list_matches(prefix, ETAG, Comparison::Weak);
                    let _ = if_range_matches(prefix, ETAG, Some(MTIME));
                }
            }
        }
        let tags: Vec<_> = EntityTags::new(", \"a\" ,W/\"b\",,").collect();
        assert_eq!(
            tags,
            vec![Ok(EntityTag { weak: false, opaque: "\"a\"" }), Ok(EntityTag { weak: true, opaque: "\"b\"" }),]
        );
        let tags: Vec<_> = EntityTags::new("\"a\" x \"b\"").collect();
        assert_eq!(tags, vec![Ok(EntityTag { weak: false, opaque: "\"a\"" }), Err(Malformed)]);
    }
}
