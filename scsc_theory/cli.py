"""The ``scsc`` command line.

Each sub-command lives in ``scsc_theory/commands/<name>.py`` and exposes
``register(subparsers)``; one that also exposes ``quick(out_dir) -> list[Path]`` takes part in
``scsc reproduce --quick``. Command modules import JAX lazily so that ``scsc --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import sys

from ._validate import SCSCInputError

#: Order in which sub-commands are listed and quick reproductions run.
COMMANDS = ("toy", "collapse", "constants", "checks", "sweep", "conjecture", "motion", "digits", "reproduce")


def command_modules():
    """Yield (name, module) for every sub-command module that exists in this install."""
    for name in COMMANDS:
        modname = f"scsc_theory.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        yield name, importlib.import_module(modname)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block); sub-command parsers inherit it."""

    def error(self, message):  # pragma: no cover - exercised through main()
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: a value that starts with a minus sign followed by a digit or a dot ("-1:1:3", "-0.5,1", "-1e9")
_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d)")


def _join_negative_values(argv):
    """``--gamma -1:1:3`` -> ``--gamma=-1:1:3`` so that argparse passes a leading-minus value to the
    command's own validation (which names the parameter and its range) instead of reading it as an option."""
    out = []
    for tok in argv:
        if out and _NEGATIVE_VALUE.match(tok) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scsc",
        description="Self-correcting self-consuming loops (Gillman et al., ICML 2024), executable.",
    )
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="do not keep compiled XLA programs between runs (default: kept in the package cache "
                             "folder, so a repeated command skips compilation; numbers are identical either way)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for _, mod in command_modules():
        mod.register(sub)
    return parser


def _choose_backends() -> None:
    """The process's library backends, chosen once here rather than inside library functions: a
    non-interactive matplotlib backend (figures go to files), and POT without its optional array
    backends (it probes every installed one on import; the theory passes it NumPy arrays only).
    Values already set in the environment win."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    for backend in ("PYTORCH", "TENSORFLOW", "CUPY", "JAX"):
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")


def main(argv=None, *, compile_cache: bool = False) -> int:
    """Run one ``scsc`` command; returns its exit status. ``compile_cache``: turn on JAX's persistent
    compilation cache (:func:`scsc_theory.io.enable_compile_cache`) unless ``--no-compile-cache`` is
    given; the console command :func:`run` does, a call from Python (tests, notebooks) does not
    unless asked, so it never changes a running process's JAX settings behind its back."""
    _choose_backends()
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    if compile_cache and not args.no_compile_cache:
        from .io import enable_compile_cache

        try:
            enable_compile_cache()
        except OSError as err:  # an unwritable cache folder only costs time
            print(f"scsc: warning: compile cache off ({err.strerror or err})", file=sys.stderr)
    try:
        rc = args.func(args)
    except SCSCInputError as err:
        print(f"scsc {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # writing results: a one-line message, never a traceback
        where = f": {err.filename}" if getattr(err, "filename", None) else ""
        print(f"scsc {args.command}: error: cannot write results ({err.strerror or err}{where})", file=sys.stderr)
        return 1
    return int(rc or 0)


def run() -> int:
    """The ``scsc`` console command: :func:`main` with the persistent compilation cache."""
    return main(compile_cache=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
