//! Fuzzes request-target resolution: whatever the bytes, a resolved path never climbs above the root, never
//! carries an empty, "." or ".." segment, and a directory redirect built from it can never be read as a
//! scheme-relative URL (`//evil.example/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use staticd::site::resolve::{directory_redirect, is_hidden, resolve};

fuzz_target!(|data: &[u8]| {
    // The parser only lets visible ASCII through, but resolve must hold up on any string.
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(resolved) = resolve(target) else {
        return;
    };
    let rel = &resolved.rel;
    assert!(!rel.contains(&0), "NUL in {rel:?}");
    assert_ne!(rel.first(), Some(&b'/'), "leading slash in {rel:?}");
    if !rel.is_empty() {
        for seg in rel.split(|&b| b == b'/') {
            assert!(!matches!(seg, b"" | b"." | b".."), "segment {seg:?} in {rel:?}");
        }
    }
    // Hidden is decided on segments: a ".x" segment anywhere (except .well-known first) must be seen.
    let has_dot_segment = rel
        .split(|&b| b == b'/')
        .enumerate()
        .any(|(i, s)| s.first() == Some(&b'.') && !(i == 0 && s == b".well-known"));
    assert_eq!(is_hidden(rel), has_dot_segment);

    let location = directory_redirect(&resolved);
    let bytes = location.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{location}");
    assert!(!matches!(bytes.get(1), Some(b'/' | b'\\')), "open redirect {location}");
    assert!(bytes.iter().all(|&b| (0x21..=0x7e).contains(&b)), "unsafe byte in {location:?}");
    // The redirect resolves to the same directory.
    let again = resolve(&location).unwrap_or_else(|e| panic!("{location}: {e:?}"));
    assert_eq!(&again.rel, rel, "{location}");
    assert!(again.trailing_slash);
});
