//! Who the client is when staticd sits behind trusted reverse proxies (`--trusted-proxy CIDR`).
//!
//! A proxy appends the address it received a connection from to `X-Forwarded-For` (or adds a `for=`
//! element to RFC 7239 `Forwarded`), so the list grows left to right and only entries appended by proxies
//! we trust are believable. Walking from the right and stopping at the first untrusted address gives the
//! real client without letting a client forge its address by sending the header itself. Headers from an
//! untrusted peer are ignored entirely.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::http::syntax::{list_elements, trim_ows_str};

/// An address range: a network address with its host bits cleared, and a prefix length. Not ipnet's: its
/// `contains` costs twice the instructions of this mask-and-compare, and its parser is looser (README,
/// Dependencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    /// Accepts "10.0.0.0/8", "::1/128" and a bare address (a single host). Host bits below the prefix
    /// are cleared, as nginx's `set_real_ip_from` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| format!("invalid address in CIDR {s:?}"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("prefix length out of range (0-{max}) in CIDR {s:?}"))?,
            Some(_) => return Err(format!("invalid prefix length in CIDR {s:?}")),
        };
        Ok(Cidr { network: mask(ip, prefix), prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in the range. An IPv4-mapped IPv6 address (what a dual-stack socket reports for an
    /// IPv4 client) matches IPv4 ranges, so operators need not list both spellings.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

/// `ip` with every bit past the first `prefix` cleared (`prefix` is at most the address width).
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & bits))
        }
    }
}

/// Whether `ip` belongs to any trusted range.
pub fn is_trusted(ip: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|c| c.contains(ip))
}

/// The client address: `peer` itself unless `peer` is trusted; then the right-most untrusted address of
/// X-Forwarded-For (or, when XFF is absent, of the `for=` parameters of Forwarded, incl. quoted "[v6]:port"
/// forms), walking right to left; if every entry is trusted, the left-most one; a malformed entry stops the walk
/// and the last valid address seen (or `peer`) is used.
pub fn client_addr(peer: IpAddr, trusted: &[Cidr], xff: Option<&str>, forwarded: Option<&str>) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = match (xff, forwarded) {
        (Some(x), _) if !trim_ows_str(x).is_empty() => xff_hops(x),
        (_, Some(f)) => forwarded_hops(f),
        _ => Vec::new(),
    };
    let mut last = peer;
    for hop in hops.iter().rev() {
        match hop {
            None => break,
            Some(ip) if !is_trusted(*ip, trusted) => return *ip,
            Some(ip) => last = *ip,
        }
    }
    last
}

