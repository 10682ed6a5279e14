//! Formats one access-log line per request, in combined log format or JSON Lines.
//!
//! Method, target, referer and user agent come straight from the client, so every string field is
//! escaped: a hostile request can never put a raw quote, backslash or newline into the log and forge a
//! field or a whole line that log processors would believe. Timestamps are formatted here (UTC, no
//! time-zone database, no chrono) because workers run chrooted and the format is fixed.

use std::io::Write as _;
use std::net::IpAddr;

use crate::http::date::MONTHS;

/// The two line formats of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Combined,
    Json,
}

/// Everything logged about one request.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// None for a client on a Unix socket (logged as "-").
    pub client: Option<IpAddr>,
    pub time_unix: i64,
    pub method: &'a str,
    pub target: &'a str,
    /// e.g. "HTTP/1.1"
    pub version: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub duration_us: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Bytes of the request's body received, when it had a body.
    pub received: Option<u64>,
    pub worker: usize,
}

/// Appends one line ending in '\n'. Combined: `1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 2326
/// "referer" "ua"` ("-" for absent), with `"`, `\`, bytes < 0x20, 0x7f and non-ASCII escaped as `\xHH` (nginx
/// style) so no field can contain a raw quote or newline; a request that had a body (an upload) gets the
/// body's bytes received as one more field at the end, so the lines of every other request stay exactly the
/// combined format that log tools parse. Json: one JSON object per line with keys client, time (RFC 3339
/// UTC), method, target, version, status, bytes, bytes_received (0 without a body), duration_us, referer,
/// user_agent, worker; strings escaped per RFC 8259 (controls as \u00XX); absent → null.
pub fn write_record(out: &mut Vec<u8>, format: LogFormat, rec: &Record<'_>) {
    match format {
        LogFormat::Combined => write_combined(out, rec),
        LogFormat::Json => write_json(out, rec),
    }
}

// Writing to a Vec<u8> cannot fail, so the io::Result of write! is discarded throughout.

fn write_combined(out: &mut Vec<u8>, rec: &Record<'_>) {
    let t = UtcTime::from_unix(rec.time_unix);
    let month = MONTHS.get(usize::from(t.month.saturating_sub(1))).unwrap_or(&"Jan");
    let _ = write!(
        out,
        "{} - - [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"",
        Client(rec.client),
        t.day,
        month,
        t.year,
        t.hour,
        t.minute,
        t.second
    );
    // A request that never produced a request line (e.g. a 400 on garbage) logs "-", as Apache does.
    if rec.method.is_empty() && rec.target.is_empty() && rec.version.is_empty() {
        out.push(b'-');
    } else {
        escape_combined(out, rec.method);
        out.push(b' ');
        escape_combined(out, rec.target);
        out.push(b' ');
        escape_combined(out, rec.version);
    }
    let _ = write!(out, "\" {} {} \"", rec.status, rec.bytes);
    escape_combined(out, rec.referer.unwrap_or("-"));
    out.extend_from_slice(b"\" \"");
    escape_combined(out, rec.user_agent.unwrap_or("-"));
    out.push(b'"');
    if let Some(received) = rec.received {
        let _ = write!(out, " {received}");
    }
    out.push(b'\n');
}

/// nginx's `escape=default`: anything that is not printable ASCII, plus `"` and `\`, becomes `\xHH`.
fn escape_combined(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' | b'\\' => push_hex_escape(out, b"\\x", b),
            0x20..=0x7e => out.push(b),
            _ => push_hex_escape(out, b"\\x", b),
        }
    }
}

fn push_hex_escape(out: &mut Vec<u8>, prefix: &[u8], b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(prefix);
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0x0f)]);
}

/// Shows a client address, or "-" when there is none.
struct Client(Option<IpAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("-"),
        }
    }
}

fn write_json(out: &mut Vec<u8>, rec: &Record<'_>) {
    let t = UtcTime::from_unix(rec.time_unix);
    let _ = write!(
        out,
        "{{\"client\":\"{}\",\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"method\":",
        Client(rec.client),
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second
    );
    json_string(out, Some(rec.method));
    out.extend_from_slice(b",\"target\":");
    json_string(out, Some(rec.target));
    out.extend_from_slice(b",\"version\":");
    json_string(out, Some(rec.version));
    let _ = write!(
        out,
        ",\"status\":{},\"bytes\":{},\"bytes_received\":{},\"duration_us\":{},\"referer\":",
        rec.status,
        rec.bytes,
        rec.received.unwrap_or(0),
        rec.duration_us
    );
    json_string(out, rec.referer);
    out.extend_from_slice(b",\"user_agent\":");
    json_string(out, rec.user_agent);
    let _ = writeln!(out, ",\"worker\":{}}}", rec.worker);
}

