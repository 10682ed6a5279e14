//! Reading the site's `_headers` and `_redirects` from its root, beneath it like any file, at start (where a
//! bad line stops the server: one line, exit code 2) and again whenever the root directory changes (where a
//! bad line is reported and the rules in force stay).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::site::open::{self, OpenError};
use crate::site::rules::{Rules, MAX_FILE_BYTES};
use crate::sys::{self, FileKind};

/// The texts the rules in force were compiled from (None: no such file).
#[derive(Debug, Default, Clone)]
pub struct RuleTexts {
    headers: Option<String>,
    redirects: Option<String>,
}

/// Reads and compiles both files; an error is one line naming the file (and line) and what is wrong.
pub fn load(root: BorrowedFd<'_>, no_symlinks: bool) -> Result<(Rules, RuleTexts), String> {
    let texts =
        RuleTexts { headers: read(root, HEADERS, no_symlinks)?, redirects: read(root, REDIRECTS, no_symlinks)? };
    let rules = Rules::parse(texts.headers.as_deref(), texts.redirects.as_deref()).map_err(|e| e.to_string())?;
    Ok((rules, texts))
}

/// Reads both files again. Each is taken on its own: one that cannot be read or compiled keeps its text in
/// force (and its error is returned, one line each), so a bad `_redirects` does not hold back `_headers`.
pub fn reload(root: BorrowedFd<'_>, no_symlinks: bool, previous: &RuleTexts) -> (Rules, RuleTexts, Vec<String>) {
    let mut errors = Vec::new();
    let compile_headers = |text: &str| Rules::parse(Some(text), None).map(drop).map_err(|e| e.to_string());
    let compile_redirects = |text: &str| Rules::parse(None, Some(text)).map(drop).map_err(|e| e.to_string());
    let texts = RuleTexts {
        headers: fresh_or_previous(root, HEADERS, no_symlinks, &previous.headers, compile_headers, &mut errors),
        redirects: fresh_or_previous(root, REDIRECTS, no_symlinks, &previous.redirects, compile_redirects, &mut errors),
    };
    // Each text compiled on its own just now (or was in force before), so together they compile.
    let rules = Rules::parse(texts.headers.as_deref(), texts.redirects.as_deref()).unwrap_or_default();
    (rules, texts, errors)
}

/// The file's current text when it can be read and compiles, else the text in force (and why, in `errors`).
fn fresh_or_previous(
    root: BorrowedFd<'_>,
    name: &str,
    no_symlinks: bool,
    previous: &Option<String>,
    compile: impl Fn(&str) -> Result<(), String>,
    errors: &mut Vec<String>,
) -> Option<String> {
    let checked = read(root, name, no_symlinks).and_then(|text| {
        if let Some(text) = &text {
            compile(text)?;
        }
        Ok(text)
    });
    match checked {
        Ok(text) => text,
        Err(e) => {
            errors.push(e);
            previous.clone()
        }
    }
}

const HEADERS: &str = "_headers";
const REDIRECTS: &str = "_redirects";

/// The file's text, None when there is no such file.
fn read(root: BorrowedFd<'_>, name: &str, no_symlinks: bool) -> Result<Option<String>, String> {
    let opened = match open::open(root, name.as_bytes(), no_symlinks) {
        Ok(opened) => opened,
        Err(OpenError::NotFound) => return Ok(None),
        Err(OpenError::Forbidden) => return Err(format!("{name}: permission denied (or a symlink out of the root)")),
        Err(OpenError::Internal) => return Err(format!("{name}: cannot be opened")),
    };
    if opened.info.kind != FileKind::Regular {
        return Err(format!("{name}: not a regular file"));
    }
    if opened.info.size > MAX_FILE_BYTES as u64 {
        return Err(format!("{name}: the file is over {} MiB", MAX_FILE_BYTES >> 20));
    }
    let bytes = read_all(opened.fd.as_fd(), opened.info.size as usize).map_err(|e| format!("{name}: {e}"))?;
    String::from_utf8(bytes).map(Some).map_err(|_| format!("{name}: not UTF-8 text"))
}

fn read_all(fd: BorrowedFd<'_>, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let n = sys::pread_from_start(fd, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}
