//! The `--status-path` page through the real binary: Prometheus text whose numbers add up with what the test
//! sent, live connections that follow the connections held open, and a page hidden (404) from anyone but
//! loopback and trusted proxies.
//!
//! Dashboards and alerts are built on these counters, so they are checked against exact request counts,
//! not just for being present.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::*;

const STATUS: &str = "/-/metrics";

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>hello</h1>\n");
    root
}

/// Sample values by series (`name{labels}`), every line checked for shape.
fn parse_metrics(text: &str) -> BTreeMap<String, u64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: u64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap_or_default();
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no # TYPE line");
        assert!(samples.insert(series.to_string(), value).is_none(), "duplicate series {series}");
    }
    samples
}

/// Sum over workers of `name` (optionally only series containing `filter`).
fn total(samples: &BTreeMap<String, u64>, name: &str, filter: &str) -> u64 {
    samples.iter().filter(|(k, _)| k.split('{').next() == Some(name) && k.contains(filter)).map(|(_, v)| *v).sum()
}

fn scrape(addr: SocketAddr) -> (Response, BTreeMap<String, u64>) {
    let resp = get(addr, STATUS);
    assert_eq!(resp.status, 200, "status page: {:?}", resp.body_str());
    let samples = parse_metrics(&resp.body_str());
    (resp, samples)
}

/// One request on its own connection, read to EOF; returns (status, bytes on the wire).
fn exchange(addr: SocketAddr, path: &str) -> (u16, u64) {
    let mut s = connect(addr);
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).expect("write");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read");
    let status = String::from_utf8_lossy(got.get(9..12).unwrap_or_default()).parse().unwrap_or(0);
    (status, got.len() as u64)
}

#[test]
fn counters_add_up_with_what_was_sent() {
    let root = site("status-counts");
    let server = root.serve(&["--status-path", STATUS]);
    let (mut sent_bytes, mut ok, mut missing) = (0, 0, 0);
    for i in 0..12 {
        let (status, bytes) = if i % 5 == 0 { exchange(server.addr(), "/nope") } else { exchange(server.addr(), "/") };
        match status {
            200 => ok += 1,
            404 => missing += 1,
            other => panic!("unexpected status {other}"),
        }
        sent_bytes += bytes;
    }
    assert_eq!((ok, missing), (9, 3));
    let (resp, m) = scrape(server.addr());
    let ctype = resp.header("content-type").unwrap_or_default();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "content type {ctype:?}");
    // The page is rendered before its own response is counted (the engine counts a response once the site
    // has queued it), so this scrape sees exactly the 12 requests before it.
    assert_eq!(total(&m, "staticd_requests_total", ""), 12, "{m:#?}");
    assert_eq!(total(&m, "staticd_responses_total", "class=\"2xx\""), 9);
    assert_eq!(total(&m, "staticd_responses_total", "class=\"4xx\""), 3);
    for class in ["1xx", "3xx", "5xx"] {
        assert_eq!(total(&m, "staticd_responses_total", &format!("class=\"{class}\"")), 0, "{class}");
    }
    // 12 connections before, plus the scrape's own (counted when the worker received it).
    assert_eq!(total(&m, "staticd_connections_accepted_total", ""), 13);
    // Bytes are counted as they are written; the 12 earlier responses were read whole.
    assert_eq!(total(&m, "staticd_bytes_sent_total", ""), sent_bytes);
    assert_eq!(m.get("staticd_workers"), Some(&2));
    assert!(m.contains_key("staticd_uptime_seconds"));
    let workers: Vec<&String> = m.keys().filter(|k| k.starts_with("staticd_requests_total{")).collect();
    assert_eq!(workers.len(), 2, "one series per worker: {workers:?}");
    // The next scrape counts the previous one.
    let (_, m2) = scrape(server.addr());
    assert_eq!(total(&m2, "staticd_requests_total", ""), 13);
    assert_eq!(total(&m2, "staticd_responses_total", "class=\"2xx\""), 10);
    let head = head(server.addr(), STATUS);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert!(head.content_length().is_some_and(|l| l > 0));
}

#[test]
fn live_connections_follow_connections_held_open() {
    let root = site("status-live");
    let server = root.serve(&["--status-path", STATUS]);
    let held: Vec<_> = (0..5).map(|_| server.served_keepalive("/")).collect();
    let (_, m) = scrape(server.addr());
    assert_eq!(total(&m, "staticd_connections_live", ""), 6, "5 held + the scrape's own: {m:#?}");
    drop(held);
    let mut last = 0;
    let closed = wait_until(LONG, || {
        last = total(&scrape(server.addr()).1, "staticd_connections_live", "");
        last == 1
    });
    assert!(closed, "live connections after closing the 5: {last} (want 1, the scrape itself)");
}

