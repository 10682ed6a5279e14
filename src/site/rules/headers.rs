//! `_headers`: response headers per path pattern, parsed into blocks and applied to a request.
//!
//! The format: a line starting with '/' is a path pattern (see `pattern.rs`); the lines after it, usually
//! indented, are `Name: value` headers for the paths it matches. Lines starting with '#' and blank lines are
//! ignored. Every matching block applies, in file order, and a header set more than once is joined with
//! ", " (RFC 9110 §5.3 makes that the same field), except Set-Cookie, which RFC 6265 forbids joining.

use std::ops::ControlFlow;

use super::index::Index;
use super::pattern::Pattern;
use super::{count_rule, for_each_line, is_http_url, RuleError};
use crate::http::syntax::{is_token, trim_ows_str};

const FILE: &str = "_headers";

/// Headers the server writes itself, as for `--header`: a second Content-Length or a Connection the engine
/// did not decide would break framing or persistence.
const OWNED: &[&str] = &["content-length", "content-range", "transfer-encoding", "connection", "date"];

#[derive(Debug, Default)]
pub(super) struct HeaderRules {
    blocks: Vec<Block>,
    index: Index,
}

#[derive(Debug)]
struct Block {
    pattern: Pattern,
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Field {
    /// As written in the file, which is how it is sent.
    name: Box<str>,
    /// Lower-case, for joining and for telling the caller.
    lower: Box<str>,
    value: Box<str>,
}

pub(super) fn parse(text: &str) -> Result<HeaderRules, RuleError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut count = 0;
    for_each_line(FILE, text, |line| {
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if is_http_url(line) {
            return Err(format!(
                "'{line}': full URLs are not supported (patterns are paths; staticd does not route by host)"
            ));
        }
        if line.starts_with('/') {
            count_rule(&mut count)?;
            let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
            let path = words.next().unwrap_or(line);
            if let Some(extra) = words.next() {
                return Err(format!("unexpected '{extra}' after the path '{path}'"));
            }
            blocks.push(Block { pattern: Pattern::parse(path)?, fields: Vec::new() });
            return Ok(());
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("'{line}' is neither a path (starting with '/') nor a 'Name: value' header"));
        };
        let Some(block) = blocks.last_mut() else { return Err("header line before any path".into()) };
        block.fields.push(field(trim_ows_str(name), trim_ows_str(value))?);
        Ok(())
    })?;
    // A block without headers changes nothing; keeping it out keeps it out of every request's candidates.
    blocks.retain(|b| !b.fields.is_empty());
    let mut index = Index::default();
    for (i, block) in blocks.iter().enumerate() {
        index.insert(u32::try_from(i).unwrap_or(u32::MAX), block.pattern.key());
    }
    Ok(HeaderRules { blocks, index })
}

/// One `Name: value` line. The shared line check has already refused CR, LF, NUL and other controls.
fn field(name: &str, value: &str) -> Result<Field, String> {
    if !is_token(name.as_bytes()) {
        return Err(format!("'{name}' is not a valid header name"));
    }
    let lower = name.to_ascii_lowercase();
    if OWNED.contains(&lower.as_str()) {
        return Err(format!("staticd sets {name} itself"));
    }
    // On Netlify this header is not sent: it is the password protection's "user:password" list. Sending it
    // would publish the passwords, so it is refused rather than passed on.
    if lower == "basic-auth" {
        return Err(format!("{name} (Netlify's password protection) is not supported"));
    }
    if value.is_empty() {
        return Err(format!("{name} has no value"));
    }
    Ok(Field { name: name.into(), lower: lower.into(), value: value.into() })
}

