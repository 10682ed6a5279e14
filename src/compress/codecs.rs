//! The three encodings the compressor makes of a file (brotli, zstd, gzip, in the order of
//! `entry::CODINGS`), at levels chosen by the file's size, and the rule that says whether an encoding pays.
//!
//! Compression runs once per file version in a niced process, so the levels are high: every byte saved is
//! saved on every response for as long as the file lives, while the time is spent once. The levels drop for
//! big files only so that one 20 MiB bundle cannot keep a compression thread busy for minutes while other
//! files wait (docs/compression-levels.md has the measurements behind the numbers).
//!
//! The output must be the same bytes for the same input on every machine and every run: an encoding's ETag
//! is derived from the source's validators, so two origins behind one CDN (or one origin before and after a
//! restart) must never send different bytes under one tag. All three encoders are deterministic for a given
//! library version and parameters when run single-threaded (as here); the gzip header carries no mtime and no
//! file name, and flate2 writes the "unknown" OS byte on every platform. The parameters depend only on the
//! input's length. A change of library version or of the levels must bump `entry::FORMAT`.
//!
//! This file uses nothing from the crate but the codec crates and std, so it can be measured on its own.

use std::io::{self, Write};

/// What each encoder is asked for a given input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// 0..=11.
    pub brotli_quality: u32,
    /// log2 of the brotli window, 10..=24 (24 is the most RFC 7932 decoders must accept).
    pub brotli_lgwin: u32,
    /// 1..=19: above 19 ("ultra") zstd's window may exceed the 8 MiB RFC 9659 lets browsers refuse.
    pub zstd: i32,
    /// 0..=9.
    pub gzip: u32,
}

/// Up to this size every encoder runs at its best level (brotli 11 runs at 0.4–0.7 MB/s: a second or two).
pub const SMALL: usize = 1 << 20;
/// Up to this size brotli runs at 10: 2–2.5× faster than 11 for about 2% more bytes. Above it brotli runs at 9
/// (another 5–7× faster, 11–14% more bytes than 11) and zstd at 15 (2.7× faster than 19, 8–12% more
/// bytes), so a 9 MB bundle takes 4 s of one core for all three instead of 39 s, and a 19 MB one 10 s.
pub const BIG: usize = 4 << 20;

/// The levels for an input of `len` bytes (docs/compression-levels.md has the measurements).
pub fn levels_for(len: usize) -> Levels {
    let brotli_lgwin = window_log(len);
    if len <= SMALL {
        Levels { brotli_quality: 11, brotli_lgwin, zstd: 19, gzip: 9 }
    } else if len <= BIG {
        Levels { brotli_quality: 10, brotli_lgwin, zstd: 19, gzip: 9 }
    } else {
        Levels { brotli_quality: 9, brotli_lgwin, zstd: 15, gzip: 9 }
    }
}

/// The smallest brotli window (16 bytes less than a power of two, RFC 7932) that holds the whole input, between
/// 2^16 and 2^24: a bigger window than the file compresses no better and makes the client's decoder reserve
/// memory for nothing.
fn window_log(len: usize) -> u32 {
    (16..24).find(|&lg| (1usize << lg) - 16 >= len).unwrap_or(24)
}

/// Whether an encoding of `output` bytes of an `input`-byte file is worth keeping: it must save at least 1/20
/// of the input and at least 128 bytes. Below that the client spends time decoding to save next to nothing, an
/// entry takes cache space, and 128 bytes is about what the response's added `Content-Encoding` and `Vary`
/// lines cost plus a margin. Already-compressed formats (images, WOFF2, archives) save 0–2% and so are
/// remembered as "does not compress".
pub fn pays(input: usize, output: usize) -> bool {
    output.saturating_add((input / 20).max(128)) <= input
}

/// Brotli, zstd and gzip of `input` at [`levels_for`] its size; None for an encoding that does not [`pays`]
/// (or, which never happens with in-memory buffers, failed).
pub fn compress(input: &[u8]) -> [Option<Vec<u8>>; 3] {
    let levels = levels_for(input.len());
    let keep = |out: io::Result<Vec<u8>>| out.ok().filter(|o| pays(input.len(), o.len()));
    [
        keep(brotli(input, levels.brotli_quality, levels.brotli_lgwin)),
        keep(zstd(input, levels.zstd)),
        keep(gzip(input, levels.gzip)),
    ]
}

pub fn brotli(input: &[u8], quality: u32, lgwin: u32) -> io::Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality.min(11) as i32,
        lgwin: lgwin.clamp(10, 24) as i32,
        // Lets the encoder size its tables for the input (the hint is part of the parameters, so it too
        // depends only on the input's length).
        size_hint: input.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(input.len() / 3);
    brotli::BrotliCompress(&mut &input[..], &mut out, &params)?;
    Ok(out)
}

pub fn zstd(input: &[u8], level: i32) -> io::Result<Vec<u8>> {
    // One-shot: the frame records the content size, and no worker threads (which zstd would only use when
    // asked, and which could change the output).
    zstd::bulk::compress(input, level.clamp(1, 19))
}

