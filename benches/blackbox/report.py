"""Comparing the transcripts of BEFORE and AFTER and printing the result: one line per option set as it
finishes, then the summary table and a unified diff per differing case (cut at 80 lines unless -v).
"""

import difflib
import time


def compare_set(set_name, names, before, after, started, summary, diffs):
    """Compares one option set's transcripts. Appends its row to SUMMARY and each differing case to DIFFS as
    (set, name, before, after), and prints the set's line."""
    same = 0
    for n, a, b in zip(names, before, after):
        if a == b:
            same += 1
        else:
            diffs.append((set_name, n, a, b))
    summary.append((set_name, len(names), same, len(names) - same, time.monotonic() - started))
    print("%-11s %4d cases  %4d identical  %3d different  (%.1f s)" % summary[-1], flush=True)


def print_report(summary, diffs, opts, t0, work):
    """Prints the summary table and the diffs. Returns the number of differing cases."""
    print()
    print("option set   cases  identical  different   (before: %s, after: %s%s)"
          % (opts.before, opts.after, " " + opts.after_args if opts.after_args else ""))
    for set_name, n, same, diff, _ in summary:
        print("%-11s %6d %10d %10d" % (set_name, n, same, diff))
    total = sum(s[1] for s in summary)
    ndiff = sum(s[3] for s in summary)
    print("%-11s %6d %10d %10d   in %.0f s" % ("total", total, total - ndiff, ndiff, time.monotonic() - t0))
    for set_name, n, a, b in diffs:
        print()
        print("=== [%s] %s ===" % (set_name, n))
        lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="", n=3))
        if len(lines) > 80 and not opts.verbose:
            lines = lines[:80] + ["... (%d more diff lines; -v for all)" % (len(lines) - 80)]
        print("\n".join(lines))
    if opts.keep:
        print("\nfixture, logs and transcripts kept in %s" % work)
    return ndiff
