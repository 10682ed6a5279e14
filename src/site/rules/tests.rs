//! The rules through their public API: whole files, every error with its line, first match wins, the limits,
//! and random inputs that must never panic.

use proptest::prelude::*;

use super::*;

fn rules(headers: Option<&str>, redirects: Option<&str>) -> Rules {
    Rules::parse(headers, redirects).unwrap_or_else(|e| panic!("{e}"))
}

fn redirect(status: u16, target: &str, force: bool) -> Option<Redirect> {
    Some(Redirect { status, target: target.into(), force })
}

const REDIRECTS: &str = "\
# Moved pages
/home              /                       301
/blog/my-post.php  /blog/my-post
/old/*             /new/:splat             302
/news/:year/:month/:day/:slug  /blog/:year/:month/:day/:slug.html
/shop              https://store.example.com/?ref=site
/go/*              https://example.org/:splat  307
/search            /find?engine=site       303   # TO's query replaces the request's
/authors/c%C3%A9line   /authors/about-c%C3%A9line
/docs/café/*       /docs/ünï/:splat

/app/*             /app/index.html         200
/forced            /target.html            200!
/missing/*         /errors/404.html        404
/legacy/:page      /pages/:page            308!
/first             /one
/first             /two
/*                 /index.html             200
";

#[test]
fn redirects_match() {
    let rules = rules(None, Some(REDIRECTS));
    let rows: &[(&str, Option<&str>, Option<Redirect>)] = &[
        ("/home", None, redirect(301, "/", false)),
        ("/home/", None, redirect(301, "/", false)),
        ("/home", Some("a=1"), redirect(301, "/?a=1", false)),
        ("/blog/my-post.php", None, redirect(301, "/blog/my-post", false)),
        ("/old", None, redirect(302, "/new/", false)),
        ("/old/", Some("x"), redirect(302, "/new/?x", false)),
        ("/old/a/b.html", None, redirect(302, "/new/a/b.html", false)),
        ("/old/dir/", None, redirect(302, "/new/dir/", false)),
        ("/old/a b?#", None, redirect(302, "/new/a%20b%3F%23", false)),
        ("/news/2024/05/17/hello", None, redirect(301, "/blog/2024/05/17/hello.html", false)),
        ("/news/2024/05/17", None, redirect(200, "/index.html", false)),
        ("/shop", Some("utm=x"), redirect(301, "https://store.example.com/?ref=site", false)),
        ("/go/a/b", Some("q=1"), redirect(307, "https://example.org/a/b?q=1", false)),
        ("/search", Some("q=rust"), redirect(303, "/find?engine=site", false)),
        ("/authors/céline", None, redirect(301, "/authors/about-c%C3%A9line", false)),
        ("/docs/café/x/ÿ", None, redirect(301, "/docs/%C3%BCn%C3%AF/x/%C3%BF", false)),
        ("/app/settings/profile", Some("tab=2"), redirect(200, "/app/index.html", false)),
        ("/forced", None, redirect(200, "/target.html", true)),
        ("/missing/x", None, redirect(404, "/errors/404.html", false)),
        ("/legacy/about", Some("v=1"), redirect(308, "/pages/about?v=1", true)),
        ("/first", None, redirect(301, "/one", false)),
        ("/anything/else", None, redirect(200, "/index.html", false)),
        ("/", None, redirect(200, "/index.html", false)),
        ("/Home", None, redirect(200, "/index.html", false)),
    ];
    for (path, query, want) in rows {
        assert_eq!(rules.redirect_for(path, *query), *want, "{path} {query:?}");
    }
    let no_catch_all = REDIRECTS.replace("/*                 /index.html             200\n", "");
    let rules = self::rules(None, Some(&no_catch_all));
    for path in ["/", "/Home", "/homepage", "/app", "/new/x", "/blog/my-post"] {
        if path == "/app" {
            assert_eq!(rules.redirect_for(path, None), redirect(200, "/app/index.html", false));
        } else {
            assert_eq!(rules.redirect_for(path, None), None, "{path}");
        }
    }
}

#[test]
fn headers_and_redirects_together() {
    let headers = "/*\n  X-Frame-Options: DENY\n/assets/*\n  Cache-Control: max-age=31536000, immutable\n";
    let rules = rules(Some(headers), Some("/a /b\n"));
    assert!(!rules.is_empty());
    let mut out = Vec::new();
    assert_eq!(rules.headers_for("/assets/app.js", &mut out), ["x-frame-options", "cache-control"]);
    assert_eq!(out, b"X-Frame-Options: DENY\r\nCache-Control: max-age=31536000, immutable\r\n");
    assert_eq!(rules.redirect_for("/a", None), redirect(301, "/b", false));
}

#[test]
fn empty_files() {
    for (headers, redirects) in
        [(None, None), (Some(""), None), (None, Some("")), (Some("# none\n\n"), Some("  # x\n"))]
    {
        let rules = rules(headers, redirects);
        assert!(rules.is_empty(), "{headers:?} {redirects:?}");
        let mut out = Vec::new();
        assert!(rules.headers_for("/", &mut out).is_empty());
        assert!(out.is_empty());
        assert_eq!(rules.redirect_for("/", Some("q")), None);
    }
    assert!(Rules::empty().is_empty());
    assert!(rules(Some("/a\n"), None).is_empty(), "a block without headers is no rule");
}

#[test]
fn line_ends_bom_and_whitespace() {
    let rules = rules(Some("\u{feff}/a\r\n\tX: 1\r\n"), Some("\u{feff}\t/a\t\t/b   302 \r\n"));
    let mut out = Vec::new();
    assert_eq!(rules.headers_for("/a", &mut out), ["x"]);
    assert_eq!(out, b"X: 1\r\n");
    assert_eq!(rules.redirect_for("/a", None), redirect(302, "/b", false));
}

/// (`_headers`, `_redirects`, the error as printed).
const ERRORS: &[(Option<&str>, Option<&str>, &str)] = &[
    (Some("# c\n\n  X-A: 1\n"), None, "_headers:3: header line before any path"),
    (Some("/a\nX-A 1\n"), None, "_headers:2: 'X-A 1' is neither a path (starting with '/') nor a 'Name: value' header"),
    (Some("/a\n  Bad Name: 1\n"), None, "_headers:2: 'Bad Name' is not a valid header name"),
    (Some("/a\n  Content-Length: 1\n"), None, "_headers:2: staticd sets Content-Length itself"),
    (Some("/a\n  X-A:\n"), None, "_headers:2: X-A has no value"),
    (Some("/a\n  X-A: a\u{1}b\n"), None, "_headers:2: control character 0x01"),
    (Some("/a\n  X-A: a\rb\n"), None, "_headers:2: control character 0x0d"),
    (Some("/a\n  X-A: a\0b\n"), None, "_headers:2: control character 0x00"),
    (
        Some("https://example.com/*\n  X: 1\n"),
        None,
        "_headers:1: 'https://example.com/*': full URLs are not supported (patterns are paths; staticd does not route by host)",
    ),
    (Some("/a b\n"), None, "_headers:1: unexpected 'b' after the path '/a'"),
    (Some("\n/a/*/b\n"), None, "_headers:2: '/a/*/b': '*' is supported only in the last segment"),
    (Some("/a\n  X: 1\n"), Some("/b\n"), "_redirects:1: expected FROM TO [STATUS]"),
    (None, Some("/a /b 301\n\n\n\n\n\n/c /d 299\n"), "_redirects:7: unknown status 299"),
    (None, Some("/a /b moved\n"), "_redirects:1: 'moved' is not a status"),
    (None, Some("# x\n/a https://elsewhere.example/ 200\n"), "_redirects:2: 'https://elsewhere.example/': proxying is not supported (a 200 rule must serve a site path)"),
    (None, Some("/a /../secret 200\n"), "_redirects:1: '/../secret' must stay inside the site (no '.' or '..' segments)"),
    (None, Some("/a /b?x=1 200\n"), "_redirects:1: '/b?x=1': a 200 rule serves a file; its TO cannot have a query or fragment"),
    (None, Some("/a /b/:splat\n"), "_redirects:1: '/b/:splat' uses :splat, but FROM has no '*'"),
    (None, Some("/:x /b/:y\n"), "_redirects:1: '/b/:y' uses :y, which FROM does not bind"),
    (None, Some("/store id=:id /blog/:id 301\n"), "_redirects:1: query-parameter matches ('id=:id') are not supported"),
    (None, Some("/ /anz 302 Country=au,nz\n"), "_redirects:1: conditions (Country=...) are not supported"),
    (None, Some("/a /b 301 c\n"), "_redirects:1: unexpected field 'c' after the status"),
    (None, Some("http://blog.example.com/* /blog/:splat\n"), "_redirects:1: 'http://blog.example.com/*': rules for a host are not supported (FROM must be a path)"),
    (None, Some("a /b\n"), "_redirects:1: FROM 'a' must be a path starting with '/'"),
    (None, Some("/a //evil.example/\n"), "_redirects:1: '//evil.example/' would name another host; write it as https://host/path"),
    (None, Some("/a?x=1 /b\n"), "_redirects:1: '/a?x=1': a query in a path pattern is not supported"),
    (None, Some("/a /b\u{7f}\n"), "_redirects:1: control character 0x7f"),
];

