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
///
/// A sort compares each name some 17 times in a 100,000-entry directory, and comparing two names in natural
/// order walks them token by token; so each name's natural key is built once, into one buffer, and the sort
/// compares plain numbers — the key's first 16 bytes — reading the rest of a key only when those tie. It
/// sorts a list of indices, then moves the entries into that order.
pub fn sort(entries: &mut [Entry], key: SortKey, order: Order) {
    struct Item {
        /// The natural key's first 16 bytes, big-endian, zero-padded: comparing these decides whenever they
        /// differ (a padding zero only ever meets a real byte that is larger, or the keys tie here).
        prefix: u128,
        /// The sort key's value as an unsigned number in the requested direction (0 when sorting by name).
        primary: u64,
        /// Where the whole natural key is in `keys`.
        start: usize,
        end: usize,
        index: usize,
        is_dir: bool,
    }
    let desc = order == Order::Desc;
    let mut keys = Vec::with_capacity(entries.iter().map(|e| e.name.len() + 4).sum());
    let mut items: Vec<Item> = entries
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let primary = match key {
                SortKey::Name => 0,
                SortKey::Size => e.size,
                // Flipping the sign bit maps i64 order onto u64 order.
                SortKey::Mtime => (e.mtime_sec as u64) ^ (1 << 63),
            };
            let start = keys.len();
            push_natural_key(&mut keys, &e.name);
            let mut prefix = [0u8; 16];
            let head = &keys[start..keys.len().min(start + 16)];
            prefix[..head.len()].copy_from_slice(head);
            Item {
                prefix: u128::from_be_bytes(prefix),
                primary: if desc { !primary } else { primary },
                start,
                end: keys.len(),
                index,
                is_dir: e.is_dir,
            }
        })
        .collect();
    let name_desc = desc && key == SortKey::Name;
    items.sort_unstable_by(|a, b| {
        b.is_dir.cmp(&a.is_dir).then(a.primary.cmp(&b.primary)).then_with(|| {
            let by_name = a
                .prefix
                .cmp(&b.prefix)
                .then_with(|| keys[a.start..a.end].cmp(&keys[b.start..b.end]))
                .then_with(|| entries[a.index].name.cmp(&entries[b.index].name));
            if name_desc {
                by_name.reverse()
            } else {
                by_name
            }
        })
    });
    // Moving every entry out and back in order touches each once, sequentially on the way back; following
    // the permutation's cycles with swaps saves the list but was measured slower (random access).
    let mut taken: Vec<Entry> = entries.iter_mut().map(std::mem::take).collect();
    for (slot, item) in entries.iter_mut().zip(&items) {
        *slot = std::mem::take(&mut taken[item.index]);
    }
}

/// Natural order: runs of ASCII digits compare as numbers of any length ("file2" < "file10", "a01" ~ "a1"),
/// other bytes compare ASCII-case-insensitively; names equal under that compare bytewise ("A" < "a",
/// "a01" < "a1"), so the order is total. Case folding is ASCII only: non-ASCII UTF-8 compares by code point.
pub fn natural_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut ka, mut kb) = (Vec::new(), Vec::new());
    push_natural_key(&mut ka, a);
    push_natural_key(&mut kb, b);
    ka.cmp(&kb).then_with(|| a.cmp(b))
}