impl HeaderRules {
    pub(super) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// See [`super::Rules::headers_for`].
    pub(super) fn headers_for(&self, path: &str, out: &mut Vec<u8>) -> Vec<String> {
        // (field as first named, every value in file order joined); one entry per Set-Cookie value.
        let mut merged: Vec<(&Field, String)> = Vec::new();
        self.index.candidates(path, |i| {
            let Some(block) = self.blocks.get(i).filter(|b| b.pattern.is_match(path)) else {
                return ControlFlow::<()>::Continue(());
            };
            for field in &block.fields {
                let joinable = &*field.lower != "set-cookie";
                match merged.iter_mut().find(|(f, _)| joinable && f.lower == field.lower) {
                    Some((_, value)) => {
                        value.push_str(", ");
                        value.push_str(&field.value);
                    }
                    None => merged.push((field, field.value.to_string())),
                }
            }
            ControlFlow::Continue(())
        });
        let mut names: Vec<String> = Vec::with_capacity(merged.len());
        for (field, value) in &merged {
            for part in [field.name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
                out.extend_from_slice(part);
            }
            if !names.iter().any(|n| *n == *field.lower) {
                names.push(field.lower.to_string());
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(rules: &HeaderRules, path: &str) -> (String, Vec<String>) {
        let mut out = Vec::new();
        let names = rules.headers_for(path, &mut out);
        (String::from_utf8_lossy(&out).into_owned(), names)
    }

    #[test]
    fn blocks_apply_in_file_order_and_join() {
        let text = "\
# Security for everything
/*
  X-Frame-Options: DENY
  Cache-Control: public, max-age=0

/assets/*
\tCache-Control: max-age=31536000
\tcache-control: immutable
  Set-Cookie: a=1; Path=/
/assets/app.js
Set-Cookie: b=2
  X-Empty-Block-Follows: yes
/nothing
/docs/:page
  Link: </style.css>; rel=preload
";
        let rules = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules.blocks.len(), 4, "the block without headers is dropped");
        let rows: &[(&str, &str, &[&str])] = &[
            (
                "/",
                "X-Frame-Options: DENY\r\nCache-Control: public, max-age=0\r\n",
                &["x-frame-options", "cache-control"],
            ),
            (
                "/assets/app.js",
                "X-Frame-Options: DENY\r\nCache-Control: public, max-age=0, max-age=31536000, immutable\r\n\
                 Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nX-Empty-Block-Follows: yes\r\n",
                &["x-frame-options", "cache-control", "set-cookie", "x-empty-block-follows"],
            ),
            (
                "/assets/",
                "X-Frame-Options: DENY\r\nCache-Control: public, max-age=0, max-age=31536000, immutable\r\n\
                 Set-Cookie: a=1; Path=/\r\n",
                &["x-frame-options", "cache-control", "set-cookie"],
            ),
            (
                "/docs/intro/",
                "X-Frame-Options: DENY\r\nCache-Control: public, max-age=0\r\nLink: </style.css>; rel=preload\r\n",
                &["x-frame-options", "cache-control", "link"],
            ),
        ];
        for (path, want, names) in rows {
            assert_eq!(
                apply(&rules, path),
                (want.to_string(), names.iter().map(|n| n.to_string()).collect()),
                "{path}"
            );
        }
    }

    #[test]
    fn appends_and_allocates_nothing_on_a_miss() {
        let rules = parse("/a\n  X: 1\n").unwrap_or_else(|e| panic!("{e}"));
        let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
        assert!(rules.headers_for("/b", &mut out).is_empty());
        assert_eq!(rules.headers_for("/a/", &mut out), ["x"]);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nX: 1\r\n");
    }

    #[test]
    fn fields() {
        assert!(field("X-Frame-Options", "DENY").is_ok());
        for (name, value, want) in [
            ("Bad Name", "x", "not a valid header name"),
            ("", "x", "not a valid header name"),
            ("Ünicode", "x", "not a valid header name"),
            ("Content-Length", "5", "staticd sets"),
            ("DATE", "x", "staticd sets"),
            ("Transfer-Encoding", "chunked", "staticd sets"),
            ("X", "", "has no value"),
            ("Basic-Auth", "someuser:somepassword", "password protection"),
        ] {
            match field(name, value) {
                Ok(f) => panic!("{name}: {value} accepted: {f:?}"),
                Err(e) => assert!(e.contains(want), "{name}: {e:?} does not say {want:?}"),
            }
        }
    }
}
