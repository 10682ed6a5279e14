//! The byte classes of HTTP's grammar (RFC 9110 §5.5-§5.6, RFC 3986 §2.1), defined once.
//!
//! Every parser in the server (request heads, chunked bodies, Range, Accept-Encoding, forwarding headers,
//! target resolution) asks these functions, so two parsers can never disagree about what a token, a bit of
//! whitespace or a hex digit is.

/// tchar (RFC 9110 §5.6.2): the characters of a token, such as a method, a field name or a coding.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `token = 1*tchar`.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// OWS (RFC 9110 §5.6.3): a space or a horizontal tab, and nothing else.
pub fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `value` without leading and trailing OWS.
pub fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| !is_ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// [`trim_ows`] for text; only ASCII space and tab are trimmed, never other Unicode whitespace.
pub fn trim_ows_str(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// The elements of a comma-separated list (RFC 9110 §5.6.1), OWS-trimmed, with the empty ones that a
/// recipient must tolerate left out.
pub fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(trim_ows_str).filter(|e| !e.is_empty())
}

/// Each comma-separated member, OWS-trimmed, empty ones kept: for the framing fields, where an empty member
/// is refused rather than skipped.
pub fn list_members(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// VCHAR (RFC 5234): visible ASCII, no space.
pub fn is_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// field-vchar (RFC 9110 §5.5): VCHAR or obs-text, the bytes a field value may hold besides SP and HTAB.
pub fn is_field_vchar(b: u8) -> bool {
    is_vchar(b) || b >= 0x80
}

/// HTAB / SP / VCHAR / obs-text: a byte of field-content, and what may follow the backslash of a
/// quoted-pair (RFC 9110 §5.6.4).
pub fn is_field_byte(b: u8) -> bool {
    is_ows(b) || is_field_vchar(b)
}

/// qdtext (RFC 9110 §5.6.4): what a quoted-string holds unescaped.
pub fn is_qdtext(b: u8) -> bool {
    is_field_byte(b) && b != b'"' && b != b'\\'
}

/// The value of one HEXDIG, either case.
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The octet a pct-encoded triplet's two HEXDIGs stand for (RFC 3986 §2.1).
pub fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    Some((hex_value(hi)? << 4) | hex_value(lo)?)
}

/// Decodes `%XX` once. A '%' not followed by two hex digits is malformed rather than literal, because
/// guessing what a broken escape meant is how decoders end up disagreeing with each other; a NUL (raw or
/// decoded) could truncate the name at the C boundary, so it is refused too. None for either.
pub fn percent_decode_strict(path: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(path.len());
    let mut rest = path;
    while let Some(pos) = memchr::memchr(b'%', rest) {
        let (plain, escape) = rest.split_at(pos);
        out.extend_from_slice(plain);
        let byte = match escape {
            [_, hi, lo, ..] => hex_pair(*hi, *lo)?,
            _ => return None,
        };
        out.push(byte);
        rest = escape.get(3..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    if memchr::memchr(0, &out).is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each class checked against its ABNF spelled out over all 256 bytes.
    #[test]
    fn classes_match_the_grammar() {
        for b in 0..=u8::MAX {
            let c = char::from(b);
            let tchar = c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            assert_eq!(is_tchar(b), tchar, "tchar {b:#04x}");
            assert_eq!(is_ows(b), b == 0x20 || b == 0x09, "ows {b:#04x}");
            assert_eq!(is_vchar(b), b.is_ascii_graphic(), "vchar {b:#04x}");
            assert_eq!(is_field_vchar(b), b.is_ascii_graphic() || b >= 0x80, "field-vchar {b:#04x}");
            assert_eq!(is_field_byte(b), b == 0x09 || b == 0x20 || b.is_ascii_graphic() || b >= 0x80, "{b:#04x}");
            let qdtext =
                b == 0x09 || b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
            assert_eq!(is_qdtext(b), qdtext || b >= 0x80, "qdtext {b:#04x}");
            assert_eq!(hex_value(b), c.to_digit(16).and_then(|d| u8::try_from(d).ok()), "hex {b:#04x}");
        }
    }

    #[test]
    fn tokens() {
        let rows: &[(&[u8], bool)] = &[
            (b"GET", true),
            (b"X-Y~1!", true),
            (b"chunked", true),
            (b"", false),
            (b"a b", false),
            (b"\"chunked\"", false),
            (b"chunked;q=1", false),
            (b"caf\xc3\xa9", false),
        ];
        for (bytes, want) in rows {
            assert_eq!(is_token(bytes), *want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn trimming() {
        let rows: &[(&str, &str)] = &[
            ("", ""),
            ("   ", ""),
            (" \ta b\t ", "a b"),
            ("x", "x"),
            ("\x0bx\x0b", "\x0bx\x0b"),
            ("\u{a0}x", "\u{a0}x"),
            ("\r\nx", "\r\nx"),
        ];
        for (input, want) in rows {
            assert_eq!(trim_ows_str(input), *want, "{input:?}");
            assert_eq!(trim_ows(input.as_bytes()), want.as_bytes(), "{input:?}");
        }
    }

    #[test]
    fn lists() {
        let rows: &[(&str, &[&str])] = &[
            ("", &[]),
            (" , ,\t", &[]),
            ("a", &["a"]),
            ("a, b ,c", &["a", "b", "c"]),
            ("a,,b,", &["a", "b"]),
            ("\ta b , c", &["a b", "c"]),
        ];
        for (input, want) in rows {
            assert_eq!(list_elements(input).collect::<Vec<_>>(), *want, "{input:?}");
            let members: Vec<&[u8]> = list_members(input.as_bytes()).filter(|m| !m.is_empty()).collect();
            let want: Vec<&[u8]> = want.iter().map(|e| e.as_bytes()).collect();
            assert_eq!(members, want, "{input:?}");
        }
    }

    #[test]
    fn pct_pairs() {
        let rows: &[(&[u8; 2], Option<u8>)] = &[
            (b"41", Some(0x41)),
            (b"fF", Some(0xff)),
            (b"00", Some(0)),
            (b"2f", Some(b'/')),
            (b"g0", None),
            (b"0g", None),
            (b"+1", None),
            (b" 1", None),
        ];
        for ([hi, lo], want) in rows {
            assert_eq!(hex_pair(*hi, *lo), *want, "{}{}", char::from(*hi), char::from(*lo));
        }
    }
}
