"""Running the battery under one option set: both servers, prefetching their validators, every case on both,
the self-test perturbation, the transcripts (responses, server liveness and stderr, access log), and with
--keep the per-case transcript files.
"""

import os
import re

from .case import PROXY_PREFIX, Case, Ctx, R
from .normalise import normalise_log, render
from .server import Server
from .wire import run_case

PREFETCH = [("/one.txt", ""), ("/empty.txt", ""), ("/1k.bin", ""), ("/300k.dat", ""), ("/page.html", ""),
            ("/page.html", "br"), ("/page.html", "gzip")]


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
