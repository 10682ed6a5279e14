#!/usr/bin/env python3
"""Bytes on the wire for a whole site loaded as a browser would, against identity: one row per file.

Why it exists: issue 14 asks what compression saves on a real site, not on one bundle. Every file under ROOT
is requested once with a browser's Accept-Encoding and once without one (identity), from each server given,
and the bytes that came back (status line, headers and body, as received on the socket) are counted.

staticd compresses a file in the background after its first request and answers with the identity until the
compressed forms are in its cache, so a server marked `:poll` is first asked for each file that it should
compress (a compressible type, at least MIN_SIZE bytes; the same rule as staticd's defaults) until the answer
carries Content-Encoding, for at most WAIT seconds in all. A file still answered with the identity after that
is reported as such, and named on stderr.

Usage: browser_bytes.py ROOT 'ACCEPT-ENCODING' WAIT NAME=PORT[:poll] ...
Prints a Markdown table on stdout and a TSV of the same numbers to the file in $BYTES_TSV, if set.
"""

import os
import socket
import sys
import time

MIN_SIZE = 1024  # staticd's compress::MIN_SIZE: smaller files are never compressed
# Extensions whose type is in staticd's default --compress-types list (text/*, scripts, data, SVG, ...).
COMPRESSIBLE = {
    ".html", ".htm", ".css", ".js", ".mjs", ".json", ".map", ".txt", ".xml", ".svg", ".md", ".csv",
    ".webmanifest", ".wasm", ".ttf", ".otf", ".eot", ".ico", ".toml", ".yaml", ".yml", ".rss", ".atom",
}


def site_files(root):
    """Every regular file under root, as URL paths, sorted (dotfiles are left out, as staticd hides them)."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            if os.path.isfile(full):
                paths.append("/" + os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(paths)


def get(port, path, accept_encoding):
    """One GET on a new connection; returns (status, content_encoding, wire_bytes, body_bytes, header_bytes)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "User-Agent: browser_bytes", "Accept: */*"]
    if accept_encoding:
        lines.append(f"Accept-Encoding: {accept_encoding}")
    lines.append("Connection: close")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError(f"GET {path}: no complete response head")
    head = raw[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    encoding = "identity"
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-encoding":
            encoding = value.strip().lower()
    return status, encoding, len(raw), len(raw) - end - 4, end + 4


def should_compress(root, path):
    ext = os.path.splitext(path)[1].lower()
    return ext in COMPRESSIBLE and os.path.getsize(root + path) >= MIN_SIZE


def poll(root, port, paths, accept_encoding, wait):
    """Asks for every file that should be compressed until it comes back encoded or `wait` seconds pass."""
    pending = [p for p in paths if should_compress(root, p)]
    start = time.monotonic()
    while pending and time.monotonic() - start < wait:
        pending = [p for p in pending if get(port, p, accept_encoding)[1] == "identity"]
        if pending:
            time.sleep(0.05)
    for p in pending:
        print(f"browser_bytes: port {port}: {p} still identity after {wait} s", file=sys.stderr)
    return time.monotonic() - start


def pct(saved, total):
    return f"{100 * saved / total:.0f}%" if total else "-"


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    root, accept_encoding, wait = sys.argv[1].rstrip("/"), sys.argv[2], float(sys.argv[3])
    servers = []
    for arg in sys.argv[4:]:
        name, _, rest = arg.partition("=")
        port, _, flag = rest.partition(":")
        servers.append((name, int(port), flag == "poll"))
    paths = site_files(root)
    for name, port, wants_poll in servers:
        if wants_poll:
            took = poll(root, port, paths, accept_encoding, wait)
            print(f"browser_bytes: {name}: compressed forms ready after {took:.2f} s of polling", file=sys.stderr)

    rows, tsv = [], []
    ident_total = {name: 0 for name, _, _ in servers}
    enc_total = {name: 0 for name, _, _ in servers}
    for path in paths:
        size = os.path.getsize(root + path)
        row = [f"`{path}`", f"{size:,}"]
        for name, port, _ in servers:
            s1, e1, ident, _, _ = get(port, path, "")
            s2, e2, wire, body, _ = get(port, path, accept_encoding)
            if s1 != 200 or s2 != 200 or e1 != "identity":
                raise ValueError(f"{name} {path}: identity {s1} {e1}, browser {s2} {e2}")
            ident_total[name] += ident
            enc_total[name] += wire
            row += [f"{ident:,}", f"{wire:,} ({e2}, body {body:,})", pct(ident - wire, ident)]
            tsv.append(f"{name}\t{path}\t{size}\t{ident}\t{wire}\t{body}\t{e2}")
        rows.append(row)
    total = ["**total**", f"{sum(os.path.getsize(root + p) for p in paths):,}"]
    for name, _, _ in servers:
        i, e = ident_total[name], enc_total[name]
        total += [f"**{i:,}**", f"**{e:,}**", f"**{pct(i - e, i)}**"]
        tsv.append(f"{name}\tTOTAL\t-\t{i}\t{e}\t-\t-")
    rows.append(total)

    header = ["file", "file bytes"]
    for name, _, _ in servers:
        header += [f"{name} identity (wire bytes)", f"{name} browser AE (wire bytes)", f"{name} saved"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if os.environ.get("BYTES_TSV"):
        with open(os.environ["BYTES_TSV"], "w", encoding="utf-8") as f:
            f.write("\n".join(tsv) + "\n")


if __name__ == "__main__":
    main()
