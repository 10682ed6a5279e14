//! Answering GET and HEAD: from the parsed request to a queued response for a file, a directory or an error.
//!
//! The fast path is a cache hit on the request path: the head is the status line, Date, and pre-rendered
//! lines, and a small body is copied from memory, so the response leaves in one write with no file syscalls.
//! Otherwise the order follows RFC 9110: resolve the target, open beneath the root, redirect or pick an index
//! for directories, build (and cache) the file's representations, then choose a precompressed variant,
//! evaluate preconditions (304/412) and ranges (206/416), and queue head and body (sendfile for large ones).

use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Instant;

use crate::engine::{Answer, Reply};
use crate::http::conditional::{self, Precondition};
use crate::http::range::{self, ByteRange, RangeOutcome};
use crate::http::request::Request;
use crate::http::response;
use crate::site::cache::{CachedFile, Compressed, Deps, Known, Representation};
use crate::site::encoding::{self, ContentCoding};
use crate::site::open::{OpenError, Opened};
use crate::site::resolve::{self, ResolvedPath};
use crate::site::{error_pages, is_head, listings, per_path, write, Site, RULE_FILES};
use crate::sys::{self, FileKind};

/// Where a GET or HEAD of a path leads, found before anything is written: a rule may still take over a path
/// that leads to nothing.
pub enum Found {
    File(Rc<CachedFile>),
    /// A status answered by `error_pages` (the fallback, the site's page, or the built-in body).
    Status(u16),
    /// A 301 to this Location (query included).
    Redirect(String),
    /// A directory without an index, listed (`--listing`): its root-relative path and mtime.
    Listing {
        rel: Vec<u8>,
        mtime: i64,
        watched: bool,
    },
}

/// Queues the response to a GET or HEAD (or defers it: a huge listing).
pub fn respond(site: &mut Site, req: &Request, reply: &mut Reply<'_>) -> Answer {
    if !site.rules.is_empty() {
        return per_path::respond(site, req, reply);
    }
    let cfg = Rc::clone(&site.cfg);
    let extra = Extra { cache_control: cfg.site.cache_control.as_deref(), ..Extra::default() };
    let found = find(site, req, reply.now());
    send(site, req, reply, found, &extra)
}

/// Writes the answer `find` found.
pub fn send(site: &mut Site, req: &Request, reply: &mut Reply<'_>, found: Found, extra: &Extra<'_>) -> Answer {
    Answer::Sent(match found {
        Found::File(file) => serve_file(req, reply, &file, extra),
        Found::Status(status) => error_pages::answer(site, req, reply, status, extra),
        Found::Redirect(location) => {
            reply.simple_with_lines(301, &[("Location", &location)], extra.lines, is_head(req))
        }
        Found::Listing { rel, mtime, watched } => {
            return listings::answer(site, req, reply, &rel, mtime, watched, extra);
        }
    })
}

/// The cache first (a hit costs no syscall), then the filesystem; what the filesystem says is cached. The
/// cache is keyed by the resolved path, so every spelling of a path shares one entry; a path already in its
/// resolved form (the usual case) is its own key and is looked up without decoding anything.
pub fn find(site: &mut Site, req: &Request, now: Instant) -> Found {
    let (path, query) = match req.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (req.target.as_str(), None),
    };
    let mut resolved = None;
    let owned_key;
    let key: &[u8] = match plain_key(path) {
        Some(key) => key,
        None => match resolve::resolve(&req.target) {
            Ok(r) => {
                owned_key = key_of(&r);
                resolved = Some(r);
                &owned_key
            }
            Err(_) => return Found::Status(400),
        },
    };
    if let Some(file) = site.files.get(site.root.as_fd(), key, now) {
        refresh_compressed(site, req, key, &file, now);
        return Found::File(file);
    }
    match site.files.get_known(key, now) {
        Some(Known::Status(status)) => return Found::Status(status),
        // A cached Location has no query; a request with one is redirected the long way, keeping it.
        Some(Known::Redirect(location)) if query.is_none() => return Found::Redirect(location.to_string()),
        _ => {}
    }
    let resolved = match resolved.map_or_else(|| resolve::resolve(&req.target), Ok) {
        Ok(r) => r,
        Err(_) => return Found::Status(400),
    };
    let (found, deps) = lookup(site, resolved, now);
    match found {
        Lookup::File { rel, opened } => {
            let root = site.root.as_fd();
            let file = site.files.build(root, &site.cfg, &rel, opened);
            site.files.insert(key, Rc::clone(&file), deps, now);
            refresh_compressed(site, req, key, &file, now);
            Found::File(file)
        }
        Lookup::Status(status) => {
            if status != 500 {
                site.files.insert_known(key, Known::Status(status), deps, now);
            }
            Found::Status(status)
        }
        Lookup::Redirect { location, bare } => {
            if query.is_none() {
                site.files.insert_known(key, Known::Redirect(bare.into()), deps, now);
            }
            Found::Redirect(location)
        }
        // Not remembered: whether a listing is current is the listing cache's business.
        Lookup::Listing { rel, mtime } => Found::Listing { rel, mtime, watched: deps.watched },
    }
}

