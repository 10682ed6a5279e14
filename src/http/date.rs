//! HTTP dates (RFC 9110 §5.6.7): the `Date` and `Last-Modified` values we send and the
//! `If-Modified-Since` / `If-Unmodified-Since` / `If-Range` values clients send back.
//!
//! The calendar arithmetic is Howard Hinnant's days-from-civil / civil-from-days, exact for any year
//! 0000-9999, and the access log uses it too. Not the httpdate crate: it refuses dates before 1970, leap
//! seconds and wrong weekdays, uses a fixed RFC 850 century, and panics formatting a pre-1970 mtime
//! (README, Dependencies).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range a four-digit year can show.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
pub(crate) const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (always 29 bytes).
pub fn format_http_date(unix_secs: i64) -> String {
    let mut out = String::with_capacity(29);
    write_http_date(&mut out, unix_secs);
    out
}

/// Times outside years 0000-9999 are clamped so the output always has the fixed length.
fn write_http_date(out: &mut String, unix_secs: i64) {
    let secs = unix_secs.clamp(MIN_SECS, MAX_SECS);
    let days = secs.div_euclid(SECS_PER_DAY);
    let time = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let weekday = SHORT_DAYS.get(weekday_index(days)).copied().unwrap_or_default();
    let month_name = MONTHS.get(month as usize - 1).copied().unwrap_or_default();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        time / 3600,
        time / 60 % 60,
        time % 60
    );
}

/// Accepts IMF-fixdate, RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994");
/// anything else (or an impossible date) → None. Never panics.
pub fn parse_http_date(s: &str) -> Option<i64> {
    parse_imf_fixdate(s.as_bytes())
        .or_else(|| parse_rfc850(s.as_bytes(), current_year))
        .or_else(|| parse_asctime(s.as_bytes()))
}

/// Formats the Date header at most once per second.
#[derive(Debug, Default)]
pub struct DateCache {
    secs: Option<i64>,
    text: String,
}

