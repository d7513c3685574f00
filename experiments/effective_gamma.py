"""Measure the effective correction strength gamma_eff of every practical corrector and place it on the map.

    python experiments/effective_gamma.py [--stages toy,digits,motion] [--out figures/gamma_eff_results.json]
                                          [--figure figures/gamma_eff_map.png] [--overwrite] [--report-only]

Stages: ``toy`` (every corrector of scsc_theory.correction at nominal gamma 0.1, 0.5, 1, 2, 5 on batches of
m = floor(lambda * 50) points, for the paper's lambdas, raw law at the loop's scale; again at lambda = 0.5 on a
far raw law, where gamma_eff and the residual are resolved more sharply; then the loop prediction at lambda = 0.5: the loop
with each practical corrector vs the ideal loop at gamma_eff, fixed and accumulate modes), ``digits`` (k-means
correction on generation-0 samples and on degraded digits, in the evaluator's feature space), ``motion`` (the
physics corrector at strengths 0.25, 0.3, 0.5 and 1 on 120 degraded true clips, in the motion evaluator's features),
``fixedpoint`` (each toy corrector applied to p_theta* itself: the variance it leaves, 1 for pi_gamma; run as
``--stages fixedpoint --out figures/gamma_eff_fixedpoint.json --figure ''`` ). Writes the
results JSON (with code provenance), the figure, every table in <out stem>_table.md, and prints the README
tables (toy rows at nominal gamma 1). Refuses to overwrite an existing output unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

from scsc_theory._validate import SCSCInputError
from scsc_theory.correction import CORRECTORS
from scsc_theory.effective_gamma_report import PAPER_LAMS, plot_map, prediction_markdown, table_markdown
from scsc_theory.io import provenance, write_json, write_text

NOMINAL = (0.1, 0.5, 1.0, 2.0, 5.0)
#: physics corrector strengths measured on degraded clips: the motion loops' (1, 0.5, 0.25) and 0.3
MOTION_STRENGTHS = (0.25, 0.3, 0.5, 1.0)
LAM_MAIN = 0.5
N_REAL = 50
#: the second, far raw law of the toy measurement (W2 to N(0, I) = 1.12)
LARGE_MEAN, LARGE_VAR = (1.0, 0.0), (2.0, 0.5)


def run_toy(batches: int, seeds: int, generations: int) -> dict:
    from scsc_theory.effective_gamma_toy import RAW_MEAN, RAW_VAR, toy_gamma_eff, toy_prediction
    from scsc_theory.loop import synthetic_count

    meas, preds, skipped = [], [], {}
    for ci, name in enumerate(CORRECTORS):
        for li, lam in enumerate(PAPER_LAMS):
            m = int(synthetic_count(lam, N_REAL))
            gammas = NOMINAL if lam == LAM_MAIN else (1.0,)
            for gi, g in enumerate(gammas):
                t0 = time.perf_counter()
                try:
                    r = toy_gamma_eff(name, g, m=m, batches=max(batches * 25 // m, 8),
                                      key=jax.random.PRNGKey(1000 * ci + 100 * li + gi))
                except SCSCInputError as err:  # e.g. a corrector defined for other settings
                    skipped[f"{name} lam={lam:g} gamma={g:g}"] = str(err)
                    continue
                r["lam"] = lam
                meas.append(r)
                print(f"[toy] {name:10s} lam={lam:g} m={m} gamma={g:g}: gamma_eff={r['gamma_eff']:.3f} "
                      f"[{r['gamma_lo']:.3f}, {r['gamma_hi']:.3f}] residual={r['residual']:.3f} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    large = []  # a far raw law, at the toy's lambda: gamma_eff and residual resolved more sharply
    for ci, name in enumerate(CORRECTORS):
        for gi, g in enumerate(NOMINAL):
            try:
                r = toy_gamma_eff(name, g, m=int(synthetic_count(LAM_MAIN, N_REAL)), batches=batches,
                                  key=jax.random.PRNGKey(50_000 + 100 * ci + gi), raw_mean=LARGE_MEAN, raw_var=LARGE_VAR)
            except SCSCInputError as err:
                skipped[f"{name} far raw gamma={g:g}"] = str(err)
                continue
            r["lam"] = LAM_MAIN
            large.append(r)
            print(f"[toy, far raw] {name:10s} gamma={g:g}: gamma_eff={r['gamma_eff']:.3f} "
                  f"[{r['gamma_lo']:.3f}, {r['gamma_hi']:.3f}] residual={r['residual']:.3f}", flush=True)
    for name in CORRECTORS:
        if name == "ideal":
            continue
        rows = [r for r in meas if r["corrector"] == name and r["lam"] == LAM_MAIN]
        if not rows:
            continue
        for mode in ("fixed", "accumulate"):
            t0 = time.perf_counter()
            try:
                p = toy_prediction(name, [r["gamma_nominal"] for r in rows], rows, lam=LAM_MAIN, mode=mode, n=N_REAL,
                                   generations=generations, seeds=seeds)
            except SCSCInputError as err:
                skipped[f"{name} prediction {mode}"] = str(err)
                continue
            preds += p
            print(f"[toy] prediction {name} {mode}: holds {sum(q['holds'] for q in p)}/{len(p)} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"correctors": list(CORRECTORS), "nominal_gammas": list(NOMINAL), "lam_main": LAM_MAIN, "n": N_REAL,
            "raw_law": {"mean": list(RAW_MEAN), "var": list(RAW_VAR)}, "target": "N(0, I_2) = p_theta*",
            "measurements": meas, "predictions": preds,
            "far_raw_law": {"mean": list(LARGE_MEAN), "var": list(LARGE_VAR)}, "measurements_far": large,
            "skipped": skipped}


def run_fixedpoint(batches: int) -> dict:
    """Each toy corrector applied to p_theta* itself (raw = target = N(0, I_2), m = 25): pi_gamma leaves it
    unchanged, so the covariance of the output (its trace / 2, and E(C, T)) measures a fixed-point defect that
    gamma_eff, defined by the raw -> target direction, cannot see."""
    import jax.numpy as jnp
    import numpy as np

    from scsc_theory.correction import correct
    from scsc_theory.effective_gamma import energy_distance
    from scsc_theory.families.gaussian import Gaussian, GaussianParams
    from scsc_theory.loop import synthetic_count

    fam, m = Gaussian(2), int(synthetic_count(LAM_MAIN, N_REAL))
    ts = GaussianParams(jnp.zeros(2), jnp.eye(2))
    rows = []
    for ci, name in enumerate(CORRECTORS):
        for gi, g in enumerate(NOMINAL):
            key = jax.random.PRNGKey(90_000 + 100 * ci + gi)
            k1, k2, k3 = jax.random.split(key, 3)
            raw = jax.vmap(lambda k: fam.sample(k, ts, m))(jax.random.split(k1, batches))
            cor = jax.vmap(lambda k, x: correct(name, k, x, m, g, fam, ts))(jax.random.split(k2, batches), raw)
            cor = np.asarray(cor).reshape(-1, 2)
            var = float(np.trace(np.cov(cor.T)) / 2)
            se = float(np.sqrt(2.0 / (cor.shape[0] - 1)) / np.sqrt(2))  # sd of a sample variance of N(0, 1), 2 coords
            rows.append({"corrector": name, "gamma_nominal": g, "m": m, "points": int(cor.shape[0]),
                         "mean_variance": var, "mean_variance_se": se,
                         "energy_to_target": float(energy_distance(cor, fam.sample(k3, ts, cor.shape[0])))})
            print(f"[fixed point] {name:10s} gamma={g:g}: variance {var:.4f} +- {se:.4f}", flush=True)
    return {"what": "corrector applied to p_theta* = N(0, I_2) itself; pi_gamma keeps variance 1", "rows": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="toy,digits,motion")
    ap.add_argument("--out", default="figures/gamma_eff_results.json")
    ap.add_argument("--figure", default="figures/gamma_eff_map.png")
    ap.add_argument("--batches", type=int, default=160, help="batches of m = 25 points per toy measurement")
    ap.add_argument("--seeds", type=int, default=48)
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="measure nothing: redraw the figure and rewrite the tables from the existing --out file")
    a = ap.parse_args(argv)
    out = Path(a.out)
    table = out.with_name(out.stem + "_table.md")
    if a.report_only:
        import json

        results = json.loads(out.read_text())
        return _report(results, a.figure, table)
    for f in (out, table) + ((Path(a.figure),) if a.figure else ()):
        if f.exists() and not a.overwrite:
            print(f"error: {f} exists; pass --overwrite to replace it", file=sys.stderr)
            return 2
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    results = {"experiment": "effective_gamma", "distance": "energy distance (kernel -|x - y|_2), U-statistics",
               "interval": "90% percentile bootstrap, 200 resamples", "stages": stages}
    groups = ["core"]
    if "digits" in stages:  # float32, as the digits loop runs
        from scsc_theory.effective_gamma_digits import digits_gamma_eff

        results["digits"] = digits_gamma_eff(key=jax.random.PRNGKey(7))
        groups.append("digits")
    if "motion" in stages:  # the physics corrector on degraded true clips (about 1-3 clips/s on 2 shared cores)
        from scsc_theory.effective_gamma_motion import motion_gamma_eff

        results["motion"] = motion_gamma_eff(key=jax.random.PRNGKey(11), strengths=MOTION_STRENGTHS)
        groups.append("motion")
    if "toy" in stages or "fixedpoint" in stages:  # float64 set globally: the ot corrector's host callback
        jax.config.update("jax_enable_x64", True)  # runs outside a context manager
    if "fixedpoint" in stages:
        results["fixedpoint"] = run_fixedpoint(a.batches)
        groups.append("toy")
    if "toy" in stages:
        results["toy"] = run_toy(a.batches, a.seeds, a.generations)
        groups.append("toy")
    results["provenance"] = provenance(groups + ["effective_gamma"])
    print("wrote", write_json(out, results))
    return _report(results, a.figure, table)


def _report(results: dict, figure, table: Path) -> int:
    if not any(k in results for k in ("toy", "digits", "motion")):
        return 0  # the fixedpoint stage alone: its numbers are in the results file
    if figure:
        print("wrote", plot_map(results, figure))
    text = table_markdown(results) + ("\n" + prediction_markdown(results) if "toy" in results else "")
    print("wrote", write_text(table, text))
    print(table_markdown(results, toy_gammas=(1.0,)))
    print(prediction_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