/// A file that may have compressed forms, requested by a client that accepts one, and whose forms are not
/// ready: look for them, or ask for them (never waiting). A file whose forms are ready costs one check here.
pub fn refresh_compressed(site: &mut Site, req: &Request, key: &[u8], file: &Rc<CachedFile>, now: Instant) {
    let Some(cell) = &file.compressed else { return };
    if matches!(*cell.borrow(), Compressed::Ready { .. }) {
        return;
    }
    if encoding::accepts_compression(req.headers.accept_encoding.as_deref()) {
        site.files.refresh_compressed(key, file, now);
    }
}

/// The cache key of a resolved path: "/" + rel, and a final "/" when it named a directory (`/d` redirects,
/// `/d/` serves the index: two answers).
pub fn key_of(resolved: &ResolvedPath) -> Vec<u8> {
    let mut key = Vec::with_capacity(resolved.rel.len() + 2);
    key.push(b'/');
    key.extend_from_slice(&resolved.rel);
    if resolved.trailing_slash && !resolved.rel.is_empty() {
        key.push(b'/');
    }
    key
}

/// The path itself when resolving it could only give it back unchanged (so it is its own key): it starts
/// with '/', and has no '%' escape, no empty segment ("//") and no "." or ".." segment.
fn plain_key(path: &str) -> Option<&[u8]> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    // One pass, no call per byte (measured: memchr's iterators cost more than the scan on paths this
    // short). `dots` counts the dots since the last '/', or is None once the segment has anything else.
    let mut dots = Some(0u8);
    for &b in &bytes[1..] {
        dots = match (b, dots) {
            (b'%' | 0, _) => return None,
            // An empty, "." or ".." segment ends here.
            (b'/', Some(0..=2)) => return None,
            (b'/', _) => Some(0),
            (b'.', Some(n)) => Some(n.saturating_add(1)),
            _ => None,
        };
    }
    // The last segment may be empty ("/d/", "/") but not "." or "..".
    match dots {
        Some(1 | 2) => None,
        _ => Some(bytes),
    }
}

/// What a request path leads to, before any request header other than the target is considered.
enum Lookup {
    File {
        rel: Vec<u8>,
        opened: Opened,
    },
    /// `location` keeps the request's query; `bare` is the same without it.
    Redirect {
        location: String,
        bare: String,
    },
    Status(u16),
    /// A directory without an index, with `--listing`.
    Listing {
        rel: Vec<u8>,
        mtime: i64,
    },
}

