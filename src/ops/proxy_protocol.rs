//! PROXY protocol v1 (text) and v2 (binary) headers, as sent by HAProxy, nginx and most load balancers.
//!
//! A listener started with `--proxy-protocol` sits behind a proxy that prefixes every connection with one
//! of these headers; the address it carries is the real client, used in logs and trust decisions. The
//! parser is incremental (`Incomplete` until the whole header is buffered) and refuses anything that can
//! no longer become a valid header as early as possible, so a client that is not a proxy is cut off
//! without the server waiting for more bytes. Reference: haproxy.org/download/2.9/doc/proxy-protocol.txt.
//!
//! Not the ppp crate: it waits on v1 lines a bare LF has already ruled out, takes `+1` as a port, and refuses
//! v2 LOCAL headers with an unknown family, which the spec says to accept (README, Dependencies).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Outcome of [`parse`] on a buffer that may still be valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyHeader {
    /// Parsed: `consumed` bytes belong to the header; `source` is the real client (None for v1 UNKNOWN / v2 LOCAL
    /// or an address family we don't carry — then the connection's own peer address is used).
    Done { consumed: usize, source: Option<SocketAddr> },
    /// Need more bytes (never more than MAX_HEADER in all).
    Incomplete,
}

/// Largest header accepted: the v2 fixed part plus a TLV section of at most 4 KiB. Longer v2 headers are
/// refused so a hostile peer cannot make the server buffer up to the 64 KiB the length field allows.
pub const MAX_HEADER: usize = 16 + 4096;

/// The buffer does not start with a valid PROXY header and never will: close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Parses the PROXY header at the start of `buf` (which holds everything received so far).
pub fn parse(buf: &[u8]) -> Result<ProxyHeader, Malformed> {
    match buf.first() {
        None => Ok(ProxyHeader::Incomplete),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Err(Malformed),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Version 1: "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"

/// The spec's limit for a v1 line, CRLF included ("PROXY UNKNOWN" + longest TCP6 addresses and ports).
const V1_MAX: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";

fn parse_v1(buf: &[u8]) -> Result<ProxyHeader, Malformed> {
    let window = buf.get(..V1_MAX).unwrap_or(buf);
    match find_crlf(window)? {
        Some(end) => {
            let line = window.get(..end).ok_or(Malformed)?;
            let source = parse_v1_line(line)?;
            Ok(ProxyHeader::Done { consumed: end + 2, source })
        }
        None if window.len() >= V1_MAX => Err(Malformed),
        None => {
            // A trailing CR is the start of the terminator, not part of the fields.
            check_v1_partial(window.strip_suffix(b"\r").unwrap_or(window))?;
            Ok(ProxyHeader::Incomplete)
        }
    }
}

/// Position of the first CR, when it is followed by LF. A lone CR or LF can never be part of a v1 line.
fn find_crlf(buf: &[u8]) -> Result<Option<usize>, Malformed> {
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'\n' => return Err(Malformed),
            b'\r' => {
                return match buf.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some(i)),
                    Some(_) => Err(Malformed),
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Rejects an unterminated line as soon as its prefix, protocol word or characters rule it out.
fn check_v1_partial(partial: &[u8]) -> Result<(), Malformed> {
    let n = partial.len().min(V1_PREFIX.len());
    if partial.get(..n) != V1_PREFIX.get(..n) {
        return Err(Malformed);
    }
    let rest = partial.get(V1_PREFIX.len()..).unwrap_or_default();
    let proto_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let (proto, after) = rest.split_at(proto_end);
    let known: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];
    let complete_word = proto_end < rest.len();
    let plausible = known.iter().any(|k| if complete_word { *k == proto } else { k.starts_with(proto) });
    if !plausible {
        return Err(Malformed);
    }
    // UNKNOWN lines may carry anything; TCP lines only addresses, ports and single spaces.
    let tcp = proto == b"TCP4" || proto == b"TCP6";
    if tcp && !after.iter().all(|&b| b.is_ascii_hexdigit() || b".: ".contains(&b)) {
        return Err(Malformed);
    }
    Ok(())
}

/// Parses a complete line without its CRLF.
fn parse_v1_line(line: &[u8]) -> Result<Option<SocketAddr>, Malformed> {
    let rest = line.strip_prefix(V1_PREFIX).ok_or(Malformed)?;
    if let Some(tail) = rest.strip_prefix(b"UNKNOWN") {
        // The receiver must ignore whatever follows UNKNOWN, but the word itself must stand alone.
        return match tail.first() {
            None | Some(b' ') => Ok(None),
            Some(_) => Err(Malformed),
        };
    }
    let text = std::str::from_utf8(rest).map_err(|_| Malformed)?;
    let mut fields = text.split(' ');
    let proto = fields.next().ok_or(Malformed)?;
    let src = fields.next().ok_or(Malformed)?;
    let dst = fields.next().ok_or(Malformed)?;
    let sport = fields.next().ok_or(Malformed)?;
    let dport = fields.next().ok_or(Malformed)?;
    if fields.next().is_some() {
        return Err(Malformed);
    }
    let (src_ip, _dst_ip) = match proto {
        "TCP4" => (IpAddr::V4(parse_addr::<Ipv4Addr>(src)?), IpAddr::V4(parse_addr::<Ipv4Addr>(dst)?)),
        "TCP6" => (IpAddr::V6(parse_addr::<Ipv6Addr>(src)?), IpAddr::V6(parse_addr::<Ipv6Addr>(dst)?)),
        _ => return Err(Malformed),
    };
    let sport = parse_port(sport)?;
    parse_port(dport)?;
    Ok(Some(SocketAddr::new(src_ip, sport)))
}

fn parse_addr<T: std::str::FromStr>(s: &str) -> Result<T, Malformed> {
    s.parse().map_err(|_| Malformed)
}

/// Decimal 0-65535, digits only (no sign, which `u16::from_str` would accept).
fn parse_port(s: &str) -> Result<u16, Malformed> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed);
    }
    s.parse().map_err(|_| Malformed)
}

