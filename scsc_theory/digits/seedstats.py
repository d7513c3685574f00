"""Seed-level statistics of a digits-loop grid: the test of "self-correction lowers FID" over seeds.

For each seed ``s`` the metric is averaged over the last ``window`` generations it reached,
``v_s(arm) = mean_{g > G - window} metric(arm, s, g)`` (one number per seed and arm; averaging the
generations removes most of the sampling noise of a single generation, and the seeds are the
independent replications). The arms of one seed share their random numbers, so the comparison is
paired: ``d_s = v_s(a) - v_s(b)``,

    t = mean(d) / (sd(d) / sqrt(S)),   one-sided p = P(T_{S-1} > t)

(Student's paired t-test over the ``S`` seeds).
"""
from __future__ import annotations

import math

import numpy as np


def seed_window_means(rows, window: int = 10) -> dict:
    """``{arm: {metric: {seed: mean over that seed's last window generations}}}`` plus, under the key
    ``"_generations"``, ``{arm: {seed: (first, last) generation averaged}}``."""
    by: dict = {}
    for r in rows:
        by.setdefault(r["arm"], {}).setdefault(r["metric"], {}).setdefault(r["seed"], {})[r["generation"]] = r["value"]
    out: dict = {"_generations": {}}
    for arm, mets in by.items():
        out[arm] = {}
        for met, seeds in mets.items():
            out[arm][met] = {}
            for s, vals in seeds.items():
                gens = sorted(vals)[-int(window):]
                out[arm][met][str(s)] = float(np.mean([vals[g] for g in gens]))
                out["_generations"].setdefault(arm, {})[str(s)] = [gens[0], gens[-1]]
    return out


def paired_seed_test(a: dict, b: dict) -> dict:
    """Paired t-test of ``a - b`` over the seeds both dicts (seed -> value) hold."""
    from scipy import stats

    seeds = sorted(set(a) & set(b), key=lambda s: int(s))
    d = np.asarray([a[s] - b[s] for s in seeds], float)
    res = {"seeds": [int(s) for s in seeds], "n": int(d.size), "diffs": d.tolist(),
           "mean_diff": float(d.mean()) if d.size else float("nan"), "t": float("nan"), "p_one_sided": float("nan")}
    if d.size >= 2:
        sd = float(d.std(ddof=1))
        if sd > 0:
            t = float(d.mean() / (sd / math.sqrt(d.size)))
        else:
            t = math.copysign(math.inf, d.mean()) if d.mean() != 0 else float("nan")
        res["t"] = t
        res["p_one_sided"] = float(stats.t.sf(t, d.size - 1)) if math.isfinite(t) else (0.0 if t > 0 else 1.0)
    return res
