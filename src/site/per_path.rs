//! Applying the site's per-path rules to a GET or HEAD: the `_headers` lines for the requested path go on
//! whatever answers it, and a `_redirects` rule redirects, rewrites (200) or serves a 404 page — when nothing
//! exists at the path, or always for a forced (`!`) rule, as on Netlify.
//!
//! Only used when the site has rules: a site without them takes the plain path in `files`, which costs no
//! decoding before the cache lookup.

use std::rc::Rc;

use crate::engine::{Answer, Reply};
use crate::http::request::Request;
use crate::site::cache::CachedFile;
use crate::site::error_pages;
use crate::site::files::{self, Extra, Found};
use crate::site::resolve;
use crate::site::rules::Redirect;
use crate::site::{is_head, Site};

pub fn respond(site: &mut Site, req: &Request, reply: &mut Reply<'_>) -> Answer {
    let Ok(resolved) = resolve::resolve(&req.target) else {
        return Answer::Sent(reply.simple(400, &[], is_head(req)));
    };
    let mut path = String::with_capacity(resolved.rel.len() + 2);
    path.push('/');
    path.push_str(&String::from_utf8_lossy(&resolved.rel));
    if resolved.trailing_slash && !resolved.rel.is_empty() {
        path.push('/');
    }
    let cfg = Rc::clone(&site.cfg);
    let mut lines = Vec::new();
    let set = site.rules.headers_for(&path, &mut lines);
    let sets = |name: &str| set.iter().any(|s| s == name);
    let extra = Extra {
        cache_control: if sets("cache-control") { None } else { cfg.site.cache_control.as_deref() },
        lines: &lines,
        rule_content_type: sets("content-type"),
    };
    let rule = site.rules.redirect_for(&path, resolved.query.as_deref());
    if let Some(rule) = rule.as_ref().filter(|r| r.force) {
        return Answer::Sent(apply(site, req, reply, rule, &extra));
    }
    let found = files::find(site, req, reply.now());
    match (found, rule) {
        (Found::Status(404), Some(rule)) => Answer::Sent(apply(site, req, reply, &rule, &extra)),
        (found, _) => files::send(site, req, reply, found, &extra),
    }
}

/// Carries out a matching `_redirects` rule. A rewrite's target is served as it is, never matched against the
/// rules again, so no set of rules can loop.
fn apply(site: &mut Site, req: &Request, reply: &mut Reply<'_>, rule: &Redirect, extra: &Extra<'_>) -> u16 {
    let head_only = is_head(req);
    if rule.status != 200 && rule.status != 404 {
        return reply.simple_with_lines(rule.status, &[("Location", &rule.target)], extra.lines, head_only);
    }
    let now = reply.now();
    let served_for = (rule.status == 200).then_some(req);
    let file = target_file(site, &rule.target, now, served_for);
    match (rule.status, file) {
        (200, Some(file)) => files::serve_file(req, reply, &file, extra),
        (_, Some(page)) => error_pages::serve_page(reply, 404, &page, extra, head_only),
        // The target is missing: the path leads nowhere after all.
        (_, None) => error_pages::answer(site, req, reply, 404, extra),
    }
}

/// The file a rewrite names: a file, or for a directory path (ending in '/') its index file.
fn target_file(
    site: &mut Site,
    target: &str,
    now: std::time::Instant,
    served_for: Option<&Request>,
) -> Option<Rc<CachedFile>> {
    let rel = target.trim_start_matches('/');
    if !rel.is_empty() && !rel.ends_with('/') {
        return error_pages::site_file(site, rel.as_bytes(), now, served_for);
    }
    let cfg = Rc::clone(&site.cfg);
    cfg.index.iter().find_map(|name| {
        let mut path = rel.as_bytes().to_vec();
        path.extend_from_slice(name.as_bytes());
        error_pages::site_file(site, &path, now, served_for)
    })
}
