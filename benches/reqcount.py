#!/usr/bin/env python3
"""Send exactly N GET requests over C keep-alive connections, one in flight per connection.

Why it exists: wrk cannot stop after an exact request count, and counting syscalls per request under
`strace -c` needs a known denominator. The load shape mirrors wrk's (every connection always has one
request outstanding), so a server's event loop batches about as it does under wrk.

Usage: reqcount.py HOST PORT PATH TOTAL CONNS
Prints the number of responses received; exits non-zero if any response is not 200 or a connection drops.
"""

import selectors
import socket
import sys


def parse_head(buf):
    """Return (status, body_length, head_length) of the response at the start of buf, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ValueError("response without Content-Length")
    return status, length, end + 4


class Conn:
    """One keep-alive connection with its unparsed input."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.need = None  # total bytes of the response being read, once its head is parsed


def run(host, port, path, total, nconns):
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    sent = received = 0
    conns = []
    for _ in range(min(nconns, total)):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Conn(sock)
        conns.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)
        sock.sendall(request)
        sent += 1
    while received < total:
        ready = sel.select(timeout=30)
        if not ready:
            raise TimeoutError(f"no response for 30 s after {received} of {total}")
        for key, _ in ready:
            conn = key.data
            data = conn.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed a keep-alive connection")
            conn.buf += data
            while True:
                if conn.need is None:
                    head = parse_head(conn.buf)
                    if head is None:
                        break
                    status, length, head_len = head
                    if status != 200:
                        raise ValueError(f"status {status}")
                    conn.need = head_len + length
                if len(conn.buf) < conn.need:
                    break
                conn.buf = conn.buf[conn.need :]
                conn.need = None
                received += 1
                if sent < total:
                    conn.sock.sendall(request)
                    sent += 1
    for conn in conns:
        conn.sock.close()
    return received


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    total, nconns = int(sys.argv[4]), int(sys.argv[5])
    print(run(host, port, path, total, nconns))


if __name__ == "__main__":
    main()
