"""Black-box battery for issue 10: checks that two staticd binaries answer ~860 raw HTTP cases under 6 option sets identically. Run: python3 benches/blackbox.py BIN_BEFORE BIN_AFTER [--keep DIR]

The restructuring of issue 10 must not change behaviour, so this script treats the server as a black box:
it builds one fixture document root, starts BIN_BEFORE and BIN_AFTER on it (each on its own free loopback
port, one worker), writes the same raw bytes to both over fresh TCP connections, and compares what comes
back: status line, header names, values and order, body bytes, and whether the connection is closed (EOF),
reset, or still open after an idle timeout. Only what legitimately differs between two runs is normalised:
the Date value, the random multipart boundary, the port, and the numbers on the metrics page (its shape is
kept). Access-log lines (option sets "status" and "proxy") are compared as sorted multisets with times and
durations removed, because the cases run concurrently.

    python3 benches/blackbox.py /tmp/staticd-baseline-debug target/debug/staticd
    python3 benches/blackbox.py A B --keep /tmp/bb     # keep fixture, logs and per-case transcripts
    python3 benches/blackbox.py A A --self-test        # perturbs one AFTER answer: must report 1 difference
    python3 benches/blackbox.py A A --after-args='--cache-control x'   # a real behavioural difference

Other options: --sets default,limits (subset of option sets), --cases REGEX (subset of cases), -j N
(concurrent connections), --idle S (read-idle timeout that decides "still open"), -v (print every diff in
full even when long). Exit code: 0 all identical, 1 some differ, 2 setup error (binary missing, server did
not start, fixture could not be built). Python 3.11 standard library only; run as root like production
(the workers chroot into the fixture and run as nobody), or as any user (no chroot then).
"""

import argparse
import concurrent.futures
import difflib
import gzip
import hashlib
import os
import random
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------------------------------------------------
# Timing. Everything that decides an outcome by waiting is generous and identical for both binaries.

IDLE = 2.5  # seconds without a byte after which a connection is reported "still open"
START_TIMEOUT = 15.0  # seconds for a server to print its "serving" line
CASE_CAP = 25.0  # hard cap on one case (a trickling response), so a hung case cannot stall the run
CONNECT_TIMEOUT = 10.0

# Fixed fixture mtime (2023-11-14 22:13:20.123456789 UTC), so Last-Modified and the ETag are stable.
MTIME_NS = 1_700_000_000_123_456_789

HOST = "bb.test"
PROXY_PREFIX = b"PROXY TCP4 192.0.2.10 198.51.100.20 40000 80\r\n"


class SetupError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------
# Fixture


def _rand(seed, n):
    return random.Random(seed).randbytes(n)


def _text(seed, n):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "static", "file", "server", "byte", "range", "cache"]
    out = bytearray()
    while len(out) < n:
        out += (" ".join(rng.choice(words) for _ in range(12)) + "\n").encode()
    return bytes(out[:n])


PAGE_HTML = b"<!doctype html>\n<title>page</title>\n" + _text(3, 3000) + b"\n"

# (path relative to the root, bytes, mode). Directories are created as needed (0755).
FILES = [
    ("index.html", b"<!doctype html>\n<title>root index</title>\n", 0o644),
    ("empty.txt", b"", 0o644),
    ("one.txt", b"x", 0o644),
    ("1k.bin", _rand(1, 1024), 0o644),
    ("20k.js", _text(2, 20 * 1024), 0o644),
    ("300k.dat", _rand(4, 300 * 1024), 0o644),
    ("page.html", PAGE_HTML, 0o644),
    ("page.html.br", b"\x1b\xbb\x0b" + _rand(5, 700), 0o644),  # content is opaque to the server
    ("page.html.gz", gzip.compress(PAGE_HTML, mtime=0), 0o644),
    ("style.css", b"body { color: #333 }\n" * 40, 0o644),
    ("style.css.gz", gzip.compress(b"body { color: #333 }\n" * 40, mtime=0), 0o644),
    ("data.json", b'{"key": "value", "n": [1, 2, 3]}\n', 0o644),
    ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n', 0o644),
    ("mod.mjs", b"export const x = 1;\n", 0o644),
    ("noext", b"no extension\n", 0o644),
    ("UPPER.HTML", b"<p>upper</p>\n", 0o644),
    ("archive.tar.gz", _rand(6, 500), 0o644),
    ("font.woff2", _rand(7, 300), 0o644),
    ("app.wasm", b"\x00asm\x01\x00\x00\x00", 0o644),
    ("site.webmanifest", b'{"name": "bb"}\n', 0o644),
    ("map.js.map", b'{"version": 3}\n', 0o644),
    ("trailing.", b"trailing dot\n", 0o644),
    ("dir/index.html", b"<p>dir index</p>\n", 0o644),
    ("dir/file.txt", b"dir file\n", 0o644),
    ("dir/.env", b"SECRET=1\n", 0o644),
    ("dir/sub/index.html", b"<p>sub index</p>\n", 0o644),
    ("dir/sub/leaf.txt", b"leaf\n", 0o644),
    ("noindex/a.txt", b"a in noindex\n", 0o644),
    ("alt/default.htm", b"<p>alt default.htm</p>\n", 0o644),
    ("alt/index.html", b"<p>alt index.html</p>\n", 0o644),
    ("a/b/c/deep.txt", b"deep\n", 0o644),
    (".hidden", b"hidden file\n", 0o644),
    (".hiddendir/secret.txt", b"secret\n", 0o644),
    (".well-known/security.txt", b"Contact: mailto:bb@example.com\n", 0o644),
    (".well-known/acme-challenge/tok", b"token-value\n", 0o644),
    (".well-known/.dot", b"dot inside well-known\n", 0o644),
    ("with space.txt", b"space\n", 0o644),
    ("100%.txt", b"percent\n", 0o644),
    ("a+b.txt", b"plus\n", 0o644),
    ("q?.txt", b"question\n", 0o644),
    ("hash#.txt", b"hash\n", 0o644),
    ("semi;colon.txt", b"semicolon\n", 0o644),
    ("\u00fcn\u00ef.txt", b"unicode name\n", 0o644),
    ("noperm.txt", b"only root can read this\n", 0o600),
    ("noperm-dir/inner.txt", b"inner\n", 0o644),
    ("locked/index.html", b"<p>unreadable index</p>\n", 0o600),
]

# (link path, target). Relative targets unless the target starts with '/'; "{root}" is replaced.
SYMLINKS = [
    ("link-file", "one.txt"),
    ("link-dir", "dir"),
    ("dir/link-up", "../one.txt"),
    ("link-abs", "{root}/one.txt"),
    ("link-out", "../outside.txt"),
    ("link-outdir", ".."),
    ("link-dangling", "missing.txt"),
    ("link-loop", "link-loop"),
    ("link-hidden", ".hidden"),
]


