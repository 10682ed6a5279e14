//! The client side of the tests: raw HTTP/1.1 over `TcpStream`, byte for byte what the test wrote, so a test
//! can send anything an attacker or an old client would, and judge every byte and the close that follow.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::time::Duration;

use super::response::{find, read_response, Response};
use super::site::SECRET;

/// Socket read and write timeouts: generous, because the tests share two cores.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A client connection with the usual timeouts, or the reason there is none.
pub fn try_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("timeout: {e}"))?;
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| format!("timeout: {e}"))?;
    Ok(s)
}

/// A client connection with the usual timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    try_connect(addr).unwrap_or_else(|e| panic!("{e}"))
}

/// Printable form of raw request bytes for failure messages (long runs are elided).
pub fn show(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if s.len() > 300 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…[{} bytes]", &s[..cut], raw.len())
    } else {
        s.into_owned()
    }
}

/// How a connection ended after the caller stopped expecting responses.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Orderly FIN: read returned 0 (carries any stray bytes that came first).
    Eof(Vec<u8>),
    /// The peer reset the connection.
    Reset(Vec<u8>),
    /// Still open when the read timeout expired.
    Open(Vec<u8>),
    Other(String),
}

/// Reads until EOF, reset or timeout, starting with whatever is already buffered.
pub fn read_ending(stream: &mut impl Read, buffered: Vec<u8>) -> Ending {
    let mut got = buffered;
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ending::Eof(got),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
                return Ending::Open(got)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ending::Reset(got),
            Err(e) => return Ending::Other(e.to_string()),
        }
    }
}

/// Expects the server to close cleanly (FIN, no reset, no timeout) with nothing after what was already read.
pub fn expect_clean_close(stream: &mut impl Read, buffered: Vec<u8>, what: &str) {
    match read_ending(stream, buffered) {
        Ending::Eof(rest) => assert!(rest.is_empty(), "{what}: {} stray bytes: {}", rest.len(), show(&rest)),
        other => panic!("{what}: expected the server to close cleanly, got {other:?}"),
    }
}

/// Sends `raw` (which must end the connection, e.g. with `Connection: close`) and returns the one response;
/// fails if anything follows it (a HEAD or 304 with a body, a wrong Content-Length, a smuggled response) or
/// if any byte of the secret planted beside every test root shows up.
pub fn request(addr: SocketAddr, raw: &[u8]) -> Response {
    request_counted(addr, raw).0
}

/// `request`, also returning how many bytes the server sent in all (head and body): what the access log
/// and the byte counters must report.
pub fn request_counted(addr: SocketAddr, raw: &[u8]) -> (Response, usize) {
    let mut stream = connect(addr);
    stream.write_all(raw).unwrap_or_else(|e| panic!("write {:?}: {e}", show(raw)));
    let mut bytes = match read_ending(&mut stream, Vec::new()) {
        Ending::Eof(bytes) => bytes,
        other => panic!("{:?}: expected the response and a clean close, got {other:?}", show(raw)),
    };
    let sent = bytes.len();
    assert!(
        find(&bytes, SECRET).is_none(),
        "{:?}: the response contains the secret planted outside the root",
        show(raw)
    );
    let resp = read_response(&mut io::empty(), &mut bytes, raw.starts_with(b"HEAD "))
        .unwrap_or_else(|e| panic!("no response to {:?}: {e}", show(raw)));
    assert!(
        bytes.is_empty(),
        "{:?}: {} bytes after the {} response (body longer than Content-Length, or a body on HEAD/304)",
        show(raw),
        bytes.len(),
        resp.status
    );
    (resp, sent)
}

/// One request with `Connection: close` (and `headers`), checked as `request` does.
pub fn fetch(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    request(addr, raw.as_bytes())
}

pub fn get(addr: SocketAddr, target: &str) -> Response {
    fetch(addr, "GET", target, &[])
}

pub fn head(addr: SocketAddr, target: &str) -> Response {
    fetch(addr, "HEAD", target, &[])
}

/// GET over the Unix socket; returns the parsed response.
pub fn unix_get(sock: &Path, path: &str) -> Response {
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).expect("write");
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, false).unwrap_or_else(|e| panic!("response over {}: {e}", sock.display()))
}

/// Receives one notification datagram (or None after the timeout).
pub fn recv_notify(sock: &UnixDatagram, timeout: Duration) -> Option<String> {
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}
