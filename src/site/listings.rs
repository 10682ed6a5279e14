//! Answering with a directory listing (`--listing`): building pages without holding up the worker, caching
//! them until the directory changes, and serving them as ordinary responses (ETag over the page, Last-Modified
//! of the directory, HEAD, conditional requests, the `_headers` lines of the path).
//!
//! A page is made by a job in stages — read the directory (`DEFAULT_BATCH` entries a step), sort, render
//! (`RENDER_BATCH` rows a step) — each stage step a few milliseconds even for 100,000 entries. A request
//! starts its job and runs one step at once, which finishes any directory of ordinary size; otherwise the
//! request is answered `Later` and the engine calls `Site::work`, one step a turn, between other
//! connections' events, until the page is ready.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::engine::{Answer, Reply};
use crate::http::conditional::{self, Precondition};
use crate::http::date::format_http_date;
use crate::http::request::Request;
use crate::http::response;
use crate::site::files::Extra;
use crate::site::listing::{self, DirScan, Entry, Order, ScanOptions, SortKey};
use crate::site::{is_head, Site, RULE_FILES};

/// A page of an unwatched directory is rebuilt after this long (a watched one lives until it changes).
const UNWATCHED_MAX_AGE: Duration = Duration::from_secs(1);
/// Most pages kept; beyond, the cache starts again (a crawler walking sort orders cannot grow it forever).
const MAX_PAGES: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Format {
    Html,
    Json,
}

/// One rendering of one directory.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct PageKey {
    rel: Vec<u8>,
    format: Format,
    key: SortKey,
    order: Order,
}

struct Page {
    body: Vec<u8>,
    etag: String,
    mtime: i64,
    built_at: Instant,
    watched: bool,
}

enum Stage {
    Scan(Box<DirScan>),
    Sort(Vec<Entry>),
    /// `hash` covers `body` so far, so the ETag costs nothing extra at the end.
    Render {
        entries: Vec<Entry>,
        body: Vec<u8>,
        next: usize,
        hash: u64,
    },
}

struct Job {
    page: PageKey,
    /// The decoded URL path shown on the page ("/docs/").
    path: String,
    mtime: i64,
    watched: bool,
    stage: Stage,
}

#[derive(Default)]
pub struct Listings {
    pages: HashMap<PageKey, Rc<Page>>,
    jobs: Vec<Job>,
}

impl Listings {
    /// The directory changed: every page and every job in progress may be stale.
    pub fn clear(&mut self) {
        self.pages.clear();
        self.jobs.clear();
    }

    /// One step of the oldest job (the engine calls this once a turn while requests wait).
    pub fn work(&mut self, now: Instant) {
        let Some(job) = self.jobs.first_mut() else { return };
        match step(job) {
            Ok(false) => {}
            Ok(true) => {
                let job = self.jobs.remove(0);
                self.finish(job, now);
            }
            Err(e) => {
                log::warn!("listing {}: {e}", job.path);
                self.jobs.remove(0);
            }
        }
    }

    fn finish(&mut self, job: Job, now: Instant) {
        let Stage::Render { body, hash, .. } = job.stage else { return };
        if self.pages.len() >= MAX_PAGES {
            self.pages.clear();
        }
        let etag = format!("\"l{hash:016x}\"");
        let page = Page { body, etag, mtime: job.mtime, built_at: now, watched: job.watched };
        self.pages.insert(job.page, Rc::new(page));
    }
}

/// Answers a GET or HEAD for the directory `rel` (its URL path `path`), whose mtime is `mtime`.
pub fn answer(
    site: &mut Site,
    req: &Request,
    reply: &mut Reply<'_>,
    rel: &[u8],
    mtime: i64,
    watched: bool,
    extra: &Extra<'_>,
) -> Answer {
    let now = reply.now();
    let query = req.target.split_once('?').map(|(_, q)| q);
    let (key, order) = listing::sort_from_query(query);
    let format = if req.headers.accept.prefers_json() { Format::Json } else { Format::Html };
    let page_key = PageKey { rel: rel.to_vec(), format, key, order };
    if let Some(page) = site.listings.pages.get(&page_key) {
        let fresh = page.watched || now.saturating_duration_since(page.built_at) < UNWATCHED_MAX_AGE;
        if fresh && page.mtime == mtime {
            let page = Rc::clone(page);
            return Answer::Sent(send(req, reply, &page, format, extra));
        }
        site.listings.pages.remove(&page_key);
    }
    if site.listings.jobs.iter().any(|j| j.page == page_key) {
        return Answer::Later;
    }
    let opts = ScanOptions { dotfiles: site.cfg.dotfiles, no_symlinks: site.cfg.no_symlinks };
    let scan = match DirScan::open(site.root.as_fd(), rel, opts) {
        Ok(scan) => scan,
        Err(e) => {
            log::warn!("listing /{}: {e}", String::from_utf8_lossy(rel));
            return Answer::Sent(reply.simple_with_lines(500, &[], extra.lines, is_head(req)));
        }
    };
    let mut path = String::from("/");
    path.push_str(&String::from_utf8_lossy(rel));
    if !rel.is_empty() {
        path.push('/');
    }
    let job = Job { page: page_key.clone(), path, mtime, watched, stage: Stage::Scan(Box::new(scan)) };
    site.listings.jobs.push(job);
    // A directory of ordinary size is done in the first few steps: answer it now rather than a turn later.
    for _ in 0..3 {
        if !site.listings.jobs.last().is_some_and(|j| j.page == page_key) {
            break;
        }
        let index = site.listings.jobs.len() - 1;
        match step(&mut site.listings.jobs[index]) {
            Ok(false) => {}
            Ok(true) => {
                let job = site.listings.jobs.remove(index);
                site.listings.finish(job, now);
            }
            Err(e) => {
                log::warn!("listing: {e}");
                site.listings.jobs.remove(index);
                return Answer::Sent(reply.simple_with_lines(500, &[], extra.lines, is_head(req)));
            }
        }
    }
    match site.listings.pages.get(&page_key) {
        Some(page) => {
            let page = Rc::clone(page);
            Answer::Sent(send(req, reply, &page, format, extra))
        }
        None => Answer::Later,
    }
}

