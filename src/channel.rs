//! The master ⇄ worker channel protocol, carried over a SOCK_SEQPACKET socketpair.
//!
//! Every message is one packet, so a batch is never split or merged. Master to worker:
//! - `C`: a batch of connections; the descriptors ride as SCM_RIGHTS and the payload carries one record per
//!   descriptor, in the same order: the peer address (from accept4, or the PROXY header once it was read) and,
//!   for a connection handed over by a retiring worker, where it stood (idle since, requests served).
//! - `L`: a freshly opened access-log file (after USR1), one descriptor, no more payload.
//! - `R`: retire (a reload): hand idle keep-alive connections back, finish the others, exit within the drain
//!   limit the payload gives in milliseconds.
//!
//! Worker to master:
//! - `H`: connections handed back by a retiring worker, in the same record format as `C`, for the master to
//!   pass on to the new generation.
//! - `F`: a connection closed while the master was waiting for room (it stops accepting when every worker is
//!   at --max-conns, and arms `room_wanted` in the workers' shared slots): it may accept again now.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub const KIND_CONNECTIONS: u8 = b'C';
pub const KIND_LOG: u8 = b'L';
pub const KIND_RETIRE: u8 = b'R';
pub const KIND_HANDED_BACK: u8 = b'H';
pub const KIND_ROOM: u8 = b'F';
/// family, 16 address bytes, port, state, idle milliseconds (u32), requests served (u32).
const RECORD_BYTES: usize = 1 + 16 + 2 + 1 + 4 + 4;
/// Largest payload: the kind byte and one record per descriptor of a full batch.
pub const MAX_PAYLOAD: usize = 1 + crate::sys::MAX_FDS_PER_MSG * RECORD_BYTES;

/// Where a connection stands when it is passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing has been read from it yet: treat it as just accepted (a PROXY header may still be coming).
    Fresh,
    /// Between keep-alive requests, with nothing buffered anywhere but the kernel: `idle` since the last byte
    /// moved, `served` requests answered so far.
    Idle { idle: Duration, served: u64 },
}

/// One connection's description, riding beside its descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRecord {
    /// The client: from accept, or the address a PROXY header named. None for a Unix-socket peer.
    pub peer: Option<SocketAddr>,
    pub stage: Stage,
}

impl ConnRecord {
    /// A connection straight from accept4.
    pub fn accepted(peer: Option<SocketAddr>) -> ConnRecord {
        ConnRecord { peer, stage: Stage::Fresh }
    }
}

/// Appends the encoding of one record.
pub fn encode_record(out: &mut Vec<u8>, record: &ConnRecord) {
    let (family, ip, port) = match record.peer {
        Some(SocketAddr::V4(a)) => (4u8, a.ip().to_ipv6_mapped().octets(), a.port()),
        Some(SocketAddr::V6(a)) => (6u8, a.ip().octets(), a.port()),
        None => (0u8, [0; 16], 0),
    };
    out.push(family);
    out.extend_from_slice(&ip);
    out.extend_from_slice(&port.to_be_bytes());
    let (stage, idle_ms, served) = match record.stage {
        Stage::Fresh => (0u8, 0u32, 0u32),
        Stage::Idle { idle, served } => {
            (1, u32::try_from(idle.as_millis()).unwrap_or(u32::MAX), u32::try_from(served).unwrap_or(u32::MAX))
        }
    };
    out.push(stage);
    out.extend_from_slice(&idle_ms.to_be_bytes());
    out.extend_from_slice(&served.to_be_bytes());
}

/// One `C` or `H` message for `conns` (at most `sys::MAX_FDS_PER_MSG`): the payload, and the descriptors to
/// attach in the same order. The master's batches and a retiring worker's hand-backs are built the same way.
pub fn connections_message<'a>(
    kind: u8,
    conns: impl ExactSizeIterator<Item = &'a (OwnedFd, ConnRecord)>,
) -> (Vec<u8>, Vec<RawFd>) {
    let mut payload = Vec::with_capacity(1 + conns.len() * RECORD_BYTES);
    payload.push(kind);
    let mut fds = Vec::with_capacity(conns.len());
    for (fd, record) in conns {
        fds.push(fd.as_raw_fd());
        encode_record(&mut payload, record);
    }
    (payload, fds)
}

