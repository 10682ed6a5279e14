//! The name a POST's new file gets: the client's `Slug` hint when it makes a safe name, else 16 random hex
//! digits; with an extension from the Content-Type when the name has none, so the file is served back with
//! the type it was sent with.
//!
//! A slug is only a hint (RFC 5023 §9.7): it is cut down to `[A-Za-z0-9._-]`, may not start with a dot
//! (a hidden name), and is at most 64 bytes. When the name is taken, `-<8 hex>` is added before the
//! extension; the caller retries with [`Names::next`].

use crate::site::mime;
use crate::sys;

const MAX_SLUG: usize = 64;

/// The names to try, in order, for one POST.
#[derive(Debug, Clone)]
pub struct Names {
    /// The sanitized slug without its extension; None: random names.
    stem: Option<String>,
    /// The extension with its dot, or empty.
    ext: String,
    tries: u32,
}

impl Names {
    pub fn new(slug: Option<&str>, content_type: Option<&str>) -> Names {
        let slug = slug.and_then(sanitize_slug);
        let (stem, own_ext) = match &slug {
            Some(s) => match s.rfind('.').filter(|&i| i > 0 && i + 1 < s.len()) {
                Some(i) => (Some(s[..i].to_string()), Some(s[i..].to_string())),
                None => (Some(s.clone()), None),
            },
            None => (None, None),
        };
        let ext = own_ext.or_else(|| content_type.and_then(extension_for).map(|e| format!(".{e}")));
        Names { stem, ext: ext.unwrap_or_default(), tries: 0 }
    }

    /// The next name to try; an error only when the kernel has no random bytes to give.
    pub fn next(&mut self) -> std::io::Result<String> {
        self.tries += 1;
        Ok(match (&self.stem, self.tries) {
            (Some(stem), 1) => format!("{stem}{}", self.ext),
            (Some(stem), _) => format!("{stem}-{}{}", sys::random_hex(4)?, self.ext),
            (None, _) => format!("{}{}", sys::random_hex(8)?, self.ext),
        })
    }
}

/// A slug cut down to a safe file name, or None when nothing usable is left.
fn sanitize_slug(slug: &str) -> Option<String> {
    let kept: String =
        slug.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    let kept = kept.trim_start_matches(['.', '-']);
    let mut end = kept.len().min(MAX_SLUG);
    // ASCII only by now, so any byte index is a char boundary.
    while end > 0 && kept.as_bytes()[end - 1] == b'.' {
        end -= 1;
    }
    let kept = &kept[..end];
    (!kept.is_empty() && kept.bytes().any(|b| b.is_ascii_alphanumeric())).then(|| kept.to_string())
}

/// The extension for a media type: the first of mime_guess's that is served back with that same type.
fn extension_for(content_type: &str) -> Option<&'static str> {
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    // mime_guess lists text/plain's extensions alphabetically ("asm" first); the one everyone expects is this.
    if essence == "text/plain" {
        return Some("txt");
    }
    let candidates = mime_guess::get_mime_extensions_str(&essence)?;
    candidates.iter().copied().find(|ext| {
        let served = mime::content_type_for(format!("x.{ext}").as_bytes(), || true);
        served.split(';').next().is_some_and(|t| t.trim() == essence)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_cut_down_to_safe_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("report.pdf", Some("report.pdf")),
            ("My Holiday Photo.JPG", Some("My-Holiday-Photo.JPG")),
            ("../../etc/passwd", Some("etc-passwd")),
            (".htaccess", Some("htaccess")),
            ("...", None),
            ("", None),
            ("---", None),
            ("a/b\\c", Some("a-b-c")),
            ("caf\u{e9}", Some("caf-")),
            ("trailing.", Some("trailing")),
            ("%2e%2e", Some("2e-2e")),
        ];
        for (slug, want) in cases {
            assert_eq!(sanitize_slug(slug).as_deref(), *want, "{slug:?}");
        }
        let long = "x".repeat(100);
        assert_eq!(sanitize_slug(&long).map(|s| s.len()), Some(MAX_SLUG));
    }

    #[test]
    fn names_in_order() {
        let mut n = Names::new(Some("photo.jpg"), Some("image/png"));
        assert_eq!(n.next().unwrap(), "photo.jpg");
        let again = n.next().unwrap();
        assert!(again.starts_with("photo-") && again.ends_with(".jpg") && again.len() == "photo-.jpg".len() + 8);
        let mut n = Names::new(Some("notes"), Some("text/plain; charset=utf-8"));
        assert_eq!(n.next().unwrap(), "notes.txt");
        let mut n = Names::new(None, Some("image/png"));
        let name = n.next().unwrap();
        assert_eq!(name.len(), 16 + ".png".len(), "{name}");
        assert!(name[..16].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(name, n.next().unwrap());
        let mut n = Names::new(Some("///"), None);
        assert_eq!(n.next().unwrap().len(), 16);
        let mut n = Names::new(None, Some("application/x-unknown-thing"));
        assert_eq!(n.next().unwrap().len(), 16);
    }

    #[test]
    fn extensions_follow_the_content_type() {
        assert_eq!(extension_for("image/png"), Some("png"));
        assert_eq!(extension_for("application/json"), Some("json"));
        assert_eq!(extension_for("TEXT/HTML; charset=utf-8").map(|e| e.starts_with("htm")), Some(true));
        assert_eq!(extension_for("nonsense"), None);
    }
}
