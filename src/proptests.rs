//! Property tests (proptest, stable Rust) for the code that stands between a hostile client and the
//! filesystem: the request-head parser, the chunked body decoder and target-to-path resolution.
//!
//! They live in the binary crate because those modules are private to it, and they run in every
//! `cargo test` with modest case counts; the long, coverage-guided runs are the cargo-fuzz targets in
//! `fuzz/`. The table-driven unit tests next to each module pin exact answers; these pin invariants
//! that must hold for every input: no panic, framing that does not depend on how bytes arrive, and no
//! resolved path that leaves the root.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{parse, Limits, Parsed};
use crate::site::resolve::{directory_redirect, is_hidden, resolve};

const LIMITS: Limits = Limits { max_header_bytes: 2048, max_body_bytes: 4096 };

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Failure persistence files would land in src/; a failing case is printed in full anyway.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Fragments a request head is made of, hostile variants included, so that generated inputs reach
/// past the request line far more often than uniformly random bytes do.
fn head_piece() -> impl Strategy<Value = Vec<u8>> {
    let pieces: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"POST /a?b HTTP/1.1\r\n",
        b"GET http://h/%2e%2e/x HTTP/1.1\r\n",
        b"OPTIONS * HTTP/1.0\r\n",
        b"GET / HTTP/2.0\r\n",
        b"Host: h\r\n",
        b"Host: [::1]:80\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 5, 5\r\n",
        b"Content-Length: +5\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked, identity\r\n",
        b"Transfer-Encoding : chunked\r\n",
        b"Connection: close\r\n",
        b"Range: bytes=0-1\r\n",
        b"\r\n",
        b"\n",
        b" ",
        b"\t",
        b"\0",
    ];
    prop_oneof![
        4 => proptest::sample::select(pieces).prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 0..8),
    ]
}

/// Half the time a free mix of fragments, half the time shaped like a head (a request line, fields, the
/// empty line, then whatever follows), so that complete heads are common rather than lucky.
fn built_head() -> impl Strategy<Value = Vec<u8>> {
    let lines: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"HEAD /a%20b HTTP/1.1\r\n",
        b"POST /a?b HTTP/1.0\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"GET http://h:80/x HTTP/1.1\r\n",
    ];
    let shaped = (proptest::sample::select(lines), vec(head_piece(), 0..8), vec(head_piece(), 0..4)).prop_map(
        |(line, fields, tail)| {
            let mut head = line.to_vec();
            head.extend_from_slice(b"Host: h\r\n");
            head.extend(fields.concat());
            head.extend_from_slice(b"\r\n");
            head.extend(tail.concat());
            head
        },
    );
    prop_oneof![vec(head_piece(), 0..12).prop_map(|parts| parts.concat()), shaped]
}

/// Runs the decoder over `body` cut at `cuts` (positions, in any order); returns (consumed, done) or
/// the error, exactly like a single `feed` of the whole body would.
fn feed_split(body: &[u8], cuts: &[usize]) -> Result<(usize, bool), crate::http::request::RequestError> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
    points.push(body.len());
    points.sort_unstable();
    let mut decoder = ChunkedDecoder::new(LIMITS.max_body_bytes);
    let (mut start, mut consumed) = (0, 0);
    for end in points {
        let piece = body.get(start..end).unwrap_or_default();
        start = end;
        let (used, done) = decoder.feed(piece)?;
        assert!(used <= piece.len(), "consumed more than it was given");
        consumed += used;
        if done {
            return Ok((consumed, true));
        }
        assert_eq!(used, piece.len(), "an unfinished body consumes everything");
    }
    Ok((consumed, false))
}

/// Pieces of chunked bodies, well-formed and not, for the decoder.
fn chunked_body() -> impl Strategy<Value = Vec<u8>> {
    let pieces: &[&[u8]] = &[
        b"5\r\nhello\r\n",
        b"0\r\n\r\n",
        b"0\r\n",
        b"1;a=\"b\\\"\"\r\nx\r\n",
        b"X: y\r\n",
        b"FFFFFFFF\r\n",
        b"0x5\r\n",
        b"5 ;\r\n",
        b"\r\n",
        b"\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    vec(
        prop_oneof![
            3 => proptest::sample::select(pieces).prop_map(<[u8]>::to_vec),
            1 => vec(any::<u8>(), 0..6),
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

/// Segments whose decoded meaning ranges over names, dots and separators in several spellings.
fn path_segment() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(
        &[
            "a",
            "b",
            "..",
            ".",
            "",
            "%2e%2e",
            "%2E%2e",
            "%2e",
            ".%2e",
            "%2e.",
            "%2f",
            "a%2fb",
            "..%2f",
            "%2f..",
            "%5c",
            "..%5c",
            "%252e%252e",
            "%c0%ae",
            "...",
            ".hidden",
        ][..],
    )
}

/// An independent reference: decode every escape once, then apply "." and ".." on a stack; `None`
/// when a ".." would pop the root. The segments above decode to valid UTF-8 apart from `%c0%ae`,
/// which stays two opaque bytes, so a byte-level decoder is the right reference.
fn reference_normalise(path: &str) -> Option<Vec<u8>> {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let mut stack: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                stack.pop()?;
            }
            name => stack.push(name),
        }
    }
    Some(stack.join(&b'/'))
}

