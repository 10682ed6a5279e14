"""Black-box battery for issue 10: checks that two staticd binaries answer ~860 raw HTTP cases under 6 option sets identically. Run: python3 benches/blackbox.py BIN_BEFORE BIN_AFTER [--keep DIR]

The restructuring of issue 10 must not change behaviour, so this tool treats the server as a black box:
it builds one fixture document root, starts BIN_BEFORE and BIN_AFTER on it (each on its own free loopback
port, one worker), writes the same raw bytes to both over fresh TCP connections, and compares what comes
back: status line, header names, values and order, body bytes, and whether the connection is closed (EOF),
reset, or still open after an idle timeout. Only what legitimately differs between two runs is normalised:
the Date value, the random multipart boundary, the port, and the numbers on the metrics page (its shape is
kept). Access-log lines (option sets "status" and "proxy") are compared as sorted multisets with times and
durations removed, because the cases run concurrently.

    python3 benches/blackbox /tmp/staticd-baseline-debug target/debug/staticd
    python3 benches/blackbox A B --keep /tmp/bb     # keep fixture, logs and per-case transcripts
    python3 benches/blackbox A A --self-test        # perturbs one AFTER answer: must report 1 difference
    python3 benches/blackbox A A --after-args='--cache-control x'   # a real behavioural difference

Other options: --sets default,limits (subset of option sets), --cases REGEX (subset of cases), -j N
(concurrent connections), --idle S (read-idle timeout that decides "still open"), -v (print every diff in
full even when long). Exit code: 0 all identical, 1 some differ, 2 setup error (binary missing, server did
not start, fixture could not be built). Python 3.11 standard library only; run as root like production
(the workers chroot into the fixture and run as nobody), or as any user (no chroot then).

`python3 benches/blackbox ...` (this folder, run through __main__.py), `python3 benches/blackbox.py ...` (a
shim that runs it) and, from benches/, `python3 -m blackbox ...` are the same command. One concern a file:

    cli.py         argument parsing and the run over the option sets; the exit code
    run.py         one option set: both servers, prefetch, every case on both, transcripts, --keep files
    server.py      starting and stopping a binary, reading its port; the option sets
    fixture.py     the document root both binaries serve
    case.py        what a case is; R() and the other helpers for writing one
    cases.py       the battery: the area files below, in order, with unique names
    cases_paths.py, cases_syntax.py, cases_framing.py, cases_files.py, cases_proxy.py   the cases, by area
    wire.py        one case on a fresh connection; splitting what came back into responses
    normalise.py   responses and access logs as comparable text
    report.py      the per-set lines, the summary and the diffs
    errors.py      SetupError (exit code 2)
"""
