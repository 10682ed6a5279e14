"""What a case is, and the helpers the area files (cases_*.py) use to write one.

A case is a name and a list of steps (bytes to write, pauses, half-closes, waits); R() builds one raw request.
case() appends to CASES, which cases.build_cases() fills in a fixed order, so case names and their order are
the same on every run.
"""

HOST = "bb.test"
PROXY_PREFIX = b"PROXY TCP4 192.0.2.10 198.51.100.20 40000 80\r\n"


def B(x):
    return x if isinstance(x, bytes) else x.encode("utf-8")


def R(target="/", *headers, m="GET", v="HTTP/1.1", host=HOST, body=b"", eol=b"\r\n"):
    """One request: request line, Host (unless host=None), the given header lines, blank line, body."""
    lines = [B(m) + b" " + B(target) + (b" " + B(v) if v is not None else b"")]
    if host is not None:
        lines.append(b"Host: " + B(host))
    lines += [B(h) for h in headers]
    return eol.join(lines) + eol + eol + B(body)


class Ctx:
    """What a case may use from the server it runs against: validators learnt by prefetching."""

    def __init__(self):
        self.validators = {}

    def etag(self, path, enc=""):
        return self.validators.get((path, enc), {}).get("etag", '"no-etag"')

    def lm(self, path):
        return self.validators.get((path, ""), {}).get("last-modified", "Thu, 01 Jan 1970 00:00:00 GMT")


class Case:
    """A named list of steps.

    Steps: bytes, or a callable(ctx) giving bytes: written. ("sleep", s). ("shut",): shutdown(SHUT_WR).
    ("wait", n): read until n final responses are complete (or the idle timeout). ("head",): read until one
    response head has arrived. After the last step the connection is read until EOF, reset or IDLE seconds
    of silence. raw=True: under --proxy-protocol no PROXY header is prepended (the case brings its own).
    """

    def __init__(self, name, *steps, methods=None, raw=False):
        self.name = name
        self.steps = [s for s in steps]
        self.methods = methods
        self.raw = raw


CASES = []


def case(name, *steps, **kw):
    CASES.append(Case(name, *steps, **kw))


def short(text, n=70):
    """A case-name fragment: TEXT, or its start plus its length when it is long."""
    return text if len(text) <= n else "%s...(%d chars)" % (text[: n - 16], len(text))


def pieces(data, n):
    """Splits DATA into n nearly equal writes with a short pause between them."""
    size = max(1, -(-len(data) // n))
    out = []
    for i in range(0, len(data), size):
        if out:
            out.append(("sleep", 0.03))
        out.append(data[i : i + size])
    return out


def url(rel):
    """Percent-encodes a fixture name the way a browser would."""
    safe = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/!$&'()*+,;=:@")
    return "/" + "".join(chr(c) if c in safe else "%%%02X" % c for c in rel.encode("utf-8"))
