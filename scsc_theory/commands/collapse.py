"""``scsc collapse``: every named workflow side by side, with the exact curves (see :mod:`scsc_theory.collapse`)."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "collapse",
        help="compare the literature's workflows (replace, fixed, accumulate-all, accumulate-subsample, toy-schedule)",
        description="Run every workflow for several lambdas and gammas (ideal pi_gamma correction) and seeds; "
                    "write summary.json, curves.npz and collapse_<family>.png with the exact curves.",
    )
    p.add_argument("--family", default="linreg", help="linreg (d=4, T=12, lambda=1) | gaussian (N(0, I_2), n=20)")
    p.add_argument("--gamma", default="0,0.5,2", help="comma list of correction strengths >= 0")
    p.add_argument("--lam", default="0.5,1", help="comma list of lambdas >= 0 (gaussian; linreg uses lambda=1)")
    p.add_argument("--seeds", type=int, default=64, help="seeds (default 64)")
    p.add_argument("--generations", type=int, default=30, help="generations (default 30)")
    p.add_argument("--out", default=None, help="results folder (default runs/collapse_<family>)")
    p.add_argument("--figures", default=None, help="folder for collapse_<family>.png (default: the --out folder)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .._validate import (SCSCInputError, check_choice, check_int, check_nonneg_list, check_output_dir,
                             check_output_file, parse_float_list)

    check_choice("family", args.family, ("linreg", "gaussian"))
    gammas = check_nonneg_list("gamma", parse_float_list("gamma", args.gamma))
    lams = check_nonneg_list("lam", parse_float_list("lam", args.lam))
    if args.family == "gaussian" and min(lams) * 20 < 2:
        raise SCSCInputError(f"--lam must be >= 0.1 for the gaussian family (replace needs floor(lam*20) >= 2 points; got {min(lams)})")
    check_int("seeds", args.seeds, 1, 4096)
    check_int("generations", args.generations, 1, 2000)
    out = check_output_dir("--out", Path(args.out or f"runs/collapse_{args.family}"))
    figdir = check_output_dir("--figures", Path(args.figures) if args.figures else out)
    fig = figdir / f"collapse_{args.family}.png"
    for f in (out / "summary.json", out / "curves.npz", fig):
        check_output_file("--out", f)
    from ..collapse import run_collapse, write_collapse

    res = run_collapse(args.family, gammas=gammas, lams=lams, seeds=args.seeds, generations=args.generations)
    for f in write_collapse(res, out, fig):
        print(f"wrote {f}")
    return 0
