"""Cases about who the client is: the status page, forwarding headers, hostile values in the access log, and
PROXY protocol v1/v2 headers (meaningful under --proxy-protocol, junk elsewhere). One of the area files that
benches/blackbox/cases.py assembles, in its order, into the battery.
"""

import socket
import struct

from .case import PROXY_PREFIX, R, case, pieces


def add():
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
