//! Finds the end of a chunked request body so that it can be discarded, or handed on piece by piece to an
//! upload, and the connection can go on to the next request.
//!
//! Whether a body is kept or thrown away, staticd must know exactly where it ends: a lenient
//! decoder that disagrees with a proxy in front of it about a chunk boundary is the classic request
//! smuggling hole. So this decoder is deliberately strict (RFC 9112 §7.1): anything the grammar does
//! not allow, and anything unbounded, is refused. It is a byte-level state machine so that a body
//! can arrive in pieces of any size, and it never buffers: chunk data is passed over in place, never copied.
//! (httparse's `parse_chunk_size` is not used: it allows whitespace, empty sizes and any bytes in extensions.)

use crate::http::request::RequestError;
use crate::http::syntax::{hex_value, is_field_byte, is_qdtext, is_tchar};

/// The size line (digits, extensions and CRLF) may not be longer than this.
const MAX_SIZE_LINE: usize = 4096;
/// Each trailer field line (including its CRLF) may not be longer than this.
const MAX_TRAILER_LINE: usize = 4096;
/// All trailer field lines together may not be longer than this.
const MAX_TRAILER_BYTES: usize = 8192;
/// 16 hex digits already cover every u64, so a longer size could only overflow.
const MAX_SIZE_DIGITS: u8 = 16;

/// Where the decoder is inside the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk-size.
    Size {
        digits: u8,
        size: u64,
    },
    /// Inside the chunk extensions of a size line.
    Ext(Ext),
    /// Saw the CR ending a size line.
    SizeLf,
    /// Skipping chunk data.
    Data {
        remaining: u64,
    },
    /// Expecting the CRLF that must follow chunk data.
    DataCr,
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// Saw the CR of the final empty line.
    FinalLf,
    Done,
    Failed(RequestError),
}

/// `chunk-ext = *( ";" chunk-ext-name [ "=" chunk-ext-val ] )`, without the BWS that RFC 9112
/// tolerates: no real client sends whitespace there, and refusing it keeps us from disagreeing
/// with a stricter or looser peer about where the line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    NameStart,
    Name,
    ValueStart,
    Token,
    Quoted,
    QuotedEscape,
    AfterQuoted,
}

/// Discards a chunked request body, strictly.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_body_bytes: u64,
    /// Chunk data announced so far.
    total: u64,
    /// Size of the chunk whose size line is being read.
    chunk_size: u64,
    /// Bytes of the size line or trailer line being read.
    line_len: usize,
    /// Bytes of trailer field lines read so far.
    trailer_len: usize,
}

