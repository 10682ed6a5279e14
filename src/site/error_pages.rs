//! Answers for paths that lead nowhere: the single-page-app fallback for navigations to missing paths, the
//! site's own error pages (a `404.html` at the root, or `--error-page`), and the built-in short body.
//!
//! A page is an ordinary file under the root, served through the open-file cache; when it is missing or
//! unreadable the built-in body is used, so an error page can never turn into another error or leak
//! anything the request could not have reached itself.

use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Instant;

use crate::engine::Reply;
use crate::http::request::Request;
use crate::http::response;
use crate::site::cache::{CachedFile, Deps};
use crate::site::files::{self, Extra};
use crate::site::{is_head, Site};
use crate::sys::FileKind;

/// Answers a GET/HEAD whose path led to `status`, and returns the status sent. `extra` carries the lines of
/// the site's rules for the requested path.
pub fn answer(site: &mut Site, req: &Request, reply: &mut Reply<'_>, status: u16, extra: &Extra<'_>) -> u16 {
    let cfg = Rc::clone(&site.cfg);
    let now = reply.now();
    // Only navigations: a missing script or image must stay a 404, never become an HTML page.
    if status == 404 && req.headers.accept.html {
        if let Some(file) = cfg.site.fallback.as_deref().and_then(|rel| site_file(site, rel, now, Some(req))) {
            return files::serve_file(req, reply, &file, extra);
        }
    }
    let page = cfg.site.error_pages.iter().find(|(s, _)| *s == status).map(|(_, rel)| rel.as_slice());
    match page.and_then(|rel| site_file(site, rel, now, None)) {
        Some(page) => serve_page(reply, status, &page, extra, is_head(req)),
        None => reply.simple_with_lines(status, &[], extra.lines, is_head(req)),
    }
}

/// The cached form of the regular file at `rel` (root-relative), opened beneath the root like any request.
/// `served_for` is the request it will be served to as a file (its compressed forms are then looked for);
/// None for a page that is only the body of an error.
pub fn site_file(site: &mut Site, rel: &[u8], now: Instant, served_for: Option<&Request>) -> Option<Rc<CachedFile>> {
    let mut key = Vec::with_capacity(rel.len() + 1);
    key.push(b'/');
    key.extend_from_slice(rel);
    let root = site.root.as_fd();
    if let Some(file) = site.files.get(root, &key, now) {
        if let Some(req) = served_for {
            files::refresh_compressed(site, req, &key, &file, now);
        }
        return Some(file);
    }
    let parent = memchr::memrchr(b'/', rel).map_or(&b""[..], |i| &rel[..i]);
    let mut deps = Deps::default();
    deps.add(site.files.watch_dir(root, parent, now));
    let opened = site.files.open(root, rel, site.cfg.no_symlinks).ok()?;
    if opened.info.kind != FileKind::Regular {
        return None;
    }
    let file = site.files.build(root, &site.cfg, rel, opened);
    site.files.insert(&key, Rc::clone(&file), deps, now);
    if let Some(req) = served_for {
        files::refresh_compressed(site, req, &key, &file, now);
    }
    Some(file)
}

/// The page's bytes as the body of a `status` response: its own content type, no validators (they would
/// describe the page, not the missing resource).
pub fn serve_page(reply: &mut Reply<'_>, status: u16, page: &CachedFile, extra: &Extra<'_>, head_only: bool) -> u16 {
    let rep = &page.identity;
    let size = rep.info.size;
    let body = rep.body.as_deref().filter(|_| !head_only);
    reply.head(status, |buf| {
        buf.extend_from_slice(extra.lines);
        if !extra.rule_content_type {
            response::header(buf, "Content-Type", &page.content_type);
        }
        response::header(buf, "X-Content-Type-Options", "nosniff");
        response::content_length(buf, size);
        response::end(buf);
        if let Some(body) = body {
            buf.extend_from_slice(body);
        }
    });
    if let (false, None, Some(fd)) = (head_only, body, &rep.fd) {
        reply.file(Rc::clone(fd), 0, size);
    }
    status
}