impl DateCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&mut self, unix_secs: i64) -> &str {
        if self.secs != Some(unix_secs) {
            self.text.clear();
            write_http_date(&mut self.text, unix_secs);
            self.secs = Some(unix_secs);
        }
        &self.text
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    // All three values are small and non-negative by construction.
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// 0 = Sunday; 1970-01-01 was a Thursday.
fn weekday_index(days: i64) -> usize {
    (days + 4).rem_euclid(7) as usize
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A calendar date and time of day as read from the text, before validation.
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Fields {
    /// Refuses impossible dates such as Feb 30 or 24:00:00. Second 60 is allowed because
    /// RFC 9110 allows a leap second; it counts as the first second of the next minute.
    fn to_unix(&self) -> Option<i64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60;
        valid.then(|| {
            days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY
                + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
        })
    }
}

/// A tiny forward-only reader over the date text.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(text: &'a [u8]) -> Self {
        Cursor { rest: text }
    }

    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    /// Index of the name that comes next (names are case-sensitive per RFC 9110).
    fn one_of(&mut self, names: &[&str]) -> Option<usize> {
        let index = names.iter().position(|name| self.rest.starts_with(name.as_bytes()))?;
        self.literal(names.get(index)?.as_bytes())?;
        Some(index)
    }

    fn digits(&mut self, count: usize) -> Option<u32> {
        let digits = self.rest.get(..count)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.rest = self.rest.get(count..)?;
        Some(digits.iter().fold(0, |acc, &d| acc * 10 + u32::from(d - b'0')))
    }

    fn month(&mut self) -> Option<u32> {
        self.one_of(&MONTHS).map(|i| i as u32 + 1)
    }

    /// `hour ":" minute ":" second`
    fn time_of_day(&mut self) -> Option<(u32, u32, u32)> {
        let hour = self.digits(2)?;
        self.literal(b":")?;
        let minute = self.digits(2)?;
        self.literal(b":")?;
        let second = self.digits(2)?;
        Some((hour, minute, second))
    }

    fn end(&self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(text: &[u8]) -> Option<i64> {
    let mut c = Cursor::new(text);
    c.one_of(&SHORT_DAYS)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b" ")?;
    let month = c.month()?;
    c.literal(b" ")?;
    let year = i64::from(c.digits(4)?);
    c.literal(b" ")?;
    let (hour, minute, second) = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.end()?;
    Fields { year, month, day, hour, minute, second }.to_unix()
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`. The two-digit year is read as RFC 9110 §5.6.7 requires:
/// a year more than 50 years in the future means the most recent past year with those digits.
/// So the year always lands in the window (now - 50, now + 50].
fn parse_rfc850(text: &[u8], now_year: impl FnOnce() -> i64) -> Option<i64> {
    let mut c = Cursor::new(text);
    c.one_of(&LONG_DAYS)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b"-")?;
    let month = c.month()?;
    c.literal(b"-")?;
    let short_year = i64::from(c.digits(2)?);
    c.literal(b" ")?;
    let (hour, minute, second) = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.end()?;
    let now_year = now_year();
    let mut year = now_year - now_year.rem_euclid(100) + short_year;
    if year > now_year + 50 {
        year -= 100;
    } else if year <= now_year - 50 {
        year += 100;
    }
    Fields { year, month, day, hour, minute, second }.to_unix()
}

/// `Sun Nov  6 08:49:37 1994` (the day is space-padded; "06" is accepted too).
fn parse_asctime(text: &[u8]) -> Option<i64> {
    let mut c = Cursor::new(text);
    c.one_of(&SHORT_DAYS)?;
    c.literal(b" ")?;
    let month = c.month()?;
    c.literal(b" ")?;
    let day = match c.literal(b" ") {
        Some(()) => c.digits(1)?,
        None => c.digits(2)?,
    };
    c.literal(b" ")?;
    let (hour, minute, second) = c.time_of_day()?;
    c.literal(b" ")?;
    let year = i64::from(c.digits(4)?);
    c.end()?;
    Fields { year, month, day, hour, minute, second }.to_unix()
}

fn current_year() -> i64 {
    let secs =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(MAX_SECS));
    civil_from_days(secs.div_euclid(SECS_PER_DAY)).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_timestamps() {
        let rows: &[(i64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_164_799, "Wed, 28 Feb 2024 23:59:59 GMT"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
            (1_709_251_200, "Fri, 01 Mar 2024 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (253_402_300_800, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (i64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
            (-62_167_219_200, "Sat, 01 Jan 0000 00:00:00 GMT"),
            (i64::MIN, "Sat, 01 Jan 0000 00:00:00 GMT"),
        ];
        for (secs, text) in rows {
            let formatted = format_http_date(*secs);
            assert_eq!(formatted, *text, "{secs}");
            assert_eq!(formatted.len(), 29);
        }
    }

    #[test]
    fn parses_all_three_formats() {
        let rows: &[(&str, Option<i64>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            ("Sun Nov 06 08:49:37 1994", Some(784_111_777)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Tue, 19 Jan 2038 03:14:08 GMT", Some(2_147_483_648)),
            ("Thu, 29 Feb 2024 23:59:59 GMT", Some(1_709_251_199)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(253_402_300_799)),
            ("Wed, 31 Dec 1969 23:59:59 GMT", Some(-1)),
            ("Sat, 01 Jan 0000 00:00:00 GMT", Some(-62_167_219_200)),
            ("Fri Dec 31 23:59:59 9999", Some(253_402_300_799)),
            ("Tue Feb 29 00:00:00 2000", Some(951_782_400)),
            // A leap second is a valid time of day; it lands on the next minute.
            ("Sat, 31 Dec 2016 23:59:60 GMT", Some(1_483_228_800)),
            // The weekday is checked for form only, like every common implementation does.
            ("Mon, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
        ];
        for (text, expected) in rows {
            assert_eq!(parse_http_date(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn refuses_malformed_and_impossible_dates() {
        let rows: &[&str] = &[
            "",
            "garbage",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun,06 Nov 1994 08:49:37 GMT",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:3x GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 30 Feb 2000 00:00:00 GMT",
            "Sun, 29 Feb 1900 00:00:00 GMT",
            "Sun, 29 Feb 2023 00:00:00 GMT",
            "Sun, 31 Apr 2023 00:00:00 GMT",
            "Sun, 00 Jan 2023 00:00:00 GMT",
            "Sun, 32 Jan 2023 00:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 23:60:00 GMT",
            "Sun, 06 Nov 1994 23:59:61 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 6-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov   6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
            "Sun, \u{e9}6 Nov 1994 08:49:37 GMT",
        ];
        for text in rows {
            assert_eq!(parse_http_date(text), None, "{text:?}");
        }
    }

    #[test]
    fn rfc850_years_follow_the_fifty_year_rule() {
        let rows: &[(i64, &str, i64)] = &[
            (2026, "Sunday, 06-Nov-94 08:49:37 GMT", 1994),
            (2026, "Thursday, 01-Jan-70 00:00:00 GMT", 2070),
            (2026, "Saturday, 01-Jan-00 00:00:00 GMT", 2000),
            (2026, "Wednesday, 01-Jan-76 00:00:00 GMT", 2076),
            (2026, "Friday, 01-Jan-77 00:00:00 GMT", 1977),
            (2080, "Friday, 01-Jan-77 00:00:00 GMT", 2077),
            (2080, "Friday, 01-Jan-31 00:00:00 GMT", 2031),
            (2080, "Friday, 01-Jan-30 00:00:00 GMT", 2130),
            (1999, "Friday, 01-Jan-50 00:00:00 GMT", 1950),
            (1999, "Friday, 01-Jan-49 00:00:00 GMT", 2049),
            (2099, "Friday, 01-Jan-49 00:00:00 GMT", 2149),
        ];
        for (now, text, year) in rows {
            let secs = parse_rfc850(text.as_bytes(), || *now);
            let got = secs.map(|s| civil_from_days(s.div_euclid(SECS_PER_DAY)).0);
            assert_eq!(got, Some(*year), "{text:?} in {now}");
        }
    }

    #[test]
    fn round_trips_across_the_range() {
        let mut secs = MIN_SECS;
        while secs <= MAX_SECS {
            let text = format_http_date(secs);
            assert_eq!(parse_http_date(&text), Some(secs), "{text}");
            secs += 7_777_777_777 / 1000 + 13;
        }
    }

    #[test]
    fn civil_conversions_agree_for_every_day_in_four_centuries() {
        let start = days_from_civil(1900, 1, 1);
        for days in start..start + 146_097 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=days_in_month(y, m)).contains(&d));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn date_cache_reformats_only_when_the_second_changes() {
        let mut cache = DateCache::new();
        assert_eq!(cache.get(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        let first = cache.get(0).as_ptr();
        assert_eq!(cache.get(0).as_ptr(), first);
        assert_eq!(cache.get(1), "Thu, 01 Jan 1970 00:00:01 GMT");
        assert_eq!(cache.get(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(cache.get(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
