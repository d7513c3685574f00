"""Input checks shared by the benchmark scripts: bad input is refused with one line, before any work."""
from __future__ import annotations

import sys
from pathlib import Path


def checked_output(checks, out) -> Path | None:
    """The output folder ``out`` (``--out``) checked by ``scsc_theory._validate.check_output_dir``, after
    ``checks``, (ok, message) pairs: the first failing one, or a bad folder, is printed as ``error: ...``
    on stderr and None returned (the script then exits 2)."""
    from scsc_theory._validate import SCSCInputError, check_output_dir

    for ok, message in checks:
        if not ok:
            print(f"error: {message}", file=sys.stderr)
            return None
    try:
        return check_output_dir("--out", out)
    except SCSCInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return None


def comma_floats(text: str) -> list:
    """The numbers of a comma list; [nan] where one is not a number (so a positivity check refuses it)."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        return [float("nan")]
