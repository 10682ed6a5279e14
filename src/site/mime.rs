//! Content-Type for a file, from its name.
//!
//! mime_guess supplies the table; this file fixes the few entries browsers care about that the table gets
//! wrong or lacks (`.js` is `text/javascript` per the HTML standard and RFC 9239, `.webmanifest`, `.wasm`,
//! which `WebAssembly.instantiateStreaming` refuses without its exact type), and adds `charset=utf-8` to
//! every textual type so a browser never has to sniff the encoding of a page or script.

/// Served when the name says nothing useful: browsers download it rather than guess and render it.
const FALLBACK: &str = "application/octet-stream";

/// Content-Type for a file name (by extension, using mime_guess). `; charset=utf-8` is appended for text/*,
/// JavaScript, JSON (incl. +json), XML (incl. +xml), SVG and web-app manifests (.webmanifest →
/// application/manifest+json). `.js` and `.mjs` are `text/javascript; charset=utf-8`. Unknown →
/// `application/octet-stream`. Also `.wasm` → application/wasm.
pub fn content_type_for(file_name: &[u8]) -> String {
    let essence = extension(file_name)
        .and_then(|ext| std::str::from_utf8(ext).ok())
        .and_then(essence_for_extension)
        .unwrap_or(FALLBACK);
    if is_textual(essence) {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
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

/// Entries where the mime_guess table is outdated, ambiguous or missing.
fn override_for(ext: &str) -> Option<&'static str> {
    const OVERRIDES: &[(&str, &str)] = &[
        ("js", "text/javascript"),
        ("mjs", "text/javascript"),
        ("webmanifest", "application/manifest+json"),
        ("wasm", "application/wasm"),
        // Source maps are JSON; the table's text/plain is an old image-map entry.
        ("map", "application/json"),
    ];
    OVERRIDES.iter().find(|(known, _)| known.eq_ignore_ascii_case(ext)).map(|&(_, essence)| essence)
}

/// Types a browser decodes as text, and so should be told the charset.
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

    #[test]
    fn content_type_table() {
        let cases: &[(&[u8], &str)] = &[
            // The site's own files.
            (b"index.html", "text/html; charset=utf-8"),
            (b"page.htm", "text/html; charset=utf-8"),
            (b"style.css", "text/css; charset=utf-8"),
            (b"app.js", "text/javascript; charset=utf-8"),
            (b"module.mjs", "text/javascript; charset=utf-8"),
            (b"hello.txt", "text/plain; charset=utf-8"),
            (b"img/logo.png", "image/png"),
            (b"favicon.ico", "image/x-icon"),
            // Structured text gets a charset too.
            (b"data.json", "application/json; charset=utf-8"),
            (b"site.webmanifest", "application/manifest+json; charset=utf-8"),
            (b"feed.xml", "text/xml; charset=utf-8"),
            (b"feed.atom", "application/atom+xml; charset=utf-8"),
            (b"logo.svg", "image/svg+xml; charset=utf-8"),
            (b"data.csv", "text/csv; charset=utf-8"),
            (b"README.md", "text/markdown; charset=utf-8"),
            // Binary types do not.
            (b"photo.jpg", "image/jpeg"),
            (b"photo.JPEG", "image/jpeg"),
            (b"anim.gif", "image/gif"),
            (b"pic.webp", "image/webp"),
            (b"font.woff2", "font/woff2"),
            (b"doc.pdf", "application/pdf"),
            (b"movie.mp4", "video/mp4"),
            (b"module.wasm", "application/wasm"),
            (b"archive.zip", "application/zip"),
            // Case-insensitive extensions, including the overrides.
            (b"INDEX.HTML", "text/html; charset=utf-8"),
            (b"APP.JS", "text/javascript; charset=utf-8"),
            (b"M.WASM", "application/wasm"),
            // Only the last extension counts.
            (b"archive.tar.gz", "application/gzip"),
            (b"app.js.map", "application/json; charset=utf-8"),
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
            assert_eq!(content_type_for(name), *want, "{:?}", String::from_utf8_lossy(name));
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
