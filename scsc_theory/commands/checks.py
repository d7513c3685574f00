"""``scsc checks``: run every check of the paper's claims and regenerate paper_checks.md.

Exits 1 if any check FAILs. paper_checks.md (at the repository root by default) is written only
here, from the registry in :mod:`scsc_theory.checks`.
"""
from __future__ import annotations


import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("checks", help="run every paper check and regenerate paper_checks.md")
    p.add_argument("--out", default=None, help="output file (default: paper_checks.md at the repository root)")
    p.add_argument("--quick", action="store_true", help="smaller sample sizes")
    p.add_argument("--list", action="store_true", help="list the check ids and exit")
    p.set_defaults(func=run)


def run_and_write(out, quick: bool = False, echo=print):
    from ..checks import render_markdown, run_checks
    from ..io import write_text

    def progress(r):
        echo(f"[{r.status:8s}] {r.id} ({r.seconds:.1f} s): {r.measured}", flush=True)

    results = run_checks(quick=quick, progress=progress)
    path = write_text(out, render_markdown(results, quick=quick))
    return results, path


def run(args) -> int:
    # no global jax_enable_x64 here: the theory checks enable float64 where they need it (context
    # managers), and other areas' checks run in their own default precision.
    from ..checks import FILENAME, registered_checks, repo_root

    if args.list:
        for ch in registered_checks():
            print(f"{ch.id}: {ch.claim}")
        return 0
    from .._validate import check_output_file

    out = check_output_file("--out", Path(args.out) if args.out else repo_root() / FILENAME)
    t0 = time.perf_counter()
    results, path = run_and_write(out, quick=args.quick)
    n_fail = sum(r.status == "FAIL" for r in results)
    print(f"wrote {path}: {len(results)} checks, {n_fail} failed, {time.perf_counter() - t0:.1f} s")
    return 1 if n_fail else 0


def quick(out_dir) -> list:
    """Run every check at quick sizes; the table goes to out_dir (the root file is left to `scsc checks`)."""
    from ..checks import FILENAME

    _, path = run_and_write(Path(out_dir) / FILENAME, quick=True, echo=lambda *a, **k: None)
    return [path]
