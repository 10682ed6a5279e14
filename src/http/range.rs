//! RFC 9110 §14 byte ranges: turns a `Range` header and a file length into what to send.
//!
//! Range requests are where arithmetic meets client-chosen numbers, so every number saturates instead of
//! wrapping, and the answer is deliberately conservative: anything malformed, or anything that looks like an
//! amplification attempt (too many ranges, overlapping ranges that add up to more than the file), falls back
//! to a plain 200 with the whole file. RFC 9110 §14.2 allows a server to ignore `Range` at any time, so
//! `Ignore` is always a correct answer; `Unsatisfiable` is only given for a well-formed set that misses the
//! file entirely.

use crate::http::syntax::{list_elements, trim_ows_str};

/// An inclusive byte range within a file: `start <= end < file_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    // A ByteRange is never empty (both ends are inclusive), so an `is_empty` would only ever say false.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        // Saturating so that a hand-built range that breaks `start <= end < u64::MAX` cannot panic.
        self.end.saturating_sub(self.start).saturating_add(1)
    }
}

/// What to do with a `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Serve 200 with the whole file.
    Ignore,
    /// 416 with `Content-Range: bytes */LEN`.
    Unsatisfiable,
    /// 206 with one part.
    Single(ByteRange),
    /// 206 `multipart/byteranges`: sorted, merged, at least two.
    Multi(Vec<ByteRange>),
}

/// More ranges than this in one header are ignored: no browser or download tool sends that many, and each
/// one costs a multipart header on the way out.
pub const MAX_RANGES: usize = 32;

/// Evaluates a `Range` header value against a file of `file_len` bytes.
pub fn evaluate(header: &str, file_len: u64) -> RangeOutcome {
    let Some(specs) = parse(header) else {
        return RangeOutcome::Ignore;
    };
    let satisfiable: Vec<ByteRange> = specs.iter().filter_map(|s| s.clamp_to(file_len)).collect();
    if satisfiable.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    // u128 keeps the sum exact: at most MAX_RANGES lengths of at most u64::MAX each.
    let requested: u128 = satisfiable.iter().map(|r| u128::from(r.len())).sum();
    if requested > u128::from(file_len) {
        return RangeOutcome::Ignore;
    }
    let mut merged = merge(satisfiable);
    match merged.len() {
        1 => merged.pop().map_or(RangeOutcome::Ignore, RangeOutcome::Single),
        _ => RangeOutcome::Multi(merged),
    }
}

/// "bytes START-END/LEN"
pub fn content_range(r: ByteRange, file_len: u64) -> String {
    format!("bytes {}-{}/{}", r.start, r.end, file_len)
}

/// One element of a range-set, as written, before it meets the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    /// `a-b`, with `a <= b`.
    Bounded { first: u64, last: u64 },
    /// `a-`.
    From { first: u64 },
    /// `-n`: the last n bytes.
    Suffix { len: u64 },
}

impl RangeSpec {
    /// The part of the file this spec covers, or None when it starts past the end (or asks for nothing).
    fn clamp_to(self, file_len: u64) -> Option<ByteRange> {
        let last_byte = file_len.checked_sub(1)?;
        let (start, end) = match self {
            RangeSpec::Bounded { first, last } => (first, last.min(last_byte)),
            RangeSpec::From { first } => (first, last_byte),
            RangeSpec::Suffix { len: 0 } => return None,
            RangeSpec::Suffix { len } => (file_len.saturating_sub(len), last_byte),
        };
        (start <= end).then_some(ByteRange { start, end })
    }
}

/// Parses `bytes=range-set`; None means "ignore the header" (other unit, syntax error, too many ranges).
fn parse(header: &str) -> Option<Vec<RangeSpec>> {
    let (unit, set) = trim_ows_str(header).split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // RFC 9110 §5.6.1: empty list elements are tolerated and do not count.
    for element in list_elements(set) {
        if specs.len() == MAX_RANGES {
            return None;
        }
        specs.push(parse_spec(element)?);
    }
    (!specs.is_empty()).then_some(specs)
}

fn parse_spec(element: &str) -> Option<RangeSpec> {
    let (first, last) = element.split_once('-')?;
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix { len: parse_digits(last)? }),
        (false, true) => Some(RangeSpec::From { first: parse_digits(first)? }),
        (false, false) => {
            let (first, last) = (parse_digits(first)?, parse_digits(last)?);
            (first <= last).then_some(RangeSpec::Bounded { first, last })
        }
    }
}

