#!/usr/bin/env python3
"""Turn the raw measurements that load.sh leaves in its work directory into the Markdown results table.

Why it exists: medians, ratios and per-CPU-second figures are easier to get right here than in bash/awk,
and keeping the arithmetic in one place means the table in README/results.md always means the same thing.

Usage: report.py WORKDIR   (reads meta.env, scenarios.tsv, runs.tsv, failed.tsv, syscalls.tsv,
strace-SERVER.txt, memory.tsv, encodings.tsv; every file but meta.env may be missing or empty)
"""

import os
import platform
import statistics
import sys
from collections import defaultdict

TOP_SYSCALLS = 6


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def read_meta(path):
    meta = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                meta[key] = value
    return meta


def cpu_model():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def human(n):
    if n >= 100_000:
        return f"{n / 1000:.0f}k"
    if n >= 10_000:
        return f"{n / 1000:.1f}k"
    if n >= 100:
        return f"{n:.0f}"
    return f"{n:.1f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


# staticd variants measured beside staticd in the same run: an older build, and the site with 1,000 rules.
VARIANTS = ("staticd_before", "staticd_rules")


def throughput_section(servers, scenarios, runs, encodings):
    """Median requests/s per server per scenario, staticd's ratio to the best other, and per-CPU-second rates."""
    rps = defaultdict(list)
    reqs = defaultdict(float)
    cpu = defaultdict(float)
    wall = defaultdict(float)
    errors = defaultdict(int)
    for _round, scen, server, r, n, cpu_s, dur_s, sockerr, non2xx in runs:
        key = (scen, server)
        rps[key].append(float(r))
        reqs[key] += float(n)
        cpu[key] += float(cpu_s)
        wall[key] += float(dur_s)
        errors[key] += int(sockerr) + (0 if scen == "notfound" else int(non2xx))

    # Other builds or configurations of staticd are references, not competitors.
    others = [s for s in servers if not s.startswith("staticd")]
    rows, cpu_rows, notes = [], [], []
    for scen, label in scenarios:
        med = {s: statistics.median(rps[(scen, s)]) for s in servers if rps[(scen, s)]}
        row = [label] + [human(med[s]) if s in med else "–" for s in servers]
        best = max((med[s] for s in others if s in med), default=None)
        if "staticd" in med and best:
            row.append(f"{med['staticd'] / best:.2f}")
        else:
            row.append("n/a")
        for variant in VARIANTS:
            if variant in servers:
                other = med.get(variant)
                row.append(f"{med['staticd'] / other:.2f}" if other and "staticd" in med else "n/a")
        rows.append(row)

        cpu_row = [label]
        for s in servers:
            key = (scen, s)
            if not rps[key]:
                cpu_row.append("–")
            elif cpu[key] <= 0:
                cpu_row.append("(no CPU sampled)")
            else:
                busy = 100 * cpu[key] / wall[key] if wall[key] else 0
                cpu_row.append(f"{human(reqs[key] / cpu[key])} ({busy:.0f}% CPU)")
            if errors[key]:
                notes.append(f"{label} / {s}: {errors[key]} socket errors or unexpected non-2xx responses")
        cpu_rows.append(cpu_row)

    ratios = ["staticd / best other"] + [f"staticd / {v}" for v in VARIANTS if v in servers]
    text = ["### Median requests/s", "", table(["scenario"] + servers + ratios, rows), ""]
    if encodings and any(scen == "large20k_gz" for scen, _ in scenarios):
        served = ", ".join(f"{s} {encodings[s]}" for s in servers if s in encodings)
        text += [
            f"The .gz scenario was answered with (Content-Encoding of the checked file): {served}. "
            "A server answering identity sends the 2 KiB file, not its precompressed sibling.",
            "",
        ]
    text += [
        "### Requests per server CPU-second (server CPU use during the run)",
        "",
        "A server well under 100% CPU was not the bottleneck: that run was bound by the client (wrk) or the kernel.",
        "",
        table(["scenario"] + servers, cpu_rows),
        "",
    ]
    if notes:
        text += ["Errors seen:", ""] + [f"- {n}" for n in notes] + [""]
    return text


