//! What a request means: the site layer behind the engine's [`Handler`] interface.
//!
//! It routes each complete request by method: GET/HEAD go to the status page (`--status-path`) or to the
//! files under the root; OPTIONS, the methods this read-only server refuses (405) and unknown ones (501) are
//! answered here too. With `--write PREFIX`, PUT, POST, DELETE and OPTIONS under the prefix go to `write/`
//! first: it judges each from its head alone, for `body_use` and `respond` alike (so a refusal never waits
//! for the body), streams an accepted body into a temporary file beside its target and renames it into
//! place, and makes this worker forget what it cached of that directory. Everything about what a path
//! means lives below: resolution, opening beneath the root,
//! the open-file cache and its freshness, directories and their listings, the site's own rule files
//! (`_headers`, `_redirects`), clean URLs, the single-page-app fallback and error pages, content types and
//! content-coding negotiation. The site knows nothing of sockets: it writes its answer through a [`Reply`],
//! or answers `Later` and finishes a long job (a huge listing) in the bounded steps of [`Handler::work`].

pub mod cache;
pub mod encoding;
pub mod error_pages;
pub mod files;
pub mod listing;
pub mod listings;
pub mod mime;
pub mod open;
pub mod per_path;
pub mod resolve;
pub mod rule_files;
pub mod rules;
pub mod status;
pub mod write;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use crate::compress::CompressLink;
use crate::config::Config;
use crate::engine::{Answer, BodyUse, Handler, Reply, Upload};
use crate::http::request::{Method, Request};
use crate::shm::Shm;
use crate::site::cache::FileCache;
use crate::site::listings::Listings;
use crate::site::rule_files::RuleTexts;
use crate::site::rules::Rules;

/// Files at the root that configure the site (per-path headers and redirects); never served.
pub const RULE_FILES: &[&[u8]] = &[b"_headers", b"_redirects"];

/// The methods allowed outside the write mode's prefix (everywhere, without `--write`).
pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// One worker's view of the site: the root it serves, the options that shape answers, and its caches.
pub struct Site {
    pub(crate) cfg: Rc<Config>,
    /// The root directory (O_PATH): every file is opened beneath it.
    pub(crate) root: OwnedFd,
    pub(crate) files: FileCache,
    /// The site's `_headers` and `_redirects`, compiled, and the texts they came from.
    pub(crate) rules: Rules,
    rule_texts: RuleTexts,
    /// Directory listings made and being made.
    pub(crate) listings: Listings,
    /// The whole shared region, for the status page.
    pub(crate) shm: Shm,
}

impl Site {
    pub fn new(cfg: Rc<Config>, root: OwnedFd, shm: Shm, compress: Option<CompressLink>) -> Site {
        let files = FileCache::new(&cfg, compress, Some(shm));
        let mut site = Site {
            cfg,
            root,
            files,
            rules: Rules::empty(),
            rule_texts: RuleTexts::default(),
            listings: Listings::default(),
            shm,
        };
        site.reload_rules();
        site
    }

    /// Reads the rule files again (at start, and when the root directory changed). A file that cannot be
    /// used leaves its rules in force as they were; the reason goes to stderr, as at start.
    fn reload_rules(&mut self) {
        // Watched first, so an edit after this read is an event, not a loss.
        self.files.watch_root(self.root.as_fd(), std::time::Instant::now());
        let (rules, texts, errors) = rule_files::reload(self.root.as_fd(), self.cfg.no_symlinks, &self.rule_texts);
        for e in errors {
            log::error!("{e}; its rules in force stay");
        }
        self.rules = rules;
        self.rule_texts = texts;
    }
}

impl Site {
    /// What a write in the directory `dir` (root-relative) makes stale in this worker: its cached files and
    /// answers there, and every listing (a listing of an ancestor may show the file's size or time).
    pub(crate) fn after_write(&mut self, dir: &[u8]) {
        self.files.forget_dir(dir);
        self.listings.clear();
    }

    /// Empties the open-file cache (its watches kept), for the hot-path benchmark's miss case.
    #[doc(hidden)]
    pub fn forget_cached(&mut self) {
        self.files.forget_entries();
    }
}

impl Handler for Site {
    fn respond(&mut self, req: &Request, reply: &mut Reply<'_>) -> Answer {
        if let Some(status) = write::respond(self, req, reply) {
            return Answer::Sent(status);
        }
        Answer::Sent(match req.method {
            Method::Get | Method::Head if status::is_status_request(req, &self.cfg) => {
                status::respond(self, req, reply)
            }
            Method::Get | Method::Head => return files::respond(self, req, reply),
            Method::Options => reply.simple(204, &[("Allow", ALLOW)], false),
            Method::Post | Method::Put | Method::Delete | Method::Patch | Method::Trace | Method::Connect => {
                reply.simple(405, &[("Allow", ALLOW)], false)
            }
            Method::Other => reply.simple(501, &[], false),
        })
    }

    /// A write under the prefix is the write mode's to judge. Elsewhere the methods refused with 405 or 501
    /// are refused whatever their body holds, so it is not read: an upload to a read-only path is answered
    /// at once, as nginx does, not after the client has sent a megabyte.
    fn body_use(&mut self, req: &Request) -> BodyUse {
        if let Some(body_use) = write::body_use(self, req) {
            return body_use;
        }
        if matches!(req.method, Method::Get | Method::Head | Method::Options) {
            BodyUse::Discard
        } else {
            BodyUse::AnswerNow
        }
    }

    fn finish_upload(&mut self, req: &Request, upload: Box<dyn Upload>, reply: &mut Reply<'_>) -> u16 {
        write::finish_upload(self, req, upload, reply)
    }

    fn watch_fd(&self) -> Option<BorrowedFd<'_>> {
        self.files.inotify_fd()
    }

    fn work(&mut self) {
        self.listings.work(std::time::Instant::now());
    }

    fn on_watch(&mut self) {
        let change = self.files.on_change();
        // Listings are dropped on any event (a watch the cache gives back says IN_IGNORED, so a listing
        // trusted because of that watch goes with it); the rule files only live in the root.
        if change.any {
            self.listings.clear();
        }
        if change.root {
            self.reload_rules();
        }
    }
}

/// True for a HEAD request: its answer has the GET answer's head and no body.
fn is_head(req: &Request) -> bool {
    req.method == Method::Head
}