/// The invariants every successful resolution upholds, whatever the input.
fn assert_rel_invariants(target: &str, rel: &[u8]) {
    assert_ne!(rel.first(), Some(&b'/'), "{target:?} -> leading '/'");
    assert!(!rel.contains(&0), "{target:?} -> NUL");
    if !rel.is_empty() {
        for seg in rel.split(|&b| b == b'/') {
            assert!(!matches!(seg, b"" | b"." | b".."), "{target:?} -> segment {seg:?} in {rel:?}");
        }
    }
}

fn assert_safe_location(target: &str, location: &str) {
    let bytes = location.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{target:?} -> {location}");
    assert!(!matches!(bytes.get(1), Some(b'/' | b'\\')), "{target:?} -> open redirect {location}");
    assert!(bytes.iter().all(|&b| (0x21..=0x7e).contains(&b)), "{target:?} -> unsafe byte in {location:?}");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(input in vec(any::<u8>(), 0..4096)) {
        if let Ok(Parsed::Complete { head_len, .. }) = parse(&input, &LIMITS) {
            prop_assert!(head_len <= input.len());
        }
    }

    #[test]
    fn parse_never_panics_on_built_heads(input in built_head()) {
        if let Ok(Parsed::Complete { request, head_len }) = parse(&input, &LIMITS) {
            prop_assert!(head_len <= input.len());
            prop_assert!(request.target.is_ascii());
        }
    }

    /// A head that parses when whole must never be refused while it is still arriving, or a client
    /// whose bytes are split by the network would get a 400 for a valid request.
    #[test]
    fn prefixes_of_a_complete_head_are_partial(input in built_head()) {
        if let Ok(Parsed::Complete { head_len, .. }) = parse(&input, &LIMITS) {
            for cut in 0..head_len {
                let prefix = input.get(..cut).unwrap_or_default();
                let got = parse(prefix, &LIMITS);
                prop_assert!(
                    matches!(got, Ok(Parsed::Partial)),
                    "prefix of {} bytes of {:?}: {:?}", cut, String::from_utf8_lossy(&input), got
                );
            }
        }
    }

    #[test]
    fn chunked_never_panics_and_ignores_splits(
        body in prop_oneof![vec(any::<u8>(), 0..512), chunked_body()],
        cuts in vec(0usize..600, 0..6),
    ) {
        let whole = ChunkedDecoder::new(LIMITS.max_body_bytes).feed(&body);
        let pieces = feed_split(&body, &cuts);
        prop_assert_eq!(whole, pieces, "body {:?}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn resolve_upholds_invariants_on_any_string(target in any::<String>()) {
        if let Ok(resolved) = resolve(&target) {
            assert_rel_invariants(&target, &resolved.rel);
            assert_safe_location(&target, &directory_redirect(&resolved));
        }
    }

    #[test]
    fn resolve_upholds_invariants_on_path_like_strings(
        target in "/[a-z./%0-9A-Fa-f\\\\?]{0,48}",
    ) {
        if let Ok(resolved) = resolve(&target) {
            assert_rel_invariants(&target, &resolved.rel);
            let location = directory_redirect(&resolved);
            assert_safe_location(&target, &location);
            // The redirect names the same directory again.
            let again = resolve(&location);
            prop_assert_eq!(again.map(|r| (r.rel, r.trailing_slash)), Ok((resolved.rel.clone(), true)));
        }
    }

    /// Built from dot and slash spellings: resolution agrees with an independent normaliser, so it
    /// refuses exactly the paths that climb above the root and never yields one that does.
    #[test]
    fn resolve_never_climbs_above_root(segments in vec(path_segment(), 0..10)) {
        let target = format!("/{}", segments.join("/"));
        let got = resolve(&target).ok().map(|r| r.rel);
        prop_assert_eq!(&got, &reference_normalise(&target), "target {}", target);
        if let Some(rel) = got {
            assert_rel_invariants(&target, &rel);
            // A name that starts with '.' is a dotfile or a dot-spelling: it must be hidden.
            let dot_first = rel.split(|&b| b == b'/').any(|s| s.first() == Some(&b'.'));
            prop_assert_eq!(is_hidden(&rel), dot_first);
        }
    }
}
