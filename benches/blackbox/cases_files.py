"""Cases about how a file's representation is chosen: conditional requests (validators learnt by prefetching),
byte ranges and If-Range, and Accept-Encoding against the precompressed siblings. One of the area files that
benches/blackbox/cases.py assembles, in its order, into the battery.
"""

from .case import R, case, short


def add():
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
