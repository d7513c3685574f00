"""``scsc toy``: the paper's toy experiment (see :mod:`scsc_theory.toy`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .workflow_args import add_workflow_args


def register(sub) -> None:
    p = sub.add_parser(
        "toy",
        help="the paper's toy experiment: one Gaussian refitted on real + corrected synthetic data",
        description="Run all gammas x seeds as one jit-compiled sweep and write summary.json, curves.npz and a figure.",
    )
    add_workflow_args(p, default="accumulate", note=" (the toy-schedule alias, which keeps the figure name toy_w2_accumulate.png)")
    p.add_argument("--sampling", default="finite", help="finite | population (exact infinite-sample map) | stats "
                   "(exact sufficient-statistic draws: fixed mode, ideal/stratified corrector)")
    p.add_argument("--prng", default="threefry2x32",
                   help="jax.random implementation: threefry2x32 (default, reproducible) | philox4x32 (faster on CPU) | rbg | unsafe_rbg")
    p.add_argument("--seeds", type=int, default=32, help="number of seeds (default 32)")
    p.add_argument("--generations", type=int, default=500, help="generations (default 500)")
    p.add_argument("--lam", type=float, default=0.5, help="augmentation percentage lambda >= 0 (default 0.5)")
    p.add_argument("--gamma", default="0,0.01,0.03,0.1,0.3,1,2,5", help="comma list of correction strengths >= 0")
    p.add_argument("--n", type=int, default=50, help="real points (default 50)")
    p.add_argument("--dim", type=int, default=2, help="dimension (default 2)")
    p.add_argument("--data", default="normal", help="normal | laplace | student-t | mixture (default normal)")
    p.add_argument("--corrector", default="ideal", help="ideal | stratified | histogram | ot (clean) | "
                   "pointwise | whitening (the paper scripts' own, quirks included; see README) (default ideal)")
    p.add_argument("--out", default=None, help="results folder (default runs/toy_<mode>)")
    p.add_argument("--figures", default=None, help="folder for toy_w2_<mode>.png (default: the --out folder; "
                   "`--figures figures` replaces the committed figures)")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON on stdout")
    p.set_defaults(func=run)


def _validate(args):
    from .._validate import (check_choice, check_int, check_nonneg, check_nonneg_list, check_output_dir,
                             check_output_file, parse_float_list)
    from ..correction import CORRECTORS
    from ..data import DATA_LAWS
    from ..loop import MODES, PRNGS, SAMPLINGS
    from ..toy import check_toy_size

    from ..workflows import check_combination

    check_choice("mode", args.mode, MODES)
    check_choice("sampling", args.sampling, SAMPLINGS)
    check_choice("prng", args.prng, PRNGS)
    if args.sampling == "stats" and (args.mode not in ("fixed", "replace") or args.corrector not in ("ideal", "stratified")):
        from .._validate import SCSCInputError

        raise SCSCInputError(f"--sampling stats needs --mode fixed|replace and --corrector ideal|stratified "
                             f"(got --mode {args.mode}, --corrector {args.corrector})")
    check_combination(args.mode, sampling=args.sampling, subsample=args.subsample)
    if args.subsample is not None:
        check_int("subsample", args.subsample, 1)
    check_choice("corrector", args.corrector, CORRECTORS)
    check_choice("data", args.data, DATA_LAWS)
    check_int("seeds", args.seeds, 1)
    check_int("generations", args.generations, 1)
    check_int("n", args.n, 2)
    check_int("dim", args.dim, 1)
    check_nonneg("lam", args.lam)
    gammas = check_nonneg_list("gamma", parse_float_list("gamma", args.gamma))
    check_toy_size(lam=args.lam, n=args.n, dim=args.dim, configs=len(gammas) * args.seeds,
                   generations=args.generations, mode=args.mode)
    out = check_output_dir("--out", Path(args.out or f"runs/toy_{args.mode}"))
    check_output_dir("--figures", Path(args.figures) if args.figures else out)
    fig = (Path(args.figures) if args.figures else out) / f"toy_w2_{args.mode}{_suffix(args)}.png"
    check_output_file("--figures", fig)
    for name in ("summary.json", "curves.npz"):
        check_output_file("--out", out / name)
    return gammas, out, fig


def _suffix(args) -> str:
    return "" if (args.corrector == "ideal" and args.sampling == "finite" and args.data == "normal") else \
        f"_{args.sampling}_{args.corrector}_{args.data}"


def run(args) -> int:
    gammas, out, fig = _validate(args)  # before importing or compiling anything heavy
    from ..toy import run_toy, write_toy

    run_ = run_toy(
        mode=args.mode, lam=args.lam, gammas=gammas, n=args.n, dim=args.dim, generations=args.generations,
        seeds=args.seeds, corrector=args.corrector, sampling=args.sampling, data=args.data,
        progress=sys.stderr.isatty(), prng=args.prng, subsample=args.subsample,
    )
    files = write_toy(run_, out, fig)
    s = run_.summary
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"toy ({s['mode']}, {s['sampling']}, corrector={s['corrector']}, prng={s['prng']}): {s['seeds']} seeds x "
              f"{len(s['gamma'])} gammas x {s['generations']} generations in {s['elapsed_s']:.1f} s")
        print(f"{'gamma':>8} {'final W2 mean':>14} {'std':>8} {'diverged':>8}")
        for g, m, sd, d in zip(s["gamma"], s["final_w2_mean"], s["final_w2_std"], s["diverged"]):
            ms = "nan" if m is None else f"{m:.4f}"
            ss = "nan" if sd is None else f"{sd:.4f}"
            print(f"{g:>8g} {ms:>14} {ss:>8} {d:>8}")
        for f in files:
            print(f"wrote {f}")
    return 0


def quick(out_dir: Path) -> list[Path]:
    """Both modes, 8 seeds, 200 generations (a few seconds each)."""
    from ..toy import run_toy, write_toy

    files: list[Path] = []
    for mode in ("accumulate", "fixed"):
        r = run_toy(mode=mode, seeds=8, generations=200)
        files += write_toy(r, Path(out_dir) / mode)
    return files
