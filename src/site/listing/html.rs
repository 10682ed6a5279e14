//! The HTML page of a listing: a valid HTML5 document with small inline CSS that reads well on a phone,
//! sortable by its column headers through plain links (no JavaScript).
//!
//! File names are the attacker's input here — listings are a classic XSS hole — so every name goes through
//! exactly one of two encoders: [`push_text`] for text and attribute values (the five HTML-significant
//! characters become references, control characters become visible symbols) and [`push_href`] for links
//! (every byte but the unreserved ones percent-encoded, so the link names the exact bytes even when they are
//! not UTF-8, and can never carry a scheme, a query or a fragment). Links are relative to the directory's
//! own URL (which ends in '/'), so they keep working behind a proxy that mounts the site under a prefix.

use std::fmt::Write as _;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{rfc3339, Entry, Order, SortKey};

/// Bytes a link keeps as they are: RFC 3986 unreserved. A name holds no '/', so this covers it whole.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Small on purpose: readable on a phone (the viewport meta, wrapping names, whole-cell tap targets, the date
/// column wrapping on a narrow screen so the names keep their room), light and dark following the reader's
/// setting.
const STYLE: &str = "\
:root{color-scheme:light dark;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;line-height:1.4}\
body{margin:0 auto;max-width:64rem;padding:1rem}\
h1{font-size:1.25rem;font-weight:600;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%}\
th,td{padding:0;text-align:left;border-bottom:1px solid #8884;vertical-align:top}\
th{font-weight:600}\
th a,td a,td>span,td>time{display:block;padding:.5rem .4rem}\
time span{white-space:nowrap}\
.n a{overflow-wrap:anywhere}\
.n{width:100%}\
.s{text-align:right;white-space:nowrap}\
.s span{font-variant-numeric:tabular-nums}\
a{color:LinkText;text-decoration:none}\
a:hover,a:focus{text-decoration:underline}\
footer{margin-top:.75rem;font-size:.875rem;opacity:.7}\
@media(max-width:32rem){.m{white-space:normal}}";

/// A complete UTF-8 HTML page: title and heading with the directory's path, a link to the parent (except
/// at "/"), a table (name, size, modified) whose column headers are sort links (`?sort=size&order=desc`; the
/// current column's link flips the order), small inline CSS, a viewport meta so it is usable on a phone.
/// `path` is the directory's decoded URL path ending in '/', e.g. "/docs/". `entries` are shown in the order
/// given (see `sort`); `key` and `order` only say which header is marked as the current sort.
pub fn render_html(path: &str, entries: &[Entry], key: SortKey, order: Order) -> Vec<u8> {
    let mut out = String::with_capacity(2048 + entries.len() * 220);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ");
    push_text(&mut out, path);
    out.push_str("</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<h1>Index of ");
    push_text(&mut out, path);
    out.push_str("</h1>\n<table>\n<thead><tr>");
    push_header(&mut out, "Name", SortKey::Name, key, order);
    push_header(&mut out, "Size", SortKey::Size, key, order);
    push_header(&mut out, "Modified", SortKey::Mtime, key, order);
    out.push_str("</tr></thead>\n<tbody>\n");
    if path != "/" {
        out.push_str(
            "<tr><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\"></td><td class=\"s m\"></td></tr>\n",
        );
    }
    for entry in entries {
        push_row(&mut out, entry);
    }
    let dirs = entries.iter().filter(|e| e.is_dir).count();
    let files = entries.len() - dirs;
    let _ = writeln!(
        out,
        "</tbody>\n</table>\n<footer>{dirs} {}, {files} {}</footer>\n</body>\n</html>",
        if dirs == 1 { "directory" } else { "directories" },
        if files == 1 { "file" } else { "files" }
    );
    out.into_bytes()
}

