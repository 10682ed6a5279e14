//! Micro-benchmarks of the per-request protocol code: request-head parsing, HTTP dates, chunked bodies,
//! trusted-proxy matching, PROXY protocol headers and the site's `_headers`/`_redirects` rules. They exist to decide, by measurement, whether a crate
//! may replace one of our hand-written parsers (README `## Dependencies`), and to catch a slower hot path.
//!
//! Plain `Instant` loops rather than a harness, so the bench needs no extra dependency and runs unchanged
//! under `valgrind --tool=callgrind` (where instruction counts, not times, are what is compared).
//!
//! `cargo bench --bench hotpath [-- FILTER [ITERATIONS [ROUNDS]]]`: every bench whose name contains
//! FILTER runs ROUNDS rounds of ITERATIONS calls and prints the median ns per call; `=NAME` selects exactly one.
//!
//! Instructions per call, steady on a busy machine: run one bench under callgrind at two iteration counts and
//! divide the difference, e.g. for `B=target/release/deps/hotpath-…` and `N` in 2000 and 22000,
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null $B =rules/redirect_miss_1000 N 1` ("Collected").

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use staticd::http::chunked::ChunkedDecoder;
use staticd::http::date::{format_http_date, parse_http_date, DateCache};
use staticd::http::request::{parse, Limits, Parsed};
use staticd::ops::access_log::{write_record, LogFormat, Record};
use staticd::ops::forwarded::{client_addr, is_trusted, Cidr};
use staticd::ops::proxy_protocol;
use staticd::site::rules::Rules;

const LIMITS: Limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1 << 20 };

/// What Firefox sends for a stylesheet it has cached: the shape of most requests a static server sees.
const BROWSER_GET: &[u8] = b"GET /assets/app.css?v=3 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/css,*/*;q=0.1\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/\r\n\
Connection: keep-alive\r\n\
Sec-Fetch-Dest: style\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
If-Modified-Since: Tue, 15 Oct 2024 08:12:31 GMT\r\n\
If-None-Match: \"5f1c-61a2b3c4\"\r\n\
Priority: u=2\r\n\r\n";

const CHUNKED_BODY: &[u8] =
    b"1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n0123456789abcdef\r\n0\r\nExpires: never\r\n\r\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let filter = args.first().cloned().unwrap_or_default();
    let iterations: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(7);
    let run = |name: &str, f: &mut dyn FnMut()| {
        let selected = match filter.strip_prefix('=') {
            Some(exact) => name == exact,
            None => name.contains(&filter),
        };
        if selected {
            println!("{name:<28} {:>9.1} ns", median_ns(iterations, rounds, f));
        }
    };

    run("request/browser_get", &mut || request(BROWSER_GET));
    // The same head with Referer and User-Agent renamed (same length) to fields nobody keeps: the difference to
    // browser_get is what copying those two values costs.
    let unkept = String::from_utf8_lossy(BROWSER_GET)
        .replace("\nUser-Agent:", "\nX-Ser-Agent:")
        .replace("\nReferer:", "\nX-Refer:");
    run("request/browser_get_unkept", &mut || request(unkept.as_bytes()));

    let mut secs = 1_729_000_000;
    run("date/format", &mut || {
        secs += 1;
        black_box(format_http_date(black_box(secs)));
    });
    let mut cache = DateCache::new();
    let mut tick = 0u64;
    run("date/cache_same_second", &mut || {
        tick += 1;
        black_box(cache.get(black_box(1_729_000_000 + (tick / 1_000_000) as i64)).len());
    });
    for (name, text) in [
        ("date/parse_imf", "Tue, 15 Oct 2024 08:12:31 GMT"),
        ("date/parse_rfc850", "Tuesday, 15-Oct-24 08:12:31 GMT"),
        ("date/parse_asctime", "Tue Oct 15 08:12:31 2024"),
        ("date/parse_garbage", "\"5f1c-61a2b3c4\""),
    ] {
        run(name, &mut || {
            black_box(parse_http_date(black_box(text)));
        });
    }

    let mut log = Vec::with_capacity(1024);
    for (name, format) in [("log/combined", LogFormat::Combined), ("log/json", LogFormat::Json)] {
        let record = Record {
            client: Some(IpAddr::from([203, 0, 113, 9])),
            time_unix: 1_729_000_000,
            method: "GET",
            target: "/assets/app.css?v=3",
            version: "HTTP/1.1",
            status: 304,
            bytes: 0,
            duration_us: 41,
            referer: Some("https://www.example.com/"),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            received: None,
            worker: 0,
        };
        run(name, &mut || {
            log.clear();
            write_record(&mut log, format, black_box(&record));
            black_box(log.len());
        });
    }

    run("chunked/small_body", &mut || {
        let mut decoder = ChunkedDecoder::new(LIMITS.max_body_bytes);
        black_box(decoder.feed(black_box(CHUNKED_BODY)).ok());
    });

    let trusted: Vec<Cidr> =
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"].iter().filter_map(|c| c.parse().ok()).collect();
    let proxy = IpAddr::from([192, 168, 1, 10]);
    let outsider = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    run("forwarded/is_trusted_hit", &mut || {
        black_box(is_trusted(black_box(proxy), &trusted));
    });
    run("forwarded/is_trusted_miss_v6", &mut || {
        black_box(is_trusted(black_box(outsider), &trusted));
    });
    run("forwarded/client_addr_xff", &mut || {
        black_box(client_addr(black_box(proxy), &trusted, Some("198.51.100.7, 10.1.2.3"), None));
    });
    run("forwarded/client_addr_fwd", &mut || {
        black_box(client_addr(black_box(proxy), &trusted, None, Some("for=198.51.100.7;proto=https, for=10.1.2.3")));
    });
    run("forwarded/cidr_parse", &mut || {
        black_box(black_box("172.16.0.0/12").parse::<Cidr>().ok());
    });

    let v1 = b"PROXY TCP4 198.51.100.7 192.0.2.1 51234 443\r\nGET / HTTP/1.1\r\n";
    let v1_tcp6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 443\r\n";
    let mut v2 = vec![0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0, 12];
    v2.extend_from_slice(&[198, 51, 100, 7, 192, 0, 2, 1, 0xC8, 0x22, 0x01, 0xBB]);
    for (name, header) in [("proxy/v1_tcp4", &v1[..]), ("proxy/v1_tcp6", &v1_tcp6[..]), ("proxy/v2_inet", &v2[..])] {
        run(name, &mut || {
            black_box(proxy_protocol::parse(black_box(header)).ok());
        });
    }

    rules(&run);
    site(&run);
}

/// `files::find` on a real tree: what a cache hit costs (the path as written, and the same path spelled with
/// dot-segments), and what a miss costs (the cache's entries forgotten before every call, its directory
/// watches kept, so the file is opened, stated and read again, and its siblings looked for).
fn site(run: &dyn Fn(&str, &mut dyn FnMut())) {
    use clap::Parser;
    use staticd::config::{Cli, Config};
    use staticd::site::files::{find, Found};
    use std::rc::Rc;

    let dir = std::env::temp_dir().join(format!("staticd-bench-site-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("assets")).expect("bench tree");
    std::fs::write(dir.join("assets/app.css"), vec![b'a'; 2048]).expect("bench file");
    let cli = Cli::parse_from(["staticd", "--workers", "1", "--no-chroot", dir.to_str().expect("utf-8 temp dir")]);
    let cfg = Rc::new(Config::from_cli(cli).expect("bench config"));
    let root = staticd::sys::open_dir(&cfg.root).expect("bench root");
    let shm = staticd::shm::Shm::new(1).expect("bench shm");
    let mut site = staticd::site::Site::new(Rc::clone(&cfg), root, shm, None);
    let req = |target: &str| {
        let head = format!("GET {target} HTTP/1.1\r\nHost: b\r\nAccept-Encoding: gzip, br\r\n\r\n");
        match parse(head.as_bytes(), &LIMITS) {
            Ok(Parsed::Complete { request, .. }) => request,
            other => panic!("benchmark head did not parse: {other:?}"),
        }
    };
    let plain = req("/assets/app.css?v=3");
    let dotted = req("/./assets/../assets/app.css");
    let now = Instant::now();
    let file = |site: &mut staticd::site::Site, r| match find(site, r, now) {
        Found::File(f) => black_box(f.identity.info.size),
        _ => panic!("benchmark file not found"),
    };
    file(&mut site, &plain);
    file(&mut site, &dotted);
    let site = std::cell::RefCell::new(site);
    run("site/hit", &mut || {
        file(&mut site.borrow_mut(), &plain);
    });
    run("site/hit_dotted", &mut || {
        file(&mut site.borrow_mut(), &dotted);
    });
    run("site/miss", &mut || {
        let mut site = site.borrow_mut();
        site.forget_cached();
        file(&mut site, &plain);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// `_headers`/`_redirects` lookups: what a request pays for the site's rules when none applies, with no rules
/// and with 1,000 (the index should make the two close), and what a match costs.
fn rules(run: &dyn Fn(&str, &mut dyn FnMut())) {
    // A large site's file: mostly moved pages, some placeholders and splats, none under /assets.
    let redirects: String = (0..1_000)
        .map(|i| match i % 10 {
            0 | 1 => format!("/blog-{i}/:slug  /posts/{i}/:slug  301\n"),
            2 => format!("/docs-v{i}/*  /docs/:splat  302\n"),
            _ => format!("/old/page-{i}.html  /new/page-{i}  301\n"),
        })
        .collect();
    let headers: String = (0..1_000).map(|i| format!("/section-{i}/*\n  X-Section: {i}\n")).collect();
    let empty = Rules::empty();
    let (Ok(with_redirects), Ok(with_headers)) =
        (Rules::parse(None, Some(&redirects)), Rules::parse(Some(&headers), None))
    else {
        panic!("benchmark rules did not parse");
    };
    let mut out = Vec::with_capacity(256);
    for (name, rules) in [("rules/redirect_miss_empty", &empty), ("rules/redirect_miss_1000", &with_redirects)] {
        run(name, &mut || {
            black_box(rules.redirect_for(black_box("/assets/app.css"), Some("v=3")));
        });
    }
    run("rules/redirect_hit_exact_1000", &mut || {
        black_box(with_redirects.redirect_for(black_box("/old/page-503.html"), Some("v=3")));
    });
    run("rules/redirect_hit_splat_1000", &mut || {
        black_box(with_redirects.redirect_for(black_box("/docs-v502/guide/intro"), None));
    });
    for (name, rules) in [("rules/headers_miss_empty", &empty), ("rules/headers_miss_1000", &with_headers)] {
        run(name, &mut || {
            out.clear();
            black_box(rules.headers_for(black_box("/assets/app.css"), &mut out));
        });
    }
    run("rules/headers_hit_1000", &mut || {
        out.clear();
        black_box(with_headers.headers_for(black_box("/section-500/index.html"), &mut out));
    });
}

fn request(head: &[u8]) {
    match parse(black_box(head), &LIMITS) {
        Ok(Parsed::Complete { request, head_len }) => {
            black_box((request, head_len));
        }
        other => panic!("benchmark head did not parse: {other:?}"),
    }
}

/// The median over `rounds` of the mean time per call in a round of `iterations` calls.
fn median_ns(iterations: u64, rounds: usize, f: &mut dyn FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / iterations.max(1) as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}