impl ChunkedDecoder {
    pub fn new(max_body_bytes: u64) -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0, size: 0 },
            max_body_bytes,
            total: 0,
            chunk_size: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Consumes as much of `buf` as belongs to the body; returns (bytes consumed, body complete?).
    /// Can be fed the body in arbitrarily small pieces (test 1-byte feeding of every case).
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, bool), RequestError> {
        self.feed_data(buf, |_| {})
    }

    /// As [`feed`](Self::feed), handing each run of chunk data in `buf` to `data`, in order: the decoded
    /// body of a request that is kept rather than discarded.
    pub fn feed_data(&mut self, buf: &[u8], mut data: impl FnMut(&[u8])) -> Result<(usize, bool), RequestError> {
        if let State::Failed(error) = self.state {
            return Err(error);
        }
        let mut pos = 0;
        while self.state != State::Done {
            let rest = buf.get(pos..).unwrap_or_default();
            let Some(&byte) = rest.first() else {
                break;
            };
            if let State::Data { remaining } = self.state {
                let taken = self.skip_data(remaining, rest.len());
                data(rest.get(..taken).unwrap_or_default());
                pos += taken;
                continue;
            }
            pos += 1;
            if let Err(error) = self.step(byte) {
                self.state = State::Failed(error);
                return Err(error);
            }
        }
        Ok((pos, self.state == State::Done))
    }

    /// Skips up to `available` bytes of chunk data; returns how many were skipped.
    fn skip_data(&mut self, remaining: u64, available: usize) -> usize {
        let take = remaining.min(available as u64);
        let left = remaining - take;
        self.state = if left == 0 { State::DataCr } else { State::Data { remaining: left } };
        // take <= available, so it fits a usize.
        usize::try_from(take).unwrap_or(available)
    }

    fn step(&mut self, byte: u8) -> Result<(), RequestError> {
        self.state = match self.state {
            State::Size { digits, size } => {
                self.count_line_byte(MAX_SIZE_LINE)?;
                self.on_size_byte(digits, size, byte)?
            }
            State::Ext(ext) => {
                self.count_line_byte(MAX_SIZE_LINE)?;
                on_ext_byte(ext, byte)?
            }
            State::SizeLf => {
                self.count_line_byte(MAX_SIZE_LINE)?;
                expect(byte, b'\n')?;
                self.line_len = 0;
                if self.chunk_size == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: self.chunk_size }
                }
            }
            State::DataCr => {
                expect(byte, b'\r')?;
                State::DataLf
            }
            State::DataLf => {
                expect(byte, b'\n')?;
                State::Size { digits: 0, size: 0 }
            }
            State::TrailerStart if byte == b'\r' => State::FinalLf,
            State::TrailerStart | State::TrailerName | State::TrailerValue | State::TrailerLf => {
                self.count_trailer_byte()?;
                on_trailer_byte(self.state, byte)?
            }
            State::FinalLf => {
                expect(byte, b'\n')?;
                State::Done
            }
            // feed() never steps in these states.
            State::Data { .. } | State::Done | State::Failed(_) => self.state,
        };
        Ok(())
    }

    fn on_size_byte(&mut self, digits: u8, size: u64, byte: u8) -> Result<State, RequestError> {
        if let Some(value) = hex_value(byte).map(u64::from) {
            if digits >= MAX_SIZE_DIGITS {
                return Err(RequestError::BadRequest);
            }
            return Ok(State::Size { digits: digits + 1, size: (size << 4) | value });
        }
        if digits == 0 {
            return Err(RequestError::BadRequest);
        }
        let next = match byte {
            b';' => State::Ext(Ext::NameStart),
            b'\r' => State::SizeLf,
            _ => return Err(RequestError::BadRequest),
        };
        self.start_chunk(size)?;
        Ok(next)
    }

    /// Refuses an oversized body as soon as its size line says so, before any data arrives.
    fn start_chunk(&mut self, size: u64) -> Result<(), RequestError> {
        self.total = self
            .total
            .checked_add(size)
            .filter(|&total| total <= self.max_body_bytes)
            .ok_or(RequestError::PayloadTooLarge)?;
        self.chunk_size = size;
        Ok(())
    }

    fn count_line_byte(&mut self, limit: usize) -> Result<(), RequestError> {
        self.line_len += 1;
        if self.line_len > limit {
            return Err(RequestError::BadRequest);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), RequestError> {
        self.count_line_byte(MAX_TRAILER_LINE)?;
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILER_BYTES {
            return Err(RequestError::BadRequest);
        }
        if self.state == State::TrailerLf {
            self.line_len = 0;
        }
        Ok(())
    }
}

fn on_ext_byte(ext: Ext, byte: u8) -> Result<State, RequestError> {
    let next = match (ext, byte) {
        (Ext::NameStart, b) if is_tchar(b) => Ext::Name,
        (Ext::Name, b) if is_tchar(b) => Ext::Name,
        (Ext::Name, b'=') => Ext::ValueStart,
        (Ext::ValueStart, b'"') => Ext::Quoted,
        (Ext::ValueStart | Ext::Token, b) if is_tchar(b) => Ext::Token,
        (Ext::Quoted, b'"') => Ext::AfterQuoted,
        (Ext::Quoted, b'\\') => Ext::QuotedEscape,
        (Ext::Quoted, b) if is_qdtext(b) => Ext::Quoted,
        (Ext::QuotedEscape, b) if is_field_byte(b) => Ext::Quoted,
        (Ext::Name | Ext::Token | Ext::AfterQuoted, b';') => Ext::NameStart,
        (Ext::Name | Ext::Token | Ext::AfterQuoted, b'\r') => return Ok(State::SizeLf),
        _ => return Err(RequestError::BadRequest),
    };
    Ok(State::Ext(next))
}

