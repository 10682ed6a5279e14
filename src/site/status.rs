//! The `--status-path` page: the shared-memory counters of every worker in Prometheus text format.
//!
//! Only clients on loopback, on a Unix socket, or at a trusted proxy address see it, and a forwarded request
//! only when the client its proxies name is one of those too; everyone else gets the same 404 as for any
//! missing file, so the page's existence is not advertised.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;

use crate::engine::output::Output;
use crate::http::request::{Method, Request};
use crate::http::response::{self, Persist};
use crate::ops::forwarded::{self, Cidr};
use crate::ops::metrics::{self, WorkerStats};
use crate::shm;
use crate::site::files as serve;
use crate::worker::Ctx;

/// Whether `req` asks for the status page.
pub fn is_status_request(req: &Request, ctx: &Ctx) -> bool {
    let Some(path) = ctx.cfg.status_path.as_deref() else { return false };
    req.target.split('?').next() == Some(path)
}

pub fn respond(req: &Request, ctx: &mut Ctx, persist: Persist, out: &mut Output, peer: Option<SocketAddr>) -> u16 {
    let head_only = req.method == Method::Head;
    if !allowed(req, ctx, peer) {
        return serve::simple(ctx, out, 404, persist, &[], head_only);
    }
    let mut body = String::new();
    metrics::render(&mut body, &snapshot(ctx), shm::now_secs().saturating_sub(ctx.shm.started_at()));
    let buf = out.mem_tail(&mut ctx.pool);
    let before = buf.len();
    response::start(buf, 200, &ctx.date, persist);
    response::header(buf, "Content-Type", metrics::CONTENT_TYPE);
    response::header(buf, "Cache-Control", "no-store");
    response::content_length(buf, body.len() as u64);
    response::end(buf);
    if !head_only {
        buf.extend_from_slice(body.as_bytes());
    }
    let added = buf.len() - before;
    out.commit_mem(added);
    200
}

/// Whether the client may see the page. The connection must come from loopback, a Unix socket or a trusted
/// proxy; and when the request was forwarded (X-Forwarded-For / Forwarded), the client the proxies name must
/// be local or trusted too — otherwise a reverse proxy on the same host would show the page to everyone.
fn allowed(req: &Request, ctx: &Ctx, peer: Option<SocketAddr>) -> bool {
    let trusted = &ctx.cfg.trusted_proxies;
    let local_or_trusted = |ip: IpAddr| ip.to_canonical().is_loopback() || forwarded::is_trusted(ip, trusted);
    let Some(peer) = peer else { return true };
    if !local_or_trusted(peer.ip()) {
        return false;
    }
    if req.headers.x_forwarded_for.is_none() && req.headers.forwarded.is_none() {
        return true;
    }
    // Walk the forwarding chain believing loopback hops as well as the configured proxies.
    let mut hops = trusted.clone();
    hops.extend(["127.0.0.0/8", "::1/128"].iter().filter_map(|c| c.parse::<Cidr>().ok()));
    let client = forwarded::client_addr(
        peer.ip(),
        &hops,
        req.headers.x_forwarded_for.as_deref(),
        req.headers.forwarded.as_deref(),
    );
    local_or_trusted(client)
}

/// Every live worker's counters (slots whose process is gone have pid 0).
fn snapshot(ctx: &Ctx) -> Vec<WorkerStats> {
    (0..ctx.shm.slots())
        .filter_map(|i| {
            let s = ctx.shm.slot(i);
            let pid = s.pid.load(Relaxed);
            (pid != 0).then(|| WorkerStats {
                index: i,
                pid,
                live: s.live.load(Relaxed),
                accepted: s.accepted.load(Relaxed),
                requests: s.requests.load(Relaxed),
                bytes_sent: s.bytes_sent.load(Relaxed),
                status: std::array::from_fn(|c| s.status[c].load(Relaxed)),
            })
        })
        .collect()
}
