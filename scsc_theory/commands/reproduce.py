"""``scsc reproduce [--quick]``: run a version of every experiment the package has.

Every command module that defines ``quick(out_dir: Path) -> list[Path]`` (and, optionally,
``full(out_dir) -> list[Path]``) takes part, in the order of :data:`scsc_theory.cli.COMMANDS`.
"""
from __future__ import annotations

import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="run every experiment (small with --quick) and list the files written")
    p.add_argument("--quick", action="store_true", help="small versions of every experiment (minutes on 2 CPU cores)")
    p.add_argument("--out", default="runs/reproduce", help="folder for results (default: runs/reproduce)")
    p.add_argument("--only", default=None, help="comma list of experiments to run (default: all)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cli import command_modules

    from .._validate import SCSCInputError, check_output_dir

    out = check_output_dir("--out", args.out)
    only = None if args.only is None else {s.strip() for s in args.only.split(",") if s.strip()}
    known = {name for name, _ in command_modules() if name != "reproduce"}
    if only is not None and (not only or not only <= known):
        raise SCSCInputError(f"--only must be a comma list of {', '.join(sorted(known))} (got {args.only!r})")
    written: list[Path] = []
    t_all = time.perf_counter()
    for name, mod in command_modules():
        if name == "reproduce" or (only is not None and name not in only):
            continue
        fn = getattr(mod, "quick" if args.quick else "full", None) or getattr(mod, "quick", None)
        if fn is None:
            continue
        t0 = time.perf_counter()
        print(f"[reproduce] {name} ...", flush=True)
        files = fn(out / name)
        dt = time.perf_counter() - t0
        for f in files:
            print(f"  wrote {f}")
        print(f"[reproduce] {name} done in {dt:.1f} s", flush=True)
        written.extend(files)
    print(f"[reproduce] {len(written)} files in {time.perf_counter() - t_all:.1f} s")
    return 0