#[test]
fn errors_name_file_and_line() {
    for (headers, redirects, want) in ERRORS {
        match Rules::parse(*headers, *redirects) {
            Ok(rules) => panic!("accepted {headers:?} {redirects:?}: {rules:?}"),
            Err(e) => assert_eq!(e.to_string(), *want, "{headers:?} {redirects:?}"),
        }
    }
}

#[test]
fn rule_count_limit() {
    let redirects: String = (0..MAX_RULES).map(|i| format!("/from/{i} /to/{i}\n# comment\n")).collect();
    let rules = rules(None, Some(&redirects));
    assert_eq!(rules.redirect_for("/from/9999", None), redirect(301, "/to/9999", false));
    let over = format!("{redirects}/one/more /x\n");
    let err = Rules::parse(None, Some(&over)).err();
    assert_eq!(err.map(|e| e.to_string()), Some(format!("_redirects:{}: over 10000 rules", 2 * MAX_RULES + 1)));

    let headers: String = (0..MAX_RULES).map(|i| format!("/p{i}\n  X: {i}\n")).collect();
    let rules = self::rules(Some(&headers), None);
    let mut out = Vec::new();
    assert_eq!(rules.headers_for("/p77", &mut out), ["x"]);
    assert_eq!(out, b"X: 77\r\n");
    let over = format!("{headers}/p\n");
    let err = Rules::parse(Some(&over), None).err();
    assert_eq!(err.map(|e| e.to_string()), Some(format!("_headers:{}: over 10000 rules", 2 * MAX_RULES + 1)));
}

