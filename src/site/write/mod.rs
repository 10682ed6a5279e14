//! Write mode (`--write PREFIX`): PUT, POST and DELETE of files under one URL prefix, for clients that
//! present the bearer token; every other path stays read-only.
//!
//! One function, [`decide`], judges a write request from its head alone (method, token, target, the files
//! there now, preconditions, Content-Length), and both `Handler::body_use` and `Handler::respond` ask it, so
//! they cannot disagree: a request refused whatever its body is answered before a byte of the body is read;
//! one accepted streams its body into a temporary file ([`upload`]) that [`commit`] renames into place.
//! Every file is reached through a directory opened beneath the root with no symlink on the way, and every
//! name created exclusively, so a write can neither leave the prefix nor go through a link. After a write,
//! this worker forgets what its caches knew of the directory, since a pipelined GET on the same connection
//! is answered before the worker sees the inotify event (other workers learn through theirs).
//!
//! - `auth.rs`: the bearer token, compared in constant time;
//! - `target.rs`: the request-target → directory and name, with the refusals writes add to GET's;
//! - `names.rs`: a POST's new name (Slug hint or random, extension from Content-Type);
//! - `upload.rs`: the temporary file a body streams into, removed unless committed;
//! - `commit.rs`: preconditions checked again, the rename, the answer.

mod auth;
mod commit;
mod names;
mod target;
mod upload;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::config::WriteMode;
use crate::engine::{BodyUse, Reply, Upload};
use crate::http::request::{BodyFraming, Credential, Method, Request};
use crate::site::Site;
use crate::sys::{self, FileInfo, FileKind};

pub use target::{is_temporary, TEMP_PREFIX};

use auth::Auth;
use target::{Refused, Target};
use upload::{Plan, TempUpload};

/// The methods a path under the prefix allows.
pub const WRITE_ALLOW: &str = "GET, HEAD, OPTIONS, PUT, POST, DELETE";

