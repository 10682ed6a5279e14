//! Chooses the content coding of a response from `Accept-Encoding` (RFC 9110 §12.5.3), among the forms a file
//! has: its precompressed siblings (`file.br`, `file.zst`, `file.gz`) and what the compressor made of it.
//!
//! A pure function of the header and of which forms exist and how big they are: the highest weight wins,
//! and among equal weights the smallest form, so a client that accepts everything gets the fewest bytes. A
//! malformed element is skipped rather than failing the request, and every doubt resolves to identity, which
//! is always possible: even a client that refuses identity gets it when nothing it accepts exists (a 406
//! would help no one).

use crate::http::syntax::{is_token, list_elements, trim_ows_str};

/// A content coding staticd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCoding {
    Identity,
    Gzip,
    Brotli,
    Zstd,
}

impl ContentCoding {
    /// What to append to the file name to find the site's own precompressed variant on disk.
    pub fn suffix(self) -> &'static str {
        match self {
            ContentCoding::Identity => "",
            ContentCoding::Gzip => ".gz",
            ContentCoding::Brotli => ".br",
            ContentCoding::Zstd => ".zst",
        }
    }

    /// The `Content-Encoding` value; empty for identity, which is never sent.
    pub fn token(self) -> &'static str {
        match self {
            ContentCoding::Identity => "",
            ContentCoding::Gzip => "gzip",
            ContentCoding::Brotli => "br",
            ContentCoding::Zstd => "zstd",
        }
    }

    fn listed(self) -> Listed {
        match self {
            ContentCoding::Identity => Listed::Identity,
            ContentCoding::Gzip => Listed::Gzip,
            ContentCoding::Brotli => Listed::Brotli,
            ContentCoding::Zstd => Listed::Zstd,
        }
    }
}

/// Which of `forms` (coding, size in bytes) to serve: the index of the chosen one, or None for identity.
pub fn negotiate(accept_encoding: Option<&str>, forms: &[(ContentCoding, u64)]) -> Option<usize> {
    // No header: no preference, so the representation as stored.
    let header = accept_encoding?;
    let prefs = Preferences::parse(header);
    let mut best: Option<(usize, Weight, u64)> = None;
    for (i, &(coding, size)) in forms.iter().enumerate() {
        let weight = prefs.weight_of(coding.listed());
        if weight == 0 {
            continue;
        }
        if best.is_none_or(|(_, w, s)| weight > w || (weight == w && size < s)) {
            best = Some((i, weight, size));
        }
    }
    let (i, weight, _) = best?;
    // Identity is acceptable unless refused; it is chosen over a coding only when the client said it prefers
    // it (an explicit higher weight): otherwise the smaller response wins.
    match prefs.identity {
        Some(w) if w > weight => None,
        _ => Some(i),
    }
}

/// Whether the header accepts any coding the compressor makes: only then is it worth looking for its work.
pub fn accepts_compression(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else { return false };
    let prefs = Preferences::parse(header);
    [Listed::Brotli, Listed::Zstd, Listed::Gzip].into_iter().any(|c| prefs.weight_of(c) > 0)
}

/// A qvalue in thousandths: 0..=1000, so comparisons are exact.
type Weight = u16;

const FULL_WEIGHT: Weight = 1000;

/// The codings from the header that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Gzip,
    Brotli,
    Zstd,
    Identity,
    Star,
    Other,
}

/// The weights the client gave each coding we can serve, and `*`; None means "not mentioned".
#[derive(Debug, Default)]
struct Preferences {
    gzip: Option<Weight>,
    br: Option<Weight>,
    zstd: Option<Weight>,
    identity: Option<Weight>,
    star: Option<Weight>,
}

impl Preferences {
    fn parse(header: &str) -> Preferences {
        let mut prefs = Preferences::default();
        for (coding, weight) in list_elements(header).filter_map(parse_element) {
            let slot = match coding {
                Listed::Gzip => &mut prefs.gzip,
                Listed::Brotli => &mut prefs.br,
                Listed::Zstd => &mut prefs.zstd,
                Listed::Identity => &mut prefs.identity,
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
            Listed::Zstd => self.zstd,
            Listed::Identity => self.identity,
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
    } else if coding.eq_ignore_ascii_case("zstd") {
        Listed::Zstd
    } else if coding.eq_ignore_ascii_case("identity") {
        Listed::Identity
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
    use ContentCoding::{Brotli, Gzip, Identity, Zstd};

    /// The old two-sibling interface: br (smaller) and gzip, as present.
    fn pick(header: Option<&str>, have_br: bool, have_gzip: bool) -> ContentCoding {
        let mut forms = Vec::new();
        if have_br {
            forms.push((Brotli, 100));
        }
        if have_gzip {
            forms.push((Gzip, 120));
        }
        negotiate(header, &forms).map_or(Identity, |i| forms[i].0)
    }

    #[test]
    fn equal_weights_go_to_the_smallest_and_identity_only_when_preferred() {
        let forms = [(Brotli, 300), (Zstd, 280), (Gzip, 350)];
        let got = |h: &str| negotiate(Some(h), &forms).map(|i| forms[i].0);
        assert_eq!(got("gzip, deflate, br, zstd"), Some(Zstd));
        assert_eq!(got("gzip, br"), Some(Brotli));
        assert_eq!(got("gzip, br;q=0.9, zstd;q=0.8"), Some(Gzip));
        assert_eq!(got("*"), Some(Zstd));
        assert_eq!(got("zstd;q=0, *"), Some(Brotli));
        assert_eq!(got("ZSTD"), Some(Zstd));
        assert_eq!(got("identity;q=1, gzip;q=0.5"), None, "identity preferred");
        assert_eq!(got("identity, gzip"), Some(Gzip), "equal: the smaller response");
        assert_eq!(got("identity;q=0, gzip;q=0"), None, "nothing acceptable: identity anyway");
        assert_eq!(got("deflate"), None);
        assert!(accepts_compression(Some("gzip")) && accepts_compression(Some("*")));
        assert!(!accepts_compression(Some("identity")) && !accepts_compression(None));
        assert!(!accepts_compression(Some("*;q=0")) && !accepts_compression(Some("deflate, gzip;q=0")));
    }

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
            assert_eq!(pick(*header, *have_br, *have_gzip), *want, "{header:?} br={have_br} gzip={have_gzip}");
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
        let cases = [(Identity, "", ""), (Gzip, ".gz", "gzip"), (Brotli, ".br", "br"), (Zstd, ".zst", "zstd")];
        for (coding, suffix, token) in cases {
            assert_eq!(coding.suffix(), suffix);
            assert_eq!(coding.token(), token);
        }
    }
}
