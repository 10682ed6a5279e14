//! The `--status-path` page: the shared-memory counters of every worker in Prometheus text format.
//!
//! Only clients on loopback, on a Unix socket, or at a trusted proxy address see it, and a forwarded request
//! only when the client its proxies name is one of those too; everyone else gets the same 404 as for any
//! missing file, so the page's existence is not advertised.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;

use crate::config::Config;
use crate::engine::Reply;
use crate::http::request::Request;
use crate::http::response;
use crate::ops::forwarded::{self, Cidr};
use crate::ops::metrics::{self, WorkerStats};
use crate::shm::{self, Shm};
use crate::site::{is_head, Site};

/// Whether `req` asks for the status page.
pub fn is_status_request(req: &Request, cfg: &Config) -> bool {
    let Some(path) = cfg.status_path.as_deref() else { return false };
    req.target.split('?').next() == Some(path)
}

pub fn respond(site: &Site, req: &Request, reply: &mut Reply<'_>) -> u16 {
    let head_only = is_head(req);
    if !allowed(req, &site.cfg.trusted_proxies, reply.peer()) {
        return reply.simple(404, &[], head_only);
    }
    let mut body = String::new();
    let uptime = shm::now_secs().saturating_sub(site.shm.started_at());
    metrics::render(&mut body, &snapshot(&site.shm), uptime, site.shm.compressed());
    reply.head(200, |buf| {
        response::header(buf, "Content-Type", metrics::CONTENT_TYPE);
        response::header(buf, "Cache-Control", "no-store");
        response::content_length(buf, body.len() as u64);
        response::end(buf);
        if !head_only {
            buf.extend_from_slice(body.as_bytes());
        }
    });
    200
}

/// Whether the client may see the page. The connection must come from loopback, a Unix socket or a trusted
/// proxy; and when the request was forwarded (X-Forwarded-For / Forwarded), the client the proxies name must
/// be local or trusted too — otherwise a reverse proxy on the same host would show the page to everyone.
/// A Unix-socket peer (`peer` is None) counts as a loopback hop, no more: a proxy in front of the socket
/// (nginx over `unix:`) forwards internet clients, and the header is what says so.
fn allowed(req: &Request, trusted: &[Cidr], peer: Option<SocketAddr>) -> bool {
    let local_or_trusted = |ip: IpAddr| ip.to_canonical().is_loopback() || forwarded::is_trusted(ip, trusted);
    let peer_ip = match peer {
        Some(peer) => peer.ip(),
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    if !local_or_trusted(peer_ip) {
        return false;
    }
    if req.headers.x_forwarded_for.is_none() && req.headers.forwarded.is_none() {
        return true;
    }
    // Walk the forwarding chain believing loopback hops as well as the configured proxies.
    let mut hops = trusted.to_vec();
    hops.extend(["127.0.0.0/8", "::1/128"].iter().filter_map(|c| c.parse::<Cidr>().ok()));
    let client = forwarded::client_addr(
        peer_ip,
        &hops,
        req.headers.x_forwarded_for.as_deref(),
        req.headers.forwarded.as_deref(),
    );
    local_or_trusted(client)
}

/// Every live worker's counters (slots whose process is gone have pid 0).
fn snapshot(shm: &Shm) -> Vec<WorkerStats> {
    (0..shm.slots())
        .filter_map(|i| {
            let s = shm.slot(i);
            let pid = s.pid.load(Relaxed);
            (pid != 0).then(|| WorkerStats {
                index: i,
                pid,
                live: s.live.load(Relaxed),
                accepted: s.accepted.load(Relaxed),
                requests: s.requests.load(Relaxed),
                bytes_sent: s.bytes_sent.load(Relaxed),
                status: std::array::from_fn(|c| s.status[c].load(Relaxed)),
                log_dropped_lines: s.log_dropped_lines.load(Relaxed),
            })
        })
        .collect()
}