/// What a request under write mode comes to, from its head.
pub enum Decision {
    /// Not the write mode's: outside the prefix, a read, or an unknown method. Routed as without it.
    Elsewhere,
    /// OPTIONS under the prefix.
    Options,
    /// Refused whatever the body holds, with this status (a 405 says which methods are allowed: `allow_for`).
    Refuse(u16),
    /// No valid token: 401 with this `WWW-Authenticate` challenge.
    Unauthorized(&'static str),
    /// A PUT or POST that may go ahead: its body goes into a new file in `dir`.
    Store { dir: OwnedFd, dir_rel: Vec<u8>, plan: Plan },
    /// A DELETE that may go ahead.
    Delete { dir: OwnedFd, dir_rel: Vec<u8>, name: Vec<u8> },
}

/// Judges `req` under the write mode `w`, with the site's root.
pub fn decide(w: &WriteMode, root: BorrowedFd<'_>, req: &Request) -> Decision {
    if matches!(req.method, Method::Get | Method::Head | Method::Other) {
        return Decision::Elsewhere;
    }
    let target = target::resolve(&req.target, &w.dir, &w.prefix);
    if target == Err(Refused::Outside) {
        return Decision::Elsewhere;
    }
    match req.method {
        Method::Options => return Decision::Options,
        Method::Put | Method::Post | Method::Delete => {}
        _ => return Decision::Refuse(405),
    }
    match auth::check(req.headers.authorization.as_ref().map(Credential::expose), &w.token) {
        Auth::Granted => {}
        Auth::Missing => return Decision::Unauthorized(auth::CHALLENGE),
        Auth::Invalid => return Decision::Unauthorized(auth::CHALLENGE_INVALID),
    }
    let target = match target {
        Ok(t) => t,
        Err(Refused::Forbidden) => return Decision::Refuse(403),
        Err(_) => return Decision::Refuse(400),
    };
    let decision = match req.method {
        Method::Put => decide_put(root, req, target),
        Method::Post => decide_post(root, req, target),
        _ => return decide_delete(root, req, target),
    };
    match (&decision, req.body) {
        (Decision::Store { .. }, BodyFraming::Length(n)) if n > w.max_upload_bytes => Decision::Refuse(413),
        _ => decision,
    }
}

fn decide_put(root: BorrowedFd<'_>, req: &Request, target: Target) -> Decision {
    let (Some(name), false) = (target.name, target.collection) else {
        return Decision::Refuse(405);
    };
    let dir = match sys::open_dir_beneath_nofollow(root, &target.parent) {
        Ok(dir) => dir,
        // No parent directory (or a file where it should be): PUT makes no directories.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => return Decision::Refuse(409),
        Err(e) => return refuse_errno(&target.rel, &e),
    };
    let current = match current_file(dir.as_fd(), &name) {
        Ok(current) => current,
        Err(status) => return Decision::Refuse(status),
    };
    if let Err(status) = commit::preconditions(req, current.as_ref()) {
        return Decision::Refuse(status);
    }
    Decision::Store { dir, dir_rel: target.parent, plan: Plan::Put { name } }
}

fn decide_post(root: BorrowedFd<'_>, req: &Request, target: Target) -> Decision {
    if !target.collection {
        return Decision::Refuse(405);
    }
    match sys::open_dir_beneath_nofollow(root, &target.rel) {
        Ok(dir) => {
            let names = names::Names::new(req.headers.slug.as_deref(), req.headers.content_type.as_deref());
            Decision::Store { dir, dir_rel: target.rel, plan: Plan::Post { names } }
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Decision::Refuse(404),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Decision::Refuse(405),
        Err(e) => refuse_errno(&target.rel, &e),
    }
}

fn decide_delete(root: BorrowedFd<'_>, req: &Request, target: Target) -> Decision {
    let Some(name) = target.name else { return Decision::Refuse(409) };
    let dir = match sys::open_dir_beneath_nofollow(root, &target.parent) {
        Ok(dir) => dir,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => return Decision::Refuse(404),
        Err(e) => return refuse_errno(&target.rel, &e),
    };
    let current = match current_file(dir.as_fd(), &name) {
        Ok(Some(info)) if !target.collection => info,
        Ok(_) => return Decision::Refuse(404),
        Err(405) => return Decision::Refuse(409),
        Err(status) => return Decision::Refuse(status),
    };
    if let Err(status) = commit::preconditions(req, Some(&current)) {
        return Decision::Refuse(status);
    }
    Decision::Delete { dir, dir_rel: target.parent, name }
}

/// The regular file `name` in `dir` now (None: there is none). A directory there is 405 (a write never
/// replaces one), a symlink or anything else 403 (never written through, never replaced).
fn current_file(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<FileInfo>, u16> {
    match sys::lstat_at(dir, name) {
        Ok(info) if info.kind == FileKind::Regular => Ok(Some(info)),
        Ok(info) if info.kind == FileKind::Directory => Err(405),
        Ok(_) => Err(403),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => Err(400),
        Err(e) => {
            log::error!("write: lstat {}: {e}", String::from_utf8_lossy(name));
            Err(500)
        }
    }
}

/// The header a refusal under the prefix carries: a 405 names the methods the prefix allows.
pub(super) fn allow_for(status: u16) -> &'static [(&'static str, &'static str)] {
    if status == 405 {
        &[("Allow", WRITE_ALLOW)]
    } else {
        &[]
    }
}

/// A directory that could not be opened: a symlink on the way, an escape or no permission is 403.
fn refuse_errno(rel: &[u8], e: &io::Error) -> Decision {
    match e.raw_os_error() {
        Some(libc::ELOOP | libc::EXDEV | libc::EACCES | libc::EPERM) => Decision::Refuse(403),
        Some(libc::ENAMETOOLONG) => Decision::Refuse(400),
        _ => {
            log::error!("write: open /{}: {e}", String::from_utf8_lossy(rel));
            Decision::Refuse(500)
        }
    }
}

/// Whether the request has a body the engine frames (`body_use` is asked about it).
fn has_body(req: &Request) -> bool {
    match req.body {
        BodyFraming::None | BodyFraming::Length(0) => false,
        BodyFraming::Length(_) | BodyFraming::Chunked => true,
    }
}

/// `Handler::body_use` under write mode: None when the request is not the write mode's.
pub fn body_use(site: &mut Site, req: &Request) -> Option<BodyUse> {
    let w = site.cfg.write.as_ref()?;
    let limit = w.max_upload_bytes;
    Some(match decide(w, site.root.as_fd(), req) {
        Decision::Elsewhere => return None,
        Decision::Options | Decision::Delete { .. } => BodyUse::Discard,
        Decision::Refuse(_) | Decision::Unauthorized(_) => BodyUse::AnswerNow,
        Decision::Store { dir, dir_rel, plan } => match TempUpload::create(dir, dir_rel, plan) {
            Ok(upload) => BodyUse::Keep { upload: Box::new(upload), limit },
            // Refused at once; `respond` answers it (its decision is the same, so it sees the store fail the
            // same way).
            Err(e) => {
                log::warn!("write: cannot create an upload's temporary file: {e}");
                BodyUse::AnswerNow
            }
        },
    })
}

/// `Handler::respond` under write mode: None when the request is not the write mode's.
pub fn respond(site: &mut Site, req: &Request, reply: &mut Reply<'_>) -> Option<u16> {
    let w = site.cfg.write.as_ref()?;
    Some(match decide(w, site.root.as_fd(), req) {
        Decision::Elsewhere => return None,
        Decision::Options => reply.simple(204, &[("Allow", WRITE_ALLOW)], false),
        Decision::Refuse(status) => reply.simple(status, allow_for(status), false),
        Decision::Unauthorized(challenge) => reply.simple(401, &[("WWW-Authenticate", challenge)], false),
        // A body `body_use` did not keep: its temporary file could not be made (say why), or the files
        // changed in between (try again). Never stored as empty.
        Decision::Store { dir, dir_rel, plan } if has_body(req) => match TempUpload::create(dir, dir_rel, plan) {
            Err(e) => reply.simple(upload::write_error_status(&e), &[], false),
            Ok(_) => reply.simple(503, &[], false),
        },
        Decision::Store { dir, dir_rel, plan } => match TempUpload::create(dir, dir_rel, plan) {
            Ok(upload) => commit::finish(site, req, upload, reply),
            Err(e) => {
                log::error!("write: cannot create an upload's temporary file: {e}");
                reply.simple(upload::write_error_status(&e), &[], false)
            }
        },
        Decision::Delete { dir, dir_rel, name } => commit::delete(site, dir, &dir_rel, &name, reply),
    })
}

/// `Handler::finish_upload`: the whole body is in `upload`.
pub fn finish_upload(site: &mut Site, req: &Request, upload: Box<dyn Upload>, reply: &mut Reply<'_>) -> u16 {
    // Trait upcasting (Rust 1.86, hence the crate's rust-version): `Upload: Any`, so the box is an `Any`.
    let upload: Box<dyn std::any::Any> = upload;
    match upload.downcast::<TempUpload>() {
        Ok(upload) => commit::finish(site, req, *upload, reply),
        Err(_) => reply.simple(500, &[], false),
    }
}

#[cfg(test)]
mod tests;