pub fn gzip(input: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let out = Vec::with_capacity(input.len() / 3);
    // mtime 0 and no file name: the header is the same for the same input everywhere.
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(out, flate2::Compression::new(level.min(9)));
    encoder.write_all(input)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Instant;

    fn text() -> Vec<u8> {
        let mut t = Vec::new();
        for i in 0..2000 {
            t.extend_from_slice(
                format!("function f{i}(a, b) {{ return a * {i} + b; }} // line {}\n", i % 7).as_bytes(),
            );
        }
        t
    }

    /// Pseudo-random bytes (xorshift), the same on every run.
    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn unbrotli(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(b, 4096).read_to_end(&mut out).unwrap();
        out
    }

    fn ungzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_encoding_round_trips_and_is_smaller() {
        let input = text();
        let [br, zs, gz] = compress(&input);
        let (br, zs, gz) = (br.unwrap(), zs.unwrap(), gz.unwrap());
        assert_eq!(unbrotli(&br), input);
        assert_eq!(zstd::decode_all(&zs[..]).unwrap(), input);
        assert_eq!(ungzip(&gz), input);
        for out in [&br, &zs, &gz] {
            assert!(out.len() < input.len() / 5, "{} of {}", out.len(), input.len());
        }
        // The gzip header: no mtime, no name, "unknown" OS.
        assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let input = text();
        assert_eq!(compress(&input), compress(&input));
    }

    #[test]
    fn incompressible_input_keeps_nothing() {
        assert_eq!(compress(&noise(64 << 10)), [None, None, None]);
        assert_eq!(compress(&noise(1500)), [None, None, None]);
    }

    #[test]
    fn an_encoding_pays_only_for_a_real_saving() {
        assert!(pays(100_000, 95_000));
        assert!(!pays(100_000, 95_001));
        assert!(pays(1024, 896));
        assert!(!pays(1024, 897), "at least 128 bytes");
        assert!(!pays(100, 0), "a tiny input never pays");
        assert!(!pays(1000, usize::MAX));
    }

    #[test]
    fn windows_fit_the_input() {
        assert_eq!(window_log(0), 16);
        assert_eq!(window_log((1 << 16) - 16), 16);
        assert_eq!(window_log((1 << 16) - 15), 17);
        assert_eq!(window_log(130_000), 17);
        assert_eq!(window_log(131_835), 18);
        assert_eq!(window_log(100 << 20), 24);
        assert_eq!(levels_for(SMALL).brotli_quality, 11);
        assert_eq!(levels_for(SMALL + 1).brotli_quality, 10);
        assert_eq!(levels_for(BIG).zstd, 19);
        assert_eq!((levels_for(BIG + 1).brotli_quality, levels_for(BIG + 1).zstd), (9, 15));
    }

    /// The measurements behind [`levels_for`]:
    /// `STATICD_MEASURE=a.js:b.js cargo test --release --lib compress::codecs -- --ignored --nocapture`
    /// (with `STATICD_MEASURE_CHOSEN=1`, only the time at the chosen levels).
    #[test]
    #[ignore]
    fn measure_levels() {
        let Ok(paths) = std::env::var("STATICD_MEASURE") else {
            eprintln!("set STATICD_MEASURE to ':'-separated files");
            return;
        };
        let time = |f: &dyn Fn() -> usize| {
            let start = Instant::now();
            let len = f();
            (start.elapsed().as_secs_f64() * 1000.0, len)
        };
        for path in paths.split(':') {
            let input = std::fs::read(path).unwrap();
            let n = input.len();
            println!("\n{path}: {n} bytes");
            if std::env::var_os("STATICD_MEASURE_CHOSEN").is_some() {
                let (ms, len) = time(&|| compress(&input).iter().flatten().map(Vec::len).sum());
                println!("all three at {:?}: {ms:.0} ms, {len} bytes together", levels_for(n));
                continue;
            }
            println!("| encoder | level | window | ms | bytes | ratio |");
            println!("|---|---|---|---:|---:|---:|");
            let row = |name: &str, level: u32, window: String, (ms, len): (f64, usize)| {
                println!("| {name} | {level} | {window} | {ms:.0} | {len} | {:.3} |", len as f64 / n as f64);
            };
            for q in [5, 7, 9, 10, 11] {
                let lg = window_log(n);
                row("brotli", q, lg.to_string(), time(&|| brotli(&input, q, lg).unwrap().len()));
            }
            if window_log(n) != 22 {
                row("brotli", 11, "22".into(), time(&|| brotli(&input, 11, 22).unwrap().len()));
            }
            for level in [3, 9, 15, 19] {
                row("zstd", level as u32, "auto".into(), time(&|| zstd(&input, level).unwrap().len()));
            }
            for level in [6, 9] {
                row("gzip", level, "32K".into(), time(&|| gzip(&input, level).unwrap().len()));
            }
            let (ms, _) = time(&|| compress(&input).iter().flatten().map(Vec::len).sum());
            println!("all three at the chosen levels {:?}: {ms:.0} ms", levels_for(n));
        }
    }
}