/// Appends a byte string whose bytewise order is the natural order before the final bytewise tie-break. The
/// name is read as tokens — a maximal run of ASCII digits, or one other byte:
/// - another byte becomes itself, ASCII lower-cased;
/// - a digit run becomes `'0'`, the count of its significant digits (one byte below 255, else 0xFF and four
///   bytes big-endian; a Linux name has at most 255 bytes) and those digits, so a longer number sorts after
///   a shorter one and equal lengths compare digit by digit.
///
/// Tokens compare the way they should: a digit run against another byte compares `'0'` with it, which orders
/// it as any digit would ('0'..='9' is one range no other lower-cased byte falls in); two digit runs differ
/// in their length field or digits exactly when their numbers differ, and equal numbers encode equally.
fn push_natural_key(key: &mut Vec<u8>, name: &[u8]) {
    let mut rest = name;
    loop {
        // Bytes up to the next digit, lower-cased as one run (no capacity check per byte).
        let letters = rest.iter().position(u8::is_ascii_digit).unwrap_or(rest.len());
        key.extend(rest[..letters].iter().map(u8::to_ascii_lowercase));
        rest = &rest[letters..];
        if rest.is_empty() {
            return;
        }
        let end = rest.iter().position(|c| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (digits, tail) = rest.split_at(end);
        let zeros = digits.iter().position(|&c| c != b'0').unwrap_or(digits.len());
        let significant = &digits[zeros..];
        key.push(b'0');
        match u8::try_from(significant.len()) {
            Ok(len) if len < 0xff => key.push(len),
            _ => {
                key.push(0xff);
                key.extend_from_slice(&u32::try_from(significant.len()).unwrap_or(u32::MAX).to_be_bytes());
            }
        }
        key.extend_from_slice(significant);
        rest = tail;
    }
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
            (b"000", b"0", Greater),                                           // both zero: bytewise, the shorter first
            (b"a0", b"a", Greater),
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

    /// Digit runs of 255 significant digits and more take the long length form, and still order by value.
    #[test]
    fn natural_order_of_long_numbers() {
        let number = |digits: usize, first: u8| {
            let mut n = vec![first];
            n.resize(digits, b'0');
            n
        };
        let ladder = [number(254, b'9'), number(255, b'1'), number(255, b'2'), number(256, b'1'), number(300, b'1')];
        for pair in ladder.windows(2) {
            assert_eq!(
                natural_cmp(&pair[0], &pair[1]),
                Ordering::Less,
                "{} vs {} digits",
                pair[0].len(),
                pair[1].len()
            );
            assert_eq!(natural_cmp(&pair[1], &pair[0]), Ordering::Greater);
        }
    }

    /// The sort's shortcut (16-byte prefixes, then whole keys) agrees with `natural_cmp` on names that share
    /// long prefixes, differ only past 16 bytes, or hit the padding.
    #[test]
    fn sort_agrees_with_natural_cmp() {
        let names: &[&[u8]] = &[
            b"a",
            b"a\x01",
            b"ab",
            b"a0",
            b"a00",
            b"a000",
            b"0",
            b"00",
            b"same-prefix-long-name-1",
            b"same-prefix-long-name-10",
            b"same-prefix-long-name-2",
            b"same-prefix-long-name-02",
            b"SAME-prefix-long-name-2",
            b"same-prefix-long-nam",
            b"same-prefix-long-name",
            b"x",
            b"X",
            b"_",
            b"\xff",
            b"file9999999999999999",
            b"file10000000000000000",
        ];
        let mut want: Vec<&[u8]> = names.to_vec();
        want.sort_by(|a, b| natural_cmp(a, b));
        for order in [Order::Asc, Order::Desc] {
            let mut entries: Vec<Entry> = names.iter().map(|n| entry_bytes(n, false, 0, 0)).collect();
            sort(&mut entries, SortKey::Name, order);
            let got: Vec<&[u8]> = entries.iter().map(|e| &e.name[..]).collect();
            let mut expected = want.clone();
            if order == Order::Desc {
                expected.reverse();
            }
            assert_eq!(got, expected, "{order:?}");
        }
    }

    /// A large scrambled input: long permutation cycles are put in place correctly, nothing lost or doubled.
    #[test]
    fn sort_puts_a_scrambled_thousand_in_place() {
        let mut entries: Vec<Entry> =
            (0..1000u64).map(|i| entry(&format!("n{}", i * 7919 % 1000), i % 3 == 0, i % 10, 0)).collect();
        let mut want = entries.clone();
        want.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then(b.size.cmp(&a.size)).then(natural_cmp(&a.name, &b.name)));
        sort(&mut entries, SortKey::Size, Order::Desc);
        assert_eq!(entries, want);
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
        entry_bytes(name.as_bytes(), is_dir, size, mtime_sec)
    }

    fn entry_bytes(name: &[u8], is_dir: bool, size: u64, mtime_sec: i64) -> Entry {
        Entry { name: name.to_vec(), is_dir, size, mtime_sec }
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
