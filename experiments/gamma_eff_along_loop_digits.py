"""gamma_eff of the digits k-means correction where the loop is, and the loop prediction it makes.

    python experiments/gamma_eff_along_loop_digits.py [--lam 1.5] [--seeds 3] [--every 5] [--window 10,50]
                                                      [--out runs/gamma_eff_loop_digits/lam1.5]
                                                      [--results figures/gamma_eff_loop_digits/lam1.5] [--overwrite]
    for lam in 1.5 1 0.5 0.2; do python experiments/gamma_eff_along_loop_digits.py --lam $lam; done   # every lambda

At generation 0 the digits model is within the energy distance's noise of the held-out digits, so no
gamma_eff can be placed there (figures/gamma_eff_results.json). This script runs the digits loop
(8x8 digits, the default settings of ``scsc digits loop`` at ``--lam``) with arms selfconsume and
selfcorrect, keeps the selfcorrect arm's samples of every ``--every``-th generation, and measures

    gamma_eff(raw_g, corrected_g, target)   (scsc_theory.effective_gamma, energy distance, 90% bootstrap)

with corrected_g the loop's own correction of those samples (nearest k-means centre of the class, as
the paper's code replaces them), target the held-out ``ref`` digits, in the digits evaluator's
features, per kept generation and pooled over ``--window``. If the pooled gamma_eff is finite and
positive it then runs the ideal arm alone at that gamma (same seeds) and records, per arm, the
per-seed means over the last 10 generations: the ``gamma-eff-prediction-digits-loop`` row of
paper_checks.md compares selfcorrect with ideal(gamma_eff). Writes ``gamma_eff_loop.json`` (code
provenance included), ``gamma_eff_loop.md`` and ``gamma_eff_loop.png`` to ``--results``
(``--report-only`` redraws the figure); the runs resume in ``--out``.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ARM = "selfcorrect"
METRICS = ("fid", "accuracy", "diversity")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lam", type=float, default=1.5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--window", default="10,50", help="first,last generation of the pooled estimate")
    ap.add_argument("--max-per-generation", type=int, default=1000,
                    help="samples per kept generation in the estimate (a fixed random subset; default 1000: the "
                         "pooled distance matrices grow as the square of the sample count)")
    ap.add_argument("--out", default=None, help="run folder (default runs/gamma_eff_loop_digits/lam<LAM>)")
    ap.add_argument("--results", default=None, help="default figures/gamma_eff_loop_digits/lam<LAM>")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="redraw the figure from the existing results")
    a = ap.parse_args(argv)
    a.out = a.out or f"runs/gamma_eff_loop_digits/lam{a.lam:g}"
    a.results = a.results or f"figures/gamma_eff_loop_digits/lam{a.lam:g}"
    # this folder's motion script: the same figure, recording driver and argument checks
    from gamma_eff_along_loop import gamma_eff_row, output_paths, parse_window, plot_along_loop, recording_loop

    title = f"k-means correction along the digits loop (lambda {a.lam:g})"
    if a.report_only:
        import json

        doc = json.loads((Path(a.results) / "gamma_eff_loop.json").read_text())
        print("wrote", plot_along_loop(doc, Path(a.results) / "gamma_eff_loop.png", title))
        return 0
    window = parse_window(a.window)
    if window is None:
        return 2
    lo_w, hi_w = window
    if (a.every < 1 or a.seeds < 2 or not 0 <= lo_w <= hi_w <= a.generations or not a.lam > 0
            or a.max_per_generation < 16):
        print("error: --every >= 1, --seeds >= 2, --lam > 0, --max-per-generation >= 16 and 0 <= window <= "
              "--generations required", file=sys.stderr)
        return 2
    paths = output_paths(a.results, a.out, a.overwrite)
    if paths is None:
        return 2
    res_dir, run_dir, res_json, res_md = paths

    from dataclasses import asdict, replace

    import jax
    import jax.numpy as jnp

    from scsc_theory.digits.loop import DigitsLoopSettings, build
    from scsc_theory.io import provenance, write_json, write_text
    from scsc_theory.motion.loop import check_resume_code, window_table

    prov = provenance(["digits", "effective_gamma"])  # before any work
    run_dir.mkdir(parents=True, exist_ok=True)
    check_resume_code(run_dir, prov)
    st = DigitsLoopSettings(lam=a.lam, arms=("selfconsume", ARM), generations=a.generations,
                            seeds=tuple(range(a.seeds)))
    ctx, loop = build(st)
    keep = set(range(0, a.generations + 1, a.every)) | {lo_w, hi_w}
    snaps = run_dir / "samples"

    rec = recording_loop(loop, snaps, keep)
    rows = rec.run(run_dir / "loop")

    ev = ctx.evaluator
    f_tgt = ev.features(ctx.split.x_ref)
    per_gen, pooled = [], {"raw": [], "cor": []}
    for g in sorted(keep):
        zs = [np.load(snaps / f"seed{s}_g{g}.npz") for s in st.seeds]
        x = np.concatenate([z["samples"] for z in zs])
        y = np.concatenate([z["labels"] for z in zs])
        sub = np.sort(np.random.default_rng(np.random.SeedSequence([17, g])).permutation(len(x))[:a.max_per_generation])
        x, y = x[sub], y[sub]
        xc = np.asarray(loop.correct_fn(ARM, jnp.asarray(x), jnp.asarray(y), jax.random.PRNGKey(g)))
        f_raw, f_cor = ev.features(x), ev.features(xc)
        per_gen.append(gamma_eff_row(f_raw, f_cor, f_tgt, key=jax.random.PRNGKey(2000 + g), generation=g,
                                     samples=int(len(x))))
        if lo_w <= g <= hi_w:
            pooled["raw"].append(f_raw)
            pooled["cor"].append(f_cor)
    pool = gamma_eff_row(np.concatenate(pooled["raw"]), np.concatenate(pooled["cor"]), f_tgt, key=jax.random.PRNGKey(8),
                         generations=[r["generation"] for r in per_gen if lo_w <= r["generation"] <= hi_w],
                         clips=int(sum(len(x) for x in pooled["raw"])))
    G = float(pool["gamma_eff"])
    print(f"pooled: gamma_eff {G:.6g} [{pool['gamma_lo']:.3g}, {pool['gamma_hi']:.3g}] residual {pool['residual']:.3g}",
          flush=True)
    ideal_rows, ideal_note = [], None
    if math.isfinite(G) and G > 0:
        st_i = replace(st, arms=("ideal",), gamma=G)
        _, loop_i = build(st_i)
        ideal_rows = loop_i.run(run_dir / "ideal")
    elif G <= 0:  # the ideal loop at gamma = 0 replaces nothing: it is the selfconsume arm, already run
        ideal_note = f"pooled gamma_eff {G:.4g} <= 0: the predicted loop is gamma = 0, the selfconsume arm"
    else:
        ideal_note = f"pooled gamma_eff {G} is not a finite positive gamma: the ideal arm was not run"
    table = window_table(list(rows) + list(ideal_rows), window=10, metrics=METRICS)
    doc = {"experiment": "gamma_eff_along_loop_digits",
           "settings": {**{k: v for k, v in asdict(st).items() if k != "arms"}, "arms": ["selfconsume", ARM, "ideal"],
                        "ideal_gamma": G if ideal_rows else None, "every": a.every, "window": [lo_w, hi_w],
                        "raw": (f"the selfcorrect arm's samples at each kept generation (all seeds pooled; a fixed "
                                f"random subset of at most {a.max_per_generation})"),
                        "corrected": "the loop's correct_fn (nearest k-means centre of the class)",
                        "target": "held-out ref digits", "features": "DigitsEvaluator.features"},
           "per_generation": per_gen, "pooled": pool, "ideal_note": ideal_note,
           "last10_generations_table": table, "provenance": prov}
    write_json(res_json, doc)
    plot_along_loop(doc, res_dir / "gamma_eff_loop.png", title)
    lines = ["| generation | gamma_eff [90%] | residual | raw-target energy |", "|---|---|---|---|"]
    for r in per_gen:
        lines.append(f"| {r['generation']} | {r['gamma_eff']:.3g} [{r['gamma_lo']:.3g}, {r['gamma_hi']:.3g}] | "
                     f"{r['residual']:.3g} | {r['e_rt']:.3g} |")
    lines.append(f"| pooled {lo_w}-{hi_w} | {G:.3g} [{pool['gamma_lo']:.3g}, {pool['gamma_hi']:.3g}] | "
                 f"{pool['residual']:.3g} | {pool['e_rt']:.3g} |")
    lines += ["", "| arm (gens " + f"{a.generations - 9}-{a.generations}, {a.seeds} seeds) | " + " | ".join(METRICS) + " |",
              "|---" * (len(METRICS) + 1) + "|"]
    for arm, mets in table.items():
        lines.append(f"| {arm} | " + " | ".join(f"{mets[m]['last_window_mean']:.4g} [{mets[m]['ci95'][0]:.4g}, "
                                                 f"{mets[m]['ci95'][1]:.4g}]" for m in METRICS if m in mets) + " |")
    write_text(res_md, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print("wrote", res_json, res_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
