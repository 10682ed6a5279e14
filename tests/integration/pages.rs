//! What a site means beyond its files, through the real binary: error pages, the single-page-app fallback,
//! clean URLs, operator headers on every response, and the site's rule files never being served.

use std::time::Duration;

use crate::support::*;

const NAVIGATION: (&str, &str) = ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
const ASSET: (&str, &str) = ("Accept", "*/*");

fn app_site(tag: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    site.write("index.html", b"<!doctype html><title>app</title>");
    site.write("about.html", b"<p>about</p>");
    site.write("docs/index.html", b"<p>docs</p>");
    site.write("docs/intro.html", b"<p>intro</p>");
    site.write("assets/app.js", b"console.log(1)");
    site
}

#[test]
fn a_404_html_at_the_root_is_the_body_of_404s_and_a_missing_page_falls_back() {
    let site = app_site("page404");
    site.write("404.html", b"<h1>not here</h1>");
    let server = site.serve(&[]);
    for target in ["/nope", "/assets/missing.js", "/deep/er/path.png"] {
        let r = get(server.addr(), target);
        expect_status(&r, 404, target);
        assert_eq!(r.body, b"<h1>not here</h1>", "{target}");
        assert!(header(&r, "Content-Type", target).starts_with("text/html"), "{target}");
        assert_eq!(r.header("ETag"), None, "the page's validators are not the missing resource's");
    }
    let h = head(server.addr(), "/nope");
    expect_status(&h, 404, "HEAD");
    assert_eq!(content_length(&h, "HEAD"), 17);
    assert!(h.body.is_empty());
    // The page itself is still a file like any other.
    expect_status(&get(server.addr(), "/404.html"), 200, "/404.html");
    // Other statuses keep the built-in body.
    let r = get(server.addr(), "/%zz");
    expect_status(&r, 400, "bad escape");
    assert_eq!(r.body, b"400 Bad Request\n");
    drop(server);

    std::fs::remove_file(site.path.join("404.html")).expect("remove page");
    let server = site.serve(&[]);
    let r = get(server.addr(), "/nope");
    expect_status(&r, 404, "no page");
    assert_eq!(r.body, b"404 Not Found\n", "without a page, the built-in body");
}

#[test]
fn error_page_option_names_pages_for_403_and_404_and_unreadable_pages_never_leak() {
    let site = app_site("errorpage");
    site.write("errors/missing.html", b"missing!");
    site.write("errors/forbidden.html", b"forbidden!");
    site.mkdir("noindex");
    let server =
        site.serve(&["--error-page", "404=/errors/missing.html", "--error-page", "403=/errors/forbidden.html"]);
    let r = get(server.addr(), "/nope");
    expect_status(&r, 404, "404");
    assert_eq!(r.body, b"missing!");
    let r = get(server.addr(), "/noindex/");
    expect_status(&r, 403, "403");
    assert_eq!(r.body, b"forbidden!");
    drop(server);

    let server = site.serve(&["--error-page", "404=/errors/absent.html", "--error-page", "403=/errors"]);
    let r = get(server.addr(), "/nope");
    expect_status(&r, 404, "absent page");
    assert_eq!(r.body, b"404 Not Found\n");
    let r = get(server.addr(), "/noindex/");
    expect_status(&r, 403, "a directory is not a page");
    assert_eq!(r.body, b"403 Forbidden\n");
    if require_root("an unreadable error page needs the workers to run as nobody") {
        return;
    }
    let page = site.write("errors/secret.html", b"secret page");
    set_mode(&page, 0o600);
    drop(server);
    let server = site.serve(&["--error-page", "404=/errors/secret.html"]);
    let r = get(server.addr(), "/nope");
    expect_status(&r, 404, "unreadable page");
    assert_eq!(r.body, b"404 Not Found\n", "an unreadable page falls back to the built-in body");
}

#[test]
fn fallback_serves_the_app_for_navigations_only() {
    let site = app_site("fallback");
    let server = site.serve(&["--fallback", "/index.html"]);
    for target in ["/dashboard", "/users/42/settings", "/about/team"] {
        let r = fetch(server.addr(), "GET", target, &[NAVIGATION]);
        expect_status(&r, 200, target);
        assert_eq!(r.body, b"<!doctype html><title>app</title>", "{target}");
        assert!(header(&r, "Content-Type", target).starts_with("text/html"));
    }
    let r = fetch(server.addr(), "HEAD", "/dashboard", &[NAVIGATION]);
    expect_status(&r, 200, "HEAD navigation");
    assert!(r.body.is_empty());
    // A broken asset stays a 404: it must never be answered with HTML.
    for target in ["/assets/missing.js", "/dashboard"] {
        let r = fetch(server.addr(), "GET", target, &[ASSET]);
        expect_status(&r, 404, target);
    }
    expect_status(&get(server.addr(), "/dashboard"), 404, "no Accept at all");
    // Existing files are untouched.
    let r = fetch(server.addr(), "GET", "/assets/app.js", &[NAVIGATION]);
    assert_eq!(r.body, b"console.log(1)");
    // A navigation the client refuses HTML for is not one.
    let r = fetch(server.addr(), "GET", "/dashboard", &[("Accept", "text/html;q=0, */*")]);
    expect_status(&r, 404, "text/html;q=0");
}

