//! Narrows a request to the few rules that could match it, so the cost of a request does not grow with the
//! number of rules in the file.
//!
//! Each pattern is filed once, by its [`Key`]: all-literal patterns (most rules of a large `_redirects`:
//! `/old/page /new/page`) under their whole path; patterns that start with a literal segment under that
//! segment; the rest (`/*`, `/:lang/...`) in a list every request looks at. A request then costs a hash
//! lookup of its whole path, one of its first segment, and the short "any" list. The three candidate lists
//! each hold rule numbers in file order, and are merged by number, so "first match wins" and "every match,
//! in file order" mean what the file says.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;

use super::pattern::{Key, Segments};

#[derive(Debug, Default)]
pub(super) struct Index {
    exact: HashMap<Box<str>, Vec<u32>>,
    first: HashMap<Box<str>, Vec<u32>>,
    any: Vec<u32>,
}

impl Index {
    /// Files rule number `rule`; rules must be inserted in file order.
    pub(super) fn insert(&mut self, rule: u32, key: Key<'_>) {
        let list = match key {
            Key::Exact(path) => self.exact.entry(path.into()).or_default(),
            Key::First(segment) => self.first.entry(segment.into()).or_default(),
            Key::Any => &mut self.any,
        };
        list.push(rule);
    }

    /// Calls `visit` with the number of every rule that could match `path`, in ascending order, until it
    /// breaks; returns what it broke with.
    pub(super) fn candidates<B>(&self, path: &str, mut visit: impl FnMut(usize) -> ControlFlow<B>) -> Option<B> {
        let none: &[u32] = &[];
        let exact = match self.exact.is_empty() {
            true => none,
            false => self.exact.get(&*exact_key(path)).map_or(none, Vec::as_slice),
        };
        let first = match self.first.is_empty() {
            true => none,
            false => Segments::new(path).next().and_then(|s| self.first.get(s)).map_or(none, Vec::as_slice),
        };
        let mut lists = [exact, first, self.any.as_slice()];
        loop {
            // The smallest head of the three lists is the next rule in file order.
            let next = lists.iter_mut().filter(|l| !l.is_empty()).min_by_key(|l| l.first().copied())?;
            let (&rule, rest) = next.split_first()?;
            *next = rest;
            if let ControlFlow::Break(answer) = visit(rule as usize) {
                return Some(answer);
            }
        }
    }
}

/// The request path as an [`Key::Exact`] key: its non-empty segments joined by '/'. A resolved path has no
/// doubled slash, so this is a borrowed slice and costs nothing; anything else is rebuilt.
fn exact_key(path: &str) -> Cow<'_, str> {
    let inner = path.trim_start_matches('/');
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.contains("//") || inner.ends_with('/') {
        return Cow::Owned(Segments::new(path).collect::<Vec<_>>().join("/"));
    }
    Cow::Borrowed(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::rules::pattern::Pattern;

    fn index(patterns: &[&str]) -> Index {
        let mut index = Index::default();
        for (i, text) in patterns.iter().enumerate() {
            let pattern = Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            index.insert(i as u32, pattern.key());
        }
        index
    }

    fn all(index: &Index, path: &str) -> Vec<usize> {
        let mut seen = Vec::new();
        index.candidates(path, |i| {
            seen.push(i);
            ControlFlow::<()>::Continue(())
        });
        seen
    }

    #[test]
    fn candidates_in_file_order() {
        let index = index(&["/*", "/a/b", "/a/:x", "/c", "/:y/b", "/a/*", "/a/b/", "/"]);
        let rows: &[(&str, &[usize])] = &[
            ("/a/b", &[0, 1, 2, 4, 5, 6]),
            ("/a/b/", &[0, 1, 2, 4, 5, 6]),
            ("//a//b", &[0, 1, 2, 4, 5, 6]),
            ("/a", &[0, 2, 4, 5]),
            ("/c", &[0, 3, 4]),
            ("/", &[0, 4, 7]),
            ("/zzz", &[0, 4]),
        ];
        for (path, want) in rows {
            assert_eq!(all(&index, path), *want, "{path}");
        }
    }

    #[test]
    fn stops_at_break() {
        let index = index(&["/a", "/*", "/a/*"]);
        let mut seen = 0;
        let got = index.candidates("/a", |i| {
            seen += 1;
            if i == 1 {
                ControlFlow::Break("second")
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!((got, seen), (Some("second"), 2));
        assert_eq!(index.candidates("/b", |_| ControlFlow::<()>::Continue(())), None);
    }

    #[test]
    fn keys_of_requests() {
        for (path, want) in [("/", ""), ("/a", "a"), ("/a/", "a"), ("/a/b", "a/b"), ("//a//b//", "a/b"), ("/a//", "a")]
        {
            assert_eq!(exact_key(path), want, "{path}");
        }
    }
}
