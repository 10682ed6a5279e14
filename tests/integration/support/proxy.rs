//! PROXY protocol headers (v1 text, v2 binary) as a load balancer sends them in front of a connection.

use std::net::{IpAddr, SocketAddr};

pub fn proxy_v1(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Vec<u8> {
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!("PROXY {proto} {src} {dst} {sport} {dport}\r\n").into_bytes()
}

const V2_SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// A v2 PROXY (command 1) header over TCP for `src` → `dst`, with an optional raw TLV section appended.
pub fn proxy_v2(src: SocketAddr, dst: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    let fam = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            0x21
        }
        _ => panic!("mixed address families"),
    };
    block.extend_from_slice(&src.port().to_be_bytes());
    block.extend_from_slice(&dst.port().to_be_bytes());
    block.extend_from_slice(tlvs);
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    out.push(fam);
    out.extend_from_slice(&(block.len() as u16).to_be_bytes());
    out.extend_from_slice(&block);
    out
}

/// A v2 LOCAL header (health check from the proxy itself): the connection's own address is used.
pub fn proxy_v2_local() -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    out
}
