//! The HTML page of a listing: a valid HTML5 document with small inline CSS that reads well on a phone,
//! sortable by its column headers through plain links (no JavaScript).
//!
//! File names are the attacker's input here — listings are a classic XSS hole — so every name goes through
//! exactly one of two encoders: [`push_text`] for text and attribute values (the five HTML-significant
//! characters become references, control characters become visible symbols) and [`push_href`] for links
//! (every byte but the unreserved ones percent-encoded, so the link names the exact bytes even when they are
//! not UTF-8, and can never carry a scheme, a query or a fragment). Links are relative to the directory's
//! own URL (which ends in '/'), so they keep working behind a proxy that mounts the site under a prefix.

use std::io::Write as _;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::http::response::push_u64;

use super::{rfc3339, Entry, Order, SortKey};

/// Bytes a link keeps as they are: RFC 3986 unreserved. A name holds no '/', so this covers it whole.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Small on purpose: readable on a phone (the viewport meta, wrapping names, whole-cell tap targets, the date
/// column wrapping on a narrow screen so the names keep their room), light and dark following the reader's
/// setting. Columns are styled by position, so a row of a 100,000-entry page carries no class attributes.
const STYLE: &str = "\
:root{color-scheme:light dark;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;line-height:1.4}\
body{margin:0 auto;max-width:64rem;padding:1rem}\
h1{font-size:1.25rem;font-weight:600;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%}\
th,td{padding:.5rem .4rem;text-align:right;white-space:nowrap;vertical-align:top;border-bottom:1px solid #8884}\
td{font-variant-numeric:tabular-nums}\
th:first-child,td:first-child{text-align:left;white-space:normal;width:100%}\
td:first-child{padding:0}\
td:first-child a{display:block;padding:.5rem .4rem;overflow-wrap:anywhere}\
time span{white-space:nowrap}\
a{color:LinkText;text-decoration:none}\
a:hover,a:focus{text-decoration:underline}\
footer{margin-top:.75rem;font-size:.875rem;opacity:.7}\
@media(max-width:32rem){td:last-child{white-space:normal}}";

/// Markup per row beyond the name (twice), the size and the time: for the output's first allocation.
const ROW_BYTES: usize = 160;

/// A complete UTF-8 HTML page: title and heading with the directory's path, a link to the parent (except
/// at "/"), a table (name, size, modified) whose column headers are sort links (`?sort=size&order=desc`; the
/// current column's link flips the order), small inline CSS, a viewport meta so it is usable on a phone.
/// `path` is the directory's decoded URL path ending in '/', e.g. "/docs/". `entries` are shown in the order
/// given (see `sort`); `key` and `order` only say which header is marked as the current sort.
///
/// The same bytes as [`html_start`], [`html_rows`] over all entries and [`html_end`], which a caller can
/// spread over several turns of its event loop for a huge directory.
pub fn render_html(path: &str, entries: &[Entry], key: SortKey, order: Order) -> Vec<u8> {
    let mut out = Vec::new();
    html_start(&mut out, path, entries, key, order);
    html_rows(&mut out, entries);
    html_end(&mut out, entries);
    out
}