#[test]
fn size_limits() {
    let long = format!("/a /{}\n", "b".repeat(MAX_LINE_BYTES - 4));
    assert_eq!(long.len(), MAX_LINE_BYTES + 1, "the line, without its end, is exactly at the limit");
    assert!(Rules::parse(None, Some(&long)).is_ok());
    let longer = format!("# ok\n/a /{}\n", "b".repeat(MAX_LINE_BYTES - 3));
    let err = Rules::parse(None, Some(&longer)).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("_redirects:2: the line is over 4096 bytes"));

    // Exactly 1 MiB of comment lines is fine; one byte more is not, reported on the line it falls in.
    let line = format!("#{}\n", "x".repeat(1022));
    let full = line.repeat(MAX_FILE_BYTES / line.len());
    assert_eq!(full.len(), MAX_FILE_BYTES);
    assert!(Rules::parse(Some(&full), Some(&full)).is_ok());
    let err = Rules::parse(Some(&format!("{full}/")), None).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("_headers:1025: the file is over 1 MiB"));
    let err = Rules::parse(None, Some(&format!("{full}#"))).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("_redirects:1025: the file is over 1 MiB"));
}

#[test]
fn first_match_wins_across_buckets() {
    // The same request is a candidate in all three lists (whole path, first segment, "any"): the rule that
    // comes first in the file answers, whichever list holds it.
    let orders: &[(&str, &str)] = &[
        ("/*  /any\n/a/:x  /first\n/a/b  /exact\n", "/any"),
        ("/a/:x  /first\n/*  /any\n/a/b  /exact\n", "/first"),
        ("/a/b  /exact\n/a/:x  /first\n/*  /any\n", "/exact"),
        ("/a/*  /first\n/a/b  /exact\n", "/first"),
        ("/:y/b  /any\n/a/b  /exact\n", "/any"),
    ];
    for (text, want) in orders {
        let rules = rules(None, Some(text));
        assert_eq!(rules.redirect_for("/a/b", None).map(|r| r.target).as_deref(), Some(*want), "{text}");
    }
}

