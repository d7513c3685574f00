"""``scsc sweep``: a (lambda, gamma) phase diagram for one family, sharded, resumable.

    scsc sweep --family gaussian|gmm|flow --data normal|laplace|student-t|mixture \\
               --lam A:B:N --gamma A:B:N --seeds S --generations T --out DIR [--figure PNG]
               [--mode fixed|replace|accumulate-all|accumulate-subsample|toy-schedule [--subsample K]]

writes DIR/results.npz + DIR/index.json (dims lam, gamma, seed, generation), DIR/summary.json and
the phase-diagram figure (default DIR/phase.png). Rerunning the same command after a kill
continues from DIR/checkpoint.npz. Multi-host: add --coordinator HOST:PORT --num-processes P
--process-id I on every process (see :mod:`scsc_theory.distributed`).
"""
from __future__ import annotations

import json
from pathlib import Path

from .workflow_args import add_workflow_args


def add_common(p) -> None:
    """Arguments shared by ``scsc sweep`` and ``scsc conjecture``."""
    p.add_argument("--family", required=True, help="gaussian | gmm | flow")
    p.add_argument("--data", default=None, help="data law: normal | laplace | student-t | mixture "
                   "(default: normal for gaussian, mixture for gmm and flow)")
    p.add_argument("--dim", type=int, default=2, help="dimension (the flow is 2-D)")
    p.add_argument("--n", type=int, default=50, help="real points per seed (default 50)")
    p.add_argument("--corrector", default="ideal", help="ideal | stratified | histogram | ot")
    p.add_argument("--k", type=int, default=2, help="GMM components K (default 2)")
    p.add_argument("--covariance", default="full", help="GMM covariance: full | diag")
    p.add_argument("--em-steps", type=int, default=10, help="GMM EM steps per generation (default 10)")
    p.add_argument("--flow-steps", type=int, default=10, help="flow Adam steps per generation (default 10)")
    p.add_argument("--flow-hidden", type=int, default=20, help="flow coupling MLP width (default 20)")
    p.add_argument("--flow-star-steps", type=int, default=2000, help="Adam steps of the long-run theta* fit (default 2000)")
    p.add_argument("--C", type=float, default=None, help="use this C (finite, >= 1) for the theoretical boundary "
                   "instead of computing it")
    p.add_argument("--overwrite", action="store_true",
                   help="replace finished results of a DIFFERENT grid in --out (refused otherwise)")
    p.add_argument("--coordinator", default=None, help="jax.distributed coordinator HOST:PORT (multi-process runs)")
    p.add_argument("--num-processes", type=int, default=None, help="number of processes (with --coordinator)")
    p.add_argument("--process-id", type=int, default=None, help="this process's id (with --coordinator)")


def register(sub) -> None:
    p = sub.add_parser("sweep", help="(lambda, gamma) phase diagram: sharded, resumable grid of SCSC loops")
    add_common(p)
    p.add_argument("--lam", required=True, help="lambda grid A:B:N (or a comma list)")
    p.add_argument("--gamma", required=True, help="gamma grid A:B:N (or a comma list)")
    p.add_argument("--seeds", default="4", help="number of seeds S (or a comma list), default 4")
    p.add_argument("--generations", type=int, default=100, help="generations T (default 100)")
    p.add_argument("--chunk", type=int, default=None, help="generations per checkpoint (default T/10)")
    p.add_argument("--perturb", type=float, default=None, help="size of the perturbation whose decay gives r")
    p.add_argument("--t-fit", type=int, default=8, help="generations used to fit r (default 8)")
    add_workflow_args(p, default="fixed", note=" (the setting of the boundary drawn)")
    p.add_argument("--err-threshold", type=float, default=None,
                   help="final-distance threshold for the empirical error boundary (default 2x the mean at the smallest lambda)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--figure", default=None, help="figure path (default OUT/phase.png)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint/results in OUT")
    p.add_argument("--progress", action="store_true")
    p.set_defaults(func=run)


def default_data(family: str) -> str:
    return "normal" if family == "gaussian" else "mixture"


def build(args):
    """Validate everything on the host (no compilation) and return (family, data_law)."""
    from .._validate import SCSCInputError, check_choice, check_finite_number
    from ..data import make_data_law
    from ..sweep import FAMILIES, make_family

    check_choice("family", args.family, FAMILIES)
    if args.C is not None:
        C = check_finite_number("--C", args.C)
        if C < 1:
            raise SCSCInputError(f"--C must be >= 1 (C = 1 + eps L / alpha; got {args.C!r})")

    data = args.data or default_data(args.family)
    law = make_data_law(data, args.dim)
    fam = make_family(args.family, args.dim, k=args.k, covariance=args.covariance, em_steps=args.em_steps,
                      flow_steps=args.flow_steps, flow_hidden=args.flow_hidden, flow_star_steps=args.flow_star_steps)
    fam.validate(law)
    return fam, law


def check_outputs(args) -> None:
    """--out (a folder) and --figure (a file), checked after every other argument, before any work."""
    from .._validate import check_output_dir, check_output_file

    check_output_dir("--out", args.out)
    if getattr(args, "figure", None):
        check_output_file("--figure", args.figure)


