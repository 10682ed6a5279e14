//! Directory listings (`--listing`) through the real binary: what is listed and how, HTML and JSON, sorting,
//! escaping of hostile names, validators and conditional requests, freshness after a change, and a huge
//! directory that must not hold up the worker's other connections while it is listed, and the page as
//! headless Chromium renders it (issue 11).

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

const JSON: (&str, &str) = ("Accept", "application/json");

fn listed_site(tag: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    site.write("d/file10.txt", b"0123456789");
    site.write("d/file2.txt", b"01");
    site.write("d/big.bin", &vec![7u8; 5000]);
    site.write("d/.hidden", b"secret-ish");
    site.write("d/<img src=x onerror=alert(1)>.txt", b"x");
    site.write("d/a \"quoted\" & 'apos'.txt", b"q");
    site.mkdir("d/zsub");
    site.mkdir("d/asub");
    site.symlink("d/inside-link", "file2.txt");
    site.symlink("d/outside-link", "../../secret.txt");
    site.write("_headers", b"/d/*\n  X-Listing: yes\n");
    site.write("index.html", b"home");
    site
}

fn positions(body: &str, names: &[&str]) -> Vec<usize> {
    names.iter().map(|n| body.find(n).unwrap_or_else(|| panic!("{n} not listed:\n{body}"))).collect()
}

#[test]
fn without_listing_a_directory_without_index_stays_403() {
    let site = listed_site("listing-off");
    let server = site.serve(&[]);
    expect_status(&get(server.addr(), "/d/"), 403, "/d/ without --listing");
}

