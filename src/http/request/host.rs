//! Host syntax (RFC 9110 §7.2, RFC 3986 §3.2.2), for the Host field and an absolute-form target's authority.
//! Nothing here routes by host, so a host is only checked, never copied.

use memchr::{memchr, memrchr};

use super::{RequestError, Version};
use crate::http::syntax::hex_pair;

/// `uri-host [ ":" port ]` (RFC 9110 §7.2): a reg-name or an IP literal, with a non-empty port.
pub(super) fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = memchr(b']', value) else {
            return false;
        };
        let (literal, after) = value.split_at(close + 1);
        if !is_ipv6_literal(literal) {
            return false;
        }
        match after.split_first() {
            None => return true,
            Some((b':', port)) => (literal, Some(port)),
            Some(_) => return false,
        }
    } else {
        match memrchr(b':', value) {
            Some(colon) => (value.get(..colon).unwrap_or_default(), value.get(colon + 1..)),
            None => (value, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    let host_ok = host.first() == Some(&b'[') || is_reg_name(host);
    port_ok && host_ok
}

/// `[` IPv6address `]`, loosely: hex digits, colons and dots (for an embedded IPv4 tail).
fn is_ipv6_literal(literal: &[u8]) -> bool {
    let Some(inner) = literal.strip_prefix(b"[").and_then(|rest| rest.strip_suffix(b"]")) else {
        return false;
    };
    inner.contains(&b':') && inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// reg-name = *( unreserved / pct-encoded / sub-delims ), but never empty here.
fn is_reg_name(host: &[u8]) -> bool {
    if host.is_empty() {
        return false;
    }
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            let (Some(&hi), Some(&lo)) = (host.get(i + 1), host.get(i + 2)) else {
                return false;
            };
            if hex_pair(hi, lo).is_none() {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// HTTP/1.1 requires exactly one valid Host (RFC 9112 §3.2), even when an absolute-form target
/// supplies the authority that then takes precedence. Nothing here routes by host, so it is only checked.
pub(super) fn check_host(version: Version, header: Option<&[u8]>) -> Result<(), RequestError> {
    match header {
        Some(value) if !value.is_empty() && !is_valid_host(value) => Err(RequestError::BadRequest),
        // An empty Host is valid: a client sends it when the target URI has no authority (RFC 9112 §3.2).
        Some(_) => Ok(()),
        None if version == Version::Http11 => Err(RequestError::BadRequest),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn hosts() {
        let rows: &[(&str, &[u8], Outcome)] = &[
            ("1.1 missing", b"GET / HTTP/1.1\r\n\r\n", BAD),
            ("1.1 empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Outcome::Complete),
            ("1.1 blank", b"GET / HTTP/1.1\r\nHost:   \r\n\r\n", Outcome::Complete),
            ("two", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", BAD),
            ("two 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", BAD),
            ("space inside", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BAD),
            ("slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BAD),
            ("userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", BAD),
            ("empty port", b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n", BAD),
            ("letter port", b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", BAD),
            ("no name", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", BAD),
            ("bad pct", b"GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", BAD),
            ("bad pct hex", b"GET / HTTP/1.1\r\nHost: a%g0\r\n\r\n", BAD),
            ("open bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", BAD),
            ("bracket junk", b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", BAD),
            ("ipv6 no colon", b"GET / HTTP/1.1\r\nHost: [abc]\r\n\r\n", BAD),
            ("two colons", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", BAD),
            ("non-ascii", b"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", BAD),
            ("1.1 invalid even with absolute", b"GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", BAD),
            ("1.1 missing even with absolute", b"GET http://a/ HTTP/1.1\r\n\r\n", BAD),
        ];
        check_outcomes(rows);
        let good: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"GET / HTTP/1.1\r\nhOsT:  example.com:8080 \r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]:443\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a-b_c~d.e!$&'()*+,;=%41\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost:\r\n\r\n",
            b"GET http://abs/ HTTP/1.1\r\nHost: other\r\n\r\n",
        ];
        for input in good {
            assert_eq!(outcome(input), Complete, "{}", lossy(input));
        }
    }
}
