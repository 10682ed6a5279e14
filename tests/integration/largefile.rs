//! Integration tests for large bodies (issue 4): a 5 GiB sparse file (Content-Length and ranges past 4 GiB,
//! which need 64-bit offsets and sendfile in a loop), a file truncated while a slow client downloads it
//! (the connection must close cleanly, never hang or send foreign bytes), and `curl -C -` resuming an
//! interrupted download to a byte-identical result.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

const GIB: u64 = 1 << 30;
const BIG: u64 = 5 * GIB;

/// Writes `data` at `offset` of an existing file.
fn write_at(path: &Path, offset: u64, data: &[u8]) {
    let f = fs::File::options().write(true).open(path).expect("open");
    f.write_all_at(data, offset).expect("write_at");
}

/// The regions of the sparse file that hold known bytes (everything else is zeros).
fn big_regions() -> Vec<(u64, Vec<u8>)> {
    vec![
        (0, pattern(4096, 31)),
        (4 * GIB - 4096, pattern(8192, 32)),
        (4 * GIB + 123_457, pattern(4096, 33)),
        (BIG - 4096, pattern(4096, 34)),
    ]
}

fn big_site(tag: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    let path = site.write_sparse("big.bin", BIG);
    for (offset, data) in big_regions() {
        write_at(&path, offset, &data);
    }
    site
}

#[test]
fn five_gib_sparse_file_head_and_ranges_past_4gib() {
    let site = big_site("big-sparse");
    let server = site.serve(&[]);
    let h = fetch(server.addr(), "HEAD", "/big.bin", &[]);
    expect_status(&h, 200, "HEAD /big.bin");
    assert_eq!(content_length(&h, "HEAD"), BIG, "Content-Length of a 5 GiB file");
    assert_file_headers(&h, "HEAD /big.bin");
    assert_eq!(header(&h, "Content-Type", "big"), "application/octet-stream");

    for (offset, data) in big_regions() {
        let end = offset + data.len() as u64 - 1;
        let range = format!("bytes={offset}-{end}");
        let what = format!("Range {range}");
        let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", range.as_str())]);
        expect_status(&r, 206, &what);
        assert_eq!(header(&r, "Content-Range", &what), format!("bytes {offset}-{end}/{BIG}"));
        assert!(r.body == data, "{what}: bytes differ from what was written there");
        let h = fetch(server.addr(), "HEAD", "/big.bin", &[("Range", range.as_str())]);
        expect_status(&h, 206, &format!("HEAD {what}"));
        assert_eq!(content_length(&h, &what), data.len() as u64);
    }
    // Zeros in the hole past 4 GiB, a suffix range, an open range of the last byte.
    let hole = 4 * GIB + 1_000_000;
    let range = format!("bytes={hole}-{}", hole + 2047);
    let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", range.as_str())]);
    expect_status(&r, 206, "hole");
    assert!(r.body.len() == 2048 && r.body.iter().all(|b| *b == 0));
    let last = big_regions().pop().expect("regions").1;
    let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", "bytes=-4096")]);
    expect_status(&r, 206, "suffix on 5 GiB");
    assert_eq!(header(&r, "Content-Range", "suffix"), format!("bytes {}-{}/{BIG}", BIG - 4096, BIG - 1));
    assert!(r.body == last);
    let range = format!("bytes={}-", BIG - 1);
    let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", range.as_str())]);
    expect_status(&r, 206, "last byte");
    assert_eq!(r.body, &last[4095..]);
    // Offsets that wrap at 32 bits must not alias low offsets.
    let range = format!("bytes={}-{}", 4 * GIB, 4 * GIB + 4095);
    let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", range.as_str())]);
    expect_status(&r, 206, "at 4 GiB");
    assert!(r.body == pattern(8192, 32)[4096..], "bytes at 4 GiB wrong");
    // Multi-range across the 4 GiB boundary.
    let regions = big_regions();
    let range = format!("bytes={}-{},{}-{}", regions[2].0, regions[2].0 + 4095, regions[0].0, regions[0].0 + 4095);
    let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", range.as_str())]);
    expect_status(&r, 206, "multi past 4 GiB");
    let parts = parse_multipart(&r);
    assert_eq!(parts.len(), 2);
    assert!(parts[0].start == 0 && parts[0].body == regions[0].1);
    assert!(parts[1].start == regions[2].0 && parts[1].body == regions[2].1);
    assert_eq!(parts[1].total, BIG);
    // Unsatisfiable exactly at the end.
    let range = format!("bytes={BIG}-");
    let r = fetch(server.addr(), "GET", "/big.bin", &[("Range", range.as_str())]);
    expect_status(&r, 416, "416 at 5 GiB");
    assert_eq!(header(&r, "Content-Range", "416"), format!("bytes */{BIG}"));
}

