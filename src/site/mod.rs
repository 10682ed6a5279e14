//! What a request means: the site layer behind the engine's [`Handler`] interface.
//!
//! It routes each complete request by method: GET/HEAD go to the status page (`--status-path`) or to the
//! files under the root; OPTIONS, the methods this read-only server refuses (405) and unknown ones (501) are
//! answered here too. Everything about files lives below: path resolution, opening beneath the root, the
//! open-file cache and its freshness, directories, content types and content-coding negotiation. The site
//! knows nothing of sockets: it writes its answer through a [`Reply`].

pub mod cache;
pub mod encoding;
pub mod files;
pub mod listing;
pub mod mime;
pub mod open;
pub mod resolve;
pub mod status;

use std::os::fd::{BorrowedFd, OwnedFd};
use std::rc::Rc;

use crate::config::Config;
use crate::engine::{Handler, Reply};
use crate::http::request::{Method, Request};
use crate::shm::Shm;
use crate::site::cache::FileCache;

/// The methods this read-only server allows.
pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// One worker's view of the site: the root it serves, the options that shape answers, and its caches.
pub struct Site {
    pub(crate) cfg: Rc<Config>,
    /// The root directory (O_PATH): every file is opened beneath it.
    pub(crate) root: OwnedFd,
    pub(crate) files: FileCache,
    /// The whole shared region, for the status page.
    pub(crate) shm: Shm,
}

impl Site {
    pub fn new(cfg: Rc<Config>, root: OwnedFd, shm: Shm) -> Site {
        let files = FileCache::new(&cfg);
        Site { cfg, root, files, shm }
    }
}

impl Handler for Site {
    fn respond(&mut self, req: &Request, reply: &mut Reply<'_>) -> u16 {
        match req.method {
            Method::Get | Method::Head if status::is_status_request(req, &self.cfg) => {
                status::respond(self, req, reply)
            }
            Method::Get | Method::Head => files::respond(self, req, reply),
            Method::Options => reply.simple(204, &[("Allow", ALLOW)], false),
            Method::Post | Method::Put | Method::Delete | Method::Patch | Method::Trace | Method::Connect => {
                reply.simple(405, &[("Allow", ALLOW)], false)
            }
            Method::Other => reply.simple(501, &[], false),
        }
    }

    fn watch_fd(&self) -> Option<BorrowedFd<'_>> {
        self.files.inotify_fd()
    }

    fn on_watch(&mut self) {
        self.files.on_change();
    }
}

/// True for a HEAD request: its answer has the GET answer's head and no body.
fn is_head(req: &Request) -> bool {
    req.method == Method::Head
}
