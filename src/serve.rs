//! Answering GET and HEAD: from the parsed request to a queued response for a file, a directory or an error.
//!
//! The order follows RFC 9110: resolve the target, open beneath the root, redirect or pick an index for
//! directories, choose a precompressed variant, evaluate preconditions (304/412), then ranges (206/416), and
//! finally queue the head and the body (small bodies from memory in the same write as the head, others with
//! sendfile).

use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use crate::fs::encoding::{self, ContentCoding};
use crate::fs::mime;
use crate::fs::open::{self, OpenError, Opened};
use crate::fs::resolve::{self, ResolvedPath};
use crate::http::conditional::{self, Precondition};
use crate::http::date::format_http_date;
use crate::http::range::{self, ByteRange, RangeOutcome};
use crate::http::request::{Method, Request};
use crate::http::response::{self, Persist};
use crate::output::Output;
use crate::sys::{self, FileInfo, FileKind};
use crate::worker::Ctx;

/// The methods this read-only server allows.
pub const ALLOW: &str = "GET, HEAD, OPTIONS";
/// Bodies up to this size are read into the response buffer, so head and body leave in one write.
const SMALL_BODY: u64 = 16 * 1024;

/// Queues the response to a GET or HEAD and returns its status.
pub fn respond(req: &Request, ctx: &mut Ctx, persist: Persist, out: &mut Output) -> u16 {
    let head_only = req.method == Method::Head;
    let resolved = match resolve::resolve(&req.target) {
        Ok(r) => r,
        Err(_) => return simple(ctx, out, 400, persist, &[], head_only),
    };
    if !ctx.cfg.dotfiles && resolve::is_hidden(&resolved.rel) {
        return simple(ctx, out, 404, persist, &[], head_only);
    }
    let opened = match open::open(ctx.root.as_fd(), &resolved.rel, ctx.cfg.no_symlinks) {
        Ok(o) => o,
        Err(e) => return simple(ctx, out, e.status(), persist, &[], head_only),
    };
    match opened.info.kind {
        FileKind::Directory => serve_directory(req, ctx, persist, out, &resolved),
        _ if resolved.trailing_slash => simple(ctx, out, 404, persist, &[], head_only),
        _ => serve_file(req, ctx, persist, out, &resolved.rel, opened),
    }
}

fn serve_directory(
    req: &Request,
    ctx: &mut Ctx,
    persist: Persist,
    out: &mut Output,
    resolved: &ResolvedPath,
) -> u16 {
    let head_only = req.method == Method::Head;
    if !resolved.trailing_slash {
        let location = resolve::directory_redirect(resolved);
        return simple(
            ctx,
            out,
            301,
            persist,
            &[("Location", &location)],
            head_only,
        );
    }
    for i in 0..ctx.cfg.index.len() {
        let mut path = resolved.rel.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(ctx.cfg.index[i].as_bytes());
        match open::open(ctx.root.as_fd(), &path, ctx.cfg.no_symlinks) {
            Ok(o) if o.info.kind == FileKind::Regular => {
                return serve_file(req, ctx, persist, out, &path, o)
            }
            Ok(_) | Err(OpenError::NotFound) => continue,
            Err(e) => return simple(ctx, out, e.status(), persist, &[], head_only),
        }
    }
    // A directory without an index is not listed.
    simple(ctx, out, 403, persist, &[], head_only)
}

/// The representation chosen for a file: the file itself or a precompressed sibling.
struct Chosen {
    fd: OwnedFd,
    info: FileInfo,
    coding: ContentCoding,
    /// The file has precompressed siblings, so its responses vary by Accept-Encoding.
    has_variants: bool,
}

