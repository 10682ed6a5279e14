"""The case battery: the area files' cases, assembled in a fixed order, with unique names.

The order (and so --list and the transcript numbering) is the order of AREAS; each area file appends its cases
to case.CASES when its add() runs.
"""

from . import cases_files, cases_framing, cases_paths, cases_proxy, cases_syntax
from .case import CASES
from .errors import SetupError

AREAS = [cases_paths, cases_syntax, cases_framing, cases_files, cases_proxy]


def build_cases():
    for area in AREAS:
        area.add()

    names = [c.name for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SetupError("duplicate case names: %s" % sorted(dup))
