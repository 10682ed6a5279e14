"""Starting and stopping one binary under test: its command line for an option set, its environment, reading
its port from the "serving" line on stderr, and SIGTERM at the end. Also the option sets themselves.
"""

import os
import re
import signal
import subprocess
import threading

from .errors import SetupError

START_TIMEOUT = 15.0  # seconds for a server to print its "serving" line

OPTION_SETS = [
    ("default", [], False),
    ("status", ["--status-path", "/-/metrics", "--trusted-proxy", "127.0.0.1/32", "--access-log", "{log}"],
     False),
    ("proxy", ["--proxy-protocol", "--status-path", "/-/metrics", "--access-log", "{log}", "--log-format", "json"],
     True),
    ("site", ["--dotfiles", "--no-symlinks", "--no-precompressed", "--index", "default.htm,index.html",
              "--cache-control", "max-age=60"], False),
    ("keepalive2", ["--keepalive-requests", "2"], False),
    ("limits", ["--max-header-bytes", "1024", "--max-body-bytes", "100"], False),
]


class Server:
    def __init__(self, label, binary, args, root, log_path):
        self.label = label
        self.log_path = log_path
        argv = [binary, "-l", "127.0.0.1:0", "-w", "1"] + [a.replace("{log}", log_path or "") for a in args]
        argv.append(root)
        self.argv = argv
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "LISTEN_PID", "LISTEN_FDS",
                                                               "NOTIFY_SOCKET", "RUST_BACKTRACE")}
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, env=env)
        except OSError as e:
            raise SetupError("%s: cannot start %s: %s" % (label, binary, e))
        self.stderr = []
        self.port = None
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self.ready.wait(START_TIMEOUT) or self.port is None:
            try:
                status = self.proc.wait(2)
            except subprocess.TimeoutExpired:
                status = None
            why = "exited with status %s" % status if status is not None else "no 'serving' line within %ss" % (
                START_TIMEOUT)
            self.kill()
            raise SetupError("%s: %s: %s; stderr:\n%s" % (label, " ".join(argv), why, "".join(self.stderr)))

    def _pump(self):
        for line in iter(self.proc.stderr.readline, b""):
            text = line.decode("utf-8", "replace")
            self.stderr.append(text)
            m = re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/", text)
            if m and self.port is None:
                self.port = int(m.group(1))
                self.ready.set()
        self.ready.set()

    def stop(self):
        """SIGTERM (buffered log lines are still written), then wait. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed after 10 s"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
