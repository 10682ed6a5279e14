"""The one exception that means "the comparison could not be set up" (exit code 2), not "the binaries differ".

Raised where setup fails (a server that does not start, duplicate case names) and caught in cli.py.
"""


class SetupError(Exception):
    pass
