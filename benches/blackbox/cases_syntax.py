"""Cases about the request head: methods, versions, request-line oddities, the Host header, header syntax
and size limits, and connections that send a partial head, nothing, or their bytes in pieces. One of the area
files that benches/blackbox/cases.py assembles, in its order, into the battery.
"""

from .case import R, case, pieces, short
from .fixture import rand_bytes


def add():
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
    case("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rand_bytes(9, 64))
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