#[test]
fn the_html_listing_shows_what_the_site_would_serve_escaped_and_in_natural_order() {
    let site = listed_site("listing-html");
    let server = site.serve(&["--listing"]);
    let r = get(server.addr(), "/d/");
    expect_status(&r, 200, "/d/");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("X-Listing"), Some("yes"), "the path's _headers apply");
    assert_eq!(r.header("Vary"), Some("Accept"));
    let body = r.body_str();
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(body.contains("name=\"viewport\""), "usable on a phone");
    assert!(body.contains("href=\"../\""), "a link to the parent");
    // Directories first, then files, each in natural order (file2 before file10).
    let at = positions(&body, &["asub/", "zsub/", "big.bin", "file2.txt", "file10.txt"]);
    assert!(at.windows(2).all(|w| w[0] < w[1]), "order {at:?}:\n{body}");
    assert!(body.contains("inside-link"), "a link inside the root is listed");
    assert!(!body.contains("outside-link"), "a link leading outside the root is not");
    assert!(!body.contains(".hidden"), "hidden names follow --dotfiles");
    // A hostile name is text, never markup, and its link is percent-encoded.
    assert!(!body.contains("<img"), "raw markup from a name:\n{body}");
    assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;.txt"), "{body}");
    assert!(body.contains("href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""), "{body}");
    assert!(!body.contains("\"quoted\""), "quotes escaped in text and attributes");
    // The link of each entry leads to it.
    expect_status(&get(server.addr(), "/d/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt"), 200, "hostile link");
    // The root listing leaves out the rule files, which are never served.
    site.write("empty/.keep", b"");
    std::fs::remove_file(site.path.join("index.html")).expect("remove index");
    let root = get(server.addr(), "/").body_str();
    assert!(!root.contains("_headers") && root.contains("empty/"), "{root}");
}

#[test]
fn json_listing_sorting_and_dotfiles() {
    let site = listed_site("listing-json");
    let server = site.serve(&["--listing", "--dotfiles"]);
    let r = fetch(server.addr(), "GET", "/d/", &[JSON]);
    expect_status(&r, 200, "json");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let body = r.body_str();
    assert!(body.starts_with("{\"path\":\"/d/\",\"entries\":["), "{body}");
    assert!(body.contains("{\"name\":\"file10.txt\",\"type\":\"file\",\"size\":10,\"modified\":\"20"), "{body}");
    assert!(body.contains("{\"name\":\"asub\",\"type\":\"dir\""), "{body}");
    assert!(body.contains("\".hidden\""), "--dotfiles lists hidden names");
    // Server-side sorting: by size, largest first, directories still first.
    let r = fetch(server.addr(), "GET", "/d/?sort=size&order=desc", &[JSON]);
    let body = r.body_str();
    let at = positions(&body, &["\"asub\"", "\"big.bin\"", "\"file10.txt\"", "\"file2.txt\""]);
    assert!(at.windows(2).all(|w| w[0] < w[1]), "size order {at:?}:\n{body}");
    let html = get(server.addr(), "/d/?sort=name&order=desc").body_str();
    let at = positions(&html, &["zsub/", "asub/", "file10.txt", "file2.txt"]);
    assert!(at.windows(2).all(|w| w[0] < w[1]), "name desc {at:?}");
}

#[test]
fn a_listing_has_validators_answers_head_and_conditionals_and_follows_changes() {
    let site = listed_site("listing-cond");
    let server = site.serve(&["--listing"]);
    let r = get(server.addr(), "/d/");
    let etag = header(&r, "ETag", "etag").to_string();
    header(&r, "Last-Modified", "last-modified");
    let h = head(server.addr(), "/d/");
    expect_status(&h, 200, "HEAD");
    assert!(h.body.is_empty());
    assert_eq!(h.header("ETag"), Some(etag.as_str()));
    assert_eq!(content_length(&h, "HEAD"), r.body.len() as u64);
    let r304 = fetch(server.addr(), "GET", "/d/", &[("If-None-Match", etag.as_str())]);
    expect_status(&r304, 304, "If-None-Match");
    assert_eq!(r304.header("Cache-Control"), Some("public, max-age=0, must-revalidate"));
    let json = fetch(server.addr(), "GET", "/d/", &[JSON]);
    assert_ne!(json.header("ETag"), Some(etag.as_str()), "each representation has its own ETag");
    // A new file shows up at once, and the old ETag no longer matches.
    site.write("d/new-file.txt", b"new");
    let r = get(server.addr(), "/d/");
    assert!(r.body_str().contains("new-file.txt"), "a stale listing after a change");
    assert_ne!(r.header("ETag"), Some(etag.as_str()));
    expect_status(&fetch(server.addr(), "GET", "/d/", &[("If-None-Match", etag.as_str())]), 200, "old ETag");
}

#[test]
fn a_huge_directory_is_listed_without_holding_up_other_connections() {
    let site = TempRoot::new("listing-huge");
    site.write("small.txt", b"small");
    let dir = site.mkdir("huge");
    for i in 0..100_000 {
        std::fs::File::create(dir.join(format!("entry-{i:06}.txt"))).expect("create entry");
    }
    let server = site.serve(&["--listing", "--workers", "1"]);
    let mut big = server.connect();
    big.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let started = Instant::now();
    big.write_all(b"GET /huge/ HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        .expect("write");
    // While the listing is built, the same worker keeps answering a second client.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut big, &mut all).expect("read listing");
        (all, Instant::now())
    });
    let mut small = TcpStream::connect(server.addr()).expect("connect");
    small.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while !reader.is_finished() {
        let t = Instant::now();
        small.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").expect("write small");
        let mut buf = Vec::new();
        let r = read_response(&mut small, &mut buf, false).expect("small response");
        assert_eq!(r.status, 200);
        slowest = slowest.max(t.elapsed());
        answered += 1;
    }
    let (all, done) = reader.join().expect("reader");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 "), "{}", &text[..text.len().min(300)]);
    assert_eq!(text.matches("\"type\":\"file\"").count(), 100_000);
    assert!(text.find("entry-000002.txt") < text.find("entry-099999.txt"), "natural order");
    eprintln!(
        "100,000-entry listing: {:?}; {answered} small requests answered meanwhile, slowest {slowest:?}",
        done - started
    );
    assert!(answered >= 3, "only {answered} small requests were answered while the listing was built");
}

/// Chromium can take well over 10 s to start on a loaded machine.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// One headless Chromium run, as `clients::headless_chromium_renders_the_shipped_site` starts it, with a
/// profile of its own so that no run finds another's cache, lock or crash state.
fn chromium(profile: &Path, args: &[&str]) -> Exit {
    let user_data = format!("--user-data-dir={}", profile.display());
    let mut all = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        &user_data,
    ];
    all.extend_from_slice(args);
    run_tool("chromium", &all, None, CHROMIUM_TIMEOUT)
}

