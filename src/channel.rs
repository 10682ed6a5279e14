//! The master → worker channel protocol, carried over a SOCK_SEQPACKET socketpair.
//!
//! Every message is one packet, so a batch is never split or merged. Two kinds:
//! - `C`: a batch of accepted connections; the descriptors ride as SCM_RIGHTS and the payload carries each
//!   one's peer address (learned by the master's accept4 for free), 19 bytes apiece, in the same order.
//! - `L`: a freshly opened access-log file (after USR1), one descriptor, no more payload.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const KIND_CONNECTIONS: u8 = b'C';
pub const KIND_LOG: u8 = b'L';
const ADDR_BYTES: usize = 19;
/// Largest payload: the kind byte and one address per descriptor of a full batch.
pub const MAX_PAYLOAD: usize = 1 + crate::sys::MAX_FDS_PER_MSG * ADDR_BYTES;

/// Appends the encoding of one peer address (family, 16 address bytes, port).
pub fn encode_addr(out: &mut Vec<u8>, addr: Option<SocketAddr>) {
    let (family, ip, port) = match addr {
        Some(SocketAddr::V4(a)) => (4u8, a.ip().to_ipv6_mapped().octets(), a.port()),
        Some(SocketAddr::V6(a)) => (6u8, a.ip().octets(), a.port()),
        None => (0u8, [0; 16], 0),
    };
    out.push(family);
    out.extend_from_slice(&ip);
    out.extend_from_slice(&port.to_be_bytes());
}

/// How many connections a `C` payload of `len` bytes describes (also when their descriptors were lost).
pub fn connection_count(len: usize) -> usize {
    len.saturating_sub(1) / ADDR_BYTES
}

/// Decodes the address of connection `index` in a `C` payload; None for Unix-socket peers or a short payload.
pub fn decode_addr(payload: &[u8], index: usize) -> Option<SocketAddr> {
    let at = 1 + index * ADDR_BYTES;
    let rec = payload.get(at..at + ADDR_BYTES)?;
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&rec[1..17]);
    let port = u16::from_be_bytes([rec[17], rec[18]]);
    let ip = match rec[0] {
        4 => IpAddr::V4(Ipv6Addr::from(ip).to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
        6 => IpAddr::V6(Ipv6Addr::from(ip)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        let addrs: Vec<Option<SocketAddr>> = vec![
            Some("127.0.0.1:80".parse().unwrap()),
            None,
            Some("[::1]:65535".parse().unwrap()),
            Some("[::ffff:10.0.0.1]:1".parse().unwrap()),
            Some("0.0.0.0:0".parse().unwrap()),
        ];
        let mut payload = vec![KIND_CONNECTIONS];
        for a in &addrs {
            encode_addr(&mut payload, *a);
        }
        for (i, a) in addrs.iter().enumerate() {
            assert_eq!(decode_addr(&payload, i), *a, "{i}");
        }
        assert_eq!(decode_addr(&payload, addrs.len()), None);
        assert!(payload.len() <= MAX_PAYLOAD);
    }
}
