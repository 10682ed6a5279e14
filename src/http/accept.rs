//! What an `Accept` field says about the two media types the site cares about: whether a request is a
//! navigation (it names `text/html`, as browsers do for pages and never for scripts, styles or images) and
//! whether it asks for JSON (a directory listing for a program). Only these two facts are kept, so a request
//! carries two flags instead of a copy of the browser's long Accept value.

use crate::http::syntax;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepts {
    /// `text/html` is listed with a q-value above 0.
    pub html: bool,
    /// `application/json` is listed with a q-value above 0.
    pub json: bool,
}

impl Accepts {
    /// Adds what one Accept field line lists (several lines are one list).
    pub fn add(&mut self, value: &[u8]) {
        for member in syntax::list_members(value) {
            let mut parts = member.split(|&b| b == b';');
            let range = syntax::trim_ows(parts.next().unwrap_or_default());
            let refused = parts.any(|param| is_zero_q(syntax::trim_ows(param)));
            if refused {
                continue;
            }
            self.html |= range.eq_ignore_ascii_case(b"text/html");
            self.json |= range.eq_ignore_ascii_case(b"application/json");
        }
    }

    /// JSON is wanted when it is asked for and HTML is not (a browser lists text/html; a program asking for
    /// JSON does not).
    pub fn prefers_json(self) -> bool {
        self.json && !self.html
    }
}

/// `q=0`, `q=0.0`, `q=0.000` (RFC 9110 §12.4.2): the client refuses this range.
fn is_zero_q(param: &[u8]) -> bool {
    let Some(value) = param.strip_prefix(b"q=").or_else(|| param.strip_prefix(b"Q=")) else { return false };
    match value.split_first() {
        Some((b'0', rest)) => match rest.split_first() {
            None => true,
            Some((b'.', digits)) => digits.iter().all(|&d| d == b'0'),
            Some(_) => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(lines: &[&str]) -> Accepts {
        let mut a = Accepts::default();
        for line in lines {
            a.add(line.as_bytes());
        }
        a
    }

    #[test]
    fn navigations_and_json() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        let rows: &[(&[&str], bool, bool)] = &[
            (&[browser], true, false),
            (&["*/*"], false, false),
            (&["text/*"], false, false),
            (&["TEXT/HTML"], true, false),
            (&["text/html;q=0"], false, false),
            (&["text/html ; q=0.000"], false, false),
            (&["text/html;q=0.001"], true, false),
            (&["text/html;level=1;q=0"], false, false),
            (&["application/json"], false, true),
            (&["application/json, text/plain;q=0.5"], false, true),
            (&["application/json", "text/html"], true, true),
            (&["application/json;q=0"], false, false),
            (&[""], false, false),
            (&[",,;"], false, false),
        ];
        for (lines, html, json) in rows {
            let got = accepts(lines);
            assert_eq!((got.html, got.json), (*html, *json), "{lines:?}");
        }
        assert!(accepts(&["application/json"]).prefers_json());
        assert!(!accepts(&[browser, "application/json"]).prefers_json());
    }
}
