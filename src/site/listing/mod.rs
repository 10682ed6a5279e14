//! Directory listings (`--listing`): what a directory without an index file shows.
//!
//! The pieces are separate so each can be tested on its own and the site can run them at different times:
//!
//! - `scan`: reads the directory beneath the root a batch at a time ([`DirScan`]) and decides what is listed
//!   (the dot-file rule, regular files and directories only, symlinks only when they stay beneath the root);
//! - `order`: the `?sort=…&order=…` query and the order entries are shown in (directories first, natural
//!   name order);
//! - `html` and `json`: the two renderings. Names are hostile input (a file may be called
//!   `<img src=x onerror=alert(1)>`), so each renderer escapes for its own syntax. Each renders a whole
//!   page in one call, or in pieces (`*_start`, `*_rows` per batch, `*_end`) for a caller that spreads a
//!   huge directory over several turns of its event loop ([`RENDER_BATCH`]).
//!
//! Nothing here knows of requests or responses: the site layer routes, caches and answers.

mod html;
mod json;
mod order;
mod scan;

pub use html::{html_end, html_rows, html_start, render_html};
pub use json::{json_end, json_rows, json_start, render_json};
pub use order::{natural_cmp, sort, sort_from_query};
pub use scan::{DirScan, ScanOptions, DEFAULT_BATCH};

/// Rows rendered per batch by a caller that spreads a huge page over turns of its event loop
/// ([`html_rows`], [`json_rows`]): measured at 0.2–0.45 µs an HTML row and 0.15–0.35 µs a JSON one, so a
/// batch takes 2–4 ms (see `scan`'s timing test).
///
/// For scale, the same measurement: sorting 100,000 entries ([`sort`], one call) takes 20–50 ms, a whole
/// page at once 20–45 ms (HTML, 18 MiB) and 16–32 ms (JSON, 8 MiB).
pub const RENDER_BATCH: usize = 8192;

/// One listed entry. A symlink is listed as what it leads to (beneath the root), so it is a file or a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The name as the file system has it: any bytes but NUL and '/', not necessarily UTF-8.
    pub name: Vec<u8>,
    pub is_dir: bool,
    /// Bytes for a file; 0 for a directory (its st_size depends on the file system and means nothing to a
    /// reader, so sorting by size orders directories by name).
    pub size: u64,
    /// Seconds since the Unix epoch, UTC.
    pub mtime_sec: i64,
}

/// The column a listing is sorted by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SortKey {
    Name,
    Size,
    Mtime,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Order {
    Asc,
    Desc,
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: RFC 3339 has four-digit years, so times beyond are clamped
/// (an mtime can be anything `touch` accepts).
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// `2026-12-01T10:11:12Z`: an RFC 3339 UTC time, for JSON and the HTML `datetime` attribute. Fixed width
/// (years clamped to 0000-9999), so the HTML can show its parts by position; built by hand because a
/// 100,000-entry listing formats 100,000 of them.
fn rfc3339(unix_secs: i64) -> [u8; 20] {
    let secs = unix_secs.clamp(MIN_SECS, MAX_SECS);
    let (year, month, day) = crate::http::date::civil_from_days(secs.div_euclid(86_400));
    let time = secs.rem_euclid(86_400);
    let mut out = *b"0000-00-00T00:00:00Z";
    // The clamp keeps the year within 0..=9999, so no field is negative or wider than its slot.
    put_digits(&mut out[0..4], year);
    put_digits(&mut out[5..7], i64::from(month));
    put_digits(&mut out[8..10], i64::from(day));
    put_digits(&mut out[11..13], time / 3600);
    put_digits(&mut out[14..16], time / 60 % 60);
    put_digits(&mut out[17..19], time % 60);
    out
}

/// Writes `value` in decimal into `slot`, zero-padded on the left (the caller makes sure it fits).
fn put_digits(slot: &mut [u8], mut value: i64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value.rem_euclid(10)) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_table() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (1_796_119_872, "2026-12-01T10:11:12Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (i64::MIN, "0000-01-01T00:00:00Z"),
            (i64::MAX, "9999-12-31T23:59:59Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(std::str::from_utf8(&rfc3339(*secs)).unwrap(), *want, "{secs}");
        }
    }
}