/// `1*DIGIT`, saturating at u64::MAX: a huge number is still a number, just one past any file's end.
fn parse_digits(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Sorts and joins ranges that overlap or touch, so no byte is sent twice and parts stay in file order.
fn merge(mut ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    ranges.sort_unstable_by_key(|r| (r.start, r.end));
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(prev) if r.start <= prev.end.saturating_add(1) => prev.end = prev.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::{Ignore, Multi, Single, Unsatisfiable};

    fn br(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn evaluate_table() {
        const MAX: u64 = u64::MAX;
        let cases: &[(&str, u64, RangeOutcome)] = &[
            // The three forms.
            ("bytes=0-499", 1000, Single(br(0, 499))),
            ("bytes=500-999", 1000, Single(br(500, 999))),
            ("bytes=500-", 1000, Single(br(500, 999))),
            ("bytes=-500", 1000, Single(br(500, 999))),
            ("bytes=0-0", 1000, Single(br(0, 0))),
            ("bytes=-1", 1000, Single(br(999, 999))),
            ("bytes=999-", 1000, Single(br(999, 999))),
            ("bytes=0-", 1000, Single(br(0, 999))),
            // Clamping: end past EOF, suffix longer than the file.
            ("bytes=500-5000", 1000, Single(br(500, 999))),
            ("bytes=-5000", 1000, Single(br(0, 999))),
            ("bytes=0-18446744073709551615", 10, Single(br(0, 9))),
            ("bytes=0-99999999999999999999999999", 10, Single(br(0, 9))),
            ("bytes=-99999999999999999999999999", 10, Single(br(0, 9))),
            ("bytes=0-18446744073709551614", MAX, Single(br(0, MAX - 1))),
            ("bytes=-1", MAX, Single(br(MAX - 1, MAX - 1))),
            // Unsatisfiable: starts at or past EOF, "-0", empty file.
            ("bytes=1000-", 1000, Unsatisfiable),
            ("bytes=1000-2000", 1000, Unsatisfiable),
            ("bytes=99999999999999999999999999-", 1000, Unsatisfiable),
            ("bytes=-0", 1000, Unsatisfiable),
            ("bytes=0-0", 0, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=-0", 0, Unsatisfiable),
            ("bytes=1000-,2000-3000,-0", 1000, Unsatisfiable),
            // Unsatisfiable parts are dropped when another part is satisfiable.
            ("bytes=0-9,2000-3000", 1000, Single(br(0, 9))),
            ("bytes=-0,5-6", 1000, Single(br(5, 6))),
            // Unit and case.
            ("BYTES=0-1", 10, Single(br(0, 1))),
            ("Bytes=0-1", 10, Single(br(0, 1))),
            ("items=0-1", 10, Ignore),
            ("bytes 0-1", 10, Ignore),
            ("bytes", 10, Ignore),
            ("", 10, Ignore),
            ("=0-1", 10, Ignore),
            ("bytesx=0-1", 10, Ignore),
            ("bytes =0-1", 10, Ignore),
            // Syntax errors anywhere in the set ignore the whole header.
            ("bytes=", 10, Ignore),
            ("bytes=,", 10, Ignore),
            ("bytes= , ,", 10, Ignore),
            ("bytes=-", 10, Ignore),
            ("bytes=5-4", 10, Ignore),
            ("bytes=0-1,5-4", 10, Ignore),
            ("bytes=a-b", 10, Ignore),
            ("bytes=1-2-3", 10, Ignore),
            ("bytes=+1-2", 10, Ignore),
            ("bytes=1-+2", 10, Ignore),
            ("bytes=--1", 10, Ignore),
            ("bytes=0x1-2", 10, Ignore),
            ("bytes=1 -2", 10, Ignore),
            ("bytes=1- 2", 10, Ignore),
            ("bytes=0-1;2-3", 10, Ignore),
            ("bytes=0-1,x", 10, Ignore),
            ("bytes=1000-,x", 1000, Ignore),
            ("bytes=٣-4", 10, Ignore),
            ("bytes==0-1", 10, Ignore),
            // Whitespace around elements, empty elements skipped.
            ("bytes= 0-1 , 5-6 ", 10, Multi(vec![br(0, 1), br(5, 6)])),
            ("bytes=0-1,\t5-6", 10, Multi(vec![br(0, 1), br(5, 6)])),
            ("bytes=0-1,,5-6", 10, Multi(vec![br(0, 1), br(5, 6)])),
            ("bytes=,0-1,", 10, Single(br(0, 1))),
            ("  bytes=0-1  ", 10, Single(br(0, 1))),
            // Sorting and merging.
            ("bytes=5-6,0-1", 10, Multi(vec![br(0, 1), br(5, 6)])),
            ("bytes=0-1,2-3", 10, Single(br(0, 3))),
            ("bytes=0-3,2-5", 10, Single(br(0, 5))),
            ("bytes=4-5,0-1,2-3", 10, Single(br(0, 5))),
            ("bytes=0-0,2-2,4-4", 10, Multi(vec![br(0, 0), br(2, 2), br(4, 4)])),
            ("bytes=8-,-1", 10, Single(br(8, 9))),
            ("bytes=0-0,-1", 10, Multi(vec![br(0, 0), br(9, 9)])),
            ("bytes=0-0,-1", 1, Ignore),
            ("bytes=0-4,5-", 10, Single(br(0, 9))),
            // Overlap floods: the satisfiable parts add up to more than the file.
            ("bytes=0-,0-", 10, Ignore),
            ("bytes=0-5,3-9", 10, Ignore),
            ("bytes=0-9,0-0", 10, Ignore),
            ("bytes=-10,-10", 10, Ignore),
            ("bytes=0-,0-0,1000-", 10, Ignore),
            ("bytes=0-5,3-7", 10, Ignore),
            ("bytes=0-4,3-7", 10, Single(br(0, 7))),
            ("bytes=0-18446744073709551615,0-18446744073709551615", MAX, Ignore),
        ];
        for (header, len, want) in cases {
            assert_eq!(&evaluate(header, *len), want, "{header:?} len {len}");
        }
    }

    #[test]
    fn range_count_limit() {
        let ranges = |n: u64| -> String {
            let parts: Vec<String> = (0..n).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
            format!("bytes={}", parts.join(","))
        };
        let at_limit = evaluate(&ranges(MAX_RANGES as u64), 1000);
        assert!(matches!(at_limit, Multi(ref v) if v.len() == MAX_RANGES), "{at_limit:?}");
        assert_eq!(evaluate(&ranges(MAX_RANGES as u64 + 1), 1000), Ignore);
        // Empty elements do not count toward the limit.
        let padded = format!("{},,,,", ranges(MAX_RANGES as u64));
        assert!(matches!(evaluate(&padded, 1000), Multi(_)));
        // Unsatisfiable ranges still count: the header is judged as sent.
        let far: Vec<String> = (0..=MAX_RANGES).map(|i| format!("{}-", 5000 + i)).collect();
        assert_eq!(evaluate(&format!("bytes={}", far.join(",")), 1000), Ignore);
    }

    #[test]
    fn multi_is_sorted_disjoint_and_within_the_file() {
        let headers = ["bytes=90-95,0-1,50-60,55-70,3-3,-2", "bytes=1-1,3-3,5-5,7-7,9-9", "bytes=10-20,0-5,30-"];
        for header in headers {
            let Multi(parts) = evaluate(header, 100) else {
                panic!("{header}: expected multipart");
            };
            assert!(parts.len() >= 2, "{header}");
            for pair in parts.windows(2) {
                if let [a, b] = pair {
                    assert!(a.end.saturating_add(1) < b.start, "{header}: {parts:?}");
                }
            }
            assert!(parts.iter().all(|r| r.start <= r.end && r.end < 100), "{header}");
        }
    }

    #[test]
    fn byte_range_len_table() {
        let cases = [
            (br(0, 0), 1),
            (br(0, 9), 10),
            (br(5, 9), 5),
            (br(0, u64::MAX - 1), u64::MAX),
            (br(0, u64::MAX), u64::MAX),
            (br(9, 5), 1),
        ];
        for (r, want) in cases {
            assert_eq!(r.len(), want, "{r:?}");
        }
    }

    #[test]
    fn content_range_table() {
        let cases = [
            (br(0, 499), 1000, "bytes 0-499/1000"),
            (br(999, 999), 1000, "bytes 999-999/1000"),
            (br(0, 0), 1, "bytes 0-0/1"),
            (br(0, u64::MAX - 1), u64::MAX, "bytes 0-18446744073709551614/18446744073709551615"),
        ];
        for (r, len, want) in cases {
            assert_eq!(content_range(r, len), want);
        }
    }
}
