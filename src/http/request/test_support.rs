//! Helpers shared by the request parser's unit tests: every row goes through the public `parse`.

use super::*;

pub(super) const LIMITS: Limits = Limits { max_header_bytes: 16 * 1024, max_body_bytes: 1_000_000 };

pub(super) fn run(input: &[u8]) -> Result<Parsed, RequestError> {
    parse(input, &LIMITS)
}

pub(super) fn ok(input: &[u8]) -> (Request, usize) {
    match run(input) {
        Ok(Parsed::Complete { request, head_len }) => (request, head_len),
        other => panic!("{:?}: expected a complete request, got {other:?}", lossy(input)),
    }
}

pub(super) fn lossy(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

/// What a test row expects: the error, Partial, or success.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    Err(RequestError),
    Partial,
    Complete,
}

pub(super) fn outcome(input: &[u8]) -> Outcome {
    match run(input) {
        Ok(Parsed::Complete { .. }) => Outcome::Complete,
        Ok(Parsed::Partial) => Outcome::Partial,
        Err(e) => Outcome::Err(e),
    }
}

pub(super) fn check_outcomes(rows: &[(&str, &[u8], Outcome)]) {
    for (name, input, expected) in rows {
        assert_eq!(&outcome(input), expected, "row {name}: {:?}", lossy(input));
    }
}

pub(super) use Outcome::{Complete, Partial};
pub(super) const BAD: Outcome = Outcome::Err(RequestError::BadRequest);

pub(super) fn head_with_fields(count: usize) -> Vec<u8> {
    let mut input = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 1..count {
        input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    input
}