// ---------------------------------------------------------------------------------------------------------
// Version 2: 12-byte signature, ver/cmd, family/transport, big-endian length, addresses, TLVs.

const V2_SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];
const V2_FIXED: usize = 16;
const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;
const FAM_UNSPEC: u8 = 0x0;
const FAM_INET: u8 = 0x1;
const FAM_INET6: u8 = 0x2;
const FAM_UNIX: u8 = 0x3;
const TRANSPORT_UNSPEC: u8 = 0x0;
const TRANSPORT_STREAM: u8 = 0x1;
const TRANSPORT_DGRAM: u8 = 0x2;
/// Address block sizes: two addresses and two ports.
const INET_LEN: usize = 4 + 4 + 2 + 2;
const INET6_LEN: usize = 16 + 16 + 2 + 2;
const UNIX_LEN: usize = 108 + 108;

fn parse_v2(buf: &[u8]) -> Result<ProxyHeader, Malformed> {
    let sig_part = buf.len().min(V2_SIGNATURE.len());
    if buf.get(..sig_part) != V2_SIGNATURE.get(..sig_part) {
        return Err(Malformed);
    }
    let Some(&ver_cmd) = buf.get(12) else {
        return Ok(ProxyHeader::Incomplete);
    };
    let command = ver_cmd & 0x0F;
    if ver_cmd >> 4 != 2 || (command != CMD_LOCAL && command != CMD_PROXY) {
        return Err(Malformed);
    }
    let Some(&fam) = buf.get(13) else {
        return Ok(ProxyHeader::Incomplete);
    };
    let (family, transport) = (fam >> 4, fam & 0x0F);
    // LOCAL headers (health checks) must be accepted whatever their family: the block is discarded.
    if command == CMD_PROXY && !known_family(family, transport) {
        return Err(Malformed);
    }
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Ok(ProxyHeader::Incomplete);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let total = V2_FIXED + len;
    if total > MAX_HEADER {
        return Err(Malformed);
    }
    let needed = match (command, family) {
        (CMD_PROXY, FAM_INET) => INET_LEN,
        (CMD_PROXY, FAM_INET6) => INET6_LEN,
        (CMD_PROXY, FAM_UNIX) => UNIX_LEN,
        _ => 0,
    };
    if len < needed {
        return Err(Malformed);
    }
    let Some(block) = buf.get(V2_FIXED..total) else {
        return Ok(ProxyHeader::Incomplete);
    };
    let source = if command == CMD_PROXY && transport == TRANSPORT_STREAM { v2_source(family, block) } else { None };
    Ok(ProxyHeader::Done { consumed: total, source })
}

