//! The JSON form of a listing (`Accept: application/json`), for scripts and front-ends:
//! `{"path":"/docs/","entries":[{"name":"a.txt","type":"file","size":12,"modified":"2026-12-01T10:11:12Z"}]}`.
//!
//! Names are arbitrary bytes but JSON strings are Unicode, so a name that is not valid UTF-8 is shown lossily
//! (each invalid sequence becomes U+FFFD) and cannot be used to rebuild the exact name; the HTML page's links
//! carry the exact bytes. Strings are escaped per RFC 8259 (`"`, `\`, control characters as `\u00XX`), and
//! `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026` too: the same value for any JSON parser, but no markup
//! should a browser or a template ever treat the body as HTML.

use crate::http::response::push_u64;

use super::{rfc3339, Entry};

/// `{"path": "/docs/", "entries": [{"name": "...", "type": "file"|"dir", "size": N, "modified": "RFC 3339"}]}`,
/// compact, with a final newline, entries in the order given. `size` is bytes for a file and 0 for a
/// directory; `modified` is UTC.
///
/// The same bytes as [`json_start`], [`json_rows`] over all entries and [`json_end`], which a caller can
/// spread over several turns of its event loop for a huge directory.
pub fn render_json(path: &str, entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    json_start(&mut out, path, entries);
    json_rows(&mut out, entries);
    json_end(&mut out);
    out
}

/// `{"path":"…","entries":[`. It reserves room in `out` for the whole document of `entries` at once, so no
/// later batch pays for copying a grown buffer.
pub fn json_start(out: &mut Vec<u8>, path: &str, entries: &[Entry]) {
    let names: usize = entries.iter().map(|e| e.name.len()).sum();
    out.reserve(64 + path.len() + entries.len() * 80 + names);
    out.extend_from_slice(b"{\"path\":");
    push_string(out, path);
    out.extend_from_slice(b",\"entries\":[");
}

/// One object per entry, each after a comma unless it is the array's first (`out` ends in the `[` that
/// `json_start` wrote), so batches can follow each other.
pub fn json_rows(out: &mut Vec<u8>, entries: &[Entry]) {
    for entry in entries {
        if out.last() != Some(&b'[') {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        push_string(out, &String::from_utf8_lossy(&entry.name));
        out.extend_from_slice(if entry.is_dir {
            b",\"type\":\"dir\",\"size\":"
        } else {
            b",\"type\":\"file\",\"size\":"
        });
        push_u64(out, entry.size);
        out.extend_from_slice(b",\"modified\":\"");
        out.extend_from_slice(&rfc3339(entry.mtime_sec));
        out.extend_from_slice(b"\"}");
    }
}

/// `]}` and a newline.
pub fn json_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"]}\n");
}

/// A JSON string literal of `s`.
fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    // Every byte that needs an escape is ASCII, so the text is copied in runs between them.
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, 0x00..=0x1f | 0x7f | b'"' | b'\\' | b'<' | b'>' | b'&') {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            }
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
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
    fn pieces_make_the_same_document() {
        let entries: Vec<Entry> = (0..7).map(|i| entry(format!("[{i}").as_bytes(), i % 3 == 0, i)).collect();
        let mut out = Vec::new();
        json_start(&mut out, "/d/", &entries);
        json_rows(&mut out, &[]);
        for batch in entries.chunks(2) {
            json_rows(&mut out, batch);
        }
        json_end(&mut out);
        assert_eq!(out, render_json("/d/", &entries));
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
