//! Narrows a request to the few rules that could match it, so the cost of a request does not grow with the
//! number of rules in the file.
//!
//! Each pattern is filed once, by its [`Key`]: all-literal patterns (most rules of a large `_redirects`:
//! `/old/page /new/page`) under their whole path; patterns that start with a literal segment under that
//! segment; the rest (`/*`, `/:lang/...`) in a list every request looks at. A request looks up its first
//! segment, which yields the rules filed under it and whether any all-literal rule starts with it; only then
//! is its whole path looked up. So a request under a first segment no rule names (`/assets/...` against a
//! file of moved pages) costs one hash lookup and the short "any" list. The three candidate lists each hold
//! rule numbers in file order and are merged by number, so "first match wins" and "every match, in file
//! order" mean what the file says.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;

use super::pattern::{Key, Segments};

/// Keyed by path text, hashed with [`FxHasher`].
type Map<V> = HashMap<Box<str>, V, BuildHasherDefault<FxHasher>>;

#[derive(Debug, Default)]
pub(super) struct Index {
    /// All-literal patterns by their whole path ("" for the root).
    exact: Map<Vec<u32>>,
    /// By first segment.
    first: Map<Bucket>,
    any: Vec<u32>,
}

#[derive(Debug, Default)]
struct Bucket {
    /// The patterns that start with this segment and then have a placeholder or a `*`.
    rules: Vec<u32>,
    /// Some all-literal pattern starts with this segment: the whole path is worth looking up.
    exact: bool,
}

impl Index {
    /// Files rule number `rule`; rules must be inserted in file order.
    pub(super) fn insert(&mut self, rule: u32, key: Key<'_>) {
        match key {
            Key::Exact(path) => {
                if let Some(first) = Segments::new(&path).next() {
                    self.first.entry(first.into()).or_default().exact = true;
                }
                self.exact.entry(path.into()).or_default().push(rule);
            }
            Key::First(segment) => self.first.entry(segment.into()).or_default().rules.push(rule),
            Key::Any => self.any.push(rule),
        }
    }

    /// Calls `visit` with the number of every rule that could match `path`, in ascending order, until it
    /// breaks; returns what it broke with.
    pub(super) fn candidates<B>(&self, path: &str, mut visit: impl FnMut(usize) -> ControlFlow<B>) -> Option<B> {
        let none: &[u32] = &[];
        let (mut exact, mut first) = (none, none);
        match Segments::new(path).next() {
            None if !self.exact.is_empty() => exact = self.exact.get("").map_or(none, Vec::as_slice),
            Some(segment) if !self.first.is_empty() => {
                if let Some(bucket) = self.first.get(segment) {
                    first = &bucket.rules;
                    if bucket.exact {
                        exact = self.exact.get(&*exact_key(path)).map_or(none, Vec::as_slice);
                    }
                }
            }
            _ => {}
        }
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

/// rustc's FxHash: a rotate, a xor and a multiply per 8 bytes. The tables hold the site's own paths, and a
/// lookup of a client's path can only be as slow as the table's own collisions, so SipHash's defence
/// against chosen keys buys nothing here; it would cost most of a miss.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word.iter_mut().zip(rest).for_each(|(w, b)| *w = *b);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.hash
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
            ("/c/d", &[0, 4]),
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
