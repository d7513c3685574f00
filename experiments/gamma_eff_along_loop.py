"""gamma_eff of the physics corrector where the loop actually is: on the selfcorrect arm's own samples.

    python experiments/gamma_eff_along_loop.py [--every 5] [--window 10,50] [--out runs/gamma_eff_loop]
                                               [--results figures/gamma_eff_loop] [--overwrite]

The generation-0 measurement (``benchmarks/corrector_operator.py``) places the corrector where the model
starts, within the distance's noise of the data. This script runs the motion experiment's selfcorrect arm
(n = 64, lambda = 1, 50 generations, seeds 0-2, cpu preset: the same computation as that arm of
``experiments/motion_loop.py``, resumable in ``--out``), keeps the raw samples of every ``--every``-th
generation (the samples the corrector is applied to in the next generation), and measures, per kept
generation and pooled over the ``--window`` generations:

    gamma_eff(raw_g, corrected_g, target)   (scsc_theory.effective_gamma, energy distance, 90% bootstrap)

with corrected_g = the corrector as the loop applies it (``physics.correct`` at the arm's strength, then
``motion.loop.guard_correction``), target = held-out true clips (test split, seed 32, as the generation-0
measurement), in the loop evaluator's feature space. Writes ``gamma_eff_loop.json`` (with code provenance)
``gamma_eff_loop.md`` and ``gamma_eff_loop.png`` to ``--results`` (``--report-only`` redraws the figure);
refuses to overwrite them unless ``--overwrite``. The pooled
value is the gamma at which ``experiments/motion_loop.py --arms ideal --gamma G`` tests the prediction
(the ``gamma-eff-prediction-motion-loop`` row of paper_checks.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ARM = "selfcorrect"


def plot_along_loop(doc: dict, path, title: str):
    """gamma_eff per kept generation with its 90% interval (clipped to the axis), the pooled value as a band."""
    import matplotlib.pyplot as plt

    from scsc_theory.io import save_figure

    rows, pool = doc["per_generation"], doc["pooled"]
    g = np.array([r["generation"] for r in rows], float)
    ge = np.array([r["gamma_eff"] for r in rows], float)
    lo = np.array([r["gamma_lo"] for r in rows], float)
    hi = np.array([r["gamma_hi"] for r in rows], float)
    finite = np.concatenate([x[np.isfinite(x)] for x in (ge, lo, hi)] + [np.array([0.0, 1.0])])
    top, bottom = min(float(finite.max()), 3.0), max(float(finite.min()), -1.0)
    c = lambda x: np.clip(np.where(np.isfinite(x), x, np.sign(x) * np.inf), bottom, top)  # noqa: E731
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    # a percentile-bootstrap interval need not contain its point estimate (and clipping to the axis can
    # put one outside it): the interval is drawn as a segment, the estimate as a point
    ax.vlines(g, c(lo), c(hi), color="C0", lw=1.5)
    ax.plot(g, c(ge), "o", color="C0", label="per generation (90% interval)")
    gens = pool.get("generations") or [g.min(), g.max()]
    ax.fill_between([gens[0], gens[-1]], c(np.array(pool["gamma_lo"])), c(np.array(pool["gamma_hi"])), alpha=0.25,
                    color="C1", label=f"pooled {gens[0]}-{gens[-1]}: {pool['gamma_eff']:.3g}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(xlabel="generation of the selfcorrect arm", ylabel="gamma_eff", ylim=(bottom - 0.05, top + 0.05), title=title)
    ax.legend(fontsize=8)
    bx.plot(g, [r["e_rt"] for r in rows], "o-", label="E(raw, target)")
    bx.plot(g, [r["residual"] * r["e_rt"] for r in rows], "s--", label="residual x E(raw, target)")
    bx.set(xlabel="generation", ylabel="energy distance", title="how far the samples drifted")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def recording_loop(loop, snap_dir: Path, keep):
    """A driver of ``loop``'s class with its callables whose ``on_samples`` hook also writes the selfcorrect
    arm's (and the shared generation 0's) samples of the generations in ``keep`` to ``snap_dir`` (atomically)."""
    from scsc_theory.io import write_npz

    class Recording(type(loop)):
        def on_samples(self, out, samples, labels, seed, g, arm):
            super().on_samples(out, samples, labels, seed, g, arm)
            if g in keep and arm in (None, ARM):
                write_npz(snap_dir / f"seed{seed}_g{g}.npz", samples=np.asarray(samples, np.float32),
                          labels=np.asarray(labels, np.int32))

    rec = Recording(loop.cfg, real_fn=loop.real_fn, init_fn=loop.init_fn, train_fn=loop.train_fn,
                    sample_fn=loop.sample_fn, correct_fn=loop.correct_fn, ideal_fn=loop.ideal_fn, eval_fn=loop.eval_fn)
    rec.__dict__.update({k: v for k, v in vars(loop).items() if k not in vars(rec)})  # e.g. the digits loop's per_class
    return rec


def gamma_eff_row(f_raw, f_cor, f_tgt, *, key, **extra) -> dict:
    """gamma_eff (scsc_theory.effective_gamma, 200 bootstrap draws, 90%) of one (raw, corrected) feature set
    against the target, as a JSON-ready dict with ``extra`` added; printed in one line."""
    from scsc_theory.effective_gamma import effective_gamma, summary

    r = summary(effective_gamma(f_raw, f_cor, f_tgt, key=key, n_boot=200))
    r.update(extra)
    print(f"{extra}: gamma_eff {r['gamma_eff']:.6g} [{r['gamma_lo']:.3g}, {r['gamma_hi']:.3g}] residual "
          f"{r['residual']:.3g}, raw-target energy {r['e_rt']:.3g}", flush=True)
    return r


def parse_window(text: str):
    """(first, last) generation of the pooled estimate from "A,B", or None (after printing the error)."""
    try:
        lo_w, hi_w = (int(x) for x in text.split(","))
    except ValueError:
        print(f"error: --window must be two comma-separated generations (got {text!r})", file=sys.stderr)
        return None
    return lo_w, hi_w


def output_paths(results, out, overwrite: bool):
    """(results dir, run dir, results json, results md), the folders validated before any work, or None (after printing the error) where one
    is not a usable folder or a results file exists and ``overwrite`` is off."""
    from scsc_theory._validate import SCSCInputError, check_output_dir

    try:
        res_dir, run_dir = check_output_dir("--results", results), check_output_dir("--out", out)
    except SCSCInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    for name in ("gamma_eff_loop.json", "gamma_eff_loop.md", "gamma_eff_loop.png"):
        if (res_dir / name).exists() and not overwrite:
            print(f"error: {res_dir / name} exists; pass --overwrite to replace it", file=sys.stderr)
            return None
    return res_dir, run_dir, res_dir / "gamma_eff_loop.json", res_dir / "gamma_eff_loop.md"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=5, help="keep the samples of every k-th generation (default 5)")
    ap.add_argument("--window", default="10,50", help="first,last generation of the pooled estimate (default 10,50)")
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-target", type=int, default=192, help="held-out true clips of the target (default 192)")
    ap.add_argument("--out", default="runs/gamma_eff_loop", help="loop run folder (checkpoints, snapshots)")
    ap.add_argument("--results", default="figures/gamma_eff_loop")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="redraw the figure from the existing results")
    a = ap.parse_args(argv)
    if a.report_only:
        import json

        doc = json.loads((Path(a.results) / "gamma_eff_loop.json").read_text())
        print("wrote", plot_along_loop(doc, Path(a.results) / "gamma_eff_loop.png", "physics corrector along the motion loop"))
        return 0
    window = parse_window(a.window)
    if window is None:
        return 2
    lo_w, hi_w = window
    if a.every < 1 or a.seeds < 1 or a.n_target < 16 or not 0 <= lo_w <= hi_w <= a.generations:
        print("error: --every >= 1, --seeds >= 1, --n-target >= 16 and 0 <= window <= --generations required",
              file=sys.stderr)
        return 2
    paths = output_paths(a.results, a.out, a.overwrite)
    if paths is None:
        return 2
    res_dir, run_dir, res_json, res_md = paths

    import jax

    from scsc_theory.io import provenance, write_json, write_text
    from scsc_theory.motion import data, physics
    from scsc_theory.motion.loop import MotionLoopSettings, build, check_resume_code, guard_correction

    prov = provenance(["motion", "effective_gamma"])  # before any work: the code that computes the numbers
    settings = MotionLoopSettings(n=64, lam=1.0, arms=(ARM,), generations=a.generations, seeds=tuple(range(a.seeds)))
    ctx, loop = build(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_resume_code(run_dir, prov)
    keep = set(range(0, a.generations + 1, a.every)) | {lo_w, hi_w}
    snaps = run_dir / "samples"
    recording_loop(loop, snaps, keep).run(run_dir)

    target = data.generate(a.n_target, seed=32, split="test").qpos.astype(np.float64)
    f_tgt = ctx.evaluator.features(ctx.from_qpos(target))
    per_gen, pooled = {}, {"raw": [], "cor": []}
    for g in sorted(keep):
        raw = np.concatenate([np.load(snaps / f"seed{s}_g{g}.npz")["samples"] for s in settings.seeds])
        corr = physics.correct(ctx.to_qpos(raw), backend=settings.backend, strength=settings.strength, fps=ctx.fps)
        guarded, kept_raw = guard_correction(raw, ctx.from_qpos(corr.qpos), corr, ctx.z_max)
        f_raw, f_cor = ctx.evaluator.features(raw), ctx.evaluator.features(guarded)
        r = gamma_eff_row(f_raw, f_cor, f_tgt, key=jax.random.PRNGKey(1000 + g), generation=g, clips=int(len(raw)),
                          applied=float(np.mean(~kept_raw)), fallback=float(np.mean(corr.fallback)),
                          simulated=float(np.mean(corr.corrected)))
        per_gen[g] = r
        if lo_w <= g <= hi_w:
            pooled["raw"].append(f_raw)
            pooled["cor"].append(f_cor)
    gens = [g for g in sorted(keep) if lo_w <= g <= hi_w]
    pool = gamma_eff_row(np.concatenate(pooled["raw"]), np.concatenate(pooled["cor"]), f_tgt, key=jax.random.PRNGKey(7),
                         generations=gens, clips=int(sum(len(x) for x in pooled["raw"])))
    doc = {"experiment": "gamma_eff_along_loop",
           "settings": {"arm": ARM, "n": settings.n, "lam": settings.lam, "seeds": list(settings.seeds),
                        "generations": settings.generations, "strength": settings.strength,
                        "preset": settings.preset, "every": a.every, "window": [lo_w, hi_w],
                        "raw": "the selfcorrect arm's samples at each kept generation (all seeds pooled)",
                        "corrected": "physics.correct + guard_correction, as the loop applies it",
                        "target": f"{a.n_target} held-out true clips (test split, seed 32)",
                        "features": "motion evaluator features"},
           "per_generation": [per_gen[g] for g in sorted(per_gen)], "pooled": pool, "provenance": prov}
    write_json(res_json, doc)
    plot_along_loop(doc, res_dir / "gamma_eff_loop.png", "physics corrector along the motion loop")
    lines = ["| generation | gamma_eff [90%] | residual | raw-target energy | applied | fallback |", "|---|---|---|---|---|---|"]
    for g in sorted(per_gen):
        r = per_gen[g]
        lines.append(f"| {g} | {r['gamma_eff']:.3g} [{r['gamma_lo']:.3g}, {r['gamma_hi']:.3g}] | {r['residual']:.3g} | "
                     f"{r['e_rt']:.3g} | {r['applied']:.2f} | {r['fallback']:.2f} |")
    lines.append(f"| pooled {lo_w}-{hi_w} | {pool['gamma_eff']:.3g} [{pool['gamma_lo']:.3g}, {pool['gamma_hi']:.3g}] | "
                 f"{pool['residual']:.3g} | {pool['e_rt']:.3g} | | |")
    write_text(res_md, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print("wrote", res_json, res_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
