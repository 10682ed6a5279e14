//! Reverse-proxy awareness through the real binary: PROXY protocol v1/v2 (`--proxy-protocol`), trusted
//! X-Forwarded-For / Forwarded (`--trusted-proxy`), and directory redirects that stay relative behind a proxy.
//!
//! Behind a load balancer every connection comes from the balancer, so without these the access log names
//! the balancer for every request; and trusting the headers from anyone would let clients pick their own
//! address. Both directions are pinned by reading the client field of the access log.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use crate::support::*;

fn site(tag: &str) -> TempRoot {
    let root = TempRoot::new(tag);
    root.write("index.html", b"<h1>hello</h1>\n");
    root.mkdir("dir");
    root.write("dir/index.html", b"dir\n");
    root
}

fn start_logging(root: &TempRoot, log: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--access-log", log.to_str().expect("utf-8"), "--header-timeout", "3"];
    args.extend_from_slice(extra);
    root.serve(&args)
}

/// Sends `prefix` then one or more requests on one connection and reads every response.
fn via(addr: SocketAddr, prefix: &[u8], requests: &[&str]) -> Vec<Response> {
    let mut s = connect(addr);
    let mut raw = prefix.to_vec();
    for r in requests {
        raw.extend_from_slice(r.as_bytes());
    }
    s.write_all(&raw).expect("write");
    let mut buf = Vec::new();
    requests
        .iter()
        .map(|r| read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("no response to {r:?}: {e}")))
        .collect()
}

fn req(target: &str, extra_headers: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra_headers}\r\n")
}

/// The client logged for the request with this exact target (each test uses unique targets).
fn client_for(log: &Path, target: &str) -> String {
    let (combined, json) = (format!(" {target} HTTP/1.1\""), format!("\"target\":\"{target}\""));
    let mut found = None;
    wait_until(LONG, || {
        found = log_lines(log).into_iter().find(|l| l.contains(&combined) || l.contains(&json));
        found.is_some()
    });
    let line = found.unwrap_or_else(|| panic!("no log line for {target}; log:\n{}", log_lines(log).join("\n")));
    logged_client(&line)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal address")
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("literal socket address")
}

#[test]
fn proxy_protocol_v1_source_is_the_logged_client() {
    let root = site("ppv1");
    let log = root.beside("access.log");
    let server = start_logging(&root, &log, &["--proxy-protocol"]);
    let v4 = proxy_v1(ip("203.0.113.7"), ip("192.0.2.1"), 51234, 443);
    let resps = via(server.addr(), &v4, &[&req("/v1-a", ""), &req("/index.html?v1-b", "Connection: close\r\n")]);
    assert_eq!((resps[0].status, resps[1].status), (404, 200));
    assert_eq!(client_for(&log, "/v1-a"), "203.0.113.7");
    assert_eq!(client_for(&log, "/index.html?v1-b"), "203.0.113.7", "every request of the connection");
    let v6 = proxy_v1(ip("2001:db8::7"), ip("2001:db8::1"), 40000, 80);
    assert_eq!(via(server.addr(), &v6, &[&req("/v1-6", "Connection: close\r\n")])[0].status, 404);
    assert_eq!(client_for(&log, "/v1-6"), "2001:db8::7");
    // UNKNOWN: the proxy does not know the source; the connection's own address is used.
    let unknown = b"PROXY UNKNOWN\r\n";
    assert_eq!(via(server.addr(), unknown, &[&req("/v1-unknown", "Connection: close\r\n")])[0].status, 404);
    assert_eq!(client_for(&log, "/v1-unknown"), "127.0.0.1");
}

#[test]
fn proxy_protocol_v2_source_is_the_logged_client() {
    let root = site("ppv2");
    let log = root.beside("access.jsonl");
    let server = start_logging(&root, &log, &["--proxy-protocol", "--log-format", "json"]);
    let v4 = proxy_v2(sa("203.0.113.7:51234"), sa("192.0.2.1:443"), &[]);
    assert_eq!(via(server.addr(), &v4, &[&req("/index.html?v2-4", "Connection: close\r\n")])[0].status, 200);
    assert_eq!(client_for(&log, "/index.html?v2-4"), "203.0.113.7");
    // With a TLV section (e.g. PP2_TYPE_AUTHORITY "example.com"), which must be skipped.
    let mut tlv = vec![0x02, 0x00, 0x0b];
    tlv.extend_from_slice(b"example.com");
    let v6 = proxy_v2(sa("[2001:db8::9]:1234"), sa("[2001:db8::1]:443"), &tlv);
    assert_eq!(via(server.addr(), &v6, &[&req("/v2-6", "Connection: close\r\n")])[0].status, 404);
    assert_eq!(client_for(&log, "/v2-6"), "2001:db8::9");
    let local = proxy_v2_local();
    assert_eq!(via(server.addr(), &local, &[&req("/v2-local", "Connection: close\r\n")])[0].status, 404);
    assert_eq!(client_for(&log, "/v2-local"), "127.0.0.1", "LOCAL: the connection's own address");
}

