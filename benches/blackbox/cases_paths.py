"""Cases about what is asked for: every fixture file, directory and symlink by GET and HEAD, odd request
targets (dot segments, percent-encoding, raw bytes, very long paths) and the absolute, authority and asterisk
forms. One of the area files that benches/blackbox/cases.py assembles, in its order, into the battery.
"""

from .case import R, case, short, url
from .fixture import FILES, SYMLINKS


def add():
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