/// A JSON string (RFC 8259), or `null`. DEL is escaped too, so the line stays free of control bytes;
/// non-ASCII text is valid UTF-8 already and is kept as is.
fn json_string(out: &mut Vec<u8>, s: Option<&str>) {
    let Some(s) = s else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x00..=0x1f | 0x7f => push_hex_escape(out, b"\\u00", b),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A Unix time broken down into UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UtcTime {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl UtcTime {
    fn from_unix(t: i64) -> UtcTime {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (year, month, day) = crate::http::date::civil_from_days(days);
        UtcTime {
            year,
            month: small(i64::from(month)),
            day: small(i64::from(day)),
            hour: small(secs / 3600),
            minute: small(secs / 60 % 60),
            second: small(secs % 60),
        }
    }
}

/// Narrows a value already known to be below 256 (hours, minutes, seconds, months, days).
fn small(v: i64) -> u8 {
    u8::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>() -> Record<'a> {
        Record {
            client: Some("1.2.3.4".parse().unwrap()),
            time_unix: 971_186_136, // 2000-10-10 13:55:36 UTC
            method: "GET",
            target: "/",
            version: "HTTP/1.1",
            status: 200,
            bytes: 2326,
            duration_us: 1500,
            referer: Some("http://example.com/"),
            user_agent: Some("curl/8.0"),
            received: None,
            worker: 3,
        }
    }

    fn line(format: LogFormat, rec: &Record<'_>) -> String {
        let mut out = Vec::new();
        write_record(&mut out, format, rec);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn civil_dates_table() {
        // (unix time, (year, month, day, hour, minute, second))
        type Civil = (i64, u8, u8, u8, u8, u8);
        let cases: &[(i64, Civil)] = &[
            (0, (1970, 1, 1, 0, 0, 0)),
            (971_186_136, (2000, 10, 10, 13, 55, 36)),
            (951_782_400, (2000, 2, 29, 0, 0, 0)),
            (1_709_164_800, (2024, 2, 29, 0, 0, 0)),
            (4_107_542_399, (2100, 2, 28, 23, 59, 59)),
            (4_107_542_400, (2100, 3, 1, 0, 0, 0)),
            (1_700_000_000, (2023, 11, 14, 22, 13, 20)),
            (2_147_483_647, (2038, 1, 19, 3, 14, 7)),
            (253_402_300_799, (9999, 12, 31, 23, 59, 59)),
            (-1, (1969, 12, 31, 23, 59, 59)),
            (-86_400, (1969, 12, 31, 0, 0, 0)),
            (-2_208_988_800, (1900, 1, 1, 0, 0, 0)),
            (-62_135_596_800, (1, 1, 1, 0, 0, 0)),
        ];
        for &(t, (year, month, day, hour, minute, second)) in cases {
            let want = UtcTime { year, month, day, hour, minute, second };
            assert_eq!(UtcTime::from_unix(t), want, "{t}");
        }
        // Extremes must not panic.
        let _ = UtcTime::from_unix(i64::MAX);
        let _ = UtcTime::from_unix(i64::MIN);
    }

    #[test]
    fn combined_table() {
        let base = record();
        let cases: Vec<(Record<'_>, &str)> = vec![
            (
                base,
                "1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 2326 \"http://example.com/\" \"curl/8.0\"\n",
            ),
            (
                Record { referer: None, user_agent: None, ..base },
                "1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 200 2326 \"-\" \"-\"\n",
            ),
            (
                Record {
                    target: "/a\"b\\c\r\nd\te\x7f",
                    user_agent: Some("x\" 200 1 \"-\" \"-\"\n5.5.5.5 - - [...]"),
                    ..base
                },
                "1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET /a\\x22b\\x5Cc\\x0D\\x0Ad\\x09e\\x7F HTTP/1.1\" 200 2326 \"http://example.com/\" \"x\\x22 200 1 \\x22-\\x22 \\x22-\\x22\\x0A5.5.5.5 - - [...]\"\n",
            ),
            (
                Record { target: "/caf\u{e9}", referer: Some("\0"), ..base },
                "1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"GET /caf\\xC3\\xA9 HTTP/1.1\" 200 2326 \"\\x00\" \"curl/8.0\"\n",
            ),
            (
                Record { method: "", target: "", version: "", status: 400, bytes: 0, ..base },
                "1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"-\" 400 0 \"http://example.com/\" \"curl/8.0\"\n",
            ),
            (
                Record {
                    client: Some("2001:db8::1".parse().unwrap()),
                    time_unix: 0,
                    status: 304,
                    bytes: u64::MAX,
                    ..base
                },
                "2001:db8::1 - - [01/Jan/1970:00:00:00 +0000] \"GET / HTTP/1.1\" 304 18446744073709551615 \"http://example.com/\" \"curl/8.0\"\n",
            ),
            (
                Record { method: "PUT", status: 201, bytes: 0, received: Some(1_048_576), ..base },
                "1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] \"PUT / HTTP/1.1\" 201 0 \"http://example.com/\" \"curl/8.0\" 1048576\n",
            ),
        ];
        for (rec, want) in &cases {
            assert_eq!(line(LogFormat::Combined, rec), *want);
        }
    }

    #[test]
    fn json_table() {
        let base = record();
        let cases: Vec<(Record<'_>, &str)> = vec![
            (
                base,
                r#"{"client":"1.2.3.4","time":"2000-10-10T13:55:36Z","method":"GET","target":"/","version":"HTTP/1.1","status":200,"bytes":2326,"bytes_received":0,"duration_us":1500,"referer":"http://example.com/","user_agent":"curl/8.0","worker":3}"#,
            ),
            (
                Record { referer: None, user_agent: None, ..base },
                r#"{"client":"1.2.3.4","time":"2000-10-10T13:55:36Z","method":"GET","target":"/","version":"HTTP/1.1","status":200,"bytes":2326,"bytes_received":0,"duration_us":1500,"referer":null,"user_agent":null,"worker":3}"#,
            ),
            (
                Record {
                    client: Some("::1".parse().unwrap()),
                    target: "/\"q\"\\\n\r\t\x01\x1f\x7f/caf\u{e9}",
                    user_agent: Some("\"},{\"x\":1"),
                    ..base
                },
                "{\"client\":\"::1\",\"time\":\"2000-10-10T13:55:36Z\",\"method\":\"GET\",\"target\":\"/\\\"q\\\"\\\\\\u000A\\u000D\\u0009\\u0001\\u001F\\u007F/caf\u{e9}\",\"version\":\"HTTP/1.1\",\"status\":200,\"bytes\":2326,\"bytes_received\":0,\"duration_us\":1500,\"referer\":\"http://example.com/\",\"user_agent\":\"\\\"},{\\\"x\\\":1\",\"worker\":3}",
            ),
            (
                Record { method: "PUT", received: Some(7), ..base },
                r#"{"client":"1.2.3.4","time":"2000-10-10T13:55:36Z","method":"PUT","target":"/","version":"HTTP/1.1","status":200,"bytes":2326,"bytes_received":7,"duration_us":1500,"referer":"http://example.com/","user_agent":"curl/8.0","worker":3}"#,
            ),
        ];
        for (rec, want) in &cases {
            let got = line(LogFormat::Json, rec);
            assert_eq!(got, format!("{want}\n"));
        }
    }

    #[test]
    fn every_byte_stays_on_one_line() {
        let all: String = (0u8..=0x7f).map(char::from).chain(['\u{2028}', '\u{e9}']).collect();
        let rec = Record {
            method: &all,
            target: &all,
            version: &all,
            referer: Some(&all),
            user_agent: Some(&all),
            ..record()
        };
        for format in [LogFormat::Combined, LogFormat::Json] {
            let mut out = Vec::new();
            write_record(&mut out, format, &rec);
            assert_eq!(out.last(), Some(&b'\n'));
            let body = &out[..out.len() - 1];
            assert!(!body.iter().any(|&b| b < 0x20 || b == 0x7f), "{format:?}");
        }
        let combined = line(LogFormat::Combined, &rec);
        // Exactly the six structural quotes remain raw.
        assert_eq!(combined.matches('"').count(), 6);
        assert!(combined.is_ascii());
    }

    #[test]
    fn lines_append() {
        let mut out = b"previous\n".to_vec();
        write_record(&mut out, LogFormat::Combined, &record());
        write_record(&mut out, LogFormat::Json, &record());
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
        assert!(out.starts_with(b"previous\n1.2.3.4 - - ["));
    }
}