/// How many connections a `C` or `H` payload of `len` bytes describes (also when their descriptors were lost).
pub fn record_count(len: usize) -> usize {
    len.saturating_sub(1) / RECORD_BYTES
}

/// Decodes record `index` of a `C` or `H` payload; a short payload gives a fresh connection with no address.
pub fn decode_record(payload: &[u8], index: usize) -> ConnRecord {
    let at = 1 + index * RECORD_BYTES;
    let Some(rec) = payload.get(at..at + RECORD_BYTES) else {
        return ConnRecord::accepted(None);
    };
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&rec[1..17]);
    let port = u16::from_be_bytes([rec[17], rec[18]]);
    let ip = match rec[0] {
        4 => Some(IpAddr::V4(Ipv6Addr::from(ip).to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(ip))),
        _ => None,
    };
    let u32_at = |i: usize| u32::from_be_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
    let stage = match rec[19] {
        1 => Stage::Idle { idle: Duration::from_millis(u64::from(u32_at(20))), served: u64::from(u32_at(24)) },
        _ => Stage::Fresh,
    };
    ConnRecord { peer: ip.map(|ip| SocketAddr::new(ip, port)), stage }
}

/// The `R` message: retire, closing whatever is left after `drain_limit`.
pub fn retire_message(drain_limit: Duration) -> [u8; 9] {
    let mut msg = [0u8; 9];
    msg[0] = KIND_RETIRE;
    msg[1..].copy_from_slice(&u64::try_from(drain_limit.as_millis()).unwrap_or(u64::MAX).to_be_bytes());
    msg
}

/// The drain limit of an `R` message (a short one means: no limit beyond the default given).
pub fn decode_retire(payload: &[u8], default: Duration) -> Duration {
    match payload.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        Some(bytes) => Duration::from_millis(u64::from_be_bytes(bytes)),
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let idle = Stage::Idle { idle: Duration::from_millis(1234), served: 7 };
        let records = vec![
            ConnRecord::accepted(Some("127.0.0.1:80".parse().unwrap())),
            ConnRecord { peer: None, stage: idle },
            ConnRecord { peer: Some("[::1]:65535".parse().unwrap()), stage: idle },
            ConnRecord::accepted(Some("[::ffff:10.0.0.1]:1".parse().unwrap())),
            ConnRecord::accepted(Some("0.0.0.0:0".parse().unwrap())),
        ];
        let mut payload = vec![KIND_CONNECTIONS];
        for r in &records {
            encode_record(&mut payload, r);
        }
        assert_eq!(record_count(payload.len()), records.len());
        for (i, r) in records.iter().enumerate() {
            assert_eq!(decode_record(&payload, i), *r, "{i}");
        }
        assert_eq!(decode_record(&payload, records.len()), ConnRecord::accepted(None));
        assert!(payload.len() <= MAX_PAYLOAD);
    }

    #[test]
    fn huge_values_saturate() {
        let stage = Stage::Idle { idle: Duration::from_secs(1 << 40), served: u64::MAX };
        let mut payload = vec![KIND_HANDED_BACK];
        encode_record(&mut payload, &ConnRecord { peer: None, stage });
        let want = Stage::Idle { idle: Duration::from_millis(u64::from(u32::MAX)), served: u64::from(u32::MAX) };
        assert_eq!(decode_record(&payload, 0).stage, want);
    }

    #[test]
    fn retire_carries_its_limit() {
        let msg = retire_message(Duration::from_millis(30_500));
        assert_eq!(msg[0], KIND_RETIRE);
        assert_eq!(decode_retire(&msg, Duration::ZERO), Duration::from_millis(30_500));
        assert_eq!(decode_retire(&msg[..1], Duration::from_secs(3)), Duration::from_secs(3));
    }
}