def constants_for(fam, law, out: Path, C_override=None, is_writer=True):
    """theory C (cached in OUT/constants.json)."""
    from ..io import write_json
    from ..sweep import theory_C

    if C_override is not None:
        return {"C": float(C_override), "note": "given on the command line"}
    f = out / "constants.json"
    key = f"{fam!r}|{law!r}"
    if f.exists():
        d = json.loads(f.read_text())
        if d.get("key") == key:
            return d
    d = theory_C(fam, law)
    d["key"] = key
    if is_writer:
        write_json(f, d)
    return d


def run(args) -> int:
    from .._validate import SCSCInputError, check_int, check_positive
    from ..sweep import SweepConfig, parse_seeds

    fam, law = build(args)
    T = check_int("generations", args.generations, 1)
    if args.err_threshold is not None:
        check_positive("--err-threshold", args.err_threshold)
    chunk = args.chunk if args.chunk is not None else max(1, T // 10)
    cfg = SweepConfig.build(fam, law, args.lam, args.gamma, parse_seeds(args.seeds), n=args.n, generations=T,
                            chunk=chunk, corrector=args.corrector, perturb=args.perturb, t_fit=args.t_fit,
                            mode=args.mode, subsample=args.subsample)
    if (args.coordinator is None) != (args.num_processes is None) or (args.coordinator is None) != (args.process_id is None):
        raise SCSCInputError("--coordinator, --num-processes and --process-id go together")
    check_outputs(args)
    if args.coordinator is not None:
        from ..distributed import initialize

        initialize(args.coordinator, args.num_processes, args.process_id)
    import jax

    from ..io import provenance, write_json
    from ..sweep import plot_phase, run_config

    out = Path(args.out)
    res = run_config(cfg, out_dir=out, resume=not args.fresh, progress=args.progress, overwrite=args.overwrite)
    if jax.process_index() != 0:
        return 0
    consts = constants_for(fam, law, out, args.C)
    fig = Path(args.figure) if args.figure else out / "phase.png"
    summ = plot_phase(res, fig, consts.get("C"), args.err_threshold, C_alt=consts.get("C_plugin"))
    summ["constants"] = consts
    summ["workflow"] = cfg.mode
    # Theorem 4.3 (and so rho/(1+gamma) and lambda_max) is proved for the fixed workflow only
    summ["bound_applies"] = cfg.mode == "fixed"
    summ["figure"] = str(fig)
    summ["theta_star_report"] = fam.theta_star_report(law)
    summ["provenance"] = provenance(["sweep"])
    write_json(out / "summary.json", summ)
    _print_summary(res, summ)
    return 0


def _print_summary(res, summ) -> None:
    a = res.attrs
    C = summ["C"]
    print(f"{a['family']} on {a['data']}: C = {'undefined' if C is None else f'{C:.4g}'}; results in {summ['figure']}")
    print(f"{'gamma':>7} {'lam_max(theory)':>16} {'lam: r>=1':>10} {'lam: err>=thr':>14}")
    for r in summ["rows"]:
        f = lambda v: "none" if v != v else f"{v:.3g}"  # noqa: E731
        print(f"{r['gamma']:7.3g} {r['lambda_max_theory']:16.3g} {f(r['lambda_contraction_boundary']):>10} "
              f"{f(r['lambda_error_boundary']):>14}")
    if "min_margin" in summ:
        print(f"admissible points {summ['admissible_points']}: all r < rho/(1+gamma): {summ['all_below_bound']}, "
              f"min margin {summ['min_margin']:.3g}, max r/bound {summ['max_ratio_measured_over_bound']:.3g}, "
              f"violations {summ['points_violating']} (diverged {summ['points_diverged']})")
    print(f"non-finite configurations: {summ['nonfinite_configs']} of {summ['total_configs']}")
    if not summ.get("bound_applies", True):
        print(f"workflow {summ['workflow']}: Theorem 4.3's rate and boundary are proved for the fixed workflow; "
              "here they are drawn for comparison only")


QUICK = {
    "gaussian": ("normal", "0.1:1.5:4", "0:2:3"),
    "gmm": ("mixture", "0.1:1.5:3", "0:2:2"),
    "flow": ("mixture", "0.2:1.4:2", "0:2:2"),
}


def quick(out_dir):
    """A small sweep per family (seconds each)."""
    from ..cli import main

    out_dir = Path(out_dir)
    files = []
    for fam, (data, lam, gamma) in QUICK.items():
        d = out_dir / fam
        gens = {"gaussian": "20", "gmm": "12", "flow": "8"}[fam]
        argv = ["sweep", "--family", fam, "--data", data, "--lam", lam, "--gamma", gamma, "--seeds", "2",
                "--generations", gens, "--out", str(d), "--chunk", gens,
                # these settings are well specified (Gaussian on N(0, I), K = 2 on the 2-mixture) or have an
                # undefined C (flow), so the boundary uses C = 1 without the minute-long constants computation
                "--C", "1"]
        if fam == "flow":
            argv += ["--flow-star-steps", "200", "--flow-steps", "5"]
        if fam == "gmm":
            argv += ["--em-steps", "5"]
        if main(argv) != 0:
            raise RuntimeError(f"quick sweep for {fam} failed")
        files += [d / "results.npz", d / "index.json", d / "phase.png"]
    return files