#[test]
fn clean_urls_serve_name_html_for_name_and_redirect_the_html_form() {
    let site = app_site("cleanurls");
    site.mkdir("about-dir");
    let server = site.serve(&["--clean-urls"]);
    let r = get(server.addr(), "/about");
    expect_status(&r, 200, "/about");
    assert_eq!(r.body, b"<p>about</p>");
    let r = get(server.addr(), "/docs/intro?x=1");
    assert_eq!(r.body, b"<p>intro</p>");
    let cases = [
        ("/about.html", "/about"),
        ("/about.html?q=1", "/about?q=1"),
        ("/docs/intro.html", "/docs/intro"),
        ("/docs/index.html", "/docs/"),
        ("/index.html", "/"),
    ];
    for (target, location) in cases {
        let r = get(server.addr(), target);
        expect_status(&r, 301, target);
        assert_eq!(r.header("Location"), Some(location), "{target}");
    }
    expect_status(&get(server.addr(), "/missing"), 404, "neither /missing nor /missing.html");
    expect_status(&get(server.addr(), "/about/"), 404, "a directory-style URL is not the page");
    drop(server);
    // Without the option nothing changes.
    let server = site.serve(&[]);
    expect_status(&get(server.addr(), "/about"), 404, "/about without --clean-urls");
    expect_status(&get(server.addr(), "/about.html"), 200, "/about.html without --clean-urls");
}

#[test]
fn header_option_is_on_every_response_including_errors_304s_and_refusals() {
    let site = app_site("headers");
    let server = site.serve(&[
        "--header",
        "Cross-Origin-Opener-Policy: same-origin",
        "--header",
        "Content-Security-Policy: default-src 'self'",
    ]);
    let r = get(server.addr(), "/index.html");
    let etag = header(&r, "ETag", "etag").to_string();
    let responses = [
        ("200", get(server.addr(), "/index.html")),
        ("404", get(server.addr(), "/nope")),
        ("301", get(server.addr(), "/docs")),
        ("304", fetch(server.addr(), "GET", "/index.html", &[("If-None-Match", etag.as_str())])),
        ("405", fetch(server.addr(), "POST", "/index.html", &[("Content-Length", "0")])),
        ("400", request(server.addr(), b"GET /x HTTP/1.1\r\n\r\n")),
    ];
    for (what, r) in responses {
        assert_eq!(r.header("Cross-Origin-Opener-Policy"), Some("same-origin"), "{what}");
        assert_eq!(r.header("Content-Security-Policy"), Some("default-src 'self'"), "{what}");
    }
}

#[test]
fn bad_site_options_are_one_line_and_exit_2() {
    let site = app_site("badopts");
    let root = site.path_str();
    let cases: &[&[&str]] = &[
        &["--header", "NoColon"],
        &["--header", "Bad Name: x"],
        &["--header", "Content-Length: 5"],
        &["--header", "Date: now"],
        &["--fallback", "index.html"],
        &["--fallback", "/../etc/passwd"],
        &["--error-page", "404"],
        &["--error-page", "200=/index.html"],
        &["--error-page", "404=/a/../../b"],
        &["--cache-control", ""],
    ];
    for args in cases {
        let mut all = vec!["--check"];
        all.extend_from_slice(args);
        all.push(root);
        let exit = run_capture(&all, Duration::from_secs(20), |_| {});
        assert_eq!(exit.status.code(), Some(2), "{args:?}: {}", exit.stderr);
        let lines: Vec<&str> = exit.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", exit.stderr);
        assert!(lines[0].starts_with("staticd: "), "{args:?}: {}", exit.stderr);
    }
}

#[test]
fn the_sites_rule_files_are_never_served() {
    let site = app_site("rulefiles");
    site.write("_headers", b"/*\n  X-Test: 1\n");
    site.write("_redirects", b"/old /new 301\n");
    let server = site.serve(&["--dotfiles", "--clean-urls"]);
    for target in ["/_headers", "/_redirects", "/%5fheaders", "/_redirects?x"] {
        expect_status(&get(server.addr(), target), 404, target);
    }
}
