//! Who may write: the request must carry `Authorization: Bearer <token>` with the configured token.
//!
//! The comparison takes the same time wherever the first differing byte is (`subtle`), so response timing
//! tells an attacker nothing about how much of a guess was right. The token's length is not secret (it is
//! at least 16 token68 bytes either way), so a guess of another length is refused at once.

use subtle::ConstantTimeEq;

use crate::config::Token;
use crate::http::syntax::trim_ows_str;

/// What `Authorization` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Granted,
    /// No credentials at all: 401 with a plain `WWW-Authenticate: Bearer` challenge.
    Missing,
    /// Credentials that are not the token (or not Bearer): 401 with `error="invalid_token"`.
    Invalid,
}

/// The challenge sent with a 401, by case.
pub const CHALLENGE: &str = "Bearer realm=\"staticd\"";
pub const CHALLENGE_INVALID: &str = "Bearer realm=\"staticd\", error=\"invalid_token\"";

/// Judges an `Authorization` field value against `token`.
pub fn check(authorization: Option<&str>, token: &Token) -> Auth {
    let Some(value) = authorization.map(trim_ows_str) else { return Auth::Missing };
    // RFC 9110 §11.1: the scheme is case-insensitive, then at least one space, then the credentials.
    let Some((scheme, credentials)) = value.split_once(' ') else { return Auth::Invalid };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Auth::Invalid;
    }
    let presented = credentials.trim_start_matches(' ').as_bytes();
    let secret = token.secret();
    if presented.len() == secret.len() && bool::from(presented.ct_eq(secret)) {
        Auth::Granted
    } else {
        Auth::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::for_tests(b"0123456789abcdef")
    }

    #[test]
    fn bearer_with_the_token_only() {
        let t = token();
        let cases: &[(Option<&str>, Auth)] = &[
            (None, Auth::Missing),
            (Some("Bearer 0123456789abcdef"), Auth::Granted),
            (Some("bearer 0123456789abcdef"), Auth::Granted),
            (Some("BEARER   0123456789abcdef "), Auth::Granted),
            (Some("Bearer 0123456789abcdeF"), Auth::Invalid),
            (Some("Bearer 0123456789abcde"), Auth::Invalid),
            (Some("Bearer 0123456789abcdef0"), Auth::Invalid),
            (Some("Bearer"), Auth::Invalid),
            (Some("Bearer "), Auth::Invalid),
            (Some(""), Auth::Invalid),
            (Some("Basic MDEyMzQ1Njc4OWFiY2RlZg=="), Auth::Invalid),
            (Some("Token 0123456789abcdef"), Auth::Invalid),
            (Some("0123456789abcdef"), Auth::Invalid),
            (Some("Bearer 0123456789abcdef, Bearer x"), Auth::Invalid),
        ];
        for (value, want) in cases {
            assert_eq!(check(*value, &t), *want, "{value:?}");
        }
    }
}