#[test]
fn five_gib_full_get_starts_streaming_and_client_may_abort() {
    let site = big_site("big-abort");
    let server = site.serve(&[]);
    let mut stream = connect(server.addr());
    stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let (head, mut body) = read_head(&mut stream);
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.content_length(), Some(BIG), "{head:?}");
    read_at_least(&mut stream, &mut body, 1 << 20);
    assert!(body[..4096] == big_regions()[0].1, "first bytes differ");
    assert!(body[4096..1 << 20].iter().all(|b| *b == 0));
    // Hang up mid-body; the server must shrug it off.
    drop(stream);
    for _ in 0..4 {
        let h = fetch(server.addr(), "HEAD", "/big.bin", &[]);
        expect_status(&h, 200, "HEAD after an aborted download");
    }
}

#[test]
fn file_truncated_during_a_slow_download_closes_cleanly() {
    const SIZE: usize = 48 << 20;
    const CUT: u64 = 3 << 20;
    let site = TempRoot::new("truncate");
    let data = pattern(SIZE, 41);
    let path = site.write("big.bin", &data);
    site.write("small.txt", b"still serving\n");
    let server = site.serve(&[]);

    let mut stream = connect(server.addr());
    stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let (head, mut body) = read_head(&mut stream);
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.content_length(), Some(SIZE as u64), "{head:?}");
    // A slow reader: 2 MiB in small sips, so the server is mid-body with full socket buffers.
    let mut chunk = vec![0u8; 32768];
    while body.len() < 2 << 20 {
        let n = stream.read(&mut chunk).expect("slow read");
        assert!(n > 0, "EOF after only {} bytes", body.len());
        body.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(2));
    }
    // Shrink the file under the server's feet (page-aligned, so no page is partly zeroed).
    fs::File::options().write(true).open(&path).expect("open for truncate").set_len(CUT).expect("truncate");
    let cut_at = Instant::now();
    // Now read as fast as possible: the stream must end (EOF or reset) well within the deadline.
    let deadline = Duration::from_secs(40);
    let ending = loop {
        assert!(
            cut_at.elapsed() < deadline,
            "connection still open {deadline:?} after truncation ({} bytes read)",
            body.len()
        );
        match stream.read(&mut chunk) {
            Ok(0) => break "eof",
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break "reset",
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!(
                    "server hung after the file shrank: no EOF, no data for {IO_TIMEOUT:?} \
                     ({} of {SIZE} body bytes received)",
                    body.len()
                )
            }
            Err(e) => panic!("unexpected read error: {e}"),
        }
    };
    assert!(body.len() < SIZE, "received the full {SIZE} bytes of a file truncated to {CUT} ({ending})");
    // Everything that did arrive is the file's own bytes at the right offsets. Bytes past the cut were
    // queued before the truncation (sendfile after it returns 0); sendfile queues page references, and
    // the kernel zeroes the truncated part of a large page-cache folio in place, so those may read as
    // zeros. Anything else (shifted data, another file's bytes) is a server bug.
    let cut = CUT as usize;
    if let Some(bad) = body.iter().zip(&data).take(cut).position(|(a, b)| a != b) {
        panic!("byte {bad} (before the cut at {CUT}) differs from the file: shifted or foreign bytes");
    }
    if let Some(bad) = body.iter().zip(&data).skip(cut).position(|(a, b)| a != b && *a != 0) {
        panic!("byte {} (past the cut at {CUT}) is neither the file's byte nor a zero: foreign bytes", bad + cut);
    }
    // The server keeps serving.
    let r = get(server.addr(), "/small.txt");
    expect_status(&r, 200, "after truncation");
    assert_eq!(r.body, b"still serving\n");
    let h = fetch(server.addr(), "HEAD", "/big.bin", &[]);
    expect_status(&h, 200, "HEAD after truncation");
    let cl = content_length(&h, "HEAD after truncation");
    // The cache may take a moment to notice the new size.
    if cl != CUT {
        let resized = wait_until(Duration::from_secs(15), || {
            let h = fetch(server.addr(), "HEAD", "/big.bin", &[]);
            content_length(&h, "HEAD") == CUT
        });
        assert!(resized, "timed out waiting for the new size in Content-Length");
    }
}

