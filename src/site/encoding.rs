//! Chooses a precompressed variant (`file.br`, `file.gz`) from `Accept-Encoding` (RFC 9110 §12.5.3).
//!
//! staticd never compresses on the fly; it only picks between files that already exist. That keeps this a
//! pure function of the header and of which variants are present. A malformed element is skipped rather
//! than failing the request, and every doubt resolves to identity, which every client accepts.

use crate::http::syntax::{is_token, list_elements, trim_ows_str};

/// A content coding staticd can serve from a precompressed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCoding {
    Identity,
    Gzip,
    Brotli,
}

impl ContentCoding {
    /// What to append to the file name to find this variant on disk.
    pub fn suffix(self) -> &'static str {
        match self {
            ContentCoding::Identity => "",
            ContentCoding::Gzip => ".gz",
            ContentCoding::Brotli => ".br",
        }
    }

    /// The `Content-Encoding` value; empty for identity, which is never sent.
    pub fn token(self) -> &'static str {
        match self {
            ContentCoding::Identity => "",
            ContentCoding::Gzip => "gzip",
            ContentCoding::Brotli => "br",
        }
    }
}

/// Picks the coding to serve given the header and which variants exist on disk.
pub fn negotiate(accept_encoding: Option<&str>, have_br: bool, have_gzip: bool) -> ContentCoding {
    let Some(header) = accept_encoding else {
        return ContentCoding::Identity;
    };
    let prefs = Preferences::parse(header);
    let br = if have_br { prefs.weight_of(Listed::Brotli) } else { 0 };
    let gzip = if have_gzip { prefs.weight_of(Listed::Gzip) } else { 0 };
    // `>=` makes a tie go to br: smaller for the same content.
    if br > 0 && br >= gzip {
        ContentCoding::Brotli
    } else if gzip > 0 {
        ContentCoding::Gzip
    } else {
        ContentCoding::Identity
    }
}

/// A qvalue in thousandths: 0..=1000, so comparisons are exact.
type Weight = u16;

const FULL_WEIGHT: Weight = 1000;

/// The codings from the header that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Gzip,
    Brotli,
    Star,
    Other,
}

/// The weights the client gave each coding we can serve, and `*`; None means "not mentioned".
#[derive(Debug, Default)]
struct Preferences {
    gzip: Option<Weight>,
    br: Option<Weight>,
    star: Option<Weight>,
}

impl Preferences {
    fn parse(header: &str) -> Preferences {
        let mut prefs = Preferences::default();
        for (coding, weight) in list_elements(header).filter_map(parse_element) {
            let slot = match coding {
                Listed::Gzip => &mut prefs.gzip,
                Listed::Brotli => &mut prefs.br,
                Listed::Star => &mut prefs.star,
                Listed::Other => continue,
            };
            // A coding listed twice keeps its best weight (the RFC leaves duplicates undefined).
            *slot = Some(slot.map_or(weight, |w| w.max(weight)));
        }
        prefs
    }

    /// An explicit weight wins; otherwise `*` covers the coding; otherwise it was not accepted.
    fn weight_of(&self, coding: Listed) -> Weight {
        let explicit = match coding {
            Listed::Gzip => self.gzip,
            Listed::Brotli => self.br,
            Listed::Star | Listed::Other => None,
        };
        explicit.or(self.star).unwrap_or(0)
    }
}

/// `coding [ OWS ";" OWS "q=" qvalue ]`; None for an empty or malformed element, which is then skipped.
fn parse_element(element: &str) -> Option<(Listed, Weight)> {
    let mut parts = element.split(';');
    let coding = trim_ows_str(parts.next()?);
    if !is_token(coding.as_bytes()) {
        return None;
    }
    let weight = match (parts.next(), parts.next()) {
        (None, _) => FULL_WEIGHT,
        (Some(param), None) => parse_q_param(trim_ows_str(param))?,
        // Accept-Encoding has exactly one parameter, the weight.
        (Some(_), Some(_)) => return None,
    };
    Some((classify(coding), weight))
}

fn classify(coding: &str) -> Listed {
    if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
        Listed::Gzip
    } else if coding.eq_ignore_ascii_case("br") {
        Listed::Brotli
    } else if coding == "*" {
        Listed::Star
    } else {
        Listed::Other
    }
}

/// `q=` followed by a qvalue (RFC 9110 §12.4.2): "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")].
fn parse_q_param(param: &str) -> Option<Weight> {
    let (name, value) = param.split_once('=')?;
    if !name.eq_ignore_ascii_case("q") {
        return None;
    }
    parse_qvalue(value)
}

