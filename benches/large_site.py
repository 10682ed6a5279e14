#!/usr/bin/env python3
"""Write the large-site fixture: DIRS folders of FILES files, SIZE bytes each, all with distinct content.

Why it exists: the large-site scenarios (`large20k`, `large20k_gz` in load.sh) measure a server whose working
set is far bigger than a small hot cache: 20,000 files in 200 folders, requested at random. Writing them from
one Python process takes about a second; a shell loop forking per file would take a minute.

Usage: large_site.py ROOT [--dirs 200] [--files 100] [--size 2048] [--gz]

Writes ROOT/dNNN/fNNN.html (the names random_paths.lua requests). The content is HTML-like text, so it
compresses the way a real page does, and starts with the file's own path, so no two files are alike. With
--gz every file also gets a real gzip sibling ROOT/dNNN/fNNN.html.gz, written after it (never older than it).
Everything is world-readable (servers started as root drop to nobody), and every file has been read once
(its atime written). The output is the same on every run.
"""

import argparse
import gzip
import os
import random

WORDS = (
    "the a static file server answers every request from the page cache while the client waits for bytes "
    "html body section article header footer nav link script style image title paragraph list item table "
    "row cell form input button label select option value name content type length encoding cache control "
    "etag modified since range bytes accept connection keep alive close host path query fragment origin "
    "proxy upstream latency throughput request response status ok not found moved permanently redirect"
).split()


def page(rel, size, rng):
    head = f"<!doctype html>\n<html><head><title>{rel}</title></head>\n<body><p>"
    tail = "</p></body></html>\n"
    text = head
    while len(text) < size - len(tail):
        text += " ".join(rng.choices(WORDS, k=size // 8)) + " "
    body = text[: size - len(tail)]
    data = (body + tail).encode()
    assert len(data) == size, (rel, len(data))
    return data


def write(path, data):
    # os.open/os.write: three syscalls a file (open() adds fstat, ioctl and lseek), 60,000 files a run.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--dirs", type=int, default=200)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--gz", action="store_true", help="also write a .gz sibling of every file")
    args = ap.parse_args()

    os.umask(0o022)
    rng = random.Random(13)
    for d in range(args.dirs):
        folder = os.path.join(args.root, f"d{d:03d}")
        os.makedirs(folder, exist_ok=True)
        for f in range(args.files):
            name = f"f{f:03d}.html"
            data = page(f"/d{d:03d}/{name}", args.size, rng)
            path = os.path.join(folder, name)
            write(path, data)
            if args.gz:
                write(path + ".gz", gzip.compress(data, compresslevel=9, mtime=0))
    os.chmod(args.root, 0o755)
    # Read every file once: on a relatime mount the first read of a file newer than its atime writes the
    # atime, and that cost (an inode update for each of 20,000 files) would fall on whichever server runs
    # first, not on all of them alike.
    for d in range(args.dirs):
        folder = os.path.join(args.root, f"d{d:03d}")
        for name in sorted(os.listdir(folder)):
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.read(fd, 1)
            finally:
                os.close(fd)


if __name__ == "__main__":
    main()
