//! The `--status-path` page: the shared-memory counters of every worker in Prometheus text format.
//!
//! Only clients on loopback, on a Unix socket, or at a trusted proxy address see it; everyone else gets the
//! same 404 as for any missing file, so the page's existence is not advertised.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use crate::http::request::{Method, Request};
use crate::http::response::{self, Persist};
use crate::ops::forwarded;
use crate::ops::metrics::{self, WorkerStats};
use crate::output::Output;
use crate::serve;
use crate::shm;
use crate::worker::Ctx;

/// Whether `req` asks for the status page.
pub fn is_status_request(req: &Request, ctx: &Ctx) -> bool {
    let Some(path) = ctx.cfg.status_path.as_deref() else { return false };
    req.target.split('?').next() == Some(path)
}

pub fn respond(req: &Request, ctx: &mut Ctx, persist: Persist, out: &mut Output, peer: Option<SocketAddr>) -> u16 {
    let head_only = req.method == Method::Head;
    let allowed = match peer {
        None => true,
        Some(addr) => {
            let ip = addr.ip();
            let loopback = ip.is_loopback() || ip.to_canonical().is_loopback();
            loopback || forwarded::is_trusted(ip, &ctx.cfg.trusted_proxies)
        }
    };
    if !allowed {
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