/// The uncached path: hidden names, openat2 beneath the root, directories. Also says which watched
/// directories the answer depends on (none for answers that depend on the path alone).
fn lookup(site: &mut Site, resolved: ResolvedPath, now: Instant) -> (Lookup, Deps) {
    if !site.cfg.dotfiles && resolve::is_hidden(&resolved.rel) {
        return (Lookup::Status(404), Deps::default());
    }
    // The site's rule files configure the server, and an upload's temporary file is not yet anything: neither
    // is content (even with --dotfiles).
    if RULE_FILES.contains(&resolved.rel.as_slice()) || write::is_temporary(&resolved.rel) {
        return (Lookup::Status(404), Deps::default());
    }
    // Watch before opening, so no edit can fall between what we read and what we are told about.
    let root = site.root.as_fd();
    let parent = memchr::memrchr(b'/', &resolved.rel).map_or(&b""[..], |i| &resolved.rel[..i]);
    let mut deps = Deps::default();
    deps.add(site.files.watch_dir(root, parent, now));
    if resolved.trailing_slash {
        deps.add(site.files.watch_dir(root, &resolved.rel, now));
    }
    let clean_urls = site.cfg.site.clean_urls;
    let opened = match site.files.open(root, &resolved.rel, site.cfg.no_symlinks) {
        Ok(o) => o,
        Err(OpenError::NotFound) if clean_urls && !resolved.trailing_slash => {
            return (clean_url_file(site, &resolved), deps);
        }
        Err(e) => return (Lookup::Status(e.status()), deps),
    };
    let found = match opened.info.kind {
        FileKind::Directory => lookup_index(site, &resolved, opened.info.mtime_sec),
        _ if resolved.trailing_slash => Lookup::Status(404),
        FileKind::Regular if clean_urls && html_stem(&resolved.rel).is_some() => clean_url_redirect(&resolved),
        _ => Lookup::File { rel: resolved.rel, opened },
    };
    (found, deps)
}

/// `--clean-urls`: `/about` with no `about` is `about.html`, if that is a regular file.
fn clean_url_file(site: &mut Site, resolved: &ResolvedPath) -> Lookup {
    let mut rel = resolved.rel.clone();
    rel.extend_from_slice(b".html");
    match site.files.open(site.root.as_fd(), &rel, site.cfg.no_symlinks) {
        Ok(opened) if opened.info.kind == FileKind::Regular => Lookup::File { rel, opened },
        Ok(_) | Err(OpenError::NotFound) => Lookup::Status(404),
        Err(e) => Lookup::Status(e.status()),
    }
}

/// `--clean-urls`: `/about.html` moves to `/about` (and `/docs/index.html` to `/docs/`), the query kept.
fn clean_url_redirect(resolved: &ResolvedPath) -> Lookup {
    let stem = html_stem(&resolved.rel).unwrap_or_default();
    let (rel, directory) = match stem.strip_suffix(b"index") {
        Some(dir) if dir.is_empty() || dir.ends_with(b"/") => (dir, true),
        _ => (stem, false),
    };
    Lookup::Redirect {
        location: resolve::path_location(rel, directory, resolved.query.as_deref()),
        bare: resolve::path_location(rel, directory, None),
    }
}

/// The path without its `.html` extension, when its last segment has a name before it.
fn html_stem(rel: &[u8]) -> Option<&[u8]> {
    let stem = rel.strip_suffix(b".html")?;
    (!stem.is_empty() && !stem.ends_with(b"/")).then_some(stem)
}

fn lookup_index(site: &mut Site, resolved: &ResolvedPath, mtime: i64) -> Lookup {
    if !resolved.trailing_slash {
        let bare = resolve::directory_redirect(&ResolvedPath { query: None, ..resolved.clone() });
        return Lookup::Redirect { location: resolve::directory_redirect(resolved), bare };
    }
    for name in &site.cfg.index {
        let mut path = resolved.rel.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.as_bytes());
        match site.files.open(site.root.as_fd(), &path, site.cfg.no_symlinks) {
            Ok(o) if o.info.kind == FileKind::Regular => return Lookup::File { rel: path, opened: o },
            Ok(_) | Err(OpenError::NotFound) => continue,
            Err(e) => return Lookup::Status(e.status()),
        }
    }
    if site.cfg.site.listing {
        return Lookup::Listing { rel: resolved.rel.clone(), mtime };
    }
    // A directory without an index is not listed.
    Lookup::Status(403)
}