fn choose_variant(req: &Request, ctx: &Ctx, rel: &[u8], original: Opened) -> Chosen {
    let mut chosen = Chosen {
        fd: original.fd,
        info: original.info,
        coding: ContentCoding::Identity,
        has_variants: false,
    };
    if !ctx.cfg.precompressed {
        return chosen;
    }
    let sibling = |coding: ContentCoding| -> Option<Opened> {
        let mut path = rel.to_vec();
        path.extend_from_slice(coding.suffix().as_bytes());
        open::open(ctx.root.as_fd(), &path, ctx.cfg.no_symlinks)
            .ok()
            .filter(|o| o.info.kind == FileKind::Regular)
    };
    let br = sibling(ContentCoding::Brotli);
    let gz = sibling(ContentCoding::Gzip);
    chosen.has_variants = br.is_some() || gz.is_some();
    let pick = encoding::negotiate(req.accept_encoding.as_deref(), br.is_some(), gz.is_some());
    let variant = match pick {
        ContentCoding::Brotli => br,
        ContentCoding::Gzip => gz,
        ContentCoding::Identity => None,
    };
    if let Some(v) = variant {
        chosen.fd = v.fd;
        chosen.info = v.info;
        chosen.coding = pick;
    }
    chosen
}

/// A strong validator from inode, size and modification time to the nanosecond.
fn etag(info: &FileInfo) -> String {
    format!(
        "\"{:x}-{:x}-{:x}{:08x}\"",
        info.inode, info.size, info.mtime_sec, info.mtime_nsec
    )
}

fn serve_file(
    req: &Request,
    ctx: &mut Ctx,
    persist: Persist,
    out: &mut Output,
    rel: &[u8],
    opened: Opened,
) -> u16 {
    let head_only = req.method == Method::Head;
    let cfg = Rc::clone(&ctx.cfg);
    let content_type = mime::content_type_for(rel);
    let file = choose_variant(req, ctx, rel, opened);
    let size = file.info.size;
    let tag = etag(&file.info);
    let last_modified = format_http_date(file.info.mtime_sec);
    let mut validators: Vec<(&str, &str)> = vec![("ETag", &tag), ("Last-Modified", &last_modified)];
    if file.has_variants {
        validators.push(("Vary", "Accept-Encoding"));
    }
    if let Some(cc) = cfg.cache_control.as_deref() {
        validators.push(("Cache-Control", cc));
    }

    match conditional::evaluate(req, &tag, file.info.mtime_sec, true) {
        Precondition::Proceed => {}
        Precondition::NotModified => return not_modified(ctx, out, persist, &validators),
        Precondition::Failed => return simple(ctx, out, 412, persist, &[], head_only),
    }

    let ranges = match req.range.as_deref() {
        Some(_)
            if req.if_range.as_deref().is_some_and(|ir| {
                !conditional::if_range_matches(ir, &tag, file.info.mtime_sec)
            }) =>
        {
            RangeOutcome::Ignore
        }
        Some(header) => range::evaluate(header, size),
        None => RangeOutcome::Ignore,
    };

    let mut headers = validators;
    headers.push(("Accept-Ranges", "bytes"));
    headers.push(("X-Content-Type-Options", "nosniff"));
    if file.coding != ContentCoding::Identity {
        headers.push(("Content-Encoding", file.coding.token()));
    }
    let fd = Rc::new(file.fd);
    match ranges {
        RangeOutcome::Ignore => {
            headers.push(("Content-Type", &content_type));
            send_region(
                ctx, out, persist, 200, &headers, fd, 0, size, size, head_only,
            )
        }
        RangeOutcome::Single(r) => {
            let cr = range::content_range(r, size);
            headers.push(("Content-Type", &content_type));
            headers.push(("Content-Range", &cr));
            send_region(
                ctx,
                out,
                persist,
                206,
                &headers,
                fd,
                r.start,
                r.len(),
                size,
                head_only,
            )
        }
        RangeOutcome::Multi(parts) => send_multipart(
            ctx,
            out,
            persist,
            &headers,
            fd,
            &parts,
            &content_type,
            size,
            head_only,
        ),
        RangeOutcome::Unsatisfiable => {
            let cr = format!("bytes */{size}");
            simple(ctx, out, 416, persist, &[("Content-Range", &cr)], head_only)
        }
    }
}

