//! The end of a write: the body made durable, the preconditions checked again against the file there now
//! (another writer may have replaced it while the body arrived), the rename into place, the directory made
//! durable, this worker's caches told, and the answer: 201 with Location for a new file, 204 for a replaced
//! one, both with the new file's ETag (the one a GET of it will send). Also DELETE, which has no body.
//!
//! `If-None-Match: *` and POST rename with RENAME_NOREPLACE, so "create only" holds even against a writer in
//! another worker; `If-Match` is checked just before the rename, the window between the two being what any
//! file system without compare-and-swap renames leaves.

use std::os::fd::{AsFd, OwnedFd};

use crate::engine::Reply;
use crate::http::conditional::{self, Precondition};
use crate::http::request::Request;
use crate::http::syntax::trim_ows_str;
use crate::site::cache::identity_etag;
use crate::site::resolve::path_location;
use crate::site::write::upload::{write_error_status, Plan, TempUpload};
use crate::site::write::{allow_for, current_file};
use crate::site::{Site, RULE_FILES};
use crate::sys::{self, FileInfo};

/// How many names a POST tries before giving up (each taken one gets a new random suffix).
const POST_TRIES: usize = 8;

/// The write's preconditions against the file there now (None: there is none): 412 when they fail.
/// If-Match needs a current file to match; If-None-Match `*` needs there to be none.
pub fn preconditions(req: &Request, current: Option<&FileInfo>) -> Result<(), u16> {
    let failed = match current {
        Some(info) => {
            let etag = identity_etag(info);
            conditional::evaluate(&req.headers, &etag, info.mtime_sec, false) == Precondition::Failed
        }
        None => req.headers.if_match.is_some(),
    };
    if failed {
        Err(412)
    } else {
        Ok(())
    }
}

fn create_only(req: &Request) -> bool {
    req.headers.if_none_match.as_deref().is_some_and(|v| trim_ows_str(v) == "*")
}

/// Puts the whole upload in place and answers.
pub fn finish(site: &mut Site, req: &Request, mut upload: TempUpload, reply: &mut Reply<'_>) -> u16 {
    let info = match upload.sync() {
        Ok(info) => info,
        Err(e) => {
            log::error!("write: fsync of an upload to /{}: {e}", String::from_utf8_lossy(&upload.dir_rel));
            return reply.simple(write_error_status(&e), &[], false);
        }
    };
    let placed = match upload.plan.clone() {
        Plan::Put { name } => put(req, &mut upload, &name),
        Plan::Post { mut names } => {
            let mut outcome = Err(500);
            for _ in 0..POST_TRIES {
                let Ok(name) = names.next() else { break };
                // A Slug may name a rule file; in the root one would change what the site is (the next name
                // is the slug with a random suffix).
                if upload.dir_rel.is_empty() && RULE_FILES.contains(&name.as_bytes()) {
                    continue;
                }
                match upload.commit_as(name.as_bytes(), true) {
                    Ok(()) => {
                        outcome = Ok((name.into_bytes(), 201));
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => {
                        outcome = Err(rename_failure(&upload.dir_rel, &e));
                        break;
                    }
                }
            }
            outcome
        }
    };
    let (name, status) = match placed {
        Ok(placed) => placed,
        Err(status) => return reply.simple(status, allow_for(status), false),
    };
    let dir_rel = upload.dir_rel.clone();
    let synced = sys::fsync(upload.dir());
    drop(upload);
    site.after_write(&dir_rel);
    if let Err(e) = synced {
        log::error!("write: fsync of /{}: {e}", String::from_utf8_lossy(&dir_rel));
        return reply.simple(500, &[], false);
    }
    let etag = identity_etag(&info);
    if status == 204 {
        return reply.simple(204, &[("ETag", &etag)], false);
    }
    let mut rel = dir_rel;
    rel.push(b'/');
    rel.extend_from_slice(&name);
    let location = path_location(&rel, false, None);
    reply.simple(201, &[("Location", &location), ("ETag", &etag)], false)
}

/// The PUT's rename: the preconditions again, against what is there now; the name and 201 or 204.
fn put(req: &Request, upload: &mut TempUpload, name: &[u8]) -> Result<(Vec<u8>, u16), u16> {
    let current = current_file(upload.dir(), name)?;
    preconditions(req, current.as_ref())?;
    let noreplace = create_only(req) || current.is_none();
    match upload.commit_as(name, noreplace) {
        Ok(()) => Ok((name.to_vec(), if current.is_some() { 204 } else { 201 })),
        // Created meanwhile by another writer: create-only fails; otherwise this write replaces it.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) && create_only(req) => Err(412),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => match current_file(upload.dir(), name)? {
            Some(_) => upload
                .commit_as(name, false)
                .map(|()| (name.to_vec(), 204))
                .map_err(|e| rename_failure(&upload.dir_rel, &e)),
            None => Err(409),
        },
        Err(e) => Err(rename_failure(&upload.dir_rel, &e)),
    }
}

/// A rename into place that failed: a directory put there meanwhile is 405, anything else 500.
fn rename_failure(dir_rel: &[u8], e: &std::io::Error) -> u16 {
    match e.raw_os_error() {
        Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => 405,
        Some(libc::ENOSPC | libc::EDQUOT) => 507,
        _ => {
            log::error!("write: rename into /{}: {e}", String::from_utf8_lossy(dir_rel));
            500
        }
    }
}

/// DELETE of the file `name` in `dir` (checked by `decide`): 204, or 404 when it went meanwhile.
pub fn delete(site: &mut Site, dir: OwnedFd, dir_rel: &[u8], name: &[u8], reply: &mut Reply<'_>) -> u16 {
    match sys::unlink_at(dir.as_fd(), name) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return reply.simple(404, &[], false),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => return reply.simple(409, &[], false),
        Err(e) => {
            log::error!("write: unlink in /{}: {e}", String::from_utf8_lossy(dir_rel));
            return reply.simple(500, &[], false);
        }
    }
    let synced = sys::fsync(dir.as_fd());
    site.after_write(dir_rel);
    if let Err(e) = synced {
        log::error!("write: fsync of /{}: {e}", String::from_utf8_lossy(dir_rel));
        return reply.simple(500, &[], false);
    }
    reply.simple(204, &[], false)
}