/// The form to send: the site's current siblings and the compressor's forms compete on the client's weights,
/// then size; identity when none is acceptable (or none exists).
fn choose<'a>(req: &Request, file: &'a CachedFile, compressed: Option<&'a [Representation]>) -> &'a Representation {
    let compressed = compressed.unwrap_or_default();
    if file.siblings.is_empty() && compressed.is_empty() {
        return &file.identity;
    }
    // At most three siblings and three compressed forms: sized on the stack, no allocation per request.
    let mut sizes = [(ContentCoding::Identity, 0u64); 6];
    let mut n = 0;
    for (slot, form) in sizes.iter_mut().zip(file.siblings.iter().chain(compressed)) {
        *slot = (form.coding, form.info.size);
        n += 1;
    }
    match encoding::negotiate(req.headers.accept_encoding.as_deref(), &sizes[..n]) {
        Some(i) => file.siblings.iter().chain(compressed).nth(i).unwrap_or(&file.identity),
        None => &file.identity,
    }
}

/// Header lines a file response carries besides the file's own: its Cache-Control (unless a rule sets one)
/// and the lines of the site's per-path rules, which also go on errors about the path.
#[derive(Clone, Copy, Default)]
pub struct Extra<'a> {
    pub cache_control: Option<&'a str>,
    pub lines: &'a [u8],
    /// A rule sets Content-Type: the file's own is left out.
    pub rule_content_type: bool,
}

impl Extra<'_> {
    /// The caching lines of 200, 206 and 304 responses.
    fn write(&self, buf: &mut Vec<u8>) {
        if let Some(cc) = self.cache_control {
            response::header(buf, "Cache-Control", cc);
        }
        buf.extend_from_slice(self.lines);
    }
}

pub fn serve_file(req: &Request, reply: &mut Reply<'_>, file: &CachedFile, extra: &Extra<'_>) -> u16 {
    let head_only = is_head(req);
    let compressed = file.compressed_forms();
    let rep = choose(req, file, compressed.as_deref());
    let size = rep.info.size;
    let mtime = rep.info.mtime_sec;
    // The forms of a file share its Last-Modified, so a date in If-Range cannot say which form's bytes the
    // client holds: a resumed identity download must not get a range of gzip bytes, nor the other way round.
    // Only an ETag can, for a file with forms.
    let date_validates = (!file.varies()).then_some(mtime);
    // Every response about a file with variants varies by Accept-Encoding, errors included.
    let vary: &[(&str, &str)] = if file.varies() { &[("Vary", "Accept-Encoding")] } else { &[] };

    match conditional::evaluate(&req.headers, &rep.etag, mtime, true) {
        Precondition::Proceed => {}
        Precondition::NotModified => return not_modified(reply, rep, extra),
        Precondition::Failed => return reply.simple_with_lines(412, vary, extra.lines, head_only),
    }

    let ranges = match req.headers.range.as_deref() {
        None => RangeOutcome::Ignore,
        Some(_)
            if req
                .headers
                .if_range
                .as_deref()
                .is_some_and(|ir| !conditional::if_range_matches(ir, &rep.etag, date_validates)) =>
        {
            RangeOutcome::Ignore
        }
        Some(header) => range::evaluate(header, size),
    };
    match ranges {
        RangeOutcome::Ignore => {
            let body_in_memory = rep.body.as_deref().filter(|_| !head_only);
            reply.head(200, |buf| {
                buf.extend_from_slice(&rep.validator_lines);
                extra.write(buf);
                if extra.rule_content_type {
                    buf.extend_from_slice(&rep.entity_lines);
                    response::content_length(buf, size);
                } else {
                    buf.extend_from_slice(&rep.tail_200);
                }
                response::end(buf);
                if let Some(body) = body_in_memory {
                    buf.extend_from_slice(body);
                }
            });
            if let (false, None, Some(fd)) = (head_only, body_in_memory, &rep.fd) {
                reply.file(Rc::clone(fd), rep.offset, size);
            }
            200
        }
        RangeOutcome::Single(r) => {
            let in_memory = rep.body.as_deref().and_then(|b| b.get(r.start as usize..=r.end as usize));
            reply.head(206, |buf| {
                buf.extend_from_slice(&rep.validator_lines);
                extra.write(buf);
                buf.extend_from_slice(&rep.entity_lines);
                if !extra.rule_content_type {
                    response::header(buf, "Content-Type", &file.content_type);
                }
                response::header(buf, "Content-Range", &range::content_range(r, size));
                response::content_length(buf, r.len());
                response::end(buf);
                match in_memory {
                    Some(part) if !head_only => buf.extend_from_slice(part),
                    _ => {}
                }
            });
            if let (false, None, Some(fd)) = (head_only, in_memory, &rep.fd) {
                reply.file(Rc::clone(fd), rep.offset + r.start, r.len());
            }
            206
        }
        RangeOutcome::Multi(parts) => send_multipart(reply, rep, extra, &file.content_type, &parts, head_only),
        RangeOutcome::Unsatisfiable => {
            let cr = format!("bytes */{size}");
            let mut fields = vec![("Content-Range", cr.as_str())];
            fields.extend_from_slice(vary);
            reply.simple_with_lines(416, &fields, extra.lines, head_only)
        }
    }
}