/// A PROXY v1 header claiming `src`, then a request for the status page.
fn status_via_proxy(addr: SocketAddr, src: &str) -> Response {
    let src: IpAddr = src.parse().expect("literal");
    let dst: IpAddr = if src.is_ipv4() { "192.0.2.1".parse() } else { "2001:db8::1".parse() }.expect("literal");
    let mut s = connect(addr);
    let mut raw = proxy_v1(src, dst, 4000, 80);
    raw.extend_from_slice(format!("GET {STATUS} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    s.write_all(&raw).expect("write");
    read_response(&mut s, &mut Vec::new(), false).expect("response")
}

#[test]
fn status_page_is_hidden_from_public_clients() {
    let root = site("status-hidden");
    let server = root.serve(&["--status-path", STATUS, "--proxy-protocol", "--trusted-proxy", "198.51.100.0/24"]);
    let missing = {
        let mut s = connect(server.addr());
        let mut raw = proxy_v1("203.0.113.7".parse().expect("ip"), "192.0.2.1".parse().expect("ip"), 1, 80);
        raw.extend_from_slice(b"GET /no-such-file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        s.write_all(&raw).expect("write");
        read_response(&mut s, &mut Vec::new(), false).expect("response")
    };
    let public = status_via_proxy(server.addr(), "203.0.113.7");
    assert_eq!(public.status, 404, "public client: {:?}", public.body_str());
    assert_eq!(public.body, missing.body, "the same 404 as any missing file");
    assert_eq!(status_via_proxy(server.addr(), "2001:db8::99").status, 404, "public IPv6 client");
    for allowed in ["198.51.100.9", "127.0.0.1", "::1"] {
        let resp = status_via_proxy(server.addr(), allowed);
        assert_eq!(resp.status, 200, "{allowed}: {:?}", resp.body_str());
        assert!(resp.body_str().contains("staticd_requests_total"), "{allowed}");
    }
}

#[test]
fn status_path_is_off_by_default() {
    let root = site("status-off");
    let server = root.serve(&[]);
    assert_eq!(get(server.addr(), STATUS).status, 404);
}

#[test]
fn status_page_is_hidden_from_clients_forwarded_by_a_local_proxy() {
    // A reverse proxy on the same host connects from loopback; the client it forwards must not see the page.
    let root = site("status-fwd");
    let server = root.serve(&["--status-path", STATUS]);
    let ask = |headers: &str| {
        let raw = format!("GET {STATUS} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
        request(server.addr(), raw.as_bytes()).status
    };
    assert_eq!(ask(""), 200, "a local client");
    assert_eq!(ask("X-Forwarded-For: 203.0.113.9\r\n"), 404, "a public client behind a local proxy");
    assert_eq!(ask("Forwarded: for=\"[2001:db8::7]\"\r\n"), 404, "the same with Forwarded");
    assert_eq!(ask("X-Forwarded-For: 127.0.0.1\r\n"), 200, "a local client behind a local proxy");
}

/// Behind nginx over `unix:` every request arrives from the socket, local or not: the forwarding header is
/// what names the client, and a public one must not see the page.
#[test]
fn status_page_over_a_unix_socket_checks_forwarded_clients() {
    use std::os::unix::net::UnixStream;
    let root = site("status-unix");
    let sock = root.beside("status.sock");
    let listen = format!("unix:{}", sock.display());
    let server = root.serve(&["--listen", &listen, "--status-path", STATUS]);
    let ask = |extra: &str| {
        let mut s = UnixStream::connect(&sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        s.write_all(format!("GET {STATUS} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n").as_bytes())
            .expect("write");
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("response: {e}"));
        resp.status
    };
    assert_eq!(ask(""), 200, "a local client on the socket; stderr:\n{}", server.stderr_text());
    assert_eq!(ask("X-Forwarded-For: 203.0.113.5\r\n"), 404, "a public client forwarded over the socket");
    assert_eq!(ask("X-Forwarded-For: 127.0.0.1\r\n"), 200, "a local client forwarded over the socket");
    assert_eq!(ask("Forwarded: for=203.0.113.5\r\n"), 404, "a public client named by Forwarded");
    assert_eq!(ask("X-Forwarded-For: 203.0.113.5, 127.0.0.1\r\n"), 404, "a public client behind a local hop");
}

#[test]
fn the_compressors_finished_requests_are_counted() {
    let root = site("status-zip");
    // Text that compresses, over the 1 KiB minimum.
    let text: String = (0..400).map(|i| format!("line {i} of a page that repeats itself\n")).collect();
    root.write("page.txt", text.as_bytes());
    let server = root.serve(&["--status-path", STATUS]);
    let (_, before) = scrape(server.addr());
    assert_eq!(before.get("staticd_compressions_total"), Some(&0));
    // The first request asks for the compression; the counter moves once the entry is written.
    let counted = wait_until(Duration::from_secs(120), || {
        let r = fetch(server.addr(), "GET", "/page.txt", &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.status, 200);
        scrape(server.addr()).1.get("staticd_compressions_total").is_some_and(|&n| n >= 1)
    });
    assert!(counted, "no compression counted; stderr:\n{}", server.stderr_text());
}
