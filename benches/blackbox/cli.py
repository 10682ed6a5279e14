"""The command: argument parsing, the work directory and fixture, running every chosen option set, and the
exit code (0 all identical, 1 some differ, 2 setup error). The manual is the package docstring (__init__.py).
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import sys
import tempfile
import time

from . import __doc__ as MANUAL
from .case import CASES
from .cases import build_cases
from .errors import SetupError
from .fixture import build_fixture
from .report import compare_set, print_report
from .run import run_set
from .server import OPTION_SETS
from .wire import IDLE


def main():
    ap = argparse.ArgumentParser(description=MANUAL.split("\n")[0])
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
                compare_set(set_name, names, tb, ta, ts, summary, diffs)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)

    ndiff = print_report(summary, diffs, opts, t0, work)
    return 1 if ndiff else 0
