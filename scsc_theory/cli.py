"""The ``scsc`` command line.

Each sub-command lives in ``scsc_theory/commands/<name>.py`` and exposes
``register(subparsers)``; one that also exposes ``quick(out_dir) -> list[Path]`` takes part in
``scsc reproduce --quick``. Command modules import JAX lazily so that ``scsc --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from ._validate import SCSCInputError

#: Order in which sub-commands are listed and quick reproductions run.
COMMANDS = ("toy", "constants", "checks", "sweep", "conjecture", "motion", "digits", "reproduce")


def command_modules():
    """Yield (name, module) for every sub-command module that exists in this install."""
    for name in COMMANDS:
        modname = f"scsc_theory.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        yield name, importlib.import_module(modname)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scsc",
        description="Self-correcting self-consuming loops (Gillman et al., ICML 2024), executable.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for _, mod in command_modules():
        mod.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except SCSCInputError as err:
        print(f"scsc {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
