"""Kept so `python3 benches/blackbox.py BIN_BEFORE BIN_AFTER ...` still works: runs the package benches/blackbox/."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blackbox.cli import main  # the folder benches/blackbox/: a package wins over this same-named file
sys.exit(main())