/// The combinations the spec defines; receivers must drop connections presenting any other.
fn known_family(family: u8, transport: u8) -> bool {
    match family {
        FAM_UNSPEC => transport == TRANSPORT_UNSPEC,
        FAM_INET | FAM_INET6 | FAM_UNIX => transport == TRANSPORT_STREAM || transport == TRANSPORT_DGRAM,
        _ => false,
    }
}

/// The source address of an INET/INET6 block (whose length was checked); None for families we don't carry.
fn v2_source(family: u8, block: &[u8]) -> Option<SocketAddr> {
    match family {
        FAM_INET => {
            let ip: [u8; 4] = block.get(0..4)?.try_into().ok()?;
            let port = be_u16(block.get(8..10)?)?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        FAM_INET6 => {
            let ip: [u8; 16] = block.get(0..16)?.try_into().ok()?;
            let port = be_u16(block.get(32..34)?)?;
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0)))
        }
        _ => None,
    }
}

fn be_u16(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(consumed: usize, source: Option<&str>) -> Result<ProxyHeader, Malformed> {
        Ok(ProxyHeader::Done { consumed, source: source.map(|s| s.parse().unwrap()) })
    }

    const INC: Result<ProxyHeader, Malformed> = Ok(ProxyHeader::Incomplete);
    const BAD: Result<ProxyHeader, Malformed> = Err(Malformed);

    #[test]
    fn v1_table() {
        let cases: &[(&[u8], Result<ProxyHeader, Malformed>)] = &[
            (b"", INC),
            (b"P", INC),
            (b"PROXY", INC),
            (b"PROXY T", INC),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222", INC),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r", INC),
            (b"PROXY UNKNOWN whatever goes here", INC),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", done(38, Some("1.2.3.4:1111"))),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nGET / HTTP/1.1\r\n", done(38, Some("1.2.3.4:1111"))),
            (b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", done(44, Some("255.255.255.255:65535"))),
            (b"PROXY TCP6 2001:db8::1 ::1 443 80\r\n", done(35, Some("[2001:db8::1]:443"))),
            (b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", done(35, Some("[::ffff:1.2.3.4]:1"))),
            (b"PROXY UNKNOWN\r\n", done(15, None)),
            (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", done(35, None)),
            // Early rejections.
            (b"G", BAD),
            (b"GET / HTTP/1.1\r\n", BAD),
            (b"PROXX", BAD),
            (b"PROXY  TCP4", BAD),
            (b"PROXY TCP5", BAD),
            (b"PROXY TCP4 1.2.3.4\n", BAD),
            (b"PROXY TCP4 1.2.3.4\rX", BAD),
            (b"PROXY TCP4 1.2.3.4 g", BAD),
            (b"PROXY UNKNOWNX\r\n", BAD),
            (b"PROXY UNKNOWNX", BAD),
            // Strictness on complete lines.
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222 \r\n", BAD),
            (b"PROXY TCP4 1.2.3.4  5.6.7.8 1111 2222\r\n", BAD),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111\r\n", BAD),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 65536\r\n", BAD),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +111 2222\r\n", BAD),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2222\r\n", BAD),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8  2222\r\n", BAD),
            (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", BAD),
            (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", BAD),
            (b"PROXY TCP4 ::1 ::1 1 2\r\n", BAD),
            (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", BAD),
            (b"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", BAD),
            (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", BAD),
            (b"PROXY\r\n", BAD),
            (b"PROXY \r\n", BAD),
        ];
        for (input, want) in cases {
            assert_eq!(&parse(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn v1_length_limit() {
        // 107 bytes with CRLF is the most a v1 line may take.
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX - 2, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse(&line), done(V1_MAX, None));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX - 1, b'x');
        assert_eq!(parse(&long), Ok(ProxyHeader::Incomplete));
        long.push(b'x');
        assert_eq!(parse(&long), Err(Malformed));
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse(&long), Err(Malformed));
    }

    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(ver_cmd);
        h.push(fam);
        h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn inet_body() -> Vec<u8> {
        vec![10, 1, 2, 3, 192, 0, 2, 1, 0x30, 0x39, 0x01, 0xBB]
    }

    fn inet6_body() -> Vec<u8> {
        let mut b = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7).octets().to_vec();
        b.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        b.extend_from_slice(&[0x00, 0x50, 0x01, 0xBB]);
        b
    }

    #[test]
    fn v2_table() {
        let mut inet_tlv = inet_body();
        inet_tlv.extend_from_slice(&[0x04, 0x00, 0x01, 0xAA]); // a NOOP TLV, skipped
        let cases: Vec<(Vec<u8>, Result<ProxyHeader, Malformed>)> = vec![
            (v2(0x21, 0x11, &inet_body()), done(28, Some("10.1.2.3:12345"))),
            (v2(0x21, 0x11, &inet_tlv), done(32, Some("10.1.2.3:12345"))),
            (v2(0x21, 0x21, &inet6_body()), done(52, Some("[2001:db8::7]:80"))),
            // Datagram, UNIX and UNSPEC carry no client address for us.
            (v2(0x21, 0x12, &inet_body()), done(28, None)),
            (v2(0x21, 0x22, &inet6_body()), done(52, None)),
            (v2(0x21, 0x31, &[0; UNIX_LEN]), done(16 + UNIX_LEN, None)),
            (v2(0x21, 0x00, &[]), done(16, None)),
            (v2(0x21, 0x00, &[1, 2, 3]), done(19, None)),
            // LOCAL: addresses ignored, whatever the family byte says.
            (v2(0x20, 0x00, &[]), done(16, None)),
            (v2(0x20, 0x11, &inet_body()), done(28, None)),
            (v2(0x20, 0x11, &[]), done(16, None)),
            (v2(0x20, 0xFF, &[]), done(16, None)),
            // Rejections.
            (v2(0x11, 0x11, &inet_body()), BAD),
            (v2(0x22, 0x11, &inet_body()), BAD),
            (v2(0x2F, 0x11, &inet_body()), BAD),
            (v2(0x21, 0x13, &inet_body()), BAD),
            (v2(0x21, 0x41, &inet_body()), BAD),
            (v2(0x21, 0x01, &inet_body()), BAD),
            (v2(0x21, 0x11, &inet_body()[..11]), BAD),
            (v2(0x21, 0x21, &inet_body()), BAD),
            (v2(0x21, 0x31, &[0; 100]), BAD),
            (b"\r\n\r\n\0\r\nQUIX".to_vec(), BAD),
            (b"\r\n\r\n\r\n".to_vec(), BAD),
        ];
        for (input, want) in &cases {
            assert_eq!(&parse(input), want, "{input:02x?}");
        }
    }

    #[test]
    fn v2_every_prefix_is_incomplete() {
        for full in [v2(0x21, 0x11, &inet_body()), v2(0x21, 0x21, &inet6_body()), v2(0x20, 0x00, &[9; 20])] {
            for n in 0..full.len() {
                assert_eq!(parse(&full[..n]), Ok(ProxyHeader::Incomplete), "{n}");
            }
            assert!(matches!(parse(&full), Ok(ProxyHeader::Done { .. })));
        }
    }

    #[test]
    fn v2_length_limit() {
        let mut body = inet_body();
        body.resize(MAX_HEADER - V2_FIXED, 0);
        let ok = v2(0x21, 0x11, &body);
        assert_eq!(parse(&ok), done(MAX_HEADER, Some("10.1.2.3:12345")));
        body.push(0);
        let too_long = v2(0x21, 0x11, &body);
        // Refused from the fixed part alone, without waiting for the body.
        assert_eq!(parse(&too_long[..V2_FIXED]), Err(Malformed));
    }

    #[test]
    fn v1_every_prefix_is_incomplete() {
        let full: &[u8] = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 1\r\n";
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n]), Ok(ProxyHeader::Incomplete), "{n}");
        }
    }
}