#[test]
fn unicode_paths() {
    let rules = rules(
        Some("/文档/*\n  X-Lang: zh\n/:name\n  X-Any: 1\n"),
        Some("/文档/:page /docs/:page 302\n/ü/* /u/:splat 200\n"),
    );
    let mut out = Vec::new();
    assert_eq!(rules.headers_for("/文档/介绍", &mut out), ["x-lang"]);
    assert_eq!(out, "X-Lang: zh\r\n".as_bytes());
    out.clear();
    assert_eq!(rules.headers_for("/文档", &mut out), ["x-lang", "x-any"]);
    assert_eq!(rules.redirect_for("/文档/介绍", None), redirect(302, "/docs/%E4%BB%8B%E7%BB%8D", false),);
    assert_eq!(rules.redirect_for("/ü/ñ/文", None), redirect(200, "/u/ñ/文", false));
    let err = Rules::parse(None, Some("/:页 /x\n")).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("_redirects:1: '/:页': ':页' is not a placeholder (a letter or '_', then letters, digits or '_')"),
        "placeholder names are ASCII"
    );
}

/// Fragments rules files are made of, odd ones included, so random files reach deep into both parsers.
fn piece() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "/",
        "/a",
        "/:x",
        "/*",
        "/a/*",
        "/*.css",
        "/b*",
        ":splat",
        ":x",
        " ",
        "\t",
        "\n",
        "\r\n",
        "#",
        " # c",
        "301",
        "200",
        "404!",
        "302!",
        "299",
        "https://h/",
        "//",
        "%",
        "%2F",
        "%C3%A9",
        "é",
        "..",
        "?q=1",
        "#f",
        "=",
        "Country=x",
        "X-A: v",
        ": ",
        "Set-Cookie: c",
        "\u{feff}",
        "\0",
    ];
    prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..40).prop_map(|p| p.concat())
}

fn path() -> impl Strategy<Value = String> {
    const SEGMENTS: &[&str] = &["a", "b", "x.css", "é", "", "..", "%", ":x", "*", "文档"];
    let segment = prop_oneof![proptest::sample::select(SEGMENTS).prop_map(str::to_owned), "[^/]{0,4}"];
    proptest::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/")))
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

const FIXED_HEADERS: &str = "/*\n  A: 1\n/a/*\n  B: 2\n/:x/b\n  A: 3\n/*.css\n  C: 4\n/b*\n  Set-Cookie: s\n";
const FIXED_REDIRECTS: &str =
    "/a/:x /x/:x\n/b* /b/:splat 200\n/:p/:q /:q/:p 302\n/a/* https://h/:splat?k=:splat 307\n/* /:splat 200\n";

proptest! {
    #![proptest_config(config())]

    /// Any text is either compiled or refused with a line inside the file; never a panic.
    #[test]
    fn random_files_never_panic(headers in text(), redirects in text(), path in path(), query in "[ -~]{0,8}") {
        for (h, r) in [(Some(headers.as_str()), None), (None, Some(redirects.as_str()))] {
            match Rules::parse(h, r) {
                Ok(rules) => {
                    let mut out = Vec::new();
                    let names = rules.headers_for(&path, &mut out);
                    prop_assert_eq!(names.is_empty(), out.is_empty());
                    let _ = rules.redirect_for(&path, Some(&query));
                }
                Err(e) => {
                    let lines = h.or(r).map_or(0, |t| t.split('\n').count());
                    prop_assert!(e.line >= 1 && e.line <= lines, "{} for a file of {} lines", e, lines);
                }
            }
        }
    }

    /// Whatever the path, what comes out can go into a response head and stays inside the site.
    #[test]
    fn answers_are_safe(path in path(), query in proptest::option::of("[ -~]{0,12}")) {
        let rules = rules(Some(FIXED_HEADERS), Some(FIXED_REDIRECTS));
        let mut out = Vec::new();
        let names = rules.headers_for(&path, &mut out);
        prop_assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')));
        prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), out.windows(2).filter(|w| w == b"\r\n").count());
        if let Some(r) = rules.redirect_for(&path, query.as_deref()) {
            prop_assert!(!r.target.starts_with("//"), "{:?}", r);
            if r.status == 200 || r.status == 404 {
                // A site path is decoded text (a file may be named "a?\nb"), but never holds NUL or a dot segment.
                prop_assert!(r.target.starts_with('/') && !r.target.contains('\0'), "{:?}", r);
                prop_assert!(!r.target.split('/').any(|s| s == "." || s == ".."), "{:?}", r);
            } else {
                prop_assert!(r.target.bytes().all(|b| b.is_ascii_graphic()), "{:?}", r);
            }
        }
    }
}