/// `trailer-section = *( field-line CRLF )` with `field-line = field-name ":" OWS field-value OWS`.
fn on_trailer_byte(state: State, byte: u8) -> Result<State, RequestError> {
    match (state, byte) {
        (State::TrailerStart | State::TrailerName, b) if is_tchar(b) => Ok(State::TrailerName),
        (State::TrailerName, b':') => Ok(State::TrailerValue),
        (State::TrailerValue, b'\r') => Ok(State::TrailerLf),
        (State::TrailerValue, b) if is_field_byte(b) => Ok(State::TrailerValue),
        (State::TrailerLf, b'\n') => Ok(State::TrailerStart),
        _ => Err(RequestError::BadRequest),
    }
}

fn expect(byte: u8, wanted: u8) -> Result<(), RequestError> {
    if byte == wanted {
        Ok(())
    } else {
        Err(RequestError::BadRequest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1000;

    /// Bytes consumed when the body completed, None when more input is needed.
    type Expected = Result<Option<usize>, RequestError>;

    /// Feeds `input` in pieces of `piece` bytes; returns the bytes consumed once the body is
    /// complete, or None if the input ran out first.
    fn feed_in_pieces(input: &[u8], piece: usize, max: u64) -> Expected {
        let mut decoder = ChunkedDecoder::new(max);
        let mut consumed = 0;
        for chunk in input.chunks(piece) {
            let (used, done) = decoder.feed(chunk)?;
            assert!(used <= chunk.len());
            consumed += used;
            if done {
                assert_eq!(decoder.feed(b"more")?, (0, true), "done is sticky");
                return Ok(Some(consumed));
            }
            assert_eq!(used, chunk.len(), "an unfinished body consumes everything");
        }
        Ok(None)
    }

    /// Every row is checked whole, byte by byte, and in a few odd piece sizes.
    fn check(rows: &[(&str, &[u8], Expected)], max: u64) {
        for (name, input, expected) in rows {
            for piece in [usize::MAX, 1, 2, 3, 7] {
                let piece = piece.min(input.len().max(1));
                let got = feed_in_pieces(input, piece, max);
                assert_eq!(&got, expected, "row {name}, pieces of {piece}");
            }
        }
    }

    const BAD: Expected = Err(RequestError::BadRequest);
    const MORE: Expected = Ok(None);

    #[test]
    fn well_formed_bodies() {
        let rows: &[(&str, &[u8], Expected)] = &[
            ("empty body", b"0\r\n\r\n", Ok(Some(5))),
            ("empty body then next", b"0\r\n\r\nGET / HTTP/1.1", Ok(Some(5))),
            ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", Ok(Some(15))),
            ("two chunks then next", b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nX", Ok(Some(20))),
            ("hex upper", b"A\r\n0123456789\r\n0\r\n\r\n", Ok(Some(20))),
            ("hex lower", b"a\r\n0123456789\r\n0\r\n\r\n", Ok(Some(20))),
            ("leading zeros", b"0005\r\nhello\r\n0000\r\n\r\n", Ok(Some(21))),
            ("16 digits", b"0000000000000001\r\nx\r\n0\r\n\r\n", Ok(Some(26))),
            ("data holds crlf", b"4\r\n\r\n\r\n\r\n0\r\n\r\n", Ok(Some(14))),
            ("extension", b"1;foo\r\nx\r\n0\r\n\r\n", Ok(Some(15))),
            ("extension value", b"1;foo=bar;baz\r\nx\r\n0;last=1\r\n\r\n", Ok(Some(30))),
            ("quoted extension", b"1;a=\"b; \\\"c\\\"\"\r\nx\r\n0\r\n\r\n", Ok(Some(24))),
            ("quoted then more", b"1;a=\"\";b\r\nx\r\n0\r\n\r\n", Ok(Some(18))),
            ("trailer", b"0\r\nExpires: never\r\n\r\n", Ok(Some(21))),
            ("trailers", b"1\r\nx\r\n0\r\nA: 1\r\nB:\r\nC:\tz y \r\n\r\nN", Ok(Some(30))),
            ("max body exactly", b"3E8\r\n", MORE),
        ];
        check(rows, MAX);
    }

    #[test]
    fn kept_bodies_are_handed_on_exactly_whatever_the_pieces() {
        let body = b"3;x=1\r\nabc\r\nA\r\n0123456789\r\n1\r\n\n\r\n0\r\nT: v\r\n\r\nGET";
        for piece in [body.len(), 1, 2, 5, 13] {
            let mut decoder = ChunkedDecoder::new(MAX);
            let mut kept = Vec::new();
            let mut pos = 0;
            let mut done = false;
            while !done && pos < body.len() {
                let end = (pos + piece).min(body.len());
                let (used, finished) =
                    decoder.feed_data(&body[pos..end], |data| kept.extend_from_slice(data)).expect("well formed");
                pos += used;
                done = finished;
            }
            assert!(done, "pieces of {piece}");
            assert_eq!(kept, b"abc0123456789\n", "pieces of {piece}");
            assert_eq!(&body[pos..], b"GET", "pieces of {piece}");
        }
    }

    #[test]
    fn incomplete_bodies() {
        check(
            &[
                ("nothing", b"", MORE),
                ("size only", b"5", MORE),
                ("size cr", b"5\r", MORE),
                ("part of data", b"5\r\nhel", MORE),
                ("data no crlf", b"5\r\nhello", MORE),
                ("last chunk no end", b"0\r\n", MORE),
                ("in trailer", b"0\r\nA: b", MORE),
                ("final cr", b"0\r\n\r", MORE),
            ],
            MAX,
        );
    }

    #[test]
    fn malformed_size_lines() {
        check(
            &[
                ("empty size", b"\r\n", BAD),
                ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n", BAD),
                ("plus", b"+5\r\nhello\r\n0\r\n\r\n", BAD),
                ("minus", b"-5\r\n", BAD),
                ("leading space", b" 5\r\nhello\r\n0\r\n\r\n", BAD),
                ("trailing space", b"5 \r\nhello\r\n0\r\n\r\n", BAD),
                ("tab", b"5\t\r\n", BAD),
                ("space before ext", b"5 ;a\r\n", BAD),
                ("space after semicolon", b"5; a\r\n", BAD),
                ("space around equals", b"5;a = b\r\n", BAD),
                ("ext trailing space", b"5;a \r\n", BAD),
                ("empty ext name", b"5;\r\n", BAD),
                ("empty ext value", b"5;a=\r\n", BAD),
                ("bad ext char", b"5;a@b\r\n", BAD),
                ("unterminated quote", b"5;a=\"b\r\n", BAD),
                ("junk after quote", b"5;a=\"b\"c\r\n", BAD),
                ("ctl in quote", b"5;a=\"\x01\"\r\n", BAD),
                ("bare lf", b"5\nhello\r\n0\r\n\r\n", BAD),
                ("bare cr", b"5\rhello\r\n0\r\n\r\n", BAD),
                ("non hex", b"g\r\n", BAD),
                ("17 digits", b"00000000000000001\r\nx\r\n0\r\n\r\n", BAD),
                ("overflow", b"1ffffffffffffffff\r\n", BAD),
                ("nul", b"\x00\r\n", BAD),
            ],
            MAX,
        );
    }

    #[test]
    fn malformed_data_and_trailers() {
        check(
            &[
                ("data too long", b"3\r\nabcd\r\n0\r\n\r\n", BAD),
                ("data lf only", b"3\r\nabc\n0\r\n\r\n", BAD),
                ("data cr only", b"3\r\nabc\r0\r\n\r\n", BAD),
                ("last chunk lf", b"0\n\r\n", BAD),
                ("final lf only", b"0\r\n\n", BAD),
                ("final cr then junk", b"0\r\n\rX", BAD),
                ("trailer no colon", b"0\r\nExpires\r\n\r\n", BAD),
                ("trailer space before colon", b"0\r\nA : b\r\n\r\n", BAD),
                ("trailer obs-fold", b"0\r\nA: b\r\n c\r\n\r\n", BAD),
                ("trailer empty name", b"0\r\n: b\r\n\r\n", BAD),
                ("trailer bare lf", b"0\r\nA: b\n\r\n", BAD),
                ("trailer bare cr", b"0\r\nA: b\rc\r\n\r\n", BAD),
                ("trailer nul", b"0\r\nA: \x00\r\n\r\n", BAD),
                ("trailer del", b"0\r\nA: \x7f\r\n\r\n", BAD),
            ],
            MAX,
        );
    }

    fn repeat(parts: &[&[u8]], middle: &[u8], count: usize) -> Vec<u8> {
        let mut out = parts.first().copied().unwrap_or_default().to_vec();
        out.extend_from_slice(&middle.repeat(count));
        out.extend_from_slice(parts.get(1).copied().unwrap_or_default());
        out
    }

    #[test]
    fn bounds() {
        // "1;" + 4092 'a' + CRLF = 4096 bytes of size line.
        let line_at_limit = repeat(&[b"1;", b"\r\nx\r\n0\r\n\r\n"], b"a", 4092);
        let line_over_limit = repeat(&[b"1;", b"\r\nx\r\n0\r\n\r\n"], b"a", 4093);
        let zeros_ok = repeat(&[b"", b"1\r\nx\r\n0\r\n\r\n"], b"0", 15);
        // "A: " + value + CRLF per line; 4096 bytes is the most a single line may take.
        let trailer_line_at_limit = repeat(&[b"0\r\nA: ", b"\r\n\r\n"], b"v", 4091);
        let trailer_line_over_limit = repeat(&[b"0\r\nA: ", b"\r\n\r\n"], b"v", 4092);
        let two_full_lines =
            [b"0\r\n".as_slice(), &trailer_line_at_limit[3..4096 + 3], &trailer_line_at_limit[3..4096 + 3], b"\r\n"]
                .concat();
        let three_full_lines =
            [two_full_lines.get(..two_full_lines.len() - 2).unwrap_or_default(), b"B: c\r\n\r\n"].concat();
        let rows: Vec<(&str, Vec<u8>, u64, Expected)> = vec![
            ("size line at limit", line_at_limit.clone(), MAX, Ok(Some(line_at_limit.len()))),
            ("size line over limit", line_over_limit, MAX, BAD),
            ("16 digits of leading zeros", zeros_ok.clone(), MAX, Ok(Some(zeros_ok.len()))),
            ("trailer line at limit", trailer_line_at_limit.clone(), MAX, Ok(Some(trailer_line_at_limit.len()))),
            ("trailer line over limit", trailer_line_over_limit, MAX, BAD),
            ("8 KiB of trailers", two_full_lines.clone(), MAX, Ok(Some(two_full_lines.len()))),
            ("over 8 KiB of trailers", three_full_lines, MAX, BAD),
            ("body at max", b"3E8\r\n".to_vec(), MAX, MORE),
            ("body over max", b"3E9\r\n".to_vec(), MAX, Err(RequestError::PayloadTooLarge)),
            (
                "sum over max",
                b"3E8\r\n".iter().chain(&[b'x'; 1000]).chain(b"\r\n1\r\n").copied().collect(),
                MAX,
                Err(RequestError::PayloadTooLarge),
            ),
            ("huge chunk", b"ffffffffffffffff\r\n".to_vec(), u64::MAX, MORE),
            ("huge sum", b"ffffffffffffffff;x\r\n".to_vec(), u64::MAX - 1, Err(RequestError::PayloadTooLarge)),
            ("max zero allows empty", b"0\r\n\r\n".to_vec(), 0, Ok(Some(5))),
            ("max zero refuses data", b"1\r\n".to_vec(), 0, Err(RequestError::PayloadTooLarge)),
        ];
        for (name, input, max, expected) in rows {
            for piece in [usize::MAX, 1, 5] {
                let piece = piece.min(input.len().max(1));
                assert_eq!(feed_in_pieces(&input, piece, max), expected, "row {name}, pieces of {piece}");
            }
        }
    }

    #[test]
    fn too_large_is_refused_before_its_data() {
        let mut decoder = ChunkedDecoder::new(10);
        assert_eq!(decoder.feed(b"5\r\nhello\r\n"), Ok((10, false)));
        assert_eq!(decoder.feed(b"6"), Ok((1, false)));
        assert_eq!(decoder.feed(b"\r"), Err(RequestError::PayloadTooLarge));
    }

    #[test]
    fn errors_are_sticky() {
        let mut decoder = ChunkedDecoder::new(MAX);
        assert_eq!(decoder.feed(b"x"), Err(RequestError::BadRequest));
        assert_eq!(decoder.feed(b"0\r\n\r\n"), Err(RequestError::BadRequest));
    }

    #[test]
    fn huge_data_is_skipped_without_buffering() {
        let mut decoder = ChunkedDecoder::new(u64::MAX);
        assert_eq!(decoder.feed(b"fffffffffffffff0\r\n"), Ok((18, false)));
        let block = [0u8; 4096];
        for _ in 0..100 {
            assert_eq!(decoder.feed(&block), Ok((4096, false)));
        }
    }
}