/// Long enough for any of these downloads on a loaded machine; a hung curl fails the test instead of hanging it.
const CURL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs curl; returns its exit code and stderr.
fn curl(args: &[&str]) -> (i32, String) {
    let run = run_tool("curl", args, None, CURL_TIMEOUT);
    (run.status.code().unwrap_or(-1), run.stderr)
}

#[test]
fn curl_resumes_an_interrupted_download_byte_identically() {
    if !require_tool("curl") {
        return;
    }
    const SIZE: usize = 6_000_123;
    let site = TempRoot::new("curl-resume");
    let data = pattern(SIZE, 51);
    site.write("download.bin", &data);
    let server = site.serve(&[]);
    let url = format!("http://{}/download.bin", server.addr());

    // 1. A partial file left by a ranged download, then resumed.
    let out = site.beside("out1.bin");
    let out_s = out.to_str().expect("utf-8");
    let (code, err) = curl(&["-sS", "-f", "-r", "0-2499999", "-o", out_s, &url]);
    assert_eq!(code, 0, "curl -r failed: {err}");
    assert_eq!(fs::metadata(&out).expect("out1").len(), 2_500_000);
    let (code, err) = curl(&["-sS", "-f", "-C", "-", "-o", out_s, &url]);
    assert_eq!(code, 0, "curl -C - failed: {err}");
    let got = fs::read(&out).expect("read out1");
    assert_eq!(got.len(), SIZE, "resumed file has the wrong size");
    assert!(got == data, "resumed file differs from the original");

    // 2. A download cut off by a time limit (curl exit 28), then resumed.
    let out = site.beside("out2.bin");
    let out_s = out.to_str().expect("utf-8");
    let (code, err) = curl(&["-sS", "-f", "--limit-rate", "1M", "--max-time", "1", "-o", out_s, &url]);
    assert!(code == 28 || code == 0, "interrupted curl: exit {code}: {err}");
    let partial = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(partial <= SIZE as u64);
    let (code, err) = curl(&["-sS", "-f", "-C", "-", "-o", out_s, &url]);
    // curl reports 33 or 0 when the file was already complete; with a real partial it must be 0.
    assert!(code == 0 || (partial == SIZE as u64), "curl -C - after {partial} bytes: exit {code}: {err}");
    let got = fs::read(&out).expect("read out2");
    assert!(got == data, "resumed (after {partial} bytes) file differs from the original");
}

#[test]
fn a_fast_large_download_does_not_starve_other_connections() {
    // One worker, so the download and the small requests share an event loop.
    let site = big_site("big-starve");
    site.write("small.txt", b"small\n");
    let server = site.serve(&["--workers", "1"]);
    let addr = server.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let downloader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut stream = connect(addr);
            stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
            let mut chunk = vec![0u8; 1 << 20];
            let mut total = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n as u64,
                }
            }
            total
        })
    };
    // Let the download get going.
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let start = Instant::now();
        let r = get(server.addr(), "/small.txt");
        expect_status(&r, 200, "small file during a big download");
        assert_eq!(r.body, b"small\n");
        slowest = slowest.max(start.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total = downloader.join().expect("downloader thread");
    assert!(total > 1 << 20, "the big download made no progress ({total} bytes)");
    assert!(
        slowest < Duration::from_secs(2),
        "a small request took {slowest:?} while one big download ran on the same worker"
    );
}