/// X-Forwarded-For entries, left to right; None marks one that is not an address ("unknown", garbage).
/// Empty list elements are skipped, as HTTP list syntax allows.
fn xff_hops(value: &str) -> Vec<Option<IpAddr>> {
    list_elements(value).map(parse_node).collect()
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]`, with an optional `:port`
/// after an IPv4 address or a bracketed IPv6 one (some proxies and RFC 7239 include the client port).
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_node_port)) {
            return None;
        }
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, port) = node.split_once(':')?;
    if !is_node_port(port) {
        return None;
    }
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// RFC 7239 node-port: a decimal port, or an obfuscated one ("_" followed by letters, digits, '.', '_', '-').
fn is_node_port(port: &str) -> bool {
    if let Some(obf) = port.strip_prefix('_') {
        return !obf.is_empty() && obf.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    }
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// The `for=` node of each Forwarded element, left to right. An element without exactly one `for=`, or
/// one that does not parse (unbalanced quotes, a pair without '='), is malformed (None).
fn forwarded_hops(value: &str) -> Vec<Option<IpAddr>> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(trim_ows_str)
        .filter(|e| !e.is_empty())
        .map(|e| element_for(e).and_then(|node| parse_node(&node)))
        .collect()
}

/// The unquoted value of the single `for=` pair of a forwarded-element.
fn element_for(element: &str) -> Option<String> {
    let mut found = None;
    for pair in split_outside_quotes(element, ';') {
        let pair = trim_ows_str(pair);
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        let value = unquote(value)?;
        if name.eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            found = Some(value);
        }
    }
    found
}

/// A token as is, or a quoted-string without its quotes and with quoted-pairs resolved. None when a quote
/// is unbalanced or a bare value contains characters that need quoting.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        let bare =
            !value.is_empty() && !value.chars().any(|c| c == '"' || c == '\\' || c.is_whitespace() || c.is_control());
        return bare.then(|| value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// Splits on `sep` where it is not inside a quoted-string (which may contain escaped quotes). An
/// unterminated quote swallows the rest, which then fails to parse as a whole.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if in_quotes && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            parts.push(s.get(start..i).unwrap_or_default());
            start = i + c.len_utf8();
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn cidr_parse_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.1.2.3/8", Some("10.0.0.0/8")),
            ("192.0.2.7", Some("192.0.2.7/32")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("255.255.255.255/32", Some("255.255.255.255/32")),
            ("::1/128", Some("::1/128")),
            ("::1", Some("::1/128")),
            ("2001:db8::ff/32", Some("2001:db8::/32")),
            ("::/0", Some("::/0")),
            ("fe80::1/10", Some("fe80::/10")),
            ("10.0.0.0/33", None),
            ("::/129", None),
            ("10.0.0.0/", None),
            ("10.0.0.0/+8", None),
            ("10.0.0.0/-1", None),
            ("10.0.0.0/08x", None),
            ("10.0.0.0/0008", None),
            ("10.0.0/8", None),
            ("10.0.0.0/8/8", None),
            ("", None),
            ("/8", None),
            (" 10.0.0.0/8", None),
            ("[::1]/128", None),
            ("localhost", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<Cidr>().ok().map(|c| c.to_string());
            assert_eq!(got.as_deref(), *want, "{input}");
        }
    }

    #[test]
    fn cidr_contains_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.0", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("10.0.0.0/8", "::ffff:11.1.2.3", false),
            ("10.0.0.0/8", "::10.1.2.3", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("0.0.0.0/0", "1.2.3.4", true),
            ("0.0.0.0/0", "::1", false),
            ("0.0.0.0/0", "::ffff:1.2.3.4", true),
            ("::/0", "1.2.3.4", false),
            ("::/0", "2001:db8::1", true),
            ("::1/128", "::1", true),
            ("::1/128", "127.0.0.1", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::ffff:0:0/96", "::ffff:1.2.3.4", true),
            ("127.0.0.0/8", "127.0.0.1", true),
            ("172.16.0.0/12", "172.31.255.255", true),
            ("172.16.0.0/12", "172.32.0.0", false),
        ];
        for (cidr, addr, want) in cases {
            let c: Cidr = cidr.parse().unwrap();
            assert_eq!(c.contains(ip(addr)), *want, "{cidr} contains {addr}");
        }
    }

    #[test]
    fn client_addr_table() {
        let trusted = cidrs(&["10.0.0.0/8", "::1"]);
        let proxy = "10.0.0.1";
        // (peer, xff, forwarded, expected)
        let cases: &[(&str, Option<&str>, Option<&str>, &str)] = &[
            // Untrusted peers' headers are ignored.
            ("203.0.113.9", Some("1.2.3.4"), None, "203.0.113.9"),
            ("203.0.113.9", None, Some("for=1.2.3.4"), "203.0.113.9"),
            // Trusted peer without headers.
            (proxy, None, None, proxy),
            (proxy, Some(""), None, proxy),
            (proxy, Some(" "), Some("for=1.2.3.4"), "1.2.3.4"),
            // X-Forwarded-For.
            (proxy, Some("1.2.3.4"), None, "1.2.3.4"),
            (proxy, Some("6.6.6.6, 1.2.3.4"), None, "1.2.3.4"),
            (proxy, Some("6.6.6.6, 1.2.3.4, 10.0.0.2"), None, "1.2.3.4"),
            (proxy, Some("6.6.6.6,1.2.3.4,10.0.0.2,10.9.9.9"), None, "1.2.3.4"),
            (proxy, Some("10.0.0.3, 10.0.0.2"), None, "10.0.0.3"),
            (proxy, Some("2001:db8::1"), None, "2001:db8::1"),
            (proxy, Some("[2001:db8::1]:443"), None, "2001:db8::1"),
            (proxy, Some("1.2.3.4:5678"), None, "1.2.3.4"),
            (proxy, Some("::ffff:10.0.0.5, 1.2.3.4, ::ffff:10.0.0.6"), None, "1.2.3.4"),
            (proxy, Some("1.2.3.4,, 10.0.0.2"), None, "1.2.3.4"),
            (proxy, Some("\t1.2.3.4\t"), None, "1.2.3.4"),
            // A malformed entry stops the walk: last valid seen, or the peer.
            (proxy, Some("1.2.3.4, unknown"), None, proxy),
            (proxy, Some("1.2.3.4, unknown, 10.0.0.2"), None, "10.0.0.2"),
            (proxy, Some("1.2.3.4, garbage!"), None, proxy),
            (proxy, Some("1.2.3.4, 1.2.3.4:99999"), None, proxy),
            (proxy, Some("1.2.3.4, [1.2.3.4]"), None, proxy),
            (proxy, Some("1.2.3.4, 2001:db8::1:80"), None, "2001:db8::1:80"),
            // XFF wins over Forwarded when both are present.
            (proxy, Some("1.2.3.4"), Some("for=5.6.7.8"), "1.2.3.4"),
            // Forwarded.
            (proxy, None, Some("for=1.2.3.4"), "1.2.3.4"),
            (proxy, None, Some("For=1.2.3.4;proto=https"), "1.2.3.4"),
            (proxy, None, Some("for=6.6.6.6, for=1.2.3.4;by=10.0.0.1"), "1.2.3.4"),
            (proxy, None, Some("for=1.2.3.4, for=10.0.0.2"), "1.2.3.4"),
            (proxy, None, Some("for=\"1.2.3.4\""), "1.2.3.4"),
            (proxy, None, Some("for=\"1.2.3.4:4711\""), "1.2.3.4"),
            (proxy, None, Some("for=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17"),
            (proxy, None, Some("for=\"[2001:db8:cafe::17]\""), "2001:db8:cafe::17"),
            (proxy, None, Some("for=\"[2001:db8::1]:_abc\""), "2001:db8::1"),
            (proxy, None, Some("proto=http;for=\"\\1.2.3.4\";host=\"a,b\""), "1.2.3.4"),
            (proxy, None, Some("for=1.2.3.4 ; proto=https"), "1.2.3.4"),
            (proxy, None, Some("for=\"[::1]\", for=10.0.0.9"), "::1"),
            // Forwarded malformations.
            (proxy, None, Some("for=1.2.3.4, for=unknown"), proxy),
            (proxy, None, Some("for=1.2.3.4, for=_hidden"), proxy),
            (proxy, None, Some("for=1.2.3.4, proto=https"), proxy),
            (proxy, None, Some("for=1.2.3.4, for=1.1.1.1;for=2.2.2.2"), proxy),
            (proxy, None, Some("for=1.2.3.4, for=\"5.6.7.8"), proxy),
            (proxy, None, Some("for=\"1.2.3.4, for=10.0.0.2"), proxy),
            (proxy, None, Some("for=1.2.3.4, for"), proxy),
            (proxy, None, Some("for=1.2.3.4, for=\"5.6.7.8\"x"), proxy),
            (proxy, None, Some("for=1.2.3.4, for=[2001:db8::1"), proxy),
            (proxy, None, Some("for=1.2.3.4, for=unknown, for=10.0.0.7"), "10.0.0.7"),
            (proxy, None, Some("for=\"1.2.3.4, 10.0.0.9\", for=5.6.7.8"), "5.6.7.8"),
            // IPv6 and mapped peers.
            ("::1", Some("1.2.3.4"), None, "1.2.3.4"),
            ("::ffff:10.0.0.1", Some("1.2.3.4"), None, "1.2.3.4"),
            ("::2", Some("1.2.3.4"), None, "::2"),
        ];
        for (peer, xff, fwd, want) in cases {
            assert_eq!(
                client_addr(ip(peer), &trusted, *xff, *fwd),
                ip(want),
                "peer {peer} xff {xff:?} forwarded {fwd:?}"
            );
        }
    }

    #[test]
    fn nothing_trusted_means_peer() {
        assert_eq!(client_addr(ip("10.0.0.1"), &[], Some("1.2.3.4"), Some("for=5.6.7.8")), ip("10.0.0.1"));
        assert!(!is_trusted(ip("10.0.0.1"), &[]));
        assert!(is_trusted(ip("10.0.0.1"), &cidrs(&["::1", "10.0.0.0/24"])));
    }
}
