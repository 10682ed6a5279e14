//! The JSON form of a listing (`Accept: application/json`), for scripts and front-ends:
//! `{"path":"/docs/","entries":[{"name":"a.txt","type":"file","size":12,"modified":"2026-12-01T10:11:12Z"}]}`.
//!
//! Names are arbitrary bytes but JSON strings are Unicode, so a name that is not valid UTF-8 is shown lossily
//! (each invalid sequence becomes U+FFFD) and cannot be used to rebuild the exact name; the HTML page's links
//! carry the exact bytes. Strings are escaped per RFC 8259 (`"`, `\`, control characters as `\u00XX`), and
//! `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026` too: the same value for any JSON parser, but no markup
//! should a browser or a template ever treat the body as HTML.

use std::fmt::Write as _;

use super::{rfc3339, Entry};

/// `{"path": "/docs/", "entries": [{"name": "...", "type": "file"|"dir", "size": N, "modified": "RFC 3339"}]}`,
/// compact, with a final newline, entries in the order given. `size` is bytes for a file and 0 for a
/// directory; `modified` is UTC.
pub fn render_json(path: &str, entries: &[Entry]) -> Vec<u8> {
    let mut out = String::with_capacity(64 + entries.len() * 96);
    out.push_str("{\"path\":");
    push_string(&mut out, path);
    out.push_str(",\"entries\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_string(&mut out, &String::from_utf8_lossy(&entry.name));
        let kind = if entry.is_dir { "dir" } else { "file" };
        let _ =
            write!(out, ",\"type\":\"{kind}\",\"size\":{},\"modified\":\"{}\"}}", entry.size, rfc3339(entry.mtime_sec));
    }
    out.push_str("]}\n");
    out.into_bytes()
}

/// A JSON string literal of `s`.
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\x1f' | '\x7f' | '<' | '>' | '&' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8], is_dir: bool, size: u64) -> Entry {
        Entry { name: name.to_vec(), is_dir, size, mtime_sec: 1_796_119_872 }
    }

    #[test]
    fn document_shape() {
        let json = render_json("/docs/", &[entry(b"sub", true, 0), entry(b"a.txt", false, 12)]);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            "{\"path\":\"/docs/\",\"entries\":[\
             {\"name\":\"sub\",\"type\":\"dir\",\"size\":0,\"modified\":\"2026-12-01T10:11:12Z\"},\
             {\"name\":\"a.txt\",\"type\":\"file\",\"size\":12,\"modified\":\"2026-12-01T10:11:12Z\"}]}\n"
        );
        assert_eq!(render_json("/", &[]), b"{\"path\":\"/\",\"entries\":[]}\n");
        let huge = render_json("/", &[Entry { name: b"x".to_vec(), is_dir: false, size: u64::MAX, mtime_sec: -1 }]);
        let huge = String::from_utf8(huge).unwrap();
        assert!(huge.contains("\"size\":18446744073709551615,\"modified\":\"1969-12-31T23:59:59Z\""), "{huge}");
    }

    #[test]
    fn string_escaping_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain.txt", "\"plain.txt\""),
            (b"\"quote'.txt", "\"\\\"quote'.txt\""),
            (b"back\\slash", "\"back\\\\slash\""),
            (b"new\nline\r\t", "\"new\\nline\\r\\t\""),
            (b"\x00\x01\x1f\x7f", "\"\\u0000\\u0001\\u001f\\u007f\""),
            (b"<img src=x onerror=alert(1)>&", "\"\\u003cimg src=x onerror=alert(1)\\u003e\\u0026\""),
            (b"caf\xc3\xa9 \xe2\x80\xa8", "\"caf\u{e9} \u{2028}\""),
            (b"bad\xff\xfe", "\"bad\u{fffd}\u{fffd}\""),
            (b"\xc0\xae", "\"\u{fffd}\u{fffd}\""),
        ];
        for (name, want) in cases {
            let json = String::from_utf8(render_json("/", &[entry(name, false, 1)])).expect("JSON is UTF-8");
            let got = json.strip_prefix("{\"path\":\"/\",\"entries\":[{\"name\":").unwrap();
            let got = &got[..got.find(",\"type\"").unwrap()];
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(name));
            assert!(!json.bytes().any(|b| b < 0x20 && b != b'\n'), "no raw control byte: {json:?}");
        }
        let json = String::from_utf8(render_json("/a\"b\\c\n/", &[])).unwrap();
        assert!(json.starts_with("{\"path\":\"/a\\\"b\\\\c\\n/\","), "{json}");
    }
}
