//! Fuzzes the request-head parser and the chunked body decoder, the two places where staticd decides
//! where one request ends and the next begins (the request-smuggling surface).
#![no_main]

use libfuzzer_sys::fuzz_target;
use staticd::http::chunked::ChunkedDecoder;
use staticd::http::request::{parse, BodyFraming, Limits, Parsed};

/// Small limits so the fuzzer reaches the "too large" branches with short inputs.
const LIMITS: Limits = Limits { max_header_bytes: 1024, max_body_bytes: 4096 };

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the body is cut into two pieces, so splits are fuzzed too.
    let (split, input) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s), rest),
        None => return,
    };
    let Ok(Parsed::Complete { request, head_len }) = parse(input, &LIMITS) else {
        return;
    };
    assert!(head_len <= input.len(), "head_len past the input");
    assert!(request.target.is_ascii(), "target must be ASCII");
    let rest = input.get(head_len..).unwrap_or_default();
    match request.body {
        BodyFraming::Chunked => check_chunked(rest, split),
        // How large a body may be is the engine's to decide, not the parser's.
        BodyFraming::Length(_) | BodyFraming::None => {}
    }
    // Whatever follows the body can be parsed again without panicking (pipelining).
    let _ = parse(rest, &LIMITS);
});

/// Feeding the body whole or in two pieces must give the same answer and hand on the same data (what an
/// upload keeps): the decoder is a byte-level state machine, and a split-dependent result would be a framing
/// disagreement waiting to happen.
fn check_chunked(body: &[u8], split: usize) {
    let mut whole_data = Vec::new();
    let whole = ChunkedDecoder::new(LIMITS.max_body_bytes).feed_data(body, |d| whole_data.extend_from_slice(d));
    if let Ok((used, done)) = whole {
        assert!(used <= body.len());
        assert!(done || used == body.len(), "an unfinished body consumes everything");
    }
    let cut = split.min(body.len());
    let (a, b) = body.split_at(cut);
    let mut decoder = ChunkedDecoder::new(LIMITS.max_body_bytes);
    let mut pieces_data = Vec::new();
    let pieces = decoder.feed_data(a, |d| pieces_data.extend_from_slice(d)).and_then(|(used_a, done_a)| {
        if done_a {
            Ok((used_a, true))
        } else {
            decoder.feed_data(b, |d| pieces_data.extend_from_slice(d)).map(|(used_b, done_b)| (used_a + used_b, done_b))
        }
    });
    assert_eq!(whole, pieces, "split at {cut} changed the result");
    if whole.is_ok_and(|(_, done)| done) {
        assert_eq!(whole_data, pieces_data, "split at {cut} changed the decoded body");
    }
}