/// A column header: a link that sorts by this column — the other way round when it is the current one,
/// else in the column's natural first order (names A→Z, sizes and dates largest/newest first).
fn push_header(out: &mut String, label: &str, column: SortKey, key: SortKey, order: Order) {
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
    out.push_str("<th scope=\"col\"");
    out.push_str(match column {
        SortKey::Name => "",
        SortKey::Size => " class=\"s\"",
        SortKey::Mtime => " class=\"s m\"",
    });
    if current {
        out.push_str(if order == Order::Asc { " aria-sort=\"ascending\"" } else { " aria-sort=\"descending\"" });
    }
    let _ = write!(out, "><a href=\"?sort={name}&amp;order={next}\">{label}");
    if current {
        out.push_str(if order == Order::Asc { " ↑" } else { " ↓" });
    }
    out.push_str("</a></th>");
}

fn push_row(out: &mut String, entry: &Entry) {
    let name = String::from_utf8_lossy(&entry.name);
    out.push_str("<tr><td class=\"n\"><a href=\"");
    push_href(out, &entry.name, entry.is_dir);
    out.push_str("\">");
    push_text(out, &name);
    if entry.is_dir {
        out.push('/');
    }
    out.push_str("</a></td><td class=\"s\">");
    if entry.is_dir {
        out.push_str("<span>—</span>");
    } else {
        let unit = if entry.size == 1 { "byte" } else { "bytes" };
        let _ = write!(out, "<span title=\"{0} {unit}\" data-bytes=\"{0}\">", entry.size);
        push_human_size(out, entry.size);
        out.push_str("</span>");
    }
    let time = rfc3339(entry.mtime_sec);
    // "2026-12-01 10:11" shown, the exact UTC time in the attribute; the slices are of a fixed-format ASCII
    // string, and `get` keeps even a surprise from panicking.
    let _ = writeln!(
        out,
        "</td><td class=\"s m\"><time datetime=\"{time}\"><span>{}</span> <span>{}</span></time></td></tr>",
        time.get(..10).unwrap_or_default(),
        time.get(11..16).unwrap_or_default()
    );
}

/// Text or a quoted attribute value: `& < > " '` become character references, so nothing can open a tag
/// or leave an attribute. C0 controls and DEL become their visible Control Pictures (U+2400…) and C1
/// controls and noncharacters U+FFFD: they are parse errors in HTML5 even as references, and a visible
/// symbol shows the reader the name really has one.
fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0'..='\x1f' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\x7f' => out.push('\u{2421}'),
            c if is_c1_or_noncharacter(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

fn is_c1_or_noncharacter(c: char) -> bool {
    let v = c as u32;
    (0x80..=0x9f).contains(&v) || (0xfdd0..=0xfdef).contains(&v) || v & 0xfffe == 0xfffe
}

/// The link to one entry, relative to the listing's URL: the name's exact bytes percent-encoded (all but
/// unreserved), and a trailing '/' for a directory so the link lands on it without a redirect.
fn push_href(out: &mut String, name: &[u8], is_dir: bool) {
    out.extend(percent_encode(name, UNRESERVED));
    if is_dir {
        out.push('/');
    }
}

/// `512 B`, `1.2 KiB`, `3.0 MiB`, …: one decimal from KiB up, rounded to nearest (integer arithmetic, so a
/// value just under the next unit reads `1.0 MiB`, not `1024.0 KiB`).
fn push_human_size(out: &mut String, size: u64) {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if size < 1024 {
        let _ = write!(out, "{size} B");
        return;
    }
    let size = u128::from(size);
    let mut unit = 1;
    loop {
        let scale = 1u128 << (10 * unit);
        let tenths = (size * 10 + scale / 2) / scale;
        if tenths < 10 * 1024 || unit == UNITS.len() - 1 {
            let _ = write!(out, "{}.{} {}", tenths / 10, tenths % 10, UNITS[unit]);
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
            let row =
                html.lines().find(|l| l.starts_with("<tr><td class=\"n\"><a href=\"") && !l.contains("../")).unwrap();
            let want = format!("<tr><td class=\"n\"><a href=\"{linked}\">{shown}</a></td>");
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
            "<a href=\"sub/\">sub/</a></td><td class=\"s\"><span>—</span>",
            "<span title=\"1234 bytes\" data-bytes=\"1234\">1.2 KiB</span>",
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
            let mut got = String::new();
            push_human_size(&mut got, *size);
            assert_eq!(got, *want, "{size}");
        }
    }
}
