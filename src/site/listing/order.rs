//! The order a listing shows: the `?sort=…&order=…` query, directories before files, and natural name
//! order ("file2" before "file10"), the order people expect and what file managers show.
//!
//! Sorting is server-side so the page needs no JavaScript; every comparison ends in a bytewise one, so the
//! order is total and the same directory always renders the same bytes (which keeps ETags and caches honest).

use std::cmp::Ordering;

use super::{Entry, Order, SortKey};

/// From the request's query: `sort=name|size|mtime&order=asc|desc`. Each parameter is read on its own: a
/// missing or unknown value means its default (Name, Asc); other parameters are ignored; when one is
/// repeated, the last one counts. Values match exactly (no percent-decoding, lower case only), because the
/// page's own links are the only source of them.
pub fn sort_from_query(query: Option<&str>) -> (SortKey, Order) {
    let mut key = SortKey::Name;
    let mut order = Order::Asc;
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("sort", "name")) => key = SortKey::Name,
            Some(("sort", "size")) => key = SortKey::Size,
            Some(("sort", "mtime")) => key = SortKey::Mtime,
            Some(("sort", _)) => key = SortKey::Name,
            Some(("order", "asc")) => order = Order::Asc,
            Some(("order", "desc")) => order = Order::Desc,
            Some(("order", _)) => order = Order::Asc,
            _ => {}
        }
    }
    (key, order)
}

/// Directories first, whatever the order; then by `key` in `order`. Ties on size or mtime are broken by
/// natural name order, ascending, so equal sizes still read alphabetically.
pub fn sort(entries: &mut [Entry], key: SortKey, order: Order) {
    entries.sort_unstable_by(|a, b| {
        let by_key = match key {
            SortKey::Name => natural_cmp(&a.name, &b.name),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Mtime => a.mtime_sec.cmp(&b.mtime_sec),
        };
        let by_key = if order == Order::Desc { by_key.reverse() } else { by_key };
        b.is_dir.cmp(&a.is_dir).then(by_key).then_with(|| natural_cmp(&a.name, &b.name))
    });
}

/// Natural order: runs of ASCII digits compare as numbers of any length ("file2" < "file10", "a01" ~ "a1"),
/// other bytes compare ASCII-case-insensitively; names equal under that compare bytewise ("A" < "a",
/// "a01" < "a1"), so the order is total. Case folding is ASCII only: non-ASCII UTF-8 compares by code point.
pub fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
    loose_cmp(a, b).then_with(|| a.cmp(b))
}

