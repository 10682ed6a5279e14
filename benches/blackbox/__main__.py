"""Entry point, so the folder runs as a command: `python3 benches/blackbox BIN_BEFORE BIN_AFTER ...` (or, from
benches/, `python3 -m blackbox ...`). The command itself is cli.main(); the manual is in __init__.py.
"""

import os
import sys

if __package__:
    from .cli import main
else:
    # Run as a folder, this file is a plain script with the folder as sys.path[0]: import the folder as the
    # package `blackbox` from its parent instead (a package wins over the shim benches/blackbox.py).
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from blackbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