#[test]
fn malformed_or_missing_proxy_header_closes_without_a_response() {
    let root = site("ppbad");
    let log = root.beside("access.log");
    let mut server = start_logging(&root, &log, &["--proxy-protocol"]);
    let mut bad_v2_version = proxy_v2(sa("203.0.113.7:1"), sa("192.0.2.1:2"), &[]);
    bad_v2_version[12] = 0x31;
    let mut short_v2 = proxy_v2(sa("203.0.113.7:1"), sa("192.0.2.1:2"), &[]);
    short_v2[14..16].copy_from_slice(&4u16.to_be_bytes());
    short_v2.truncate(16 + 4);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain request, no header", req("/plain", "").into_bytes()),
        ("bad address", b"PROXY TCP4 999.1.1.1 192.0.2.1 1 2\r\n".to_vec()),
        ("unknown protocol", b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n".to_vec()),
        ("LF only", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec()),
        ("v6 address in TCP4", b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n".to_vec()),
        ("port out of range", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n".to_vec()),
        ("lower-case", b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec()),
        ("v2 version 3", bad_v2_version),
        ("v2 block shorter than its addresses", short_v2),
        ("TLS hello", vec![0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]),
    ];
    for (name, prefix) in &cases {
        let mut s = connect(server.addr());
        let mut raw = prefix.clone();
        raw.extend_from_slice(req("/after-bad-header", "Connection: close\r\n").as_bytes());
        // The server may close before reading everything: a failed write is part of the expected outcome.
        let _ = s.write_all(&raw);
        match read_ending(&mut s, Vec::new()) {
            Ending::Eof(b) | Ending::Reset(b) if b.is_empty() => {}
            other => panic!("{name}: expected the connection closed with no response, got {other:?}"),
        }
    }
    // One good connection, then stop: nothing but its line may be in the log.
    let good = proxy_v1(ip("203.0.113.8"), ip("192.0.2.1"), 1, 2);
    assert_eq!(via(server.addr(), &good, &[&req("/good", "Connection: close\r\n")])[0].status, 404);
    server.signal(libc::SIGQUIT);
    assert!(server.wait_exit(LONG).is_some());
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 1, "only the good request is logged:\n{}", lines.join("\n"));
    assert!(lines[0].starts_with("203.0.113.8 - - ["), "{:?}", lines[0]);
}

/// (trusted CIDRs, request headers, expected logged client) for a connection from 127.0.0.1.
fn forwarding_cases() -> Vec<(Vec<&'static str>, &'static str, &'static str)> {
    let xff = "X-Forwarded-For: 198.51.100.9, 10.1.1.1\r\n";
    vec![
        // Not configured: the headers are ignored.
        (vec![], xff, "127.0.0.1"),
        (vec![], "Forwarded: for=198.51.100.9\r\n", "127.0.0.1"),
        // Right-most untrusted entry.
        (vec!["127.0.0.1/32"], xff, "10.1.1.1"),
        (vec!["127.0.0.1/32", "10.0.0.0/8"], xff, "198.51.100.9"),
        // Every hop trusted: the left-most one.
        (vec!["127.0.0.1/32", "10.0.0.0/8"], "X-Forwarded-For: 10.2.2.2, 10.1.1.1\r\n", "10.2.2.2"),
        // A client-forged left part does not matter: the proxy appended the real address last.
        (vec!["127.0.0.1/32"], "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 198.51.100.10\r\n", "198.51.100.10"),
        // Two header lines are one list.
        (vec!["127.0.0.0/8"], "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 198.51.100.2\r\n", "198.51.100.2"),
        (vec!["127.0.0.1/32"], "Forwarded: for=\"[2001:db8::1]:4711\"\r\n", "2001:db8::1"),
        (vec!["127.0.0.1/32"], "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n", "192.0.2.60"),
        (vec!["127.0.0.1/32"], "X-Forwarded-For: [2001:db8::5]:80\r\n", "2001:db8::5"),
        // No header from a trusted proxy: the proxy itself.
        (vec!["127.0.0.1/32"], "", "127.0.0.1"),
        // A peer outside the trusted ranges is not believed.
        (vec!["10.0.0.0/8"], xff, "127.0.0.1"),
    ]
}

#[test]
fn trusted_proxy_headers_name_the_client_and_others_are_ignored() {
    let root = site("xff");
    let mut wrong = Vec::new();
    for (i, (trusted, headers, want)) in forwarding_cases().into_iter().enumerate() {
        let log = root.beside(&format!("access-{i}.log"));
        let mut extra = Vec::new();
        for cidr in &trusted {
            extra.extend(["--trusted-proxy", cidr]);
        }
        let server = start_logging(&root, &log, &extra);
        let target = format!("/xff-{i}");
        let resp = via(server.addr(), b"", &[&req(&target, &format!("{headers}Connection: close\r\n"))]);
        assert_eq!(resp[0].status, 404);
        let got = client_for(&log, &target);
        if got != want {
            wrong.push(format!("case {i}: trusted {trusted:?}, headers {headers:?}: logged {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "wrong client address:\n{}", wrong.join("\n"));
}

#[test]
fn headers_are_ignored_from_an_untrusted_proxy_protocol_source() {
    let root = site("xff-pp");
    let log = root.beside("access.log");
    let server = start_logging(&root, &log, &["--proxy-protocol", "--trusted-proxy", "127.0.0.1/32"]);
    // After a PROXY header, the peer is the header's source: untrusted, so XFF is ignored...
    let from_public = proxy_v1(ip("203.0.113.7"), ip("192.0.2.1"), 1, 2);
    let xff = "X-Forwarded-For: 198.51.100.9\r\nConnection: close\r\n";
    via(server.addr(), &from_public, &[&req("/pp-public", xff)]);
    assert_eq!(client_for(&log, "/pp-public"), "203.0.113.7");
    // ...and believed when the header's source is a trusted proxy.
    let from_trusted = proxy_v1(ip("127.0.0.1"), ip("127.0.0.1"), 1, 2);
    via(server.addr(), &from_trusted, &[&req("/pp-trusted", xff)]);
    assert_eq!(client_for(&log, "/pp-trusted"), "198.51.100.9");
}

#[test]
fn directory_redirects_stay_relative_behind_a_proxy() {
    let root = site("redirect");
    let log = root.beside("access.log");
    let server = start_logging(&root, &log, &["--trusted-proxy", "127.0.0.1/32"]);
    let proxied = "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Prefix: /app\r\n\
                   Forwarded: for=198.51.100.9;proto=https;host=evil.example\r\nConnection: close\r\n";
    for (target, want) in [("/dir", "/dir/"), ("/dir?a=1&b", "/dir/?a=1&b")] {
        let resp = via(server.addr(), b"", &[&req(target, proxied)]);
        assert_eq!(resp[0].status, 301, "{target}");
        assert_eq!(resp[0].header("location"), Some(want), "{target}: Location must stay relative");
    }
    let plain = get(server.addr(), "/dir");
    assert_eq!(plain.header("location"), Some("/dir/"));
}

#[test]
fn a_reload_keeps_the_proxy_protocol_client_of_a_kept_connection() {
    // The PROXY header was read by the old worker; the connection handed over to the new one must keep the
    // client it named (and not wait for a second header).
    let root = site("pp-reload");
    let log = root.beside("access.log");
    let server = start_logging(&root, &log, &["--proxy-protocol", "--workers", "1"]);
    let old = server.wait_for_workers(1, LONG);
    let mut s = connect(server.addr());
    let mut raw = proxy_v1(ip("203.0.113.8"), ip("192.0.2.1"), 51234, 443);
    raw.extend_from_slice(req("/index.html?pp-before", "").as_bytes());
    s.write_all(&raw).expect("write");
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).expect("first response").status, 200);
    server.signal(libc::SIGHUP);
    let needle = format!("old worker (pid {}) finished after reload", old[0]);
    assert!(server.wait_for_stderr(|l| l.contains(&needle), LONG).is_some(), "the old worker kept the connection");
    s.write_all(req("/index.html?pp-after", "").as_bytes()).expect("write after the reload");
    let resp = read_response(&mut s, &mut buf, false).expect("answered by the new worker");
    assert_eq!(resp.status, 200);
    assert!(!resp.says_close());
    assert_eq!(client_for(&log, "/index.html?pp-after"), "203.0.113.8");
}
