//! Content-Type for a file, from its name and, for textual types, whether its bytes are UTF-8.
//!
//! mime_guess supplies the table; this file fixes the entries browsers care about that the table gets
//! wrong, outdated or lacks: the registered font types (RFC 8081: `font/woff`, `font/otf`), `audio/mp4`
//! (RFC 4337) for `.m4a`, `.js`/`.mjs`/`.cjs` as `text/javascript` (the HTML standard and RFC 9239),
//! `.webmanifest`, `.wasm` (which `WebAssembly.instantiateStreaming` refuses without its exact type), and a few
//! more listed in [`override_for`].
//!
//! A textual type says `; charset=utf-8` only when that is true of the file: the caller says whether the
//! bytes validate as UTF-8 (ASCII does). A page in Latin-1, or one whose `<meta charset>` names another
//! encoding, would otherwise be decoded as UTF-8 (the header outranks the `<meta>`) and show mojibake; without
//! the parameter the browser reads the document's own declaration or applies its default.

/// Served when the name says nothing useful: browsers download it rather than guess and render it.
const FALLBACK: &str = "application/octet-stream";

/// Whether a sample of a file is the whole file or only its beginning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    Whole,
    /// The first bytes of a longer file: a multi-byte sequence cut off at its end is not an error.
    Prefix,
}

/// Content-Type for a file name (by extension, using mime_guess and [`override_for`]); unknown →
/// `application/octet-stream`. For a textual type (text/*, JavaScript, JSON and +json, XML and +xml, so SVG
/// and web-app manifests too) `is_utf8` is asked whether the file's bytes are UTF-8, and `; charset=utf-8` is
/// appended only when they are. `is_utf8` is not called for other types, so a binary file is never read for
/// this.
pub fn content_type_for(file_name: &[u8], is_utf8: impl FnOnce() -> bool) -> String {
    let essence = extension(file_name)
        .and_then(|ext| std::str::from_utf8(ext).ok())
        .and_then(essence_for_extension)
        .unwrap_or(FALLBACK);
    if is_textual(essence) && is_utf8() {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    }
}

/// Whether `bytes` are valid UTF-8. For a [`Sample::Prefix`] the last character may be cut short (a valid
/// start of a multi-byte sequence at the very end); any invalid byte before that still fails.
pub fn is_utf8(bytes: &[u8], sample: Sample) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        // error_len() None: the input ended in the middle of a sequence that was valid so far.
        Err(e) => sample == Sample::Prefix && e.error_len().is_none(),
    }
}

/// The bytes after the last '.' of the last path component, like `Path::extension`: a leading dot marks a
/// hidden file (".profile"), not an extension, and a trailing dot means there is none.
fn extension(file_name: &[u8]) -> Option<&[u8]> {
    let base = match memchr::memrchr(b'/', file_name) {
        Some(slash) => file_name.get(slash + 1..)?,
        None => file_name,
    };
    let dot = memchr::memrchr(b'.', base)?;
    if dot == 0 {
        return None;
    }
    base.get(dot + 1..).filter(|ext| !ext.is_empty())
}

fn essence_for_extension(ext: &str) -> Option<&'static str> {
    override_for(ext).or_else(|| mime_guess::from_ext(ext).first_raw())
}

/// Entries where the mime_guess table is outdated, ambiguous or missing. Each is the IANA-registered type
/// (or, where the HTML standard pins one, the type it requires).
fn override_for(ext: &str) -> Option<&'static str> {
    const OVERRIDES: &[(&str, &str)] = &[
        // The HTML standard: every JavaScript MIME type essence is legacy except text/javascript (RFC 9239).
        ("js", "text/javascript"),
        ("mjs", "text/javascript"),
        ("cjs", "text/javascript"),
        ("webmanifest", "application/manifest+json"),
        ("wasm", "application/wasm"),
        // Source maps are JSON; the table's text/plain is an old image-map entry.
        ("map", "application/json"),
        // RFC 8081 registered the font/ top-level type; the table still has the application/font-* names.
        ("woff", "font/woff"),
        ("otf", "font/otf"),
        ("ttf", "font/ttf"),
        // RFC 4337: MPEG-4 audio is audio/mp4 (the table's audio/m4a is not registered, video/x-m4v neither).
        ("m4a", "audio/mp4"),
        ("m4v", "video/mp4"),
        // RFC 7303: text/xml is only an alias of application/xml.
        ("xml", "application/xml"),
        // RFC 9512 (2024) registered YAML.
        ("yaml", "application/yaml"),
        ("yml", "application/yaml"),
        // RFC 6713: a gzip file, whatever it holds (the table's application/x-compressed is not registered).
        ("tgz", "application/gzip"),
        // HLS (RFC 8216): playlists and MPEG transport-stream segments. A web server serves `.ts` segments
        // far more often than TypeScript sources, which no browser runs anyway.
        ("m3u8", "application/vnd.apple.mpegurl"),
        ("ts", "video/mp2t"),
    ];
    OVERRIDES.iter().find(|(known, _)| known.eq_ignore_ascii_case(ext)).map(|&(_, essence)| essence)
}

