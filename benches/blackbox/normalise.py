"""Turning what a server sent into a comparable text transcript.

Only what legitimately differs between two runs is normalised: the Date value, the random multipart
boundary, the port, and the numbers on the metrics page (its shape is kept). Access-log lines are compared as
sorted multisets with times and durations removed, because the cases run concurrently.
"""

import hashlib
import re

from .wire import split_responses


def esc(b):
    out = []
    for ch in b:
        if ch == 0x5C:
            out.append("\\\\")
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        elif ch == 0x0D:
            out.append("\\r")
        elif ch == 0x0A:
            out.append("\\n")
        elif ch == 0x09:
            out.append("\\t")
        else:
            out.append("\\x%02x" % ch)
    return "".join(out)


def render_body(body):
    if not body:
        return []
    printable = all(32 <= ch < 127 or ch in (9, 10, 13) for ch in body)
    if printable and len(body) <= 4096:
        lines = body.split(b"\n")
        return ["  | " + esc(l) + ("\\n" if i < len(lines) - 1 else "") for i, l in enumerate(lines)
                if i < len(lines) - 1 or l]
    return ["  <body %d bytes, sha256 %s, starts %s>" % (len(body), hashlib.sha256(body).hexdigest()[:32],
                                                         esc(body[:48]))]


def normalise_response(head, body, port):
    head = re.sub(rb"\r\nDate: [^\r\n]*", b"\r\nDate: <date>", head)
    head = head.replace(b":%d" % port, b":<port>")
    m = re.search(rb"boundary=([0-9A-Za-z'()+_,./:=?-]+)", head)
    if m:
        boundary = m.group(1)
        head = head.replace(boundary, b"<boundary>")
        body = body.replace(boundary, b"<boundary>")
    if re.search(rb"\r\nContent-Type: text/plain; version=0\.0\.4", head):
        # The metrics page: counters and uptime depend on timing and on the other cases; keep its shape.
        head = re.sub(rb"\r\nContent-Length: \d+", b"\r\nContent-Length: <n>", head)
        body = re.sub(rb"(?m)^([a-z_]+(?:\{[^}\n]*\})?) -?[0-9.e+]+$", rb"\1 <n>", body)
    return head, body


def render(raw, notes, end, methods, port):
    lines = []
    resps, tail = split_responses(raw, methods)
    for head, body, complete, status in resps:
        head, body = normalise_response(head, body, port)
        lines += [esc(l) for l in head[:-4].split(b"\r\n")]
        lines.append("")
        if b"multipart/byteranges; boundary=<boundary>" in head and body.startswith(b"\r\n--<boundary>"):
            # One rendering per part, so a diff shows which part differs.
            for part in body.split(b"\r\n--<boundary>")[1:]:
                phead, sep, pbody = part.partition(b"\r\n\r\n")
                lines += ["  part: " + esc(l) for l in phead.split(b"\r\n")]
                if sep:
                    lines += ["  " + l for l in render_body(pbody)]
        else:
            lines += render_body(body)
        if not complete:
            lines.append("  <body incomplete: %d bytes>" % len(body))
    if tail:
        lines.append("<unparsed bytes: %d>" % len(tail))
        lines += ["  ~ " + esc(tail[i : i + 96]) for i in range(0, min(len(tail), 2048), 96)]
        if len(tail) > 2048:
            lines.append("  ~ ... sha256 %s" % hashlib.sha256(tail).hexdigest()[:32])
    lines += ["# " + n for n in notes]
    lines.append("= " + end)
    return "\n".join(lines) + "\n"


def normalise_log(text, port, status_path="/-/metrics"):
    out = []
    for line in text.splitlines():
        line = re.sub(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "[<time>]", line)
        line = re.sub(r'"time":\s*"[^"]*"', '"time":"<time>"', line)
        line = re.sub(r'"duration_us":\s*\d+', '"duration_us":<n>', line)
        line = line.replace(":%d" % port, ":<port>")
        if status_path in line:
            # The metrics page's size depends on its numbers.
            line = re.sub(r'(" 200 )\d+', r"\1<n>", line)
            line = re.sub(r'("status":\s*200,\s*"bytes":\s*)\d+', r"\1<n>", line)
        out.append(line)
    return "\n".join(sorted(out)) + "\n"