/// The last lines of a Chromium run's stderr, for a failure message.
fn chromium_tail(run: &Exit) -> String {
    run.stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
}

/// Screenshots `url` at `width`x`height` into `png`; returns the PNG's bytes once they are known to be a
/// PNG of exactly that size.
fn screenshot(site: &TempRoot, url: &str, png: &str, (width, height): (u32, u32)) -> Vec<u8> {
    let path = site.beside(png);
    let shot = format!("--screenshot={}", path.display());
    let size = format!("--window-size={width},{height}");
    let run = chromium(&site.beside(&format!("profile-{png}")), &[&shot, &size, url]);
    let bytes = fs::read(&path).unwrap_or_else(|e| {
        panic!("no screenshot {} (chromium exit {}): {e}\n{}", path.display(), run.status, chromium_tail(&run))
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 24, "{}: not a PNG", path.display());
    // The first chunk is IHDR, its width and height big-endian at bytes 16..24.
    assert_eq!(&bytes[12..16], b"IHDR", "{}: no IHDR first", path.display());
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((be(16), be(20)), (width, height), "{}: the screenshot is not the window's size", path.display());
    eprintln!("{url} at {width}x{height}: {} ({} bytes)", path.display(), bytes.len());
    bytes
}

/// Issue 11: a real browser parses the listing into a table of links whose hostile names stay text, and
/// paints it at a phone's and a desktop's window size. The PNGs are left beside the root, their paths on
/// stderr (`--nocapture`), for a person to look at while the test runs.
#[test]
fn headless_chromium_renders_the_listing_as_text_on_a_phone_and_a_desktop() {
    if !require_tool("chromium") {
        return;
    }
    let site = listed_site("listing-chromium");
    // An empty page: what a screenshot of nothing weighs, to tell a rendered listing from a blank one.
    site.write("blank.html", b"");
    let server = site.serve(&["--listing"]);
    let listing = format!("http://{}/d/", server.addr());

    let run = chromium(&site.beside("profile-dom"), &["--dump-dom", &listing]);
    let dom = run.stdout.as_str();
    assert!(
        dom.contains("<table>"),
        "no table in the DOM (chromium exit {}):\n{dom}\n{}",
        run.status,
        chromium_tail(&run)
    );
    // The DOM as Chromium serializes it: a name that reached it as text comes back escaped, so the hostile
    // name parsed into no element and no attribute.
    assert!(!dom.contains("<img"), "a name became markup:\n{dom}");
    let rows = [
        ("../", "../"),
        ("asub/", "asub/"),
        ("zsub/", "zsub/"),
        ("big.bin", "big.bin"),
        ("file2.txt", "file2.txt"),
        ("file10.txt", "file10.txt"),
        ("inside-link", "inside-link"),
        ("%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt", "&lt;img src=x onerror=alert(1)&gt;.txt"),
        ("a%20%22quoted%22%20%26%20%27apos%27.txt", "a \"quoted\" &amp; 'apos'.txt"),
    ];
    for (href, text) in rows {
        let link = format!("<tr><td><a href=\"{href}\">{text}</a></td>");
        assert!(dom.contains(&link), "no row {link}:\n{dom}");
    }
    let body = dom.split_once("<tbody>").map_or("", |(_, b)| b);
    assert_eq!(body.matches("<tr>").count(), rows.len(), "one row per entry and the parent's:\n{dom}");

    let blank = format!("http://{}/blank.html", server.addr());
    let mut listed_sizes = Vec::new();
    for (name, window) in [("phone", (390, 844)), ("desktop", (1200, 800))] {
        let shot = screenshot(&site, &listing, &format!("{name}.png"), window);
        let empty = screenshot(&site, &blank, &format!("{name}-blank.png"), window);
        // A blank page compresses to almost nothing; text, rules and links cannot.
        assert!(
            shot.len() * 2 >= empty.len() * 3,
            "the {name} listing ({} bytes) is not clearly bigger than a blank page ({} bytes)",
            shot.len(),
            empty.len()
        );
        listed_sizes.push(shot.len());
    }
    // Two windows lay the page out differently (the phone wraps names and dates): files of the same length
    // would mean one picture taken twice.
    assert_ne!(listed_sizes[0], listed_sizes[1], "the phone and desktop screenshots are the same size");
}
