"""The fixture document root both binaries serve: every file, symlink, fifo and socket the cases ask for.

Built once per run under the work directory, with deterministic contents (seeded random bytes and text) and
fixed mtimes, so Last-Modified and the ETag are the same for BEFORE and AFTER and from run to run.
"""

import gzip
import os
import random
import socket

# Fixed fixture mtime (2023-11-14 22:13:20.123456789 UTC), so Last-Modified and the ETag are stable.
MTIME_NS = 1_700_000_000_123_456_789


def rand_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def text_bytes(seed, n):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "static", "file", "server", "byte", "range", "cache"]
    out = bytearray()
    while len(out) < n:
        out += (" ".join(rng.choice(words) for _ in range(12)) + "\n").encode()
    return bytes(out[:n])


PAGE_HTML = b"<!doctype html>\n<title>page</title>\n" + text_bytes(3, 3000) + b"\n"

# (path relative to the root, bytes, mode). Directories are created as needed (0755).
FILES = [
    ("index.html", b"<!doctype html>\n<title>root index</title>\n", 0o644),
    ("empty.txt", b"", 0o644),
    ("one.txt", b"x", 0o644),
    ("1k.bin", rand_bytes(1, 1024), 0o644),
    ("20k.js", text_bytes(2, 20 * 1024), 0o644),
    ("300k.dat", rand_bytes(4, 300 * 1024), 0o644),
    ("page.html", PAGE_HTML, 0o644),
    ("page.html.br", b"\x1b\xbb\x0b" + rand_bytes(5, 700), 0o644),  # content is opaque to the server
    ("page.html.gz", gzip.compress(PAGE_HTML, mtime=0), 0o644),
    ("style.css", b"body { color: #333 }\n" * 40, 0o644),
    ("style.css.gz", gzip.compress(b"body { color: #333 }\n" * 40, mtime=0), 0o644),
    ("data.json", b'{"key": "value", "n": [1, 2, 3]}\n', 0o644),
    ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n', 0o644),
    ("mod.mjs", b"export const x = 1;\n", 0o644),
    ("noext", b"no extension\n", 0o644),
    ("UPPER.HTML", b"<p>upper</p>\n", 0o644),
    ("archive.tar.gz", rand_bytes(6, 500), 0o644),
    ("font.woff2", rand_bytes(7, 300), 0o644),
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