fn parse_qvalue(value: &str) -> Option<Weight> {
    let (int, frac) = match value.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (value, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Right-pad to three digits so "0.5" is 500 thousandths.
    let thousandths =
        frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |n: Weight, d| n * 10 + Weight::from(d - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL_WEIGHT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentCoding::{Brotli, Gzip, Identity};

    #[test]
    fn negotiate_table() {
        // (header, have_br, have_gzip, expected)
        let cases: &[(Option<&str>, bool, bool, ContentCoding)] = &[
            // No header: no preference, so the representation as stored.
            (None, true, true, Identity),
            (None, false, false, Identity),
            // Empty header: only identity is acceptable.
            (Some(""), true, true, Identity),
            (Some("  "), true, true, Identity),
            // Typical browser headers.
            (Some("gzip, deflate, br, zstd"), true, true, Brotli),
            (Some("gzip, deflate, br"), false, true, Gzip),
            (Some("gzip, deflate, br"), true, false, Brotli),
            (Some("gzip, deflate, br"), false, false, Identity),
            (Some("gzip, deflate"), true, true, Gzip),
            (Some("br"), false, true, Identity),
            (Some("identity"), true, true, Identity),
            (Some("deflate, zstd"), true, true, Identity),
            // Weights.
            (Some("br;q=0.5, gzip;q=0.8"), true, true, Gzip),
            (Some("br;q=0.8, gzip;q=0.5"), true, true, Brotli),
            (Some("br;q=0.5, gzip;q=0.5"), true, true, Brotli),
            (Some("gzip;q=1.0, br;q=0.999"), true, true, Gzip),
            (Some("gzip;q=0.001, br;q=0.0011"), true, true, Gzip),
            (Some("gzip;q=0.001"), true, true, Gzip),
            // q=0 refuses, in every spelling.
            (Some("br;q=0, gzip"), true, true, Gzip),
            (Some("br;q=0.000, gzip;q=0.0"), true, true, Identity),
            (Some("gzip;q=0"), false, true, Identity),
            (Some("br;q=0."), true, true, Identity),
            // x-gzip is gzip.
            (Some("x-gzip"), true, true, Gzip),
            (Some("X-GZIP;q=0.3, br;q=0.2"), true, true, Gzip),
            // '*' gives its weight to codings not listed.
            (Some("*"), true, true, Brotli),
            (Some("*"), false, true, Gzip),
            (Some("*;q=0"), true, true, Identity),
            (Some("*;q=0.5, gzip;q=0.6"), true, true, Gzip),
            (Some("*;q=0.7, gzip;q=0.6"), true, true, Brotli),
            (Some("*, br;q=0"), true, true, Gzip),
            (Some("*;q=0, gzip"), true, true, Gzip),
            (Some("br;q=0, *"), true, false, Identity),
            // Case and whitespace.
            (Some("GZIP"), true, true, Gzip),
            (Some("Br"), true, true, Brotli),
            (Some("gzip ; Q=0.5 , br ; q=0.4"), true, true, Gzip),
            (Some("\tbr\t;\tq=1\t"), true, true, Brotli),
            (Some(",,gzip,,"), true, true, Gzip),
            // Malformed weights drop only their element.
            (Some("br;q=2, gzip"), true, true, Gzip),
            (Some("br;q=1.1, gzip"), true, true, Gzip),
            (Some("br;q=1.0001, gzip"), true, true, Gzip),
            (Some("br;q=0.1234, gzip"), true, true, Gzip),
            (Some("br;q=-1, gzip"), true, true, Gzip),
            (Some("br;q=, gzip"), true, true, Gzip),
            (Some("br;q=.5, gzip"), true, true, Gzip),
            (Some("br;q=0.5x, gzip"), true, true, Gzip),
            (Some("br;q =0.5, gzip"), true, true, Gzip),
            (Some("br;q= 0.5, gzip"), true, true, Gzip),
            (Some("br;x=1, gzip"), true, true, Gzip),
            (Some("br;q=1;q=1, gzip"), true, true, Gzip),
            (Some("br;, gzip"), true, true, Gzip),
            (Some("br;q=1"), true, true, Brotli),
            (Some("b r, gzip"), true, true, Gzip),
            (Some(";q=1"), true, true, Identity),
            (Some("gz ip"), true, true, Identity),
            (Some("gzip;q=5"), true, true, Identity),
            // A malformed '*' does not spread its weight.
            (Some("*;q=x"), true, true, Identity),
            // Duplicates keep the best weight.
            (Some("gzip;q=0, gzip;q=0.5"), false, true, Gzip),
            (Some("gzip;q=0.2, x-gzip;q=0.9, br;q=0.5"), true, true, Gzip),
        ];
        for (header, have_br, have_gzip, want) in cases {
            assert_eq!(negotiate(*header, *have_br, *have_gzip), *want, "{header:?} br={have_br} gzip={have_gzip}");
        }
    }

    #[test]
    fn qvalue_table() {
        let cases = [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.123", Some(123)),
            ("0.999", Some(999)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.0000", None),
            ("1.001", None),
            ("0.1234", None),
            ("00.5", None),
            ("2", None),
            ("", None),
            (".5", None),
            ("0.a", None),
            ("0..5", None),
            ("+0.5", None),
            ("0.5 ", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_qvalue(value), want, "{value:?}");
        }
    }

    #[test]
    fn coding_names_table() {
        let cases = [(Identity, "", ""), (Gzip, ".gz", "gzip"), (Brotli, ".br", "br")];
        for (coding, suffix, token) in cases {
            assert_eq!(coding.suffix(), suffix);
            assert_eq!(coding.token(), token);
        }
    }
}