/// The page up to its first entry's row: head, heading, the sortable column headers, the parent link. It
/// reserves room in `out` for the whole page of `entries` at once: growing an 18 MiB buffer by doubling
/// would copy it in the middle of some later batch.
pub fn html_start(out: &mut Vec<u8>, path: &str, entries: &[Entry], key: SortKey, order: Order) {
    let names: usize = entries.iter().map(|e| e.name.len()).sum();
    out.reserve(2048 + path.len() * 2 + entries.len() * ROW_BYTES + names * 2);
    out.extend_from_slice(b"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.extend_from_slice(
        b"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ",
    );
    push_text(out, path);
    out.extend_from_slice(b"</title>\n<style>");
    out.extend_from_slice(STYLE.as_bytes());
    out.extend_from_slice(b"</style>\n</head>\n<body>\n<h1>Index of ");
    push_text(out, path);
    out.extend_from_slice(b"</h1>\n<table>\n<thead><tr>");
    push_header(out, "Name", SortKey::Name, key, order);
    push_header(out, "Size", SortKey::Size, key, order);
    push_header(out, "Modified", SortKey::Mtime, key, order);
    out.extend_from_slice(b"</tr></thead>\n<tbody>\n");
    if path != "/" {
        out.extend_from_slice(b"<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
}

/// One table row per entry (about 0.3 µs each; see `scan`'s timing test).
pub fn html_rows(out: &mut Vec<u8>, entries: &[Entry]) {
    for entry in entries {
        push_row(out, entry);
    }
}

/// The end of the page: the table closed and a footer counting `entries` (all of them, not a batch).
pub fn html_end(out: &mut Vec<u8>, entries: &[Entry]) {
    let dirs = entries.iter().filter(|e| e.is_dir).count();
    let files = entries.len() - dirs;
    out.extend_from_slice(b"</tbody>\n</table>\n<footer>");
    push_u64(out, dirs as u64);
    out.extend_from_slice(if dirs == 1 { b" directory, " } else { b" directories, " });
    push_u64(out, files as u64);
    out.extend_from_slice(if files == 1 { b" file" } else { b" files" });
    out.extend_from_slice(b"</footer>\n</body>\n</html>\n");
}

/// A column header: a link that sorts by this column — the other way round when it is the current one,
/// else in the column's natural first order (names A→Z, sizes and dates largest/newest first).
fn push_header(out: &mut Vec<u8>, label: &str, column: SortKey, key: SortKey, order: Order) {
    let (name, first) = match column {
        SortKey::Name => ("name", Order::Asc),
        SortKey::Size => ("size", Order::Desc),
        SortKey::Mtime => ("mtime", Order::Desc),
    };
    let current = column == key;
    let next = match (current, order) {
        (false, _) => first,
        (true, Order::Asc) => Order::Desc,
        (true, Order::Desc) => Order::Asc,
    };
    let next = if next == Order::Asc { "asc" } else { "desc" };
    out.extend_from_slice(b"<th scope=\"col\"");
    if current {
        out.extend_from_slice(if order == Order::Asc {
            b" aria-sort=\"ascending\""
        } else {
            b" aria-sort=\"descending\""
        });
    }
    let _ = write!(out, "><a href=\"?sort={name}&amp;order={next}\">{label}");
    if current {
        out.extend_from_slice(if order == Order::Asc { " ↑".as_bytes() } else { " ↓".as_bytes() });
    }
    out.extend_from_slice(b"</a></th>");
}

/// `<tr><td><a href="a%20b">a b</a></td><td title="1234 bytes">1.2 KiB</td><td><time …>…</time></td></tr>`
fn push_row(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(b"<tr><td><a href=\"");
    push_href(out, &entry.name, entry.is_dir);
    out.extend_from_slice(b"\">");
    push_text(out, &String::from_utf8_lossy(&entry.name));
    if entry.is_dir {
        out.extend_from_slice("/</a></td><td>—".as_bytes());
    } else {
        out.extend_from_slice(b"</a></td><td title=\"");
        push_u64(out, entry.size);
        out.extend_from_slice(if entry.size == 1 { b" byte\">" } else { b" bytes\">" });
        push_human_size(out, entry.size);
    }
    // "2026-12-01 10:11" shown (each half unbreakable, so a narrow screen wraps at the space only), the exact
    // UTC time in the attribute.
    let time = rfc3339(entry.mtime_sec);
    out.extend_from_slice(b"</td><td><time datetime=\"");
    out.extend_from_slice(&time);
    out.extend_from_slice(b"\"><span>");
    out.extend_from_slice(&time[..10]);
    out.extend_from_slice(b"</span> <span>");
    out.extend_from_slice(&time[11..16]);
    out.extend_from_slice(b"</span></time></td></tr>\n");
}

/// Text or a quoted attribute value: `& < > " '` become character references, so nothing can open a tag
/// or leave an attribute. C0 controls and DEL become their visible Control Pictures (U+2400…) and C1
/// controls and noncharacters U+FFFD: they are parse errors in HTML5 even as references, and a visible
/// symbol shows the reader the name really has one.
fn push_text(out: &mut Vec<u8>, text: &str) {
    // Most names need nothing: copy them whole.
    if text.bytes().all(|b| matches!(b, 0x20..=0x7e) && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        let replaced = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            '\0'..='\x1f' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}').encode_utf8(&mut utf8),
            '\x7f' => "\u{2421}",
            c if is_c1_or_noncharacter(c) => "\u{fffd}",
            c => c.encode_utf8(&mut utf8),
        };
        out.extend_from_slice(replaced.as_bytes());
    }
}

fn is_c1_or_noncharacter(c: char) -> bool {
    let v = c as u32;
    (0x80..=0x9f).contains(&v) || (0xfdd0..=0xfdef).contains(&v) || v & 0xfffe == 0xfffe
}