/// 304: the validators and caching headers the 200 would carry, no body.
fn not_modified(
    ctx: &mut Ctx,
    out: &mut Output,
    persist: Persist,
    validators: &[(&str, &str)],
) -> u16 {
    let buf = out.mem_tail(&mut ctx.pool);
    let before = buf.len();
    response::start(buf, 304, &ctx.date, persist);
    for (name, value) in validators {
        response::header(buf, name, value);
    }
    response::end(buf);
    let added = buf.len() - before;
    out.commit_mem(added);
    304
}

/// Queues a head and `len` bytes of the file from `start`.
#[allow(clippy::too_many_arguments)]
fn send_region(
    ctx: &mut Ctx,
    out: &mut Output,
    persist: Persist,
    status: u16,
    headers: &[(&str, &str)],
    fd: Rc<OwnedFd>,
    start: u64,
    len: u64,
    file_size: u64,
    head_only: bool,
) -> u16 {
    let buf = out.mem_tail(&mut ctx.pool);
    let before = buf.len();
    response::start(buf, status, &ctx.date, persist);
    for (name, value) in headers {
        response::header(buf, name, value);
    }
    response::content_length(buf, len);
    response::end(buf);
    if !head_only && len > 0 && len <= SMALL_BODY && file_size <= SMALL_BODY {
        let body_at = buf.len();
        buf.resize(body_at + len as usize, 0);
        let got = sys::pread(fd.as_fd(), &mut buf[body_at..], start);
        if got.ok() != Some(len as usize) {
            // The file changed size between fstat and read: the promised length cannot be kept.
            buf.truncate(before);
            log::warn!("file changed while being read; answering 500");
            return simple(ctx, out, 500, persist, &[], false);
        }
        let added = buf.len() - before;
        out.commit_mem(added);
        return status;
    }
    let added = buf.len() - before;
    out.commit_mem(added);
    if !head_only {
        out.push_file(fd, start, len);
    }
    status
}

/// 206 multipart/byteranges: each part is a small header from memory and its range through sendfile.
#[allow(clippy::too_many_arguments)]
fn send_multipart(
    ctx: &mut Ctx,
    out: &mut Output,
    persist: Persist,
    headers: &[(&str, &str)],
    fd: Rc<OwnedFd>,
    parts: &[ByteRange],
    content_type: &str,
    size: u64,
    head_only: bool,
) -> u16 {
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
    let ctype = format!("multipart/byteranges; boundary={boundary}");

    let buf = out.mem_tail(&mut ctx.pool);
    let before = buf.len();
    response::start(buf, 206, &ctx.date, persist);
    for (name, value) in headers {
        response::header(buf, name, value);
    }
    response::header(buf, "Content-Type", &ctype);
    response::content_length(buf, total);
    response::end(buf);
    let added = buf.len() - before;
    out.commit_mem(added);
    if head_only {
        return 206;
    }
    for (r, head) in parts.iter().zip(&part_heads) {
        append(ctx, out, head.as_bytes());
        out.push_file(Rc::clone(&fd), r.start, r.len());
    }
    append(ctx, out, closing.as_bytes());
    206
}

fn append(ctx: &mut Ctx, out: &mut Output, bytes: &[u8]) {
    out.mem_tail(&mut ctx.pool).extend_from_slice(bytes);
    out.commit_mem(bytes.len());
}

/// A random multipart boundary (so file content cannot collide with it by design).
fn boundary() -> String {
    let mut raw = [0u8; 12];
    if sys::random_bytes(&mut raw).is_err() {
        // getrandom cannot fail after boot; fall back to the clock rather than refuse the response.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        raw[..12].copy_from_slice(&t.to_le_bytes()[..12]);
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Queues a body-less status (an error, a redirect, 204) with its short text body.
pub fn simple(
    ctx: &mut Ctx,
    out: &mut Output,
    status: u16,
    persist: Persist,
    extra: &[(&str, &str)],
    head_only: bool,
) -> u16 {
    let buf = out.mem_tail(&mut ctx.pool);
    let before = buf.len();
    response::simple(buf, status, &ctx.date, persist, extra, head_only);
    let added = buf.len() - before;
    out.commit_mem(added);
    status
}
