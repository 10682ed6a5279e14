"""Running one case on the wire: a fresh TCP connection, the case's raw writes, and reading what comes back
until EOF, reset, or an idle timeout; plus splitting the received bytes into responses.

Timing: everything that decides an outcome by waiting is generous and identical for both binaries.
"""

import os
import re
import socket
import time

IDLE = 2.5  # seconds without a byte after which a connection is reported "still open"
CASE_CAP = 25.0  # hard cap on one case (a trickling response), so a hung case cannot stall the run
CONNECT_TIMEOUT = 10.0


def request_methods(data):
    """The methods of the request lines in DATA, in order (to know which responses have no body)."""
    return [m.decode("latin-1") for m in re.findall(rb"(?:^|\n)\s*([!-~]+) [^\r\n ]* HTTP/", data)]


def split_responses(buf, methods):
    """Splits received bytes into [(head, body, complete)] and a tail that does not parse as a response."""
    out = []
    i = 0
    final = 0
    while i < len(buf):
        if not re.match(rb"HTTP/\d\.\d \d{3}", buf[i : i + 12]):
            return out, buf[i:]
        end = buf.find(b"\r\n\r\n", i)
        if end < 0:
            return out, buf[i:]
        head = buf[i : end + 4]
        status = int(head[9:12])
        m = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head, re.I)
        if 100 <= status < 200:
            length = 0
        else:
            is_head = final < len(methods) and methods[final].upper() == "HEAD"
            final += 1
            if is_head or status in (204, 304):
                length = 0
            elif m:
                length = int(m.group(1))
            else:
                length = None
        body = buf[end + 4 :] if length is None else buf[end + 4 : end + 4 + length]
        complete = length is not None and len(body) == length
        out.append((head, body, complete, status))
        i = end + 4 + len(body)
    return out, b""


def final_complete(buf, methods):
    resps, _ = split_responses(buf, methods)
    return sum(1 for h, b, c, s in resps if c and not 100 <= s < 200)


def run_case(port, c, ctx, prefix, idle):
    """Runs one case on a fresh connection. Returns (received bytes, notes, end, methods)."""
    notes = []
    buf = bytearray()
    sent = bytearray()
    end = None
    started = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
    except OSError as e:
        return b"", ["connect failed: %s" % e], "NO CONNECTION", []
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read_once(timeout):
        """One recv. Returns 'data', 'eof', 'rst' or 'idle'."""
        s.settimeout(max(0.05, timeout))
        try:
            d = s.recv(262144)
        except socket.timeout:
            return "idle"
        except ConnectionResetError:
            return "rst"
        except OSError as e:
            notes.append("recv error: %s" % os.strerror(e.errno or 0))
            return "rst"
        if not d:
            return "eof"
        buf.extend(d)
        return "data"

    def read_until(pred):
        nonlocal end
        while not pred():
            if time.monotonic() - started > CASE_CAP:
                notes.append("case cap reached while waiting")
                return
            r = read_once(idle)
            if r == "idle":
                notes.append("waited %ss without the expected answer" % idle)
                return
            if r in ("eof", "rst"):
                end = r
                return

    first = True
    methods = c.methods
    try:
        for step in c.steps:
            if end is not None:
                break
            if isinstance(step, tuple):
                if step[0] == "sleep":
                    time.sleep(step[1])
                elif step[0] == "shut":
                    s.shutdown(socket.SHUT_WR)
                elif step[0] == "wait":
                    ms = methods if methods is not None else request_methods(bytes(sent))
                    read_until(lambda: final_complete(bytes(buf), ms) >= step[1])
                elif step[0] == "head":
                    read_until(lambda: b"\r\n\r\n" in buf)
                continue
            data = step(ctx) if callable(step) else step
            sent += data
            if first and prefix and not c.raw:
                data = prefix + data
            first = False
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError) as e:
                notes.append("send failed: %s" % type(e).__name__)
                break
        while end is None:
            if time.monotonic() - started > CASE_CAP:
                end = "case cap %ss reached" % CASE_CAP
                break
            r = read_once(idle)
            if r == "idle":
                end = "open"
            elif r != "data":
                end = r
    finally:
        s.close()
    if methods is None:
        methods = request_methods(bytes(sent))
    label = {"eof": "EOF (server closed)", "rst": "RST (connection reset)",
             "open": "still open after %ss idle" % idle}.get(end, end)
    return bytes(buf), notes, label, methods