/// The comparison before the bytewise tie-break. Both names are read as sequences of tokens — a maximal digit
/// run or one other byte — compared pairwise. A digit run against another byte compares by its first digit,
/// which orders it consistently with any digit ('0'..='9' is one contiguous range no other byte falls in).
fn loose_cmp(mut a: &[u8], mut b: &[u8]) -> Ordering {
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let by_number = numeric_cmp(da, db);
                if by_number != Ordering::Equal {
                    return by_number;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                let by_byte = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                if by_byte != Ordering::Equal {
                    return by_byte;
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

/// The leading run of ASCII digits and the rest.
fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|c| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// Two digit runs as numbers, however long: without leading zeros, the longer is larger, else bytewise.
fn numeric_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().position(|&c| c != b'0').unwrap_or(s.len()) };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_table() {
        use Ordering::{Equal, Greater, Less};
        let cases: &[(&[u8], &[u8], Ordering)] = &[
            (b"file2", b"file10", Less),
            (b"file10", b"file2", Greater),
            (b"file2", b"file2", Equal),
            (b"a", b"B", Less),
            (b"B", b"a", Greater),
            (b"A", b"a", Less), // equal but for case: bytewise, upper first
            (b"a", b"ab", Less),
            (b"", b"a", Less),
            (b"a01", b"a1", Less), // equal as numbers: bytewise
            (b"a1", b"a01", Greater),
            (b"a001b", b"a1a", Greater), // numbers tie, then 'b' > 'a' decides before the tie-break
            (b"x9", b"x10", Less),
            (b"x99999999999999999999999", b"x100000000000000000000000", Less), // beyond u64
            (b"1.10", b"1.9", Greater),
            (b"v1.2.10", b"v1.2.9", Greater),
            (b"10", b"9a", Greater),
            (b"a", b"1", Greater), // digits sort before letters, as in ASCII
            (b"_", b"1", Greater),
            (b"-", b"1", Less),
            (b"img12.png", b"IMG12.png", Greater),
            (b"\xff", b"a", Greater),
            (b"\xc3\xa9", b"f", Greater), // é after ASCII letters
        ];
        for (a, b, want) in cases {
            let show = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
            assert_eq!(natural_cmp(a, b), *want, "{} vs {}", show(a), show(b));
            assert_eq!(natural_cmp(b, a), want.reverse(), "{} vs {} (swapped)", show(b), show(a));
        }
    }

    #[test]
    fn natural_order_is_a_total_order() {
        let names: Vec<&[u8]> = vec![
            b"a", b"A", b"a1", b"a01", b"a001", b"a2", b"a10", b"A10", b"a1b", b"a01a", b"b", b"1", b"01", b"10", b"",
            b"_", b"-", b"a-1", b"a_1", b"\xff", b"a\xff", b"0", b"00",
        ];
        for a in &names {
            for b in &names {
                assert_eq!(natural_cmp(a, b) == Ordering::Equal, a == b);
                for c in &names {
                    if natural_cmp(a, b).is_le() && natural_cmp(b, c).is_le() {
                        assert!(natural_cmp(a, c).is_le(), "{a:?} <= {b:?} <= {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn query_table() {
        use Order::{Asc, Desc};
        use SortKey::{Mtime, Name, Size};
        let cases: &[(Option<&str>, (SortKey, Order))] = &[
            (None, (Name, Asc)),
            (Some(""), (Name, Asc)),
            (Some("sort=size"), (Size, Asc)),
            (Some("sort=size&order=desc"), (Size, Desc)),
            (Some("order=desc&sort=mtime"), (Mtime, Desc)),
            (Some("sort=name&order=asc"), (Name, Asc)),
            (Some("order=desc"), (Name, Desc)),
            (Some("sort=bogus&order=desc"), (Name, Desc)),
            (Some("sort=size&order=sideways"), (Size, Asc)),
            (Some("sort=SIZE"), (Name, Asc)),
            (Some("sort=%73ize"), (Name, Asc)),
            (Some("sort=size&sort=mtime"), (Mtime, Asc)),
            (Some("sort=size&sort=x"), (Name, Asc)),
            (Some("x=1&sort=mtime&y"), (Mtime, Asc)),
            (Some("sort"), (Name, Asc)),
            (Some("sort=size=desc"), (Name, Asc)),
            (Some("&&sort=size&&"), (Size, Asc)),
        ];
        for (query, want) in cases {
            assert_eq!(sort_from_query(*query), *want, "{query:?}");
        }
    }

    fn entry(name: &str, is_dir: bool, size: u64, mtime_sec: i64) -> Entry {
        Entry { name: name.as_bytes().to_vec(), is_dir, size, mtime_sec }
    }

    #[test]
    fn sort_table() {
        use Order::{Asc, Desc};
        use SortKey::{Mtime, Name, Size};
        let all = || {
            vec![
                entry("file10", false, 100, 30),
                entry("file2", false, 100, 10),
                entry("b", false, 5, 20),
                entry("Zdir", true, 0, 5),
                entry("adir", true, 0, 50),
                entry("big", false, 9000, 10),
            ]
        };
        let cases: &[(SortKey, Order, &[&str])] = &[
            (Name, Asc, &["adir", "Zdir", "b", "big", "file2", "file10"]),
            (Name, Desc, &["Zdir", "adir", "file10", "file2", "big", "b"]),
            // Equal sizes (file2, file10; the directories) fall back to natural name order, ascending.
            (Size, Asc, &["adir", "Zdir", "b", "file2", "file10", "big"]),
            (Size, Desc, &["adir", "Zdir", "big", "file2", "file10", "b"]),
            // Equal mtimes (file2, big) likewise.
            (Mtime, Asc, &["Zdir", "adir", "big", "file2", "b", "file10"]),
            (Mtime, Desc, &["adir", "Zdir", "file10", "b", "big", "file2"]),
        ];
        for (key, order, want) in cases {
            let mut entries = all();
            sort(&mut entries, *key, *order);
            let got: Vec<String> = entries.iter().map(|e| String::from_utf8_lossy(&e.name).into_owned()).collect();
            assert_eq!(got, *want, "{key:?} {order:?}");
        }
    }
}