/// 304: the validators and caching headers the 200 would carry, no body.
fn not_modified(reply: &mut Reply<'_>, rep: &Representation, extra: &Extra<'_>) -> u16 {
    reply.head(304, |buf| {
        buf.extend_from_slice(&rep.validator_lines);
        extra.write(buf);
        response::end(buf);
    });
    304
}

/// 206 multipart/byteranges: each part is a small header from memory and its range through sendfile.
fn send_multipart(
    reply: &mut Reply<'_>,
    rep: &Representation,
    extra: &Extra<'_>,
    content_type: &str,
    parts: &[ByteRange],
    head_only: bool,
) -> u16 {
    let size = rep.info.size;
    let boundary = boundary();
    let part_heads: Vec<String> = parts
        .iter()
        .map(|&r| {
            format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
                range::content_range(r, size)
            )
        })
        .collect();
    let closing = format!("\r\n--{boundary}--\r\n");
    let total: u64 = part_heads.iter().map(|h| h.len() as u64).sum::<u64>()
        + parts.iter().map(|r| r.len()).sum::<u64>()
        + closing.len() as u64;

    reply.head(206, |buf| {
        buf.extend_from_slice(&rep.validator_lines);
        extra.write(buf);
        buf.extend_from_slice(&rep.entity_lines);
        response::header(buf, "Content-Type", &format!("multipart/byteranges; boundary={boundary}"));
        response::content_length(buf, total);
        response::end(buf);
    });
    if head_only {
        return 206;
    }
    for (r, head) in parts.iter().zip(&part_heads) {
        reply.write(|buf| buf.extend_from_slice(head.as_bytes()));
        // A small body is in memory (and its descriptor closed); a large one is sent from the file.
        match (&rep.body, &rep.fd) {
            (Some(body), _) => {
                let part = body.get(r.start as usize..=r.end as usize).unwrap_or_default();
                reply.write(|buf| buf.extend_from_slice(part));
            }
            (None, Some(fd)) => reply.file(Rc::clone(fd), rep.offset + r.start, r.len()),
            (None, None) => {}
        }
    }
    reply.write(|buf| buf.extend_from_slice(closing.as_bytes()));
    206
}

/// A random multipart boundary, so file content cannot be made to collide with it.
fn boundary() -> String {
    sys::random_hex(12).unwrap_or_else(|_| {
        // getrandom does not fail after early boot; the clock is an acceptable fallback for a boundary.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        format!("{t:024x}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_path_has_one_key_and_plain_paths_are_their_own() {
        let key = |t: &str| key_of(&resolve::resolve(t).unwrap());
        for t in ["/./index.html", "/a/../index.html", "/././index.html", "//index.html", "/%69ndex.html"] {
            assert_eq!(key(t), b"/index.html", "{t}");
            assert_eq!(plain_key(t), None, "{t}");
        }
        assert_eq!(key("/d/."), b"/d/");
        assert_eq!(key("/d/x/.."), b"/d/");
        assert_eq!(key("/."), b"/");
        for t in ["/", "/index.html", "/d/", "/d", "/a/b/c.txt", "/.well-known/x", "/a.b/..c/c..", "/d/"] {
            assert_eq!(plain_key(t), Some(t.as_bytes()), "{t}");
            assert_eq!(key(t), t.as_bytes(), "{t}: its own key");
        }
        for t in ["/a//b", "/a/./b", "/a/../b", "/a/.", "/..", "/a%2fb", "x", ""] {
            assert_eq!(plain_key(t), None, "{t}");
        }
    }
}