/// The link to one entry, relative to the listing's URL: the name's exact bytes percent-encoded (all but
/// unreserved), and a trailing '/' for a directory so the link lands on it without a redirect.
fn push_href(out: &mut Vec<u8>, name: &[u8], is_dir: bool) {
    for piece in percent_encode(name, UNRESERVED) {
        out.extend_from_slice(piece.as_bytes());
    }
    if is_dir {
        out.push(b'/');
    }
}

/// `512 B`, `1.2 KiB`, `3.0 MiB`, …: one decimal from KiB up, rounded to nearest (integer arithmetic, so a
/// value just under the next unit reads `1.0 MiB`, not `1024.0 KiB`).
fn push_human_size(out: &mut Vec<u8>, size: u64) {
    const UNITS: [&[u8]; 7] = [b" B", b" KiB", b" MiB", b" GiB", b" TiB", b" PiB", b" EiB"];
    if size < 1024 {
        push_u64(out, size);
        out.extend_from_slice(UNITS[0]);
        return;
    }
    let size = u128::from(size);
    let mut unit = 1;
    loop {
        let scale = 1u128 << (10 * unit);
        let tenths = (size * 10 + scale / 2) / scale;
        if tenths < 10 * 1024 || unit == UNITS.len() - 1 {
            // At most 16.0 EiB, so the tenths fit a u64.
            let tenths = u64::try_from(tenths).unwrap_or(u64::MAX);
            push_u64(out, tenths / 10);
            out.push(b'.');
            out.push(b'0' + (tenths % 10) as u8);
            out.extend_from_slice(UNITS[unit]);
            return;
        }
        unit += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8], is_dir: bool, size: u64) -> Entry {
        Entry { name: name.to_vec(), is_dir, size, mtime_sec: 1_796_119_872 }
    }

    fn page(path: &str, entries: &[Entry]) -> String {
        String::from_utf8(render_html(path, entries, SortKey::Name, Order::Asc)).expect("the page is UTF-8")
    }

    /// Hostile names: none of their own `<`, quotes or ampersands reach the page raw, in text or attributes.
    #[test]
    fn hostile_names_are_escaped() {
        let cases: &[(&[u8], &str, &str)] = &[
            // name, shown as, linked as
            (
                b"<img src=x onerror=alert(1)>.txt",
                "&lt;img src=x onerror=alert(1)&gt;.txt",
                "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt",
            ),
            (b"\"quote'.txt", "&quot;quote&#39;.txt", "%22quote%27.txt"),
            (b"a&b", "a&amp;b", "a%26b"),
            (b"new\nline", "new\u{240a}line", "new%0Aline"),
            (b"tab\tcr\r", "tab\u{2409}cr\u{240d}", "tab%09cr%0D"),
            (b"del\x7f", "del\u{2421}", "del%7F"),
            (b"bad\xff\xfeutf8", "bad\u{fffd}\u{fffd}utf8", "bad%FF%FEutf8"),
            (b"caf\xc3\xa9", "caf\u{e9}", "caf%C3%A9"),
            (b"c1\xc2\x85", "c1\u{fffd}", "c1%C2%85"),
            (b"nonchar\xef\xbf\xbf", "nonchar\u{fffd}", "nonchar%EF%BF%BF"),
            (b"javascript:alert(1)", "javascript:alert(1)", "javascript%3Aalert%281%29"),
            (b"?q#frag", "?q#frag", "%3Fq%23frag"),
            (b"100%", "100%", "100%25"),
            (b"a b+c", "a b+c", "a%20b%2Bc"),
            (b"\\evil", "\\evil", "%5Cevil"),
            (
                b"</script><script>x</script>",
                "&lt;/script&gt;&lt;script&gt;x&lt;/script&gt;",
                "%3C%2Fscript%3E%3Cscript%3Ex%3C%2Fscript%3E",
            ),
            (b"-._~AZaz09", "-._~AZaz09", "-._~AZaz09"),
        ];
        for (name, shown, linked) in cases {
            let html = page("/d/", &[entry(name, false, 1)]);
            let row = html.lines().find(|l| l.starts_with("<tr><td><a href=\"") && !l.contains("\"../\"")).unwrap();
            let want = format!("<tr><td><a href=\"{linked}\">{shown}</a></td>");
            assert!(row.starts_with(&want), "{:?}\n got: {row}\nwant: {want}", String::from_utf8_lossy(name));
            assert_structure_intact(&html, 1);
        }
        let html = page("/d/", &[entry(b"<b>dir\"", true, 0)]);
        assert!(html.contains("<a href=\"%3Cb%3Edir%22/\">&lt;b&gt;dir&quot;/</a>"), "{html}");
    }

    /// Counts what a hostile name would have to add to break out: tags and quote characters. Whatever names
    /// the listing holds, the page has exactly the markup the template writes.
    fn assert_structure_intact(html: &str, rows: usize) {
        let template = page("/d/", &vec![entry(b"plain", false, 1); rows]);
        for needle in ["<", ">", "\"", "'"] {
            let count = |s: &str| s.matches(needle).count();
            assert_eq!(count(html), count(&template), "count of {needle:?} differs:\n{html}");
        }
    }

    #[test]
    fn hostile_path_is_escaped() {
        let html = page("/<script>alert('x')</script>/\u{1}/", &[]);
        assert!(html.contains("<title>Index of /&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;/\u{2401}/</title>"));
        assert_eq!(html.matches("<script").count(), 0);
    }

    #[test]
    fn page_is_complete_html5() {
        let html = page("/docs/", &[entry(b"sub", true, 0), entry(b"a.txt", false, 1234)]);
        for part in [
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>Index of /docs/</title>",
            "<h1>Index of /docs/</h1>",
            "<a href=\"../\">../</a>",
            "<a href=\"sub/\">sub/</a></td><td>—</td>",
            "<td title=\"1234 bytes\">1.2 KiB</td>",
            "<time datetime=\"2026-12-01T10:11:12Z\"><span>2026-12-01</span> <span>10:11</span></time>",
            "<footer>1 directory, 1 file</footer>",
            "</body>\n</html>\n",
        ] {
            assert!(html.contains(part), "missing {part:?} in\n{html}");
        }
        assert!(html.find("sub/").unwrap() < html.find("a.txt").unwrap(), "shown in the order given");
        let root = page("/", &[]);
        assert!(!root.contains("../"), "no parent link at the root");
        assert!(root.contains("<footer>0 directories, 0 files</footer>"));
        // The template itself: every tag it opens it closes (void elements aside).
        for tag in ["html", "head", "title", "style", "body", "h1", "table", "thead", "tbody", "footer"] {
            assert_eq!(
                html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count(),
                1,
                "{tag}"
            );
            assert_eq!(html.matches(&format!("</{tag}>")).count(), 1, "{tag}");
        }
        assert_eq!(html.matches("<tr>").count(), html.matches("</tr>").count());
        assert_eq!(html.matches("<td").count(), html.matches("</td>").count());
    }

    #[test]
    fn pieces_make_the_same_page() {
        let entries: Vec<Entry> = (0..10).map(|i| entry(format!("f{i}").as_bytes(), i % 4 == 0, i)).collect();
        let mut out = Vec::new();
        html_start(&mut out, "/d/", &entries, SortKey::Size, Order::Desc);
        for batch in entries.chunks(3) {
            html_rows(&mut out, batch);
        }
        html_end(&mut out, &entries);
        assert_eq!(out, render_html("/d/", &entries, SortKey::Size, Order::Desc));
    }

    #[test]
    fn headers_link_to_sorts() {
        let header = |key, order| {
            let html = String::from_utf8(render_html("/", &[], key, order)).unwrap();
            let start = html.find("<thead>").unwrap();
            let end = html.find("</thead>").unwrap();
            html[start..end].to_owned()
        };
        let h = header(SortKey::Name, Order::Asc);
        assert!(
            h.contains("<th scope=\"col\" aria-sort=\"ascending\"><a href=\"?sort=name&amp;order=desc\">Name ↑</a>")
        );
        assert!(h.contains("<a href=\"?sort=size&amp;order=desc\">Size</a>"));
        assert!(h.contains("<a href=\"?sort=mtime&amp;order=desc\">Modified</a>"));
        let h = header(SortKey::Size, Order::Desc);
        assert!(h.contains("<a href=\"?sort=name&amp;order=asc\">Name</a>"));
        assert!(h.contains("aria-sort=\"descending\"><a href=\"?sort=size&amp;order=asc\">Size ↓</a>"), "{h}");
        let h = header(SortKey::Mtime, Order::Asc);
        assert!(h.contains("aria-sort=\"ascending\"><a href=\"?sort=mtime&amp;order=desc\">Modified ↑</a>"), "{h}");
        assert_eq!(h.matches("aria-sort").count(), 1);
    }

    #[test]
    fn human_size_table() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (1, "1 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1234, "1.2 KiB"),
            (1536, "1.5 KiB"),
            (10 * 1024 - 1, "10.0 KiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (1024 * 1024 - 52, "1023.9 KiB"),
            (1024 * 1024 - 51, "1.0 MiB"), // would round to 1024.0 KiB
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (size, want) in cases {
            let mut got = Vec::new();
            push_human_size(&mut got, *size);
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{size}");
        }
    }
}
