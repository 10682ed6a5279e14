#!/usr/bin/env python3
"""Open N keep-alive connections to a server, complete one request on each, then hold them idle.

Why it exists: the memory a server spends per idle keep-alive connection is only visible while many such
connections are open at once. Each connection serves one full request first, so the server has accepted it,
parsed a request and gone back to waiting: exactly the state of an idle keep-alive connection.

Usage: idle_conns.py HOST PORT PATH N
Prints "READY <n>" once all N are established and answered, then holds them until SIGTERM (or SIGINT),
then prints "ALIVE <n>": how many the server still had open, and exits.
"""

import resource
import signal
import socket
import struct
import sys


def raise_nofile(want):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        # Only root may raise the hard limit; fall back to whatever is allowed.
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def read_response(sock):
    """Read one whole response (head plus Content-Length body) from a blocking socket."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response head")
        buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed inside the response body")
        body += data


def still_open(sock):
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    raise_nofile(count + 1024)
    # Blocked from the start so a stop request that arrives early is waited for, never lost or fatal.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=30)
        sock.sendall(request)
        read_response(sock)
        # Back to plain blocking mode: in timeout mode Python turns the MSG_DONTWAIT probe below into a timeout.
        sock.settimeout(None)
        socks.append(sock)
    print(f"READY {len(socks)}", flush=True)
    signal.sigwait(stop_signals)

    print(f"ALIVE {sum(still_open(s) for s in socks)}", flush=True)
    # Reset rather than FIN: 10,000 client-side TIME_WAIT entries per server would linger for a minute.
    linger = struct.pack("ii", 1, 0)
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.close()


if __name__ == "__main__":
    main()
