"""Cases about message framing: request bodies (Content-Length, chunked, Transfer-Encoding variants),
request-smuggling shapes, Expect: 100-continue, pipelining and keep-alive. One of the area files that
benches/blackbox/cases.py assembles, in its order, into the battery.
"""

from .case import R, case, pieces
from .fixture import rand_bytes


def add():
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
    case("POST CL 300k", R("/one.txt", "Content-Length: 307200", m="POST", body=rand_bytes(10, 307200)))
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