/// Advances a job by one bounded step; Ok(true) when its page is rendered.
fn step(job: &mut Job) -> std::io::Result<bool> {
    let stage = std::mem::replace(&mut job.stage, Stage::Sort(Vec::new()));
    job.stage = match stage {
        Stage::Scan(mut scan) => {
            if scan.step(listing::DEFAULT_BATCH)? {
                let mut entries = scan.into_entries();
                // The rule files configure the site and are not served, so they are not listed either.
                if job.page.rel.is_empty() {
                    entries.retain(|e| !RULE_FILES.contains(&e.name.as_slice()));
                }
                // Nor are uploads still arriving (listed only with --dotfiles otherwise).
                entries.retain(|e| !e.name.starts_with(crate::site::write::TEMP_PREFIX.as_bytes()));
                Stage::Sort(entries)
            } else {
                Stage::Scan(scan)
            }
        }
        Stage::Sort(mut entries) => {
            listing::sort(&mut entries, job.page.key, job.page.order);
            let mut body = Vec::new();
            match job.page.format {
                Format::Html => listing::html_start(&mut body, &job.path, &entries, job.page.key, job.page.order),
                Format::Json => listing::json_start(&mut body, &job.path, &entries),
            }
            let hash = fnv1a(FNV_OFFSET, &body);
            Stage::Render { entries, body, next: 0, hash }
        }
        Stage::Render { entries, mut body, next, hash } => {
            let end = (next + listing::RENDER_BATCH).min(entries.len());
            let batch = &entries[next..end];
            let before = body.len();
            match job.page.format {
                Format::Html => listing::html_rows(&mut body, batch),
                Format::Json => listing::json_rows(&mut body, batch),
            }
            let done = end == entries.len();
            if done {
                match job.page.format {
                    Format::Html => listing::html_end(&mut body, &entries),
                    Format::Json => listing::json_end(&mut body),
                }
            }
            let hash = fnv1a(hash, &body[before..]);
            job.stage = Stage::Render { entries, body, next: end, hash };
            return Ok(done);
        }
    };
    Ok(false)
}

fn send(req: &Request, reply: &mut Reply<'_>, page: &Page, format: Format, extra: &Extra<'_>) -> u16 {
    let head_only = is_head(req);
    let validators = |buf: &mut Vec<u8>| {
        response::header(buf, "ETag", &page.etag);
        response::header(buf, "Last-Modified", &format_http_date(page.mtime));
        // The same URL is a page or JSON depending on Accept.
        response::header(buf, "Vary", "Accept");
        if let Some(cc) = extra.cache_control {
            response::header(buf, "Cache-Control", cc);
        }
        buf.extend_from_slice(extra.lines);
    };
    match conditional::evaluate(&req.headers, &page.etag, page.mtime, true) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            reply.head(304, |buf| {
                validators(buf);
                response::end(buf);
            });
            return 304;
        }
        Precondition::Failed => return reply.simple_with_lines(412, &[("Vary", "Accept")], extra.lines, head_only),
    }
    let content_type = match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Json => "application/json",
    };
    reply.head(200, |buf| {
        validators(buf);
        if !extra.rule_content_type {
            response::header(buf, "Content-Type", content_type);
        }
        response::header(buf, "X-Content-Type-Options", "nosniff");
        response::content_length(buf, page.body.len() as u64);
        response::end(buf);
        if !head_only {
            buf.extend_from_slice(&page.body);
        }
    });
    200
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64-bit, continued from `hash`: an ETag that changes with any byte of the page.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