/// Types a browser decodes as text, and so should be told the charset (when it is known).
fn is_textual(essence: &str) -> bool {
    if essence.contains(';') {
        return false;
    }
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("text")
        || matches!(
            subtype.to_ascii_lowercase().as_str(),
            "javascript" | "ecmascript" | "x-javascript" | "json" | "xml"
        )
        || ends_with_ignore_case(subtype, "+json")
        || ends_with_ignore_case(subtype, "+xml")
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s.get(s.len() - suffix.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The type of a file whose bytes are UTF-8.
    fn utf8_type(name: &[u8]) -> String {
        content_type_for(name, || true)
    }

    /// Extension → exact Content-Type for the common web set, for UTF-8 files.
    #[test]
    fn content_type_table() {
        let cases: &[(&[u8], &str)] = &[
            // Pages, styles, scripts.
            (b"index.html", "text/html; charset=utf-8"),
            (b"page.htm", "text/html; charset=utf-8"),
            (b"page.xhtml", "application/xhtml+xml; charset=utf-8"),
            (b"style.css", "text/css; charset=utf-8"),
            (b"app.js", "text/javascript; charset=utf-8"),
            (b"module.mjs", "text/javascript; charset=utf-8"),
            (b"common.cjs", "text/javascript; charset=utf-8"),
            (b"module.wasm", "application/wasm"),
            (b"app.js.map", "application/json; charset=utf-8"),
            (b"site.webmanifest", "application/manifest+json; charset=utf-8"),
            // Data and documents.
            (b"hello.txt", "text/plain; charset=utf-8"),
            (b"data.json", "application/json; charset=utf-8"),
            (b"data.jsonld", "application/ld+json; charset=utf-8"),
            (b"shapes.geojson", "application/geo+json; charset=utf-8"),
            (b"data.csv", "text/csv; charset=utf-8"),
            (b"README.md", "text/markdown; charset=utf-8"),
            (b"feed.xml", "application/xml; charset=utf-8"),
            (b"feed.atom", "application/atom+xml; charset=utf-8"),
            (b"feed.rss", "application/rss+xml; charset=utf-8"),
            (b"event.ics", "text/calendar; charset=utf-8"),
            (b"subs.vtt", "text/vtt; charset=utf-8"),
            (b"config.yaml", "application/yaml"),
            (b"config.yml", "application/yaml"),
            (b"doc.pdf", "application/pdf"),
            // Images.
            (b"img/logo.png", "image/png"),
            (b"photo.jpg", "image/jpeg"),
            (b"photo.jpeg", "image/jpeg"),
            (b"anim.gif", "image/gif"),
            (b"anim.apng", "image/apng"),
            (b"pic.webp", "image/webp"),
            (b"pic.avif", "image/avif"),
            (b"pic.jxl", "image/jxl"),
            (b"logo.svg", "image/svg+xml; charset=utf-8"),
            (b"favicon.ico", "image/x-icon"),
            (b"old.bmp", "image/bmp"),
            // Fonts (RFC 8081).
            (b"font.woff", "font/woff"),
            (b"font.woff2", "font/woff2"),
            (b"font.otf", "font/otf"),
            (b"font.ttf", "font/ttf"),
            (b"font.ttc", "font/collection"),
            (b"font.eot", "application/vnd.ms-fontobject"),
            // Audio and video.
            (b"movie.mp4", "video/mp4"),
            (b"movie.m4v", "video/mp4"),
            (b"movie.webm", "video/webm"),
            (b"movie.ogv", "video/ogg"),
            (b"movie.mov", "video/quicktime"),
            (b"song.mp3", "audio/mpeg"),
            (b"song.m4a", "audio/mp4"),
            (b"song.aac", "audio/aac"),
            (b"song.ogg", "audio/ogg"),
            (b"song.oga", "audio/ogg"),
            (b"song.opus", "audio/ogg"),
            (b"song.flac", "audio/flac"),
            (b"song.wav", "audio/wav"),
            (b"song.weba", "audio/webm"),
            (b"stream.m3u8", "application/vnd.apple.mpegurl"),
            (b"segment0.ts", "video/mp2t"),
            (b"stream.mpd", "application/dash+xml; charset=utf-8"),
            // Archives: a plain .gz is a download of a gzip file.
            (b"archive.zip", "application/zip"),
            (b"archive.gz", "application/gzip"),
            (b"archive.tar.gz", "application/gzip"),
            (b"archive.tgz", "application/gzip"),
            (b"archive.tar", "application/x-tar"),
            (b"book.epub", "application/epub+zip"),
            // Case-insensitive extensions, including the overrides.
            (b"photo.JPEG", "image/jpeg"),
            (b"INDEX.HTML", "text/html; charset=utf-8"),
            (b"APP.JS", "text/javascript; charset=utf-8"),
            (b"M.WASM", "application/wasm"),
            (b"F.WOFF", "font/woff"),
            // Only the last extension counts.
            (b"notes.txt.bak", FALLBACK),
            // No usable extension.
            (b"", FALLBACK),
            (b"Makefile", FALLBACK),
            (b".htaccess", FALLBACK),
            (b".js", FALLBACK),
            (b"dir/.hidden", FALLBACK),
            (b"trailing.", FALLBACK),
            (b"file.unknownext", FALLBACK),
            (b"dir.html/file", FALLBACK),
            (b"dir/", FALLBACK),
            (b"a.\xff\xfe", FALLBACK),
            // Directories in the name do not confuse the extension.
            (b"docs/index.html", "text/html; charset=utf-8"),
            (b".well-known/x.json", "application/json; charset=utf-8"),
            (b"\xc0\xae/x.css", "text/css; charset=utf-8"),
        ];
        for (name, want) in cases {
            assert_eq!(utf8_type(name), *want, "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn charset_only_for_utf8_text() {
        // Bytes that are not UTF-8: the same types without the parameter.
        for (name, want) in [
            (&b"latin1.txt"[..], "text/plain"),
            (b"page.html", "text/html"),
            (b"app.js", "text/javascript"),
            (b"data.json", "application/json"),
            (b"logo.svg", "image/svg+xml"),
        ] {
            assert_eq!(content_type_for(name, || false), want, "{:?}", String::from_utf8_lossy(name));
        }
        // A binary type never asks about the bytes.
        for name in [&b"photo.jpg"[..], b"font.woff2", b"Makefile", b"archive.gz"] {
            let t = content_type_for(name, || panic!("asked about the bytes of {:?}", String::from_utf8_lossy(name)));
            assert!(!t.contains("charset"), "{t}");
        }
    }

    #[test]
    fn utf8_validation() {
        let cases: &[(&[u8], bool, bool)] = &[
            // bytes, valid as the whole file, valid as a prefix
            (b"", true, true),
            (b"plain ASCII\n", true, true),
            ("caf\u{e9} \u{2603} \u{1f600}".as_bytes(), true, true),
            (b"\xef\xbb\xbfBOM first", true, true),
            // Latin-1 é: invalid in the middle; at the very end of a prefix it could start U+E000..U+EFFF.
            (b"caf\xe9", false, true),
            (b"caf\xe9 au lait", false, false),
            (b"\xff\xfeU\x00T\x00F\x00", false, false), // UTF-16LE with its BOM
            (b"snowman \xe2\x98", false, true),         // cut inside U+2603
            (b"emoji \xf0\x9f\x98", false, true),       // cut inside U+1F600
            (b"bad \xe2\x28\xa1", false, false),        // invalid continuation, not a cut
            (b"\xc0\xaf", false, false),                // overlong
            (b"\xed\xa0\x80", false, false),            // a surrogate
            (b"bad \xff then \xe2\x98", false, false),  // invalid before the cut
        ];
        for (bytes, whole, prefix) in cases {
            assert_eq!(is_utf8(bytes, Sample::Whole), *whole, "whole {bytes:?}");
            assert_eq!(is_utf8(bytes, Sample::Prefix), *prefix, "prefix {bytes:?}");
        }
    }

    #[test]
    fn is_textual_table() {
        let cases = [
            ("text/plain", true),
            ("TEXT/HTML", true),
            ("application/javascript", true),
            ("application/json", true),
            ("application/ld+json", true),
            ("application/xml", true),
            ("application/rss+xml", true),
            ("image/svg+xml", true),
            ("application/octet-stream", false),
            ("image/png", false),
            ("application/xml-dtd", false),
            ("application/jsonx", false),
            ("text/html; charset=utf-8", false),
            ("garbage", false),
        ];
        for (essence, want) in cases {
            assert_eq!(is_textual(essence), want, "{essence}");
        }
    }
}