def build_fixture(work):
    """Creates WORK/root (served) and WORK/outside.txt (a symlink target outside the root)."""
    root = os.path.join(work, "root")
    os.makedirs(root)
    with open(os.path.join(work, "outside.txt"), "wb") as f:
        f.write(b"outside the root\n")
    for rel, data, mode in FILES:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
    for rel, target in SYMLINKS:
        os.symlink(target.replace("{root}", root), os.path.join(root, rel))
    os.mkfifo(os.path.join(root, "fifo"), 0o644)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(os.path.join(root, "sock"))
    finally:
        s.close()
    os.chmod(os.path.join(root, "sock"), 0o666)
    # World-readable tree (the chrooted workers run as nobody), except the deliberate no-permission cases.
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
    os.chmod(os.path.join(root, "noperm-dir"), 0o700)
    os.chmod(work, 0o755)
    # Fixed mtimes, deepest first so setting a file's time does not matter to its directory afterwards.
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        paths += [os.path.join(dirpath, n) for n in filenames + dirnames]
    for p in sorted(paths, key=lambda p: -p.count("/")):
        os.utime(p, ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    os.utime(root, ns=(MTIME_NS, MTIME_NS))
    return root


# ---------------------------------------------------------------------------------------------------------
# Cases


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


def build_cases():
    fixture_paths = [url(rel) for rel, _, _ in FILES] + ["/" + rel for rel, _ in SYMLINKS]
    fixture_paths += ["/fifo", "/sock"]
    dirs = ["/", "/dir/", "/dir/sub/", "/noindex/", "/alt/", "/a/", "/a/b/c/", "/.hiddendir/", "/.well-known/",
            "/noperm-dir/", "/locked/", "/link-dir/", "/link-outdir/"]

    # --- every fixture, GET and HEAD ---
    for p in fixture_paths:
        case("get " + p, R(p))
        case("head " + p, R(p, m="HEAD"))
    # --- directories ---
    for d in dirs:
        case("get dir " + d, R(d))
        if d != "/":
            case("get dir no slash " + d[:-1], R(d[:-1]))
            case("get dir no slash query " + d[:-1], R(d[:-1] + "?a=1&b=%20"))
        case("get dir query " + d, R(d + "?x=y"))
        case("head dir " + d, R(d, m="HEAD"))
    case("get dir empty query", R("/dir?"))
    case("get dir double slash", R("/dir//"))
    case("get dir index explicit", R("/dir/index.html"))
    case("get dir slash slash name", R("//dir"))

    # --- target oddities ---
    targets = [
        "/../one.txt", "/../../etc/passwd", "/dir/../one.txt", "/dir/../../one.txt", "/%2e%2e/one.txt",
        "/%2E%2E/one.txt", "/dir/%2e%2e/one.txt", "/dir/%2e%2e%2fone.txt", "/.%2e/one.txt", "/%2e/one.txt",
        "/./one.txt", "/dir/.", "/dir/..", "/dir/./", "/dir/sub/../file.txt", "/%00", "/one.txt%00",
        "/one.txt%00.html", "//one.txt", "///one.txt", "/dir//file.txt", "/dir///sub//leaf.txt",
        "/\\one.txt", "/dir\\file.txt", "/dir%5cfile.txt", "/dir%2ffile.txt", "/dir%2Ffile.txt",
        "/%6fne.txt", "/one%2etxt", "/one.txt?", "/one.txt?a=b", "/one.txt?../../x", "/one.txt#frag",
        "/one.txt%23frag", "/%zz", "/%4", "/%", "/%c0%ae%c0%ae/one.txt", "/%ff", "/with%20space.txt",
        "/100%25.txt", "/100%.txt", "/a%2Bb.txt", "/a+b.txt", "/q%3F.txt", "/q?.txt", "/hash%23.txt",
        "/semi;colon.txt", "/semi%3Bcolon.txt", "/%C3%BCn%C3%AF.txt", "/%c3%bcn%c3%af.txt", "/ONE.TXT",
        "/one.txt/", "/one.txt/.", "/one.txt/..", "/dir/file.txt/", "/nonexistent", "/nonexistent/",
        "/dir/nonexistent.txt", "/" + "a" * 255, "/" + "a" * 256, "/" + "/".join(["d"] * 200),
        "/link-dir/file.txt", "/link-dir/sub/leaf.txt", "/link-outdir/outside.txt", "/link-outdir/root/one.txt",
        "/dir/link-up", "/page.html.br", "/page.html.gz", "/archive.tar.gz", "/trailing.", "/trailing",
        "/-/metrics", "/-/metrics/", "/-/metrics?x=1", "/-/./metrics", "/-//metrics", "/-/%6detrics",
        "/-/METRICS", "/-/metrics.txt", "/.well-known/security.txt", "/.well-known/acme-challenge/tok",
        "/.well-known/.dot", "/.well-known/../.hidden", "/.well-known/%2e%2e/.hidden", "/%2ehidden",
        "/dir/.env", "/.hiddendir/secret.txt", "/.git/config", "/..hidden", "/...", "/.well-known",
        "*", "one.txt", "", "/one.txt?" + "q" * 1000,
    ]
    for t in targets:
        case("target " + short(repr(t)[1:-1]), R(t))
    case("target raw space", b"GET /with space.txt HTTP/1.1\r\nHost: bb.test\r\n\r\n")
    case("target raw utf-8", R(b"/\xc3\xbcn\xc3\xaf.txt"))
    case("target raw high byte", R(b"/\xff"))
    case("target raw tab", R(b"/a\tb"))
    case("target raw DEL", R(b"/a\x7fb"))
    case("target raw NUL", R(b"/one.txt\x00"))
    case("target raw quote", R('/"x"'))
    case("target raw brackets", R("/<script>"))

    # --- absolute form, authority form, asterisk ---
    for t in ["http://bb.test/one.txt", "http://other.example/one.txt", "HTTP://BB.TEST/one.txt",
              "https://bb.test/one.txt", "http://bb.test", "http://bb.test:80/one.txt",
              "http://user@bb.test/one.txt", "ftp://bb.test/one.txt", "http:///one.txt",
              "http://bb.test/dir", "http://bb.test/../one.txt", "bb.test:80", "//bb.test/one.txt"]:
        case("absolute " + t, R(t))
    case("absolute no host header", R("http://bb.test/one.txt", host=None))
    case("authority CONNECT", R("bb.test:443", m="CONNECT"))
    case("OPTIONS *", R("*", m="OPTIONS"))
    case("OPTIONS * 1.0", R("*", m="OPTIONS", v="HTTP/1.0", host=None))
    case("OPTIONS /one.txt", R("/one.txt", m="OPTIONS"))
    case("OPTIONS /nonexistent", R("/nonexistent", m="OPTIONS"))
    case("OPTIONS with body", R("/one.txt", "Content-Length: 3", m="OPTIONS", body="abc"))
    case("GET *", R("*"))
    case("HEAD *", R("*", m="HEAD"))

    # --- methods ---
    for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "FOO", "get", "Get", "head", "PROPFIND",
              "M-SEARCH", "BREW", "X" * 100, "G@T", "GE T"]:
        case("method %s /one.txt" % short(m, 30), R("/one.txt", m=m))
        case("method %s /" % short(m, 30), R("/", m=m))
    for m in ["POST", "PUT", "PATCH", "DELETE"]:
        case("method %s with body" % m, R("/one.txt", "Content-Length: 5", m=m, body="hello"))
        case("method %s chunked body" % m, R("/one.txt", "Transfer-Encoding: chunked", m=m,
                                              body="5\r\nhello\r\n0\r\n\r\n"))
    case("method POST to nonexistent", R("/nonexistent", "Content-Length: 2", m="POST", body="hi"))
    case("method POST to metrics", R("/-/metrics", "Content-Length: 0", m="POST"))
    case("method TRACE with Max-Forwards", R("/", "Max-Forwards: 0", m="TRACE"))
    case("method PRI preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

    # --- versions ---
    case("HTTP/1.0 no host", R("/one.txt", v="HTTP/1.0", host=None))
    case("HTTP/1.0 with host", R("/one.txt", v="HTTP/1.0"))
    case("HTTP/1.0 keep-alive", R("/one.txt", "Connection: keep-alive", v="HTTP/1.0"))
    case("HTTP/1.0 keep-alive x2", R("/one.txt", "Connection: keep-alive", v="HTTP/1.0") * 2)
    case("HTTP/1.0 keep-alive then plain", R("/one.txt", "Connection: keep-alive", v="HTTP/1.0")
         + R("/one.txt", v="HTTP/1.0"))
    case("HTTP/1.0 keep-alive 404", R("/nonexistent", "Connection: keep-alive", v="HTTP/1.0"))
    case("HTTP/1.0 keep-alive 301", R("/dir", "Connection: keep-alive", v="HTTP/1.0"))
    case("HTTP/1.0 HEAD", R("/page.html", m="HEAD", v="HTTP/1.0"))
    case("HTTP/1.0 POST", R("/one.txt", "Content-Length: 2", m="POST", v="HTTP/1.0", body="hi"))
    case("HTTP/1.0 chunked", R("/one.txt", "Transfer-Encoding: chunked", v="HTTP/1.0", body="0\r\n\r\n"))
    case("HTTP/1.1 Connection close", R("/one.txt", "Connection: close"))
    case("HTTP/1.1 Connection Close caps", R("/one.txt", "Connection: CLOSE"))
    case("HTTP/1.1 Connection keep-alive, close", R("/one.txt", "Connection: keep-alive, close"))
    case("HTTP/1.1 Connection close twice", R("/one.txt", "Connection: close", "Connection: close"))
    case("HTTP/1.1 Connection upgrade", R("/one.txt", "Connection: upgrade", "Upgrade: websocket"))
    case("HTTP/1.1 Connection h2c", R("/", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                                      "HTTP2-Settings: AAMAAABkAAQAAP__"))
    for v in ["HTTP/0.9", "HTTP/2.0", "HTTP/2", "HTTP/1.2", "HTTP/9.9", "HTTP/1.10", "HTTP/01.1", "http/1.1",
              "HTTP/1", "HTTP/1.1 ", "HTTP/ 1.1", "HTTP/1.1x", "HTTX/1.1", "HTTP/3.0"]:
        case("version %r" % v, R("/one.txt", v=v))
    case("version missing", R("/one.txt", v=None, host=None)[:-2])
    case("HTTP/0.9 simple", b"GET /one.txt\r\n")
    case("request line double space", b"GET  /one.txt HTTP/1.1\r\nHost: bb.test\r\n\r\n")
    case("request line tab", b"GET\t/one.txt\tHTTP/1.1\r\nHost: bb.test\r\n\r\n")
    case("request line leading space", b" GET /one.txt HTTP/1.1\r\nHost: bb.test\r\n\r\n")
    case("request line trailing space", b"GET /one.txt HTTP/1.1 \r\nHost: bb.test\r\n\r\n")
    case("leading CRLF", b"\r\n" + R("/one.txt"))
    case("leading CRLF x3", b"\r\n\r\n\r\n" + R("/one.txt"))
    case("leading LF", b"\n" + R("/one.txt"))
    case("only CRLF", b"\r\n")
    case("only CRLFs many", b"\r\n" * 50)
    case("empty request line then close", b"\r\n\r\n", ("shut",))
    case("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + _rand(9, 64))
    case("garbage text", b"hello world\r\n\r\n")

    # --- Host ---
    case("host missing 1.1", R("/one.txt", host=None))
    case("host empty", R("/one.txt", host=""))
    case("host duplicate same", R("/one.txt", "Host: bb.test"))
    case("host duplicate different", R("/one.txt", "Host: other.example"))
    case("host with port", R("/one.txt", host="bb.test:8080"))
    case("host bad port", R("/one.txt", host="bb.test:99999999"))
    case("host ipv6", R("/one.txt", host="[::1]:80"))
    case("host ipv6 unbracketed", R("/one.txt", host="::1"))
    case("host with space", R("/one.txt", host="bb test"))
    case("host with slash", R("/one.txt", host="bb.test/x"))
    case("host userinfo", R("/one.txt", host="user@bb.test"))
    case("host long", R("/one.txt", host="h" * 2000))
    case("host high bytes", R("/one.txt", host=b"\xc3\xbc.test"))
    case("host case", R("/one.txt", "HOST: bb.test", host=None))
    case("host lowercase name", R("/one.txt", "host: bb.test", host=None))

    # --- header syntax ---
    case("obs-fold", R("/one.txt", "X-A: one", " two"))
    case("obs-fold tab", R("/one.txt", "X-A: one", "\ttwo"))
    case("obs-fold first line", b"GET /one.txt HTTP/1.1\r\n Host: bb.test\r\n\r\n")
    case("bare LF everywhere", R("/one.txt", "X-A: 1", eol=b"\n"))
    case("bare LF mixed", b"GET /one.txt HTTP/1.1\r\nHost: bb.test\nX-A: 1\r\n\r\n")
    case("bare CR in header", b"GET /one.txt HTTP/1.1\r\nHost: bb.test\rX-A: 1\r\n\r\n")
    case("bare CR end", b"GET /one.txt HTTP/1.1\r\nHost: bb.test\r\r\n\r\n")
    case("bare CR request line", b"GET /one.txt HTTP/1.1\rHost: bb.test\r\n\r\n")
    case("CR CR LF", b"GET /one.txt HTTP/1.1\r\r\nHost: bb.test\r\n\r\n")
    case("header no colon", R("/one.txt", "NoColonHere"))
    case("header space before colon", R("/one.txt", "X-A : 1"))
    case("header empty name", R("/one.txt", ": value"))
    case("header bad name char", R("/one.txt", "X(A): 1"))
    case("header name with space", R("/one.txt", "X A: 1"))
    case("header NUL in value", R("/one.txt", b"X-A: a\x00b"))
    case("header high bytes value", R("/one.txt", b"X-A: \xff\xfe"))
    case("header DEL in value", R("/one.txt", b"X-A: a\x7fb"))
    case("header empty value", R("/one.txt", "X-A:"))
    case("header value whitespace", R("/one.txt", "X-A:    spaced   "))
    case("header very long value 8k", R("/one.txt", "X-A: " + "v" * 8000))
    case("header 99 fields", R("/one.txt", *["X-%d: %d" % (i, i) for i in range(98)]))
    case("header 100 fields", R("/one.txt", *["X-%d: %d" % (i, i) for i in range(99)]))
    case("header 101 fields", R("/one.txt", *["X-%d: %d" % (i, i) for i in range(100)]))
    case("header 200 fields", R("/one.txt", *["X-%d: %d" % (i, i) for i in range(199)]))
    case("header section 1000 bytes", R("/one.txt", "X-A: " + "a" * (1000 - 50)))
    case("header section 1100 bytes", R("/one.txt", "X-A: " + "a" * 1100))
    case("header section 16000 bytes", R("/one.txt", "X-A: " + "a" * 7900, "X-B: " + "b" * 7900))
    case("header section 17000 bytes 431", R("/one.txt", "X-A: " + "a" * 8500, "X-B: " + "b" * 8500))
    case("header section 40000 bytes", R("/one.txt", *["X-%d: %s" % (i, "z" * 990) for i in range(40)]))
    case("header section huge in pieces", *pieces(R("/one.txt", *["X-%d: %s" % (i, "z" * 990)
                                                                for i in range(30)]), 6))
    case("request line 8000", R("/" + "a" * 7980))
    case("request line 8300 414", R("/" + "a" * 8300))
    case("request line 20000 414", R("/?" + "q" * 20000))
    case("request line no LF 9000", b"GET /" + b"a" * 9000)
    case("request line 414 in pieces", *pieces(R("/" + "b" * 9000), 5))
    case("unterminated head then idle", b"GET /one.txt HTTP/1.1\r\nHost: bb.test\r\n")
    case("unterminated head then shut", b"GET /one.txt HTTP/1.1\r\nHost: bb.test\r\n", ("shut",))
    case("connect and idle")
    case("connect and shut", ("shut",))
    case("request then shut", R("/one.txt"), ("shut",))
    case("request 1k then shut", R("/1k.bin"), ("shut",))
    case("request 300k then shut", R("/300k.dat"), ("shut",))
    case("two requests then shut", R("/one.txt") + R("/empty.txt"), ("shut",))
    case("partial request line then shut", b"GET /one", ("shut",))
    case("byte by byte", *pieces(R("/one.txt"), 40))
    case("in 3 pieces", *pieces(R("/page.html", "Accept-Encoding: gzip"), 3))
    case("split CR LF", b"GET /one.txt HTTP/1.1\r", ("sleep", 0.05), b"\nHost: bb.test\r\n\r", ("sleep", 0.05),
         b"\n")

    # --- bodies ---
    case("GET with CL body", R("/one.txt", "Content-Length: 5", body="hello"))
    case("GET with CL 0", R("/one.txt", "Content-Length: 0"))
    case("GET CL invalid", R("/one.txt", "Content-Length: abc"))
    case("GET CL negative", R("/one.txt", "Content-Length: -1"))
    case("GET CL plus", R("/one.txt", "Content-Length: +5", body="hello"))
    case("GET CL spaces", R("/one.txt", "Content-Length:  5  ", body="hello"))
    case("GET CL hex", R("/one.txt", "Content-Length: 0x5", body="hello"))
    case("GET CL leading zeros", R("/one.txt", "Content-Length: 005", body="hello"))
    case("GET CL duplicate same", R("/one.txt", "Content-Length: 5", "Content-Length: 5", body="hello"))
    case("GET CL duplicate different", R("/one.txt", "Content-Length: 5", "Content-Length: 6", body="hello!"))
    case("GET CL list same", R("/one.txt", "Content-Length: 5, 5", body="hello"))
    case("GET CL list different", R("/one.txt", "Content-Length: 5, 6", body="hello!"))
    case("GET CL empty", R("/one.txt", "Content-Length:"))
    case("GET CL 19 digits", R("/one.txt", "Content-Length: 9999999999999999999"))
    case("GET CL 20 digits", R("/one.txt", "Content-Length: 99999999999999999999"))
    case("GET CL 2M too large", R("/one.txt", "Content-Length: 2000000", body="x" * 1000))
    case("POST CL 50", R("/one.txt", "Content-Length: 50", m="POST", body="p" * 50))
    case("POST CL 100", R("/one.txt", "Content-Length: 100", m="POST", body="p" * 100))
    case("POST CL 150", R("/one.txt", "Content-Length: 150", m="POST", body="p" * 150))
    case("POST CL 150 in pieces", *pieces(R("/one.txt", "Content-Length: 150", m="POST", body="p" * 150), 4))
    case("POST CL body short then shut", R("/one.txt", "Content-Length: 10", m="POST", body="12345"), ("shut",))
    case("POST CL body short then idle", R("/one.txt", "Content-Length: 10", m="POST", body="12345"))
    case("POST CL body longer", R("/one.txt", "Content-Length: 3", m="POST", body="abcdef"))
    case("POST CL 300k", R("/one.txt", "Content-Length: 307200", m="POST", body=_rand(10, 307200)))
    case("POST CL 1M+1", R("/one.txt", "Content-Length: 1048577", m="POST", body="x" * 4096))
    case("POST no length", R("/one.txt", m="POST"))
    case("POST no length 1.0", R("/one.txt", m="POST", v="HTTP/1.0"))
    chunked = [
        ("valid", "5\r\nhello\r\n0\r\n\r\n"),
        ("two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
        ("uppercase hex", "A\r\n0123456789\r\n0\r\n\r\n"),
        ("leading zeros", "0005\r\nhello\r\n0\r\n\r\n"),
        ("extension", "5;name=value\r\nhello\r\n0\r\n\r\n"),
        ("extension quoted", '5;name="va;lue"\r\nhello\r\n0\r\n\r\n'),
        ("extension bws", "5 ;x\r\nhello\r\n0\r\n\r\n"),
        ("trailer", "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"),
        ("trailer bad", "5\r\nhello\r\n0\r\nbad trailer\r\n\r\n"),
        ("only last", "0\r\n\r\n"),
        ("bad size", "zz\r\nhello\r\n0\r\n\r\n"),
        ("negative size", "-5\r\nhello\r\n0\r\n\r\n"),
        ("size 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
        ("size overflow", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ("missing CRLF after data", "5\r\nhelloX0\r\n\r\n"),
        ("LF only", "5\nhello\n0\n\n"),
        ("data too short then shut", "5\r\nhel"),
        ("no last chunk", "5\r\nhello\r\n"),
        ("size space", "5 \r\nhello\r\n0\r\n\r\n"),
        ("150 bytes", "96\r\n" + "c" * 150 + "\r\n0\r\n\r\n"),
        ("100 bytes in 2", "32\r\n" + "c" * 50 + "\r\n32\r\n" + "d" * 50 + "\r\n0\r\n\r\n"),
        ("2M declared", "200000\r\n" + "e" * 100),
        ("many tiny chunks", "1\r\na\r\n" * 200 + "0\r\n\r\n"),
    ]
    for label, body in chunked:
        steps = [R("/one.txt", "Transfer-Encoding: chunked", m="POST", body=body)]
        if "then shut" in label:
            steps.append(("shut",))
        case("chunked " + label, *steps)
    case("chunked in pieces", *pieces(R("/one.txt", "Transfer-Encoding: chunked", m="POST",
                                        body="5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"), 7))
    case("chunked GET", R("/one.txt", "Transfer-Encoding: chunked", body="5\r\nhello\r\n0\r\n\r\n"))
    for te in ["gzip, chunked", "chunked, gzip", "gzip", "Chunked", "CHUNKED", "chunked ", " chunked",
               "chunked, chunked", "identity", "xchunked", "chunked;q=1", ""]:
        case("TE %r" % te, R("/one.txt", "Transfer-Encoding: " + te, m="POST", body="5\r\nhello\r\n0\r\n\r\n"))
    case("TE twice chunked", R("/one.txt", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked", m="POST",
                               body="5\r\nhello\r\n0\r\n\r\n"))
    case("TE obs-fold", R("/one.txt", "Transfer-Encoding:", " chunked", m="POST", body="0\r\n\r\n"))
    case("TE space before colon", R("/one.txt", "Transfer-Encoding : chunked", m="POST", body="0\r\n\r\n"))
    case("TE tab value", R("/one.txt", "Transfer-Encoding:\tchunked", m="POST", body="0\r\n\r\n"))
    case("TE 1.0", R("/one.txt", "Transfer-Encoding: chunked", m="POST", v="HTTP/1.0", body="0\r\n\r\n"))
    # Smuggling shapes: TE+CL, and bodies that look like requests.
    smuggled = R("/nonexistent-smuggled")
    case("smuggle CL.TE", R("/one.txt", "Content-Length: 6", "Transfer-Encoding: chunked", m="POST",
                            body=b"0\r\n\r\n" + smuggled))
    case("smuggle TE.CL", R("/one.txt", "Transfer-Encoding: chunked", "Content-Length: 3", m="POST",
                            body=b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n"))
    case("smuggle TE.CL GET", R("/one.txt", "Transfer-Encoding: chunked", "Content-Length: 0",
                                body=b"0\r\n\r\n" + smuggled))
    case("smuggle CL body is request", R("/one.txt", "Content-Length: %d" % len(smuggled), m="POST",
                                         body=smuggled) + R("/empty.txt"), methods=["POST", "GET"])
    case("smuggle chunked body is request", R("/one.txt", "Transfer-Encoding: chunked", m="POST",
                                              body=b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n")
         + R("/empty.txt"), methods=["POST", "GET"])
    case("smuggle CL 0 then request", R("/one.txt", "Content-Length: 0", m="POST") + smuggled)
    case("smuggle TE obfuscated", R("/one.txt", "Transfer-Encoding: chunked", "Transfer-encoding: cow", m="POST",
                                    body=b"0\r\n\r\n" + smuggled))
    case("smuggle TE NUL", R("/one.txt", b"Transfer-Encoding: chunked\x00", m="POST", body=b"0\r\n\r\n"))
    # Expect: 100-continue: the head alone, wait for an answer, then the body.
    head = R("/one.txt", "Content-Length: 5", "Expect: 100-continue", m="POST")
    case("expect 100 POST", head, ("head",), b"hello")
    case("expect 100 GET", R("/one.txt", "Content-Length: 5", "Expect: 100-continue"), ("head",), b"hello")
    case("expect 100 body at once", head + b"hello")
    case("expect 100 no body", R("/one.txt", "Expect: 100-continue"))
    case("expect 100 CL 0", R("/one.txt", "Content-Length: 0", "Expect: 100-continue"))
    case("expect 100 too large", R("/one.txt", "Content-Length: 2000000", "Expect: 100-continue", m="POST"),
         ("head",), b"x" * 100)
    case("expect 100 over small limit", R("/one.txt", "Content-Length: 150", "Expect: 100-continue", m="POST"),
         ("head",), b"x" * 150)
    case("expect 100 chunked", R("/one.txt", "Transfer-Encoding: chunked", "Expect: 100-continue", m="POST"),
         ("head",), b"5\r\nhello\r\n0\r\n\r\n")
    case("expect 100 HTTP/1.0", R("/one.txt", "Content-Length: 5", "Expect: 100-continue", m="POST",
                                  v="HTTP/1.0"), ("head",), b"hello")
    case("expect 100 404", R("/nonexistent", "Content-Length: 5", "Expect: 100-continue"), ("head",), b"hello")
    case("expect other", R("/one.txt", "Expect: something-else"))
    case("expect 100 caps", R("/one.txt", "Content-Length: 5", "Expect: 100-CONTINUE", m="POST"), ("head",),
         b"hello")
    case("expect 100 then pipelined", head, ("head",), b"hello" + R("/empty.txt"), methods=["POST", "GET"])

    # --- pipelining and keep-alive ---
    case("pipeline 3 GET", R("/one.txt") + R("/empty.txt") + R("/1k.bin"))
    case("pipeline GET HEAD GET", R("/page.html") + R("/page.html", m="HEAD") + R("/one.txt"))
    case("pipeline 20", b"".join(R(p) for p in ["/one.txt", "/dir/", "/nonexistent", "/dir", "/data.json"] * 4))
    case("pipeline 100 small", R("/one.txt") * 100)
    case("pipeline big and small", R("/300k.dat") + R("/one.txt") + R("/20k.js") + R("/empty.txt"))
    case("pipeline close in middle", R("/one.txt") + R("/empty.txt", "Connection: close") + R("/1k.bin"))
    case("pipeline 1.0 then 1.1", R("/one.txt", v="HTTP/1.0") + R("/empty.txt"))
    case("pipeline bad in middle", R("/one.txt") + b"BAD\r\n\r\n" + R("/empty.txt"))
    case("pipeline 404 405 501", R("/nonexistent") + R("/one.txt", m="DELETE") + R("/one.txt", m="FOO")
         + R("/one.txt"))
    case("pipeline body then request", R("/one.txt", "Content-Length: 5", m="POST", body="hello") + R("/empty.txt"))
    case("pipeline chunked then request", R("/one.txt", "Transfer-Encoding: chunked", m="POST",
                                            body="5\r\nhello\r\n0\r\n\r\n") + R("/empty.txt"))
    case("pipeline conditional", lambda c: R("/page.html", "If-None-Match: " + c.etag("/page.html"))
         + R("/page.html", "Range: bytes=0-9"))
    case("pipeline ranges multipart", R("/1k.bin", "Range: bytes=0-1,5-6") * 2)
    case("pipeline then shut", R("/one.txt") + R("/page.html"), ("shut",))
    case("pipeline split across", R("/one.txt") + R("/empty.txt")[:10], ("sleep", 0.1), R("/empty.txt")[10:])
    case("sequential 3", R("/one.txt"), ("wait", 1), R("/empty.txt"), ("wait", 2), R("/1k.bin"))
    case("sequential 3 HEAD", R("/one.txt", m="HEAD"), ("wait", 1), R("/one.txt", m="HEAD"), ("wait", 2),
         R("/one.txt", m="HEAD"))
    case("sequential 3 1.0 keep-alive", R("/one.txt", "Connection: keep-alive", v="HTTP/1.0"), ("wait", 1),
         R("/one.txt", "Connection: keep-alive", v="HTTP/1.0"), ("wait", 2),
         R("/one.txt", "Connection: keep-alive", v="HTTP/1.0"))
    case("sequential 3 then shut", R("/one.txt"), ("wait", 1), R("/one.txt"), ("wait", 2), R("/one.txt"),
         ("shut",))
    case("sequential after 404", R("/nonexistent"), ("wait", 1), R("/one.txt"))
    case("sequential after 304", lambda c: R("/one.txt", "If-None-Match: " + c.etag("/one.txt")), ("wait", 1),
         R("/one.txt"))
    case("sequential after 301", R("/dir"), ("wait", 1), R("/dir/"))
    case("sequential after OPTIONS", R("/one.txt", m="OPTIONS"), ("wait", 1), R("/one.txt"))
    case("sequential after 405 with body", R("/one.txt", "Content-Length: 3", m="PUT", body="abc"), ("wait", 1),
         R("/one.txt"))
    case("sequential metrics", R("/-/metrics"), ("wait", 1), R("/one.txt"))
    case("pipeline 3 1.0 keep-alive", R("/one.txt", "Connection: keep-alive", v="HTTP/1.0") * 3)

    # --- conditional requests ---
    for p in ["/one.txt", "/page.html", "/300k.dat", "/empty.txt"]:
        n = p
        case("INM match " + n, lambda c, p=p: R(p, "If-None-Match: " + c.etag(p)))
        case("INM match HEAD " + n, lambda c, p=p: R(p, "If-None-Match: " + c.etag(p), m="HEAD"))
        case("INM other " + n, R(p, 'If-None-Match: "other"'))
        case("INM star " + n, R(p, "If-None-Match: *"))
        case("INM list " + n, lambda c, p=p: R(p, 'If-None-Match: "a", %s, "b"' % c.etag(p)))
        case("INM weak " + n, lambda c, p=p: R(p, "If-None-Match: W/" + c.etag(p)))
        case("IMS equal " + n, lambda c, p=p: R(p, "If-Modified-Since: " + c.lm(p)))
        case("IMS past " + n, R(p, "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"))
        case("IMS future " + n, R(p, "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"))
        case("IM match " + n, lambda c, p=p: R(p, "If-Match: " + c.etag(p)))
        case("IM other " + n, R(p, 'If-Match: "other"'))
        case("IUS past " + n, R(p, "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"))
        case("IUS equal " + n, lambda c, p=p: R(p, "If-Unmodified-Since: " + c.lm(p)))
    p = "/page.html"
    case("INM match etag of br", lambda c: R(p, "Accept-Encoding: br", "If-None-Match: " + c.etag(p, "br")))
    case("INM etag of br without AE", lambda c: R(p, "If-None-Match: " + c.etag(p, "br")))
    case("INM etag of identity with br", lambda c: R(p, "Accept-Encoding: br", "If-None-Match: " + c.etag(p)))
    case("INM etag of gzip with gzip", lambda c: R(p, "Accept-Encoding: gzip", "If-None-Match: " + c.etag(p, "gzip")))
    case("INM no quotes", lambda c: R(p, "If-None-Match: " + c.etag(p).strip('"')))
    case("INM garbage", R(p, "If-None-Match: ,,,"))
    case("INM empty", R(p, "If-None-Match:"))
    case("INM and IMS past", lambda c: R(p, "If-None-Match: " + c.etag(p),
                                         "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"))
    case("INM other and IMS equal", lambda c: R(p, 'If-None-Match: "x"', "If-Modified-Since: " + c.lm(p)))
    case("IMS rfc850", R(p, "If-Modified-Since: Friday, 01-Jan-99 00:00:00 GMT"))
    case("IMS asctime", R(p, "If-Modified-Since: Fri Jan  1 00:00:00 2100"))
    case("IMS invalid", R(p, "If-Modified-Since: yesterday"))
    case("IMS lowercase", R(p, "If-Modified-Since: fri, 01 jan 2100 00:00:00 gmt"))
    case("IMS on HEAD", lambda c: R(p, "If-Modified-Since: " + c.lm(p), m="HEAD"))
    case("IMS on POST", lambda c: R(p, "If-Modified-Since: " + c.lm(p), "Content-Length: 0", m="POST"))
    case("IM star", R(p, "If-Match: *"))
    case("IM weak", lambda c: R(p, "If-Match: W/" + c.etag(p)))
    case("IM list", lambda c: R(p, 'If-Match: "a", ' + c.etag(p)))
    case("IM other and IUS past... ", R(p, 'If-Match: "x"', "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT"))
    case("IM match and IUS past", lambda c: R(p, "If-Match: " + c.etag(p),
                                              "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"))
    case("IM other and INM match", lambda c: R(p, 'If-Match: "x"', "If-None-Match: " + c.etag(p)))
    case("IUS future", R(p, "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT"))
    case("IUS invalid", R(p, "If-Unmodified-Since: garbage"))
    case("IM on 404", R("/nonexistent", 'If-Match: "x"'))
    case("INM star on 404", R("/nonexistent", "If-None-Match: *"))
    case("IM on dir", R("/dir/", 'If-Match: "x"'))
    case("INM on dir redirect", R("/dir", "If-None-Match: *"))
    case("IM star on 404", R("/nonexistent", "If-Match: *"))

    # --- ranges ---
    ranges = {
        "/1k.bin": ["bytes=0-0", "bytes=0-99", "bytes=100-", "bytes=-100", "bytes=-0", "bytes=0-", "bytes=1023-",
                    "bytes=1024-", "bytes=1000-2000", "bytes=-2000", "bytes=5-1", "bytes=0-1,5-6",
                    "bytes=0-1, 5-6, 10-", "bytes=0-10,5-15", "bytes=0-0,0-0", "bytes=-1,0-0",
                    "bytes=0-1,2000-3000", "bytes=2000-3000,3000-4000", ",".join(["bytes=0-0"] + ["%d-%d" % (i, i)
                    for i in range(2, 66, 2)]), "bytes=" + ",".join("%d-%d" % (i, i) for i in range(0, 64, 2)),
                    "bytes=" + ",".join(["0-"] * 10), "bytes=" + ",".join(["0-1023"] * 3), "bytes=abc",
                    "bytes=", "bytes=-", "bytes=1-2-3", "bytes= 0-1", "bytes=0-1 ", "Bytes=0-1", "items=0-1",
                    "bytes=0-1;x", "bytes=00-01", "bytes=18446744073709551615-", "bytes=0-18446744073709551616",
                    "bytes=0-99999999999999999999", "bytes=,0-1", "bytes=0-1,,2-3"],
        "/300k.dat": ["bytes=0-0", "bytes=262100-262200", "bytes=-1", "bytes=-307200", "bytes=-400000",
                      "bytes=307199-", "bytes=307200-", "bytes=0-,100000-", "bytes=0-99,200000-200099,307100-",
                      "bytes=16000-16500", "bytes=0-16383"],
        "/empty.txt": ["bytes=0-0", "bytes=-1", "bytes=0-", "bytes=-0"],
        "/one.txt": ["bytes=0-0", "bytes=-1", "bytes=1-", "bytes=0-0,0-0"],
        "/page.html": ["bytes=0-9", "bytes=0-9,20-29"],
        "/20k.js": ["bytes=0-16384", "bytes=-5000", "bytes=10-20,16000-17000"],
    }
    for path, specs in ranges.items():
        for spec in specs:
            case("range %s %s" % (path, short(spec)), R(path, "Range: " + spec))
    case("range HEAD", R("/1k.bin", "Range: bytes=0-9", m="HEAD"))
    case("range HEAD multipart", R("/1k.bin", "Range: bytes=0-9,20-29", m="HEAD"))
    case("range HEAD unsatisfiable", R("/1k.bin", "Range: bytes=5000-", m="HEAD"))
    case("range on br", R("/page.html", "Accept-Encoding: br", "Range: bytes=0-9"))
    case("range on gzip multipart", R("/page.html", "Accept-Encoding: gzip", "Range: bytes=0-9,100-109"))
    case("range on dir", R("/dir/", "Range: bytes=0-3"))
    case("range on redirect", R("/dir", "Range: bytes=0-3"))
    case("range on 404", R("/nonexistent", "Range: bytes=0-3"))
    case("range twice", R("/1k.bin", "Range: bytes=0-3", "Range: bytes=5-9"))
    case("range POST", R("/1k.bin", "Range: bytes=0-3", "Content-Length: 0", m="POST"))
    case("range with INM match", lambda c: R("/1k.bin", "Range: bytes=0-3", "If-None-Match: " + c.etag("/1k.bin")))
    case("range with IM other", R("/1k.bin", "Range: bytes=0-3", 'If-Match: "x"'))
    case("If-Range etag match", lambda c: R("/1k.bin", "Range: bytes=0-3", "If-Range: " + c.etag("/1k.bin")))
    case("If-Range etag other", R("/1k.bin", "Range: bytes=0-3", 'If-Range: "other"'))
    case("If-Range weak etag", lambda c: R("/1k.bin", "Range: bytes=0-3", "If-Range: W/" + c.etag("/1k.bin")))
    case("If-Range date match", lambda c: R("/1k.bin", "Range: bytes=0-3", "If-Range: " + c.lm("/1k.bin")))
    case("If-Range date past", R("/1k.bin", "Range: bytes=0-3", "If-Range: Sat, 01 Jan 2000 00:00:00 GMT"))
    case("If-Range date future", R("/1k.bin", "Range: bytes=0-3", "If-Range: Fri, 01 Jan 2100 00:00:00 GMT"))
    case("If-Range garbage", R("/1k.bin", "Range: bytes=0-3", "If-Range: garbage"))
    case("If-Range without Range", lambda c: R("/1k.bin", "If-Range: " + c.etag("/1k.bin")))
    case("If-Range br etag", lambda c: R("/page.html", "Accept-Encoding: br", "Range: bytes=0-3",
                                         "If-Range: " + c.etag("/page.html", "br")))
    case("If-Range multipart match", lambda c: R("/1k.bin", "Range: bytes=0-3,8-9",
                                                 "If-Range: " + c.etag("/1k.bin")))

    # --- Accept-Encoding ---
    aes = ["br", "gzip", "gzip, br", "br, gzip", "br;q=0, gzip", "gzip;q=0.5, br;q=0.9", "gzip;q=0.9, br;q=0.5",
           "gzip;q=1.0, br;q=1.0", "br;q=0", "identity", "identity;q=0", "identity;q=0, br", "*", "*;q=0",
           "br;q=0, *", "*, br;q=0", "BR", "GZIP", "x-gzip", "", "deflate", "br;q=0.001", "br;q=1.001",
           "br;q=abc", "gzip ; q=0.5", "br,,gzip", " br ", "compress, gzip", "zstd, br", "gzip;q=0, br;q=0",
           "*;q=0, identity;q=0"]
    for ae in aes:
        case("AE %r page.html" % ae, R("/page.html", "Accept-Encoding: " + ae))
    for ae in ["br", "gzip", "*", "gzip, br"]:
        case("AE %r style.css" % ae, R("/style.css", "Accept-Encoding: " + ae))
        case("AE %r one.txt" % ae, R("/one.txt", "Accept-Encoding: " + ae))
        case("AE %r HEAD page.html" % ae, R("/page.html", "Accept-Encoding: " + ae, m="HEAD"))
    case("AE twice", R("/page.html", "Accept-Encoding: identity", "Accept-Encoding: br"))
    case("AE br dir index", R("/dir/", "Accept-Encoding: br"))
    case("AE br direct .br", R("/page.html.br", "Accept-Encoding: br"))
    case("AE gzip direct .gz", R("/page.html.gz", "Accept-Encoding: gzip"))
    case("AE br 404", R("/nonexistent", "Accept-Encoding: br"))

    # --- status page and forwarding headers ---
    for label, hdrs in [("plain", []), ("XFF public", ["X-Forwarded-For: 203.0.113.5"]),
                        ("XFF loopback", ["X-Forwarded-For: 127.0.0.1"]),
                        ("XFF chain", ["X-Forwarded-For: 203.0.113.5, 127.0.0.1"]),
                        ("XFF garbage", ["X-Forwarded-For: not-an-ip"]),
                        ("XFF empty", ["X-Forwarded-For:"]),
                        ("XFF ipv6", ["X-Forwarded-For: 2001:db8::1"]),
                        ("XFF twice", ["X-Forwarded-For: 203.0.113.5", "X-Forwarded-For: 198.51.100.7"]),
                        ("Forwarded", ["Forwarded: for=203.0.113.5"]),
                        ("Forwarded quoted v6", ['Forwarded: for="[2001:db8::1]:4711";proto=https']),
                        ("Forwarded loopback", ["Forwarded: for=127.0.0.1"]),
                        ("X-Real-IP", ["X-Real-IP: 203.0.113.5"])]:
        case("metrics " + label, R("/-/metrics", *hdrs))
        case("file with " + label, R("/one.txt", *hdrs))
    case("metrics HEAD", R("/-/metrics", m="HEAD"))
    case("metrics 1.0", R("/-/metrics", v="HTTP/1.0", host=None))
    case("metrics Connection close", R("/-/metrics", "Connection: close"))
    case("metrics OPTIONS", R("/-/metrics", m="OPTIONS"))
    case("metrics conditional", R("/-/metrics", "If-None-Match: *"))
    case("metrics range", R("/-/metrics", "Range: bytes=0-9"))
    case("metrics AE br", R("/-/metrics", "Accept-Encoding: br"))
    case("metrics absolute", R("http://bb.test/-/metrics"))
    case("metrics under proxy header", PROXY_PREFIX + R("/-/metrics"), raw=True)
    case("logging hostile UA", R("/one.txt", b'User-Agent: evil" "x\\ \xc3\xa9\xff', b'Referer: http://r.example/"q'))
    case("logging hostile target", R('/one.txt?"%0a\\x'))

    # --- PROXY protocol (meaningful under --proxy-protocol; junk elsewhere) ---
    sig = b"\r\n\r\n\x00\r\nQUIT\n"

    def v2(ver_cmd, fam, body):
        return sig + bytes([ver_cmd, fam]) + struct.pack("!H", len(body)) + body

    inet = socket.inet_aton("192.0.2.33") + socket.inet_aton("198.51.100.1") + struct.pack("!HH", 5555, 80)
    inet6 = (socket.inet_pton(socket.AF_INET6, "2001:db8::33") + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
             + struct.pack("!HH", 5555, 80))
    unix = b"/tmp/src".ljust(108, b"\0") + b"/tmp/dst".ljust(108, b"\0")
    get = R("/one.txt")
    proxies = [
        ("v1 TCP4", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n"),
        ("v1 TCP6", b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n"),
        ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n"),
        ("v1 UNKNOWN with addrs", b"PROXY UNKNOWN 192.0.2.1 198.51.100.1 1234 80\r\n"),
        ("v1 lowercase", b"proxy TCP4 192.0.2.1 198.51.100.1 1234 80\r\n"),
        ("v1 LF only", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\n"),
        ("v1 bad address", b"PROXY TCP4 192.0.2.999 198.51.100.1 1234 80\r\n"),
        ("v1 v6 in TCP4", b"PROXY TCP4 2001:db8::1 198.51.100.1 1234 80\r\n"),
        ("v1 port overflow", b"PROXY TCP4 192.0.2.1 198.51.100.1 70000 80\r\n"),
        ("v1 port leading zero", b"PROXY TCP4 192.0.2.1 198.51.100.1 01234 80\r\n"),
        ("v1 missing port", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234\r\n"),
        ("v1 extra field", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80 x\r\n"),
        ("v1 double space", b"PROXY TCP4  192.0.2.1 198.51.100.1 1234 80\r\n"),
        ("v1 UDP4", b"PROXY UDP4 192.0.2.1 198.51.100.1 1234 80\r\n"),
        ("v1 too long", b"PROXY TCP4 " + b"1" * 120 + b"\r\n"),
        ("v1 twice", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n" * 2),
        ("v1 no CRLF then shut", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80"),
        ("v2 TCP4", v2(0x21, 0x11, inet)),
        ("v2 TCP6", v2(0x21, 0x21, inet6)),
        ("v2 UDP4", v2(0x21, 0x12, inet)),
        ("v2 UNIX", v2(0x21, 0x31, unix)),
        ("v2 LOCAL", v2(0x20, 0x00, b"")),
        ("v2 LOCAL with addrs", v2(0x20, 0x11, inet)),
        ("v2 UNSPEC", v2(0x21, 0x00, b"")),
        ("v2 TLVs", v2(0x21, 0x11, inet + b"\x04\x00\x02ab" + b"\x02\x00\x07bb.test")),
        ("v2 short address block", v2(0x21, 0x11, inet[:8])),
        ("v2 bad version", v2(0x31, 0x11, inet)),
        ("v2 bad command", v2(0x2F, 0x11, inet)),
        ("v2 bad family", v2(0x21, 0x41, inet)),
        ("v2 bad signature", b"\r\n\r\n\x00\r\nQUIX\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12) + inet),
        ("v2 length 65535 short", sig + b"\x21\x11\xff\xff" + inet),
        ("v2 big TLV", v2(0x21, 0x11, inet + b"\x04" + struct.pack("!H", 3000) + b"t" * 3000)),
    ]
    for label, hdr in proxies:
        if "then shut" in label:
            case("proxy " + label, hdr, ("shut",), raw=True)
            continue
        case("proxy " + label, hdr + get, raw=True)
    case("proxy none", get, raw=True)
    case("proxy none HEAD", R("/page.html", m="HEAD"), raw=True)
    case("proxy none idle", raw=True)
    case("proxy v1 split", *pieces(b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n" + get, 6), raw=True)
    case("proxy v2 split", *pieces(v2(0x21, 0x11, inet) + get, 6), raw=True)
    case("proxy v1 then pipelined", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n" + get + R("/empty.txt")
         + R("/nonexistent"), raw=True)
    case("proxy v1 then XFF", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n"
         + R("/one.txt", "X-Forwarded-For: 203.0.113.9"), raw=True)
    case("proxy v1 loopback then metrics", b"PROXY TCP4 127.0.0.1 127.0.0.1 1234 80\r\n" + R("/-/metrics"),
         raw=True)
    case("proxy v1 then sequential", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n" + get, ("wait", 1),
         R("/empty.txt"), raw=True)
    case("proxy v1 only then idle", b"PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n", raw=True)

    names = [c.name for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SetupError("duplicate case names: %s" % sorted(dup))


# ---------------------------------------------------------------------------------------------------------
# Option sets

OPTION_SETS = [
    ("default", [], False),
    ("status", ["--status-path", "/-/metrics", "--trusted-proxy", "127.0.0.1/32", "--access-log", "{log}"],
     False),
    ("proxy", ["--proxy-protocol", "--status-path", "/-/metrics", "--access-log", "{log}", "--log-format", "json"],
     True),
    ("site", ["--dotfiles", "--no-symlinks", "--no-precompressed", "--index", "default.htm,index.html",
              "--cache-control", "max-age=60"], False),
    ("keepalive2", ["--keepalive-requests", "2"], False),
    ("limits", ["--max-header-bytes", "1024", "--max-body-bytes", "100"], False),
]

PREFETCH = [("/one.txt", ""), ("/empty.txt", ""), ("/1k.bin", ""), ("/300k.dat", ""), ("/page.html", ""),
            ("/page.html", "br"), ("/page.html", "gzip")]


# ---------------------------------------------------------------------------------------------------------
# Running a server


class Server:
    def __init__(self, label, binary, args, root, log_path):
        self.label = label
        self.log_path = log_path
        argv = [binary, "-l", "127.0.0.1:0", "-w", "1"] + [a.replace("{log}", log_path or "") for a in args]
        argv.append(root)
        self.argv = argv
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "LISTEN_PID", "LISTEN_FDS",
                                                               "NOTIFY_SOCKET", "RUST_BACKTRACE")}
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, env=env)
        except OSError as e:
            raise SetupError("%s: cannot start %s: %s" % (label, binary, e))
        self.stderr = []
        self.port = None
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT) or self.port is None:
            try:
                status = self.proc.wait(2)
            except subprocess.TimeoutExpired:
                status = None
            why = "exited with status %s" % status if status is not None else "no 'serving' line within %ss" % (
                START_TIMEOUT)
            self.kill()
            raise SetupError("%s: %s: %s; stderr:\n%s" % (label, " ".join(argv), why, "".join(self.stderr)))

    def _pump(self):
        for line in iter(self.proc.stderr.readline, b""):
            text = line.decode("utf-8", "replace")
            self.stderr.append(text)
            m = re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/", text)
            if m and self.port is None:
                self.port = int(m.group(1))
                self.ready.set()
        self.ready.set()

    def stop(self):
        """SIGTERM (buffered log lines are still written), then wait. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed after 10 s"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------------------
# Running a case


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


# ---------------------------------------------------------------------------------------------------------
# Normalising and rendering


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


# ---------------------------------------------------------------------------------------------------------
# The run


def prefetch(port, prefix, idle):
    ctx = Ctx()
    for path, enc in PREFETCH:
        hdrs = ["Connection: close"] + (["Accept-Encoding: " + enc] if enc else [])
        c = Case("prefetch", R(path, *hdrs, m="HEAD"))
        raw, _, _, _ = run_case(port, c, ctx, prefix, idle)
        fields = {}
        for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            fields[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        ctx.validators[(path, enc)] = fields
    return ctx


def slug(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:90]


def run_set(set_name, args, uses_prefix, bins, root, work, opts, cases, pool, after_args):
    prefix = PROXY_PREFIX if uses_prefix else b""
    servers = []
    try:
        for label, binary in bins:
            log = os.path.join(work, "logs", "%s-%s.log" % (label, set_name)) if "{log}" in args else None
            extra = after_args if label == "after" else []
            servers.append(Server("%s/%s" % (label, set_name), binary, args + extra, root, log))
        ctxs = [prefetch(srv.port, prefix, opts.idle) for srv in servers]
        futures = {}
        for si, srv in enumerate(servers):
            for ci, c in enumerate(cases):
                futures[(si, ci)] = pool.submit(run_case, srv.port, c, ctxs[si], prefix, opts.idle)
        results = [[None] * len(cases) for _ in servers]
        for (si, ci), f in futures.items():
            results[si][ci] = f.result()
        if opts.self_test and set_name == "default":
            # Perturb one AFTER answer: the comparison must report exactly this case.
            for ci, c in enumerate(cases):
                if c.name == "get /one.txt":
                    raw, notes, end, methods = results[1][ci]
                    results[1][ci] = (raw.replace(b"Server: staticd", b"Server: staticd-self-test", 1), notes,
                                      end, methods)
        transcripts = [[render(*r, srv.port) for r in results[si]] for si, srv in enumerate(servers)]
        alive = [srv.proc.poll() is None for srv in servers]
    finally:
        statuses = [srv.stop() for srv in servers]
    names = [c.name for c in cases]
    for si, srv in enumerate(servers):
        stderr = "".join(srv.stderr).replace(":%d/" % srv.port, ":<port>/")
        info = "master alive after the battery: %s\nexit status after SIGTERM: %s\nstderr:\n%s" % (
            alive[si], statuses[si], stderr)
        transcripts[si].append(info)
        if srv.log_path:
            try:
                with open(srv.log_path, encoding="utf-8", errors="replace") as f:
                    transcripts[si].append(normalise_log(f.read(), srv.port))
            except OSError as e:
                transcripts[si].append("access log unreadable: %s\n" % e)
    names.append("~server (liveness, exit status, stderr)")
    if servers[0].log_path:
        names.append("~access log (sorted, normalised)")
    if opts.keep:
        for si, (label, _) in enumerate(bins):
            d = os.path.join(work, "transcripts", label, set_name)
            os.makedirs(d, exist_ok=True)
            for i, (n, t) in enumerate(zip(names, transcripts[si])):
                with open(os.path.join(d, "%03d-%s.txt" % (i, slug(n))), "w") as f:
                    f.write("case: %s\n\n%s" % (n, t))
    return names, transcripts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--keep", metavar="DIR", help="build everything in DIR (new or empty) and keep it, "
                    "with per-case transcripts under DIR/transcripts/{before,after}/SET/")
    ap.add_argument("--sets", help="comma-separated option sets to run (default: all): "
                    + ",".join(s[0] for s in OPTION_SETS))
    ap.add_argument("--cases", help="only the cases whose name matches this regular expression")
    ap.add_argument("-j", "--jobs", type=int, default=256, help="concurrent connections (default 256)")
    ap.add_argument("--idle", type=float, default=IDLE, help="read-idle timeout in seconds (default %s)" % IDLE)
    ap.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--after-args", default="", help="extra arguments for BIN_AFTER only (shell-split), "
                    "to check that a real difference is reported")
    ap.add_argument("--list", action="store_true", help="list the case names and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print long diffs in full")
    opts = ap.parse_args()

    t0 = time.monotonic()
    try:
        build_cases()
    except SetupError as e:
        print("setup error: %s" % e, file=sys.stderr)
        return 2
    cases = CASES
    if opts.cases:
        cases = [c for c in cases if re.search(opts.cases, c.name)]
    if opts.list:
        for c in cases:
            print(c.name)
        return 0
    sets = OPTION_SETS
    if opts.sets:
        wanted = opts.sets.split(",")
        unknown = set(wanted) - {s[0] for s in OPTION_SETS}
        if unknown:
            print("setup error: unknown option set(s): %s" % ",".join(sorted(unknown)), file=sys.stderr)
            return 2
        sets = [s for s in OPTION_SETS if s[0] in wanted]
    bins = []
    for label, b in (("before", opts.before), ("after", opts.after)):
        path = os.path.abspath(b)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print("setup error: %s binary %s is not an executable file" % (label, b), file=sys.stderr)
            return 2
        bins.append((label, path))
    after_args = shlex.split(opts.after_args)

    if opts.keep:
        work = os.path.abspath(opts.keep)
        if os.path.exists(work) and os.listdir(work):
            print("setup error: --keep %s exists and is not empty" % work, file=sys.stderr)
            return 2
        os.makedirs(work, exist_ok=True)
    else:
        work = tempfile.mkdtemp(prefix="staticd-bb-")
    os.makedirs(os.path.join(work, "logs"))
    os.chmod(os.path.join(work, "logs"), 0o755)
    try:
        try:
            root = build_fixture(work)
        except OSError as e:
            print("setup error: cannot build the fixture in %s: %s" % (work, e), file=sys.stderr)
            return 2
        summary = []
        diffs = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
            for set_name, args, uses_prefix in sets:
                ts = time.monotonic()
                try:
                    names, (tb, ta) = run_set(set_name, args, uses_prefix, bins, root, work, opts, cases, pool,
                                              after_args)
                except SetupError as e:
                    print("setup error: %s" % e, file=sys.stderr)
                    return 2
                same = 0
                for n, a, b in zip(names, tb, ta):
                    if a == b:
                        same += 1
                    else:
                        diffs.append((set_name, n, a, b))
                summary.append((set_name, len(names), same, len(names) - same, time.monotonic() - ts))
                print("%-11s %4d cases  %4d identical  %3d different  (%.1f s)" % summary[-1], flush=True)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("option set   cases  identical  different   (before: %s, after: %s%s)"
          % (opts.before, opts.after, " " + opts.after_args if opts.after_args else ""))
    for set_name, n, same, diff, _ in summary:
        print("%-11s %6d %10d %10d" % (set_name, n, same, diff))
    total = sum(s[1] for s in summary)
    ndiff = sum(s[3] for s in summary)
    print("%-11s %6d %10d %10d   in %.0f s" % ("total", total, total - ndiff, ndiff, time.monotonic() - t0))
    for set_name, n, a, b in diffs:
        print()
        print("=== [%s] %s ===" % (set_name, n))
        lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="", n=3))
        if len(lines) > 80 and not opts.verbose:
            lines = lines[:80] + ["... (%d more diff lines; -v for all)" % (len(lines) - 80)]
        print("\n".join(lines))
    if opts.keep:
        print("\nfixture, logs and transcripts kept in %s" % work)
    return 1 if ndiff else 0


if __name__ == "__main__":
    sys.exit(main())
