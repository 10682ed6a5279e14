//! Which file a write names: the request-target resolved exactly as a GET resolves it (`resolve.rs`: decoded
//! once, `..` above the root refused), then held to the stricter rules a write needs: under the prefix, no
//! encoded slash (a GET reads `%2f` as a separator; a write refuses it rather than create a path its client
//! may have meant as one name), and no name a write could use to change what the site is rather than what
//! it holds (dot names, which include the temporary files of uploads, and the rule files).

use crate::site::resolve::{self, ResolvedPath};
use crate::site::RULE_FILES;

/// Every upload's temporary file starts with this (a dot name: never served, never writable by URL).
pub const TEMP_PREFIX: &str = ".staticd-upload-";

/// Whether a root-relative path leads to or through an upload's temporary file (never served or listed).
pub fn is_temporary(rel: &[u8]) -> bool {
    rel.split(|&b| b == b'/').any(|seg| seg.starts_with(TEMP_PREFIX.as_bytes()))
}

/// The longest name a file can have on Linux file systems (NAME_MAX).
const NAME_MAX: usize = 255;

/// A path under the prefix, split into the directory it is in and its last name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The whole path, relative to the root (no leading '/').
    pub rel: Vec<u8>,
    /// The directory holding it, relative to the root.
    pub parent: Vec<u8>,
    /// Its last segment; None when the path is the prefix directory itself.
    pub name: Option<Vec<u8>>,
    /// The path ended in '/' (it names a collection).
    pub collection: bool,
}

/// Why a path cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not under the prefix: this is not a write request at all.
    Outside,
    /// Malformed, as GET would say (400), or a name no file may have (a backslash, a control byte, too long).
    BadRequest,
    /// A hidden name or a rule file (403).
    Forbidden,
}

/// Resolves `target` and checks it lies under the prefix directory `dir` (the prefix directory itself
/// included). `raw_prefix` is the prefix as configured: a target that starts with it but cannot be
/// resolved is under it (400), not outside it.
pub fn resolve(target: &str, dir: &[u8], raw_prefix: &str) -> Result<Target, Refused> {
    let resolved: ResolvedPath = match resolve::resolve(target) {
        Ok(r) => r,
        Err(_) if target.starts_with(raw_prefix) => return Err(Refused::BadRequest),
        Err(_) => return Err(Refused::Outside),
    };
    let rel = resolved.rel;
    // What lies below the prefix directory: its own segments, without the separating '/'.
    let below: &[u8] = match rel.strip_prefix(dir) {
        _ if dir.is_empty() => &rel,
        Some([]) => &[],
        Some([b'/', rest @ ..]) => rest,
        _ => return Err(Refused::Outside),
    };
    let path = target.split('?').next().unwrap_or_default().as_bytes();
    if path.windows(3).any(|w| w[0] == b'%' && w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')) {
        return Err(Refused::BadRequest);
    }
    let collection = resolved.trailing_slash;
    if below.is_empty() {
        return Ok(Target { parent: rel.clone(), rel, name: None, collection });
    }
    for seg in below.split(|&b| b == b'/') {
        if seg.first() == Some(&b'.') {
            return Err(Refused::Forbidden);
        }
        if seg.len() > NAME_MAX || seg.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
            return Err(Refused::BadRequest);
        }
    }
    let (parent, name) = match memchr::memrchr(b'/', &rel) {
        Some(i) => (rel[..i].to_vec(), rel[i + 1..].to_vec()),
        None => (Vec::new(), rel.clone()),
    };
    if parent.is_empty() && RULE_FILES.contains(&name.as_slice()) {
        return Err(Refused::Forbidden);
    }
    Ok(Target { rel, parent, name: Some(name), collection })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rel: &str, parent: &str, name: Option<&str>, collection: bool) -> Result<Target, Refused> {
        Ok(Target { rel: rel.into(), parent: parent.into(), name: name.map(|n| n.as_bytes().to_vec()), collection })
    }

    #[test]
    fn targets() {
        use Refused::*;
        let cases: &[(&str, Result<Target, Refused>)] = &[
            ("/up/a.txt", t("up/a.txt", "up", Some("a.txt"), false)),
            ("/up/sub/a.txt", t("up/sub/a.txt", "up/sub", Some("a.txt"), false)),
            ("/up/sub/", t("up/sub", "up", Some("sub"), true)),
            ("/up/", t("up", "up", None, true)),
            ("/up", t("up", "up", None, false)),
            ("/up/a.txt?x=1", t("up/a.txt", "up", Some("a.txt"), false)),
            ("/u%70/a%20b", t("up/a b", "up", Some("a b"), false)),
            ("//up//a", t("up/a", "up", Some("a"), false)),
            ("/other/up/a", Err(Outside)),
            ("/upload/a", Err(Outside)),
            ("/a", Err(Outside)),
            ("/", Err(Outside)),
            ("/up/../a", Err(Outside)),
            ("/up/%2e%2e/a", Err(Outside)),
            ("/up%2f..%2fa", Err(Outside)),
            ("/up/../../etc/passwd", Err(BadRequest)),
            ("/up/%2e%2e/%2e%2e/x", Err(BadRequest)),
            ("/up/a%00", Err(BadRequest)),
            ("/up/%zz", Err(BadRequest)),
            ("/up/a%5cb", Err(BadRequest)),
            ("/up/a\\b", Err(BadRequest)),
            ("/up/a%0ab", Err(BadRequest)),
            ("/up/.env", Err(Forbidden)),
            ("/up/.staticd-upload-1-abc", Err(Forbidden)),
            ("/up/%2ehidden", Err(Forbidden)),
            ("/up/.git/config", Err(Forbidden)),
            ("/up/a%2f.b", Err(BadRequest)),
            ("/up/sub%2fa.txt", Err(BadRequest)),
            ("/up%2Fa.txt", Err(BadRequest)),
            ("/up/a.txt?next=%2f", t("up/a.txt", "up", Some("a.txt"), false)),
        ];
        for (target, want) in cases {
            assert_eq!(&resolve(target, b"up", "/up/"), want, "{target:?}");
        }
        let long = format!("/up/{}", "a".repeat(256));
        assert_eq!(resolve(&long, b"up", "/up/"), Err(Refused::BadRequest));
        // A rule file is only one at the root, which is the write directory of `--write /`.
        assert_eq!(resolve("/_headers", b"", "/"), Err(Refused::Forbidden));
        assert_eq!(resolve("/_redirects", b"", "/"), Err(Refused::Forbidden));
        assert_eq!(resolve("/a/_headers", b"", "/").map(|t| t.name), Ok(Some(b"_headers".to_vec())));
        assert_eq!(resolve("/up/_headers", b"up", "/up/").map(|t| t.name), Ok(Some(b"_headers".to_vec())));
        assert!(is_temporary(b"up/.staticd-upload-12-00ff"));
        assert!(!is_temporary(b"up/.staticd-uploaded"));
    }
}
