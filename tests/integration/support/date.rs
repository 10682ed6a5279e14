//! The calendar arithmetic the tests need to check a `Date` header against the clock: IMF-fixdate
//! (RFC 9110 §5.6.7) to Unix seconds, with the weekday cross-checked.

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
pub fn parse_imf_fixdate(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 29 || &s[3..5] != ", " || !s.ends_with(" GMT") {
        return None;
    }
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let wday = DAYS.iter().position(|d| *d == &s[0..3])? as i64;
    let day: i64 = s[5..7].parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == &s[8..11])? as i64 + 1;
    let year: i64 = s[12..16].parse().ok()?;
    let (h, m, sec): (i64, i64, i64) = (s[17..19].parse().ok()?, s[20..22].parse().ok()?, s[23..25].parse().ok()?);
    if &s[19..20] != ":" || &s[22..23] != ":" || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    if (days + 3).rem_euclid(7) != wday {
        return None;
    }
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
