//! The bundled site in `www/` served by the real binary: every file comes back byte-exact with its
//! type and length over GET, HEAD gives the same head without a body, directories serve their
//! index, and every link in the pages resolves. This is what a person sees after `cargo run`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::support::*;

fn www() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www")
}

/// Every regular file under `dir`, as (URL path, filesystem path).
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())).flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let ty = entry.file_type().expect("file type");
        if ty.is_dir() {
            files_under(&path, &format!("{prefix}{name}/"), out);
        } else if ty.is_file() && !name.starts_with('.') {
            out.push((format!("{prefix}{name}"), path));
        }
    }
}

fn site_files() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    files_under(&www(), "/", &mut files);
    assert!(!files.is_empty(), "www/ is empty");
    files
}

/// The MIME essence expected for an extension, where the spec pins it (None: any type is fine).
fn expected_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "txt" => "text/plain",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

fn assert_type(url: &str, content_type: Option<&str>) {
    let ct = content_type.unwrap_or_else(|| panic!("{url}: no Content-Type"));
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if let Some(want) = expected_type(url) {
        assert_eq!(essence, want, "{url}: Content-Type {ct:?}");
    }
    if essence.starts_with("text/") {
        assert!(
            ct.to_ascii_lowercase().replace(' ', "").contains(";charset=utf-8"),
            "{url}: text types carry charset=utf-8, got {ct:?}"
        );
    }
}

fn start_www() -> Server {
    Server::start(&www(), &[])
}

#[test]
fn www_has_a_real_small_site() {
    let files: Vec<String> = site_files().into_iter().map(|(u, _)| u).collect();
    let has = |pred: &dyn Fn(&str) -> bool| files.iter().any(|f| pred(f));
    assert!(files.contains(&"/index.html".to_string()), "{files:?}");
    assert!(has(&|f| f.ends_with(".css")), "a stylesheet: {files:?}");
    assert!(has(&|f| f.ends_with(".js")), "a script: {files:?}");
    assert!(
        has(&|f| [".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp", ".ico"].iter().any(|e| f.ends_with(e))),
        "an image: {files:?}"
    );
    assert!(has(&|f| f.ends_with(".txt")), "a plain-text file: {files:?}");
    assert!(
        has(&|f| f.matches('/').count() >= 2 && f.ends_with("/index.html")),
        "a subfolder with its own index.html: {files:?}"
    );
}

#[test]
fn get_every_file_with_type_and_length() {
    let server = start_www();
    for (url, path) in site_files() {
        let want = fs::read(&path).expect("read site file");
        let resp = get(server.addr(), &url);
        assert_eq!(resp.status, 200, "GET {url}");
        assert_eq!(resp.content_length(), Some(want.len() as u64), "GET {url} Content-Length");
        assert!(resp.body == want, "GET {url}: body differs from {}", path.display());
        assert_type(&url, resp.header("content-type"));
        for name in ["date", "server", "last-modified"] {
            assert!(resp.header(name).is_some(), "GET {url}: no {name} header");
        }
        assert_eq!(resp.header("server"), Some("staticd"), "GET {url}");
    }
}

#[test]
fn head_of_every_file_matches_get_without_a_body() {
    let server = start_www();
    for (url, path) in site_files() {
        let len = fs::metadata(&path).expect("stat").len();
        // HEAD then GET on one connection: a stray HEAD body would corrupt the second response.
        let mut stream = server.connect();
        let raw =
            format!("HEAD {url} HTTP/1.1\r\nHost: t\r\n\r\nGET {url} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        stream.write_all(raw.as_bytes()).expect("write");
        let mut buf = Vec::new();
        let h = read_response(&mut stream, &mut buf, true).expect("HEAD response");
        let g = read_response(&mut stream, &mut buf, false).expect("GET response after HEAD");
        assert_eq!(h.status, 200, "HEAD {url}");
        assert_eq!(g.status, 200, "GET {url} after HEAD (a HEAD body would break this)");
        assert_eq!(h.content_length(), Some(len), "HEAD {url} Content-Length");
        assert_type(&url, h.header("content-type"));
        for name in ["content-type", "content-length", "last-modified", "server"] {
            assert_eq!(h.header(name), g.header(name), "HEAD {url} vs GET: {name}");
        }
        expect_clean_close(&mut stream, buf, &format!("HEAD then GET {url}"));
    }
}

#[test]
fn slash_and_subfolders_serve_their_index() {
    let server = start_www();
    let index = fs::read(www().join("index.html")).expect("www/index.html");
    let resp = get(server.addr(), "/");
    assert_eq!(resp.status, 200, "GET /");
    assert!(resp.body == index, "GET / is not www/index.html");
    assert_type("/index.html", resp.header("content-type"));

    for (url, path) in site_files() {
        let Some(dir) = url.strip_suffix("index.html") else {
            continue;
        };
        if dir == "/" {
            continue;
        }
        let want = fs::read(&path).expect("read index");
        let resp = get(server.addr(), dir);
        assert_eq!(resp.status, 200, "GET {dir}");
        assert!(resp.body == want, "GET {dir} is not {url}");
        let bare = dir.trim_end_matches('/');
        let resp = get(server.addr(), bare);
        assert_eq!(resp.status, 301, "GET {bare} should redirect to {dir}");
        assert_eq!(resp.header("location"), Some(dir), "GET {bare}");
    }
}

#[test]
fn missing_file_is_404() {
    let server = start_www();
    for url in ["/no-such-file.html", "/no/such/dir/", "/index.html/extra"] {
        let resp = get(server.addr(), url);
        assert_eq!(resp.status, 404, "GET {url}");
        assert!(resp.body_str().contains("404"), "GET {url}: body {:?}", resp.body_str());
    }
}

/// `href="…"` and `src="…"` values in a page (good enough for our own hand-written HTML).
fn links_in(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attr) {
            rest = &rest[start + attr.len()..];
            if let Some(end) = rest.find('"') {
                links.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    links
}

/// Resolves a relative link against the page's URL path (no `..` games in our own site).
fn resolve(page: &str, link: &str) -> Option<String> {
    if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
        return None;
    }
    let link = link.split(['#', '?']).next().unwrap_or_default();
    if link.is_empty() {
        return None;
    }
    if link.starts_with('/') {
        return Some(link.to_string());
    }
    let base = &page[..page.rfind('/').map_or(0, |i| i + 1)];
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for seg in link.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let trailing = if link.ends_with('/') { "/" } else { "" };
    Some(format!("/{}{}", parts.join("/"), trailing).replace("//", "/"))
}

#[test]
fn every_local_link_in_the_pages_resolves() {
    let server = start_www();
    let mut checked = 0;
    for (url, path) in site_files() {
        if !url.ends_with(".html") {
            continue;
        }
        let html = fs::read_to_string(&path).expect("page is UTF-8");
        for link in links_in(&html) {
            let Some(target) = resolve(&url, &link) else {
                continue;
            };
            let resp = get(server.addr(), &target);
            assert_eq!(resp.status, 200, "{url} links to {link:?} ({target}), which is not served");
            checked += 1;
        }
    }
    assert!(checked >= 4, "index.html should link a stylesheet, a script, an image and a page");
}