def parse_strace(path):
    """Return ({syscall: calls}, total calls) from an `strace -c` summary."""
    calls, total = {}, 0
    if not os.path.exists(path):
        return calls, total
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or not fields[0].replace(".", "", 1).isdigit():
                continue
            if fields[-1] == "total":
                total = int(fields[3])
            else:
                calls[fields[-1]] = int(fields[3])
    return calls, total


def syscall_section(workdir, rows_in):
    if not rows_in:
        return []
    rows = []
    for server, requests in rows_in:
        calls, total = parse_strace(os.path.join(workdir, f"strace-{server}.txt"))
        n = int(requests)
        if not total or not n:
            rows.append([server, "failed", ""])
            continue
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:TOP_SYSCALLS]
        rows.append([server, f"{total / n:.2f}", ", ".join(f"{name} {c / n:.2f}" for name, c in top)])
    return [
        "### Syscalls per request (1 KiB keep-alive, strace -c -f over every server process)",
        "",
        table(["server", "syscalls / request", "largest contributors (calls / request)"], rows),
        "",
    ]


def memory_section(rows_in):
    if not rows_in:
        return []
    rows = []
    for server, base, loaded, conns, alive in rows_in:
        n = int(conns)
        per = (int(loaded) - int(base)) / n if n else 0
        rows.append([server, f"{int(base) / 1024:.1f}", f"{int(loaded) / 1024:.1f}", f"{per:.2f}", f"{alive} / {conns}"])
    return [
        "### Memory of idle keep-alive connections (sum of RSS over the server's processes)",
        "",
        table(["server", "idle RSS (MiB)", "RSS with connections (MiB)", "KiB / connection", "still open"], rows),
        "",
    ]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    workdir = sys.argv[1]
    meta = read_meta(os.path.join(workdir, "meta.env"))
    servers = meta.get("servers", "").split()
    scenarios = [tuple(r[:2]) for r in read_tsv(os.path.join(workdir, "scenarios.tsv"))]
    runs = read_tsv(os.path.join(workdir, "runs.tsv"))
    failed = read_tsv(os.path.join(workdir, "failed.tsv"))

    out = [
        f"## staticd load benchmark{' (SMOKE run: not a measurement)' if meta.get('smoke') == '1' else ''}",
        "",
        f"- date: {meta.get('date', '?')}",
        f"- machine: {os.cpu_count()} CPUs ({meta.get('nproc', '?')} online), {cpu_model()}, "
        f"Linux {platform.release()}",
        f"- staticd {meta.get('staticd_rev', '?')}; {meta.get('versions', '')}",
        f"- layout: every server process pinned to CPU {meta.get('server_cpu')}, `wrk -t1` pinned to CPU "
        f"{meta.get('client_cpu')}; {meta.get('rounds')} alternating rounds of {meta.get('duration')} s per "
        f"scenario and server; {meta.get('conns')} connections ({meta.get('big_conns')} for 10 MiB)",
    ]
    if "nginx" in servers:
        out.append(
            f"- nginx: open_file_cache max={meta.get('nginx_open_file_cache', '?')} inactive=60s, "
            "open_file_cache_valid 60s, open_file_cache_errors on; gzip_static on"
        )
    out.append("")
    if failed:
        out += ["Servers that could not be measured:", ""] + [f"- {s}: {why}" for s, why in failed] + [""]
    encodings = dict(tuple(r[:2]) for r in read_tsv(os.path.join(workdir, "encodings.tsv")))
    if runs:
        out += throughput_section([s for s in servers if s not in dict(failed)], scenarios, runs, encodings)
    out += syscall_section(workdir, read_tsv(os.path.join(workdir, "syscalls.tsv")))
    out += memory_section(read_tsv(os.path.join(workdir, "memory.tsv")))
    print("\n".join(out).rstrip() + "\n")


if __name__ == "__main__":
    main()
